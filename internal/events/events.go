// Package events turns room events (from Prosody, whatever module sent them) into a Meeting's
// status. It is pure: Apply takes a status and an event and returns the new status, and never
// reads a cluster or a clock.
//
// Events arrive duplicated and out of order (each is posted on its own and retried), so Apply is
// written on the state, not on the history: applying an event twice changes nothing the second
// time, and any order of the same events ends in the same status.
package events

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/session"
)

// Kind is what happened.
type Kind string

const (
	RoomCreated    Kind = "room-created"
	RoomDestroyed  Kind = "room-destroyed"
	OccupantJoined Kind = "occupant-joined"
	OccupantLeft   Kind = "occupant-left"
	// RoleChanged: a participant became a moderator, or stopped being one.
	RoleChanged Kind = "role-changed"
	// RecordingStatus: Jicofo announced a recording's or live stream's state.
	RecordingStatus Kind = "recording-status"
	// StreamStarted and StreamStopped: the RTMP relay admitted a live stream, and it ended.
	StreamStarted Kind = "stream-started"
	StreamStopped Kind = "stream-stopped"
	// RecordingCompleted: a recorder's finalize script reports the finished files.
	RecordingCompleted Kind = "recording-completed"
	// DestinationChanged: the RTMP relay reports one destination of a live stream (live, failed, stopped).
	DestinationChanged Kind = "stream-destination"
	// PoolDecided: the JibriPool controller decided something about the meeting's recording or
	// live stream (it queued, assigned, started, stopped or failed it), from what it saw of it.
	PoolDecided Kind = "pool-decided"
)

// MaxParticipants bounds status.participants: the oldest who left are dropped first.
const MaxParticipants = 200

// Event is one room event, in any source's terms.
type Event struct {
	Kind Kind
	// Room is the room's name (the JID's node, lower case).
	Room string
	Time time.Time
	// Occupant is set on occupant events.
	Occupant *Occupant
	// Recording is set on RecordingCompleted.
	Recording *Recording
	// Status is set on RecordingStatus.
	Status *JibriStatus
	// Destination is set on DestinationChanged.
	Destination *jitsiv1alpha1.DestinationStatus
	// Decision is set on PoolDecided.
	Decision *Decision
}

// Decision is a signal of the pool about a Meeting's recording (or, with Stream, its live
// stream). Seen is the JSON of that recording's (or stream's) status the pool decided from: the
// decision is applied only to that status, never to one that moved on meanwhile (the pool then
// decides again from the newer one).
type Decision struct {
	Stream bool
	Signal session.Signal
	Seen   string
	// ClearRecorder: the recorder named goes from the status with the signal (one that went
	// away before it started).
	ClearRecorder bool
}

// Seen is the JSON of st's recording (stream) status, as a Decision's Seen.
func Seen(st jitsiv1alpha1.MeetingStatus, stream bool) string {
	var b []byte
	if stream {
		b, _ = json.Marshal(st.Streaming)
	} else {
		b, _ = json.Marshal(st.Recording)
	}
	return string(b)
}

// Applies reports whether e applies to st: every event does, but a pool's decision made from a
// status st no longer has.
func Applies(st jitsiv1alpha1.MeetingStatus, e Event) bool {
	return e.Kind != PoolDecided || e.Decision != nil && Seen(st, e.Decision.Stream) == e.Decision.Seen
}

// JibriStatus is Jicofo's jibri-recording-status: Status is on, off or pending; Mode file or
// stream.
type JibriStatus struct {
	Status, Mode, SessionID, FailureReason string
}

// Recording is what a finalize script reports.
type Recording struct {
	SessionID string
	Files     []jitsiv1alpha1.RecordingFile
	// Error says why the recording could not be delivered (an upload that failed); its files
	// are then the local copies kept.
	Error string
}

// Occupant is who joined or left.
type Occupant struct {
	// Key identifies the person across join and leave (their JWT user id, else their JID).
	Key       string
	Name      string
	Moderator bool
	// Recorder marks Jibri's recorder: a recording signal, not a participant.
	Recorder bool
	// Nick is the occupant's nick in the room (the recorder's name in status).
	Nick string
	// SpeakingMillis is the dominant-speaker time, when the source reports it.
	SpeakingMillis int64
}

// Apply returns st with e applied.
func Apply(st jitsiv1alpha1.MeetingStatus, e Event) jitsiv1alpha1.MeetingStatus {
	st = *st.DeepCopy()
	ApplyTo(&st, e)
	return st
}

