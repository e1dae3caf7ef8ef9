// Package bridgescaling decides how the videobridge pool of a JitsiDeployment grows and shrinks
// on the bridges' own stress level. It is pure: Plan takes what was observed of each bridge (its
// state and its colibri stats) and the autoscaling spec, and says which bridges to add, drain,
// take back and remove. It imports no client, clock, environment or global; the caller keeps
// LowSince between calls and carries the decision out.
//
// The one rule that matters: a bridge that still hosts a conference is never removed, unless it
// is unhealthy or its drain has lasted DrainTimeout.
package bridgescaling

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// State is what the caller observed of bridge i (Deployment <name>-jvb-<i>).
type State string

const (
	// Starting: created, not ready yet. It counts as capacity (it is about to take load) but
	// not in the average stress.
	Starting State = "Starting"
	// Ready: serving, taking new conferences.
	Ready State = "Ready"
	// Draining: in drain mode, taking no new conferences; Since is when the drain began.
	Draining State = "Draining"
	// Unhealthy: unreachable, or its stats say healthy=false. It counts for nothing and is
	// removed at once (and replaced when capacity is short). The caller decides how long a bridge
	// must be unreachable before it reports it so.
	Unhealthy State = "Unhealthy"
	// Gone: its Deployment is being deleted. It counts for nothing and is never in Remove; its
	// index is not reused while it is listed. Any other state is treated the same way.
	Gone State = "Gone"
)

// DefaultTargetStress is the average stress aimed at when Spec.TargetStress is not positive.
const DefaultTargetStress = 0.6

// LowWater is the hysteresis of scale-down: a bridge is drained only when the remaining ones
// would carry less than LowWater × TargetStress on average, i.e. sum(stress)/(n-1) <
// LowWater × TargetStress. Scale-up fills to the target exactly (sum/n ≤ target), so right after
// a scale-up sum/(n-1) > target > LowWater × target and no drain follows; right after a drain
// the average is below LowWater × target and no scale-up follows. A pool whose load holds still
// therefore rests where sum/n ≤ target and sum/(n-1) ≥ LowWater × target (or at Min or Max).
const LowWater = 0.8

// epsilon absorbs rounding in sums of stress levels (JVB reports them as doubles).
const epsilon = 1e-9

// Bridge is one videobridge as observed.
type Bridge struct {
	Index int
	State State
	// Stress is the bridge's stress_level; Participants and Conferences from the same stats.
	Stress                    float64
	Participants, Conferences int
	// Since is when the bridge entered State.
	Since time.Time
}

// Spec is the autoscaling spec, defaults applied.
type Spec struct {
	// Min and Max bound the bridges Ready or Starting; Min ≤ Max is assumed (the API
	// validates it). Draining bridges are on their way out and count toward neither.
	Min, Max int
	// TargetStress is the average stress of Ready bridges aimed at.
	TargetStress float64
	// ScaleDownDelay is how long the load must stay low before one bridge is drained, and the
	// least time between two drains.
	ScaleDownDelay time.Duration
	// DrainTimeout is how long a draining bridge may keep its conferences before it is removed
	// anyway (bounded by the user's termination grace). Zero means never: it is removed only
	// once empty.
	DrainTimeout time.Duration
}

// Observation is what Plan decides from.
type Observation struct {
	Bridges []Bridge
	Spec    Spec
	// LowSince is when the load first went low, zero when it is not (the previous Decision's
	// LowSince, kept by the caller).
	LowSince time.Time
	Now      time.Time
	// Schedule is what scheduled meetings ask of the bridges.
	Schedule Schedule
}

// Schedule is the calendar's part of the bridges' demand.
type Schedule struct {
	// Upcoming is the bridges for meetings about to start, not in the measured load yet: they
	// come on top of what the load needs.
	Upcoming int
	// Floor is the bridges the running scheduled meetings expect: never fewer while they run.
	Floor int
}

// Decision is what to do now. Indices in Add, Drain, Undrain and Remove are ascending.
type Decision struct {
	// Desired is the number of bridges Ready or Starting once this decision is carried out,
	// within Min..Max.
	Desired int
	// Add are the indices of bridges to create: the lowest indices no listed bridge holds.
	Add []int
	// Drain are bridges to put in drain mode (they take no new conferences).
	Drain []int
	// Undrain are draining bridges taken back because capacity is short again.
	Undrain []int
	// Remove are bridges to delete now: draining and empty, draining past DrainTimeout,
	// unhealthy, or (above Max only) starting with no conference.
	Remove []int
	// LowSince is to be passed back in the next Observation.
	LowSince time.Time
	// RequeueAfter is when to look again for a pending scale-down or drain timeout, zero when
	// none is pending.
	RequeueAfter time.Duration
	// Reason says why, for status and events.
	Reason string
}

