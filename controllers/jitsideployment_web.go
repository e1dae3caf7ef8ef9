package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// ensureWeb publishes the web front end over HTTPS while web.ingress asks for it (and removes
// the Ingress otherwise), and records whether it has an address and its certificate.
func (r *JitsiDeploymentReconciler) ensureWeb(ctx context.Context, d *jitsiv1alpha1.JitsiDeployment, obs *deploymentObservation) error {
	route := render.WebHTTPRoute(obs.in)
	if route != nil && !r.gatewayServed {
		return fmt.Errorf("web.ingress.gateway asks for an HTTPRoute, and the cluster does not serve gateway.networking.k8s.io/v1 HTTPRoutes (install the Gateway API, or remove gateway to get an Ingress)")
	}
	if r.gatewayServed {
		if route == nil {
			if err := removeControlled(ctx, r.Client, d, &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, Name: render.Web(d)}}); err != nil {
				return err
			}
		} else {
			return r.ensureRoute(ctx, d, obs, route)
		}
	}
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
		err := r.secrets().Get(ctx, types.NamespacedName{Namespace: d.Namespace, Name: facts.CertSecret}, s)
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		facts.CertReady = err == nil && len(s.Data[corev1.TLSCertKey]) > 0
	}
	return nil
}

// ensureRoute applies the HTTPRoute and records whether its Gateway accepted it.
func (r *JitsiDeploymentReconciler) ensureRoute(ctx context.Context, d *jitsiv1alpha1.JitsiDeployment, obs *deploymentObservation, route *gatewayv1.HTTPRoute) error {
	if err := removeControlled(ctx, r.Client, d, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, Name: render.Web(d)}}); err != nil {
		return err
	}
	if _, err := r.applier().apply(ctx, d, route); err != nil {
		return err
	}
	facts := &render.WebFacts{URL: render.PublicURL(d), Route: true}
	obs.facts.Web = facts
	live := &gatewayv1.HTTPRoute{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: d.Namespace, Name: route.Name}, live); err != nil {
		return client.IgnoreNotFound(err)
	}
	for _, p := range live.Status.Parents {
		if c := meta.FindStatusCondition(p.Conditions, string(gatewayv1.RouteConditionAccepted)); c != nil {
			facts.RouteMessage = c.Message
			if c.Status == metav1.ConditionTrue {
				facts.Address = string(p.ParentRef.Name)
			}
		}
	}
	return nil
}
