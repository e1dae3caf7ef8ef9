// Package scaling decides how a JibriPool grows and shrinks. It is pure: Plan takes what was
// observed of the pool and the demand, and says which recorders to create and which to delete;
// AssignCards places new SndAloop recorders on nodes. Nothing here reads a cluster or a clock.
//
// The one rule that matters: a busy recorder is never chosen for deletion.
package scaling

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// State is a recorder's state as Jibri reports it, plus Starting for a pod not ready yet.
type State string

const (
	Starting  State = "Starting"
	Idle      State = "Idle"
	Busy      State = "Busy"
	Expired   State = "Expired"
	Unhealthy State = "Unhealthy"
)

// Recorder is one Jibri pod.
type Recorder struct {
	Name      string
	State     State
	CreatedAt time.Time
	// Terminating: its deletion was asked for already; it counts for nothing.
	Terminating bool
}

// Pool is what Plan decides from.
type Pool struct {
	Recorders []Recorder
	// Queue is the number of meetings waiting for a recorder.
	Queue int
	// Scheduled is the number of scheduled meetings a recorder is kept idle for ahead of their
	// start (schedule.Recorders).
	Scheduled int
	// MinReplicas, MaxReplicas and MinIdle are the pool's spec.
	MinReplicas, MaxReplicas, MinIdle int
	// ScaleDownDelay is how long a surplus must last before idle recorders are removed.
	ScaleDownDelay time.Duration
	// SurplusSince is when the pool first had more recorders than it needed, zero when it has not
	// (the previous Decision's SurplusSince, kept by the caller).
	SurplusSince time.Time
	Now          time.Time
}

// Decision is what to do.
type Decision struct {
	// Desired is busy + queued + scheduled + minIdle, within min and max.
	Desired int
	// Create is how many recorders to add.
	Create int
	// Delete names the recorders to remove: broken ones (expired, unhealthy) at once, idle or
	// starting ones when a surplus has lasted the delay. Never a busy one.
	Delete []string
	// SurplusSince is to be passed back in the next Pool.
	SurplusSince time.Time
	// RequeueAfter is when to look again for a pending scale-down, zero when none is pending.
	RequeueAfter time.Duration
	// Reason says why, for status and events.
	Reason string
}

// Plan decides the pool's next step.
func Plan(p Pool) Decision {
	busy, live := 0, 0
	var broken, spare []Recorder
	for _, r := range p.Recorders {
		if r.Terminating {
			continue
		}
		switch r.State {
		case Busy:
			busy++
			live++
		case Expired, Unhealthy:
			broken = append(broken, r)
		default:
			live++
			spare = append(spare, r)
		}
	}
	d := Decision{Desired: clamp(busy+p.Queue+p.Scheduled+p.MinIdle, p.MinReplicas, p.MaxReplicas)}
	for _, r := range broken {
		d.Delete = append(d.Delete, r.Name)
	}
	switch {
	case live < d.Desired:
		d.Create = d.Desired - live
		d.Reason = fmt.Sprintf("%d busy, %d queued, %d kept idle: %d recorders wanted, %d there", busy, p.Queue, p.MinIdle, d.Desired, live)
		if p.Scheduled > 0 {
			d.Reason = fmt.Sprintf("%d busy, %d queued, %d kept idle, %d for scheduled meetings: %d recorders wanted, %d there",
				busy, p.Queue, p.MinIdle, p.Scheduled, d.Desired, live)
		}
	case live > d.Desired:
		d.SurplusSince = p.SurplusSince
		if d.SurplusSince.IsZero() {
			d.SurplusSince = p.Now
		}
		wait := d.SurplusSince.Add(p.ScaleDownDelay).Sub(p.Now)
		if wait > 0 {
			d.RequeueAfter = wait
			d.Reason = fmt.Sprintf("%d recorders, %d wanted: removing idle ones in %s", live, d.Desired, wait.Round(time.Second))
			break
		}
		// Starting ones first (they have no session yet), then the newest idle ones.
		slices.SortStableFunc(spare, func(a, b Recorder) int {
			if (a.State == Starting) != (b.State == Starting) {
				if a.State == Starting {
					return -1
				}
				return 1
			}
			return -a.CreatedAt.Compare(b.CreatedAt)
		})
		n := min(live-d.Desired, len(spare))
		for _, r := range spare[:n] {
			d.Delete = append(d.Delete, r.Name)
		}
		d.Reason = fmt.Sprintf("%d recorders, %d wanted for %s: removing %d idle", live, d.Desired, p.ScaleDownDelay, n)
		if n < live-d.Desired {
			d.Reason += fmt.Sprintf("; %d more go when their recordings end", live-d.Desired-n)
			d.SurplusSince = p.Now // look again as recorders turn idle
		} else {
			d.SurplusSince = time.Time{}
		}
	default:
		d.Reason = fmt.Sprintf("%d recorders, as wanted", live)
	}
	if len(broken) > 0 {
		d.Reason += fmt.Sprintf("; replacing %d expired or unhealthy", len(broken))
	}
	return d
}

func clamp(v, lo, hi int) int { return max(lo, min(v, hi)) }

// Card is an ALSA loopback card on a node.
type Card struct {
	Node  string
	Index int
}

// AssignCards places n new SndAloop recorders: each gets a card index of its own on a node (two
// recorders on one node never share a card), nodes with the most free cards first, never more
// recorders on a node than it has cards. cards is the number of loopback cards per node; used
// the cards taken there. It returns the cards assigned, fewer than n when nodes run out.
func AssignCards(n int, cards map[string]int, used map[string][]int) []Card {
	type node struct {
		name string
		free []int
	}
	var nodes []node
	for name, count := range cards {
		taken := map[int]bool{}
		for _, i := range used[name] {
			taken[i] = true
		}
		var free []int
		for i := 0; i < count; i++ {
			if !taken[i] {
				free = append(free, i)
			}
		}
		nodes = append(nodes, node{name, free})
	}
	var out []Card
	for len(out) < n {
		slices.SortFunc(nodes, func(a, b node) int {
			if c := cmp.Compare(len(b.free), len(a.free)); c != 0 {
				return c
			}
			return cmp.Compare(a.name, b.name)
		})
		if len(nodes) == 0 || len(nodes[0].free) == 0 {
			break
		}
		out = append(out, Card{Node: nodes[0].name, Index: nodes[0].free[0]})
		nodes[0].free = nodes[0].free[1:]
	}
	return out
}
