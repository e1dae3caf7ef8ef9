// Package podhttp is the little HTTP the operator speaks to its pods' own APIs (Jibri's, the
// videobridges'): plain HTTP to a pod address and port, short timeouts, bounded bodies.
package podhttp

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// URL is http://<address>:<port><path>.
func URL(address string, port int, path string) string {
	return "http://" + net.JoinHostPort(address, strconv.Itoa(port)) + path
}

// Client is hc, or a client with a 3 s timeout when hc is nil.
func Client(hc *http.Client) *http.Client {
	if hc != nil {
		return hc
	}
	return &http.Client{Timeout: 3 * time.Second}
}

// Get fetches url and returns its status and at most limit bytes of its body.
func Get(ctx context.Context, hc *http.Client, url string, limit int64) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := Client(hc).Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, body, nil
}
