package webhook

import (
	"encoding/json"
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
	Files      []struct {
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
	body, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	ns, name, _ := strings.Cut(r.URL.Query().Get("deployment"), "/")
	d, key, err := s.deploymentSecret(r.Context(), ns, name)
	if err != nil {
		return nil, err
	}
	if !validHMAC(key, body, r.Header.Get("X-Jitsi-Signature")) {
		return nil, fail(http.StatusUnauthorized, "BadSignature", "X-Jitsi-Signature is missing or does not match the body")
	}
	var rep recordingReport
	if err := json.Unmarshal(body, &rep); err != nil {
		return nil, fail(http.StatusBadRequest, "BadJSON", "the body is not a recording report: %v", err)
	}
	at := time.UnixMilli(rep.Timestamp)
	if d := s.now().Sub(at); d > ReplayWindow || d < -ReplayWindow {
		return nil, fail(http.StatusUnauthorized, "StaleEvent", "the report's timestamp is %s away from now", d.Round(time.Second))
	}
	room := strings.ToLower(rep.Room)
	if room == "" {
		return nil, fail(http.StatusBadRequest, "MissingRoom", "the report names no room (no meeting_url in metadata.json?)")
	}
	result := &events.Recording{SessionID: rep.Session}
	for _, f := range rep.Files {
		result.Files = append(result.Files, jitsiv1alpha1.RecordingFile{
			Name: f.Name, Path: f.Path, URL: f.URL, SizeBytes: f.SizeBytes, SHA256: f.SHA256,
		})
	}
	return s.apply(r.Context(), "jibri", d, room, []events.Event{{Kind: events.RecordingCompleted, Room: room, Time: at, Recording: result}})
}
