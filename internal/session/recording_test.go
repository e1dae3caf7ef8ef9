package session

import (
	"math/rand"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// signals decodes a script into signals about two sessions, three bytes a signal: the kind, the
// session (0 none, 1 "one", 2 "two") and the second it happened.
func signals(script []byte) []Signal {
	kinds := []Kind{Queued, Assigned, Announced, Started, Stopped, Failed, Reported, NoMedia}
	var out []Signal
	for ; len(script) >= 3; script = script[3:] {
		sig := Signal{Kind: kinds[int(script[0])%len(kinds)], Session: []string{"", "one", "two"}[int(script[1])%3],
			At: t0.Add(time.Duration(script[2]) * time.Second)}
		switch sig.Kind {
		case Assigned:
			sig.Recorder = "rec-abcde"
			if sig.Session == "" {
				sig.Session = "one"
			}
		case Failed:
			sig.Reason = "Jibri reported ERROR Failed to join the call"
		case Stopped:
			if script[2]%2 == 0 {
				sig.Reason = "Jibri reported ERROR ICE failed"
			}
		case Reported:
			sig.Files = []jitsiv1alpha1.RecordingFile{{Name: "standup.mp4", SizeBytes: int64(script[2])}}
			if script[2]%5 == 0 {
				sig.Reason = "S3 upload failed"
			}
		}
		out = append(out, sig)
	}
	return out
}

func active(s jitsiv1alpha1.RecordingState) bool {
	return s == jitsiv1alpha1.RecordingStatePending || s == jitsiv1alpha1.RecordingStateRecording || s == jitsiv1alpha1.RecordingStateFinalizing
}

// check applies sigs and fails t when a signal applied twice changes something the second time,
// or when a session that ended becomes active again by a signal about it (only the pool's own
// Queued and Assigned, which start anew, may follow an end).
func check(t *testing.T, sigs []Signal) {
	t.Helper()
	var st jitsiv1alpha1.RecordingStatus
	for i, sig := range sigs {
		next := Recording(st, sig)
		if again := Recording(next, sig); !equality.Semantic.DeepEqual(next, again) {
			t.Fatalf("signal %d %+v applied twice:\nonce  %+v\ntwice %+v", i, sig, next, again)
		}
		if Terminal(st.State) && active(next.State) && next.SessionID == st.SessionID && sig.Kind != Queued && sig.Kind != Assigned {
			t.Fatalf("signal %d %+v made the ended session %q active again: %+v -> %+v", i, sig, st.SessionID, st, next)
		}
		st = next
	}
}

func TestSignalsAreIdempotentAndEndsStay(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for range 20000 {
		script := make([]byte, 3*(1+r.Intn(12)))
		r.Read(script)
		check(t, signals(script))
	}
}

func FuzzSignals(f *testing.F) {
	f.Add([]byte{1, 1, 0, 3, 1, 5, 5, 1, 9, 3, 1, 12})
	f.Fuzz(func(t *testing.T, script []byte) { check(t, signals(script)) })
}

func TestARecordingsLife(t *testing.T) {
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	st := Recording(jitsiv1alpha1.RecordingStatus{}, Signal{Kind: Queued, At: at(0)})
	st = Recording(st, Signal{Kind: Assigned, Session: "one", Recorder: "rec-abcde", At: at(1)})
	st = Recording(st, Signal{Kind: Started, Session: "one", Recorder: "jibri-nick", At: at(2)})
	if st.State != jitsiv1alpha1.RecordingStateRecording || st.Recorder != "rec-abcde" || !st.StartedAt.Time.Equal(at(2)) {
		t.Fatalf("recording: %+v", st)
	}
	st = Recording(st, Signal{Kind: Stopped, Session: "one", At: at(60)})
	if st.State != jitsiv1alpha1.RecordingStateFinalizing || !st.StoppedAt.Time.Equal(at(60)) {
		t.Fatalf("finalizing: %+v", st)
	}
	if late := Recording(st, Signal{Kind: Started, Session: "one", At: at(3)}); late.State != jitsiv1alpha1.RecordingStateFinalizing {
		t.Errorf("a late start reopened it: %+v", late)
	}
	done := Recording(st, Signal{Kind: Reported, Session: "one", At: at(90), Files: []jitsiv1alpha1.RecordingFile{{Name: "a.mp4"}}})
	if done.State != jitsiv1alpha1.RecordingStateCompleted || len(done.Files) != 1 {
		t.Errorf("reported: %+v", done)
	}
	empty := Recording(st, Signal{Kind: NoMedia, Session: "one", At: at(200)})
	if empty.State != jitsiv1alpha1.RecordingStateCompleted || len(empty.Files) != 0 || empty.Error != "" {
		t.Errorf("no media: %+v", empty)
	}
	cut := Recording(Recording(st, Signal{Kind: Stopped, Session: "one", At: at(61), Reason: "Jibri reported ERROR ICE failed"}),
		Signal{Kind: NoMedia, Session: "one", At: at(200)})
	if cut.State != jitsiv1alpha1.RecordingStateFailed || cut.Error != "Jibri reported ERROR ICE failed" {
		t.Errorf("stopped by a failure, no report: %+v", cut)
	}
	again := Recording(done, Signal{Kind: Announced, Session: "two", At: at(300)})
	if again.State != jitsiv1alpha1.RecordingStatePending || again.SessionID != "two" || len(again.Files) != 0 {
		t.Errorf("a new session after the first: %+v", again)
	}
	if old := Recording(done, Signal{Kind: Started, Session: "two", At: at(30)}); old.State != jitsiv1alpha1.RecordingStateCompleted {
		t.Errorf("another session older than the end is old news: %+v", old)
	}
}

// A stream's signals are idempotent too (but the pool's Restarting, which counts), and a failed
// stream stays failed on a stop.
func TestStreamSignals(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for range 20000 {
		script := make([]byte, 3*(1+r.Intn(12)))
		r.Read(script)
		var st jitsiv1alpha1.StreamingStatus
		for i, sig := range signals(script) {
			next := Stream(st, sig)
			if again := Stream(next, sig); !equality.Semantic.DeepEqual(next, again) {
				t.Fatalf("signal %d %+v applied twice:\nonce  %+v\ntwice %+v", i, sig, next, again)
			}
			if st.State == jitsiv1alpha1.StreamingStateFailed && sig.Kind == Stopped && next.State != jitsiv1alpha1.StreamingStateFailed {
				t.Fatalf("a stop turned a failed stream %+v into %+v", st, next)
			}
			st = next
		}
	}
	restarted := Stream(jitsiv1alpha1.StreamingStatus{State: jitsiv1alpha1.StreamingStateLive, Restarts: 1, Recorder: "rec-abcde"},
		Signal{Kind: Restarting, Reason: "Jibri reported ERROR <address> Input/output error", At: t0})
	if restarted.State != jitsiv1alpha1.StreamingStatePending || restarted.Restarts != 2 || restarted.Recorder != "" || restarted.Error == "" {
		t.Errorf("restarting: %+v", restarted)
	}
	if q := Stream(restarted, Signal{Kind: Queued, At: t0}); q.Restarts != 2 || q.Error != restarted.Error {
		t.Errorf("queued again forgot the restarts: %+v", q)
	}
}
