package jvb_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/jitsi-operator/jitsi-operator/internal/jvb"
)

// answer is a transport that answers every request with 200 and body, without a network.
type answer []byte

func (a answer) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader(string(a))), Request: r}, nil
}

func stats(t *testing.T, body []byte) (jvb.Stats, error) {
	t.Helper()
	c := &jvb.Client{HTTP: &http.Client{Transport: answer(body)}}
	return c.Stats(context.Background(), "10.0.0.7")
}

// FuzzStats feeds arbitrary bodies, and the real colibri stats, to the stats decoder: no panic,
// and what it reads encodes as colibri stats again and reads back the same.
func FuzzStats(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := stats(t, body)
		if err != nil {
			return
		}
		again, err := json.Marshal(map[string]any{
			"stress_level": s.Stress, "participants": s.Participants, "conferences": s.Conferences,
			"drain": s.Drain, "graceful_shutdown": s.GracefulShutdown, "shutting_down": s.ShuttingDown, "healthy": s.Healthy,
		})
		if err != nil {
			t.Fatalf("%+v does not encode: %v", s, err)
		}
		if s2, err := stats(t, again); err != nil || s2 != s {
			t.Fatalf("round trip: %+v became %+v (%v)", s, s2, err)
		}
	})
}
