package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jitsi-operator/jitsi-operator/hack/internal/benchkit"
	"github.com/jitsi-operator/jitsi-operator/hack/internal/latency"
	"github.com/jitsi-operator/jitsi-operator/webhook"
)

// The flood: another process (this command again, with -flood-client) posts unauthenticated
// 1 MiB bodies from many connections to the receiver's real HTTP server (its limits as in the
// operator), while this process keeps sending authenticated events and samples its own memory.

// floodKinds are the unauthenticated posts of the flood, in turn: a declared 1 MiB body with a
// forged signature (refused on its Content-Length), an undeclared (chunked) 1 MiB body with a
// wrong token, and a declared 1 MiB body to the endpoint with the largest limit with a wrong
// token (refused on its header).
var floodKinds = []struct {
	path    string
	header  string
	value   string
	chunked bool
}{
	{"/v1/prosody/events?deployment=default/meet", "X-Jitsi-Signature", strings.Repeat("ab", 32), false},
	{"/v1/event-sync/default/meet/events/room/destroyed", "Authorization", "Bearer wrong", true},
	{"/v1/event-sync/default/meet/events/room/destroyed", "Authorization", "Bearer wrong", false},
}

// floodClient floods addr from conns connections for the given time and prints what it got as
// JSON: the answers by status, and the posts that failed before an answer.
func floodClient(addr string, conns int, d time.Duration) error {
	body := bytes.Repeat([]byte("x"), 1<<20)
	c := &http.Client{Transport: &http.Transport{MaxConnsPerHost: conns, MaxIdleConnsPerHost: conns}, Timeout: 30 * time.Second}
	var mu sync.Mutex
	answers := map[string]int{}
	var failed atomic.Int64
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; time.Now().Before(stop); i++ {
				k := floodKinds[i%len(floodKinds)]
				var r io.Reader = bytes.NewReader(body)
				if k.chunked {
					r = io.MultiReader(r) // no length: sent chunked
				}
				req, _ := http.NewRequest(http.MethodPost, "http://"+addr+k.path, r)
				req.Header.Set(k.header, k.value)
				resp, err := c.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				answers[strconv.Itoa(resp.StatusCode)]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"answers": answers, "failed": failed.Load()})
}

// flood runs the receiver's server on loopback, measures authenticated events without and then
// during a flood from conns connections, and prints the figures.
func flood(srv *webhook.Server, n, senders, conns int, floodFor time.Duration) error {
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := probe.Addr().String()
	probe.Close()
	srv.Addr = addr
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = srv.Start(ctx) }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the receiver did not listen on %s", addr)
		}
	}
	url := "http://" + addr + "/v1/prosody/events?deployment=default/meet"
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders}}
	events := func(tag string) [][]byte {
		var bodies [][]byte
		for i := 0; len(bodies) < n; i++ {
			room := fmt.Sprintf("room-%02d", 1+i%20)
			jid := fmt.Sprintf("%s%05d@meet.jitsi", tag, i)
			bodies = append(bodies, benchkit.ModuleEvent("occupant-joined", room, jid), benchkit.ModuleEvent("occupant-left", room, jid))
		}
		return bodies[:n]
	}

	rss0, _ := benchkit.Memory()
	lat, elapsed, err := benchkit.SendSigned(httpc, url, []byte(secret), events("calm"), senders)
	if err != nil {
		return fmt.Errorf("without the flood: %w", err)
	}
	fmt.Printf("flood: without it, %d authenticated events: %.0f events/s, send to stored %s; RSS %.0f MiB\n",
		n, float64(n)/elapsed.Seconds(), latency.Summary(lat, 100*time.Microsecond), rss0)

	self, err := os.Executable()
	if err != nil {
		return err
	}
	child := exec.Command(self, "-flood-client", addr, "-flood", strconv.Itoa(conns), "-flood-for", floodFor.String())
	var out bytes.Buffer
	child.Stdout, child.Stderr = &out, os.Stderr
	if err := child.Start(); err != nil {
		return err
	}
	time.Sleep(time.Second) // the flood is under way
	var peak atomic.Int64
	sampling := make(chan struct{})
	go func() {
		for {
			select {
			case <-sampling:
				return
			case <-time.After(100 * time.Millisecond):
				if rss, _ := benchkit.Memory(); int64(rss) > peak.Load() {
					peak.Store(int64(rss))
				}
			}
		}
	}()
	var stored int
	var floodLat []time.Duration
	start := time.Now()
	for time.Since(start) < floodFor-2*time.Second {
		l, _, err := benchkit.SendSigned(httpc, url, []byte(secret), events(fmt.Sprintf("flood%d-", stored)), senders)
		if err != nil {
			close(sampling)
			return fmt.Errorf("during the flood, an authenticated event was not stored: %w", err)
		}
		floodLat = append(floodLat, l...)
		stored += n
	}
	during := time.Since(start)
	close(sampling)
	if err := child.Wait(); err != nil {
		return fmt.Errorf("flood client: %w", err)
	}
	var got struct {
		Answers map[string]int `json:"answers"`
		Failed  int            `json:"failed"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		return fmt.Errorf("flood client said %q: %w", out.String(), err)
	}
	total := got.Failed
	for _, c := range got.Answers {
		total += c
	}
	rss1, hwm := benchkit.Memory()
	fmt.Printf("flood: %d connections posting unauthenticated 1 MiB bodies for %s: %d posts (%.0f/s), answers %v, %d cut off before an answer\n",
		conns, floodFor, total, float64(total)/floodFor.Seconds(), got.Answers, got.Failed)
	fmt.Printf("flood: meanwhile %d authenticated events, all stored: %.0f events/s, send to stored %s\n",
		stored, float64(stored)/during.Seconds(), latency.Summary(floodLat, 100*time.Microsecond))
	fmt.Printf("flood: RSS %.0f MiB before, at most %d MiB during, %.0f MiB after (process peak %.0f MiB)\n",
		rss0, peak.Load(), rss1, hwm)
	return nil
}
