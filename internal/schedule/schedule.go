// Package schedule turns the calendar into capacity wanted ahead of time: which scheduled
// Meetings count as demand for a recorder or for bridges now, and when that changes next without
// any event. It is pure: the caller says what each meeting is and what time it is.
package schedule

import (
	"cmp"
	"slices"
	"time"
)

// Meeting is a scheduled meeting as the planners see it.
type Meeting struct {
	Name  string
	Start time.Time
	// End is when the meeting is over at the latest (its endTime); zero when unknown.
	End time.Time
	// Opened: its room has opened (someone joined).
	Opened bool
	// Ended: the meeting is over (its phase says so), whatever End says.
	Ended bool
	// Began: the recorder's work for it has begun (its recording or stream is Pending on or past
	// a recorder, or queued for one): from then on it counts as busy or queued, not as scheduled.
	Began bool
	// Participants is how many people are expected (0: not said).
	Participants int
}

// Window is when a meeting counts: from Lead before its start; a meeting whose room has not
// opened Grace after its start no longer does.
type Window struct {
	Lead, Grace time.Duration
}

// Demand is what the scheduled meetings ask for now.
type Demand struct {
	// Meetings counted, soonest start first (then by name).
	Meetings []string
	// Participants expected in them.
	Participants int
	// Next is when the demand changes next by time alone (a lead time begins, a grace period
	// lapses, a meeting ends); zero when nothing is scheduled to change.
	Next time.Time
}

// Recorders is the demand for idle recorders: every meeting within its lead time whose
// recorder's work has not begun, that has not ended, and whose room opened or whose grace has
// not passed. One recorder each.
func Recorders(ms []Meeting, now time.Time, w Window) Demand {
	return demand(ms, now, w, func(m Meeting) bool { return !m.Began })
}

// Upcoming is the part of the bridges' demand not in their measured load yet: the expected
// participants of meetings within their lead time whose room has not opened (and whose grace has
// not passed).
func Upcoming(ms []Meeting, now time.Time, w Window) Demand {
	return demand(ms, now, w, func(m Meeting) bool { return !m.Opened && m.Participants > 0 })
}

// Running is the floor under the bridges while scheduled meetings run: the expected participants
// of meetings whose room opened and that have not ended.
func Running(ms []Meeting, now time.Time) Demand {
	return demand(ms, now, Window{}, func(m Meeting) bool { return m.Opened && m.Participants > 0 })
}

func demand(ms []Meeting, now time.Time, w Window, counts func(Meeting) bool) Demand {
	var d Demand
	var in []Meeting
	next := func(t time.Time) {
		if t.After(now) && (d.Next.IsZero() || t.Before(d.Next)) {
			d.Next = t
		}
	}
	for _, m := range ms {
		if m.Ended || !m.End.IsZero() && !now.Before(m.End) || !counts(m) {
			continue
		}
		from, until := m.Start.Add(-w.Lead), m.Start.Add(w.Grace)
		switch {
		case m.Opened:
		case now.Before(from):
			next(from)
			continue
		case now.Before(until):
			next(until)
		default:
			continue // its room never opened: it lapsed
		}
		in = append(in, m)
		if !m.End.IsZero() {
			next(m.End)
		}
	}
	slices.SortFunc(in, func(a, b Meeting) int { return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.Name, b.Name)) })
	for _, m := range in {
		d.Meetings = append(d.Meetings, m.Name)
		d.Participants += m.Participants
	}
	return d
}

// And is d and o together: both's meetings (d's first), their participants, and the earlier of
// their next changes.
func (d Demand) And(o Demand) Demand {
	both := Demand{Meetings: append(slices.Clone(d.Meetings), o.Meetings...), Participants: d.Participants + o.Participants, Next: d.Next}
	if both.Next.IsZero() || !o.Next.IsZero() && o.Next.Before(both.Next) {
		both.Next = o.Next
	}
	return both
}

// Bridges is how many bridges of perBridge participants each n participants need.
func Bridges(n, perBridge int) int {
	if n <= 0 || perBridge <= 0 {
		return 0
	}
	return (n + perBridge - 1) / perBridge
}
