package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/events"
)

// moduleEvent is what the operator's own Prosody module posts (mod_jitsi_operator_events.lua).
type moduleEvent struct {
	ID        string `json:"id"`
	Event     string `json:"event"`
	Timestamp int64  `json:"timestamp"`
	Room      struct {
		JID       string `json:"jid"`
		Name      string `json:"name"`
		MeetingID string `json:"meeting_id"`
	} `json:"room"`
	Occupant *struct {
		JID       string `json:"jid"`
		Nick      string `json:"nick"`
		ID        string `json:"id"`
		Name      string `json:"name"`
		Email     string `json:"email"`
		Moderator bool   `json:"moderator"`
		Recorder  bool   `json:"recorder"`
	} `json:"occupant"`
	Occupants int `json:"occupants"`
	Recording *struct {
		Status        string `json:"status"`
		Mode          string `json:"mode"`
		SessionID     string `json:"session_id"`
		FailureReason string `json:"failure_reason"`
	} `json:"recording"`
}

// prosodyEvents takes the operator's own module's events: POST /v1/prosody/events?deployment=
// <namespace>/<name>, the body signed with that deployment's events secret (HMAC-SHA256, hex, in
// X-Jitsi-Signature).
func (s *Server) prosodyEvents(w http.ResponseWriter, r *http.Request) {
	result, err := s.handleModuleEvent(w, r)
	s.answer(w, r, "prosody", result, err)
}

func (s *Server) handleModuleEvent(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	var e moduleEvent
	d, err := s.signed(w, r, &e, func() int64 { return e.Timestamp })
	if errors.Is(err, errAlreadyReceived) && e.Event == string(events.RoomCreated) {
		// A retry whose first answer was lost: the module still needs the room's settings.
		return s.roomCreatedAgain(r, d, e.Room.Name)
	}
	if err != nil {
		return nil, err
	}
	ev, err := e.toEvent(time.UnixMilli(e.Timestamp))
	if err != nil {
		return nil, err
	}
	if _, tenant := parseRoom(ev.Room); tenant {
		return tenantRoom, nil
	}
	return s.apply(r.Context(), "prosody", d, ev.Room, []events.Event{ev})
}

func (e moduleEvent) toEvent(at time.Time) (events.Event, error) {
	ev := events.Event{Kind: events.Kind(e.Event), Room: strings.ToLower(e.Room.Name), Time: at}
	switch ev.Kind {
	case events.RoomCreated, events.RoomDestroyed:
	case events.RecordingStatus:
		if e.Recording == nil {
			return ev, fail(http.StatusBadRequest, "MissingRecording", "recording-status without a recording")
		}
		ev.Status = &events.JibriStatus{Status: e.Recording.Status, Mode: e.Recording.Mode,
			SessionID: e.Recording.SessionID, FailureReason: e.Recording.FailureReason}
	case events.OccupantJoined, events.OccupantLeft, events.RoleChanged:
		if e.Occupant == nil {
			return ev, fail(http.StatusBadRequest, "MissingOccupant", "%s without an occupant", e.Event)
		}
		name := e.Occupant.Name // from the JWT; without one, the nick they chose
		if name == "" {
			name = e.Occupant.Nick
		}
		// Keyed by the occupant's JID: people sharing one invitation link share a token id.
		ev.Occupant = &events.Occupant{Key: e.Occupant.JID, Name: name, Moderator: e.Occupant.Moderator,
			Recorder: e.Occupant.Recorder, Nick: e.Occupant.Nick}
	default:
		return ev, fail(http.StatusBadRequest, "UnknownEvent", "unknown event %q", e.Event)
	}
	if ev.Room == "" {
		return ev, badRoom
	}
	return ev, nil
}

// signed reads a request of the operator's own senders (the Prosody module, the finalize
// script): ?deployment=<namespace>/<name> names the deployment whose events secret signed the
// body (hex HMAC-SHA256 in X-Jitsi-Signature). The deployment and the header are checked before
// the body is read; then the body is verified, decoded into v, and the Unix milliseconds
// timestamp() reads from it must be at most ReplayWindow old and MaxClockAhead ahead. A body
// taken before is errAlreadyReceived.
func (s *Server) signed(w http.ResponseWriter, r *http.Request, v any, timestamp func() int64) (*jitsiv1alpha1.JitsiDeployment, error) {
	signature := r.Header.Get("X-Jitsi-Signature")
	if !wellFormedHMAC(signature) {
		return nil, refuse("NoSignature")
	}
	ns, name, _ := strings.Cut(r.URL.Query().Get("deployment"), "/")
	d, key, err := s.deploymentSecret(r.Context(), ns, name)
	if err != nil {
		return nil, err
	}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if !validHMAC(key, body, signature) {
		return nil, refuse("BadSignature")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return nil, fail(http.StatusBadRequest, "BadJSON", "the body is not the expected JSON: %v", err)
	}
	if err := s.fresh(time.UnixMilli(timestamp())); err != nil {
		return nil, err
	}
	k, first := s.replays.take(d.Namespace+"/"+d.Name, signature, s.now())
	if !first {
		return d, errAlreadyReceived
	}
	s.pending.Store(r, k)
	return d, nil
}

// errAlreadyReceived: the signed body was taken before (answered 200, applied: false).
var errAlreadyReceived = errors.New("already received")

// fresh refuses a time older than ReplayWindow or more than MaxClockAhead ahead: an old signed
// body is a replay, and a future one would outlive the replay memory.
func (s *Server) fresh(at time.Time) error {
	if age := s.now().Sub(at); age > ReplayWindow || age < -MaxClockAhead {
		return refuse("StaleEvent")
	}
	return nil
}

func wellFormedHMAC(signature string) bool {
	raw, err := hex.DecodeString(strings.TrimSpace(signature))
	return err == nil && len(raw) == sha256.Size
}

// validHMAC compares the hex HMAC-SHA256 of body in constant time.
func validHMAC(key, body []byte, signature string) bool {
	got, err := hex.DecodeString(strings.TrimSpace(signature))
	if err != nil || len(got) != sha256.Size {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// roomCreatedAgain answers a room-created the receiver took before: nothing is applied, and the
// room's settings are told again.
func (s *Server) roomCreatedAgain(r *http.Request, d *jitsiv1alpha1.JitsiDeployment, name string) (map[string]any, error) {
	answer := map[string]any{"applied": false, "reason": "AlreadyReceived"}
	room, tenant := parseRoom(name)
	if tenant || room == "" {
		return answer, nil
	}
	ms, err := s.claimants(r.Context(), d, room)
	if err != nil {
		return nil, err
	}
	if len(ms) > 0 {
		answer["room"] = roomConfig(ms, s.now())
	}
	replayed.Inc()
	return answer, nil
}
