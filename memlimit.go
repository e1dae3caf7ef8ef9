package main

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// cgroupMemoryMax is where cgroup v2 shows the container's memory limit.
const cgroupMemoryMax = "/sys/fs/cgroup/memory.max"

// memoryLimitShare is the part of the container's memory limit the Go heap is held under: the
// rest is for the runtime, stacks and what the garbage collector has not returned yet.
const memoryLimitShare = 0.9

// setMemoryLimit sets the Go runtime's soft memory limit to memoryLimitShare of the container's
// memory limit, unless GOMEMLIMIT is set or there is no limit. Without it the heap may grow to
// twice what is live (GOGC=100) before a collection, which with thousands of Meetings can reach
// the container's limit. It returns the limit set (0: none).
func setMemoryLimit(memoryMax string) int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0
	}
	b, err := os.ReadFile(memoryMax)
	if err != nil {
		return 0
	}
	limit := limitFromCgroup(string(b))
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	return limit
}

// limitFromCgroup is memoryLimitShare of a memory.max value ("max" or bytes); 0 without a limit.
func limitFromCgroup(memoryMax string) int64 {
	v, err := strconv.ParseInt(strings.TrimSpace(memoryMax), 10, 64)
	if err != nil || v <= 0 {
		return 0
	}
	return int64(float64(v) * memoryLimitShare)
}
