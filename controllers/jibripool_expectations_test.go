package controllers

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

func expectedPod(name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)}}
}

func names(pods []*corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		s := p.Name
		if !p.DeletionTimestamp.IsZero() {
			s += " (terminating)"
		}
		out = append(out, s)
	}
	return out
}

func TestPodExpectations(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	key := types.NamespacedName{Namespace: "ns", Name: "rec"}
	var e podExpectations
	a, b := expectedPod("rec-a"), expectedPod("rec-b")

	// Created, not in the cache yet: counted; once the cache lists it, forgotten.
	e.created(key, "pool", a, false, t0)
	if got, unsure := e.view(key, "pool", nil, t0); fmt.Sprint(names(got)) != "[rec-a]" || unsure != nil {
		t.Errorf("before the cache: %v, unsure %v", names(got), unsure)
	}
	if got, _ := e.view(key, "pool", []*corev1.Pod{a}, t0); fmt.Sprint(names(got)) != "[rec-a]" {
		t.Errorf("in the cache: %v", names(got))
	}
	if len(e.pools) != 0 {
		t.Errorf("still remembered once the cache showed it: %v", e.pools)
	}

	// Deleted, still alive in the cache: terminating; the cache's copy is left alone.
	e.deleted(key, "pool", a.UID, t0)
	got, _ := e.view(key, "pool", []*corev1.Pod{a, b}, t0)
	if fmt.Sprint(names(got)) != "[rec-a (terminating) rec-b]" || !a.DeletionTimestamp.IsZero() {
		t.Errorf("deleted: %v (cache's copy terminating: %v)", names(got), !a.DeletionTimestamp.IsZero())
	}
	if got, _ := e.view(key, "pool", []*corev1.Pod{b}, t0); fmt.Sprint(names(got)) != "[rec-b]" || len(e.pools) != 0 {
		t.Errorf("gone from the cache: %v, remembered %v", names(got), e.pools)
	}

	// An unsure create is asked about, not counted, until resolved.
	e.created(key, "pool", a, true, t0)
	if got, unsure := e.view(key, "pool", nil, t0); len(got) != 0 || fmt.Sprint(unsure) != "[rec-a]" {
		t.Errorf("unsure: %v, unsure %v", names(got), unsure)
	}
	e.resolve(key, "pool", "rec-a", a, t0)
	if got, unsure := e.view(key, "pool", nil, t0); fmt.Sprint(names(got)) != "[rec-a]" || unsure != nil {
		t.Errorf("resolved as stored: %v, unsure %v", names(got), unsure)
	}
	e.created(key, "pool", b, true, t0)
	e.resolve(key, "pool", "rec-b", nil, t0)
	if got, _ := e.view(key, "pool", nil, t0); fmt.Sprint(names(got)) != "[rec-a]" {
		t.Errorf("resolved as not stored: %v", names(got))
	}

	// A pool deleted and created again under its name starts afresh; so does one forgotten.
	if got, _ := e.view(key, "pool-again", nil, t0); len(got) != 0 {
		t.Errorf("another pool of that name: %v", names(got))
	}
	e.created(key, "pool", a, false, t0)
	e.forget(key)
	if got, _ := e.view(key, "pool", nil, t0); len(got) != 0 {
		t.Errorf("forgotten: %v", names(got))
	}

	// A write the cache never shows is dropped after the timeout.
	e.created(key, "pool", a, false, t0)
	if got, _ := e.view(key, "pool", nil, t0.Add(expectationTimeout+time.Second)); len(got) != 0 || len(e.pools) != 0 {
		t.Errorf("after the timeout: %v", names(got))
	}
}

func TestCreateRefused(t *testing.T) {
	pods := schema.GroupResource{Resource: "pods"}
	cases := []struct {
		err     error
		refused bool
	}{
		{apierrors.NewAlreadyExists(pods, "rec-a"), true},
		{apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, "rec-a", nil), true},
		{apierrors.NewForbidden(pods, "rec-a", errors.New("quota")), true},
		{apierrors.NewTooManyRequests("slow down", 1), true},
		{apierrors.NewTimeoutError("timeout", 1), false},
		{apierrors.NewServerTimeout(pods, "create", 1), false},
		{apierrors.NewInternalError(errors.New("etcd")), false},
		{fmt.Errorf("post: %w", errors.New("connection reset by peer")), false},
	}
	for _, tc := range cases {
		if got := createRefused(tc.err); got != tc.refused {
			t.Errorf("%v: refused %v, want %v", tc.err, got, tc.refused)
		}
	}
}

