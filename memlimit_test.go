package main

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

func TestLimitFromCgroup(t *testing.T) {
	for in, want := range map[string]int64{
		"max\n":        0,
		"536870912\n":  483183820,
		"0":            0,
		"":             0,
		"garbage":      0,
		" 1073741824 ": 966367641,
	} {
		if got := limitFromCgroup(in); got != want {
			t.Errorf("limitFromCgroup(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestSetMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	memoryMax := filepath.Join(t.TempDir(), "memory.max")
	if err := os.WriteFile(memoryMax, []byte("536870912\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Setenv("GOMEMLIMIT", "100MiB")
	if got := setMemoryLimit(memoryMax); got != 0 || debug.SetMemoryLimit(-1) != before {
		t.Errorf("with GOMEMLIMIT set: set %d, runtime limit %d; want it left alone", got, debug.SetMemoryLimit(-1))
	}
	os.Unsetenv("GOMEMLIMIT")
	if got := setMemoryLimit(memoryMax); got != 483183820 || debug.SetMemoryLimit(-1) != got {
		t.Errorf("from a 512 MiB limit: set %d, runtime limit %d; want 90%%", got, debug.SetMemoryLimit(-1))
	}
	debug.SetMemoryLimit(math.MaxInt64)
	if got := setMemoryLimit(filepath.Join(t.TempDir(), "none")); got != 0 || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Errorf("without a cgroup limit: set %d", got)
	}
}
