package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// poolTrace follows recorder demand inside the operator, for runPool's split of where the time
// goes: when the operator's cache saw each Meeting's room open, when each reconcile of a pool
// began, and the calls it made (cache reads, API reads and writes) until its recorder pod was
// created. Only pools armed before their room opens are followed.
type poolTrace struct {
	// writes are every API write of the operator's process (its controllers and receiver).
	writes writeCounter

	mu    sync.Mutex
	armed map[string]bool
	// seen is when the operator's cache first held the Meeting with status.startedAt, by Meeting.
	seen map[string]time.Time
	// reconciles are the armed pools' reconciles, by reconcile ID and, in start order, by pool.
	reconciles map[types.UID]*poolReconcile
	byPool     map[string][]*poolReconcile
}

// poolReconcile is one reconcile of a pool and its calls, in order.
type poolReconcile struct {
	pool  string
	start time.Time
	calls []tracedCall
	// created is the index in calls of its recorder pod's create, -1 when it created none.
	created int
}

// tracedCall is one client call: what ("api create Pod", "cache list PodList") and when.
type tracedCall struct {
	what       string
	start, end time.Time
}

func newPoolTrace() *poolTrace {
	return &poolTrace{armed: map[string]bool{}, seen: map[string]time.Time{},
		reconciles: map[types.UID]*poolReconcile{}, byPool: map[string][]*poolReconcile{}}
}

// arm follows pool from now on.
func (t *poolTrace) arm(pool string) {
	t.mu.Lock()
	t.armed[pool] = true
	t.mu.Unlock()
}

// watchMeetings notes, from the operator's own informer, when each Meeting's room opening reached
// its cache: the moment the pool's watch can react to it.
func (t *poolTrace) watchMeetings(ctx context.Context, c cache.Cache) error {
	inf, err := c.GetInformer(ctx, &jitsiv1alpha1.Meeting{})
	if err != nil {
		return err
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{UpdateFunc: func(_, o any) {
		m, ok := o.(*jitsiv1alpha1.Meeting)
		if !ok || m.Status.StartedAt == nil {
			return
		}
		now := time.Now()
		t.mu.Lock()
		if _, done := t.seen[m.Name]; !done {
			t.seen[m.Name] = now
		}
		t.mu.Unlock()
	}})
	return err
}

// record notes a call of the reconcile in ctx (calls outside a reconcile are not followed).
func (t *poolTrace) record(ctx context.Context, what, pool string, start, end time.Time) {
	id := controller.ReconcileIDFromContext(ctx)
	if id == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.reconciles[id]
	if r == nil {
		// A reconcile's first call is the Get of its pool.
		if !strings.HasPrefix(what, "cache get JibriPool") || !t.armed[pool] {
			return
		}
		r = &poolReconcile{pool: pool, start: start, created: -1}
		t.reconciles[id] = r
		t.byPool[pool] = append(t.byPool[pool], r)
	}
	if r.created < 0 && what == "api create Pod" {
		r.created = len(r.calls)
	}
	r.calls = append(r.calls, tracedCall{what, start, end})
}

// poolSplit is where the time of one meeting went, from its event's sending to its pod on the
// bench's watch; ok is false when a mark is missing.
type poolSplit struct {
	ok bool
	// receiver: event sent to the Meeting's change in the operator's cache; wake: that to the
	// pool's first reconcile after it; retries: that reconcile's start to the start of the one
	// that created the pod (0 when the first did); plan: that reconcile's start to its pod
	// create; create: the create call; watch: its answer to the pod on the bench's watch.
	receiver, wake, retries, plan, create, watch time.Duration
	// reconciles is how many reconciles of the pool began from the cache's change to the create.
	reconciles int
	// busyAt is how long a reconcile of the pool that was under way at the cache's change still
	// ran (0 when none was): the queue hands a pool to one worker at a time.
	busyAt time.Duration
	// before sums, by what, the calls the creating reconcile made before its create.
	before map[string]time.Duration
}