// ApplyTo applies e to st, which the caller owns (nothing in it shared with another status):
// Apply without its copy, for many events applied to one status in turn.
func ApplyTo(st *jitsiv1alpha1.MeetingStatus, e Event) {
	at := metav1.NewTime(e.Time.UTC().Truncate(time.Millisecond))
	switch e.Kind {
	case RoomCreated:
		roomOpened(st, at)
	case RoomDestroyed:
		// The room closes at the latest destroy; everyone still listed left then. A destroy from
		// before the room's current opening (a late or repeated one, after it reopened) closes
		// an earlier opening, not this one.
		reopenedSince := st.EndedAt == nil && st.StartedAt != nil && at.Before(st.StartedAt)
		if !reopenedSince && (st.EndedAt == nil || st.EndedAt.Before(&at)) {
			st.EndedAt = &at
		}
		if st.StartedAt == nil {
			st.StartedAt = &at
		}
		for i := range st.Participants {
			if p := &st.Participants[i]; p.LeftAt == nil && (p.LastJoinedAt == nil || !at.Before(p.LastJoinedAt)) {
				p.LeftAt = &at
			}
		}
		if r := st.Recording; r != nil && r.State == jitsiv1alpha1.RecordingStateRecording {
			session.ApplyRecording(st, session.Signal{Kind: session.Stopped, At: at.Time})
		}
	case RecordingCompleted:
		if e.Recording != nil {
			completed(st, e, at)
		}
	case RecordingStatus:
		if e.Status != nil {
			jibriStatus(st, e.Status, at)
		}
	case StreamStarted, StreamStopped:
		stream(st, e.Kind, at)
	case PoolDecided:
		if !Applies(*st, e) {
			return
		}
		d := e.Decision
		if d.Stream {
			session.ApplyStream(st, d.Signal)
			if d.ClearRecorder {
				st.Streaming.Recorder = ""
			}
		} else {
			session.ApplyRecording(st, d.Signal)
			if d.ClearRecorder {
				st.Recording.Recorder = ""
			}
		}
	case DestinationChanged:
		session.ApplyStream(st, session.Signal{Kind: session.DestinationReported, Destination: e.Destination, At: at.Time})
	case RoleChanged:
		// Only for people already listed: a role given before the join (the room's creator)
		// arrives with the join itself.
		// Some modules name the person by their JID's node alone; that matches their JID.
		if o := e.Occupant; o != nil {
			for i := range st.Participants {
				id := st.Participants[i].ID
				if id == o.Key || !strings.Contains(o.Key, "@") && strings.HasPrefix(id, o.Key+"@") {
					st.Participants[i].Moderator = o.Moderator
				}
			}
		}
	case OccupantJoined, OccupantLeft:
		if e.Occupant == nil {
			return
		}
		// A join is proof the room is open, whatever order the room's own events arrive in.
		if e.Kind == OccupantJoined {
			roomOpened(st, at)
		}
		if e.Occupant.Recorder {
			recorder(st, e, at)
		} else {
			participant(st, e, at)
		}
	}
	count := int32(0)
	for _, p := range st.Participants {
		if p.LeftAt == nil {
			count++
		}
	}
	st.ParticipantCount = count
	st.PeakParticipants = max(st.PeakParticipants, count)
	bound(st)
	// The order of arrival must not show in the status.
	slices.SortFunc(st.Participants, func(a, b jitsiv1alpha1.ParticipantStatus) int { return strings.Compare(a.ID, b.ID) })
}

// roomOpened records the room's first opening, and a reopening after it closed.
func roomOpened(st *jitsiv1alpha1.MeetingStatus, at metav1.Time) {
	if st.StartedAt == nil || at.Before(st.StartedAt) && (st.EndedAt == nil || !st.EndedAt.Before(&at)) {
		st.StartedAt = &at
	}
	if st.EndedAt != nil && st.EndedAt.Before(&at) {
		// Opened again after it closed: the meeting goes on.
		st.EndedAt = nil
		st.StartedAt = &at
	}
}

