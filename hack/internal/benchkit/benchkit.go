// Package benchkit holds what the benches share: signed events for the receiver, sending them,
// and the process's memory.
package benchkit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ModuleEvent is a Prosody module event about person jid in room, as the operator's module
// sends it (its id names the kind and the person, so each body is unique per pair).
func ModuleEvent(kind, room, jid string) []byte {
	b, _ := json.Marshal(map[string]any{
		"id": kind + jid, "event": kind, "timestamp": time.Now().UnixMilli(),
		"room":     map[string]any{"jid": room + "@muc.meet.jitsi", "name": room},
		"occupant": map[string]any{"jid": jid, "nick": jid},
	})
	return b
}

// PostSigned posts body to url signed with key (hex HMAC-SHA256 in X-Jitsi-Signature), as the
// module does; anything but the receiver's 200 (stored) is an error.
func PostSigned(ctx context.Context, c *http.Client, url string, key, body []byte) error {
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("X-Jitsi-Signature", hex.EncodeToString(mac.Sum(nil)))
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the receiver answered %d", resp.StatusCode)
	}
	return nil
}

// SendSigned posts bodies with PostSigned from senders goroutines, and returns each one's time
// to its answer, the time all took, and the first error.
func SendSigned(c *http.Client, url string, key []byte, bodies [][]byte, senders int) ([]time.Duration, time.Duration, error) {
	lat := make([]time.Duration, len(bodies))
	var next atomic.Int64
	var first firstError
	var wg sync.WaitGroup
	start := time.Now()
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < len(bodies); i = int(next.Add(1)) - 1 {
				t0 := time.Now()
				first.keep(PostSigned(context.Background(), c, url, key, bodies[i]))
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	return lat, time.Since(start), first.get()
}

// OfferSigned posts bodies with PostSigned at rate a second, each on its own goroutine at its
// time whatever the answers before it (an open loop, as Prosody sends: it does not wait for one
// event's answer to send the next), with at most inFlight unanswered; a body that would exceed
// that waits, and late counts them. It returns each one's time from its due time to its answer,
// the time all took, how many were late, and the first error.
func OfferSigned(c *http.Client, url string, key []byte, bodies [][]byte, rate float64, inFlight int) ([]time.Duration, time.Duration, int, error) {
	lat := make([]time.Duration, len(bodies))
	slots := make(chan struct{}, inFlight)
	var first firstError
	var wg sync.WaitGroup
	late := 0
	start := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	for i := range bodies {
		due := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(due))
		select {
		case slots <- struct{}{}:
		default:
			late++
			slots <- struct{}{}
		}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			first.keep(PostSigned(context.Background(), c, url, key, bodies[i]))
			lat[i] = time.Since(due)
		}()
	}
	wg.Wait()
	return lat, time.Since(start), late, first.get()
}

// firstError keeps the first error of several goroutines.
type firstError struct {
	mu  sync.Mutex
	err error
}

func (f *firstError) keep(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
}

func (f *firstError) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// Memory is this process's resident set (VmRSS) and its peak (VmHWM), in MiB.
func Memory() (rss, peak float64) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(fields[1], 64)
		switch fields[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			peak = kb / 1024
		}
	}
	return rss, peak
}

// ChildCPU is the CPU time (user and system) used so far by this process's children named name
// (their command, as /proc shows it: e.g. "kube-apiserver" started by envtest), 0 where /proc
// cannot tell. The kernel counts it in clock ticks of 1/100 s.
func ChildCPU(name string) time.Duration {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var ticks float64
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		raw, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		stat := string(raw)
		open, end := strings.IndexByte(stat, '('), strings.LastIndexByte(stat, ')')
		if open < 0 || end < open || stat[open+1:end] != name {
			continue
		}
		// After the command: state, ppid, ... utime is the 12th field, stime the 13th.
		f := strings.Fields(stat[end+1:])
		if len(f) < 13 {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid != os.Getpid() {
			continue
		}
		user, _ := strconv.ParseFloat(f[11], 64)
		system, _ := strconv.ParseFloat(f[12], 64)
		ticks += user + system
	}
	return time.Duration(ticks * float64(time.Second) / 100)
}

// SelfCPU is the CPU time (user and system) this process has used so far.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Cores is the CPU time of the processes a bench runs, taken at one moment (TakeCores); Since
// is what each used from then on.
type Cores struct {
	at                    time.Time
	apiserver, etcd, self time.Duration
}

// TakeCores reads the CPU time of the API server and etcd this process started, and its own.
func TakeCores() Cores {
	return Cores{at: time.Now(), apiserver: ChildCPU("kube-apiserver"), etcd: ChildCPU("etcd"), self: SelfCPU()}
}

// Used is the CPU time each process used over Wall.
type Used struct {
	Wall, APIServer, Etcd, Self time.Duration
}

// Since is the CPU time each process used since c.
func (c Cores) Since() Used {
	now := TakeCores()
	return Used{Wall: now.at.Sub(c.at), APIServer: now.apiserver - c.apiserver, Etcd: now.etcd - c.etcd, Self: now.self - c.self}
}

// String is each one's share of the cores, e.g. "API server 0.91, etcd 0.12, this process 0.85
// cores".
func (u Used) String() string {
	if u.Wall <= 0 {
		return "no time elapsed"
	}
	share := func(d time.Duration) float64 { return d.Seconds() / u.Wall.Seconds() }
	return fmt.Sprintf("API server %.2f, etcd %.2f, this process %.2f cores", share(u.APIServer), share(u.Etcd), share(u.Self))
}
