package session

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

// Restarting: the pool starts a stream the recorder reported failed again (Pending, one more
// restart, Reason the failure). A stream's other signals are a recording's: Queued, Assigned,
// Announced (Jicofo's pending), Started (live), Stopped, Failed.
const Restarting Kind = "Restarting"

// Stream returns st with sig applied. A live stream is not over when it stops: a start after the
// last stop makes it live again. Failed stays failed but for the pool's own Queued, Assigned and
// Restarting, and a start after the failure.
func Stream(st jitsiv1alpha1.StreamingStatus, sig Signal) jitsiv1alpha1.StreamingStatus {
	st = *st.DeepCopy()
	at := metav1.NewTime(sig.At.UTC().Truncate(time.Millisecond))
	switch sig.Kind {
	case Queued:
		return jitsiv1alpha1.StreamingStatus{State: jitsiv1alpha1.StreamingStatePending, Restarts: st.Restarts, Error: st.Error}
	case Assigned:
		return jitsiv1alpha1.StreamingStatus{State: jitsiv1alpha1.StreamingStatePending, Recorder: sig.Recorder, Restarts: st.Restarts, Error: st.Error}
	case Restarting:
		return jitsiv1alpha1.StreamingStatus{State: jitsiv1alpha1.StreamingStatePending, Restarts: st.Restarts + 1, Error: sig.Reason}
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
	}
	return st
}
