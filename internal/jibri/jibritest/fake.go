// Package jibritest is a stand-in recorder for tests and benchmarks: it serves Jibri's external
// HTTP API (health, startService, stopService) with Jibri's answers, and posts Jibri's webhook
// calls (/v1/status, /v1/session/status) to its subscribers as Jibri does (PROTOCOLS.md 3.2, 3.4).
package jibritest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jitsi-operator/jitsi-operator/internal/jibri"
)

// Recorder is one fake Jibri.
type Recorder struct {
	// ID is its jibriId (the pod's name).
	ID string
	// Subscribers are webhook base URLs.
	Subscribers []string
	// Finalize is how long stopService takes (the finalize script), and the recorder stays busy.
	Finalize time.Duration
	// SingleUse makes it EXPIRED after one session, as jibri.single-use-mode does.
	SingleUse bool
	// OnStop, when set, runs where Jibri runs its finalize script: after the session stopped,
	// before the recorder goes idle. It gets the session's directory name, as the script does
	// (jibri.SessionDir).
	OnStop func(session string)

	// failStart, noMedia and stayPending change how sessions go (SetFailStart, SetNoMedia,
	// SetStayPending).
	failStart   string
	noMedia     bool
	stayPending bool

	srv      *http.Server
	addr     string
	mu       sync.Mutex
	busy     string
	health   string
	session  string
	started  []Started
	stops    int
	posts    sync.WaitGroup
	closed   bool
	hookErrs []error
}

// Started is a startService call the recorder accepted.
type Started struct {
	SessionID, BaseURL, Room, Domain, Username, Sink, StreamURL string
	PasswordSet                                                 bool
	// At is when the request arrived.
	At time.Time
}

// Start listens on address ("127.2.0.5:2222") and posts the first status, as Jibri does at startup.
func Start(id, address string, subscribers []string) (*Recorder, error) {
	l, err := net.Listen("tcp", address)
	if err != nil {
		return nil, err
	}
	r := &Recorder{ID: id, Subscribers: subscribers, busy: "IDLE", health: "HEALTHY", addr: l.Addr().String()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jibri/api/v1.0/health", r.healthHandler)
	mux.HandleFunc("POST /jibri/api/v1.0/startService", r.startHandler)
	mux.HandleFunc("POST /jibri/api/v1.0/stopService", r.stopHandler)
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(l) }()
	r.postStatus()
	return r, nil
}

// Addr is where it listens.
func (r *Recorder) Addr() string { return r.addr }

// Close stops serving (a recorder that died).
func (r *Recorder) Close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	_ = r.srv.Close()
	r.posts.Wait()
}

// SetUnhealthy reports UNHEALTHY from now on, as Jibri does after a system error (it never
// reports HEALTHY again).
func (r *Recorder) SetUnhealthy() {
	r.mu.Lock()
	r.health = "UNHEALTHY"
	r.mu.Unlock()
	r.postStatus()
}

// SetFailStart makes every session from now on fail as soon as it starts, as a Jibri whose
// browser cannot join or whose ffmpeg cannot reach the stream's server does: accepted, then
// status OFF with a failure (reason ERROR, the error's detail), no media, so no finalize; the
// recorder is idle again. "" turns it off.
func (r *Recorder) SetFailStart(detail string) {
	r.mu.Lock()
	r.failStart = detail
	r.mu.Unlock()
}

// SetNoMedia makes a stopped session one that wrote no media: Jibri deletes its directory and
// runs no finalize script (OnStop is not called).
func (r *Recorder) SetNoMedia(on bool) {
	r.mu.Lock()
	r.noMedia = on
	r.mu.Unlock()
}

// SetStayPending makes a started session stay PENDING (the browser never gets in).
func (r *Recorder) SetStayPending(on bool) {
	r.mu.Lock()
	r.stayPending = on
	r.mu.Unlock()
}

// StartFromJicofo starts a session as Jicofo does when a moderator presses record (Jibri's
// XMPP API, not its HTTP API): the recorder is busy and posts its status, and posts no session
// status (Jibri sends those only for sessions its HTTP API started).
func (r *Recorder) StartFromJicofo(session string) {
	r.mu.Lock()
	r.busy, r.session = "BUSY", session
	r.mu.Unlock()
	r.postStatus()
}

// StopFromJicofo ends that session: the recorder is idle again.
func (r *Recorder) StopFromJicofo() {
	r.mu.Lock()
	r.busy, r.session = "IDLE", ""
	r.mu.Unlock()
	r.postStatus()
}

// Busy reports whether a session runs (or finalizes).
func (r *Recorder) Busy() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.busy == "BUSY"
}

// Sessions are the sessions it accepted, oldest first.
func (r *Recorder) Sessions() []Started {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Started(nil), r.started...)
}

// Stops is the number of stopService calls that stopped a session.
func (r *Recorder) Stops() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stops
}

// WebhookErrors are the webhook calls that did not get 200.
func (r *Recorder) WebhookErrors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.hookErrs...)
}

func (r *Recorder) status() map[string]any {
	return map[string]any{"busyStatus": r.busy, "health": map[string]any{"healthStatus": r.health, "details": map[string]any{}}}
}

