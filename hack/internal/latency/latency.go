// Package latency summarizes measured durations for the benchmarks without claiming more than
// the samples show: a percentile is printed only when there are enough samples to tell it from
// the maximum.
package latency

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Summary is "n=<n> p50 <d> [p90 <d>] [p99 <d>] max <d>": p90 with at least 10 samples, p99
// with at least 100 (with fewer, the 99th percentile is the maximum, so only max is printed).
// round is the precision printed.
func Summary(d []time.Duration, round time.Duration) string {
	if len(d) == 0 {
		return "n=0"
	}
	s := slices.Clone(d)
	slices.Sort(s)
	var b strings.Builder
	fmt.Fprintf(&b, "n=%d p50 %s", len(s), Quantile(s, 0.5).Round(round))
	if len(s) >= 10 {
		fmt.Fprintf(&b, " p90 %s", Quantile(s, 0.9).Round(round))
	}
	if len(s) >= 100 {
		fmt.Fprintf(&b, " p99 %s", Quantile(s, 0.99).Round(round))
	}
	fmt.Fprintf(&b, " max %s", s[len(s)-1].Round(round))
	return b.String()
}

// Quantile is the q-quantile (0 < q < 1) of sorted by the nearest-rank method: the smallest
// sample with at least q of the samples at or below it.
func Quantile(sorted []time.Duration, q float64) time.Duration {
	rank := int(q*float64(len(sorted)) + 0.999999999)
	return sorted[min(max(rank, 1), len(sorted))-1]
}
