// Command benchprewarm runs the recorder planners (internal/scaling and internal/schedule, the
// code the JibriPool controller runs) against a day's calendar on a simulated clock: meetings
// recorded automatically, scheduled over an hour, and recorders that take a while from pod
// creation to Ready, as real ones do. It prints, with and without prewarming, how many meetings
// started with a Ready recorder, how long the others waited, and the recorder-minutes spent idle.
package main

import (
	"flag"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"time"

	"github.com/jitsi-operator/jitsi-operator/internal/scaling"
	"github.com/jitsi-operator/jitsi-operator/internal/schedule"
)

type meeting struct {
	name       string
	start, end time.Time
	recorder   string // once its recording has a recorder
	waited     time.Duration
	began      bool // its room opened (the recording joined the queue)
}

type recorder struct {
	name       string
	created    time.Time
	ready      bool
	busyFor    string
	terminated bool
}

type figures struct {
	lead                    time.Duration
	readyAtStart, total     int
	waits                   []time.Duration
	idleMinutes, maxRunning float64
}

func main() {
	n := flag.Int("meetings", 100, "meetings scheduled over the hour")
	startup := flag.Duration("startup", 90*time.Second, "a recorder's time from pod creation to Ready")
	leads := flag.String("leads", "0s,60s,120s,180s", "prewarm lead times to compare (0s: off)")
	minIdle := flag.Int("min-idle", 0, "the pool's minIdle")
	maxReplicas := flag.Int("max", 100, "the pool's maxReplicas")
	seed := flag.Int64("seed", 1, "the calendar's random seed")
	flag.Parse()

	fmt.Printf("%d meetings recorded automatically over an hour, 20 to 60 minutes each; recorders Ready %s after creation; minIdle %d, maxReplicas %d, scale-down delay 5m; seed %d\n",
		*n, *startup, *minIdle, *maxReplicas, *seed)
	fmt.Printf("%-8s %-22s %-26s %-22s %s\n", "lead", "started with a recorder", "wait of the others p50/max", "idle recorder-minutes", "recorders at most")
	for _, l := range strings.Split(*leads, ",") {
		lead, err := time.ParseDuration(strings.TrimSpace(l))
		if err != nil {
			panic(err)
		}
		f := simulate(*n, *startup, lead, *minIdle, *maxReplicas, *seed)
		p50, worst := "-", "-"
		if len(f.waits) > 0 {
			slices.Sort(f.waits)
			p50, worst = f.waits[len(f.waits)/2].String(), f.waits[len(f.waits)-1].String()
		}
		fmt.Printf("%-8s %-22s %-26s %-22.0f %.0f\n", lead, fmt.Sprintf("%d of %d", f.readyAtStart, f.total), p50+" / "+worst, f.idleMinutes, f.maxRunning)
	}
}

func simulate(n int, startup, lead time.Duration, minIdle, maxReplicas int, seed int64) figures {
	rng := rand.New(rand.NewSource(seed))
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var ms []*meeting
	for i := range n {
		start := t0.Add(time.Duration(rng.Intn(3600)) * time.Second).Truncate(time.Minute) // meetings start on the minute
		ms = append(ms, &meeting{name: fmt.Sprintf("m-%03d", i), start: start, end: start.Add(time.Duration(20+rng.Intn(41)) * time.Minute)})
	}
	var recs []*recorder
	f := figures{lead: lead, total: n}
	var surplus time.Time
	next := 0
	const tick = 5 * time.Second
	for now := t0.Add(-10 * time.Minute); now.Before(t0.Add(2 * time.Hour)); now = now.Add(tick) {
		// Recorders come up; meetings open at their start and end at their end.
		for _, r := range recs {
			if !r.ready && now.Sub(r.created) >= startup {
				r.ready = true
			}
		}
		queue := 0
		for _, m := range ms {
			if !now.Before(m.end) && m.recorder != "" {
				for _, r := range recs {
					if r.name == m.recorder {
						r.busyFor = ""
					}
				}
				m.recorder = "done"
			}
			if !m.began && !now.Before(m.start) {
				m.began = true
			}
			if m.began && m.recorder == "" {
				// Assigned to a Ready idle recorder, as the pool does.
				for _, r := range recs {
					if r.ready && r.busyFor == "" && !r.terminated {
						r.busyFor, m.recorder = m.name, r.name
						break
					}
				}
				if m.recorder == "" {
					queue++
					continue
				}
				if now.Sub(m.start) < tick {
					f.readyAtStart++
				} else {
					m.waited = now.Sub(m.start)
					f.waits = append(f.waits, m.waited)
				}
			}
		}
		// The pool's plan, as the controller computes it.
		var cal []schedule.Meeting
		for _, m := range ms {
			cal = append(cal, schedule.Meeting{Name: m.name, Start: m.start, End: m.end, Opened: m.began, Began: m.began})
		}
		scheduled := 0
		if lead > 0 {
			scheduled = len(schedule.Recorders(cal, now, schedule.Window{Lead: lead, Grace: 10 * time.Minute}).Meetings)
		}
		var rs []scaling.Recorder
		for _, r := range recs {
			st := scaling.Starting
			switch {
			case r.busyFor != "":
				st = scaling.Busy
			case r.ready:
				st = scaling.Idle
			}
			rs = append(rs, scaling.Recorder{Name: r.name, State: st, CreatedAt: r.created, Terminating: r.terminated})
		}
		d := scaling.Plan(scaling.Pool{Recorders: rs, Queue: queue, Scheduled: scheduled, MinReplicas: 0, MaxReplicas: maxReplicas, MinIdle: minIdle,
			ScaleDownDelay: 5 * time.Minute, SurplusSince: surplus, Now: now})
		surplus = d.SurplusSince
		for _, name := range d.Delete {
			for _, r := range recs {
				if r.name == name && r.busyFor == "" {
					r.terminated = true
				}
			}
		}
		for range d.Create {
			recs = append(recs, &recorder{name: fmt.Sprintf("rec-%d", next), created: now})
			next++
		}
		running := 0
		for _, r := range recs {
			if r.terminated {
				continue
			}
			running++
			if r.busyFor == "" && !now.Before(t0) && now.Before(t0.Add(time.Hour+time.Minute)) {
				f.idleMinutes += tick.Minutes() // idle or starting: paid for, recording nothing
			}
		}
		f.maxRunning = max(f.maxRunning, float64(running))
	}
	return f
}
