package webhook

import (
	"net/http"
	"strings"
	"time"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/events"
)

// recordingReport is what the finalize script (render.FinalizeRecordingScript) posts.
type recordingReport struct {
	Timestamp  int64  `json:"timestamp"`
	Session    string `json:"session"`
	Room       string `json:"room"`
	MeetingURL string `json:"meeting_url"`
	// Error: the recording could not be delivered (the upload failed); files are the local copies.
	Error string `json:"error"`
	Files []struct {
		Name      string `json:"name"`
		Path      string `json:"path"`
		URL       string `json:"url"`
		SizeBytes int64  `json:"sizeBytes"`
		SHA256    string `json:"sha256"`
	} `json:"files"`
}

// recordingComplete takes a finished recording: POST /v1/jibri/recording-complete?deployment=
// <namespace>/<name>, signed like the module's events.
func (s *Server) recordingComplete(w http.ResponseWriter, r *http.Request) {
	result, err := s.handleRecordingComplete(w, r)
	s.answer(w, r, "jibri", result, err)
}

func (s *Server) handleRecordingComplete(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	var rep recordingReport
	d, err := s.signed(w, r, &rep, func() int64 { return rep.Timestamp })
	if err != nil {
		return nil, err
	}
	ev, err := rep.toEvent()
	if err != nil {
		return nil, err
	}
	return s.apply(r.Context(), "jibri", d, ev.Room, []events.Event{ev})
}

// toEvent is the report as a RecordingCompleted event.
func (rep recordingReport) toEvent() (events.Event, error) {
	room := strings.ToLower(rep.Room)
	if room == "" {
		return events.Event{}, fail(http.StatusBadRequest, "MissingRoom", "the report names no room (no meeting_url in metadata.json?)")
	}
	msg := strings.TrimSpace(rep.Error)
	if len(msg) > 300 {
		// Cut at 300 bytes, without the part of a character the cut may leave.
		msg = strings.ToValidUTF8(msg[:300], "")
	}
	result := &events.Recording{SessionID: rep.Session, Error: msg}
	for _, f := range rep.Files {
		if f.Name == "" || f.SizeBytes < 0 {
			return events.Event{}, fail(http.StatusBadRequest, "BadFile", "a file without a name, or with a negative size")
		}
		result.Files = append(result.Files, jitsiv1alpha1.RecordingFile{
			Name: f.Name, Path: f.Path, URL: f.URL, SizeBytes: f.SizeBytes, SHA256: f.SHA256,
		})
	}
	return events.Event{Kind: events.RecordingCompleted, Room: room, Time: time.UnixMilli(rep.Timestamp), Recording: result}, nil
}
