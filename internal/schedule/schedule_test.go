package schedule

import (
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func TestRecorders(t *testing.T) {
	w := Window{Lead: 2 * time.Minute, Grace: 10 * time.Minute}
	ms := []Meeting{
		{Name: "all-hands", Start: t0.Add(time.Minute), End: t0.Add(time.Hour)},
		{Name: "later", Start: t0.Add(10 * time.Minute)},
		{Name: "recording", Start: t0.Add(-time.Minute), Opened: true, Began: true},
		{Name: "no-show", Start: t0.Add(-11 * time.Minute)},
		{Name: "waiting", Start: t0.Add(-20 * time.Minute), Opened: true},
		{Name: "over", Start: t0.Add(-time.Hour), Opened: true, Ended: true},
		{Name: "past-end", Start: t0.Add(-2 * time.Hour), End: t0, Opened: true},
	}
	d := Recorders(ms, t0, w)
	if want := []string{"waiting", "all-hands"}; !slices.Equal(d.Meetings, want) {
		t.Errorf("meetings %v, want %v", d.Meetings, want)
	}
	// The next change: "later" enters its lead time at 9:08 (all-hands' grace ends 9:11, its end 10:00).
	if want := t0.Add(8 * time.Minute); !d.Next.Equal(want) {
		t.Errorf("next change %v, want %v", d.Next, want)
	}
	if d := Recorders(ms, t0.Add(8*time.Minute), w); !slices.Contains(d.Meetings, "later") {
		t.Errorf("at its lead time: %v", d.Meetings)
	}
	if d := Recorders(ms[:1], t0.Add(11*time.Minute), w); len(d.Meetings) != 0 || !d.Next.IsZero() {
		t.Errorf("a room not opened by the end of its grace still counts: %+v", d)
	}
	if d := Recorders(nil, t0, w); len(d.Meetings) != 0 || !d.Next.IsZero() {
		t.Errorf("no meetings: %+v", d)
	}
}

func TestBridges(t *testing.T) {
	w := Window{Lead: 5 * time.Minute, Grace: 10 * time.Minute}
	ms := []Meeting{
		{Name: "town-hall", Start: t0.Add(3 * time.Minute), Participants: 250},
		{Name: "board", Start: t0.Add(-30 * time.Minute), Opened: true, Participants: 12, End: t0.Add(30 * time.Minute)},
		{Name: "unsized", Start: t0.Add(time.Minute)},
		{Name: "next-week", Start: t0.Add(7 * 24 * time.Hour), Participants: 1000},
	}
	up, run := Upcoming(ms, t0, w), Running(ms, t0)
	if up.Participants != 250 || !slices.Equal(up.Meetings, []string{"town-hall"}) {
		t.Errorf("upcoming %+v", up)
	}
	if run.Participants != 12 || !slices.Equal(run.Meetings, []string{"board"}) || !run.Next.Equal(t0.Add(30*time.Minute)) {
		t.Errorf("running %+v", run)
	}
	both := run.And(up)
	if both.Participants != 262 || !slices.Equal(both.Meetings, []string{"board", "town-hall"}) || !both.Next.Equal(up.Next) {
		t.Errorf("running and upcoming %+v (upcoming's next change %v)", both, up.Next)
	}
	if d := (Demand{Next: t0.Add(time.Hour)}).And(Demand{}); !d.Next.Equal(t0.Add(time.Hour)) {
		t.Errorf("a next change against none: %v", d.Next)
	}
	if d := (Demand{}).And(Demand{Next: t0.Add(time.Hour)}); !d.Next.Equal(t0.Add(time.Hour)) {
		t.Errorf("no next change against one: %v", d.Next)
	}
	if got := Bridges(up.Participants, 100); got != 3 {
		t.Errorf("250 participants at 100 a bridge: %d bridges", got)
	}
	if Bridges(0, 100) != 0 || Bridges(1, 100) != 1 || Bridges(100, 100) != 1 || Bridges(5, 0) != 0 {
		t.Error("Bridges rounds up and wants none for nobody")
	}
}
