package webhook

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/jitsi-operator/jitsi-operator/internal/events"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// syncOccupant is an occupant as jitsi-contrib's event_sync module posts it (PROTOCOLS.md 1.3).
type syncOccupant struct {
	OccupantJID  string `json:"occupant_jid"`
	JoinedAt     int64  `json:"joined_at"`
	LeftAt       int64  `json:"left_at"`
	Name         string `json:"name"`
	ID           string `json:"id"`
	SpeakingTime int64  `json:"total_dominant_speaker_time"`
}

type syncEvent struct {
	EventName   string          `json:"event_name"`
	RoomName    string          `json:"room_name"`
	IsBreakout  bool            `json:"is_breakout"`
	CreatedAt   int64           `json:"created_at"`
	DestroyedAt int64           `json:"destroyed_at"`
	Occupant    *syncOccupant   `json:"occupant"`
	AllRaw      json.RawMessage `json:"all_occupants"`
}

// eventSync takes event_sync's posts: POST /v1/event-sync/<namespace>/<deployment>/events/
// {room/created, room/destroyed, occupant/joined, occupant/left}, authenticated by the static
// header its api_headers set: "Authorization: Bearer <that deployment's events secret>".
func (s *Server) eventSync(w http.ResponseWriter, r *http.Request) {
	result, err := s.handleEventSync(w, r)
	s.answer(w, r, "event_sync", result, err)
}

func (s *Server) handleEventSync(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	// Authenticated from the path and the header alone, before the body is read.
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return nil, refuse("NoToken")
	}
	d, key, err := s.deploymentSecret(r.Context(), r.PathValue("namespace"), r.PathValue("deployment"))
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(token), key) != 1 {
		return nil, refuse("BadToken")
	}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	var e syncEvent
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, fail(http.StatusBadRequest, "BadJSON", "the body is not event_sync's JSON: %v", err)
	}
	if e.IsBreakout {
		// Breakout rooms carry the main room's name; their comings and goings are not the
		// meeting's.
		return map[string]any{"applied": false, "reason": "breakout room"}, nil
	}
	room, tenant := parseRoom(e.RoomName)
	if room == "" {
		return nil, badRoom
	}
	if tenant {
		return tenantRoom, nil
	}
	var evs []events.Event
	switch r.PathValue("kind") + "/" + r.PathValue("what") {
	case "room/created":
		evs = append(evs, events.Event{Kind: events.RoomCreated, Room: room, Time: time.Unix(e.CreatedAt, 0)})
	case "room/destroyed":
		at := time.Unix(e.DestroyedAt, 0)
		var all []syncOccupant
		// An empty Lua table is encoded as {}: no occupants.
		if len(e.AllRaw) > 0 && e.AllRaw[0] == '[' {
			if err := json.Unmarshal(e.AllRaw, &all); err != nil {
				return nil, fail(http.StatusBadRequest, "BadJSON", "all_occupants: %v", err)
			}
		}
		for i := range all {
			o := &all[i]
			left := at
			if o.LeftAt != 0 {
				left = time.Unix(o.LeftAt, 0)
			}
			evs = append(evs,
				events.Event{Kind: events.OccupantJoined, Room: room, Time: time.Unix(o.JoinedAt, 0), Occupant: syncToOccupant(o)},
				events.Event{Kind: events.OccupantLeft, Room: room, Time: left, Occupant: syncToOccupant(o)})
		}
		evs = append(evs, events.Event{Kind: events.RoomDestroyed, Room: room, Time: at})
	case "occupant/joined", "occupant/left":
		if e.Occupant == nil {
			// Seen on a real Prosody: a leave without an occupant. Nothing to apply.
			return map[string]any{"applied": false, "reason": "no occupant in the event"}, nil
		}
		ev := events.Event{Kind: events.OccupantJoined, Room: room, Time: time.Unix(e.Occupant.JoinedAt, 0), Occupant: syncToOccupant(e.Occupant)}
		if r.PathValue("kind") == "occupant" && r.PathValue("what") == "left" {
			ev.Kind = events.OccupantLeft
			if e.Occupant.LeftAt != 0 {
				ev.Time = time.Unix(e.Occupant.LeftAt, 0)
			}
		}
		evs = append(evs, ev)
	default:
		return nil, fail(http.StatusNotFound, "UnknownEvent", "no event %s/%s", r.PathValue("kind"), r.PathValue("what"))
	}
	return s.apply(r.Context(), "event_sync", d, room, evs)
}

func syncToOccupant(o *syncOccupant) *events.Occupant {
	bare, _, _ := strings.Cut(o.OccupantJID, "/")
	_, domain, _ := strings.Cut(bare, "@")
	// Keyed by the occupant's JID: people sharing one invitation link share a token id.
	return &events.Occupant{
		Key: bare, Name: o.Name, Recorder: domain == render.XMPPHiddenDomain,
		Nick: bare, SpeakingMillis: o.SpeakingTime,
	}
}
