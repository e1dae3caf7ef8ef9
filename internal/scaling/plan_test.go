package scaling

import (
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitsi-operator/jitsi-operator/internal/schedule"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func pool(states ...State) Pool {
	p := Pool{MinReplicas: 1, MaxReplicas: 10, MinIdle: 1, ScaleDownDelay: 5 * time.Minute, Now: t0}
	for i, s := range states {
		p.Recorders = append(p.Recorders, Recorder{Name: fmt.Sprintf("jibri-%d", i), State: s, CreatedAt: t0.Add(time.Duration(i) * time.Minute)})
	}
	return p
}

func TestScaleUpAtOnce(t *testing.T) {
	p := pool(Busy, Busy)
	p.Queue = 3
	d := Plan(p)
	if d.Desired != 6 || d.Create != 4 || len(d.Delete) != 0 {
		t.Errorf("%+v", d)
	}
}

func TestMaxBoundsTheQueue(t *testing.T) {
	p := pool(Busy)
	p.Queue, p.MaxReplicas = 20, 4
	if d := Plan(p); d.Desired != 4 || d.Create != 3 {
		t.Errorf("%+v", d)
	}
}

func TestScaleDownWaitsThenTakesIdleOnly(t *testing.T) {
	p := pool(Busy, Idle, Idle, Idle, Starting) // desired 1 busy + 1 idle = 2; 5 live
	d := Plan(p)
	if len(d.Delete) != 0 || d.RequeueAfter != 5*time.Minute || !d.SurplusSince.Equal(t0) {
		t.Fatalf("scaled down at once: %+v", d)
	}
	p.SurplusSince, p.Now = d.SurplusSince, t0.Add(5*time.Minute)
	d = Plan(p)
	// The starting one first, then the newest idle ones.
	if !slices.Equal(d.Delete, []string{"jibri-4", "jibri-3", "jibri-2"}) {
		t.Errorf("deleted %v", d.Delete)
	}
}

func TestBrokenRecordersAreReplaced(t *testing.T) {
	d := Plan(pool(Busy, Expired, Unhealthy))
	if !slices.Equal(d.Delete, []string{"jibri-1", "jibri-2"}) || d.Create != 1 {
		t.Errorf("%+v", d)
	}
}

func TestShrinkingMaxNeverTakesABusyRecorder(t *testing.T) {
	p := pool(Busy, Busy, Busy, Idle)
	p.MaxReplicas, p.MinIdle = 1, 0
	p.SurplusSince = t0.Add(-time.Hour)
	d := Plan(p)
	if !slices.Equal(d.Delete, []string{"jibri-3"}) || d.SurplusSince.IsZero() {
		t.Errorf("%+v: only the idle one goes; the busy ones when their recordings end", d)
	}
}

