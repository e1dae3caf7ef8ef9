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

	"github.com/jitsi-operator/jitsi-operator/internal/podplay"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// Pods plays the recorder containers of one pool on a cluster whose pods run nowhere (kwok): for
// every running pod of the pool (kwok gives it a loopback address of the local cluster's pod range) it starts a Recorder on
// <pod IP>:2222 with the webhook subscribers of the pool's Secret, and closes it when the pod goes.
// It notes every pod that went away while its recorder was busy: the one thing a pool must never do.
type Pods struct {
	*podplay.Player[*Recorder]
	mu     sync.Mutex
	killed []string
}

// RunPods starts playing the recorders of pool in ns until Stop. Every recorder stays busy for
// finalize after a stop (its finalize script); onStop, when set, runs there, with the session's
// directory name.
func RunPods(c client.Client, ns, pool string, finalize time.Duration, onStop func(pod, session string)) *Pods {
	p := &Pods{}
	p.Player = podplay.Run(podplay.Options[*Recorder]{
		Client: c, Namespace: ns, Labels: map[string]string{render.LabelPool: pool},
		Key: func(pod *corev1.Pod) string { return pod.Name },
		Start: func(ctx context.Context, name string, pod *corev1.Pod) (*Recorder, error) {
			s := &corev1.Secret{}
			if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: pool + "-jibri"}, s); err != nil {
				return nil, podplay.ErrNotYet // the pool's Secret comes first; a moment
			}
			rec, err := Start(name, net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(render.JibriAPIPort)),
				strings.Split(string(s.Data[render.KeyWebhookSubscribers]), ","))
			if err != nil {
				return nil, fmt.Errorf("recorder %s on %s: %w", name, pod.Status.PodIP, err)
			}
			rec.Finalize = finalize
			if onStop != nil {
				rec.OnStop = func(session string) { onStop(name, session) }
			}
			return rec, nil
		},
		Gone: func(name string, rec *Recorder) {
			if rec.Busy() {
				p.mu.Lock()
				p.killed = append(p.killed, name)
				p.mu.Unlock()
			}
		},
	})
	return p
}

// Recorder is the recorder of pod name, nil while there is none.
func (p *Pods) Recorder(name string) *Recorder {
	rec, _ := p.Get(name)
	return rec
}

// Names lists the pods that have a recorder now.
func (p *Pods) Names() []string { return p.Keys() }

// KilledWhileBusy lists the pods that went away while their recorder was busy.
func (p *Pods) KilledWhileBusy() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.killed...)
}

// Recording names the pod whose recorder records room now, "" when none does.
func (p *Pods) Recording(room string) string {
	for _, name := range p.Keys() {
		rec := p.Recorder(name)
		if rec == nil {
			continue
		}
		s := rec.Sessions()
		if rec.Busy() && len(s) > 0 && s[len(s)-1].Room == room {
			return name
		}
	}
	return ""
}

// Sessions lists every session the live recorders accepted, as "room/sink".
func (p *Pods) Sessions() []string {
	var out []string
	for _, name := range p.Keys() {
		if rec := p.Recorder(name); rec != nil {
			for _, s := range rec.Sessions() {
				out = append(out, s.Room+"/"+s.Sink)
			}
		}
	}
	return out
}
