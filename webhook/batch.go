package webhook

import (
	"sync"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/events"
)

// batches coalesces the events for one Meeting that arrive while its status is being written:
// they go into the next write together, so a burst of joins costs a few writes instead of one
// conflicting write each. Every caller gets its answer only after the write that holds its
// events is stored.
type batches struct {
	mu      sync.Mutex
	meeting map[string]*batch
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
	err     error
}

// writeFunc writes evs to a Meeting's status. last is the Meeting as the previous write of the
// same drain left it (nil at first); the write sets it to what it wrote.
type writeFunc func(evs []events.Event, last **jitsiv1alpha1.Meeting) (bool, error)

// submit queues evs for the meeting at key and waits until a write holding them returns.
func (b *batches) submit(key string, evs []events.Event, write writeFunc) (bool, error) {
	w := waiting{evs: evs, done: make(chan result, 1)}
	b.mu.Lock()
	if b.meeting == nil {
		b.meeting = map[string]*batch{}
	}
	q := b.meeting[key]
	if q == nil {
		q = &batch{}
		b.meeting[key] = q
	}
	q.pending = append(q.pending, w)
	run := !q.running
	q.running = true
	b.mu.Unlock()
	if run {
		b.drain(key, q, write)
	}
	r := <-w.done
	return r.changed, r.err
}

// drain writes what is pending until nothing is, then lets the next caller drain. Each write
// starts from what the previous one wrote: the cache may not have it yet.
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
		changed, err := write(all, &last)
		for _, w := range taken {
			w.done <- result{changed: changed, err: err}
		}
	}
}