// TestTenThousandCycles runs a simulated pool: demand comes and goes, recorders start, turn busy
// and idle, expire and die; each cycle the decision is carried out. No busy recorder is ever
// chosen, and once demand holds still past the delay the pool has exactly the formula's size.
func TestTenThousandCycles(t *testing.T) {
	rng := rand.New(rand.NewSource(42))
	p := Pool{MinReplicas: 1, MaxReplicas: 12, MinIdle: 2, ScaleDownDelay: 3 * time.Minute, Now: t0}
	next := 0
	// A calendar: meetings scheduled ahead, each recorded automatically; at its start its room
	// opens (or not), and its recording joins the queue; a meeting may be deleted at any time.
	window := schedule.Window{Lead: 2 * time.Minute, Grace: 5 * time.Minute}
	var calendar []schedule.Meeting
	scheduledCycles := 0
	for cycle := 0; cycle < 10000; cycle++ {
		p.Now = p.Now.Add(time.Duration(rng.Intn(60)) * time.Second)
		// The world moves.
		p.Queue = max(0, p.Queue+rng.Intn(3)-1)
		if rng.Intn(10) == 0 {
			calendar = append(calendar, schedule.Meeting{Name: fmt.Sprintf("m-%d", cycle),
				Start: p.Now.Add(time.Duration(rng.Intn(600)) * time.Second), End: p.Now.Add(time.Hour)})
		}
		for i := range calendar {
			m := &calendar[i]
			if !m.Began && !p.Now.Before(m.Start) && rng.Intn(3) > 0 {
				m.Opened, m.Began, p.Queue = true, true, p.Queue+1
			}
		}
		if len(calendar) > 0 && rng.Intn(20) == 0 {
			i := rng.Intn(len(calendar))
			calendar = slices.Delete(calendar, i, i+1)
		}
		p.Scheduled = len(schedule.Recorders(calendar, p.Now, window).Meetings)
		if p.Scheduled > 0 {
			scheduledCycles++
		}
		for i := range p.Recorders {
			r := &p.Recorders[i]
			switch x := rng.Intn(20); {
			case r.State == Starting && x < 10:
				r.State = Idle
			case r.State == Idle && x < 4 && p.Queue > 0:
				r.State, p.Queue = Busy, p.Queue-1
			case r.State == Busy && x < 3:
				r.State = Idle
			case x == 19 && rng.Intn(50) == 0:
				r.State = Expired
			}
		}
		if len(p.Recorders) > 0 && rng.Intn(200) == 0 { // a pod dies
			i := rng.Intn(len(p.Recorders))
			p.Recorders = slices.Delete(p.Recorders, i, i+1)
		}

		d := Plan(p)
		busy := map[string]bool{}
		for _, r := range p.Recorders {
			if r.State == Busy {
				busy[r.Name] = true
			}
		}
		for _, name := range d.Delete {
			if busy[name] {
				t.Fatalf("cycle %d: chose busy recorder %s", cycle, name)
			}
		}
		p.Recorders = slices.DeleteFunc(p.Recorders, func(r Recorder) bool { return slices.Contains(d.Delete, r.Name) })
		for i := 0; i < d.Create; i++ {
			p.Recorders = append(p.Recorders, Recorder{Name: fmt.Sprintf("jibri-%d", next), State: Starting, CreatedAt: p.Now})
			next++
		}
		p.SurplusSince = d.SurplusSince
		// Never below what the schedule asks while it lasts: a recorder for each scheduled
		// meeting on top of the busy ones (within max).
		live := 0
		for _, r := range p.Recorders {
			if r.State != Expired && r.State != Unhealthy {
				live++
			}
		}
		if want := min(len(busy)+p.Scheduled, p.MaxReplicas); live < want {
			t.Fatalf("cycle %d: %d recorders for %d busy and %d scheduled meetings", cycle, live, len(busy), p.Scheduled)
		}
	}

	if scheduledCycles < 1000 {
		t.Fatalf("only %d cycles had scheduled meetings", scheduledCycles)
	}
	// Every meeting of the calendar is deleted: nothing is held for them.
	calendar, p.Scheduled = nil, len(schedule.Recorders(nil, p.Now, window).Meetings)

	// Demand holds still: no queue, recorders settle idle or busy, time passes the delay.
	p.Queue = 0
	for i := range p.Recorders {
		if p.Recorders[i].State == Starting || p.Recorders[i].State == Expired {
			p.Recorders[i].State = Idle
		}
	}
	for step := 0; step < 3; step++ {
		p.Now = p.Now.Add(p.ScaleDownDelay)
		d := Plan(p)
		p.Recorders = slices.DeleteFunc(p.Recorders, func(r Recorder) bool { return slices.Contains(d.Delete, r.Name) })
		for i := 0; i < d.Create; i++ {
			p.Recorders = append(p.Recorders, Recorder{Name: fmt.Sprintf("jibri-%d", next), State: Idle, CreatedAt: p.Now})
			next++
		}
		p.SurplusSince = d.SurplusSince
	}
	busy := 0
	for _, r := range p.Recorders {
		if r.State == Busy {
			busy++
		}
	}
	if want := clamp(busy+p.MinIdle, p.MinReplicas, p.MaxReplicas); len(p.Recorders) != max(want, busy) {
		t.Errorf("settled at %d recorders (%d busy), want %d", len(p.Recorders), busy, want)
	}
}

func TestCardsAreNeverShared(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for round := 0; round < 500; round++ {
		cards := map[string]int{}
		used := map[string][]int{}
		total := 0
		for n := 0; n < 1+rng.Intn(8); n++ {
			name := fmt.Sprintf("node-%d", n)
			cards[name] = rng.Intn(6)
			total += cards[name]
			for i := 0; i < cards[name]; i++ {
				if rng.Intn(3) == 0 {
					used[name] = append(used[name], i)
				}
			}
		}
		free := total
		for _, u := range used {
			free -= len(u)
		}
		want := rng.Intn(total + 3)
		got := AssignCards(want, cards, used)
		if len(got) != min(want, free) {
			t.Fatalf("round %d: %d assigned, want %d (free %d)", round, len(got), min(want, free), free)
		}
		for _, c := range got {
			if c.Index >= cards[c.Node] || slices.Contains(used[c.Node], c.Index) {
				t.Fatalf("round %d: card %+v is taken or does not exist", round, c)
			}
			used[c.Node] = append(used[c.Node], c.Index)
		}
	}
}

func TestScheduledMeetingsWantIdleRecorders(t *testing.T) {
	p := pool(Busy)
	p.MinIdle, p.Scheduled = 0, 2
	if d := Plan(p); d.Desired != 3 || d.Create != 2 || !strings.Contains(d.Reason, "2 for scheduled meetings") {
		t.Errorf("one busy, two scheduled: %+v", d)
	}
	p.Scheduled = 0
	p.Recorders = append(p.Recorders, Recorder{Name: "jibri-8", State: Idle}, Recorder{Name: "jibri-9", State: Idle})
	d := Plan(p)
	if d.Desired != 1 || len(d.Delete) != 0 || d.RequeueAfter != p.ScaleDownDelay {
		t.Errorf("the schedule gone: the two idle wait the scale-down delay: %+v", d)
	}
}