// Plan decides the pool's next step.
func Plan(o Observation) Decision {
	sp := o.Spec
	target := sp.TargetStress
	if target <= 0 {
		target = DefaultTargetStress
	}
	var ready, starting, draining []Bridge
	var d Decision
	used := map[int]bool{}
	for _, b := range o.Bridges {
		used[b.Index] = true
		switch b.State {
		case Ready:
			ready = append(ready, b)
		case Starting:
			starting = append(starting, b)
		case Draining:
			draining = append(draining, b)
		case Unhealthy:
			d.Remove = append(d.Remove, b.Index)
		}
	}
	capacity := len(ready) + len(starting)
	load := 0.0
	for _, b := range ready {
		load += b.Stress
	}
	var why []string

	// How many bridges the load wants: enough that the average falls to the target, and at
	// least one more than the ready ones when it is above (bridges starting count toward it).
	want := capacity
	high := len(ready) > 0 && load > target*float64(len(ready))+epsilon
	if high {
		need := int(math.Ceil((load - epsilon) / target))
		want = max(capacity, need, len(ready)+1)
		why = append(why, fmt.Sprintf("average stress %.2f above target %.2f", load/float64(len(ready)), target))
	}
	// The calendar: the bridges the load needs at the target plus those for meetings about to
	// start, and never fewer than the running scheduled meetings expect.
	scheduled := 0
	if sc := o.Schedule; sc.Upcoming > 0 || sc.Floor > 0 {
		scheduled = max(int(math.Ceil((load-epsilon)/target))+sc.Upcoming, sc.Floor)
		if scheduled > want {
			want = scheduled
			why = append(why, fmt.Sprintf("%d bridges for the schedule (%d for meetings about to start, at least %d for those running)",
				scheduled, sc.Upcoming, sc.Floor))
		}
	}
	want = max(sp.Min, min(want, sp.Max))
	if high && want == capacity && capacity == sp.Max {
		why = append(why, fmt.Sprintf("at most %d bridges", sp.Max))
	}

	undrained := map[int]bool{}
	drainedNow := 0
	switch {
	case want > capacity:
		// Take draining bridges back first: those with the most conferences, whose calls a
		// drain timeout would cut.
		short := want - capacity
		back := slices.Clone(draining)
		slices.SortFunc(back, func(a, b Bridge) int {
			return cmp.Or(cmp.Compare(b.Conferences, a.Conferences), cmp.Compare(b.Participants, a.Participants), cmp.Compare(a.Index, b.Index))
		})
		for _, b := range back[:min(short, len(back))] {
			d.Undrain = append(d.Undrain, b.Index)
			undrained[b.Index] = true
		}
		for i := 0; len(d.Add) < short-len(d.Undrain); i++ {
			if !used[i] {
				d.Add = append(d.Add, i)
			}
		}
		why = append(why, fmt.Sprintf("%d bridges ready or starting, %d wanted", capacity, want))
	case want < capacity:
		// Above Max (it was lowered): starting bridges with no conference go at once, then the
		// emptiest others are drained.
		excess := capacity - want
		slices.SortFunc(starting, func(a, b Bridge) int { return cmp.Compare(b.Index, a.Index) })
		var rest []Bridge
		for _, b := range starting {
			if b.Conferences == 0 && excess > 0 {
				d.Remove = append(d.Remove, b.Index)
				excess--
			} else {
				rest = append(rest, b)
			}
		}
		rest = append(rest, ready...)
		sortEmptiest(rest)
		for _, b := range rest[:excess] {
			d.Drain = append(d.Drain, b.Index)
		}
		drainedNow = capacity - want
		why = append(why, fmt.Sprintf("%d bridges ready or starting, at most %d", capacity, sp.Max))
	default:
		// Scale down by one when the rest would stay well under the target for the delay.
		low := len(ready) > 0 && capacity > max(sp.Min, scheduled) && load < LowWater*target*float64(capacity-1)-epsilon
		if !low {
			break
		}
		d.LowSince = o.LowSince
		if d.LowSince.IsZero() || d.LowSince.After(o.Now) {
			d.LowSince = o.Now
		}
		wait := d.LowSince.Add(sp.ScaleDownDelay).Sub(o.Now)
		switch {
		case wait > 0:
			d.RequeueAfter = wait
			why = append(why, fmt.Sprintf("load low: draining one of %d bridges in %s", capacity, wait.Round(time.Second)))
		case len(starting) > 0:
			why = append(why, "load low: waiting for starting bridges")
		case len(draining) > 0:
			why = append(why, "load low: one bridge drains at a time")
		default:
			sortEmptiest(ready)
			d.Drain = append(d.Drain, ready[0].Index)
			drainedNow = 1
			d.LowSince = o.Now // the next drain waits a full delay again
			why = append(why, fmt.Sprintf("load low for %s: draining bridge %d of %d", sp.ScaleDownDelay, ready[0].Index, capacity))
		}
	}

	// Draining bridges leave once empty or once their drain has lasted DrainTimeout.
	for _, b := range draining {
		if undrained[b.Index] {
			continue
		}
		if b.Conferences == 0 {
			d.Remove = append(d.Remove, b.Index)
			continue
		}
		if sp.DrainTimeout > 0 {
			left := b.Since.Add(sp.DrainTimeout).Sub(o.Now)
			if left <= 0 {
				d.Remove = append(d.Remove, b.Index)
				why = append(why, fmt.Sprintf("bridge %d drained for %s with %d conferences left", b.Index, sp.DrainTimeout, b.Conferences))
				continue
			}
			if d.RequeueAfter == 0 || left < d.RequeueAfter {
				d.RequeueAfter = left
			}
		}
	}

	d.Desired = capacity + len(d.Add) + len(d.Undrain) - drainedNow
	for _, s := range [][]int{d.Add, d.Drain, d.Undrain, d.Remove} {
		slices.Sort(s)
	}
	for _, b := range o.Bridges {
		if b.State == Unhealthy {
			why = append(why, fmt.Sprintf("removing unhealthy bridge %d", b.Index))
		}
	}
	if len(why) == 0 {
		why = append(why, fmt.Sprintf("%d bridges, as wanted", capacity))
	}
	d.Reason = strings.Join(why, "; ")
	return d
}

// sortEmptiest orders bridges emptiest first: fewest participants, then fewest conferences,
// then the highest index.
func sortEmptiest(bs []Bridge) {
	slices.SortFunc(bs, func(a, b Bridge) int {
		return cmp.Or(cmp.Compare(a.Participants, b.Participants), cmp.Compare(a.Conferences, b.Conferences), cmp.Compare(b.Index, a.Index))
	})
}
