package jvb_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jitsi-operator/jitsi-operator/internal/jvb"
	"github.com/jitsi-operator/jitsi-operator/internal/jvb/jvbtest"
)

// statsVector is part of a real bridge's GET /colibri/stats answer (PROTOCOLS.md 6.1): the keys
// read, the lifecycle booleans, and neighbours of every JSON type the object holds.
const statsVector = `{
  "incoming_loss": 0.0012,
  "bit_rate_download": 4215,
  "rtt_aggregate": 38.4,
  "endpoints": 7,
  "participants": 7,
  "largest_conference": 5,
  "total_conferences_created": 214,
  "total_bytes_received": 83112233441,
  "stress_level": 0.21,
  "conferences": 2,
  "local_endpoints": 7,
  "average_participant_stress": 0.01,
  "threads": 143,
  "graceful_shutdown": false,
  "shutting_down": false,
  "drain": false,
  "current_timestamp": "2026-08-20 09:30:00.123",
  "healthy": true,
  "version": "2.3.xxx-gxxxxxxxx"
}`

// serve answers every request with status and body, and records the last request.
func serve(t *testing.T, status int, body string) (*jvb.Client, string, *http.Request, *[]byte) {
	t.Helper()
	last, lastBody := &http.Request{}, new([]byte)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*last = *r.Clone(context.Background())
		*lastBody, _ = io.ReadAll(r.Body)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	c, host := client(t, srv.Listener.Addr().String())
	return c, host, last, lastBody
}

func client(t *testing.T, addr string) (*jvb.Client, string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	return &jvb.Client{Port: p}, host
}

func bridge(t *testing.T) (*jvb.Client, string, *jvbtest.Bridge) {
	t.Helper()
	b, err := jvbtest.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	c, host := client(t, b.Addr())
	return c, host, b
}

func TestStatsOfARealAnswer(t *testing.T) {
	c, addr, req, _ := serve(t, http.StatusOK, statsVector)
	got, err := c.Stats(context.Background(), addr)
	want := jvb.Stats{Stress: 0.21, Participants: 7, Conferences: 2, Healthy: true}
	if err != nil || got != want {
		t.Fatalf("Stats = %+v, %v; want %+v", got, err, want)
	}
	if req.Method != http.MethodGet || req.URL.Path != "/colibri/stats" {
		t.Errorf("asked %s %s", req.Method, req.URL.Path)
	}
}

