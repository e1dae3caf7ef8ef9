package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/controllers"
	"github.com/jitsi-operator/jitsi-operator/internal/jibri"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// runPool measures recorder demand to pod: n pools of at most one recorder and no spare, a
// Meeting each that records Automatic; its room opens (the receiver's status write), and the
// clock stops when the pool's new Jibri pod object arrives on a watch.
func runPool(n int, assets string) error {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	cluster, scheme, cl, err := startCluster(ctx, assets, 2)
	if err != nil {
		return err
	}
	defer os.RemoveAll(cluster.Dir)
	defer cluster.Stop()

	opCfg := rest.CopyConfig(cluster.Config)
	opCfg.QPS, opCfg.Burst = 200, 400
	mgr, err := ctrl.NewManager(opCfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0", Cache: controllers.CacheOptions()})
	if err != nil {
		return err
	}
	receiver := func(string) string { return "http://127.0.0.1:9" }
	if err := (&controllers.JitsiDeploymentReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("bench"), ReceiverURL: receiver}).SetupWithManager(mgr); err != nil {
		return err
	}
	if err := (&controllers.MeetingReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("bench")}).SetupWithManager(mgr); err != nil {
		return err
	}
	if err := (&controllers.JibriPoolReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("bench"),
		ReceiverURL: receiver, Jibri: &jibri.Client{}}).SetupWithManager(mgr); err != nil {
		return err
	}
	go func() { _ = mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return fmt.Errorf("cache did not sync")
	}

	const ns = "default"
	if err := cl.Create(ctx, &jitsiv1alpha1.JitsiDeployment{ObjectMeta: metav1.ObjectMeta{Name: "meet", Namespace: ns},
		Spec: jitsiv1alpha1.JitsiDeploymentSpec{Domain: "meet.example.com", JVB: jitsiv1alpha1.JVBSpec{Media: jitsiv1alpha1.MediaSpec{Type: jitsiv1alpha1.MediaNodePort}}}}); err != nil {
		return err
	}
	for i := 0; i < 2*n; i++ {
		name := fmt.Sprintf("pool-%03d", i)
		zero, one := int32(0), int32(1)
		if err := cl.Create(ctx, &jitsiv1alpha1.JibriPool{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: jitsiv1alpha1.JibriPoolSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"},
				MinReplicas: &zero, MaxReplicas: &one, MinIdle: &zero, Audio: jitsiv1alpha1.AudioPulseAudio}}); err != nil {
			return err
		}
		if err := cl.Create(ctx, &jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("m-%03d", i), Namespace: ns},
			Spec: jitsiv1alpha1.MeetingSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"},
				Recording: jitsiv1alpha1.MeetingRecordingSpec{Mode: jitsiv1alpha1.RecordingAutomatic,
					JibriPoolRef: &jitsiv1alpha1.LocalObjectReference{Name: name}}}}); err != nil {
			return err
		}
	}
	// Wait until every pool has its Secret (the stack's events secret exists) and says it wants none.
	for settled := 0; settled < 2*n; time.Sleep(200 * time.Millisecond) {
		var pools jitsiv1alpha1.JibriPoolList
		if err := cl.List(ctx, &pools, client.InNamespace(ns)); err != nil {
			return err
		}
		settled = 0
		for _, p := range pools.Items {
			if p.Status.ObservedGeneration == p.Generation && len(p.Status.Conditions) > 0 && p.Status.Conditions[0].Reason != jitsiv1alpha1.ReasonReconcileError {
				settled++
			}
		}
	}

	wc, err := client.NewWithWatch(cluster.Config, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	w, err := wc.Watch(ctx, &corev1.PodList{}, client.InNamespace(ns), client.HasLabels{render.LabelPool})
	if err != nil {
		return err
	}
	defer w.Stop()
	var mu sync.Mutex
	arrived := map[string]time.Time{}
	go func() {
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type == watch.Added {
				mu.Lock()
				if _, seen := arrived[p.Labels[render.LabelPool]]; !seen {
					arrived[p.Labels[render.LabelPool]] = time.Now()
				}
				mu.Unlock()
			}
		}
	}()
	open := func(i int) (time.Time, error) {
		body, _ := json.Marshal(map[string]any{"status": map[string]any{
			"startedAt": time.Now().UTC().Format(time.RFC3339), "participantCount": 1, "peakParticipants": 1}})
		at := time.Now()
		m := &jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("m-%03d", i)}}
		return at, cl.Status().Patch(ctx, m, client.RawPatch(types.MergePatchType, body))
	}
	wait := func(from, to int, opened map[int]time.Time) ([]time.Duration, error) {
		deadline := time.Now().Add(time.Minute)
		for {
			mu.Lock()
			var got []time.Duration
			for i := from; i < to; i++ {
				if t, ok := arrived[fmt.Sprintf("pool-%03d", i)]; ok {
					got = append(got, t.Sub(opened[i]))
				}
			}
			mu.Unlock()
			if len(got) == to-from {
				return got, nil
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("only %d of %d pools got a recorder within a minute", len(got), to-from)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	opened := map[int]time.Time{}
	var one []time.Duration
	for i := 0; i < n; i++ {
		if opened[i], err = open(i); err != nil {
			return err
		}
		got, err := wait(i, i+1, opened)
		if err != nil {
			return err
		}
		one = append(one, got...)
	}
	for i := n; i < 2*n; i++ {
		if opened[i], err = open(i); err != nil {
			return err
		}
	}
	burst, err := wait(n, 2*n, opened)
	if err != nil {
		return err
	}
	fmt.Printf("recorder demand to Jibri pod object (goal under 1s):\n")
	report("  one meeting at a time", one)
	report(fmt.Sprintf("  %d meetings at once", n), burst)
	return nil
}

func report(what string, d []time.Duration) {
	slices.Sort(d)
	pick := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))].Round(time.Millisecond) }
	fmt.Printf("%s: n=%d p50 %s p99 %s max %s\n", what, len(d), pick(0.5), pick(0.99), d[len(d)-1].Round(time.Millisecond))
}
