package controllers

import (
	"context"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/bridgescaling"
	"github.com/jitsi-operator/jitsi-operator/internal/schedule"
)

// scheduledBridges is what the JVB autoscaling's prewarm asks of the bridges now, from the
// deployment's Meetings with expectedParticipants, and the status that says so; ok is false when
// prewarming is off.
func (r *JitsiDeploymentReconciler) scheduledBridges(ctx context.Context, d *jitsiv1alpha1.JitsiDeployment, now time.Time) (
	sc bridgescaling.Schedule, st *jitsiv1alpha1.ScheduledDemand, ok bool, err error) {
	as := d.Spec.JVB.Autoscaling
	if as == nil || as.Prewarm == nil || as.Prewarm.LeadSeconds <= 0 {
		return sc, nil, false, nil
	}
	pw := as.Prewarm
	var list jitsiv1alpha1.MeetingList
	if err := r.List(ctx, &list, client.InNamespace(d.Namespace), client.MatchingFields{indexDeploymentRef: d.Name}); err != nil {
		return sc, nil, false, err
	}
	var cal []schedule.Meeting
	for i := range list.Items {
		if m := &list.Items[i]; m.DeletionTimestamp.IsZero() && m.Spec.ExpectedParticipants != nil {
			cal = append(cal, calendarEntry(m, now))
		}
	}
	w := prewarmWindow(pw.LeadSeconds, pw.GraceSeconds)
	up, run := schedule.Upcoming(cal, now, w), schedule.Running(cal, now)
	per := int(pw.ParticipantsPerBridge)
	sc = bridgescaling.Schedule{Upcoming: schedule.Bridges(up.Participants, per), Floor: schedule.Bridges(run.Participants, per)}
	return sc, scheduledStatus(run.And(up), sc.Upcoming+sc.Floor), true, nil
}

// prewarmingDeployment enqueues the deployment of a Meeting whose spec changed (or that came or
// went) when the deployment prewarms its bridges.
func (r *JitsiDeploymentReconciler) prewarmingDeployment(ctx context.Context, o client.Object) []reconcile.Request {
	m, ok := o.(*jitsiv1alpha1.Meeting)
	if !ok || m.Spec.ExpectedParticipants == nil {
		return nil
	}
	d := &jitsiv1alpha1.JitsiDeployment{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: m.Namespace, Name: m.Spec.JitsiDeploymentRef.Name}, d); err != nil {
		return nil
	}
	if as := d.Spec.JVB.Autoscaling; as == nil || !as.Enabled || as.Prewarm == nil {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKeyFromObject(d)}}
}
