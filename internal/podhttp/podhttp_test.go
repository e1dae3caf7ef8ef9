package podhttp

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// A pod that answers with a redirect to another address gets its 3xx back: the operator's
// request never reaches the other address.
func TestRedirectsAreNotFollowed(t *testing.T) {
	var reached atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	defer elsewhere.Close()
	for _, code := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		pod := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.URL+"/latest/meta-data", code)
		}))
		for name, hc := range map[string]*http.Client{"default": nil, "the caller's": {Timeout: time.Second}} {
			status, _, err := Get(context.Background(), hc, pod.URL+"/health", 1<<10)
			if err != nil || status != code {
				t.Errorf("%d, %s client: Get = %d, %v; want %d", code, name, status, err, code)
			}
			req, _ := http.NewRequest(http.MethodPost, pod.URL+"/startService", bytes.NewReader([]byte(`{"secret":"x"}`)))
			resp, err := Client(hc).Do(req)
			if err != nil {
				t.Fatalf("%d, %s client: POST: %v", code, name, err)
			}
			resp.Body.Close()
			if resp.StatusCode != code {
				t.Errorf("%d, %s client: POST answered %d", code, name, resp.StatusCode)
			}
		}
		pod.Close()
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("the redirect was followed %d times", n)
	}
}

// Client keeps the caller's settings and leaves the caller's client as it was.
func TestClientCopies(t *testing.T) {
	hc := &http.Client{Timeout: 42 * time.Second}
	c := Client(hc)
	if c == hc || c.Timeout != 42*time.Second || c.CheckRedirect == nil || hc.CheckRedirect != nil {
		t.Fatalf("Client(hc) = %+v, hc = %+v", c, hc)
	}
	if Client(nil).Timeout != 3*time.Second {
		t.Fatal("the default client has no 3 s timeout")
	}
}
