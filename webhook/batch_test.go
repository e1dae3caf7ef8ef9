package webhook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/events"
)

// fakeWrites stands in for the API server behind the writer: it keeps the rooms of the events
// each Meeting's writes stored, in order, and fails or holds writes as told.
type fakeWrites struct {
	mu      sync.Mutex
	stored  map[string][]string
	fail    map[string]int // the next n writes of a Meeting fail with failErr
	failErr error
	hold    chan struct{} // when non-nil, each write waits for it to be closed
	free    string        // but not the writes of this Meeting
	// inFlight and most: writes running now, and the most at once.
	inFlight, most atomic.Int32
}

func (f *fakeWrites) writer(key string) writeFunc {
	return func(evs []events.Event, last **jitsiv1alpha1.Meeting) (bool, []bool, error) {
		n := f.inFlight.Add(1)
		defer f.inFlight.Add(-1)
		for m := f.most.Load(); n > m && !f.most.CompareAndSwap(m, n); m = f.most.Load() {
		}
		if f.hold != nil && key != f.free {
			<-f.hold
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.fail[key] > 0 {
			f.fail[key]--
			return false, nil, f.failErr
		}
		if f.stored == nil {
			f.stored = map[string][]string{}
		}
		for _, e := range evs {
			f.stored[key] = append(f.stored[key], e.Room)
		}
		*last = &jitsiv1alpha1.Meeting{}
		return true, make([]bool, len(evs)), nil
	}
}

func (f *fakeWrites) of(key string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.stored[key])
}

func ev(name string) []events.Event { return []events.Event{{Kind: events.OccupantJoined, Room: name}} }

func flushWithin(t *testing.T, b *batches, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := b.flush(ctx); err != nil {
		t.Fatalf("the writer did not finish: %v (%d events waiting)", err, b.waiting())
	}
}

func TestEnqueueReturnsBeforeTheWriteAndStoresEverything(t *testing.T) {
	f := &fakeWrites{hold: make(chan struct{})}
	var b batches
	var stored atomic.Int32
	for i := range 50 {
		err := b.enqueue("ns/m", ev(fmt.Sprint(i)), 1, f.writer("ns/m"), func([]events.Event, error) { t.Error("dropped") },
			func(result) { stored.Add(1) })
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := b.waiting(); got != 50 {
		t.Fatalf("%d events waiting while the write is held, want 50", got)
	}
	close(f.hold)
	flushWithin(t, &b, 5*time.Second)
	want := make([]string, 50)
	for i := range want {
		want[i] = fmt.Sprint(i)
	}
	if got := f.of("ns/m"); !slices.Equal(got, want) {
		t.Fatalf("stored %v, want every event in the order accepted", got)
	}
	if stored.Load() != 50 || b.waiting() != 0 {
		t.Fatalf("%d told stored, %d still waiting", stored.Load(), b.waiting())
	}
}

func TestEnqueuedEventsAreWrittenAgainAfterAFailureAheadOfLaterOnes(t *testing.T) {
	f := &fakeWrites{fail: map[string]int{"ns/m": 2}, failErr: apierrors.NewServiceUnavailable("etcd is away")}
	var b batches
	var waiter result
	var wg sync.WaitGroup
	wg.Add(1)
	f.hold = make(chan struct{})
	if err := b.enqueue("ns/m", ev("first"), 1, f.writer("ns/m"), func([]events.Event, error) { t.Error("dropped") }, func(result) {}); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer wg.Done()
		// A caller that waits for its write (the pool's decisions) shares the failed one.
		waiter = b.submit("ns/m", ev("waited"), f.writer("ns/m"), func([]events.Event, error) {})
	}()
	for b.waiting() != 1 || !pending(&b, "ns/m", 1) {
		time.Sleep(time.Millisecond)
	}
	close(f.hold)
	wg.Wait()
	if waiter.err == nil {
		t.Fatal("the waiting caller was told its failed write was stored")
	}
	if err := b.enqueue("ns/m", ev("later"), 1, f.writer("ns/m"), func([]events.Event, error) { t.Error("dropped") }, func(result) {}); err != nil {
		t.Fatal(err)
	}
	flushWithin(t, &b, 10*time.Second)
	if got := f.of("ns/m"); !slices.Equal(got, []string{"first", "later"}) {
		t.Fatalf("stored %v, want the failed event first, then the later one (the waiting caller's not retried)", got)
	}
}

// pending is whether n callers wait behind key's running write.
func pending(b *batches, key string, n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.meeting[key]
	return q != nil && len(q.pending) == n
}

