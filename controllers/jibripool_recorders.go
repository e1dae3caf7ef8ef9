package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/jibri"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
	"github.com/jitsi-operator/jitsi-operator/internal/scaling"
)

// recorderObs is one recorder pod and what is known of it.
type recorderObs struct {
	pod   *corev1.Pod
	state scaling.State
	// why says what made a broken recorder broken.
	why string
	// meeting and session are the recording the operator started on it (its assignment).
	meeting, session string
	// unreachable says why its state is unknown: the pod is ready, and its health API does not answer.
	unreachable string
}

func (o *recorderObs) terminating() bool { return !o.pod.DeletionTimestamp.IsZero() }

// idle reports whether a recording may start on it now.
func (o *recorderObs) idle() bool { return o.state == scaling.Idle && !o.terminating() }

// observeRecorders lists the pool's pods (from the cache, with the pool's own writes it does not
// show yet: podExpectations) and finds each one's state: its health API first, then what its
// webhooks said.
func (r *JibriPoolReconciler) observeRecorders(ctx context.Context, pool *jitsiv1alpha1.JibriPool, obs *poolObservation) error {
	if obs.deployment == nil {
		return nil
	}
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(pool.Namespace), recorderLabels(pool)); err != nil {
		return err
	}
	var mine []*corev1.Pod
	for i := range pods.Items {
		if p := &pods.Items[i]; isControlledBy(p, pool) {
			mine = append(mine, p)
		}
	}
	key := client.ObjectKeyFromObject(pool)
	mine, unsure := r.expectations.view(key, pool.UID, mine, obs.now)
	// A create that failed without saying whether the pod was stored: the API server knows.
	for _, name := range unsure {
		p := &corev1.Pod{}
		err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: pool.Namespace, Name: name}, p)
		switch {
		case apierrors.IsNotFound(err) || err == nil && !isControlledBy(p, pool):
			r.expectations.resolve(key, pool.UID, name, nil, obs.now)
		case err != nil:
			return err
		default:
			r.expectations.resolve(key, pool.UID, name, p, obs.now)
			mine = append(mine, p)
		}
	}
	slices.SortFunc(mine, func(a, b *corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	polls := r.pollHealth(ctx, mine, obs.now)
	for _, p := range mine {
		o := &recorderObs{pod: p}
		o.state, o.why = recorderState(p, polls[p.UID])
		if last := polls[p.UID]; last != nil && last.err != nil && o.state == scaling.Starting && podReady(p) {
			o.unreachable = fmt.Sprintf("its health API at %s has not answered since %s: %v",
				p.Status.PodIP, last.failingSince.UTC().Format(time.RFC3339), last.err)
		}
		if a := p.Annotations[render.AnnotationJibriAssignment]; a != "" {
			o.meeting, o.session, _ = strings.Cut(a, " ")
		}
		obs.recorders = append(obs.recorders, o)
	}
	return nil
}

// recorderLabels select the pool's recorder pods, within the cache's Pod selector
// (CacheOptions), so that the cache and the API server list the same pods.
func recorderLabels(pool *jitsiv1alpha1.JibriPool) client.MatchingLabels {
	return client.MatchingLabels{render.LabelPool: pool.Name, render.LabelComponent: render.ComponentJibri,
		render.LabelManagedBy: render.ManagedBy}
}

func isControlledBy(p *corev1.Pod, pool *jitsiv1alpha1.JibriPool) bool {
	for _, ref := range p.OwnerReferences {
		if ref.Controller != nil && *ref.Controller && ref.UID == pool.UID {
			return true
		}
	}
	return false
}

// poll is one health poll's outcome and, while polls fail, since when they have.
type poll struct {
	at           time.Time
	health       jibri.Health
	err          error
	failingSince time.Time
}

// healthCache keeps the last poll of each recorder.
type healthCache struct {
	mu    sync.Mutex
	polls map[types.UID]poll
}

// markBusy records that the recorder accepted a session at now (Jibri is BUSY from then on).
func (c *healthCache) markBusy(uid types.UID, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.polls == nil {
		c.polls = map[types.UID]poll{}
	}
	c.polls[uid] = poll{at: now, health: jibri.Health{BusyStatus: jibri.StatusBusy, HealthStatus: jibri.HealthHealthy}}
}

// forget drops the recorder's last poll, so that the next reconcile asks it.
func (c *healthCache) forget(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.polls, uid)
}

