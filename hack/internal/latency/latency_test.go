package latency

import (
	"testing"
	"time"
)

func ms(n ...int) []time.Duration {
	var d []time.Duration
	for _, v := range n {
		d = append(d, time.Duration(v)*time.Millisecond)
	}
	return d
}

func TestSummaryPrintsOnlyWhatTheSamplesSupport(t *testing.T) {
	if got := Summary(ms(30, 10, 20), time.Millisecond); got != "n=3 p50 20ms max 30ms" {
		t.Errorf("3 samples: %q", got)
	}
	ten := ms(10, 9, 8, 7, 6, 5, 4, 3, 2, 1)
	if got := Summary(ten, time.Millisecond); got != "n=10 p50 5ms p90 9ms max 10ms" {
		t.Errorf("10 samples: %q", got)
	}
	var hundred []time.Duration
	for i := 100; i >= 1; i-- {
		hundred = append(hundred, time.Duration(i)*time.Millisecond)
	}
	if got := Summary(hundred, time.Millisecond); got != "n=100 p50 50ms p90 90ms p99 99ms max 100ms" {
		t.Errorf("100 samples: %q", got)
	}
	if Summary(nil, time.Millisecond) != "n=0" {
		t.Error("no samples")
	}
	if hundred[0] != 100*time.Millisecond {
		t.Error("Summary sorted its caller's slice")
	}
}
