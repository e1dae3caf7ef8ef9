package prosody_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// standIn answers the module as the operator's receiver would, describing each room as
// descriptions says, until it is told to fail.
type standIn struct {
	url string
	srv *http.Server
	t   *testing.T

	mu      sync.Mutex
	failure string            // "" while it answers
	rooms   map[string]string // access-check descriptions by room name that replace descriptions'
	asks    []ask             // validate-access requests
}

type ask struct {
	failure, occupant, room string
	gaveUp                  bool // the module closed the connection before the (slow) answer
}

// slowAnswer is how long the slow stand-in takes to answer: longer than the module waits (1 s).
const slowAnswer = 3 * time.Second

func startStandIn(t *testing.T) *standIn {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	s := &standIn{url: "http://" + l.Addr().String(), rooms: map[string]string{}, t: t}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.handle), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(l) }()
	t.Cleanup(func() { _ = s.srv.Close() })
	return s
}

// fail makes the stand-in fail as failure says from now on ("stopped": it stops listening, and
// connecting to its port is refused).
func (s *standIn) fail(failure string) {
	s.mu.Lock()
	s.failure = failure
	s.mu.Unlock()
	if failure == "stopped" {
		must(s.t, s.srv.Close())
	}
}

func (s *standIn) describe(name, description string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rooms[name] = description
}

// description is what the stand-in says about room name in its answer to an access check
// (validate) or to the room's creation.
func (s *standIn) description(name string, validate bool) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.rooms[name]; ok && validate {
		return d
	}
	kind, _, _ := strings.Cut(name, "-")
	if validate {
		return descriptions[kind].validate
	}
	return descriptions[kind].created
}

func (s *standIn) find(failure, occupant, room string) (ask, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.asks {
		if a.failure == failure && a.occupant == occupant && a.room+"@muc.meet.jitsi" == room {
			return a, true
		}
	}
	return ask{}, false
}

func (s *standIn) asked(failure, occupant, room string) bool {
	_, ok := s.find(failure, occupant, room)
	return ok
}

// gaveUp says whether the module closed the connection of its slow access check, which the
// stand-in may notice a moment after the join was refused.
func (s *standIn) gaveUp(occupant, room string) bool {
	deadline := time.Now().Add(slowAnswer)
	for {
		if a, _ := s.find("slow", occupant, room); a.gaveUp {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *standIn) handle(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if !validSignature(body, r.Header.Get("X-Jitsi-Signature")) {
		s.t.Errorf("unsigned request to %s: %s", r.URL.Path, body)
	}
	var req struct {
		Event string `json:"event"`
		Room  struct {
			Name string `json:"name"`
		} `json:"room"`
		Occupant struct {
			JID string `json:"jid"`
		} `json:"occupant"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		s.t.Errorf("undecodable request to %s: %s", r.URL.Path, body)
	}
	validate := r.URL.Path == "/v1/prosody/validate-access"
	s.mu.Lock()
	failure, n := s.failure, -1
	if validate {
		n = len(s.asks)
		s.asks = append(s.asks, ask{failure: failure, occupant: req.Occupant.JID, room: req.Room.Name})
	}
	s.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	switch failure {
	case "slow":
		// It answers (and would admit), but too late.
		select {
		case <-time.After(slowAnswer):
		case <-r.Context().Done():
			if n >= 0 {
				s.mu.Lock()
				s.asks[n].gaveUp = true
				s.mu.Unlock()
			}
			return
		}
	case "401", "503":
		// A body that would admit: only the status counts.
		w.WriteHeader(map[string]int{"401": http.StatusUnauthorized, "503": http.StatusServiceUnavailable}[failure])
		_, _ = w.Write([]byte(`{"allowed": true, "room": {"access": "Public"}}`))
		return
	case "undecided":
		// 200, but no decision: "allowed" is not the JSON true. The room it describes must not be
		// learnt either (it would open the private rooms).
		if validate {
			_, _ = w.Write([]byte(`{"allowed": "true", "reason": "busy", "room": {"access": "Public"}}`))
		} else {
			_, _ = w.Write([]byte(`not json`))
		}
		return
	}

	switch d := s.description(req.Room.Name, validate); {
	case validate && d != "":
		_, _ = w.Write([]byte(`{"allowed": true, "reason": "invited", "room": ` + d + `}`))
	case validate:
		_, _ = w.Write([]byte(`{"allowed": true, "reason": "no Meeting for this room"}`))
	case req.Event == "room-created" && d != "":
		_, _ = w.Write([]byte(`{"applied": true, "changed": true, "meeting": "m", "room": ` + d + `}`))
	default:
		_, _ = w.Write([]byte(`{"applied": false, "reason": "no Meeting for room ` + req.Room.Name + `"}`))
	}
}
