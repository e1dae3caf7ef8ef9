package prosody_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// clients drives clients.py serve: Alice, Bob and the recorder, joining rooms on command.
type clients struct {
	mu      sync.Mutex
	stdin   io.WriteCloser
	next    int
	waiting map[int]chan joinResult
}

type joinResult struct {
	ID        int    `json:"id"`
	Ready     bool   `json:"ready"`
	Joined    bool   `json:"joined"`
	Condition string `json:"condition"`
	Text      string `json:"text"`
}

func startClients(t *testing.T, port int) *clients {
	t.Helper()
	script, _ := filepath.Abs("clients.py")
	cmd := exec.Command("timeout", "120", "/usr/bin/python3", script, fmt.Sprint(port), "serve")
	stdin, err := cmd.StdinPipe()
	must(t, err)
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	must(t, cmd.Start())
	c := &clients{stdin: stdin, waiting: map[int]chan joinResult{}}
	ready := make(chan struct{})
	go func() {
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			line, ok := strings.CutPrefix(lines.Text(), "RESULT ")
			if !ok {
				continue
			}
			var res joinResult
			if err := json.Unmarshal([]byte(line), &res); err != nil {
				t.Errorf("clients.py: %v: %s", err, line)
				continue
			}
			if res.Ready {
				close(ready)
				continue
			}
			c.mu.Lock()
			ch := c.waiting[res.ID]
			delete(c.waiting, res.ID)
			c.mu.Unlock()
			if ch != nil {
				ch <- res
			}
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = stdin.Close()
		if err := <-exited; err != nil {
			t.Errorf("clients.py: %v\n%s", err, stderr.String())
		}
	})
	select {
	case <-ready:
	case err := <-exited:
		t.Fatalf("clients.py ended before signing in: %v\n%s", err, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("clients.py did not sign in\n%s", stderr.String())
	}
	return c
}

// join makes who join room with nick and returns how the room answered.
func (c *clients) join(who, nick, room string) joinResult {
	ch := make(chan joinResult, 1)
	c.mu.Lock()
	c.next++
	id := c.next
	c.waiting[id] = ch
	line, _ := json.Marshal(map[string]any{"id": id, "who": who, "nick": nick, "room": room})
	_, err := c.stdin.Write(append(line, '\n'))
	c.mu.Unlock()
	if err != nil {
		return joinResult{Condition: "clients.py: " + err.Error()}
	}
	select {
	case res := <-ch:
		return res
	case <-time.After(30 * time.Second):
		return joinResult{Condition: "no result from clients.py"}
	}
}

// joinAll makes who join each of rooms at once and returns the results by room.
func (c *clients) joinAll(who, nick string, rooms ...string) map[string]joinResult {
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := map[string]joinResult{}
	for _, r := range rooms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := c.join(who, nick, r)
			mu.Lock()
			out[r] = res
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}
