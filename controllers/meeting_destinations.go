package controllers

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/destination"
)

// destinationRecheck is how soon a destination whose host could not be looked up is checked
// again: the lookup may succeed then.
const destinationRecheck = 30 * time.Second

// refusedDestination is a destination of the Meeting that the policy refuses, and why.
type refusedDestination struct {
	name string
	why  string
}

// checkDestinations runs the destination policy over m's streaming destinations, all at once
// (each host lookup is bounded by the policy's timeout). A refusal is not an error of the
// reconcile: it is recorded for the Ready condition (destinationsReady), and one because a host
// could not be looked up is checked again soon.
func (r *MeetingReconciler) checkDestinations(ctx context.Context, m *jitsiv1alpha1.Meeting, obs *meetingObservation) error {
	if m.Spec.Streaming.Mode == "" || m.Spec.Streaming.Mode == jitsiv1alpha1.StreamingNone {
		return nil
	}
	dests := m.Spec.Streaming.Destinations
	errs := make([]error, len(dests))
	var wg sync.WaitGroup
	for i := range dests {
		wg.Go(func() { errs[i] = r.Destinations.Check(ctx, dests[i].URL) })
	}
	wg.Wait()
	for i, err := range errs {
		if err == nil {
			continue
		}
		obs.refusedDestinations = append(obs.refusedDestinations, refusedDestination{name: dests[i].Name, why: err.Error()})
		if again := obs.now.Add(destinationRecheck); destination.IsTransient(err) && (obs.requeue.IsZero() || again.Before(obs.requeue)) {
			obs.requeue = again
		}
	}
	return nil
}

// announceRefused sends a Warning event for each refused destination when ready (the Ready
// condition about to be written) says they are refused and the last one written did not say so.
func (r *MeetingReconciler) announceRefused(m *jitsiv1alpha1.Meeting, ready metav1.Condition, obs *meetingObservation) {
	if ready.Reason != jitsiv1alpha1.ReasonDestinationRefused {
		return
	}
	if old := meta.FindStatusCondition(m.Status.Conditions, jitsiv1alpha1.ConditionReady); old != nil &&
		old.Reason == ready.Reason && old.Message == ready.Message {
		return
	}
	for _, d := range obs.refusedDestinations {
		r.Recorder.Eventf(m, nil, corev1.EventTypeWarning, jitsiv1alpha1.ReasonDestinationRefused, "Check",
			"streaming destination %s is refused and will not be pushed to: %s", d.name, d.why)
	}
}
