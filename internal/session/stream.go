package session

import (
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

// Restarting: the pool starts a stream the recorder reported failed again (Pending, one more
// restart, Reason the failure). A stream's other signals are a recording's: Queued, Assigned,
// Announced (Jicofo's pending), Started (live), Stopped, Failed.
const Restarting Kind = "Restarting"

// DestinationReported: the relay reported the state of one of the stream's destinations
// (Signal.Destination).
const DestinationReported Kind = "DestinationReported"

// maxDestinations is how many destinations a status lists (the API's bound).
const maxDestinations = 10

// StableStream is how long a stream must have been live before it failed for its restarts to be
// counted afresh: a stream that fails again within it is failing for the same reason (a bad key,
// a refused ingest), one that ran longer met a new fault (a network outage in a long broadcast).
const StableStream = 5 * time.Minute

// Stream returns st with sig applied; a signal's Destinations, when not nil, are the
// destinations' states from then on (the pool's, when no relay reports them one by one). A live stream is not over when it stops: a start after the
// last stop makes it live again. Failed stays failed but for the pool's own Queued, Assigned and
// Restarting, and a start after the failure.
func Stream(st jitsiv1alpha1.StreamingStatus, sig Signal) jitsiv1alpha1.StreamingStatus {
	st = *st.DeepCopy()
	at := metav1.NewTime(sig.At.UTC().Truncate(time.Millisecond))
	switch sig.Kind {
	case Queued, Assigned:
		if st.State == "" || st.State == jitsiv1alpha1.StreamingStateNone || st.State == jitsiv1alpha1.StreamingStateStopped {
			// A new stream (the last one stopped): its restarts are counted afresh.
			st.Restarts, st.Error = 0, ""
		}
		return jitsiv1alpha1.StreamingStatus{State: jitsiv1alpha1.StreamingStatePending, Recorder: sig.Recorder, Restarts: st.Restarts, Error: st.Error}
	case Restarting:
		restarts := st.Restarts
		if st.State == jitsiv1alpha1.StreamingStateLive && st.StartedAt != nil && !sig.At.Before(st.StartedAt.Add(StableStream)) {
			// It had been live long enough that this failure is news, not the same one again.
			restarts = 0
		}
		return jitsiv1alpha1.StreamingStatus{State: jitsiv1alpha1.StreamingStatePending, Restarts: restarts + 1, Error: sig.Reason}
	case Announced:
		if st.State != jitsiv1alpha1.StreamingStateLive && st.State != jitsiv1alpha1.StreamingStateFailed {
			st.State = jitsiv1alpha1.StreamingStatePending
		}
	case Started:
		if st.StartedAt == nil || st.StartedAt.Before(&at) {
			st.StartedAt = &at
		}
		if st.StoppedAt == nil || st.StoppedAt.Before(st.StartedAt) {
			st.State, st.StoppedAt = jitsiv1alpha1.StreamingStateLive, nil
		}
	case Stopped:
		if st.State == jitsiv1alpha1.StreamingStateFailed {
			return st
		}
		if (st.StoppedAt == nil || st.StoppedAt.Before(&at)) && (st.StartedAt == nil || !at.Before(st.StartedAt)) {
			st.State, st.StoppedAt = jitsiv1alpha1.StreamingStateStopped, &at
		}
	case Failed:
		st.State, st.Error = jitsiv1alpha1.StreamingStateFailed, sig.Reason
		if st.StoppedAt == nil || st.StoppedAt.Before(&at) {
			st.StoppedAt = &at
		}
	case DestinationReported:
		if sig.Destination != nil {
			destination(&st, *sig.Destination)
		}
		return st
	}
	if sig.Destinations != nil {
		st.Destinations = slices.Clone(sig.Destinations)
	}
	return st
}

// destination records one destination's state; its error goes with it (none unless Failed).
func destination(s *jitsiv1alpha1.StreamingStatus, d jitsiv1alpha1.DestinationStatus) {
	if d.State != jitsiv1alpha1.StreamingStateFailed {
		d.Error = ""
	}
	for i := range s.Destinations {
		if s.Destinations[i].Name == d.Name {
			s.Destinations[i] = d
			return
		}
	}
	if len(s.Destinations) < maxDestinations {
		s.Destinations = append(s.Destinations, d)
	}
}
