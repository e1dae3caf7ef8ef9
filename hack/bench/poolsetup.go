package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// podArrivals notes when the first recorder pod of each pool arrived on the bench's watch. The
// API server closes a watch whose reader falls behind (on a saturated machine, in a burst): the
// watch then resumes from the last resourceVersion seen, so no pod is missed.
type podArrivals struct {
	mu       sync.Mutex
	at       map[string]time.Time
	restarts atomic.Int64
}

func (a *podArrivals) arrival(pool string) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.at[pool]
	return t, ok
}

func (a *podArrivals) note(p *metav1.PartialObjectMetadata, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, seen := a.at[p.Labels[render.LabelPool]]; !seen {
		a.at[p.Labels[render.LabelPool]] = at
	}
}

// The watch is of the pods' metadata only: a recorder pod is large, and the bench's own decoding
// should cost the machine little.
func watchRecorderPods(ctx context.Context, cl client.WithWatch, ns string) (*podArrivals, error) {
	a := &podArrivals{at: map[string]time.Time{}}
	sel := []client.ListOption{client.InNamespace(ns), client.HasLabels{render.LabelPool}}
	podList := func() *metav1.PartialObjectMetadataList {
		return &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PodList"}}
	}
	// list notes the pods there (a restart that cannot resume sees the pods it missed late).
	list := func() (string, error) {
		pods := podList()
		if err := cl.List(ctx, pods, sel...); err != nil {
			return "", err
		}
		for i := range pods.Items {
			a.note(&pods.Items[i], time.Now())
		}
		return pods.ResourceVersion, nil
	}
	rv, err := list()
	if err != nil {
		return nil, err
	}
	go func() {
		for ctx.Err() == nil {
			w, err := cl.Watch(ctx, podList(), append(sel, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv}})...)
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			expired := false
			for ev := range w.ResultChan() {
				if ev.Type == watch.Error {
					expired = true // e.g. 410 Gone: list again
					break
				}
				p, ok := ev.Object.(*metav1.PartialObjectMetadata)
				if !ok {
					continue
				}
				rv = p.ResourceVersion
				if ev.Type == watch.Added {
					a.note(p, time.Now())
				}
			}
			w.Stop()
			if ctx.Err() != nil {
				return
			}
			a.restarts.Add(1)
			if expired {
				if again, err := list(); err == nil {
					rv = again
				}
			}
		}
	}()
	return a, nil
}

func poolName(i int) string  { return fmt.Sprintf("pool-%03d", i) }
func meetingOf(i int) string { return fmt.Sprintf("m-%03d", i) }

// createPools creates pools from..to-1, of at most one recorder and no spare, with a Meeting
// each that records Automatic, and waits until each has settled (wants no recorder, and is
// reconciled without error: the stack's events secret exists).
func createPools(ctx context.Context, cl client.Client, ns string, from, to int) error {
	for i := from; i < to; i++ {
		zero, one := int32(0), int32(1)
		if err := cl.Create(ctx, &jitsiv1alpha1.JibriPool{ObjectMeta: metav1.ObjectMeta{Name: poolName(i), Namespace: ns},
			Spec: jitsiv1alpha1.JibriPoolSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"},
				MinReplicas: &zero, MaxReplicas: &one, MinIdle: &zero, Audio: jitsiv1alpha1.AudioPulseAudio}}); err != nil {
			return err
		}
		if err := cl.Create(ctx, &jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Name: meetingOf(i), Namespace: ns},
			Spec: jitsiv1alpha1.MeetingSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"},
				Recording: jitsiv1alpha1.MeetingRecordingSpec{Mode: jitsiv1alpha1.RecordingAutomatic,
					JibriPoolRef: &jitsiv1alpha1.LocalObjectReference{Name: poolName(i)}}}}); err != nil {
			return err
		}
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		var pools jitsiv1alpha1.JibriPoolList
		if err := cl.List(ctx, &pools, client.InNamespace(ns)); err != nil {
			return err
		}
		settled, why := 0, ""
		for _, p := range pools.Items {
			if p.Status.ObservedGeneration == p.Generation && len(p.Status.Conditions) > 0 && p.Status.Conditions[0].Reason != jitsiv1alpha1.ReasonReconcileError {
				settled++
			} else if len(p.Status.Conditions) > 0 {
				why = p.Name + ": " + p.Status.Conditions[0].Message
			}
		}
		if settled == to-from {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d pools settled after two minutes (%s)", settled, to-from, why)
		}
	}
}

// removePools deletes the Meetings and pools of ns and waits until they and the recorder pods
// are gone, so that each round starts with as many pools as the first.
func removePools(ctx context.Context, cl client.Client, ns string) error {
	if err := cl.DeleteAllOf(ctx, &jitsiv1alpha1.Meeting{}, client.InNamespace(ns)); err != nil {
		return err
	}
	if err := cl.DeleteAllOf(ctx, &jitsiv1alpha1.JibriPool{}, client.InNamespace(ns)); err != nil {
		return err
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		var meetings jitsiv1alpha1.MeetingList
		var pools jitsiv1alpha1.JibriPoolList
		var pods corev1.PodList
		if err := cl.List(ctx, &meetings, client.InNamespace(ns)); err != nil {
			return err
		}
		if err := cl.List(ctx, &pools, client.InNamespace(ns)); err != nil {
			return err
		}
		if err := cl.List(ctx, &pods, client.InNamespace(ns), client.HasLabels{render.LabelPool}); err != nil {
			return err
		}
		if len(meetings.Items)+len(pools.Items)+len(pods.Items) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d meetings, %d pools and %d recorder pods left after two minutes", len(meetings.Items), len(pools.Items), len(pods.Items))
		}
	}
}

// bareCreates creates n Pods, by one writer one after the other or by n writers at once, each as
// pool's recorder pod is rendered but owned by nobody and labelled for no pool (the operator's
// cache and the bench's watch ignore them), and returns each create's time; it deletes them after.
func bareCreates(ctx context.Context, cl client.Client, ns, pool string, n int, atOnce bool) ([]time.Duration, error) {
	p := &jitsiv1alpha1.JibriPool{}
	d := &jitsiv1alpha1.JitsiDeployment{}
	if err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: pool}, p); err != nil {
		return nil, err
	}
	if err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: "meet"}, d); err != nil {
		return nil, err
	}
	in := render.Input{Deployment: d, Secrets: render.SecretsFor(d)}
	bareLabels := map[string]string{"bench": "bare"}
	took := make([]time.Duration, n)
	errs := make([]error, n)
	create := func(i int) {
		pod := render.JibriPod(in, p, fmt.Sprintf("bare-%03d", i), nil)
		pod.OwnerReferences, pod.Labels = nil, bareLabels
		start := time.Now()
		errs[i] = cl.Create(ctx, pod)
		took[i] = time.Since(start)
	}
	var wg sync.WaitGroup
	for i := range n {
		if !atOnce {
			create(i)
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); create(i) }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := cl.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(ns), client.MatchingLabels(bareLabels), client.GracePeriodSeconds(0)); err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		var pods corev1.PodList
		if err := cl.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels(bareLabels)); err != nil {
			return nil, err
		}
		if len(pods.Items) == 0 {
			return took, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d bare pods left after a minute", len(pods.Items))
		}
	}
}