// TestExpectationsNeverCreateTwice plays a pool against a cache that lags the API server by a
// random number of writes, with creates that fail (refused, or unsure whether stored), and
// checks after every reconcile that the API server never holds more pods than wanted, and holds
// exactly as many when no create failed.
func TestExpectationsNeverCreateTwice(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0))
		key := types.NamespacedName{Namespace: "ns", Name: "rec"}
		var e podExpectations
		api := map[string]*corev1.Pod{}
		// log is every write to the API server; the cache has applied the first seen of them.
		type write struct {
			pod     *corev1.Pod
			deleted bool
		}
		var log []write
		seen := 0
		cache := map[string]*corev1.Pod{}
		now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		next := 0
		wanted := 0
		for step := 0; step < 300; step++ {
			now = now.Add(time.Second)
			if rng.IntN(5) == 0 {
				wanted = rng.IntN(6)
			}
			// The cache catches up by a few writes.
			for n := rng.IntN(4); n > 0 && seen < len(log); n-- {
				w := log[seen]
				seen++
				if w.deleted {
					delete(cache, w.pod.Name)
				} else {
					cache[w.pod.Name] = w.pod
				}
			}
			var cached []*corev1.Pod
			for _, p := range cache {
				cached = append(cached, p)
			}
			pods, unsure := e.view(key, "pool", cached, now)
			for _, name := range unsure {
				p := api[name]
				e.resolve(key, "pool", name, p, now)
				if p != nil {
					pods = append(pods, p)
				}
			}
			var live []*corev1.Pod
			for _, p := range pods {
				if p.DeletionTimestamp.IsZero() {
					live = append(live, p)
				}
			}
			failed := false
			for i := len(live); i < wanted; i++ {
				next++
				p := expectedPod(fmt.Sprintf("rec-%d", next))
				switch rng.IntN(10) {
				case 0: // refused: nothing stored
					failed = true
				case 1: // timed out, and stored
					api[p.Name] = p
					log = append(log, write{pod: p})
					e.created(key, "pool", p, true, now)
				case 2: // timed out, and not stored
					failed = true
					e.created(key, "pool", p, true, now)
				default:
					api[p.Name] = p
					log = append(log, write{pod: p})
					e.created(key, "pool", p, false, now)
				}
			}
			for i := wanted; i < len(live); i++ {
				p := live[i]
				if _, ok := api[p.Name]; ok {
					delete(api, p.Name)
					log = append(log, write{pod: p, deleted: true})
				}
				e.deleted(key, "pool", p.UID, now)
			}
			if len(api) > wanted || !failed && len(api) != wanted {
				t.Fatalf("seed %d, step %d: %d pods on the API server, %d wanted (the pool counted %d live)", seed, step, len(api), wanted, len(live))
			}
		}
	}
}

func TestStatusWrites(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var w statusWrites[string]
	if _, ok := w.pending("m", "1"); ok {
		t.Error("pending before any write")
	}
	// Written over version 1: while the cache still shows 1, the write is what the object holds.
	w.wrote("m", "1", "queued", t0)
	if s, ok := w.pending("m", "1"); !ok || s != "queued" {
		t.Errorf("the cache at the version written over: %q, %v", s, ok)
	}
	// The cache moved on (to the write, or past it): the cache is to be believed again.
	if _, ok := w.pending("m", "2"); ok {
		t.Error("pending once the cache moved on")
	}
	if _, ok := w.pending("m", "1"); ok {
		t.Error("remembered after the cache moved on")
	}
	// Writes never looked at again are dropped after the timeout.
	w.wrote("a", "1", "x", t0)
	w.wrote("b", "1", "y", t0.Add(expectationTimeout+2*time.Minute))
	if _, ok := w.objects["a"]; ok || len(w.objects) != 1 {
		t.Errorf("after the timeout: %v", w.objects)
	}
}
