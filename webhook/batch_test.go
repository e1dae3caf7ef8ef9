package webhook

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/events"
)

// joins is n joins of distinct people, for the batches' tests (their content is not read).
func joins(n int, who string) []events.Event {
	evs := make([]events.Event, n)
	for i := range evs {
		evs[i] = events.Event{Kind: events.OccupantJoined, Occupant: &events.Occupant{Key: fmt.Sprintf("%s-%d", who, i)}}
	}
	return evs
}

func TestBatchesAnswerEachCallerWhenItsOwnWriteReturns(t *testing.T) {
	var b batches
	firstStarted, releaseFirst := make(chan struct{}), make(chan struct{})
	secondStarted, releaseSecond := make(chan struct{}), make(chan struct{})
	var writes [][]events.Event
	var mu sync.Mutex
	write := func(evs []events.Event, last **jitsiv1alpha1.Meeting) (bool, []bool, error) {
		mu.Lock()
		writes = append(writes, evs)
		n := len(writes)
		mu.Unlock()
		if n == 1 {
			close(firstStarted)
			<-releaseFirst
		} else {
			close(secondStarted)
			<-releaseSecond
		}
		*last = &jitsiv1alpha1.Meeting{}
		return true, make([]bool, len(evs)), nil
	}
	first := make(chan result, 1)
	go func() { first <- b.submit(context.Background(), "ns/m", joins(1, "a"), write) }()
	<-firstStarted
	// Two more callers while the first write runs: they go into the next write together.
	var wg sync.WaitGroup
	later := make(chan result, 2)
	for _, who := range []string{"b", "c"} {
		wg.Add(1)
		go func() { defer wg.Done(); later <- b.submit(context.Background(), "ns/m", joins(2, who), write) }()
	}
	waitFor(t, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.meeting["ns/m"].pending) == 2
	})
	close(releaseFirst)
	<-secondStarted
	// The first caller is answered while the write it has nothing in is still running.
	select {
	case r := <-first:
		if r.err != nil || !r.changed {
			t.Fatalf("first caller: %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first caller was not answered while a later write ran")
	}
	select {
	case r := <-later:
		t.Fatalf("a caller of the running write answered before it returned: %+v", r)
	default:
	}
	close(releaseSecond)
	wg.Wait()
	if len(later) != 2 {
		t.Fatalf("%d of the 2 later callers answered", len(later))
	}
	if len(writes) != 2 || len(writes[0]) != 1 || len(writes[1]) != 4 {
		t.Fatalf("writes of %v events, want one of 1 then one of 4", lens(writes))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.meeting) != 0 {
		t.Fatalf("%d drains left behind", len(b.meeting))
	}
}

func TestBatchesBoundTheWritesInFlight(t *testing.T) {
	var b batches
	var now, most atomic.Int32
	release := make(chan struct{})
	write := func(evs []events.Event, last **jitsiv1alpha1.Meeting) (bool, []bool, error) {
		n := now.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		<-release
		now.Add(-1)
		return true, make([]bool, len(evs)), nil
	}
	var wg sync.WaitGroup
	for i := range 2 * MaxWrites {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.submit(context.Background(), fmt.Sprintf("ns/m%d", i), joins(1, "a"), write)
		}()
	}
	waitFor(t, func() bool { return now.Load() == MaxWrites })
	// Give the others the time to start a write they may not.
	time.Sleep(100 * time.Millisecond)
	close(release)
	wg.Wait()
	if got := most.Load(); got != MaxWrites {
		t.Fatalf("%d writes in flight at most, want %d", got, MaxWrites)
	}
}

func TestAWaitingRequestGivesBackItsSlot(t *testing.T) {
	// One slot: a request that waits for its write must not keep the next one out.
	var b batches
	written := make(chan struct{})
	write := func(evs []events.Event, last **jitsiv1alpha1.Meeting) (bool, []bool, error) {
		<-written
		return true, make([]bool, len(evs)), nil
	}
	h := make(inFlight, 1).wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/store" {
			b.submit(r.Context(), "ns/m", joins(1, "a"), write)
		}
		w.WriteHeader(http.StatusOK)
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	stored := make(chan int, 1)
	go func() {
		resp, err := http.Get(srv.URL + "/store")
		if err != nil {
			t.Error(err)
			stored <- 0
			return
		}
		resp.Body.Close()
		stored <- resp.StatusCode
	}()
	waitFor(t, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.meeting) == 1
	})
	resp, err := http.Get(srv.URL + "/other")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a request while the only slot's holder waits for its write: %d, want 200", resp.StatusCode)
	}
	close(written)
	if code := <-stored; code != http.StatusOK {
		t.Fatalf("the waiting request answered %d", code)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(time.Millisecond)
	}
}

func lens(writes [][]events.Event) []int {
	var n []int
	for _, w := range writes {
		n = append(n, len(w))
	}
	return n
}
