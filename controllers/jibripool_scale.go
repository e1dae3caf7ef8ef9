package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
	"github.com/jitsi-operator/jitsi-operator/internal/scaling"
)

// poolSpec is a pool's scaling spec with its defaults.
type poolSpec struct {
	min, max, minIdle int
	delay             time.Duration
}

func specOf(pool *jitsiv1alpha1.JibriPool) poolSpec {
	s := pool.Spec
	return poolSpec{
		min: int(ptr.Deref(s.MinReplicas, 1)), max: int(ptr.Deref(s.MaxReplicas, 5)), minIdle: int(ptr.Deref(s.MinIdle, 1)),
		delay: time.Duration(ptr.Deref(s.ScaleDownDelaySeconds, 300)) * time.Second,
	}
}

// ensureScale applies the scaling plan: it replaces broken recorders, adds recorders for the
// demand, and removes idle ones once a surplus has lasted the delay. It never deletes a busy one.
func (r *JibriPoolReconciler) ensureScale(ctx context.Context, pool *jitsiv1alpha1.JibriPool, obs *poolObservation) error {
	if obs.deployment == nil {
		return nil
	}
	key := types.NamespacedName{Namespace: pool.Namespace, Name: pool.Name}
	spec := specOf(pool)
	recs := make([]scaling.Recorder, 0, len(obs.recorders))
	byName := map[string]*recorderObs{}
	for _, o := range obs.recorders {
		byName[o.pod.Name] = o
		recs = append(recs, scaling.Recorder{Name: o.pod.Name, State: o.state, CreatedAt: o.pod.CreationTimestamp.Time, Terminating: o.terminating()})
	}
	r.surplusMu.Lock()
	since := r.surplus[key]
	r.surplusMu.Unlock()
	obs.scheduled, obs.prewarm = scheduledRecorders(pool, obs.meetings, obs.now)
	if !obs.scheduled.Next.IsZero() {
		obs.requeueWithin(obs.scheduled.Next.Sub(obs.now))
	}
	d := scaling.Plan(scaling.Pool{
		Recorders: recs, Queue: len(obs.queue), Scheduled: len(obs.scheduled.Meetings),
		MinReplicas: spec.min, MaxReplicas: spec.max, MinIdle: spec.minIdle,
		ScaleDownDelay: spec.delay, SurplusSince: since, Now: obs.now,
	})
	r.surplusMu.Lock()
	r.surplus[key] = d.SurplusSince
	r.surplusMu.Unlock()
	obs.decision = d
	obs.requeueWithin(d.RequeueAfter)

	var errs []error
	removed := 0
	for _, name := range d.Delete {
		o := byName[name]
		if o == nil || o.state == scaling.Busy || o.terminating() {
			continue // the plan never names a busy one; this is the last guard
		}
		uid := o.pod.UID
		if err := r.Delete(ctx, o.pod, client.Preconditions{UID: &uid}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete Pod %s: %w", name, err))
			continue
		}
		r.expectations.deleted(key, pool.UID, uid, obs.now)
		obs.scaled = true
		if o.state == scaling.Expired || o.state == scaling.Unhealthy {
			r.Recorder.Eventf(pool, o.pod, corev1.EventTypeWarning, "RecorderReplaced", "Scale",
				"replacing recorder %s: %s", name, o.why)
			continue
		}
		removed++
	}
	if removed > 0 {
		r.Recorder.Eventf(pool, nil, corev1.EventTypeNormal, "ScaledDown", "Scale", "removed %d idle recorders: %s", removed, d.Reason)
	}
	if d.Create > 0 {
		created, err := r.createRecorders(ctx, pool, obs, d.Create)
		if err != nil {
			errs = append(errs, err)
		}
		if created > 0 {
			obs.scaled, obs.created = true, created
			why := d.Reason
			if n := len(obs.scheduled.Meetings); n > 0 {
				why += fmt.Sprintf("; scheduled: %s", strings.Join(obs.scheduled.Meetings[:min(n, maxScheduledListed)], ", "))
			}
			r.Recorder.Eventf(pool, nil, corev1.EventTypeNormal, "ScaledUp", "Scale", "added %d recorders: %s", created, why)
		}
	}
	return errors.Join(errs...)
}

// maxParallelCreates bounds the recorder pods one reconcile creates at once: a burst of
// meetings gets its recorders in one round trip or a few, not one after the other.
const maxParallelCreates = 8