func TestEnqueuedEventsOfAGoneMeetingAreDroppedNotRetried(t *testing.T) {
	gone := apierrors.NewNotFound(schema.GroupResource{Group: "jitsi.example.com", Resource: "meetings"}, "m")
	f := &fakeWrites{fail: map[string]int{"ns/m": 1}, failErr: gone}
	var b batches
	var dropped []events.Event
	var dropErr error
	err := b.enqueue("ns/m", ev("orphan"), 1, f.writer("ns/m"), func(evs []events.Event, err error) { dropped, dropErr = evs, err },
		func(result) { t.Error("told stored") })
	if err != nil {
		t.Fatal(err)
	}
	flushWithin(t, &b, 5*time.Second)
	if len(dropped) != 1 || !apierrors.IsNotFound(dropErr) || len(f.of("ns/m")) != 0 || b.waiting() != 0 {
		t.Fatalf("dropped %v (%v), stored %v, %d waiting", dropped, dropErr, f.of("ns/m"), b.waiting())
	}
}

func TestAFullQueueRefusesEventsUntilItDrains(t *testing.T) {
	f := &fakeWrites{hold: make(chan struct{})}
	var b batches
	chunk := make([]events.Event, 1000)
	for i := 0; i < MaxQueued/len(chunk); i++ {
		key := fmt.Sprintf("ns/m-%d", i%7)
		if err := b.enqueue(key, chunk, 1, f.writer(key), func([]events.Event, error) { t.Error("dropped") }, func(result) {}); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
	}
	err := b.enqueue("ns/other", ev("one too many"), 1, f.writer("ns/other"), func([]events.Event, error) {}, func(result) {})
	if !errors.Is(err, errQueueFull) {
		t.Fatalf("event %d: %v, want errQueueFull", MaxQueued+1, err)
	}
	close(f.hold)
	flushWithin(t, &b, 10*time.Second)
	if err := b.enqueue("ns/other", ev("now"), 1, f.writer("ns/other"), func([]events.Event, error) {}, func(result) {}); err != nil {
		t.Fatalf("after the queue drained: %v", err)
	}
	flushWithin(t, &b, 5*time.Second)
	if got := f.of("ns/other"); !slices.Equal(got, []string{"now"}) {
		t.Fatalf("stored %v", got)
	}
}

func TestTheWritesInFlightWeighNoMoreThanTheBudget(t *testing.T) {
	for _, c := range []struct {
		participants int
		want         int32 // writes at once
	}{{0, WriteBudget}, {200, WriteBudget / 5}} {
		f := &fakeWrites{hold: make(chan struct{})}
		var b batches
		for i := range 40 {
			key := fmt.Sprintf("ns/m-%02d", i)
			if err := b.enqueue(key, ev(key), writeWeight(c.participants), f.writer(key), func([]events.Event, error) { t.Error("dropped") }, func(result) {}); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(50 * time.Millisecond) // let every drain reach its write
		if n := f.inFlight.Load(); n != c.want {
			t.Errorf("%d participants: %d writes in flight for 40 Meetings, want %d", c.participants, n, c.want)
		}
		close(f.hold)
		flushWithin(t, &b, 5*time.Second)
		if f.most.Load() > c.want {
			t.Errorf("%d participants: %d writes ran at once, want at most %d", c.participants, f.most.Load(), c.want)
		}
		for i := range 40 {
			if key := fmt.Sprintf("ns/m-%02d", i); len(f.of(key)) != 1 {
				t.Fatalf("%s: stored %v", key, f.of(key))
			}
		}
	}
}

func TestBackoffDoublesUpToItsCap(t *testing.T) {
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}
	for i, w := range want {
		if got := backoff(i + 1); got != w {
			t.Errorf("after failure %d: %s, want %s", i+1, got, w)
		}
	}
	if got := backoff(60); got != queuedRetryMax {
		t.Errorf("after failure 60: %s, want the cap %s", got, queuedRetryMax)
	}
	total := time.Duration(0)
	for n := 1; n < queuedAttempts; n++ {
		total += backoff(n)
	}
	if total < time.Minute || total > 3*time.Minute {
		t.Errorf("the attempts span %s, documented as about two minutes", total)
	}
}

func TestAWriteSomeoneWaitsForTakesNoSlot(t *testing.T) {
	f := &fakeWrites{hold: make(chan struct{}), free: "ns/decided"}
	defer close(f.hold)
	var b batches
	for i := range WriteBudget * 2 {
		key := fmt.Sprintf("ns/m-%02d", i)
		if err := b.enqueue(key, ev(key), 1, f.writer(key), func([]events.Event, error) {}, func(result) {}); err != nil {
			t.Fatal(err)
		}
	}
	for f.inFlight.Load() != WriteBudget {
		time.Sleep(time.Millisecond)
	}
	done := make(chan result, 1)
	go func() {
		done <- b.submit("ns/decided", ev("decision"), f.writer("ns/decided"), func([]events.Event, error) {})
	}()
	select {
	case r := <-done:
		if r.err != nil || !slices.Equal(f.of("ns/decided"), []string{"decision"}) {
			t.Fatalf("%v, stored %v", r.err, f.of("ns/decided"))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the pool's decision waited behind the writes of events already answered")
	}
}