func TestStatsLifecycleAndOlderShapes(t *testing.T) {
	cases := []struct {
		name, body string
		want       jvb.Stats
	}{
		{"draining and shutting down",
			`{"stress_level":0.05,"participants":3,"conferences":1,"drain":true,"graceful_shutdown":true,"shutting_down":true,"healthy":false}`,
			jvb.Stats{Stress: 0.05, Participants: 3, Conferences: 1, Drain: true, GracefulShutdown: true, ShuttingDown: true}},
		{"counts written as doubles", `{"stress_level":1,"participants":12.0,"conferences":4.0,"healthy":true}`,
			jvb.Stats{Stress: 1, Participants: 12, Conferences: 4, Healthy: true}},
		{"endpoints when participants is missing, healthy when not reported", `{"stress_level":0.3,"endpoints":9,"conferences":2}`,
			jvb.Stats{Stress: 0.3, Participants: 9, Conferences: 2, Healthy: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, addr, _, _ := serve(t, http.StatusOK, tc.body)
			if got, err := c.Stats(context.Background(), addr); err != nil || got != tc.want {
				t.Errorf("Stats = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestStatsErrors(t *testing.T) {
	cases := []struct {
		name, body, mention string
		status              int
		disabled            bool
	}{
		{"REST API off", "", "COLIBRI_REST_ENABLED=true", http.StatusNotFound, true},
		{"server error", "boom", "HTTP 500", http.StatusInternalServerError, false},
		{"not JSON", "<html>", "not the bridge's JSON", http.StatusOK, false},
		{"another JSON object", `{"status":"ok"}`, "no stress_level", http.StatusOK, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, addr, _, _ := serve(t, tc.status, tc.body)
			_, err := c.Stats(context.Background(), addr)
			if err == nil || !strings.Contains(err.Error(), tc.mention) || errors.Is(err, jvb.ErrDisabled) != tc.disabled {
				t.Errorf("err = %v; want one mentioning %q (ErrDisabled: %v)", err, tc.mention, tc.disabled)
			}
		})
	}
}

func TestUnreachableBridge(t *testing.T) {
	c, addr, b := bridge(t)
	b.Close() // a bridge that died
	c.HTTP = &http.Client{Timeout: time.Second}
	if _, err := c.Stats(context.Background(), addr); err == nil {
		t.Fatal("stats of a closed bridge: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.SetDrain(ctx, addr, true); !errors.Is(err, context.Canceled) {
		t.Fatalf("drain with a canceled context: %v", err)
	}
}

func TestRequestsOnTheWire(t *testing.T) {
	for _, tc := range []struct {
		name, path, body string
		call             func(*jvb.Client, string) error
	}{
		{"drain on", "/colibri/drain/enable", "", func(c *jvb.Client, a string) error { return c.SetDrain(context.Background(), a, true) }},
		{"drain off", "/colibri/drain/disable", "", func(c *jvb.Client, a string) error { return c.SetDrain(context.Background(), a, false) }},
		{"graceful shutdown", "/colibri/shutdown", `{"graceful-shutdown":true}`, func(c *jvb.Client, a string) error { return c.Shutdown(context.Background(), a) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, addr, req, body := serve(t, http.StatusOK, "")
			if err := tc.call(c, addr); err != nil {
				t.Fatal(err)
			}
			if req.Method != http.MethodPost || req.URL.Path != tc.path || string(*body) != tc.body {
				t.Errorf("sent %s %s %q; want POST %s %q", req.Method, req.URL.Path, *body, tc.path, tc.body)
			}
			if tc.body != "" && req.Header.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type %q", req.Header.Get("Content-Type"))
			}
		})
	}
}

func TestDrainAndShutdownAgainstTheStandIn(t *testing.T) {
	c, addr, b := bridge(t)
	ctx := context.Background()

	b.SetLoad(0.42, 30, 3)
	s, err := c.Stats(ctx, addr)
	if want := (jvb.Stats{Stress: 0.42, Participants: 30, Conferences: 3, Healthy: true}); err != nil || s != want {
		t.Fatalf("Stats = %+v, %v; want %+v", s, err, want)
	}

	if err := c.SetDrain(ctx, addr, true); err != nil || !b.Draining() {
		t.Fatalf("drain on: %v, draining %v", err, b.Draining())
	}
	if s, _ = c.Stats(ctx, addr); !s.Drain {
		t.Errorf("stats after drain on: %+v", s)
	}
	// GET /colibri/drain reports it too, as {"drain": bool}.
	resp, err := http.Get("http://" + b.Addr() + "/colibri/drain")
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if d["drain"] != true || len(d) != 1 {
		t.Errorf("GET /colibri/drain = %v", d)
	}
	if err := c.SetDrain(ctx, addr, false); err != nil || b.Draining() {
		t.Fatalf("drain off: %v, draining %v", err, b.Draining())
	}

	if err := c.Shutdown(ctx, addr); err != nil || !b.ShutdownRequested() {
		t.Fatalf("shutdown: %v, requested %v", err, b.ShutdownRequested())
	}
	if s, _ = c.Stats(ctx, addr); !s.GracefulShutdown || s.ShuttingDown {
		t.Errorf("with conferences left: %+v; want graceful_shutdown, not shutting_down yet", s)
	}
	b.SetLoad(0, 0, 0)
	if s, _ = c.Stats(ctx, addr); !s.ShuttingDown {
		t.Errorf("once empty: %+v; want shutting_down", s)
	}

	b.SetHealthy(false)
	if s, _ = c.Stats(ctx, addr); s.Healthy {
		t.Errorf("after SetHealthy(false): %+v", s)
	}
	if b.StatsCalls() != 5 {
		t.Errorf("%d stats calls served, want 5", b.StatsCalls())
	}
}

func TestDisabledEndpointsSayHowToEnableThem(t *testing.T) {
	c, addr, b := bridge(t)
	ctx := context.Background()
	b.SetShutdownEnabled(false)
	err := c.Shutdown(ctx, addr)
	if !errors.Is(err, jvb.ErrDisabled) || !strings.Contains(err.Error(), "SHUTDOWN_REST_ENABLED=true") {
		t.Errorf("shutdown: %v", err)
	}
	if err := c.SetDrain(ctx, addr, true); err != nil {
		t.Errorf("drain stays on without the shutdown API: %v", err)
	}
	b.SetRESTEnabled(false)
	if _, err := c.Stats(ctx, addr); !errors.Is(err, jvb.ErrDisabled) || !strings.Contains(err.Error(), "COLIBRI_REST_ENABLED=true") {
		t.Errorf("stats: %v", err)
	}
	if err := c.SetDrain(ctx, addr, false); !errors.Is(err, jvb.ErrDisabled) {
		t.Errorf("drain: %v", err)
	}
}

func TestStandInRejectsAShutdownWithoutItsField(t *testing.T) {
	_, _, b := bridge(t)
	resp, err := http.Post("http://"+b.Addr()+"/colibri/shutdown", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || b.ShutdownRequested() {
		t.Errorf("HTTP %d, requested %v; want 400 and no shutdown", resp.StatusCode, b.ShutdownRequested())
	}
}

// TestStandInOnAPodAddress listens on a loopback address like a kwok pod's IP, as an end-to-end
// setup does; it is skipped where that address cannot be bound.
func TestStandInOnAPodAddress(t *testing.T) {
	b, err := jvbtest.Start("127.2.0.5:0")
	if err != nil {
		t.Skipf("cannot listen on 127.2.0.5: %v", err)
	}
	defer b.Close()
	c, host := client(t, b.Addr())
	b.SetLoad(0.7, 55, 4)
	if s, err := c.Stats(context.Background(), host); err != nil || s.Conferences != 4 || host != "127.2.0.5" {
		t.Errorf("Stats at %s = %+v, %v", host, s, err)
	}
}
