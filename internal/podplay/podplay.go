// Package podplay plays the containers of pods on a cluster whose pods run nowhere (kwok, in
// tests and benchmarks): for every running pod it starts a stand-in (a fake Jibri, a fake bridge)
// on the pod's address, and closes it when the pod goes. For tests and benchmarks only.
package podplay

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ErrNotYet from Start means: try again on the next round (something it needs is not there yet).
var ErrNotYet = errors.New("not yet")

// Closer is a stand-in: closing it is its container stopping.
type Closer interface{ Close() }

// Options say which pods to play and how.
type Options[T Closer] struct {
	Client    client.Client
	Namespace string
	Labels    map[string]string
	// Key names the stand-in of a pod (its name, or a label of it).
	Key func(*corev1.Pod) string
	// Start starts the stand-in of a running pod with an address.
	Start func(ctx context.Context, key string, pod *corev1.Pod) (T, error)
	// Gone, when set, is told about a stand-in whose pod went, before it is closed.
	Gone func(key string, stand T)
}

// Player keeps a stand-in for every running pod.
type Player[T Closer] struct {
	o     Options[T]
	mu    sync.Mutex
	byKey map[string]T
	errs  []error
	stop  chan struct{}
	done  chan struct{}
}

// Run starts playing until Stop.
func Run[T Closer](o Options[T]) *Player[T] {
	p := &Player[T]{o: o, byKey: map[string]T{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(30 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
				p.sync()
			}
		}
	}()
	return p
}

func (p *Player[T]) sync() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var pods corev1.PodList
	if err := p.o.Client.List(ctx, &pods, client.InNamespace(p.o.Namespace), client.MatchingLabels(p.o.Labels)); err != nil {
		return
	}
	running := map[string]*corev1.Pod{}
	for i := range pods.Items {
		pod := &pods.Items[i]
		if pod.Status.PodIP != "" && pod.Status.Phase == corev1.PodRunning && pod.DeletionTimestamp.IsZero() {
			running[p.o.Key(pod)] = pod
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, stand := range p.byKey {
		if running[key] == nil {
			if p.o.Gone != nil {
				p.o.Gone(key, stand)
			}
			stand.Close()
			delete(p.byKey, key)
		}
	}
	for key, pod := range running {
		if _, ok := p.byKey[key]; ok {
			continue
		}
		stand, err := p.o.Start(ctx, key, pod)
		if errors.Is(err, ErrNotYet) {
			continue
		}
		if err != nil {
			p.errs = append(p.errs, err)
			continue
		}
		p.byKey[key] = stand
	}
}

// Stop stops playing and closes every stand-in.
func (p *Player[T]) Stop() {
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, stand := range p.byKey {
		stand.Close()
	}
}

// Get is the stand-in of key, if its pod runs.
func (p *Player[T]) Get(key string) (T, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	stand, ok := p.byKey[key]
	return stand, ok
}

// Keys are the keys of the stand-ins playing now, sorted.
func (p *Player[T]) Keys() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	keys := make([]string, 0, len(p.byKey))
	for k := range p.byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Errors are the stand-ins that could not start (an address in use, for example).
func (p *Player[T]) Errors() []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]error(nil), p.errs...)
}
