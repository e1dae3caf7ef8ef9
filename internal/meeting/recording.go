package meeting

import (
	"time"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

// AnnotationRecording is how a backend asks for a Manual meeting's recording: "on" starts it,
// "off" stops it.
const AnnotationRecording = "jitsi.operator.dev/recording"

// RecordingWanted reports whether m should be recorded at now: while it is in progress, always
// (Automatic), once two people are in (AutomaticOnSecondParticipant; it then goes on to the end),
// or while a backend asks (Manual with AnnotationRecording "on"). A recording already started for
// AutomaticOnSecondParticipant stays wanted when people leave.
func RecordingWanted(m *jitsiv1alpha1.Meeting, now time.Time) bool {
	if phase, _ := Phase(m, now); phase != jitsiv1alpha1.MeetingInProgress {
		return false
	}
	switch m.Spec.Recording.Mode {
	case jitsiv1alpha1.RecordingAutomatic:
		return true
	case jitsiv1alpha1.RecordingAutomaticOnSecondParticipant:
		if m.Status.PeakParticipants >= 2 || m.Status.ParticipantCount >= 2 {
			return true
		}
		r := m.Status.Recording
		return r != nil && (r.State == jitsiv1alpha1.RecordingStatePending || r.State == jitsiv1alpha1.RecordingStateRecording)
	case jitsiv1alpha1.RecordingManual:
		return m.Annotations[AnnotationRecording] == "on"
	}
	return false
}

// AnnotationStreaming is how a backend asks for a Manual meeting's live stream: "on" starts it,
// "off" stops it.
const AnnotationStreaming = "jitsi.operator.dev/streaming"

// StreamingWanted reports whether m should stream live at now: while it is in progress, always
// (Automatic) or while a backend asks (Manual with AnnotationStreaming "on").
func StreamingWanted(m *jitsiv1alpha1.Meeting, now time.Time) bool {
	if phase, _ := Phase(m, now); phase != jitsiv1alpha1.MeetingInProgress {
		return false
	}
	switch m.Spec.Streaming.Mode {
	case jitsiv1alpha1.StreamingAutomatic:
		return true
	case jitsiv1alpha1.StreamingManual:
		return m.Annotations[AnnotationStreaming] == "on"
	}
	return false
}
