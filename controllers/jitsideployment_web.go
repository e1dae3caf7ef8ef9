package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// ensureWeb publishes the web front end over HTTPS while web.ingress asks for it (and removes
// the Ingress otherwise), and records whether it has an address and its certificate.
func (r *JitsiDeploymentReconciler) ensureWeb(ctx context.Context, d *jitsiv1alpha1.JitsiDeployment, obs *deploymentObservation) error {
	want := render.WebIngress(obs.in)
	if want == nil {
		return removeControlled(ctx, r.Client, d, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, Name: render.Web(d)}})
	}
	if _, err := r.applier().apply(ctx, d, want); err != nil {
		return err
	}
	facts := &render.WebFacts{URL: render.PublicURL(d), CertSecret: render.WebTLSSecret(d)}
	obs.facts.Web = facts
	live := &networkingv1.Ingress{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: d.Namespace, Name: want.Name}, live); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	for _, lb := range live.Status.LoadBalancer.Ingress {
		if lb.IP != "" {
			facts.Address = lb.IP
		} else if lb.Hostname != "" {
			facts.Address = lb.Hostname
		}
		break
	}
	if facts.CertSecret != "" {
		s := &corev1.Secret{}
		err := r.Get(ctx, types.NamespacedName{Namespace: d.Namespace, Name: facts.CertSecret}, s)
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		facts.CertReady = err == nil && len(s.Data[corev1.TLSCertKey]) > 0
	}
	return nil
}
