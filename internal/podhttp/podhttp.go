// Package podhttp is the little HTTP the operator speaks to its pods' own APIs (Jibri's, the
// videobridges'): plain HTTP to a pod address and port, short timeouts, bounded bodies, and no
// redirects followed.
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

// Client is a copy of hc, or a client with a 3 s timeout when hc is nil, that never follows a
// redirect: it answers the redirect itself (a 3xx status) instead. A pod's API has no reason to
// redirect, and following one would let whatever runs in the pod steer the operator's request,
// and what it carries, to any address the operator can reach.
func Client(hc *http.Client) *http.Client {
	c := http.Client{Timeout: 3 * time.Second}
	if hc != nil {
		c = *hc
	}
	c.CheckRedirect = noRedirects
	return &c
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

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
