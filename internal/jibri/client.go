// Package jibri talks to a recorder's external HTTP API (/jibri/api/v1.0, PROTOCOLS.md 3.2): its
// health, and starting and stopping a recording or live stream. It knows nothing of Kubernetes.
//
// Neither the API nor this client authenticates; the recorder's port is reachable only from the
// operator. Start sends the recorder account's password in the body: it is never logged here,
// and errors never quote a request body.
package jibri

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/jitsi-operator/jitsi-operator/internal/podhttp"
)

// Busy statuses and health statuses as Jibri reports them.
const (
	StatusIdle    = "IDLE"
	StatusBusy    = "BUSY"
	StatusExpired = "EXPIRED"

	HealthHealthy   = "HEALTHY"
	HealthUnhealthy = "UNHEALTHY"
)

// Health is GET /jibri/api/v1.0/health. It answers 200 whatever the state: the state is in the body.
type Health struct {
	BusyStatus   string
	HealthStatus string
}

type healthBody struct {
	Status struct {
		BusyStatus string `json:"busyStatus"`
		Health     struct {
			HealthStatus string `json:"healthStatus"`
		} `json:"health"`
	} `json:"status"`
}

// Sink is what a session produces.
type Sink string

const (
	// SinkFile records to a file.
	SinkFile Sink = "file"
	// SinkStream streams over RTMP.
	SinkStream Sink = "stream"
)

// Session is a recording or a live stream to start.
type Session struct {
	// ID names the session; it becomes the recording's directory.
	ID string
	// BaseURL is the meeting server (https://meet.example.com), Room the meeting's room name.
	BaseURL, Room string
	// Domain, Username and Password are the recorder's XMPP login (the hidden domain).
	Domain, Username, Password string
	Sink                       Sink
	// StreamURL is the RTMP URL (key included) of a stream; Jibri calls it youTubeStreamKey.
	StreamURL string
	// DisplayName is how the recorder appears in the meeting.
	DisplayName string
}

type startBody struct {
	SessionID  string `json:"sessionId"`
	CallParams struct {
		CallURLInfo struct {
			BaseURL  string `json:"baseUrl"`
			CallName string `json:"callName"`
		} `json:"callUrlInfo"`
		DisplayName string `json:"displayName,omitempty"`
	} `json:"callParams"`
	CallLoginParams struct {
		Domain   string `json:"domain"`
		Username string `json:"username"`
		Password string `json:"password"`
	} `json:"callLoginParams"`
	SinkType         Sink   `json:"sinkType"`
	YouTubeStreamKey string `json:"youTubeStreamKey,omitempty"`
}

// ErrBusy is Start's error when the recorder answered 412: it is busy already.
var ErrBusy = errors.New("the recorder is busy")

// Client calls recorders at <address>:<Port>.
type Client struct {
	// HTTP is the client used; its Timeout bounds every call but Stop (http.DefaultClient
	// with a 3 s timeout when nil).
	HTTP *http.Client
	// Port is the external API's port (2222 when zero).
	Port int
}

const apiPrefix = "/jibri/api/v1.0"

func (c *Client) url(address, path string) string {
	port := c.Port
	if port == 0 {
		port = 2222
	}
	return podhttp.URL(address, port, apiPrefix+path)
}

func (c *Client) http() *http.Client { return podhttp.Client(c.HTTP) }

// Health asks the recorder at address for its state.
func (c *Client) Health(ctx context.Context, address string) (Health, error) {
	status, body, err := podhttp.Get(ctx, c.HTTP, c.url(address, "/health"), 64<<10)
	if err != nil {
		return Health{}, err
	}
	if status != http.StatusOK {
		return Health{}, fmt.Errorf("health: HTTP %d", status)
	}
	var h healthBody
	if err := json.Unmarshal(body, &h); err != nil {
		return Health{}, fmt.Errorf("health: not Jibri's JSON: %w", err)
	}
	out := Health{BusyStatus: strings.ToUpper(h.Status.BusyStatus), HealthStatus: strings.ToUpper(h.Status.Health.HealthStatus)}
	if out.BusyStatus == "" {
		return Health{}, errors.New("health: no busyStatus in the answer")
	}
	return out, nil
}

// Start asks the recorder at address to start s. Jibri's 200 means accepted, not running: the
// session's status arrives later by webhook. A 412 is ErrBusy.
func (c *Client) Start(ctx context.Context, address string, s Session) error {
	var b startBody
	b.SessionID = s.ID
	b.CallParams.CallURLInfo.BaseURL = s.BaseURL
	b.CallParams.CallURLInfo.CallName = s.Room
	b.CallParams.DisplayName = s.DisplayName
	b.CallLoginParams.Domain = s.Domain
	b.CallLoginParams.Username = s.Username
	b.CallLoginParams.Password = s.Password
	b.SinkType = s.Sink
	b.YouTubeStreamKey = s.StreamURL
	body, err := json.Marshal(b)
	if err != nil {
		return err
	}
	return c.post(ctx, c.http(), address, "/startService", body)
}

// Stop asks the recorder at address to stop its session. Jibri answers once the session has
// stopped and its finalize script has run, which may take minutes: ctx bounds the wait.
func (c *Client) Stop(ctx context.Context, address string) error {
	hc := *c.http()
	hc.Timeout = 0
	return c.post(ctx, &hc, address, "/stopService", nil)
}

func (c *Client) post(ctx context.Context, hc *http.Client, address, path string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url(address, path), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		// The URL holds no secret; the body, which does, is not part of the error.
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode == http.StatusPreconditionFailed && strings.Contains(strings.ToLower(string(msg)), "busy"):
		return ErrBusy
	default:
		return fmt.Errorf("%s: HTTP %d: %s", strings.TrimPrefix(path, "/"), resp.StatusCode, strings.TrimSpace(string(msg)))
	}
}
