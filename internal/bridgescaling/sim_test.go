package bridgescaling

import (
	"math/rand"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jitsi-operator/jitsi-operator/internal/schedule"
)

// perParticipant is the stress one participant puts on a bridge in the simulation (JVB's
// average_participant_stress default).
const perParticipant = 0.01

type simBridge struct {
	Bridge
	confs []int // participants per conference
}

// world is a simulated pool: bridges with conferences on them, placed as Jicofo places them
// (the least stressed ready bridge).
type world struct {
	t       *testing.T
	rng     *rand.Rand
	spec    Spec
	now     time.Time
	bridges []*simBridge
	low     time.Time
	seen    map[string]int // how often each rule fired
	// calendar is the scheduled meetings, sized by their expected participants.
	calendar []schedule.Meeting
}

// perBridge is the participants a bridge is sized for in the simulation's prewarm.
const perBridge = 40

var window = schedule.Window{Lead: 5 * time.Minute, Grace: 10 * time.Minute}

func (w *world) schedule() Schedule {
	return Schedule{Upcoming: schedule.Bridges(schedule.Upcoming(w.calendar, w.now, window).Participants, perBridge),
		Floor: schedule.Bridges(schedule.Running(w.calendar, w.now).Participants, perBridge)}
}

func (w *world) stress(b *simBridge) float64 {
	if b.State == Starting || b.State == Gone {
		return 0
	}
	n := 0
	for _, p := range b.confs {
		n += p
	}
	return float64(n) * perParticipant
}

func (w *world) observe() Observation {
	o := Observation{Spec: w.spec, LowSince: w.low, Now: w.now, Schedule: w.schedule()}
	for _, b := range w.bridges {
		c := b.Bridge
		c.Stress, c.Conferences, c.Participants = w.stress(b), len(b.confs), 0
		for _, p := range b.confs {
			c.Participants += p
		}
		o.Bridges = append(o.Bridges, c)
	}
	return o
}

// place puts a conference on the least stressed ready bridge; it is lost when none is ready.
func (w *world) place(participants int) {
	var best *simBridge
	for _, b := range w.bridges {
		if b.State == Ready && (best == nil || w.stress(b) < w.stress(best)) {
			best = b
		}
	}
	if best != nil {
		best.confs = append(best.confs, participants)
	}
}

func (w *world) find(i int) *simBridge {
	for _, b := range w.bridges {
		if b.Index == i {
			return b
		}
	}
	return nil
}

