// Package jvbtest is a stand-in videobridge for tests and benchmarks: it serves the parts of
// JVB's private REST API the operator uses (GET /colibri/stats, drain, graceful shutdown) with
// the bridge's JSON shapes (PROTOCOLS.md 6.1). Its load is whatever the test sets.
//
// Unlike a default JVB, every endpoint is on until a setter turns it off. How a real bridge
// answers a malformed shutdown request, and the order in which it raises graceful_shutdown and
// shutting_down, were not observed: the answers here are plausible, not verified.
package jvbtest

import (
	"encoding/json"
	"net"
	"net/http"
	"sync"
	"time"
)

// Bridge is one fake videobridge.
type Bridge struct {
	srv  *http.Server
	addr string

	mu                  sync.Mutex
	stress              float64
	participants, confs int
	drain, healthy      bool
	shutdown            bool
	restOn, shutdownOn  bool
	statsCalls          int
}

// Start listens on address ("127.0.0.1:0", or a pod's address such as "127.2.0.5:8080") and
// serves an idle, healthy bridge.
func Start(address string) (*Bridge, error) {
	l, err := net.Listen("tcp", address)
	if err != nil {
		return nil, err
	}
	b := &Bridge{addr: l.Addr().String(), healthy: true, restOn: true, shutdownOn: true}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /colibri/stats", b.stats)
	mux.HandleFunc("GET /colibri/drain", b.drainState)
	mux.HandleFunc("POST /colibri/drain/enable", b.setDrain(true))
	mux.HandleFunc("POST /colibri/drain/disable", b.setDrain(false))
	mux.HandleFunc("POST /colibri/shutdown", b.shutdownHandler)
	b.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = b.srv.Serve(l) }()
	return b, nil
}

// Addr is where it listens (host:port).
func (b *Bridge) Addr() string { return b.addr }

// Close stops serving (a bridge that died).
func (b *Bridge) Close() { _ = b.srv.Close() }

// SetLoad sets what the stats report from now on.
func (b *Bridge) SetLoad(stress float64, participants, conferences int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stress, b.participants, b.confs = stress, participants, conferences
}

// SetHealthy sets the stats' healthy flag.
func (b *Bridge) SetHealthy(on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.healthy = on
}

// SetRESTEnabled off makes every endpoint answer 404, as a bridge without
// COLIBRI_REST_ENABLED=true does.
func (b *Bridge) SetRESTEnabled(on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.restOn = on
}

// SetShutdownEnabled off makes /colibri/shutdown answer 404, as a bridge without
// SHUTDOWN_REST_ENABLED=true does.
func (b *Bridge) SetShutdownEnabled(on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.shutdownOn = on
}

// Draining reports whether drain mode is on.
func (b *Bridge) Draining() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.drain
}

// ShutdownRequested reports whether a graceful shutdown was asked for.
func (b *Bridge) ShutdownRequested() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.shutdown
}

// StatsCalls is the number of stats requests served.
func (b *Bridge) StatsCalls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.statsCalls
}

// enabled answers 404 and returns false when the REST API is off.
func (b *Bridge) enabled(w http.ResponseWriter, r *http.Request) bool {
	b.mu.Lock()
	on := b.restOn
	b.mu.Unlock()
	if !on {
		http.NotFound(w, r)
	}
	return on
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// stats answers one flat object, as VideobridgeStatisticsShim builds it: the keys scaling reads
// and a few others with the real types (counts as integers, versions and times as strings).
func (b *Bridge) stats(w http.ResponseWriter, r *http.Request) {
	if !b.enabled(w, r) {
		return
	}
	b.mu.Lock()
	b.statsCalls++
	body := map[string]any{
		"stress_level":               b.stress,
		"participants":               b.participants,
		"endpoints":                  b.participants,
		"local_endpoints":            b.participants,
		"conferences":                b.confs,
		"average_participant_stress": 0.01,
		"graceful_shutdown":          b.shutdown,
		"shutting_down":              b.shutdown && b.confs == 0,
		"drain":                      b.drain,
		"healthy":                    b.healthy,
		"threads":                    143,
		"current_timestamp":          time.Now().UTC().Format("2006-01-02 15:04:05.000"),
		"version":                    "2.3.0-jvbtest",
	}
	b.mu.Unlock()
	writeJSON(w, body)
}

func (b *Bridge) drainState(w http.ResponseWriter, r *http.Request) {
	if !b.enabled(w, r) {
		return
	}
	writeJSON(w, map[string]bool{"drain": b.Draining()})
}

func (b *Bridge) setDrain(on bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !b.enabled(w, r) {
			return
		}
		b.mu.Lock()
		b.drain = on
		b.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}
}

// shutdownHandler wants {"graceful-shutdown": true}: the field is required.
func (b *Bridge) shutdownHandler(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	on := b.restOn && b.shutdownOn
	b.mu.Unlock()
	if !on {
		http.NotFound(w, r)
		return
	}
	var req struct {
		Graceful *bool `json:"graceful-shutdown"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Graceful == nil {
		http.Error(w, "graceful-shutdown is required", http.StatusBadRequest)
		return
	}
	if *req.Graceful {
		b.mu.Lock()
		b.shutdown = true
		b.mu.Unlock()
	}
	w.WriteHeader(http.StatusOK)
}
