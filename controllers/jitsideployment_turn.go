package controllers

import (
	"context"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;patch;delete

// observeTURN fills what the TURN renderers read: the cluster's pod networks (the only peers the
// managed server relays to) and a hash of the shared secret and the certificate (a change of either
// restarts the managed server, which reads them once).
func (r *JitsiDeploymentReconciler) observeTURN(ctx context.Context, d *jitsiv1alpha1.JitsiDeployment, obs *deploymentObservation) error {
	t := d.Spec.TURN
	if t == nil {
		return nil
	}
	obs.in.TURN = render.TURNInput{TLSSecret: t.TLSSecretName}
	if !t.Managed {
		return nil
	}
	var nodes corev1.NodeList
	if err := r.List(ctx, &nodes); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, n := range nodes.Items {
		cidrs := n.Spec.PodCIDRs
		if len(cidrs) == 0 && n.Spec.PodCIDR != "" {
			cidrs = []string{n.Spec.PodCIDR}
		}
		for _, c := range cidrs {
			if !seen[c] {
				seen[c] = true
				obs.in.TURN.PodCIDRs = append(obs.in.TURN.PodCIDRs, c)
			}
		}
	}
	refs := []corev1.SecretKeySelector{obs.in.Secrets.TURN}
	if t.TLSSecretName != "" {
		refs = append(refs,
			corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: t.TLSSecretName}, Key: corev1.TLSCertKey},
			corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: t.TLSSecretName}, Key: corev1.TLSPrivateKeyKey})
	}
	hash, err := r.hashSecrets(ctx, d, obs, refs)
	if err != nil {
		return err
	}
	obs.in.ConfigHashes[render.ComponentTURN] = hash
	return nil
}

// ensureTURN runs the managed TURN server while spec.turn.managed asks for it, removes it
// otherwise, and says when some of spec.turn's servers cannot be handed to clients.
func (r *JitsiDeploymentReconciler) ensureTURN(ctx context.Context, d *jitsiv1alpha1.JitsiDeployment, obs *deploymentObservation) error {
	in, t := obs.in, obs.in.TURN
	if left := render.TURNLeftOut(in, t); len(left) > 0 {
		r.Recorder.Eventf(d, nil, corev1.EventTypeWarning, "TURNServersLeftOut", "Reconcile", "%s", strings.Join(left, "; "))
	}
	objs := []client.Object{}
	if cm := render.TURNConfigMap(in, t); cm != nil {
		objs = append(objs, cm, render.TURNDeployment(in, t), render.TURNService(in, t), render.TURNNetworkPolicy(in))
		a := r.applier()
		for _, o := range objs {
			if _, err := a.apply(ctx, d, o); err != nil {
				return err
			}
		}
		// Ready waits for the server too.
		f := render.ComponentFacts{Desired: 1}
		live := &appsv1.Deployment{}
		if err := r.Get(ctx, client.ObjectKeyFromObject(objs[1]), live); err == nil && live.Status.ObservedGeneration >= live.Generation {
			f.Ready, f.Updated = min(live.Status.ReadyReplicas, 1), min(live.Status.UpdatedReplicas, 1)
		} else if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		obs.facts.Components[render.ComponentTURN] = f
		return nil
	}
	meta := metav1.ObjectMeta{Namespace: d.Namespace, Name: render.TURN(d)}
	for _, o := range []client.Object{&corev1.ConfigMap{ObjectMeta: meta}, &appsv1.Deployment{ObjectMeta: meta},
		&corev1.Service{ObjectMeta: meta}, &networkingv1.NetworkPolicy{ObjectMeta: meta}} {
		if err := removeControlled(ctx, r.Client, d, o); err != nil {
			return err
		}
	}
	return nil
}
