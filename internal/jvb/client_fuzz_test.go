package jvb_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/jitsi-operator/jitsi-operator/internal/jvb"
	"github.com/jitsi-operator/jitsi-operator/internal/podhttp/podhttptest"
)

func stats(t *testing.T, body []byte) (jvb.Stats, error) {
	t.Helper()
	c := &jvb.Client{HTTP: podhttptest.Client(body)}
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
