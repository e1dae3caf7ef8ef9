package bridgescaling

import (
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func spec() Spec {
	return Spec{Min: 1, Max: 10, TargetStress: 0.6, ScaleDownDelay: 5 * time.Minute, DrainTimeout: 30 * time.Minute}
}

func ready(i int, stress float64, participants, conferences int) Bridge {
	return Bridge{Index: i, State: Ready, Stress: stress, Participants: participants, Conferences: conferences, Since: t0.Add(-time.Hour)}
}

func with(b Bridge, s State, since time.Time) Bridge {
	b.State, b.Since = s, since
	return b
}

// want is the part of a Decision a case checks; nil slices mean empty.
type want struct {
	desired                     int
	add, drain, undrain, remove []int
}

func check(t *testing.T, d Decision, w want) {
	t.Helper()
	same := func(a, b []int) bool { return len(a) == 0 && len(b) == 0 || slices.Equal(a, b) }
	if d.Desired != w.desired || !same(d.Add, w.add) || !same(d.Drain, w.drain) || !same(d.Undrain, w.undrain) || !same(d.Remove, w.remove) {
		t.Errorf("got desired %d add %v drain %v undrain %v remove %v (%s)\nwant desired %d add %v drain %v undrain %v remove %v",
			d.Desired, d.Add, d.Drain, d.Undrain, d.Remove, d.Reason, w.desired, w.add, w.drain, w.undrain, w.remove)
	}
}

func TestPlan(t *testing.T) {
	drainStart := t0.Add(-10 * time.Minute)
	cases := []struct {
		name    string
		bridges []Bridge
		spec    func(*Spec)
		want    want
	}{
		{"empty pool gets Min", nil, func(s *Spec) { s.Min = 3 }, want{desired: 3, add: []int{0, 1, 2}}},
		{"steady", []Bridge{ready(0, 0.5, 50, 5), ready(1, 0.5, 50, 5)}, nil, want{desired: 2}},
		{"above target adds enough to reach it", []Bridge{ready(0, 1.2, 120, 9), ready(1, 1.2, 120, 9)}, nil,
			want{desired: 4, add: []int{2, 3}}}, // 2.4 / 0.6 = 4
		{"slightly above adds one", []Bridge{ready(0, 0.61, 61, 4), ready(1, 0.61, 61, 4), ready(2, 0.61, 61, 4)}, nil,
			want{desired: 4, add: []int{3}}},
		{"starting bridges count as capacity", []Bridge{ready(0, 0.9, 90, 6), ready(1, 0.9, 90, 6), with(ready(2, 0, 0, 0), Starting, t0)}, nil,
			want{desired: 3}},
		{"Max bounds the growth", []Bridge{ready(0, 1, 100, 8), ready(1, 1, 100, 8), ready(2, 1, 100, 8)}, func(s *Spec) { s.Max = 4 },
			want{desired: 4, add: []int{3}}},
		{"at Max nothing is added", []Bridge{ready(0, 1, 100, 8), ready(1, 1, 100, 8)}, func(s *Spec) { s.Max = 2 }, want{desired: 2}},
		{"draining bridges are taken back before adding, busiest first",
			[]Bridge{ready(0, 0.9, 90, 6), ready(1, 0.9, 90, 6), with(ready(2, 0.1, 10, 1), Draining, drainStart), with(ready(3, 0.3, 30, 3), Draining, drainStart)}, nil,
			want{desired: 3, undrain: []int{3}}}, // bridge 2 keeps draining
		{"take back, then add", []Bridge{ready(0, 1.5, 150, 9), ready(1, 1.5, 150, 9), with(ready(2, 0.1, 10, 1), Draining, drainStart)}, nil,
			want{desired: 5, undrain: []int{2}, add: []int{3, 4}}},
		{"new bridges take the lowest free indices; listed ones are never reused",
			[]Bridge{ready(0, 1.2, 120, 9), ready(2, 1.2, 120, 9), with(ready(3, 0, 0, 0), Gone, t0)}, nil,
			want{desired: 4, add: []int{1, 4}}},
		{"unhealthy bridges are removed, count for nothing, and are replaced",
			[]Bridge{ready(0, 0.3, 30, 2), with(ready(1, 0.5, 50, 5), Unhealthy, t0)}, func(s *Spec) { s.Min = 2 },
			want{desired: 2, add: []int{2}, remove: []int{1}}},
		{"an unhealthy bridge's calls land on the others: the load decides",
			[]Bridge{ready(0, 0.9, 90, 6), with(ready(1, 0, 0, 0), Unhealthy, t0)}, nil,
			want{desired: 2, add: []int{2}, remove: []int{1}}},
		{"a drained empty bridge is removed", []Bridge{ready(0, 0.3, 30, 2), with(ready(1, 0, 0, 0), Draining, t0)}, nil,
			want{desired: 1, remove: []int{1}}},
		{"a draining bridge with conferences stays until its drain times out",
			[]Bridge{ready(0, 0.3, 30, 2), with(ready(1, 0.1, 6, 1), Draining, t0.Add(-29*time.Minute))}, nil, want{desired: 1}},
		{"a drain that timed out is removed with its conferences",
			[]Bridge{ready(0, 0.3, 30, 2), with(ready(1, 0.1, 6, 1), Draining, t0.Add(-30*time.Minute))}, nil,
			want{desired: 1, remove: []int{1}}},
		{"a zero DrainTimeout never times out",
			[]Bridge{ready(0, 0.3, 30, 2), with(ready(1, 0.1, 6, 1), Draining, t0.Add(-100*time.Hour))}, func(s *Spec) { s.DrainTimeout = 0 },
			want{desired: 1}},
		{"lowered Max: starting bridges go, then the emptiest is drained",
			[]Bridge{ready(0, 0.1, 10, 1), ready(1, 0.05, 5, 1), ready(2, 0.2, 20, 2), with(ready(3, 0, 0, 0), Starting, t0)}, func(s *Spec) { s.Max = 2 },
			want{desired: 2, remove: []int{3}, drain: []int{1}}},
		{"lowered Max never removes a bridge with conferences",
			[]Bridge{ready(0, 0.1, 10, 1), ready(1, 0.1, 10, 1), ready(2, 0.1, 10, 1)}, func(s *Spec) { s.Max = 1 },
			want{desired: 1, drain: []int{1, 2}}},
		{"raised Min adds at once", []Bridge{ready(0, 0, 0, 0)}, func(s *Spec) { s.Min = 2 }, want{desired: 2, add: []int{1}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := spec()
			if c.spec != nil {
				c.spec(&s)
			}
			check(t, Plan(Observation{Bridges: c.bridges, Spec: s, Now: t0}), c.want)
		})
	}
}

func TestScaleDownWaitsThenDrainsTheEmptiest(t *testing.T) {
	o := Observation{Spec: spec(), Now: t0, Bridges: []Bridge{
		ready(0, 0.1, 10, 2), ready(1, 0.1, 10, 1), ready(2, 0.2, 20, 1), ready(3, 0.1, 10, 1),
	}} // 0.5 / 3 = 0.17 < 0.8 × 0.6
	d := Plan(o)
	check(t, d, want{desired: 4})
	if !d.LowSince.Equal(t0) || d.RequeueAfter != 5*time.Minute {
		t.Fatalf("low since %v, requeue %v; want %v, 5m", d.LowSince, d.RequeueAfter, t0)
	}
	o.LowSince, o.Now = d.LowSince, t0.Add(4*time.Minute)
	if d = Plan(o); len(d.Drain) != 0 || d.RequeueAfter != time.Minute {
		t.Fatalf("drained before the delay: %+v", d)
	}
	o.Now = t0.Add(5 * time.Minute)
	d = Plan(o)
	// Fewest participants (0, 1, 3 tie at 10), then fewest conferences (1, 3), then the highest index.
	check(t, d, want{desired: 3, drain: []int{3}})
	if !d.LowSince.Equal(o.Now) {
		t.Errorf("LowSince %v: the next drain must wait a full delay again", d.LowSince)
	}
}

func TestLoadRisingResetsTheScaleDownClock(t *testing.T) {
	o := Observation{Spec: spec(), Now: t0, LowSince: t0.Add(-time.Hour), Bridges: []Bridge{ready(0, 0.35, 35, 3), ready(1, 0.35, 35, 3), ready(2, 0.35, 35, 3)}}
	// 1.05 / 2 = 0.525: one fewer bridge would stay under the target, but not under 0.8 × 0.6.
	d := Plan(o)
	check(t, d, want{desired: 3})
	if !d.LowSince.IsZero() {
		t.Errorf("LowSince %v kept inside the hysteresis band", d.LowSince)
	}
}

func TestOneDrainAtATime(t *testing.T) {
	o := Observation{Spec: spec(), Now: t0, LowSince: t0.Add(-time.Hour), Bridges: []Bridge{
		ready(0, 0.1, 10, 1), ready(1, 0.1, 10, 1), ready(2, 0.1, 10, 1), with(ready(3, 0.1, 10, 1), Draining, t0.Add(-time.Minute)),
	}}
	d := Plan(o)
	check(t, d, want{desired: 3})
	if d.RequeueAfter != 29*time.Minute || d.LowSince.IsZero() {
		t.Errorf("requeue %v low since %v; want the drain timeout's 29m and the clock kept", d.RequeueAfter, d.LowSince)
	}
	o.Bridges[3] = with(ready(3, 0, 0, 0), Starting, t0)
	check(t, Plan(o), want{desired: 4}) // nor while a bridge starts
}

func TestUnhealthyBridgesAreRemovedWhateverTheyHost(t *testing.T) {
	d := Plan(Observation{Spec: spec(), Now: t0, Bridges: []Bridge{with(ready(0, 0.5, 40, 4), Unhealthy, t0), with(ready(1, 0.5, 40, 4), Unhealthy, t0)}})
	check(t, d, want{desired: 1, add: []int{2}, remove: []int{0, 1}})
}

func TestMinAndMaxAreHeldWhatever(t *testing.T) {
	s := spec()
	s.Min, s.Max = 3, 3
	d := Plan(Observation{Spec: s, Now: t0, LowSince: t0.Add(-time.Hour), Bridges: []Bridge{ready(0, 0, 0, 0), ready(1, 0, 0, 0), ready(2, 0, 0, 0)}})
	check(t, d, want{desired: 3})
	d = Plan(Observation{Spec: s, Now: t0, Bridges: []Bridge{ready(0, 3, 300, 20), ready(1, 3, 300, 20), ready(2, 3, 300, 20)}})
	check(t, d, want{desired: 3})
}

func TestTheScheduleAddsBridgesAndHoldsThem(t *testing.T) {
	// Two bridges at 0.3: the load needs one at the target 0.6; a meeting about to start asks two more.
	o := Observation{Spec: spec(), Now: t0, Bridges: []Bridge{ready(0, 0.3, 30, 3), ready(1, 0.3, 30, 3)},
		Schedule: Schedule{Upcoming: 2}}
	d := Plan(o)
	check(t, d, want{desired: 3, add: []int{2}})
	if !strings.Contains(d.Reason, "for the schedule") {
		t.Errorf("reason %q does not name the schedule", d.Reason)
	}
	// The meeting runs: four bridges expected, and the load is low; none is drained.
	o.Bridges = []Bridge{ready(0, 0.05, 5, 1), ready(1, 0.05, 5, 1), ready(2, 0, 0, 0), ready(3, 0, 0, 0)}
	o.Schedule, o.LowSince, o.Now = Schedule{Floor: 4}, t0.Add(-time.Hour), t0.Add(time.Hour)
	check(t, Plan(o), want{desired: 4})
	// It ended: the low load drains one after the delay.
	o.Schedule = Schedule{}
	check(t, Plan(o), want{desired: 3, drain: []int{3}})
}
