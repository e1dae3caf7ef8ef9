package jibri_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/jitsi-operator/jitsi-operator/internal/jibri"
	"github.com/jitsi-operator/jitsi-operator/internal/jibri/jibritest"
)

// hooks collects the webhook bodies a recorder posts.
type hooks struct {
	mu     sync.Mutex
	bodies []map[string]any
}

func (h *hooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var b map[string]any
	_ = json.NewDecoder(r.Body).Decode(&b)
	b["path"] = r.URL.Path
	h.mu.Lock()
	h.bodies = append(h.bodies, b)
	h.mu.Unlock()
}

func (h *hooks) paths() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, b := range h.bodies {
		out = append(out, b["path"].(string))
	}
	return out
}

func recorder(t *testing.T) (*jibri.Client, string, *jibritest.Recorder, *hooks) {
	t.Helper()
	h := &hooks{}
	sub := httptest.NewServer(h)
	t.Cleanup(sub.Close)
	rec, err := jibritest.Start("jibri-a", "127.0.0.1:0", []string{sub.URL + "/pool/secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rec.Close)
	host, port, _ := net.SplitHostPort(rec.Addr())
	p, _ := strconv.Atoi(port)
	return &jibri.Client{Port: p}, host, rec, h
}

func TestRecordingLifeThroughTheAPI(t *testing.T) {
	c, addr, rec, h := recorder(t)
	ctx := context.Background()

	health, err := c.Health(ctx, addr)
	if err != nil || health != (jibri.Health{BusyStatus: jibri.StatusIdle, HealthStatus: jibri.HealthHealthy}) {
		t.Fatalf("health = %+v, %v; want IDLE HEALTHY", health, err)
	}
	s := jibri.Session{ID: "standup-1", BaseURL: "https://meet.example.com", Room: "standup",
		Domain: "hidden.meet.jitsi", Username: "recorder", Password: "pw", Sink: jibri.SinkFile}
	if err := c.Start(ctx, addr, s); err != nil {
		t.Fatalf("start: %v", err)
	}
	if health, _ = c.Health(ctx, addr); health.BusyStatus != jibri.StatusBusy {
		t.Fatalf("after start: %+v, want BUSY", health)
	}
	if err := c.Start(ctx, addr, s); !errors.Is(err, jibri.ErrBusy) {
		t.Fatalf("second start: %v, want ErrBusy", err)
	}
	got := rec.Sessions()
	if len(got) != 1 || got[0].Room != "standup" || got[0].Sink != "file" || got[0].Domain != "hidden.meet.jitsi" || !got[0].PasswordSet {
		t.Fatalf("recorder saw %+v", got)
	}
	if err := c.Stop(ctx, addr); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if health, _ = c.Health(ctx, addr); health.BusyStatus != jibri.StatusIdle {
		t.Fatalf("after stop: %+v, want IDLE", health)
	}
	want := []string{"/pool/secret/v1/status", "/pool/secret/v1/status", "/pool/secret/v1/session/status",
		"/pool/secret/v1/session/status", "/pool/secret/v1/status"}
	if p := h.paths(); len(p) != len(want) {
		t.Fatalf("webhooks %v, want %v", p, want)
	} else {
		for i := range want {
			if p[i] != want[i] {
				t.Fatalf("webhooks %v, want %v", p, want)
			}
		}
	}
}

func TestStartNeedsTheSinksParameters(t *testing.T) {
	c, addr, _, _ := recorder(t)
	err := c.Start(context.Background(), addr, jibri.Session{ID: "x", BaseURL: "https://m", Room: "r", Sink: jibri.SinkStream,
		Domain: "d", Username: "u", Password: "p"})
	if err == nil || errors.Is(err, jibri.ErrBusy) {
		t.Fatalf("a stream without its URL: %v, want a 412 that is not busy", err)
	}
}

func TestUnhealthyAndUnreachable(t *testing.T) {
	c, addr, rec, _ := recorder(t)
	rec.SetUnhealthy()
	if h, err := c.Health(context.Background(), addr); err != nil || h.HealthStatus != jibri.HealthUnhealthy {
		t.Fatalf("health = %+v, %v; want UNHEALTHY", h, err)
	}
	rec.Close()
	if _, err := c.Health(context.Background(), addr); err == nil {
		t.Fatal("a closed recorder answered")
	}
}
