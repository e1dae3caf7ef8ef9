package controllers

import (
	"context"
	"fmt"
	"strings"
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

// destinationsReady turns a True Ready condition False while a streaming destination is
// refused (people can still join: the message says so), and announces each refusal with a
// Warning event when the condition starts saying it.
func (r *MeetingReconciler) destinationsReady(m *jitsiv1alpha1.Meeting, ready metav1.Condition, obs *meetingObservation) metav1.Condition {
	refused := obs.refusedDestinations
	if ready.Status != metav1.ConditionTrue || len(refused) == 0 {
		return ready
	}
	parts := make([]string, len(refused))
	for i, d := range refused {
		parts[i] = d.name + ": " + d.why
	}
	what := fmt.Sprintf("streaming destination %s is refused: %s", refused[0].name, refused[0].why)
	if len(refused) > 1 {
		what = fmt.Sprintf("%d streaming destinations are refused: %s", len(refused), strings.Join(parts, "; "))
	}
	ready.Status, ready.Reason = metav1.ConditionFalse, jitsiv1alpha1.ReasonDestinationRefused
	ready.Message = ready.Message + ", but " + what
	if old := meta.FindStatusCondition(m.Status.Conditions, jitsiv1alpha1.ConditionReady); old == nil ||
		old.Reason != ready.Reason || old.Message != ready.Message {
		for _, d := range refused {
			r.Recorder.Eventf(m, nil, corev1.EventTypeWarning, jitsiv1alpha1.ReasonDestinationRefused, "Check",
				"streaming destination %s is refused and will not be pushed to: %s", d.name, d.why)
		}
	}
	return ready
}