// split is meeting's pool's poolSplit, for an event sent at sent and a pod seen at arrived.
func (t *poolTrace) split(meeting, pool string, sent, arrived time.Time) poolSplit {
	t.mu.Lock()
	defer t.mu.Unlock()
	seen, ok := t.seen[meeting]
	if !ok {
		return poolSplit{}
	}
	// The pool's one recorder is made by its first reconcile that creates a pod.
	var creator *poolReconcile
	for _, r := range t.byPool[pool] {
		if r.created >= 0 {
			creator = r
			break
		}
	}
	if creator == nil {
		return poolSplit{}
	}
	c := creator.calls[creator.created]
	s := poolSplit{ok: true, receiver: seen.Sub(sent), create: c.end.Sub(c.start), watch: arrived.Sub(c.end), before: map[string]time.Duration{}}
	if creator.start.Before(seen) {
		// It began before the change reached the cache, and read the Meeting after.
		s.plan, s.reconciles = c.start.Sub(seen), 1
	} else {
		var first *poolReconcile
		for _, r := range t.byPool[pool] {
			if r.start.Before(seen) {
				continue
			}
			if first == nil {
				first = r
			}
			s.reconciles++
			if r == creator {
				break
			}
		}
		s.wake, s.retries, s.plan = first.start.Sub(seen), creator.start.Sub(first.start), c.start.Sub(creator.start)
		for _, r := range t.byPool[pool] {
			if r.start.Before(seen) && len(r.calls) > 0 && r.calls[len(r.calls)-1].end.After(seen) {
				s.busyAt = r.calls[len(r.calls)-1].end.Sub(seen)
			}
		}
	}
	inCalls := time.Duration(0)
	for _, call := range creator.calls[:creator.created] {
		what := call.what
		if strings.HasPrefix(what, "cache ") {
			what = "cache reads"
		}
		s.before[what] += call.end.Sub(call.start)
		inCalls += call.end.Sub(call.start)
	}
	s.before["between the calls (rendering, planning, health polls)"] = c.start.Sub(creator.start) - inCalls
	return s
}

// printSplit prints the stages' figures over splits.
func printSplit(what string, splits []poolSplit) {
	var receiver, wake, retries, plan, create, watch []time.Duration
	var reconciles []int
	before := map[string][]time.Duration{}
	for _, s := range splits {
		if !s.ok {
			continue
		}
		receiver, wake, retries = append(receiver, s.receiver), append(wake, s.wake), append(retries, s.retries)
		plan, create, watch = append(plan, s.plan), append(create, s.create), append(watch, s.watch)
		reconciles = append(reconciles, s.reconciles)
		for k, d := range s.before {
			before[k] = append(before[k], d)
		}
	}
	fmt.Printf("  where the time went, %s (%d of %d meetings traced):\n", what, len(receiver), len(splits))
	report("    receiver: event sent to the Meeting's change in the operator's cache", receiver)
	report("    wake-up: that change to the pool's next reconcile", wake)
	var busyAt []time.Duration
	for _, s := range splits {
		if s.ok && s.busyAt > 0 {
			busyAt = append(busyAt, s.busyAt)
		}
	}
	report("      of which the pool's reconcile under way at the change (when one was)", busyAt)
	report("    retries: that reconcile to the one that created the pod", retries)
	report("    planning: the creating reconcile's start to its pod create", plan)
	report("    create: the pod create call", create)
	report("    watch: the create's answer to the pod on the bench's watch", watch)
	if len(reconciles) > 0 {
		slices.Sort(reconciles)
		fmt.Printf("    reconciles from the change to the create: p50 %d, max %d\n", reconciles[len(reconciles)/2], reconciles[len(reconciles)-1])
	}
	var kinds []string
	for k := range before {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		report("    before the create: "+k+" (per reconcile)", before[k])
	}
}

// busy is what the pool reconciler did from from to to: the reconciles that began then (of
// every armed pool), the time each took (to its last call's end), and the API writes they made.
type busy struct {
	reconciles []time.Duration
	writes     int
	// in is the time spent in each kind of call, summed over the reconciles, and calls their number.
	in    map[string]time.Duration
	calls map[string]int
}

func (t *poolTrace) busy(from, to time.Time) busy {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := busy{in: map[string]time.Duration{}, calls: map[string]int{}}
	for _, r := range t.reconciles {
		if r.start.Before(from) || r.start.After(to) || len(r.calls) == 0 {
			continue
		}
		b.reconciles = append(b.reconciles, r.calls[len(r.calls)-1].end.Sub(r.start))
		for _, c := range r.calls {
			b.in[c.what] += c.end.Sub(c.start)
			b.calls[c.what]++
			if strings.HasPrefix(c.what, "api ") && !strings.HasPrefix(c.what, "api get") && !strings.HasPrefix(c.what, "api list") {
				b.writes++
			}
		}
	}
	return b
}

func (b *busy) add(o busy) {
	b.reconciles = append(b.reconciles, o.reconciles...)
	b.writes += o.writes
	if b.in == nil {
		b.in, b.calls = map[string]time.Duration{}, map[string]int{}
	}
	for k, d := range o.in {
		b.in[k] += d
		b.calls[k] += o.calls[k]
	}
}

