package benchkit

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestChildCPUCountsABusyChild(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	// A child that burns CPU in the shell itself (no command it forks) until killed; it is
	// measured while it runs.
	cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 1000000000 ]; do i=$((i+1)); done")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	start := time.Now()
	for ChildCPU("sh") < 50*time.Millisecond {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("a busy child for %s: %s of CPU counted", time.Since(start).Round(time.Millisecond), ChildCPU("sh"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got, wall := ChildCPU("sh"), time.Since(start); got > 2*wall+time.Second {
		t.Fatalf("%s of CPU counted for one single-threaded child in %s", got, wall)
	}
	if got := ChildCPU("no-such-command"); got != 0 {
		t.Fatalf("no such child: %s", got)
	}
}

func TestSelfCPUCountsThisProcesssWork(t *testing.T) {
	before, start := SelfCPU(), time.Now()
	sum := 0
	for SelfCPU()-before < 50*time.Millisecond {
		if time.Since(start) > 20*time.Second {
			t.Fatalf("busy for %s: %s of CPU counted", time.Since(start).Round(time.Millisecond), SelfCPU()-before)
		}
		for i := range 100000 {
			sum += i
		}
	}
	if sum == 0 {
		t.Fatal("no work done")
	}
	cores := TakeCores()
	for i := range 10000000 {
		sum += i
	}
	if used := cores.Since(); used.Self <= 0 || used.Wall <= 0 || !strings.Contains(used.String(), "this process") {
		t.Fatalf("Since after busy work: %+v (%s)", used, used)
	}
}
