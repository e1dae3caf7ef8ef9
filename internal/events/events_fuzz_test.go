package events

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

// fuzzPeople are who the fuzzed events are about: two people, the recorder, and a person named
// by their JID's node only (as mod_jitsi_webhooks' moderator-changed names them).
var fuzzPeople = []string{"alice@meet.jitsi", "bob@guest.meet.jitsi", "recorder@hidden.meet.jitsi", "alice"}

// fuzzEvents decodes a fuzz input into events of room "standup-7f3a", four bytes an event:
//
//	kind   one of the ten Kinds (b % 11; 10 is an unknown kind)
//	second seconds after t0
//	who    bits 0-1 the person (fuzzPeople), 0x04 moderator, 0x08 recorder, 0x10 no name
//	detail what the kind carries: a Jibri status (bits 0-1 on, off, pending, none; 0x04 stream;
//	       0x08 failed; 0x10 a session id), a report (0x01 and 0x02 its two files, 0x04 a
//	       second session, 0x40 an error, the size from the rest), a destination (0x01 which,
//	       bits 1-2 Live, Failed, Stopped or none, 0x08 an error), or the speaking time of a leave.
func fuzzEvents(script []byte) []Event {
	kinds := []Kind{RoomCreated, RoomDestroyed, OccupantJoined, OccupantLeft, RoleChanged, RecordingStatus,
		StreamStarted, StreamStopped, RecordingCompleted, DestinationChanged, "unknown"}
	var evs []Event
	for ; len(script) >= 4; script = script[4:] {
		kind, second, who, detail := script[0], script[1], script[2], script[3]
		e := Event{Kind: kinds[int(kind)%len(kinds)], Room: "standup-7f3a", Time: t0.Add(time.Duration(second) * time.Second)}
		switch e.Kind {
		case OccupantJoined, OccupantLeft, RoleChanged:
			e.Occupant = &Occupant{Key: fuzzPeople[who&3], Moderator: who&0x04 != 0, Recorder: who&0x08 != 0,
				Nick: fuzzPeople[who&3], SpeakingMillis: int64(detail) * 1000}
			if who&0x10 == 0 {
				e.Occupant.Name = "Person " + fuzzPeople[who&3]
			}
		case RecordingStatus:
			e.Status = &JibriStatus{Status: []string{"on", "off", "pending", ""}[detail&3], Mode: "file"}
			if detail&0x04 != 0 {
				e.Status.Mode = "stream"
			}
			if detail&0x08 != 0 {
				e.Status.FailureReason = "error"
			}
			if detail&0x10 != 0 {
				e.Status.SessionID = "0b6f3c1e"
			}
		case RecordingCompleted:
			e.Recording = &Recording{SessionID: "0b6f3c1e"}
			if detail&0x04 != 0 {
				e.Recording.SessionID = "7d1e0b52"
			}
			for i, name := range []string{"standup-7f3a.mp4", "metadata.json"} {
				if detail&(1<<i) != 0 {
					e.Recording.Files = append(e.Recording.Files, jitsiv1alpha1.RecordingFile{Name: name, SizeBytes: int64(detail >> 3)})
				}
			}
			if detail&0x40 != 0 {
				e.Recording.Error = "S3 upload failed"
			}
		case DestinationChanged:
			e.Destination = &jitsiv1alpha1.DestinationStatus{Name: []string{"youtube", "twitch"}[detail&1],
				State: []jitsiv1alpha1.StreamingState{jitsiv1alpha1.StreamingStateLive, jitsiv1alpha1.StreamingStateFailed,
					jitsiv1alpha1.StreamingStateStopped, ""}[detail>>1&3]}
			if detail&0x08 != 0 {
				e.Destination.Error = "connection refused"
			}
		}
		evs = append(evs, e)
	}
	return evs
}

// FuzzApplyTwice: events arrive duplicated (each is posted on its own and retried), so applying
// one again to the status it made changes nothing, at every point of any sequence of events.
func FuzzApplyTwice(f *testing.F) {
	f.Fuzz(func(t *testing.T, script []byte) {
		var st jitsiv1alpha1.MeetingStatus
		for i, e := range fuzzEvents(script) {
			st = Apply(st, e)
			if again := Apply(st, e); !equality.Semantic.DeepEqual(st, again) {
				t.Fatalf("event %d (%s %+v) applied twice:\nonce  %+v\ntwice %+v", i, e.Kind, e, st, again)
			}
		}
	})
}