// minPollInterval is the youngest poll that is reused instead of asking again.
const minPollInterval = time.Second

// pollHealth asks every running recorder for its health at once (each call bounded by the
// client's timeout) and returns the outcome by pod.
func (r *JibriPoolReconciler) pollHealth(ctx context.Context, pods []*corev1.Pod, now time.Time) map[types.UID]*poll {
	c := &r.health
	c.mu.Lock()
	if c.polls == nil {
		c.polls = map[types.UID]poll{}
	}
	out := map[types.UID]*poll{}
	var ask []*corev1.Pod
	for _, p := range pods {
		if p.Status.PodIP == "" || p.Status.Phase != corev1.PodRunning || !p.DeletionTimestamp.IsZero() {
			continue
		}
		if last, ok := c.polls[p.UID]; ok && now.Sub(last.at) < minPollInterval {
			out[p.UID] = &last
			continue
		}
		ask = append(ask, p)
	}
	c.mu.Unlock()

	var wg sync.WaitGroup
	for _, p := range ask {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := r.Jibri.Health(ctx, p.Status.PodIP)
			// c.mu guards out too.
			c.mu.Lock()
			defer c.mu.Unlock()
			next := poll{at: now, health: h, err: err}
			if err != nil {
				next.failingSince = now
				if last, ok := c.polls[p.UID]; ok && last.err != nil {
					next.failingSince = last.failingSince
				}
			}
			c.polls[p.UID] = next
			out[p.UID] = &next
		}()
	}
	wg.Wait()

	// Forget pods that are gone.
	c.mu.Lock()
	defer c.mu.Unlock()
	live := map[types.UID]bool{}
	for _, p := range pods {
		live[p.UID] = true
	}
	for uid, last := range c.polls {
		if !live[uid] && now.Sub(last.at) > time.Minute {
			delete(c.polls, uid)
		}
	}
	return out
}

// recorderState is a recorder's state from its pod, its last health poll (nil when it could not
// be asked) and its webhook annotations. A recorder that says BUSY, by any of them, is Busy: it is
// never removed. One the operator cannot reach is not replaced for that (its kubelet probes it;
// a replacement would be as unreachable): it stays Starting, and the status says Unknown.
func recorderState(p *corev1.Pod, last *poll) (scaling.State, string) {
	hookBusy := strings.ToUpper(p.Annotations[render.AnnotationJibriBusy])
	hookHealth := strings.ToUpper(p.Annotations[render.AnnotationJibriHealth])
	switch {
	case p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded:
		return scaling.Expired, fmt.Sprintf("its pod is %s", p.Status.Phase)
	case last != nil && last.err == nil:
		switch {
		case last.health.BusyStatus == jibri.StatusBusy:
			return scaling.Busy, ""
		case last.health.HealthStatus == jibri.HealthUnhealthy:
			return scaling.Unhealthy, "Jibri reports UNHEALTHY (a system error; only a restart recovers)"
		case last.health.BusyStatus == jibri.StatusExpired:
			return scaling.Expired, "Jibri reports EXPIRED (single-use mode)"
		case podReady(p):
			return scaling.Idle, ""
		}
		return scaling.Starting, ""
	case hookBusy == jibri.StatusBusy:
		return scaling.Busy, ""
	case hookHealth == jibri.HealthUnhealthy:
		return scaling.Unhealthy, "Jibri reported UNHEALTHY"
	case hookBusy == jibri.StatusExpired:
		return scaling.Expired, "Jibri reported EXPIRED"
	}
	return scaling.Starting, ""
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
