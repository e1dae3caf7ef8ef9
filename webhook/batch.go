package webhook

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/events"
)

// MaxQueued is how many accepted events may wait for their Meeting's write at once, over every
// Meeting. An event beyond it is answered 503 Busy, so that its sender retries it later (Prosody
// after a second): the queue's memory is bounded, and nothing accepted is dropped to make room.
const MaxQueued = 20000

// WriteBudget bounds the API server's work on the receiver's writes of accepted events in flight,
// over every Meeting (a write that someone waits for is not counted). A write weighs what it
// costs the API server, which grows with the Meeting: measured, about 3 ms of its CPU for a
// Meeting without participants and 20 ms at 200 (writeWeight); and more writes at once only make
// each slower, while the events waiting meanwhile go into their Meeting's next write anyway. So
// 16 writes of small Meetings run at once, or 3 of 200 participants.
const WriteBudget = 16

// writeWeight is a status write's share of WriteBudget for a Meeting of n participants.
func writeWeight(n int) int64 { return min(1+int64(n)/50, WriteBudget) }

// Queued events are written again after a failure (the API server away, say) with a backoff
// from queuedRetryFirst doubling up to queuedRetryMax, queuedAttempts times in all (about two
// minutes); then they are dropped, logged and counted.
const (
	queuedRetryFirst = 100 * time.Millisecond
	queuedRetryMax   = 30 * time.Second
	queuedAttempts   = 12
)

// errQueueFull: MaxQueued events already wait.
var errQueueFull = errors.New("the receiver's queue of events to store is full")

// batches is the per-Meeting writer. The events for one Meeting that arrive while its status is
// being written go into the next write together, so a burst of joins costs a few writes instead
// of one conflicting write each. A caller either waits for the write that holds its events
// (submit) or hands them over and goes (enqueue): then the writer keeps them until they are
// stored, retrying after a failure.
type batches struct {
	mu      sync.Mutex
	meeting map[string]*batch
	// queued counts the enqueued events not yet stored or dropped; running the drains.
	queued, running int
	// budget is WriteBudget, less the weights of the writes in flight.
	budget *semaphore.Weighted
	once   sync.Once
}

type batch struct {
	pending []waiting
	running bool
}

type waiting struct {
	evs []events.Event
	// done gets the result of the write that holds evs; nil for enqueued events, which are
	// retried after a failure instead.
	done chan result
	// stored is called once the events are stored (enqueued events; nil otherwise).
	stored func(result)
	// attempts counts the failed writes of enqueued events.
	attempts int
	// weight is the write's share of WriteBudget (writeWeight), as its Meeting was when the
	// events came.
	weight int64
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

// writeFunc writes evs to a Meeting's status; a drain runs after its starter has its answer, so
// the write must not depend on a request's context. last is the Meeting as the previous write of the
// same drain left it (nil at first); the write sets it to what it wrote. skipped marks the events
// that did not apply.
type writeFunc func(evs []events.Event, last **jitsiv1alpha1.Meeting) (changed bool, skipped []bool, err error)

// dropFunc is told of enqueued events given up on (their Meeting gone, or every attempt failed),
// whichever caller started the drain that gives up on them.
type dropFunc func(evs []events.Event, err error)

// submit queues evs for the meeting at key and waits until a write holding them returns.
func (b *batches) submit(key string, evs []events.Event, write writeFunc, drop dropFunc) result {
	w := waiting{evs: evs, done: make(chan result, 1)}
	if b.add(key, w) {
		go b.drain(key, write, drop)
	}
	return <-w.done
}

// enqueue queues evs for the meeting at key and returns at once; stored is called when a write
// holding them is stored. weight is the write's share of WriteBudget (writeWeight). It refuses them (errQueueFull) when MaxQueued events already wait.
func (b *batches) enqueue(key string, evs []events.Event, weight int64, write writeFunc, drop dropFunc, stored func(result)) error {
	b.mu.Lock()
	if b.queued+len(evs) > MaxQueued {
		b.mu.Unlock()
		return errQueueFull
	}
	b.queued += len(evs)
	queued.Add(float64(len(evs)))
	b.mu.Unlock()
	if b.add(key, waiting{evs: evs, stored: stored, weight: max(weight, 1)}) {
		go b.drain(key, write, drop)
	}
	return nil
}

// add appends w to key's pending events; true when nobody drains them yet, and the caller must
// start a drain.
func (b *batches) add(key string, w waiting) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.meeting == nil {
		b.meeting = map[string]*batch{}
	}
	q := b.meeting[key]
	if q == nil {
		q = &batch{}
		b.meeting[key] = q
	}
	q.pending = append(q.pending, w)
	if q.running {
		return false
	}
	q.running = true
	b.running++
	return true
}

// drain writes what is pending for key until nothing is, then lets the next caller drain. Each
// write starts from what the previous one wrote: the cache may not have it yet. After a failed
// write the waiting callers get the error; the enqueued events are kept, ahead of those that
// came meanwhile, and written again after a backoff.
func (b *batches) drain(key string, write writeFunc, drop dropFunc) {
	var last *jitsiv1alpha1.Meeting
	var retry []waiting
	for {
		b.mu.Lock()
		q := b.meeting[key]
		taken := append(retry, q.pending...)
		q.pending, retry = nil, nil
		if len(taken) == 0 {
			q.running = false
			b.running--
			delete(b.meeting, key)
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		var all []events.Event
		for _, w := range taken {
			all = append(all, w.evs...)
		}
		// A write someone waits for (the pool's decision, a recorder's report) does not queue
		// behind the writes of events already answered: its callers bound its concurrency.
		waited := slices.ContainsFunc(taken, func(w waiting) bool { return w.done != nil })
		weight := int64(0)
		if !waited {
			for _, w := range taken {
				weight = max(weight, w.weight)
			}
			if last != nil {
				weight = max(weight, writeWeight(len(last.Status.Participants)))
			}
			b.once.Do(func() { b.budget = semaphore.NewWeighted(WriteBudget) })
			_ = b.budget.Acquire(context.Background(), weight) // never fails without a deadline
		}
		changed, skipped, err := write(all, &last)
		if !waited {
			b.budget.Release(weight)
		}
		at, done := 0, 0
		var wait time.Duration
		for _, w := range taken {
			r := result{changed: changed, meeting: last, err: err}
			for range w.evs {
				r.skipped = r.skipped || at < len(skipped) && skipped[at]
				at++
			}
			switch {
			case w.done != nil:
				w.done <- r
			case err == nil:
				w.stored(r)
				done += len(w.evs)
			case apierrors.IsNotFound(err) || w.attempts+1 >= queuedAttempts:
				drop(w.evs, err)
				done += len(w.evs)
			default:
				w.attempts++
				wait = max(wait, backoff(w.attempts))
				retry = append(retry, w)
			}
		}
		b.mu.Lock()
		b.queued -= done
		queued.Sub(float64(done))
		b.mu.Unlock()
		if len(retry) > 0 {
			time.Sleep(wait)
		}
	}
}

// backoff is the wait before the attempt after the n-th failed one.
func backoff(n int) time.Duration {
	d := queuedRetryFirst << (n - 1)
	if d <= 0 || d > queuedRetryMax {
		return queuedRetryMax
	}
	return d
}

// waiting is how many enqueued events are not yet stored or dropped.
func (b *batches) waiting() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.queued
}

// flush waits until no enqueued event waits and no write runs, or ctx ends.
func (b *batches) flush(ctx context.Context) error {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		b.mu.Lock()
		idle := b.queued == 0 && b.running == 0
		b.mu.Unlock()
		if idle {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
