package events

import (
	"testing"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/session"
)

// A pool's decision applies to the recording it was decided from, and to nothing newer.
func TestPoolDecisionsApplyOnlyToWhatThePoolSaw(t *testing.T) {
	var st jitsiv1alpha1.MeetingStatus
	queued := Event{Kind: PoolDecided, Time: at(0), Decision: &Decision{Signal: session.Signal{Kind: session.Queued, At: at(0)}, Seen: Seen(st, false)}}
	if !Applies(st, queued) {
		t.Fatal("a decision from the current status does not apply")
	}
	st = Apply(st, queued)
	if st.Recording == nil || st.Recording.State != jitsiv1alpha1.RecordingStatePending {
		t.Fatalf("queued: %+v", st.Recording)
	}
	// Meanwhile Jicofo announced a session a moderator started; the pool, which saw none, assigns.
	seen := Seen(st, false)
	st = Apply(st, Event{Kind: RecordingStatus, Time: at(1), Status: &JibriStatus{Status: "pending", Mode: "file", SessionID: "ui-1"}})
	assign := Event{Kind: PoolDecided, Time: at(2), Decision: &Decision{Seen: seen,
		Signal: session.Signal{Kind: session.Assigned, Session: "standup-x", Recorder: "rec-abcde", At: at(2)}}}
	if Applies(st, assign) {
		t.Fatal("a decision from a recording that moved on applies")
	}
	if got := Apply(st, assign); got.Recording.SessionID != "ui-1" {
		t.Fatalf("the stale decision changed the recording: %+v", got.Recording)
	}
	// A stream's decision looks at the stream only: the recording's change does not stop it.
	stream := Event{Kind: PoolDecided, Time: at(3), Decision: &Decision{Stream: true, Seen: Seen(st, true),
		Signal: session.Signal{Kind: session.Assigned, Recorder: "rec-fghij", At: at(3)}}}
	got := Apply(st, stream)
	if got.Streaming == nil || got.Streaming.Recorder != "rec-fghij" || got.Recording.SessionID != "ui-1" {
		t.Fatalf("stream decision: %+v / %+v", got.Streaming, got.Recording)
	}
	// ClearRecorder: a recorder that went away before it started is not left named.
	st.Recording.Recorder = "rec-gone"
	failed := Event{Kind: PoolDecided, Time: at(4), Decision: &Decision{Seen: Seen(st, false), ClearRecorder: true,
		Signal: session.Signal{Kind: session.Failed, Reason: "the meeting ended before a recorder was free", At: at(4)}}}
	if got := Apply(st, failed); got.Recording.State != jitsiv1alpha1.RecordingStateFailed || got.Recording.Recorder != "" {
		t.Fatalf("failed: %+v", got.Recording)
	}
}
