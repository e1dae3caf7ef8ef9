package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jitsi-operator/jitsi-operator/hack/internal/latency"
)

// storedEvents learns from the receiver's status writes when each join and leave was stored: a
// write the API server answered 2xx holds the participants its JSON patch adds or replaces (one
// entry, the whole list, or the whole status), a participant with leftAt their leave too.
type storedEvents struct {
	mu sync.Mutex
	at map[string]time.Time // "occupant-joined" or "occupant-left" + the person's id
}

// observe records what the status write r (answered with code) stored.
func (s *storedEvents) observe(r *http.Request, code int) {
	if r.Method != http.MethodPatch || !strings.HasSuffix(r.URL.Path, "/status") || code/100 != 2 || r.GetBody == nil {
		return
	}
	body, err := r.GetBody()
	if err != nil {
		return
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		return
	}
	var ops []struct {
		Value json.RawMessage `json:"value"`
	}
	if json.Unmarshal(raw, &ops) != nil {
		return // not the receiver's JSON patch
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.at == nil {
		s.at = map[string]time.Time{}
	}
	for _, op := range ops {
		for _, p := range participantsIn(op.Value) {
			s.record("occupant-joined"+p.ID, now)
			if p.LeftAt != "" {
				s.record("occupant-left"+p.ID, now)
			}
		}
	}
}

func (s *storedEvents) record(key string, at time.Time) {
	if _, ok := s.at[key]; !ok {
		s.at[key] = at
	}
}

// when is when the event of kind about id was stored.
func (s *storedEvents) when(kind, id string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.at[kind+id]
	return t, ok
}

// summary is "sent to stored <latencies>; stored <rate> events/s, <k> lost" for the events
// sent at the times at.
func (s *storedEvents) summary(sent []event, at []time.Time) string {
	var lat []time.Duration
	var first, last time.Time
	lost := 0
	for i, e := range sent {
		t, ok := s.when(e.kind, e.id)
		if !ok {
			lost++
			continue
		}
		lat = append(lat, t.Sub(at[i]))
		if first.IsZero() || at[i].Before(first) {
			first = at[i]
		}
		if t.After(last) {
			last = t
		}
	}
	rate := 0.0
	if d := last.Sub(first); d > 0 {
		rate = float64(len(lat)) / d.Seconds()
	}
	return fmt.Sprintf("sent to stored %s; stored %.0f events/s, %d lost", latency.Summary(lat, 100*time.Microsecond), rate, lost)
}

type participant struct {
	ID     string `json:"id"`
	LeftAt string `json:"leftAt"`
}

// participantsIn is the participants a patch value holds: one entry, a list, or a status.
func participantsIn(v json.RawMessage) []participant {
	var one participant
	if json.Unmarshal(v, &one) == nil && one.ID != "" {
		return []participant{one}
	}
	var list []participant
	if json.Unmarshal(v, &list) == nil {
		return list
	}
	var status struct {
		Participants []participant `json:"participants"`
	}
	_ = json.Unmarshal(v, &status)
	return status.Participants
}
