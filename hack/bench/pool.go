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
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/controllers"
	"github.com/jitsi-operator/jitsi-operator/internal/jibri"
	"github.com/jitsi-operator/jitsi-operator/internal/jibri/jibritest"
	"github.com/jitsi-operator/jitsi-operator/internal/jvb"
	"github.com/jitsi-operator/jitsi-operator/internal/localcluster"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// runPool measures recorder demand to pod: n pools of at most one recorder and no spare, a
// Meeting each that records Automatic; its room opens (the receiver's status write), and the
// clock stops when the pool's new Jibri pod object arrives on a watch.
func runPool(n int, assets string) error {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	cl, stop, err := stackForPools(ctx, assets)
	if err != nil {
		return err
	}
	defer stop()
	const ns = "default"
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

	w, err := cl.Watch(ctx, &corev1.PodList{}, client.InNamespace(ns), client.HasLabels{render.LabelPool})
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
	open := func(i int) (time.Time, error) { return openRoom(ctx, cl, ns, fmt.Sprintf("m-%03d", i)) }
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

// stackForPools starts the local cluster and the operator, and creates the JitsiDeployment "meet"
// in default that the pools record. stop stops everything.
func stackForPools(ctx context.Context, assets string) (cl client.WithWatch, stop func(), err error) {
	cluster, scheme, _, err := startCluster(ctx, assets, 2)
	if err != nil {
		return nil, nil, err
	}
	if cl, err = client.NewWithWatch(cluster.Config, client.Options{Scheme: scheme}); err != nil {
		cluster.Stop()
		return nil, nil, err
	}
	stop = func() {
		_ = cluster.Stop()
		_ = os.RemoveAll(cluster.Dir)
	}
	if err := startOperator(ctx, cluster, scheme, 0); err != nil {
		stop()
		return nil, nil, err
	}
	if err := cl.Create(ctx, &jitsiv1alpha1.JitsiDeployment{ObjectMeta: metav1.ObjectMeta{Name: "meet", Namespace: "default"},
		Spec: jitsiv1alpha1.JitsiDeploymentSpec{Domain: "meet.example.com", JVB: jitsiv1alpha1.JVBSpec{Media: jitsiv1alpha1.MediaSpec{Type: jitsiv1alpha1.MediaNodePort}}}}); err != nil {
		stop()
		return nil, nil, err
	}
	return cl, stop, nil
}

// startOperator runs the three controllers as main.go wires them, without the receiver: the
// recorders' webhooks go to a closed loopback port, and their state comes from health polls.
func startOperator(ctx context.Context, cluster *localcluster.Cluster, scheme *runtime.Scheme, statsPeriod time.Duration) error {
	opCfg := rest.CopyConfig(cluster.Config)
	opCfg.QPS, opCfg.Burst = 200, 400
	mgr, err := ctrl.NewManager(opCfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0", Cache: controllers.CacheOptions()})
	if err != nil {
		return err
	}
	receiver := func(string) string { return "http://127.0.0.1:9" }
	if err := (&controllers.JitsiDeploymentReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("bench"), ReceiverURL: receiver,
		Bridges: &jvb.Client{}, StatsPeriod: statsPeriod}).SetupWithManager(mgr); err != nil {
		return err
	}
	if err := (&controllers.MeetingReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("bench")}).SetupWithManager(mgr); err != nil {
		return err
	}
	if err := (&controllers.JibriPoolReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("bench"),
		ReceiverURL: receiver, Jibri: &jibri.Client{}, HealthPeriod: time.Second}).SetupWithManager(mgr); err != nil {
		return err
	}
	go func() { _ = mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return fmt.Errorf("cache did not sync")
	}
	return nil
}

// openRoom writes a Meeting's room opening as the receiver does.
func openRoom(ctx context.Context, cl client.Client, ns, name string) (time.Time, error) {
	body, _ := json.Marshal(map[string]any{"status": map[string]any{
		"startedAt": time.Now().UTC().Format(time.RFC3339), "participantCount": 1, "peakParticipants": 1}})
	at := time.Now()
	m := &jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	return at, cl.Status().Patch(ctx, m, client.RawPatch(types.MergePatchType, body))
}

func report(what string, d []time.Duration) {
	slices.Sort(d)
	pick := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))].Round(time.Millisecond) }
	fmt.Printf("%s: n=%d p50 %s p99 %s max %s\n", what, len(d), pick(0.5), pick(0.99), d[len(d)-1].Round(time.Millisecond))
}

// runStream measures live-stream demand to the recorder: n pools with one idle stand-in recorder
// each, and a Meeting each that streams Automatic to one destination; its room opens, and the
// clock stops when the startService request in stream mode reaches that recorder.
func runStream(n int, assets string) error {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	cl, stop, err := stackForPools(ctx, assets)
	if err != nil {
		return err
	}
	defer stop()
	const ns = "default"
	if err := cl.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "platform", Namespace: ns},
		Data: map[string][]byte{"key": []byte("bench-stream-key")}}); err != nil {
		return err
	}
	var fakes []*jibritest.Pods
	defer func() {
		for _, f := range fakes {
			f.Stop()
		}
	}()
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("pool-%03d", i)
		one := int32(1)
		if err := cl.Create(ctx, &jitsiv1alpha1.JibriPool{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: jitsiv1alpha1.JibriPoolSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"},
				MinReplicas: &one, MaxReplicas: &one, MinIdle: &one, Audio: jitsiv1alpha1.AudioPulseAudio}}); err != nil {
			return err
		}
		if err := cl.Create(ctx, &jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("m-%03d", i), Namespace: ns},
			Spec: jitsiv1alpha1.MeetingSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"},
				Streaming: jitsiv1alpha1.MeetingStreamingSpec{Mode: jitsiv1alpha1.StreamingAutomatic,
					JibriPoolRef: &jitsiv1alpha1.LocalObjectReference{Name: name},
					Destinations: []jitsiv1alpha1.StreamDestination{{Name: "platform", URL: "rtmp://127.0.0.1:1935/live",
						StreamKeySecretRef: jitsiv1alpha1.SecretKeyReference{Name: "platform", Key: "key"}}}}}}); err != nil {
			return err
		}
		fakes = append(fakes, jibritest.RunPods(cl, ns, name, 0, nil))
	}
	// Every pool has its idle recorder.
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		var pools jitsiv1alpha1.JibriPoolList
		if err := cl.List(ctx, &pools, client.InNamespace(ns)); err != nil {
			return err
		}
		idle := 0
		for _, p := range pools.Items {
			if p.Status.Idle == 1 {
				idle++
			}
		}
		if idle == n {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d pools have an idle recorder", idle, n)
		}
	}
	var took []time.Duration
	for i := 0; i < n; i++ {
		at, err := openRoom(ctx, cl, ns, fmt.Sprintf("m-%03d", i))
		if err != nil {
			return err
		}
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(2 * time.Millisecond) {
			if s := started(fakes[i]); !s.IsZero() {
				took = append(took, s.Sub(at))
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("pool-%03d: no stream started within a minute", i)
			}
		}
	}
	fmt.Printf("live-stream demand to the recorder's startService (stream mode):\n")
	report("  one meeting at a time", took)
	return nil
}

// started is when the first stream session reached any recorder of f, zero before.
func started(f *jibritest.Pods) time.Time {
	for _, name := range f.Names() {
		for _, s := range f.Recorder(name).Sessions() {
			if s.Sink == "stream" {
				return s.At
			}
		}
	}
	return time.Time{}
}
