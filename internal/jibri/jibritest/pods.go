package jibritest

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// Pods plays the recorder containers of one pool on a cluster whose pods run nowhere (kwok): for
// every running pod of the pool (kwok gives it a 127.2.x.y address) it starts a Recorder on
// <pod IP>:2222 with the webhook subscribers of the pool's Secret, and closes it when the pod goes.
// It notes every pod that went away while its recorder was busy: the one thing a pool must never do.
type Pods struct {
	c        client.Client
	ns, pool string
	// Finalize and OnStop are given to every recorder it starts.
	finalize time.Duration
	onStop   func(pod, session string)

	mu     sync.Mutex
	byPod  map[string]*Recorder
	killed []string
	errs   []error
	stop   chan struct{}
	done   chan struct{}
}

// RunPods starts playing the recorders of pool in ns until Stop. onStop may be nil.
func RunPods(c client.Client, ns, pool string, finalize time.Duration, onStop func(pod, session string)) *Pods {
	p := &Pods{c: c, ns: ns, pool: pool, finalize: finalize, onStop: onStop, byPod: map[string]*Recorder{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go p.loop()
	return p
}

func (p *Pods) loop() {
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
}

func (p *Pods) sync() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var pods corev1.PodList
	if err := p.c.List(ctx, &pods, client.InNamespace(p.ns), client.MatchingLabels{render.LabelPool: p.pool}); err != nil {
		return
	}
	running := map[string]*corev1.Pod{}
	for i := range pods.Items {
		pod := &pods.Items[i]
		if pod.Status.PodIP != "" && pod.Status.Phase == corev1.PodRunning && pod.DeletionTimestamp.IsZero() {
			running[pod.Name] = pod
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, rec := range p.byPod {
		if running[name] == nil {
			if rec.Busy() {
				p.killed = append(p.killed, name)
			}
			rec.Close()
			delete(p.byPod, name)
		}
	}
	var subscribers []string
	for name, pod := range running {
		if p.byPod[name] != nil {
			continue
		}
		if subscribers == nil {
			s := &corev1.Secret{}
			if err := p.c.Get(ctx, types.NamespacedName{Namespace: p.ns, Name: p.pool + "-jibri"}, s); err != nil {
				return
			}
			subscribers = strings.Split(string(s.Data[render.KeyWebhookSubscribers]), ",")
		}
		rec, err := Start(name, net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(render.JibriAPIPort)), subscribers)
		if err != nil {
			p.errs = append(p.errs, fmt.Errorf("recorder %s on %s: %w", name, pod.Status.PodIP, err))
			continue
		}
		rec.Finalize = p.finalize
		if p.onStop != nil {
			rec.OnStop = func(session string) { p.onStop(name, session) }
		}
		p.byPod[name] = rec
	}
}

// Stop stops playing and closes every recorder.
func (p *Pods) Stop() {
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, rec := range p.byPod {
		rec.Close()
	}
}

// Recorder is the recorder of pod name, nil while there is none.
func (p *Pods) Recorder(name string) *Recorder {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.byPod[name]
}

// Names lists the pods that have a recorder now.
func (p *Pods) Names() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for name := range p.byPod {
		out = append(out, name)
	}
	return out
}

// KilledWhileBusy lists the pods that went away while their recorder was busy.
func (p *Pods) KilledWhileBusy() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.killed...)
}

// Errors are the recorders that could not start (an address in use, for example).
func (p *Pods) Errors() []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]error(nil), p.errs...)
}

// Recording names the pod whose recorder records room now, "" when none does.
func (p *Pods) Recording(room string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, rec := range p.byPod {
		s := rec.Sessions()
		if rec.Busy() && len(s) > 0 && s[len(s)-1].Room == room {
			return name
		}
	}
	return ""
}

// Sessions lists every session the live recorders accepted, as "room/sink".
func (p *Pods) Sessions() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, rec := range p.byPod {
		for _, s := range rec.Sessions() {
			out = append(out, s.Room+"/"+s.Sink)
		}
	}
	return out
}
