package main

// How the Meetings bench observes the operator (watches, its metrics, its requests, this
// process's memory) and drives the receiver.

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/controllers"
)

// issuedWatch records when each Meeting first had AccessIssued=True and its access Secret, as
// seen on two watches.
type issuedWatch struct {
	mu             sync.Mutex
	issued, secret map[string]time.Time
	stop           func()
}

func watchIssued(ctx context.Context, cl client.WithWatch, ns string) (*issuedWatch, error) {
	w := &issuedWatch{issued: map[string]time.Time{}, secret: map[string]time.Time{}}
	ctx, w.stop = context.WithCancel(ctx)
	follow := func(list client.ObjectList, opts []client.ListOption, seen func(runtime.Object)) error {
		open := func() (watch.Interface, error) { return cl.Watch(ctx, list, opts...) }
		wi, err := open()
		if err != nil {
			return err
		}
		go func() {
			for ctx.Err() == nil {
				for ev := range wi.ResultChan() {
					if ev.Type == watch.Added || ev.Type == watch.Modified {
						seen(ev.Object)
					}
				}
				// The API server ends watches now and then; a new one replays every object.
				for ctx.Err() == nil {
					if wi, err = open(); err == nil {
						break
					}
					time.Sleep(time.Second)
				}
			}
		}()
		return nil
	}
	mark := func(to map[string]time.Time, name string) {
		w.mu.Lock()
		if _, ok := to[name]; !ok {
			to[name] = time.Now()
		}
		w.mu.Unlock()
	}
	if err := follow(&jitsiv1alpha1.MeetingList{}, []client.ListOption{client.InNamespace(ns)}, func(o runtime.Object) {
		if m, ok := o.(*jitsiv1alpha1.Meeting); ok && meta.IsStatusConditionTrue(m.Status.Conditions, jitsiv1alpha1.ConditionAccessIssued) {
			mark(w.issued, m.Name)
		}
	}); err != nil {
		return nil, err
	}
	if err := follow(&corev1.SecretList{}, []client.ListOption{client.InNamespace(ns), client.HasLabels{controllers.LabelMeeting}}, func(o runtime.Object) {
		if s, ok := o.(*corev1.Secret); ok {
			mark(w.secret, s.Labels[controllers.LabelMeeting])
		}
	}); err != nil {
		return nil, err
	}
	return w, nil
}

// wait returns, once n Meetings have both, when each had both; then it stops the watches.
func (w *issuedWatch) wait(n int, limit time.Duration) (map[string]time.Time, error) {
	defer w.stop()
	for deadline := time.Now().Add(limit); ; time.Sleep(100 * time.Millisecond) {
		w.mu.Lock()
		done := map[string]time.Time{}
		for name, t := range w.issued {
			if s, ok := w.secret[name]; ok {
				done[name] = later(t, s)
			}
		}
		issued, secrets := len(w.issued), len(w.secret)
		w.mu.Unlock()
		if len(done) >= n {
			return done, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("after %s, %d Meetings have AccessIssued=True and %d their Secret, of %d", limit, issued, secrets, n)
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// quiet waits until no reconcile has run for d.
func quiet(d, limit time.Duration) error {
	last, err := reconciles()
	if err != nil {
		return err
	}
	since := time.Now()
	for deadline := time.Now().Add(limit); time.Since(since) < d; time.Sleep(time.Second) {
		now, err := reconciles()
		if err != nil {
			return err
		}
		for k, v := range now {
			if last[k] != v {
				since = time.Now()
			}
		}
		last = now
		if time.Now().After(deadline) {
			return fmt.Errorf("the controllers still reconcile after %s", limit)
		}
	}
	return nil
}

// reconciles is controller_runtime_reconcile_total per controller ("meeting") and per
// controller and result ("meeting requeue_after").
func reconciles() (map[string]float64, error) {
	families, err := metrics.Registry.Gather()
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			var name, result string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "controller":
					name = l.GetValue()
				case "result":
					result = l.GetValue()
				}
			}
			out[name] += m.GetCounter().GetValue()
			out[name+" "+result] += m.GetCounter().GetValue()
		}
	}
	return out, nil
}

// requestCounter counts the operator's API requests by verb and resource while armed.
type requestCounter struct {
	next  http.RoundTripper
	armed atomic.Bool
	mu    sync.Mutex
	count map[string]int
}

func (c *requestCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	if c.armed.Load() {
		verb := req.Method
		if verb == http.MethodGet && req.URL.Query().Get("watch") == "true" {
			verb = "WATCH"
		}
		c.mu.Lock()
		c.count[verb+" "+resourceOf(req.URL.Path)]++
		c.mu.Unlock()
	}
	return c.next.RoundTrip(req)
}

func (c *requestCounter) arm() {
	c.mu.Lock()
	c.count = map[string]int{}
	c.mu.Unlock()
	c.armed.Store(true)
}

func (c *requestCounter) disarm() map[string]int {
	c.armed.Store(false)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count
}

// resourceOf is the resource (and subresource) of an API path, without namespace or name.
func resourceOf(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if i := slices.Index(parts, "namespaces"); i >= 0 && len(parts) > i+2 {
		parts = parts[i+2:]
	} else if len(parts) > 2 {
		parts = parts[len(parts)-1:]
	}
	gr := schema.ParseGroupResource(parts[0])
	if len(parts) > 2 {
		return gr.String() + "/" + parts[2]
	}
	return gr.String()
}

// parallel runs f(0..n-1) on workers goroutines and returns the first error.
func parallel(workers, n int, f func(i int) error) error {
	var next atomic.Int64
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if err := f(i); err != nil && errs[w] == nil {
					errs[w] = err
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
