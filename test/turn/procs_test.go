package turn

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/jitsi-operator/jitsi-operator/internal/testproc"
)

// coturnTools are Debian's coturn programs: the server and its test client.
type coturnTools struct{ turnserver, uclient string }

func findCoturn(t *testing.T) coturnTools {
	t.Helper()
	var tl coturnTools
	for name, dst := range map[string]*string{"turnserver": &tl.turnserver, "turnutils_uclient": &tl.uclient} {
		p, err := exec.LookPath(name)
		if err != nil {
			t.Fatalf("%s not installed: run make test-deps (Debian package coturn)", name)
		}
		*dst = p
	}
	return tl
}

// logBuffer collects a process's output while it runs.
// server is a process the test started in a process group of its own (testproc).
type server = testproc.Group

func startServer(t *testing.T, cmd *exec.Cmd) *server {
	t.Helper()
	return testproc.Start(t, cmd.Path, cmd, nil)
}

// waitFor polls cond until it holds, the deadline passes, or srv exits.
func waitFor(t *testing.T, what string, srv *server, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if srv != nil && srv.Exited() {
			t.Fatalf("turnserver exited while waiting for %s:\n%s", what, srv.Out.String())
		}
		if time.Now().After(deadline) {
			out := ""
			if srv != nil {
				out = srv.Out.String()
			}
			t.Fatalf("no %s within %v; turnserver's log:\n%s", what, timeout, out)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// freePort is a loopback port free for both TCP and UDP (TURN listens on both).
func freePort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no loopback port free for both TCP and UDP")
	return 0
}

// relayRange is a block of n loopback UDP ports that were free when the test started (coturn
// skips any that are taken since).
func relayRange(t *testing.T, n int) (lo, hi int) {
	t.Helper()
	for i := 0; i < 50; i++ {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := u.LocalAddr().(*net.UDPAddr).Port
		u.Close()
		if base+n-1 <= 65535 {
			return base, base + n - 1
		}
	}
	t.Fatal("no relay port range")
	return 0, 0
}

// peer is a UDP echo server standing in for a videobridge: it sends every datagram back and
// remembers where they came from.
type peer struct {
	conn net.PacketConn
	mu   sync.Mutex
	from map[string]int
}

func startPeer(t *testing.T, ip string) *peer {
	t.Helper()
	conn, err := net.ListenPacket("udp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{conn: conn, from: map[string]int{}}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, addr, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			p.mu.Lock()
			p.from[addr.String()]++
			p.mu.Unlock()
			_, _ = conn.WriteTo(buf[:n], addr)
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return p
}

func (p *peer) port() int { return p.conn.LocalAddr().(*net.UDPAddr).Port }

// senders is how many datagrams came from each address.
func (p *peer) senders() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for k, v := range p.from {
		out[k] = v
	}
	return out
}

// runClient runs turnutils_uclient until it exits, or until stop says it has seen enough (then
// it is killed); it never outlives timeout.
func runClient(t *testing.T, uclient string, timeout time.Duration, stop func() bool, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out := &testproc.Buffer{}
	cmd := exec.CommandContext(ctx, uclient, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start turnutils_uclient: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return out.String(), err
		case <-tick.C:
			if stop != nil && stop() {
				cancel()
				<-done
				return out.String(), context.Canceled
			}
		}
	}
}
