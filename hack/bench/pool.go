package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/controllers"
	"github.com/jitsi-operator/jitsi-operator/hack/internal/latency"
	"github.com/jitsi-operator/jitsi-operator/internal/destination"
	"github.com/jitsi-operator/jitsi-operator/internal/jibri"
	"github.com/jitsi-operator/jitsi-operator/internal/jibri/jibritest"
	"github.com/jitsi-operator/jitsi-operator/internal/jvb"
	"github.com/jitsi-operator/jitsi-operator/internal/localcluster"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
	"github.com/jitsi-operator/jitsi-operator/webhook"
)

// runPool measures recorder demand to pod: n pools of at most one recorder and no spare, a
// Meeting each that records Automatic; its room opens (the Prosody module's signed room-created
// event, posted to the operator's receiver), and the clock stops when the pool's new Jibri pod
// object arrives on a watch. It runs from the event's sending, and again from the receiver's
// answer (the event stored in the Meeting's status).
func runPool(n int, assets string) error {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	cl, stop, err := stackForPools(ctx, assets)
	if err != nil {
		return err
	}
	defer stop()
	const ns = "default"
	room, err := roomOpener(ctx, cl, ns)
	if err != nil {
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
	// wait returns, for pools from..to-1, the time from each room event's sending and from the
	// receiver's answer to the pool's new pod.
	wait := func(from, to int, opened map[int]opening) (fromSent, fromAnswer []time.Duration, err error) {
		deadline := time.Now().Add(time.Minute)
		for {
			mu.Lock()
			fromSent, fromAnswer = nil, nil
			for i := from; i < to; i++ {
				if t, ok := arrived[fmt.Sprintf("pool-%03d", i)]; ok {
					fromSent = append(fromSent, t.Sub(opened[i].sent))
					fromAnswer = append(fromAnswer, t.Sub(opened[i].answered))
				}
			}
			mu.Unlock()
			if len(fromSent) == to-from {
				return fromSent, fromAnswer, nil
			}
			if time.Now().After(deadline) {
				return nil, nil, fmt.Errorf("only %d of %d pools got a recorder within a minute", len(fromSent), to-from)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	opened := map[int]opening{}
	var oneSent, oneAnswer []time.Duration
	for i := 0; i < n; i++ {
		if opened[i], err = room(fmt.Sprintf("m-%03d", i)); err != nil {
			return err
		}
		sent, answer, err := wait(i, i+1, opened)
		if err != nil {
			return err
		}
		oneSent, oneAnswer = append(oneSent, sent...), append(oneAnswer, answer...)
	}
	// All at once: the events go out together, one sender each, as n rooms opening at 9:00.
	var wg sync.WaitGroup
	errs := make([]error, 2*n)
	openedAt := make([]opening, 2*n)
	for i := n; i < 2*n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			openedAt[i], errs[i] = room(fmt.Sprintf("m-%03d", i))
		}()
	}
	wg.Wait()
	for i := n; i < 2*n; i++ {
		if errs[i] != nil {
			return errs[i]
		}
		opened[i] = openedAt[i]
	}
	burstSent, burstAnswer, err := wait(n, 2*n, opened)
	if err != nil {
		return err
	}
	fmt.Printf("recorder demand: room-created event to the new Jibri pod object (goal under 1s):\n")
	report("  one meeting at a time, from the event's sending", oneSent)
	report("  one meeting at a time, from the receiver's answer", oneAnswer)
	report(fmt.Sprintf("  %d meetings at once, from the events' sending", n), burstSent)
	report(fmt.Sprintf("  %d meetings at once, from the receiver's answers", n), burstAnswer)
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

// receiverURL is where startOperator's receiver listens, on loopback.
var receiverURL string

// startOperator runs the three controllers and the receiver as main.go wires them; the receiver
// listens on loopback at receiverURL.
func startOperator(ctx context.Context, cluster *localcluster.Cluster, scheme *runtime.Scheme, statsPeriod time.Duration) error {
	opCfg := rest.CopyConfig(cluster.Config)
	opCfg.QPS, opCfg.Burst = 200, 400
	mgr, err := ctrl.NewManager(opCfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0", Cache: controllers.CacheOptions()})
	if err != nil {
		return err
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	receiverURL = "http://" + listener.Addr().String()
	// The bench's streams go to loopback: the one network its destinations may use.
	dests := &destination.Policy{AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	go func() {
		_ = http.Serve(listener, (&webhook.Server{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Destinations: dests}).Handler())
	}()
	go func() { <-ctx.Done(); listener.Close() }()
	receiver := func(string) string { return receiverURL }
	if err := (&controllers.JitsiDeploymentReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("bench"), ReceiverURL: receiver,
		Bridges: &jvb.Client{}, StatsPeriod: statsPeriod}).SetupWithManager(mgr); err != nil {
		return err
	}
	if err := (&controllers.MeetingReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("bench"), Destinations: dests}).SetupWithManager(mgr); err != nil {
		return err
	}
	if err := (&controllers.JibriPoolReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("bench"),
		ReceiverURL: receiver, Jibri: &jibri.Client{}, HealthPeriod: time.Second, Destinations: dests}).SetupWithManager(mgr); err != nil {
		return err
	}
	go func() { _ = mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return fmt.Errorf("cache did not sync")
	}
	return nil
}

// opening is when a room's created event was sent to the receiver and when it answered (the
// event stored).
type opening struct{ sent, answered time.Time }

// roomOpener opens Meetings' rooms as Prosody does: the operator's module posts a signed
// room-created event and an occupant's join to the operator's receiver (the rooms open with one
// person in them), signed with deployment meet's events secret.
func roomOpener(ctx context.Context, cl client.Client, ns string) (func(name string) (opening, error), error) {
	secret := &corev1.Secret{}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: "meet-generated"}, secret)
		if err == nil && len(secret.Data[render.KeyWebhookSecret]) > 0 {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no events secret in meet-generated: %v", err)
		}
	}
	key := secret.Data[render.KeyWebhookSecret]
	url := receiverURL + "/v1/prosody/events?deployment=" + ns + "/meet"
	post := func(body []byte) error {
		mac := hmac.New(sha256.New, key)
		mac.Write(body)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("X-Jitsi-Signature", hex.EncodeToString(mac.Sum(nil)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("the receiver answered %d", resp.StatusCode)
		}
		return nil
	}
	return func(name string) (opening, error) {
		now := time.Now()
		roomJID := name + "@muc.meet.jitsi"
		created, _ := json.Marshal(map[string]any{"id": "created-" + name, "event": "room-created", "timestamp": now.UnixMilli(),
			"room": map[string]any{"jid": roomJID, "name": name}})
		joined, _ := json.Marshal(map[string]any{"id": "joined-" + name, "event": "occupant-joined", "timestamp": now.UnixMilli(),
			"room": map[string]any{"jid": roomJID, "name": name}, "occupant": map[string]any{"jid": "alice@meet.jitsi/" + name, "nick": "Alice"},
			"occupants": 1})
		o := opening{sent: time.Now()}
		if err := post(created); err != nil {
			return o, fmt.Errorf("%s: room-created: %w", name, err)
		}
		o.answered = time.Now()
		return o, post(joined)
	}, nil
}

func report(what string, d []time.Duration) {
	fmt.Printf("%s: %s\n", what, latency.Summary(d, time.Millisecond))
}

// runStream measures live-stream demand to the recorder: n pools with one idle stand-in recorder
// each, and a Meeting each that streams Automatic to one destination; its room opens (the clock
// starts as the room-created event is sent to the receiver), and the clock stops when the
// startService request in stream mode reaches that recorder.
func runStream(n int, assets string) error {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	cl, stop, err := stackForPools(ctx, assets)
	if err != nil {
		return err
	}
	defer stop()
	const ns = "default"
	room, err := roomOpener(ctx, cl, ns)
	if err != nil {
		return err
	}
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
		opened, err := room(fmt.Sprintf("m-%03d", i))
		if err != nil {
			return err
		}
		at := opened.sent
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
	fmt.Printf("live-stream demand: room-created event sent to the recorder's startService (stream mode):\n")
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
