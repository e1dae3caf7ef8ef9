// Package podhttptest stands in for a pod's HTTP API in tests of its clients, without a network.
package podhttptest

import (
	"io"
	"net/http"
	"strings"
)

// Answer is a transport that answers every request with 200 and its bytes as the body.
type Answer []byte

// RoundTrip answers req.
func (a Answer) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader(string(a))), Request: req}, nil
}

// Client is an HTTP client whose every request gets body.
func Client(body []byte) *http.Client { return &http.Client{Transport: Answer(body)} }
