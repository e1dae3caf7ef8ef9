package controllers

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// The relay's objects (and the recorders' NetworkPolicy) are applied and removed as the
// JitsiDeployment's children are: get, server-side apply patch (create when missing), delete.
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=core,resources=configmaps;services,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;patch;delete

// DefaultRelayImage is the RTMP relay's image (relay/Dockerfile) when neither the pool nor the
// operator's --relay-image names one.
const DefaultRelayImage = "ghcr.io/jitsi-operator/rtmp-relay:0.1.0"

// ensureRelay runs the pool's RTMP relay while spec.streaming.relay.enabled asks for it (its
// config, Deployment, Service, and a NetworkPolicy that lets only the pool's recorders publish),
// and removes it otherwise.
func (r *JibriPoolReconciler) ensureRelay(ctx context.Context, pool *jitsiv1alpha1.JibriPool, obs *poolObservation) error {
	if obs.deployment == nil {
		return nil
	}
	receiver := ""
	if r.ReceiverURL != nil {
		receiver = r.ReceiverURL(pool.Namespace)
	}
	image := r.RelayImage
	if image == "" {
		image = DefaultRelayImage
	}
	in := render.RelayInput{Deployment: obs.deployment, Pool: pool, Image: image, ReceiverURL: receiver}
	objs := []client.Object{render.RelayConfigMap(in), render.RelayDeployment(in), render.RelayService(in), render.RelayNetworkPolicy(in)}
	if !relayEnabled(pool) {
		for _, o := range objs {
			if err := removeControlled(ctx, r.Client, pool, o); err != nil {
				return err
			}
		}
		return nil
	}
	obs.relayWanted = true
	if receiver == "" {
		return fmt.Errorf("the RTMP relay needs the operator's receiver URL (--receiver-url) for its callbacks")
	}
	a := &applier{Client: r.Client, Recorder: r.Recorder}
	for _, o := range objs {
		if _, err := a.apply(ctx, pool, o); err != nil {
			return err
		}
	}
	dep := &appsv1.Deployment{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(objs[1]), dep); err != nil {
		return client.IgnoreNotFound(err)
	}
	obs.relayReady = dep.Status.ReadyReplicas > 0
	obs.relayMessage = fmt.Sprintf("the RTMP relay has %d of %d pods ready", dep.Status.ReadyReplicas, ptr.Deref(dep.Spec.Replicas, 1))
	return nil
}
