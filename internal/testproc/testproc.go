// Package testproc runs the real programs the tests start (nginx, ffmpeg, coturn, ...) in process
// groups of their own, so that a test stops each one with everything it started, and fails when
// anything is left behind. For tests only.
package testproc

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Group is a process the test started in its own process group, with everything it starts.
type Group struct {
	Name string
	Cmd  *exec.Cmd
	// Out is its stdout and stderr.
	Out  *Buffer
	done chan struct{}
	err  error
}

// Buffer is a bytes.Buffer safe for concurrent writes and reads.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Start starts cmd (as cred, when not nil) in a process group of its own; at the end of the test
// the whole group is stopped (TERM, then KILL) and the test fails if any of its processes is left.
func Start(t testing.TB, name string, cmd *exec.Cmd, cred *syscall.Credential) *Group {
	t.Helper()
	g := &Group{Name: name, Cmd: cmd, Out: &Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = g.Out, g.Out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { g.err = cmd.Wait(); close(g.done) }()
	t.Cleanup(func() { g.Stop(t) })
	return g
}

// Exited reports whether the process has ended.
func (g *Group) Exited() bool {
	select {
	case <-g.done:
		return true
	default:
		return false
	}
}

// Err is how the process ended (nil while it runs).
func (g *Group) Err() error {
	if !g.Exited() {
		return nil
	}
	return g.err
}

// Stop ends the group: TERM, KILL after 5 s, and fails the test if any of its processes is left.
func (g *Group) Stop(t testing.TB) {
	pgid := g.Cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-g.done
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(Members(pgid)) > 0 && time.Now().Before(deadline) {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		time.Sleep(50 * time.Millisecond)
	}
	if left := Members(pgid); len(left) > 0 {
		t.Errorf("%s left processes behind: %v", g.Name, left)
	}
}

// Members lists "<pid> <command>" of the live processes in process group pgid.
func Members(pgid int) []string {
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// "pid (comm) state ppid pgrp ..."; comm may hold spaces and parentheses.
		s := string(stat)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(s[end+1:])
		if len(f) < 3 || f[0] == "Z" {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g == pgid {
			out = append(out, fmt.Sprintf("%d %s", pid, s[open+1:end]))
		}
	}
	return out
}

// FreePort is a loopback TCP port nothing listens on (nothing else binds it in the meantime,
// unless very unlucky).
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