// step plans once, checks the decision against the rules, and carries it out.
func (w *world) step(label string) Decision {
	t := w.t
	t.Helper()
	// Bridges removed last step have disappeared by now.
	w.bridges = slices.DeleteFunc(w.bridges, func(b *simBridge) bool { return b.State == Gone })
	d := Plan(w.observe())
	touched := map[int]bool{}
	for _, list := range [][]int{d.Add, d.Drain, d.Undrain, d.Remove} {
		for _, i := range list {
			if touched[i] {
				t.Fatalf("%s: bridge %d twice in %+v", label, i, d)
			}
			touched[i] = true
		}
	}
	for _, i := range d.Remove {
		b := w.find(i)
		if b == nil {
			t.Fatalf("%s: removes unknown bridge %d", label, i)
		}
		timedOut := b.State == Draining && w.spec.DrainTimeout > 0 && !w.now.Before(b.Since.Add(w.spec.DrainTimeout))
		if len(b.confs) > 0 && b.State != Unhealthy && !timedOut {
			t.Fatalf("%s: removes bridge %d (%s since %v) with %d conferences", label, i, b.State, w.now.Sub(b.Since), len(b.confs))
		}
		switch {
		case b.State == Unhealthy:
			w.seen["remove unhealthy"]++
		case timedOut && len(b.confs) > 0:
			w.seen["remove timed out"]++
		default:
			w.seen["remove empty"]++
		}
	}
	for _, i := range d.Drain {
		if b := w.find(i); b == nil || (b.State != Ready && b.State != Starting) {
			t.Fatalf("%s: drains bridge %d, not ready or starting", label, i)
		}
		w.seen["drain"]++
	}
	for _, i := range d.Undrain {
		if b := w.find(i); b == nil || b.State != Draining {
			t.Fatalf("%s: takes back bridge %d, not draining", label, i)
		}
		w.seen["undrain"]++
	}
	for _, i := range d.Add {
		if w.find(i) != nil {
			t.Fatalf("%s: adds bridge %d, which exists", label, i)
		}
		w.seen["add"]++
	}

	// Carry it out. A removed bridge's conferences reconnect to the others.
	var moved []int
	for _, i := range d.Remove {
		b := w.find(i)
		moved = append(moved, b.confs...)
		b.confs, b.State = nil, Gone
	}
	for _, i := range d.Drain {
		b := w.find(i)
		b.State, b.Since = Draining, w.now
	}
	for _, i := range d.Undrain {
		b := w.find(i)
		b.State, b.Since = Ready, w.now
	}
	for _, i := range d.Add {
		w.bridges = append(w.bridges, &simBridge{Bridge: Bridge{Index: i, State: Starting, Since: w.now}})
	}
	for _, p := range moved {
		w.place(p)
	}
	w.low = d.LowSince

	capacity := 0
	for _, b := range w.bridges {
		if b.State == Ready || b.State == Starting {
			capacity++
		}
	}
	if capacity != d.Desired || capacity < w.spec.Min || capacity > w.spec.Max {
		t.Fatalf("%s: %d bridges ready or starting, desired %d, bounds %d..%d", label, capacity, d.Desired, w.spec.Min, w.spec.Max)
	}
	if capacity == w.spec.Max {
		w.seen["at max"]++
	}
	// Never below what the schedule asks while it lasts.
	if sc := w.schedule(); capacity < min(max(sc.Floor, sc.Upcoming), w.spec.Max) {
		t.Fatalf("%s: %d bridges ready or starting, the schedule asks %+v", label, capacity, sc)
	}
	if sc := w.schedule(); sc.Floor > 0 || sc.Upcoming > 0 {
		w.seen["scheduled"]++
	}
	return d
}

// settle holds the load still (no conference starts or ends, nothing fails, bridges start at
// once) and checks that the pool comes to rest inside the hysteresis band within a bound.
func (w *world) settle(label string) {
	t := w.t
	t.Helper()
	// Each scale-down step takes at most a drain timeout plus a cycle or two; scale-up is immediate.
	bound := (w.spec.Max - w.spec.Min + 2) * int(w.spec.DrainTimeout/time.Minute+w.spec.ScaleDownDelay/time.Minute+2)
	quiet := 0
	for cycle := 0; cycle < bound && quiet < 30; cycle++ {
		w.now = w.now.Add(time.Minute)
		for _, b := range w.bridges {
			if b.State == Starting {
				b.State, b.Since = Ready, w.now
			}
		}
		d := w.step(label)
		if len(d.Add)+len(d.Drain)+len(d.Undrain)+len(d.Remove) == 0 && !slices.ContainsFunc(w.bridges, func(b *simBridge) bool { return b.State != Ready }) {
			quiet++
		} else {
			quiet = 0
		}
	}
	if quiet < 30 {
		t.Fatalf("%s: no rest after %d minutes of still load", label, bound)
	}
	n, load := 0, 0.0
	for _, b := range w.bridges {
		n++
		load += w.stress(b)
	}
	target := w.spec.TargetStress
	if n < w.spec.Max && load > target*float64(n)+1e-6 {
		t.Fatalf("%s: rests at %d bridges with average stress %.3f above target %.2f", label, n, load/float64(n), target)
	}
	if n > w.spec.Min && load < LowWater*target*float64(n-1)-1e-6 {
		t.Fatalf("%s: rests at %d bridges though %d would carry %.3f on average", label, n, n-1, load/float64(n-1))
	}
	switch n {
	case w.spec.Min:
		w.seen["settled at min"]++
	case w.spec.Max:
		w.seen["settled at max"]++
	default:
		w.seen["settled between"]++
	}
}