// createRecorders creates n recorder pods, up to maxParallelCreates at once, and remembers each
// (podExpectations) so that the next reconcile counts it before the cache holds it. SndAloop
// recorders each get a loopback card on a node that has one free (fewer than n when the nodes run
// out, and obs.unplaced says so).
func (r *JibriPoolReconciler) createRecorders(ctx context.Context, pool *jitsiv1alpha1.JibriPool, obs *poolObservation, n int) (int, error) {
	in := r.renderInput(obs.deployment)
	cards := make([]*scaling.Card, n)
	if pool.Spec.Audio == jitsiv1alpha1.AudioSndAloop {
		// Cards are a node's, shared by every pool: place and create under one lock, reading
		// the cards in use fresh from the API server.
		r.cards.Lock()
		defer r.cards.Unlock()
		placed, nodes, err := r.placeCards(ctx, pool, n)
		if err != nil {
			return 0, err
		}
		if len(placed) < n {
			perNode := cardsPerNode(pool)
			obs.unplaced = fmt.Sprintf("%d more recorders wanted and no node has a free loopback card (%d nodes match the pool's placement, %d cards each)",
				n-len(placed), nodes, perNode)
			r.Recorder.Eventf(pool, nil, corev1.EventTypeWarning, jitsiv1alpha1.ReasonNoLoopbackCards, "Scale", "%s", obs.unplaced)
		}
		cards = cards[:len(placed)]
		for i := range placed {
			cards[i] = &placed[i]
		}
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created int
		errs    []error
	)
	limit := make(chan struct{}, maxParallelCreates)
	for _, card := range cards {
		wg.Add(1)
		limit <- struct{}{}
		go func() {
			defer func() { <-limit; wg.Done() }()
			pod, err := r.createRecorder(ctx, pool, in, card, obs.now)
			mu.Lock()
			defer mu.Unlock()
			if pod != nil {
				created++
				// One of the pool's recorders from now on, for what this reconcile still writes.
				obs.recorders = append(obs.recorders, &recorderObs{pod: pod, state: scaling.Starting})
			}
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	slices.SortFunc(obs.recorders, func(a, b *recorderObs) int { return strings.Compare(a.pod.Name, b.pod.Name) })
	switch len(errs) {
	case 0:
		return created, nil
	case 1:
		return created, errs[0]
	}
	return created, fmt.Errorf("%w (and %d more failed)", errs[0], len(errs)-1)
}

// createRecorder creates one recorder pod (on card, when not nil) and its recordings claim, and
// returns the pod (nil when it was not created).
func (r *JibriPoolReconciler) createRecorder(ctx context.Context, pool *jitsiv1alpha1.JibriPool, in render.Input, card *scaling.Card, now time.Time) (*corev1.Pod, error) {
	key := client.ObjectKeyFromObject(pool)
	var err error
	var pod *corev1.Pod
	for try := 0; try < 3; try++ {
		pod = render.JibriPod(in, pool, pool.Name+"-"+utilrand.String(5), card)
		if err = r.Create(ctx, pod); !apierrors.IsAlreadyExists(err) {
			break
		}
	}
	if err != nil {
		if !createRefused(err) {
			// It may have been stored: the next reconcile asks before it counts.
			r.expectations.created(key, pool.UID, pod, true, now)
		}
		return nil, fmt.Errorf("create recorder: %w", err)
	}
	r.expectations.created(key, pool.UID, pod, false, now)
	if claim := render.JibriRecordingsClaim(pool, pod); claim != nil {
		if err := r.Create(ctx, claim); err != nil && !apierrors.IsAlreadyExists(err) {
			return pod, fmt.Errorf("create the recordings claim of %s: %w", pod.Name, err)
		}
	}
	return pod, nil
}

func cardsPerNode(pool *jitsiv1alpha1.JibriPool) int {
	if s := pool.Spec.SndAloop; s != nil && s.CardsPerNode > 0 {
		return int(s.CardsPerNode)
	}
	return 8
}

// placeCards assigns n loopback cards on the nodes the pool may run on, skipping the cards that
// recorders of any pool hold already. It returns the cards and the number of usable nodes.
func (r *JibriPoolReconciler) placeCards(ctx context.Context, pool *jitsiv1alpha1.JibriPool, n int) ([]scaling.Card, int, error) {
	var nodes corev1.NodeList
	if err := r.List(ctx, &nodes); err != nil {
		return nil, 0, err
	}
	affinity := nodeaffinity.NewRequiredNodeAffinity(pool.Spec.NodeSelector, pool.Spec.Affinity)
	capacity := map[string]int{}
	for i := range nodes.Items {
		node := &nodes.Items[i]
		if !nodeUsable(node) || !tolerated(node, pool.Spec.Tolerations) {
			continue
		}
		if ok, err := affinity.Match(node); err != nil || !ok {
			continue
		}
		capacity[node.Name] = cardsPerNode(pool)
	}
	var pods corev1.PodList
	if err := r.APIReader.List(ctx, &pods, client.MatchingLabels{render.LabelComponent: render.ComponentJibri, render.LabelManagedBy: render.ManagedBy}); err != nil {
		return nil, 0, err
	}
	used := map[string][]int{}
	for _, p := range pods.Items {
		card, err := strconv.Atoi(p.Annotations[render.AnnotationALSACard])
		if err != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		node := p.Spec.NodeName
		if node == "" {
			node = p.Spec.NodeSelector[render.LabelHostname]
		}
		used[node] = append(used[node], card)
	}
	return scaling.AssignCards(n, capacity, used), len(capacity), nil
}

// tolerated reports whether tolerations let a pod schedule onto node.
func tolerated(node *corev1.Node, tolerations []corev1.Toleration) bool {
	for i := range node.Spec.Taints {
		t := &node.Spec.Taints[i]
		if t.Effect == corev1.TaintEffectPreferNoSchedule {
			continue
		}
		if !corev1helpers.TolerationsTolerateTaint(logr.Discard(), tolerations, t, false) {
			return false
		}
	}
	return true
}