func (b busy) print(what string) {
	report(fmt.Sprintf("    %s: pool reconciles (%d API writes), each", what, b.writes), b.reconciles)
	var total time.Duration
	for _, d := range b.reconciles {
		total += d
	}
	var kinds []string
	for k := range b.in {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool { return b.in[kinds[i]] > b.in[kinds[j]] })
	var parts []string
	for _, k := range kinds {
		if b.in[k] >= total/100 {
			parts = append(parts, fmt.Sprintf("%s ×%d %s", k, b.calls[k], b.in[k].Round(time.Millisecond)))
		}
	}
	fmt.Printf("      their time, %s in all: %s\n", total.Round(time.Millisecond), strings.Join(parts, ", "))
}

// writeKind is a write's method and resource: "POST pods", "PATCH meetings/status".
func writeKind(what string) string {
	method, path, _ := strings.Cut(what, " ")
	parts := strings.Split(strings.Trim(path, "/"), "/")
	// .../namespaces/<ns>/<resource>[/<name>[/<subresource>]]
	for i := 0; i+2 < len(parts); i++ {
		if parts[i] == "namespaces" {
			rest := parts[i+2:]
			if len(rest) >= 3 {
				return method + " " + rest[0] + "/" + rest[2]
			}
			return method + " " + rest[0]
		}
	}
	return method + " " + path
}

// printWrites prints the operator's API writes by kind, most first.
func printWrites(byKind map[string]int) {
	var kinds []string
	total := 0
	for k, n := range byKind {
		kinds = append(kinds, k)
		total += n
	}
	sort.Slice(kinds, func(i, j int) bool { return byKind[kinds[i]] > byKind[kinds[j]] })
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s %d", k, byKind[k]))
	}
	fmt.Printf("    meanwhile: %d API writes by the operator's process (receiver included): %s\n", total, strings.Join(parts, ", "))
}

// tracedClient is the reconciler's client with every call noted in a poolTrace: reads are the
// cache's, writes go to the API server.
type tracedClient struct {
	client.Client
	t *poolTrace
}

func (c tracedClient) kind(o runtime.Object) string {
	if gvk, err := c.GroupVersionKindFor(o); err == nil {
		return gvk.Kind
	}
	return fmt.Sprintf("%T", o)
}

func (c tracedClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	start := time.Now()
	err := c.Client.Get(ctx, key, obj, opts...)
	c.t.record(ctx, "cache get "+c.kind(obj), key.Name, start, time.Now())
	return err
}

func (c tracedClient) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	start := time.Now()
	err := c.Client.List(ctx, list, opts...)
	c.t.record(ctx, "cache list "+c.kind(list), "", start, time.Now())
	return err
}

func (c tracedClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	start := time.Now()
	err := c.Client.Create(ctx, obj, opts...)
	what := "api create " + c.kind(obj)
	if _, pod := obj.(*corev1.Pod); pod && obj.GetLabels()[render.LabelPool] == "" {
		what += " (not a recorder)"
	}
	c.t.record(ctx, what, "", start, time.Now())
	return err
}

func (c tracedClient) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	start := time.Now()
	err := c.Client.Delete(ctx, obj, opts...)
	c.t.record(ctx, "api delete "+c.kind(obj), "", start, time.Now())
	return err
}

func (c tracedClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	start := time.Now()
	err := c.Client.Patch(ctx, obj, patch, opts...)
	c.t.record(ctx, "api patch "+c.kind(obj), "", start, time.Now())
	return err
}

func (c tracedClient) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	start := time.Now()
	err := c.Client.Apply(ctx, obj, opts...)
	c.t.record(ctx, "api apply", "", start, time.Now())
	return err
}

func (c tracedClient) Status() client.SubResourceWriter {
	return tracedStatus{SubResourceWriter: c.Client.Status(), c: c}
}

type tracedStatus struct {
	client.SubResourceWriter
	c tracedClient
}

func (s tracedStatus) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	start := time.Now()
	err := s.SubResourceWriter.Patch(ctx, obj, patch, opts...)
	what := "api patch " + s.c.kind(obj) + "/status"
	if apierrors.IsConflict(err) {
		what += " (conflict)"
	}
	s.c.t.record(ctx, what, "", start, time.Now())
	return err
}

func (s tracedStatus) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	start := time.Now()
	err := s.SubResourceWriter.Update(ctx, obj, opts...)
	s.c.t.record(ctx, "api update "+s.c.kind(obj)+"/status", "", start, time.Now())
	return err
}

// tracedReader is the reconciler's API reader (reads straight from the API server), traced.
type tracedReader struct {
	client.Reader
	c tracedClient
}

func (r tracedReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	start := time.Now()
	err := r.Reader.Get(ctx, key, obj, opts...)
	r.c.t.record(ctx, "api get "+r.c.kind(obj), key.Name, start, time.Now())
	return err
}

func (r tracedReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	start := time.Now()
	err := r.Reader.List(ctx, list, opts...)
	r.c.t.record(ctx, "api list "+r.c.kind(list), "", start, time.Now())
	return err
}
