package session

import (
	"fmt"
	"time"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

// Timeouts are the deadlines of a session's waits (JibriPool.spec.sessionTimeouts).
type Timeouts struct {
	// Start is how long a recorder may take to start a session it accepted.
	Start time.Duration
	// Finalize is how long the finalize script may take to report once the session stopped.
	Finalize time.Duration
}

// Deadline is when a recording in st that waits on its recorder times out, and the signal that
// ends it then: Pending on a recorder (accepted at assigned) must have started within Start, and
// Finalizing must have been reported within Finalize of its stop. ok is false for a recording
// that waits on nobody's clock: over, none, queued for a recorder (the pool's capacity or the
// meeting's end ends that wait), or recording (its recorder ends it, and its absence fails it).
func Deadline(st jitsiv1alpha1.RecordingStatus, assigned time.Time, t Timeouts) (at time.Time, then Signal, ok bool) {
	switch {
	case st.State == jitsiv1alpha1.RecordingStatePending && st.Recorder != "" && !assigned.IsZero():
		at = assigned.Add(t.Start)
		return at, Signal{Kind: Failed, Session: st.SessionID, At: at,
			Reason: fmt.Sprintf("recorder %s accepted the recording and had not started it after %s; see the recorder's log", st.Recorder, t.Start)}, true
	case st.State == jitsiv1alpha1.RecordingStateFinalizing && st.StoppedAt != nil:
		at = st.StoppedAt.Add(t.Finalize)
		return at, Signal{Kind: Failed, Session: st.SessionID, At: at,
			Reason: fmt.Sprintf("the finalize script of recorder %s did not report within %s of the stop; the files may still be on its volume", st.Recorder, t.Finalize)}, true
	}
	return time.Time{}, Signal{}, false
}

// StreamDeadline is Deadline for a live stream: Pending on a recorder (accepted at assigned)
// must have gone live within Start. A stream has no finalizing wait, and its other states wait
// on no clock (queued, live, stopped, failed).
func StreamDeadline(st jitsiv1alpha1.StreamingStatus, assigned time.Time, t Timeouts) (at time.Time, then Signal, ok bool) {
	if st.State != jitsiv1alpha1.StreamingStatePending || st.Recorder == "" || assigned.IsZero() {
		return time.Time{}, Signal{}, false
	}
	at = assigned.Add(t.Start)
	return at, Signal{Kind: Failed, At: at,
		Reason: fmt.Sprintf("recorder %s accepted the stream and it had not gone live after %s; see the recorder's log", st.Recorder, t.Start)}, true
}
