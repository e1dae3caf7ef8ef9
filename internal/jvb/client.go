// Package jvb talks to a videobridge's REST API on its private port (PROTOCOLS.md 6.1): its
// colibri stats (stress, participants, conferences, drain and health), drain mode, and graceful
// shutdown. It knows nothing of Kubernetes or of scaling policy.
//
// The API does not authenticate; the port is reachable only from the operator.
package jvb

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

// DefaultPort is the bridge's private HTTP port.
const DefaultPort = 8080

// ErrDisabled is wrapped by errors for an answer of 404: the bridge does not serve that part of
// its REST API, which it must be configured to.
var ErrDisabled = errors.New("endpoint not enabled on the bridge")

// Stats is what scaling needs of GET /colibri/stats.
type Stats struct {
	// Stress is stress_level: the bridge's load; Jicofo avoids bridges above 0.8.
	Stress float64
	// Participants (endpoints, local and relayed) and Conferences hosted now.
	Participants, Conferences int
	// Drain: the bridge takes no new conferences. GracefulShutdown: it was asked to shut down
	// once its conferences end. ShuttingDown: it is stopping now.
	Drain, GracefulShutdown, ShuttingDown bool
	// Healthy is the bridge's own health check; true when the bridge does not report it.
	Healthy bool
}

// statsBody holds the keys read; the object has many more (vectors/jvb-colibri-stats.json).
// Counts are decoded as numbers so that 7 and 7.0 both read.
type statsBody struct {
	StressLevel      *float64 `json:"stress_level"`
	Participants     *float64 `json:"participants"`
	Endpoints        *float64 `json:"endpoints"`
	Conferences      *float64 `json:"conferences"`
	Drain            bool     `json:"drain"`
	GracefulShutdown bool     `json:"graceful_shutdown"`
	ShuttingDown     bool     `json:"shutting_down"`
	Healthy          *bool    `json:"healthy"`
}

// Client calls bridges at <address>:<Port>.
type Client struct {
	// HTTP is the client used (one with a 3 s timeout when nil).
	HTTP *http.Client
	// Port is the bridge's private HTTP port (DefaultPort when zero).
	Port int
}

func (c *Client) url(address, path string) string {
	port := c.Port
	if port == 0 {
		port = DefaultPort
	}
	return podhttp.URL(address, port, path)
}

func (c *Client) http() *http.Client { return podhttp.Client(c.HTTP) }

// Stats reads the bridge's colibri stats. A 404 means the colibri REST API is off: the bridge
// needs COLIBRI_REST_ENABLED=true (videobridge.apis.rest.enabled).
func (c *Client) Stats(ctx context.Context, address string) (Stats, error) {
	status, body, err := podhttp.Get(ctx, c.HTTP, c.url(address, "/colibri/stats"), 1<<20)
	if err != nil {
		return Stats{}, err
	}
	switch {
	case status == http.StatusNotFound:
		return Stats{}, fmt.Errorf("colibri stats: HTTP 404: %w: set COLIBRI_REST_ENABLED=true on the videobridge", ErrDisabled)
	case status != http.StatusOK:
		return Stats{}, fmt.Errorf("colibri stats: HTTP %d", status)
	}
	var b statsBody
	if err := json.Unmarshal(body, &b); err != nil {
		return Stats{}, fmt.Errorf("colibri stats: not the bridge's JSON: %w", err)
	}
	if b.StressLevel == nil || b.Conferences == nil || (b.Participants == nil && b.Endpoints == nil) {
		return Stats{}, errors.New("colibri stats: no stress_level, conferences or participants in the answer")
	}
	participants := b.Participants
	if participants == nil {
		participants = b.Endpoints
	}
	return Stats{
		Stress:           *b.StressLevel,
		Participants:     int(*participants),
		Conferences:      int(*b.Conferences),
		Drain:            b.Drain,
		GracefulShutdown: b.GracefulShutdown,
		ShuttingDown:     b.ShuttingDown,
		// A missing key is read as healthy: an unhealthy bridge gets removed, calls and all.
		Healthy: b.Healthy == nil || *b.Healthy,
	}, nil
}

// SetDrain turns the bridge's drain mode on (it takes no new conferences; those it hosts go on)
// or off.
func (c *Client) SetDrain(ctx context.Context, address string, on bool) error {
	path := "/colibri/drain/disable"
	if on {
		path = "/colibri/drain/enable"
	}
	return c.post(ctx, address, path, nil, "set COLIBRI_REST_ENABLED=true on the videobridge")
}

// Shutdown asks the bridge to shut down gracefully: it stops once its conferences have ended.
// The bridge serves this only with SHUTDOWN_REST_ENABLED=true and COLIBRI_REST_ENABLED=true.
func (c *Client) Shutdown(ctx context.Context, address string) error {
	return c.post(ctx, address, "/colibri/shutdown", []byte(`{"graceful-shutdown":true}`),
		"set SHUTDOWN_REST_ENABLED=true and COLIBRI_REST_ENABLED=true on the videobridge")
}

func (c *Client) post(ctx context.Context, address, path string, body []byte, enable string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url(address, path), bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	name := strings.TrimPrefix(path, "/colibri/")
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%s: HTTP 404: %w: %s", name, ErrDisabled, enable)
	default:
		return fmt.Errorf("%s: HTTP %d: %s", name, resp.StatusCode, strings.TrimSpace(string(msg)))
	}
}
