package events

import (
	"fmt"
	"math/rand"
	"reflect"
	"testing"
	"time"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

func join(s int, key string) Event {
	return Event{Kind: OccupantJoined, Room: "r", Time: at(s), Occupant: &Occupant{Key: key, Name: "N " + key}}
}

func leave(s int, key string) Event {
	return Event{Kind: OccupantLeft, Room: "r", Time: at(s), Occupant: &Occupant{Key: key, SpeakingMillis: int64(s) * 100}}
}

func applyAll(evs []Event) jitsiv1alpha1.MeetingStatus {
	var st jitsiv1alpha1.MeetingStatus
	for _, e := range evs {
		st = Apply(st, e)
	}
	return st
}

func TestAMeetingFromStartToEnd(t *testing.T) {
	evs := []Event{
		{Kind: RoomCreated, Room: "r", Time: at(0)},
		join(1, "alice"),
		join(2, "bob"),
		{Kind: OccupantJoined, Room: "r", Time: at(3), Occupant: &Occupant{Key: "recorder@hidden", Recorder: true, Nick: "jibri-0"}},
		leave(50, "bob"),
		{Kind: OccupantLeft, Room: "r", Time: at(60), Occupant: &Occupant{Key: "recorder@hidden", Recorder: true}},
		leave(70, "alice"),
		{Kind: RoomDestroyed, Room: "r", Time: at(70)},
	}
	st := applyAll(evs[:4])
	if st.ParticipantCount != 2 || st.StartedAt == nil || st.Recording.State != jitsiv1alpha1.RecordingStateRecording || st.Recording.Recorder != "jibri-0" {
		t.Fatalf("mid-meeting: %+v %+v", st, st.Recording)
	}
	st = applyAll(evs)
	if st.ParticipantCount != 0 || st.PeakParticipants != 2 || st.EndedAt == nil || !st.EndedAt.Time.Equal(at(70)) {
		t.Errorf("after: count %d peak %d ended %v", st.ParticipantCount, st.PeakParticipants, st.EndedAt)
	}
	if st.Recording.State != jitsiv1alpha1.RecordingStateFinalizing || !st.Recording.StoppedAt.Time.Equal(at(60)) {
		t.Errorf("recording %+v", st.Recording)
	}
	if len(st.Participants) != 2 || st.Participants[1].ID != "bob" || st.Participants[1].SpeakingSeconds != 5 {
		t.Errorf("participants %+v", st.Participants)
	}
}

func TestDuplicatesChangeNothing(t *testing.T) {
	evs := []Event{{Kind: RoomCreated, Room: "r", Time: at(0)}, join(1, "a"), leave(5, "a"), join(6, "a")}
	once := applyAll(evs)
	for _, e := range evs {
		if again := Apply(once, e); !reflect.DeepEqual(again, once) {
			t.Errorf("applying %s again changed the status", e.Kind)
		}
	}
}

func TestALateLeaveOfAnEarlierVisit(t *testing.T) {
	st := applyAll([]Event{join(1, "a"), join(6, "a"), leave(5, "a")})
	if st.ParticipantCount != 1 || st.Participants[0].LeftAt != nil {
		t.Errorf("back at 6, the leave at 5 must not remove them: %+v", st.Participants[0])
	}
}

func TestDestroyBeforeTheLastLeave(t *testing.T) {
	// Seen on a real Prosody: the destroy can arrive before the last leave.
	st := applyAll([]Event{join(1, "a"), {Kind: RoomDestroyed, Room: "r", Time: at(9)}, leave(9, "a")})
	if st.ParticipantCount != 0 || !st.Participants[0].LeftAt.Time.Equal(at(9)) {
		t.Errorf("%+v", st.Participants)
	}
}

func TestALeaveWithoutOccupantIsIgnored(t *testing.T) {
	st := applyAll([]Event{join(1, "a"), {Kind: OccupantLeft, Room: "r", Time: at(2)}})
	if st.ParticipantCount != 1 {
		t.Errorf("count %d", st.ParticipantCount)
	}
}

// TestAnyOrderEndsTheSame applies 1,000 events (a meeting of 150 people, half of whom leave and
// come back, the rest of the 1,000 redeliveries) in many shuffled orders: the status is always the
// one of the ordered run.
func TestAnyOrderEndsTheSame(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var evs []Event
	evs = append(evs, Event{Kind: RoomCreated, Room: "r", Time: at(0)})
	for i := 0; i < 150; i++ {
		key := fmt.Sprintf("p%03d", i)
		in := 1 + rng.Intn(300)
		out := in + 1 + rng.Intn(200)
		evs = append(evs, join(in, key), leave(out, key))
		if i%2 == 0 { // half come back once
			back := out + 1 + rng.Intn(100)
			evs = append(evs, join(back, key), leave(back+1+rng.Intn(300), key))
		}
	}
	evs = append(evs, Event{Kind: RoomDestroyed, Room: "r", Time: at(1000)})
	for len(evs) < 1000 {
		evs = append(evs, evs[rng.Intn(len(evs))])
	}
	want := applyAll(evs)
	if want.ParticipantCount != 0 || len(want.Participants) != 150 || want.EndedAt == nil {
		t.Fatalf("ordered run: count %d, %d listed", want.ParticipantCount, len(want.Participants))
	}
	for round := 0; round < 50; round++ {
		shuffled := append([]Event(nil), evs...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		got := applyAll(shuffled)
		got.PeakParticipants = want.PeakParticipants // the peak seen depends on arrival order
		if !reflect.DeepEqual(got, want) {
			for i := range want.Participants {
				if !reflect.DeepEqual(got.Participants[i], want.Participants[i]) {
					t.Logf("%+v\n%+v", got.Participants[i], want.Participants[i])
					break
				}
			}
			got.Participants, want.Participants = nil, nil
			t.Fatalf("round %d: shuffled events ended in another status:\n%+v\n%+v", round, got, want)
		}
	}
}

func TestARecordingCompletes(t *testing.T) {
	rec := &Occupant{Key: "recorder@hidden", Recorder: true, Nick: "jibri-0"}
	done := Event{Kind: RecordingCompleted, Room: "r", Time: at(90), Recording: &Recording{SessionID: "s1", Files: []jitsiv1alpha1.RecordingFile{
		{Name: "r_2026.mp4", SizeBytes: 1000, SHA256: "ab"}, {Name: "metadata.json", SizeBytes: 10}}}}
	evs := []Event{
		{Kind: OccupantJoined, Room: "r", Time: at(1), Occupant: rec},
		{Kind: OccupantLeft, Room: "r", Time: at(80), Occupant: rec},
		done, done,
	}
	st := applyAll(evs)
	r := st.Recording
	if r.State != jitsiv1alpha1.RecordingStateCompleted || r.SessionID != "s1" || len(r.Files) != 2 || r.Files[1].Name != "r_2026.mp4" {
		t.Errorf("%+v", r)
	}
	// The report may arrive before the recorder's leave: it stays Completed.
	st = applyAll([]Event{evs[0], done, evs[1]})
	if st.Recording.State != jitsiv1alpha1.RecordingStateCompleted || !st.Recording.StoppedAt.Time.Equal(at(80)) {
		t.Errorf("%+v", st.Recording)
	}
}

func TestRoleChanges(t *testing.T) {
	role := func(s int, key string, moderator bool) Event {
		return Event{Kind: RoleChanged, Room: "r", Time: at(s), Occupant: &Occupant{Key: key, Moderator: moderator}}
	}
	st := applyAll([]Event{role(0, "a", true), join(1, "a"), join(2, "b"), role(3, "b", true), role(4, "a", false)})
	if st.Participants[0].Moderator || !st.Participants[1].Moderator {
		t.Errorf("%+v", st.Participants)
	}
	if len(st.Participants) != 2 || st.ParticipantCount != 2 {
		t.Errorf("a role change before the join listed someone: %+v", st.Participants)
	}
}

func TestStreams(t *testing.T) {
	start, stop := Event{Kind: StreamStarted, Room: "r", Time: at(10)}, Event{Kind: StreamStopped, Room: "r", Time: at(20)}
	for _, order := range [][]Event{{start, stop}, {stop, start}, {start, stop, start, stop}} {
		st := applyAll(order)
		if s := st.Streaming; s.State != jitsiv1alpha1.StreamingStateStopped || !s.StartedAt.Time.Equal(at(10)) || !s.StoppedAt.Time.Equal(at(20)) {
			t.Errorf("%+v", s)
		}
	}
	again := Event{Kind: StreamStarted, Room: "r", Time: at(30)}
	if s := applyAll([]Event{start, stop, again}).Streaming; s.State != jitsiv1alpha1.StreamingStateLive || s.StoppedAt != nil {
		t.Errorf("a new stream after the last stop: %+v", s)
	}
}

func TestJicofoRecordingStatus(t *testing.T) {
	status := func(s int, st, mode string) Event {
		return Event{Kind: RecordingStatus, Room: "r", Time: at(s), Status: &JibriStatus{Status: st, Mode: mode, SessionID: "sess"}}
	}
	st := applyAll([]Event{status(1, "pending", "file"), status(2, "on", "file")})
	if r := st.Recording; r.State != jitsiv1alpha1.RecordingStateRecording || r.SessionID != "sess" || !r.StartedAt.Time.Equal(at(2)) {
		t.Errorf("%+v", r)
	}
	st = Apply(st, status(9, "off", "file"))
	if r := st.Recording; r.State != jitsiv1alpha1.RecordingStateFinalizing || !r.StoppedAt.Time.Equal(at(9)) {
		t.Errorf("%+v", r)
	}
	// A late "on" does not reopen a recording that is finalizing.
	if r := Apply(st, status(2, "on", "file")).Recording; r.State != jitsiv1alpha1.RecordingStateFinalizing {
		t.Errorf("%+v", r)
	}
	failed := Apply(st, Event{Kind: RecordingStatus, Room: "r", Time: at(10), Status: &JibriStatus{Status: "off", Mode: "file", FailureReason: "no recorder"}})
	if r := failed.Recording; r.State != jitsiv1alpha1.RecordingStateFailed || r.Error != "no recorder" {
		t.Errorf("%+v", r)
	}
	live := applyAll([]Event{status(1, "on", "stream")})
	if live.Streaming.State != jitsiv1alpha1.StreamingStateLive || live.Recording != nil {
		t.Errorf("a live stream: %+v %+v", live.Streaming, live.Recording)
	}
}

func TestTheRecorderThePoolAssignedKeepsItsName(t *testing.T) {
	st := jitsiv1alpha1.MeetingStatus{Recording: &jitsiv1alpha1.RecordingStatus{
		State: jitsiv1alpha1.RecordingStatePending, Recorder: "rec-x7k2p", SessionID: "standup-abc"}}
	st = Apply(st, Event{Kind: OccupantJoined, Room: "r", Time: at(3), Occupant: &Occupant{Key: "recorder@hidden", Recorder: true, Nick: "a1b2c3"}})
	if r := st.Recording; r.State != jitsiv1alpha1.RecordingStateRecording || r.Recorder != "rec-x7k2p" || r.SessionID != "standup-abc" {
		t.Fatalf("after the recorder joined: %+v", r)
	}
	// A recording nobody assigned (a moderator's button) is named by the recorder's nick.
	st = Apply(jitsiv1alpha1.MeetingStatus{}, Event{Kind: OccupantJoined, Room: "r", Time: at(3), Occupant: &Occupant{Key: "recorder@hidden", Recorder: true, Nick: "a1b2c3"}})
	if st.Recording.Recorder != "a1b2c3" {
		t.Fatalf("unassigned recording: %+v", st.Recording)
	}
}

func TestAFailedUploadFailsTheRecording(t *testing.T) {
	st := Apply(jitsiv1alpha1.MeetingStatus{}, Event{Kind: RecordingCompleted, Room: "r", Time: at(90), Recording: &Recording{
		SessionID: "s1", Error: "the bucket does not exist: create it or fix recordings.upload.s3.bucket",
		Files: []jitsiv1alpha1.RecordingFile{{Name: "r.mp4", Path: "/storage/recordings/s1/r.mp4", SizeBytes: 10}}}})
	if r := st.Recording; r.State != jitsiv1alpha1.RecordingStateFailed || r.Error == "" || len(r.Files) != 1 || r.Files[0].Path == "" {
		t.Fatalf("recording %+v", r)
	}
	// A later successful report (a retry) completes it.
	st = Apply(st, Event{Kind: RecordingCompleted, Room: "r", Time: at(120), Recording: &Recording{SessionID: "s1",
		Files: []jitsiv1alpha1.RecordingFile{{Name: "r.mp4", URL: "s3://b/k/r.mp4", SizeBytes: 10}}}})
	if r := st.Recording; r.State != jitsiv1alpha1.RecordingStateCompleted || r.Error != "" || r.Files[0].URL == "" {
		t.Fatalf("after the retry: %+v", r)
	}
}

func TestALateDuplicateDestroyDoesNotCloseAReopenedRoom(t *testing.T) {
	created := func(s int) Event { return Event{Kind: RoomCreated, Room: "r", Time: at(s)} }
	destroyed := Event{Kind: RoomDestroyed, Room: "r", Time: at(20)}
	st := applyAll([]Event{created(0), join(1, "alice"), destroyed, created(30), join(31, "bob")})
	if st.EndedAt != nil || !st.StartedAt.Time.Equal(at(30)) || st.ParticipantCount != 1 {
		t.Fatalf("reopened: started %v ended %v count %d", st.StartedAt, st.EndedAt, st.ParticipantCount)
	}
	again := Apply(st, destroyed)
	if !reflect.DeepEqual(again, st) {
		t.Errorf("the first opening's destroy, repeated after the room reopened, changed the status:\nbefore %+v\nafter  %+v", st, again)
	}
	// The destroy of the current opening still closes it.
	closed := Apply(st, Event{Kind: RoomDestroyed, Room: "r", Time: at(40)})
	if closed.EndedAt == nil || !closed.EndedAt.Time.Equal(at(40)) || closed.ParticipantCount != 0 {
		t.Errorf("closed: ended %v count %d", closed.EndedAt, closed.ParticipantCount)
	}
}

func TestAFailedRecordingStaysFailed(t *testing.T) {
	status := func(s int, st, session, failure string) Event {
		return Event{Kind: RecordingStatus, Room: "r", Time: at(s), Status: &JibriStatus{Status: st, Mode: "file", SessionID: session, FailureReason: failure}}
	}
	failed := applyAll([]Event{status(1, "pending", "one", ""), status(2, "on", "one", ""), status(3, "off", "one", "error")})
	if r := failed.Recording; r.State != jitsiv1alpha1.RecordingStateFailed {
		t.Fatalf("%+v", r)
	}
	for _, late := range []Event{status(2, "on", "one", ""), status(1, "pending", "one", ""), status(4, "off", "one", ""), status(2, "on", "", "")} {
		if r := Apply(failed, late).Recording; r.State != jitsiv1alpha1.RecordingStateFailed || r.Error != "error" {
			t.Errorf("after a late %q of the failed session: %+v", late.Status.Status, r)
		}
	}
	// A new session (a moderator presses record again) is a new recording.
	if r := Apply(failed, status(10, "on", "two", "")).Recording; r.State != jitsiv1alpha1.RecordingStateRecording || r.SessionID != "two" {
		t.Errorf("a new session after the failure: %+v", r)
	}
}
