package controllers_test

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/jitsi-operator/jitsi-operator/internal/jibri/jibritest"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// fakeRecorders plays the recorder containers of one pool: for every pod of the pool that runs
// (kwok gives it a 127.2.x.y address) it starts a fake Jibri on <pod IP>:2222 with the webhook
// subscribers of the pool's Secret, and closes it when the pod goes. It notes every pod that went
// away while its recorder was busy: the one thing a pool must never do.
type fakeRecorders struct {
	ns, pool string
	finalize time.Duration

	mu      sync.Mutex
	byPod   map[string]*jibritest.Recorder
	ips     map[string]string
	killed  []string
	started int
	stop    chan struct{}
	done    chan struct{}
}

func runFakeRecorders(ns, pool string, finalize time.Duration) *fakeRecorders {
	f := &fakeRecorders{ns: ns, pool: pool, finalize: finalize, byPod: map[string]*jibritest.Recorder{},
		ips: map[string]string{}, stop: make(chan struct{}), done: make(chan struct{})}
	go f.loop()
	DeferCleanup(f.close)
	return f
}

func (f *fakeRecorders) loop() {
	defer GinkgoRecover()
	defer close(f.done)
	tick := time.NewTicker(30 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-tick.C:
			f.sync()
		}
	}
}

func (f *fakeRecorders) sync() {
	var pods corev1.PodList
	if err := k8sClient.List(ctx, &pods, client.InNamespace(f.ns), client.MatchingLabels{render.LabelPool: f.pool}); err != nil {
		return
	}
	running := map[string]*corev1.Pod{}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Status.PodIP != "" && p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp.IsZero() {
			running[p.Name] = p
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for name, rec := range f.byPod {
		if running[name] == nil {
			if rec.Busy() {
				f.killed = append(f.killed, name)
			}
			rec.Close()
			delete(f.byPod, name)
			delete(f.ips, name)
		}
	}
	var subscribers []string
	for name, p := range running {
		if f.byPod[name] != nil {
			continue
		}
		if subscribers == nil {
			s := &corev1.Secret{}
			if err := k8sClient.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: f.pool + "-jibri"}, s); err != nil {
				return
			}
			subscribers = strings.Split(string(s.Data[render.KeyWebhookSubscribers]), ",")
		}
		rec, err := jibritest.Start(name, net.JoinHostPort(p.Status.PodIP, strconv.Itoa(render.JibriAPIPort)), subscribers)
		if err != nil {
			GinkgoWriter.Printf("fake recorder %s on %s: %v\n", name, p.Status.PodIP, err)
			continue
		}
		rec.Finalize = f.finalize
		f.byPod[name] = rec
		f.ips[name] = p.Status.PodIP
		f.started++
	}
}

func (f *fakeRecorders) close() {
	close(f.stop)
	<-f.done
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, rec := range f.byPod {
		rec.Close()
	}
}

// recorder is the fake Jibri of pod name, nil while there is none.
func (f *fakeRecorders) recorder(name string) *jibritest.Recorder {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.byPod[name]
}

// killedWhileBusy lists the pods that went away while their recorder was busy.
func (f *fakeRecorders) killedWhileBusy() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.killed...)
}

// recording names the pod whose recorder records room, "" when none does.
func (f *fakeRecorders) recording(room string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for name, rec := range f.byPod {
		s := rec.Sessions()
		if rec.Busy() && len(s) > 0 && s[len(s)-1].Room == room {
			return name
		}
	}
	return ""
}

// sessions lists every session any recorder accepted, as "room/sink".
func (f *fakeRecorders) sessions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, rec := range f.byPod {
		for _, s := range rec.Sessions() {
			out = append(out, fmt.Sprintf("%s/%s", s.Room, s.Sink))
		}
	}
	return out
}