// TestTenThousandCycles runs a simulated pool for 10,000 cycles: the load rises and falls,
// conferences start and end on random bridges, bridges turn unhealthy, time passes, and each
// decision is carried out. No bridge with conferences is ever removed unless it is unhealthy or
// its drain timed out; Ready+Starting stays within Min..Max after every step; and every 500
// cycles the load is held still and the pool must come to rest at the target within a bound.
func TestTenThousandCycles(t *testing.T) { simulate(t, 7) }

func simulate(t *testing.T, seed int64) {
	w := &world{t: t, rng: rand.New(rand.NewSource(seed)), now: t0, seen: map[string]int{},
		spec: Spec{Min: 2, Max: 12, TargetStress: 0.6, ScaleDownDelay: 3 * time.Minute, DrainTimeout: 20 * time.Minute}}
	rng := w.rng
	demand, goal := 0, 0
	for cycle := 0; cycle < 10000; cycle++ {
		w.now = w.now.Add(time.Duration(rng.Intn(61)) * time.Second)
		if cycle%300 == 0 {
			// Conferences wanted (about 6 participants each): the load's next level, quiet now and then.
			goal = rng.Intn(130)
			if rng.Intn(4) == 0 {
				goal = rng.Intn(6)
			}
		}
		if demand < goal {
			demand += rng.Intn(4)
		} else if demand > goal {
			demand -= rng.Intn(4)
		}
		total := 0
		for _, b := range w.bridges {
			switch {
			case b.State == Starting && rng.Intn(2) == 0:
				b.State, b.Since = Ready, w.now
			case (b.State == Ready || b.State == Draining) && rng.Intn(3000) == 0:
				b.State, b.Since = Unhealthy, w.now
			}
			b.confs = slices.DeleteFunc(b.confs, func(int) bool { return rng.Intn(60) == 0 })
			for i := range b.confs {
				b.confs[i] = max(1, b.confs[i]+rng.Intn(3)-1)
			}
			total += len(b.confs)
		}
		for ; total < demand; total++ {
			w.place(2 + rng.Intn(9))
		}
		// The calendar: now and then a meeting of up to 300 people in the next 20 minutes; its
		// room opens at its start, or never; some are deleted.
		if rng.Intn(40) == 0 {
			start := w.now.Add(time.Duration(rng.Intn(1200)) * time.Second)
			w.calendar = append(w.calendar, schedule.Meeting{Name: "m-" + strconv.Itoa(cycle), Start: start,
				End: start.Add(time.Duration(10+rng.Intn(50)) * time.Minute), Participants: 1 + rng.Intn(300)})
		}
		for i := range w.calendar {
			if m := &w.calendar[i]; !m.Opened && !w.now.Before(m.Start) && rng.Intn(4) > 0 {
				m.Opened = true
			}
		}
		w.calendar = slices.DeleteFunc(w.calendar, func(m schedule.Meeting) bool { return !w.now.Before(m.End) || rng.Intn(200) == 0 })
		w.step("cycle " + strconv.Itoa(cycle))
		if cycle%500 == 499 {
			// Every scheduled meeting deleted: nothing is held for them, and the pool rests on
			// its load alone.
			w.calendar = nil
			w.settle("settling after cycle " + strconv.Itoa(cycle))
		}
	}
	for _, rule := range []string{"add", "drain", "undrain", "remove empty", "remove timed out", "remove unhealthy", "at max", "settled at min", "settled between", "scheduled"} {
		if w.seen[rule] == 0 {
			t.Errorf("the simulation never exercised %q: %v", rule, w.seen)
		}
	}
	t.Logf("rules exercised: %v", w.seen)
}
