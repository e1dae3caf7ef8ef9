package session

import (
	"fmt"
	"math/rand"
	"slices"
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

// randomSignals is the signals of a random script of 1 to 12 of them.
func randomSignals(r *rand.Rand) []Signal {
	script := make([]byte, 3*(1+r.Intn(12)))
	r.Read(script)
	return signals(script)
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
		check(t, randomSignals(r))
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
		var st jitsiv1alpha1.StreamingStatus
		for i, sig := range randomSignals(r) {
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
	live := Stream(Stream(restarted, Signal{Kind: Assigned, Recorder: "rec-abcde", At: t0}), Signal{Kind: Started, At: t0.Add(time.Minute)})
	if again := Stream(live, Signal{Kind: Restarting, Reason: "again", At: t0.Add(2 * time.Minute)}); again.Restarts != 3 {
		t.Errorf("a stream failing a minute after its restart counts on: %+v", again)
	}
	if later := Stream(live, Signal{Kind: Restarting, Reason: "ingest gone", At: t0.Add(time.Minute + StableStream)}); later.Restarts != 1 {
		t.Errorf("a stream live for %s before it failed counts its restarts afresh: %+v", StableStream, later)
	}
	stopped := Stream(live, Signal{Kind: Stopped, At: t0.Add(time.Hour)})
	if fresh := Stream(stopped, Signal{Kind: Queued, At: t0.Add(2 * time.Hour)}); fresh.Restarts != 0 || fresh.Error != "" {
		t.Errorf("a new stream after a stop carried the last one's restarts: %+v", fresh)
	}
}

// A run of one operator-started session as its sources deliver it: each source's signals in
// the order it sends them, and the state the ordered run must end in.
type run struct {
	name    string
	sources [][]Signal
	want    jitsiv1alpha1.RecordingState
}

// runs are the ends a session can have: files reported (delivered, or not), no media written
// (with or without Jibri's failure), a start Jibri failed. Times jitter around the real ones,
// since each source sees the start and the stop at its own moment.
func runs(r *rand.Rand) []run {
	at := func(s float64) time.Time {
		return t0.Add(time.Duration((s + r.Float64()*0.8 - 0.4) * float64(time.Second)))
	}
	const sid, rec = "standup-20261201.0900", "rec-abcde"
	pool := []Signal{{Kind: Queued, At: at(0)}, {Kind: Assigned, Session: sid, Recorder: rec, At: at(1)}}
	jicofo := []Signal{{Kind: Announced, Session: sid, At: at(1.5)}, {Kind: Started, Session: sid, Recorder: "jibri-nick", At: at(2)},
		{Kind: Stopped, Session: sid, At: at(5)}}
	jibriFailure := ""
	if r.Intn(2) == 0 {
		jibriFailure = "Jibri reported ERROR ICE failed"
	}
	// The pool's own signals that follow what a recorder said come after it, in that source.
	jibri := []Signal{{Kind: Started, Session: sid, At: at(2)}, {Kind: Stopped, Session: sid, At: at(5), Reason: jibriFailure}}
	files := []jitsiv1alpha1.RecordingFile{{Name: "standup.mp4", SizeBytes: 1 << 20}, {Name: "standup.json"}}
	report := []Signal{{Kind: Reported, Session: sid, At: at(8), Files: files}}
	failedReport := []Signal{{Kind: Reported, Session: sid, At: at(8), Files: files, Reason: "S3 upload failed"}}
	noMedia, noMediaEnd := append(slices.Clone(jibri), Signal{Kind: NoMedia, Session: sid, At: at(130)}), jitsiv1alpha1.RecordingStateCompleted
	if jibriFailure != "" {
		noMediaEnd = jitsiv1alpha1.RecordingStateFailed
	}
	failedStart := []Signal{{Kind: Stopped, Session: sid, At: at(3), Reason: "Jibri reported ERROR Failed to join the call"},
		{Kind: Failed, Session: sid, At: at(4), Reason: "recorder rec-abcde could not start the recording"}}
	return []run{
		{"reported", [][]Signal{pool, jicofo, jibri, report}, jitsiv1alpha1.RecordingStateCompleted},
		{"upload failed", [][]Signal{pool, jicofo, jibri, failedReport}, jitsiv1alpha1.RecordingStateFailed},
		{"no media", [][]Signal{pool, jicofo, noMedia}, noMediaEnd},
		{"failed start", [][]Signal{pool, jicofo[:1], failedStart}, jitsiv1alpha1.RecordingStateFailed},
	}
}

// ordered is the run as it happened: the pool's signals first (it assigns before any recorder
// can speak), then every other signal by its time.
func ordered(sources [][]Signal) []Signal {
	out := slices.Clone(sources[0])
	var rest []Signal
	for _, s := range sources[1:] {
		rest = append(rest, s...)
	}
	slices.SortStableFunc(rest, func(a, b Signal) int { return a.At.Compare(b.At) })
	return append(out, rest...)
}

// delivered is one way the sources' signals can arrive: the pool's first, in order (its writes
// are its own, one after another), the others interleaved at random with each source's own
// order kept, and any of those delivered again later (a retried webhook, a resent event).
func delivered(r *rand.Rand, sources [][]Signal) []Signal {
	out := slices.Clone(sources[0])
	queues := make([][]Signal, 0, len(sources)-1)
	for _, s := range sources[1:] {
		queues = append(queues, slices.Clone(s))
	}
	var sent []Signal
	for {
		var open []int
		for i, q := range queues {
			if len(q) > 0 {
				open = append(open, i)
			}
		}
		if len(open) == 0 {
			return append(out, sent...)
		}
		i := open[r.Intn(len(open))]
		sig := queues[i][0]
		queues[i] = queues[i][1:]
		sent = append(sent, sig)
		if r.Intn(4) == 0 {
			// Delivered again at some later point, behind whatever comes meanwhile.
			j := len(sent) + r.Intn(len(sent)+1)
			k := j % len(queues)
			queues[k] = append(queues[k], sig)
		}
	}
}

func apply(sigs []Signal) jitsiv1alpha1.RecordingStatus {
	var st jitsiv1alpha1.RecordingStatus
	for _, sig := range sigs {
		st = Recording(st, sig)
	}
	return st
}

// However the sources' signals interleave, repeat or lag, a session ends where the ordered run
// ends: the same state, recorder, times, files and reason.
func TestDeliveryOrderDoesNotMatter(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for range 2000 {
		for _, run := range runs(r) {
			want := apply(ordered(run.sources))
			if want.State != run.want || want.Recorder != "rec-abcde" {
				t.Fatalf("%s, in order: %+v, want state %s on rec-abcde", run.name, want, run.want)
			}
			for range 20 {
				sigs := delivered(r, run.sources)
				if got := apply(sigs); !equality.Semantic.DeepEqual(got, want) {
					t.Fatalf("%s: delivered as\n%s\nends as %+v\nin order it ends as %+v", run.name, describe(sigs), got, want)
				}
			}
		}
	}
}

func describe(sigs []Signal) string {
	out := ""
	for _, s := range sigs {
		out += fmt.Sprintf("  %s %s at %s %q\n", s.Kind, s.Session, s.At.Sub(t0), s.Reason)
	}
	return out
}

// Every state a session reaches that waits on its recorder (Pending on one, Finalizing) has a
// deadline, and the signal at that deadline ends the session; a queued or recording session
// waits on no clock, an ended one on nothing.
func TestEveryWaitHasADeadline(t *testing.T) {
	timeouts := Timeouts{Start: 3 * time.Minute, Finalize: 3 * time.Hour}
	r := rand.New(rand.NewSource(4))
	waits := map[jitsiv1alpha1.RecordingState]int{}
	for range 20000 {
		var st jitsiv1alpha1.RecordingStatus
		for _, sig := range randomSignals(r) {
			st = Recording(st, sig)
			at, then, ok := Deadline(st, t0, timeouts)
			onRecorder := st.State == jitsiv1alpha1.RecordingStatePending && st.Recorder != "" || st.State == jitsiv1alpha1.RecordingStateFinalizing
			if ok != onRecorder {
				t.Fatalf("after %+v: %+v has a deadline %v, want %v", sig, st, ok, onRecorder)
			}
			if !ok {
				continue
			}
			waits[st.State]++
			if ended := Recording(st, then); !Terminal(ended.State) || ended.Error == "" || !then.At.Equal(at) {
				t.Fatalf("%+v at its deadline %v (%+v) ends as %+v", st, at, then, ended)
			}
		}
	}
	if waits[jitsiv1alpha1.RecordingStatePending] == 0 || waits[jitsiv1alpha1.RecordingStateFinalizing] == 0 {
		t.Fatalf("the sequences never reached both waits: %v", waits)
	}

	// A stream waits on its recorder only while Pending on one.
	pending := 0
	for range 20000 {
		var st jitsiv1alpha1.StreamingStatus
		for _, sig := range randomSignals(r) {
			st = Stream(st, sig)
			at, then, ok := StreamDeadline(st, t0, timeouts)
			if onRecorder := st.State == jitsiv1alpha1.StreamingStatePending && st.Recorder != ""; ok != onRecorder {
				t.Fatalf("after %+v: stream %+v has a deadline %v, want %v", sig, st, ok, onRecorder)
			}
			if !ok {
				continue
			}
			pending++
			if ended := Stream(st, then); ended.State != jitsiv1alpha1.StreamingStateFailed || ended.Error == "" || !at.Equal(t0.Add(timeouts.Start)) {
				t.Fatalf("stream %+v at its deadline %v ends as %+v", st, at, ended)
			}
		}
	}
	if pending == 0 {
		t.Fatal("the sequences never left a stream pending on a recorder")
	}
}
