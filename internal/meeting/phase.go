package meeting

import (
	"time"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

// Phase is the phase of m at now, from its times and from what the receiver recorded
// (status.startedAt when the room opened, status.endedAt when it closed):
//
//   - Completed: the room has been and is closed;
//   - InProgress: the room is open;
//   - Expired: the end passed and the room is not open (it never opened, or the status missed
//     its closing);
//   - Scheduled: otherwise.
//
// Failed is never derived here; it is set where something failed. next is when the phase
// changes by itself (the end), zero when it does not.
func Phase(m *jitsiv1alpha1.Meeting, now time.Time) (phase jitsiv1alpha1.MeetingPhase, next time.Time) {
	st := m.Status
	if st.Phase == jitsiv1alpha1.MeetingFailed {
		return st.Phase, time.Time{}
	}
	if st.StartedAt != nil && st.EndedAt != nil && !st.EndedAt.Before(st.StartedAt) {
		return jitsiv1alpha1.MeetingCompleted, time.Time{}
	}
	end, hasEnd := End(m)
	if st.StartedAt != nil && (st.EndedAt == nil || st.EndedAt.Before(st.StartedAt)) {
		if hasEnd && !now.Before(end) {
			// The room outlived its end: the module closes it, and the closing completes it.
			return jitsiv1alpha1.MeetingInProgress, time.Time{}
		}
		return jitsiv1alpha1.MeetingInProgress, end
	}
	if hasEnd && !now.Before(end) {
		return jitsiv1alpha1.MeetingExpired, time.Time{}
	}
	return jitsiv1alpha1.MeetingScheduled, end
}

// Ended reports whether a meeting in phase p is over: nobody joins it or streams it any more.
func Ended(p jitsiv1alpha1.MeetingPhase) bool {
	switch p {
	case jitsiv1alpha1.MeetingCompleted, jitsiv1alpha1.MeetingExpired, jitsiv1alpha1.MeetingFailed:
		return true
	}
	return false
}