func (r *Recorder) healthHandler(w http.ResponseWriter, _ *http.Request) {
	r.mu.Lock()
	body := map[string]any{"status": r.status()}
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

type startParams struct {
	SessionID  string `json:"sessionId"`
	CallParams *struct {
		CallURLInfo *struct {
			BaseURL  string `json:"baseUrl"`
			CallName string `json:"callName"`
		} `json:"callUrlInfo"`
	} `json:"callParams"`
	CallLoginParams *struct {
		Domain   string `json:"domain"`
		Username string `json:"username"`
		Password string `json:"password"`
	} `json:"callLoginParams"`
	SinkType         string `json:"sinkType"`
	YouTubeStreamKey string `json:"youTubeStreamKey"`
}

// startHandler answers as HttpApi.startService: 412 when busy or when a parameter a sink needs
// is missing, 200 once accepted; the session's status follows by webhook.
func (r *Recorder) startHandler(w http.ResponseWriter, req *http.Request) {
	var p startParams
	if err := json.NewDecoder(req.Body).Decode(&p); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	sink := strings.ToLower(p.SinkType)
	switch {
	case p.SessionID == "" || p.CallParams == nil || p.CallParams.CallURLInfo == nil:
		http.Error(w, "Missing sessionId or callParams", http.StatusPreconditionFailed)
		return
	case (sink == "file" || sink == "stream") && (p.CallLoginParams == nil || p.CallLoginParams.Password == ""):
		http.Error(w, "Call login params missing", http.StatusPreconditionFailed)
		return
	case sink == "stream" && p.YouTubeStreamKey == "":
		http.Error(w, "Stream key missing", http.StatusPreconditionFailed)
		return
	case sink != "file" && sink != "stream":
		http.Error(w, "unknown sink type", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	if r.busy != "IDLE" {
		r.mu.Unlock()
		http.Error(w, "Jibri is currently busy", http.StatusPreconditionFailed)
		return
	}
	r.busy, r.session = "BUSY", p.SessionID
	r.started = append(r.started, Started{
		SessionID: p.SessionID, BaseURL: p.CallParams.CallURLInfo.BaseURL, Room: p.CallParams.CallURLInfo.CallName,
		Domain: p.CallLoginParams.Domain, Username: p.CallLoginParams.Username, Sink: sink,
		StreamURL: p.YouTubeStreamKey, PasswordSet: p.CallLoginParams.Password != "", At: time.Now(),
	})
	failStart, stayPending := r.failStart, r.stayPending
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
	r.postStatus()
	switch {
	case failStart != "":
		// As HttpApi's service status handler on ComponentState.Error: OFF with the failure.
		r.post("/v1/session/status", map[string]any{"jibriId": r.ID, "session": map[string]any{
			"sessionId": p.SessionID, "status": "OFF", "sipAddress": nil,
			"failure":     map[string]any{"reason": "ERROR", "error": map[string]any{"scope": "SESSION", "detail": failStart}},
			"shouldRetry": true,
		}})
		r.mu.Lock()
		r.busy, r.session = "IDLE", ""
		r.mu.Unlock()
		r.postStatus()
	case stayPending:
		r.postSession(p.SessionID, "PENDING")
	default:
		r.postSession(p.SessionID, "ON")
	}
}

// stopHandler answers once the session has stopped and finalized, as Jibri's stopService does.
func (r *Recorder) stopHandler(w http.ResponseWriter, _ *http.Request) {
	r.mu.Lock()
	session := r.session
	busy := r.busy == "BUSY"
	r.mu.Unlock()
	if busy {
		r.postSession(session, "OFF")
		r.mu.Lock()
		noMedia := r.noMedia
		r.mu.Unlock()
		if !noMedia {
			time.Sleep(r.Finalize)
			if r.OnStop != nil {
				r.OnStop(jibri.SessionDir(session))
			}
		}
		r.mu.Lock()
		r.busy, r.session = "IDLE", ""
		if r.SingleUse {
			r.busy = "EXPIRED"
		}
		r.stops++
		r.mu.Unlock()
		r.postStatus()
	}
	w.WriteHeader(http.StatusOK)
}

func (r *Recorder) postStatus() {
	r.mu.Lock()
	body := map[string]any{"jibriId": r.ID, "status": r.status()}
	r.mu.Unlock()
	r.post("/v1/status", body)
}

func (r *Recorder) postSession(id, status string) {
	r.post("/v1/session/status", map[string]any{"jibriId": r.ID, "session": map[string]any{
		"sessionId": id, "status": status, "sipAddress": nil, "failure": nil, "shouldRetry": false,
	}})
}

// post sends one webhook to every subscriber, with Jibri's 2 s timeout and no retry.
func (r *Recorder) post(path string, body any) {
	data, _ := json.Marshal(body)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.posts.Add(1)
	r.mu.Unlock()
	defer r.posts.Done()
	for _, base := range r.Subscribers {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+path, bytes.NewReader(data))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("%s: HTTP %d", path, resp.StatusCode)
			}
			resp.Body.Close()
		}
		cancel()
		if err != nil && !errors.Is(err, context.Canceled) {
			r.mu.Lock()
			r.hookErrs = append(r.hookErrs, err)
			r.mu.Unlock()
		}
	}
}
