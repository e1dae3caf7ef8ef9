package webhook

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/jitsi-operator/jitsi-operator/internal/testproc"
)

func TestInFlightAnswersBusyBeyondItsSlots(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	h := make(inFlight, 2).wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		started <- struct{}{}
		<-release
		w.WriteHeader(http.StatusOK)
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	var wg sync.WaitGroup
	codes := make(chan int, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	<-started
	<-started
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a third request while two are handled: %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	close(release)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != http.StatusOK {
			t.Fatalf("a request within the slots answered %d", c)
		}
	}
}

func TestLimitListenerHoldsAtMostNConnections(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newLimitListener(inner, 2)
	defer l.Close()
	accepted := make(chan net.Conn, 3)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	var clients []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	first, second := <-accepted, <-accepted
	select {
	case <-accepted:
		t.Fatal("a third connection was accepted while two were open")
	case <-time.After(200 * time.Millisecond):
	}
	first.Close()
	select {
	case third := <-accepted:
		third.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("closing a connection did not free its slot")
	}
	second.Close()
}

// startOnLoopback starts s on a free loopback port until the test ends, and returns a dial of
// it that waits for it to listen.
func startOnLoopback(t *testing.T, s *Server) func() net.Conn {
	t.Helper()
	s.Addr = "127.0.0.1:" + strconv.Itoa(testproc.FreePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return func() net.Conn {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			c, err := net.Dial("tcp", s.Addr)
			if err == nil {
				return c
			}
			if time.Now().After(deadline) {
				t.Fatal(err)
			}
		}
	}
}

func TestStartRefusesOversizedHeadersAndDeclaredBodies(t *testing.T) {
	dial := startOnLoopback(t, &Server{})
	conn := dial()
	defer conn.Close()

	// A header block over MaxHeaderBytes.
	fmt.Fprintf(conn, "POST /v1/prosody/events HTTP/1.1\r\nHost: x\r\nX-Padding: %s\r\n\r\n", strings.Repeat("a", 2*MaxHeaderBytes))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("oversized headers: %d, want 431", resp.StatusCode)
	}

	// A declared body over the endpoint's limit is answered before it is sent.
	c2 := dial()
	defer c2.Close()
	fmt.Fprintf(c2, "POST /v1/prosody/events HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", 100<<20)
	resp, err = http.ReadResponse(bufio.NewReader(c2), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("a declared 100 MiB body: %d, want 413 before any byte of it", resp.StatusCode)
	}
}

func TestStartHoldsMaxConnections(t *testing.T) {
	dial := startOnLoopback(t, &Server{MaxConnections: 2})
	before := openConnections(t)
	// Two connections that send nothing hold both places (until the header timeout).
	first, second := dial(), dial()
	defer second.Close()
	waitFor(t, func() bool { return openConnections(t) == before+2 })
	third := dial()
	defer third.Close()
	answered := make(chan int, 1)
	go func() {
		fmt.Fprintf(third, "GET /v1/jitsi/health HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(third), nil)
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	select {
	case code := <-answered:
		t.Fatalf("a third connection was served (%d) while two were held", code)
	case <-time.After(300 * time.Millisecond):
	}
	if got := openConnections(t); got != before+2 {
		t.Errorf("with a connection waiting in the backlog the gauge shows %v, want %v", got, before+2)
	}
	first.Close()
	if code := <-answered; code == 0 {
		t.Fatal("the third connection got no answer once a place was free")
	}
}

// openConnections reads the receiver's connections gauge.
func openConnections(t *testing.T) float64 {
	t.Helper()
	var m dto.Metric
	if err := connections.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}
