// Package session is the one model of a Meeting's recording: the states of status.recording
// and the transitions every source causes, as pure functions. The JibriPool controller (its own
// starts and stops, Jibri's session webhooks and health, the deadlines) and the receiver (Jicofo's
// announcements through Prosody, the finalize script's report) both change status.recording only
// through Recording, so one set of rules says what may follow what.
//
// The rules: Completed and Failed are terminal for their session; only a new session (Assigned,
// or another session announced after the last one ended) starts the status afresh. Every signal
// is idempotent: applied twice, the second changes nothing. The order in which the sources'
// signals about one session arrive does not matter: a session started when its first source saw
// it start and stopped when its first source saw it stop, whichever told first.
package session

import (
	"slices"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

// Kind is what happened to a recording session.
type Kind string

const (
	// Queued: the recording waits for a free recorder (Pending without one). Reason says why it
	// went back to the queue, when it did.
	Queued Kind = "Queued"
	// Assigned: the pool gave session Session to recorder Recorder (Pending on it).
	Assigned Kind = "Assigned"
	// Announced: Jicofo announced session Session pending (a moderator pressed record).
	Announced Kind = "Announced"
	// Started: the session records (Jibri's ON, Jicofo's on).
	Started Kind = "Started"
	// Stopped: the session stopped recording (Jibri's or Jicofo's off, the recorder left); its
	// files are being finalized. Reason, when set, is a failure that stopped it.
	Stopped Kind = "Stopped"
	// Failed: the session failed for Reason.
	Failed Kind = "Failed"
	// Reported: the finalize script reported the session's Files (Reason: why they could not be
	// delivered, then the recording fails with them listed).
	Reported Kind = "Reported"
	// NoMedia: the recorder is done with the session and no report came: Jibri wrote no media.
	NoMedia Kind = "NoMedia"
)

// Signal is one thing that happened to a recording.
type Signal struct {
	Kind Kind
	// Session is the session's id ("" when the source does not say).
	Session string
	// Recorder is the recorder's name (Assigned; Started from a recorder's join).
	Recorder string
	At       time.Time
	Reason   string
	Files    []jitsiv1alpha1.RecordingFile
	// Destinations (a stream's, all of them) and Destination (DestinationReported: one).
	Destinations []jitsiv1alpha1.DestinationStatus
	Destination  *jitsiv1alpha1.DestinationStatus
}

// ApplyRecording applies sig to st.Recording (none yet: an empty one).
func ApplyRecording(st *jitsiv1alpha1.MeetingStatus, sig Signal) {
	var r jitsiv1alpha1.RecordingStatus
	if st.Recording != nil {
		r = *st.Recording
	}
	r = Recording(r, sig)
	st.Recording = &r
}

// ApplyStream applies sig to st.Streaming (none yet: an empty one).
func ApplyStream(st *jitsiv1alpha1.MeetingStatus, sig Signal) {
	var s jitsiv1alpha1.StreamingStatus
	if st.Streaming != nil {
		s = *st.Streaming
	}
	s = Stream(s, sig)
	st.Streaming = &s
}

// Terminal reports whether a recording in state s is over.
func Terminal(s jitsiv1alpha1.RecordingState) bool {
	return s == jitsiv1alpha1.RecordingStateCompleted || s == jitsiv1alpha1.RecordingStateFailed
}

// Recording returns st with sig applied.
func Recording(st jitsiv1alpha1.RecordingStatus, sig Signal) jitsiv1alpha1.RecordingStatus {
	st = *st.DeepCopy()
	at := metav1.NewTime(sig.At.UTC().Truncate(time.Millisecond))
	other := sig.Session != "" && st.SessionID != "" && sig.Session != st.SessionID
	switch sig.Kind {
	case Queued:
		return jitsiv1alpha1.RecordingStatus{State: jitsiv1alpha1.RecordingStatePending, Error: sig.Reason}
	case Assigned:
		return jitsiv1alpha1.RecordingStatus{State: jitsiv1alpha1.RecordingStatePending, Recorder: sig.Recorder, SessionID: sig.Session}
	case Announced, Started:
		if Terminal(st.State) && other {
			// Another session after the last one ended: news, unless older than that end.
			if st.StoppedAt != nil && !st.StoppedAt.Before(&at) {
				return st
			}
			st = jitsiv1alpha1.RecordingStatus{}
		}
		if Terminal(st.State) || st.State == jitsiv1alpha1.RecordingStateFinalizing {
			// A late or repeated start of a session that is over, or being finalized: it says no
			// more than when the session started, if no source said so earlier.
			if sig.Kind == Started && !other && (st.StartedAt == nil || at.Before(st.StartedAt)) {
				st.StartedAt = &at
			}
			return st
		}
		if sig.Session != "" {
			st.SessionID = sig.Session
		}
		if sig.Kind == Announced {
			if st.State == "" || st.State == jitsiv1alpha1.RecordingStateNone {
				st.State = jitsiv1alpha1.RecordingStatePending
			}
			return st
		}
		// A recorder the pool assigned is named by its pod; keep that name over a nick.
		if sig.Recorder != "" && st.Recorder == "" {
			st.Recorder = sig.Recorder
		}
		st.State, st.StoppedAt = jitsiv1alpha1.RecordingStateRecording, nil
		if st.StartedAt == nil || at.Before(st.StartedAt) {
			st.StartedAt = &at
		}
	case Stopped:
		if other {
			return st
		}
		// The session stopped when the first of its sources saw it stop (a report that came
		// first stood in for that time).
		if st.StoppedAt == nil || at.Before(st.StoppedAt) {
			st.StoppedAt = &at
		}
		if Terminal(st.State) {
			return st
		}
		st.State = jitsiv1alpha1.RecordingStateFinalizing
		if sig.Reason != "" {
			st.Error = sig.Reason
		}
	case Failed:
		if st.State == jitsiv1alpha1.RecordingStateCompleted || other && Terminal(st.State) {
			return st
		}
		if sig.Session != "" {
			st.SessionID = sig.Session
		}
		st.State, st.Error = jitsiv1alpha1.RecordingStateFailed, sig.Reason
	case NoMedia:
		if st.State != jitsiv1alpha1.RecordingStateFinalizing || other {
			return st
		}
		if st.Error != "" {
			st.State = jitsiv1alpha1.RecordingStateFailed
			return st
		}
		st.State, st.Files = jitsiv1alpha1.RecordingStateCompleted, nil
	case Reported:
		reported(&st, sig, at)
	}
	return st
}

// reported records a finished recording: its files (merged by name, so a report delivered twice
// lists each file once) and its session.
func reported(st *jitsiv1alpha1.RecordingStatus, sig Signal, at metav1.Time) {
	st.State, st.Error = jitsiv1alpha1.RecordingStateCompleted, ""
	if sig.Reason != "" {
		st.State, st.Error = jitsiv1alpha1.RecordingStateFailed, sig.Reason
	}
	if sig.Session != "" {
		st.SessionID = sig.Session
	}
	if st.StoppedAt == nil {
		st.StoppedAt = &at
	}
	for _, f := range sig.Files {
		i := slices.IndexFunc(st.Files, func(g jitsiv1alpha1.RecordingFile) bool { return g.Name == f.Name })
		if i < 0 {
			st.Files = append(st.Files, f)
		} else {
			st.Files[i] = f
		}
	}
	sort.Slice(st.Files, func(i, j int) bool { return st.Files[i].Name < st.Files[j].Name })
}