func participant(st *jitsiv1alpha1.MeetingStatus, e Event, at metav1.Time) {
	o := e.Occupant
	i := -1
	for j := range st.Participants {
		if st.Participants[j].ID == o.Key {
			i = j
		}
	}
	if i < 0 {
		st.Participants = append(st.Participants, jitsiv1alpha1.ParticipantStatus{ID: o.Key})
		i = len(st.Participants) - 1
	}
	p := &st.Participants[i]
	if o.Name != "" {
		p.Name = o.Name
	}
	p.Moderator = p.Moderator || o.Moderator
	switch e.Kind {
	case OccupantJoined:
		if p.JoinedAt == nil || at.Before(p.JoinedAt) {
			p.JoinedAt = &at
		}
		if p.LastJoinedAt == nil || p.LastJoinedAt.Before(&at) {
			p.LastJoinedAt = &at
		}
		// A join after the last leave means they are back.
		if p.LeftAt != nil && p.LeftAt.Before(&at) {
			p.LeftAt = nil
		}
		// The room closed after this join (its destroy arrived first): they left then.
		if p.LeftAt == nil && st.EndedAt != nil && !st.EndedAt.Before(p.LastJoinedAt) {
			p.LeftAt = st.EndedAt.DeepCopy()
		}
	case OccupantLeft:
		if p.LastJoinedAt != nil && at.Before(p.LastJoinedAt) {
			// The leave of an earlier visit.
			break
		}
		// The room's closing stands in for a leave that had not arrived; the real leave, earlier,
		// replaces it.
		byClosing := p.LeftAt != nil && st.EndedAt != nil && p.LeftAt.Equal(st.EndedAt)
		if p.LeftAt == nil || p.LeftAt.Before(&at) || byClosing && at.Before(p.LeftAt) {
			p.LeftAt = &at
		}
		if s := o.SpeakingMillis / 1000; s > p.SpeakingSeconds {
			p.SpeakingSeconds = s
		}
	}
}

// recorder applies the recorder's join (its recording started) and leave (it stopped) through
// the session model; the recorder is named by its nick unless the pool named it by its pod.
func recorder(st *jitsiv1alpha1.MeetingStatus, e Event, at metav1.Time) {
	sig := session.Signal{Kind: session.Started, Recorder: e.Occupant.Nick, At: at.Time}
	if e.Kind == OccupantLeft {
		sig = session.Signal{Kind: session.Stopped, At: at.Time}
	}
	session.ApplyRecording(st, sig)
}

// jibriStatus applies Jicofo's announcement. A recording ("file") goes Pending, Recording, then
// Finalizing when it is off (Completed once the finalize script reports); a live stream
// ("stream") goes Pending, Live, Stopped. A failure reason makes it Failed.
func jibriStatus(st *jitsiv1alpha1.MeetingStatus, j *JibriStatus, at metav1.Time) {
	sig := session.Signal{Session: j.SessionID, At: at.Time}
	switch {
	case j.FailureReason != "":
		sig.Kind, sig.Reason = session.Failed, j.FailureReason
	case j.Status == "pending":
		sig.Kind = session.Announced
	case j.Status == "on":
		sig.Kind = session.Started
	case j.Status == "off":
		sig.Kind = session.Stopped
	default:
		return
	}
	if j.Mode == "stream" {
		session.ApplyStream(st, sig)
		return
	}
	session.ApplyRecording(st, sig)
}

// stream records a live stream's start and end, as the relay reports them (session.Stream).
func stream(st *jitsiv1alpha1.MeetingStatus, kind Kind, at metav1.Time) {
	sig := session.Signal{Kind: session.Started, At: at.Time}
	if kind == StreamStopped {
		sig.Kind = session.Stopped
	}
	session.ApplyStream(st, sig)
}

// completed records a finished recording (session.Reported).
func completed(st *jitsiv1alpha1.MeetingStatus, e Event, at metav1.Time) {
	session.ApplyRecording(st, session.Signal{Kind: session.Reported, Session: e.Recording.SessionID, At: at.Time,
		Reason: e.Recording.Error, Files: e.Recording.Files})
}

// bound keeps at most MaxParticipants, dropping those who left longest ago.
func bound(st *jitsiv1alpha1.MeetingStatus) {
	if len(st.Participants) <= MaxParticipants {
		return
	}
	sort.SliceStable(st.Participants, func(i, j int) bool {
		a, b := st.Participants[i].LeftAt, st.Participants[j].LeftAt
		switch {
		case a == nil:
			return false
		case b == nil:
			return true
		}
		return a.Before(b)
	})
	st.Participants = st.Participants[len(st.Participants)-MaxParticipants:]
}
