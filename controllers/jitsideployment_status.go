package controllers

import (
	"context"
	"fmt"
	"math"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// observe reads the components' Deployments for the status and conditions. What is desired
// comes from the rendered objects, not the cache, which may not show a write made a moment ago;
// a Deployment counts as ready only once its controller has seen the current spec.
func (r *JitsiDeploymentReconciler) observe(ctx context.Context, d *jitsiv1alpha1.JitsiDeployment, obs *deploymentObservation) error {
	facts := &obs.facts
	for _, want := range obs.deployments {
		c := want.Labels[render.LabelComponent]
		f := facts.Components[c]
		replicas := int32(1)
		if want.Spec.Replicas != nil {
			replicas = *want.Spec.Replicas
		}
		if c == render.ComponentJVB && replicas == 0 {
			// A bridge waiting for its address: counted under media, not here.
			continue
		}
		f.Desired += replicas
		live := &appsv1.Deployment{}
		err := r.Get(ctx, client.ObjectKeyFromObject(want), live)
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return err
		case metav1.IsControlledBy(live, d) && live.Status.ObservedGeneration >= live.Generation &&
			live.Spec.Replicas != nil && *live.Spec.Replicas == replicas:
			f.Ready += min(live.Status.ReadyReplicas, replicas)
			f.Updated += min(live.Status.UpdatedReplicas, replicas)
		}
		facts.Components[c] = f
	}
	return nil
}

// writeStatus writes the status only when it changed, so a steady state makes no writes.
func (r *JitsiDeploymentReconciler) writeStatus(ctx context.Context, d *jitsiv1alpha1.JitsiDeployment, obs *deploymentObservation, stepErr error) error {
	in, facts := obs.in, obs.facts
	status := d.Status.DeepCopy()
	status.ObservedGeneration = d.Generation
	status.PublicURL = render.PublicURL(d)
	c := facts.Components
	status.Components = jitsiv1alpha1.ComponentsStatus{
		Prosody: jitsiv1alpha1.ReplicaStatus{Replicas: c[render.ComponentProsody].Desired, ReadyReplicas: c[render.ComponentProsody].Ready},
		Jicofo:  jitsiv1alpha1.ReplicaStatus{Replicas: c[render.ComponentJicofo].Desired, ReadyReplicas: c[render.ComponentJicofo].Ready},
		Web:     jitsiv1alpha1.ReplicaStatus{Replicas: c[render.ComponentWeb].Desired, ReadyReplicas: c[render.ComponentWeb].Ready},
		JVB:     jitsiv1alpha1.ReplicaStatus{Replicas: int32(len(in.Bridges)), ReadyReplicas: c[render.ComponentJVB].Ready},
	}
	if stepErr == nil {
		status.MediaEndpoints = nil
		for _, b := range in.Bridges {
			if b.AdvertiseIP == "" {
				continue
			}
			port := b.AdvertisePort
			if port == 0 {
				port = d.Spec.JVB.Media.Port
			}
			status.MediaEndpoints = append(status.MediaEndpoints, jitsiv1alpha1.MediaEndpoint{
				Bridge: render.JVB(d, b.Index), Address: b.AdvertiseIP, Port: port,
			})
		}
	}
	status.DesiredBridges, status.Bridges, status.ScheduledBridges = 0, nil, nil
	if dec := obs.autoscaled; dec != nil {
		status.DesiredBridges, status.ScheduledBridges = int32(dec.Desired), obs.scheduledBridges
		for _, b := range obs.bridgeObs {
			status.Bridges = append(status.Bridges, jitsiv1alpha1.BridgeStatus{Name: render.JVB(d, b.Index), State: string(b.State),
				StressPercent: int32(math.Round(b.Stress * 100)), Participants: int32(b.Participants), Conferences: int32(b.Conferences)})
		}
	}
	for _, cond := range render.DeploymentConditions(d.Generation, facts, stepErr) {
		meta.SetStatusCondition(&status.Conditions, cond)
	}
	if facts.Web == nil {
		meta.RemoveStatusCondition(&status.Conditions, jitsiv1alpha1.ConditionWebReachable)
	}
	if facts.Bridges == nil {
		meta.RemoveStatusCondition(&status.Conditions, jitsiv1alpha1.ConditionBridgesAtCapacity)
	}
	if sameStatus(d.Status, *status, func(s *jitsiv1alpha1.JitsiDeploymentStatus) *[]metav1.Condition { return &s.Conditions }) {
		return nil
	}
	before := meta.FindStatusCondition(d.Status.Conditions, jitsiv1alpha1.ConditionReady)
	after := meta.FindStatusCondition(status.Conditions, jitsiv1alpha1.ConditionReady)
	log.FromContext(ctx).V(1).Info("writing status", "from", d.Status, "to", status)
	next := d.DeepCopy()
	next.Status = *status
	changes, err := statusChanges(d, next)
	if err != nil {
		return err
	}
	if err := writeStatus(ctx, r.Client, d, changes); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if before == nil || before.Status != after.Status || before.Reason != after.Reason {
		kind := corev1.EventTypeNormal
		if after.Status != metav1.ConditionTrue && after.Reason != jitsiv1alpha1.ReasonComponentsNotReady {
			kind = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(d, nil, kind, after.Reason, "Reconcile", "Ready=%s: %s", after.Status, after.Message)
	}
	return nil
}
