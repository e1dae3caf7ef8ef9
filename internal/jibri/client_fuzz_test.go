package jibri_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/jitsi-operator/jitsi-operator/internal/jibri"
	"github.com/jitsi-operator/jitsi-operator/internal/podhttp/podhttptest"
)

func health(t *testing.T, body []byte) (jibri.Health, error) {
	t.Helper()
	c := &jibri.Client{HTTP: podhttptest.Client(body)}
	return c.Health(context.Background(), "10.0.0.9")
}

// FuzzHealth feeds arbitrary bodies, and the real health answers, to the health decoder: no
// panic, a busy status is always read (in upper case, as the constants), and what it reads
// encodes as Jibri's answer again and reads back the same.
func FuzzHealth(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		h, err := health(t, body)
		if err != nil {
			return
		}
		if h.BusyStatus == "" || h.BusyStatus != strings.ToUpper(h.BusyStatus) || h.HealthStatus != strings.ToUpper(h.HealthStatus) {
			t.Fatalf("%s read as %+v", body, h)
		}
		again, err := json.Marshal(map[string]any{"status": map[string]any{
			"busyStatus": h.BusyStatus, "health": map[string]any{"healthStatus": h.HealthStatus},
		}})
		if err != nil {
			t.Fatalf("%+v does not encode: %v", h, err)
		}
		if h2, err := health(t, again); err != nil || h2 != h {
			t.Fatalf("round trip: %+v became %+v (%v)", h, h2, err)
		}
	})
}
