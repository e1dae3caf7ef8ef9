package webhook

import (
	"context"
	"sync"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/events"
)

// MaxWrites is how many Meeting status writes the receiver has in flight at once, over all
// Meetings (each Meeting has at most one).
const MaxWrites = 64

// batches coalesces the events for one Meeting that arrive while its status is being written:
// they go into the next write together, so a burst of joins costs a few writes instead of one
// conflicting write each. Every caller gets its answer only after the write that holds its
// events is stored, and no later: a Meeting's writes run on their own goroutine (the drain), not
// on the caller that happened to come first.
type batches struct {
	mu      sync.Mutex
	meeting map[string]*batch
	// writes bounds the writes in flight (MaxWrites).
	writes chan struct{}
}

type batch struct {
	pending []waiting
	running bool
}

type waiting struct {
	evs  []events.Event
	done chan result
}

type result struct {
	changed bool
	// skipped: some of the caller's events did not apply (a pool decision from a status that
	// moved on: events.Applies).
	skipped bool
	// meeting is the Meeting as the write left it (nil after an error), shared by every caller
	// of that write and by the drain: not to be changed (Server.Decide hands out a copy).
	meeting *jitsiv1alpha1.Meeting
	err     error
}

// writeFunc writes evs to a Meeting's status. last is the Meeting as the previous write of the
// same drain left it (nil at first); the write sets it to what it wrote. skipped marks the events
// that did not apply.
type writeFunc func(evs []events.Event, last **jitsiv1alpha1.Meeting) (changed bool, skipped []bool, err error)

// submit queues evs for the meeting at key and waits until a write holding them returns. While
// it waits, the request it serves gives back its slot of the requests handled at once (ctx,
// inFlight): waiting costs no work, and the more that wait, the more each write carries.
func (b *batches) submit(ctx context.Context, key string, evs []events.Event, write writeFunc) result {
	w := waiting{evs: evs, done: make(chan result, 1)}
	b.mu.Lock()
	if b.meeting == nil {
		b.meeting = map[string]*batch{}
		b.writes = make(chan struct{}, MaxWrites)
	}
	q := b.meeting[key]
	if q == nil {
		q = &batch{}
		b.meeting[key] = q
	}
	q.pending = append(q.pending, w)
	if !q.running {
		q.running = true
		go b.drain(key, q, write)
	}
	b.mu.Unlock()
	giveBackSlot(ctx)
	return <-w.done
}

// drain writes what is pending until nothing is. Each write starts from what the previous one
// wrote: the cache may not have it yet.
func (b *batches) drain(key string, q *batch, write writeFunc) {
	var last *jitsiv1alpha1.Meeting
	for {
		b.mu.Lock()
		taken := q.pending
		q.pending = nil
		if len(taken) == 0 {
			q.running = false
			delete(b.meeting, key)
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		var all []events.Event
		for _, w := range taken {
			all = append(all, w.evs...)
		}
		b.writes <- struct{}{}
		changed, skipped, err := write(all, &last)
		<-b.writes
		at := 0
		for _, w := range taken {
			r := result{changed: changed, meeting: last, err: err}
			for range w.evs {
				r.skipped = r.skipped || at < len(skipped) && skipped[at]
				at++
			}
			w.done <- r
		}
	}
}
