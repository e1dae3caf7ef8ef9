package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/controllers"
	"github.com/jitsi-operator/jitsi-operator/hack/internal/benchkit"
	"github.com/jitsi-operator/jitsi-operator/hack/internal/latency"
	"github.com/jitsi-operator/jitsi-operator/internal/destination"
	"github.com/jitsi-operator/jitsi-operator/internal/jibri"
	"github.com/jitsi-operator/jitsi-operator/internal/jvb"
	"github.com/jitsi-operator/jitsi-operator/internal/localcluster"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
	"github.com/jitsi-operator/jitsi-operator/webhook"
)

// poolRounds is how many times runPool measures, each time on fresh pools; poolProfile is where
// the CPU profile of the bench's process (operator and receiver included) during the bursts goes.
var (
	poolRounds  = flag.Int("pool-rounds", 2, "with -pool: rounds of the measurement, each on fresh pools (two of 50 give the 100 samples a p99 needs)")
	poolProfile = flag.String("pool-cpuprofile", "", "with -pool: write a CPU profile of this process during the bursts to this file")
	poolWorkers = flag.Int("pool-workers", 0, "with -pool: pools the JibriPool controller reconciles at once (0: its default)")
	poolGap     = flag.Duration("pool-gap", 0, "with -pool: the pause between two meetings opened one at a time (0: the next room opens once the previous recorder pod exists, while that meeting's follow-up writes still run)")
)

// runPool measures recorder demand to pod: n pools of at most one recorder and no spare, a
// Meeting each that records Automatic; its room opens (the Prosody module's signed room-created
// event, posted to the operator's receiver), and the clock stops when the pool's new Jibri pod
// object arrives on a watch. It runs from the event's sending, and again from the receiver's
// answer (the event stored in the Meeting's status). Each round measures n meetings one at a time
// and n at once on 2n fresh pools, after the baselines of the same moment: bare Pod creates by one
// writer, one after the other, and n at once. The pool reconciler's calls and the operator's
// writes are traced to split the time by stage (the receiver's write and the cache's delivery,
// the pool's wake-up, its planning, the create, the watch).
func runPool(n int, assets string) error {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	trace := newPoolTrace()
	cl, cfg, stop, err := stackForPools(ctx, assets, trace)
	if err != nil {
		return err
	}
	defer stop()
	const ns = "default"
	room, err := roomOpener(ctx, cl, ns)
	if err != nil {
		return err
	}
	// The bare writer has the operator's client limits.
	bareCfg := rest.CopyConfig(cfg)
	bareCfg.QPS, bareCfg.Burst = 200, 400
	bareCl, err := client.New(bareCfg, client.Options{Scheme: cl.Scheme()})
	if err != nil {
		return err
	}

	pods, err := watchRecorderPods(ctx, cl, ns)
	if err != nil {
		return err
	}
	opened := map[int]opening{}
	// wait returns, for pools from..to-1, the time from each room event's sending and from the
	// receiver's answer to the pool's new pod, and the trace's split of it.
	wait := func(from, to int) (fromSent, fromAnswer []time.Duration, splits []poolSplit, err error) {
		deadline := time.Now().Add(time.Minute)
		for {
			var at []time.Time
			for i := from; i < to; i++ {
				if t, ok := pods.arrival(poolName(i)); ok {
					at = append(at, t)
				}
			}
			if len(at) == to-from {
				for k, t := range at {
					i := from + k
					fromSent = append(fromSent, t.Sub(opened[i].sent))
					fromAnswer = append(fromAnswer, t.Sub(opened[i].answered))
					splits = append(splits, trace.split(meetingOf(i), poolName(i), opened[i].sent, t))
				}
				return fromSent, fromAnswer, splits, nil
			}
			if time.Now().After(deadline) {
				var existing corev1.PodList
				if err := cl.List(ctx, &existing, client.InNamespace(ns), client.HasLabels{render.LabelPool}); err != nil {
					return nil, nil, nil, err
				}
				return nil, nil, nil, fmt.Errorf("only %d of %d pools got a recorder within a minute (%d recorder pods exist)",
					len(at), to-from, len(existing.Items))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	var oneSent, oneAnswer, burstSent, burstAnswer, bare, bareBurst []time.Duration
	var oneSplit, burstSplit []poolSplit
	var burstBusy busy
	burstWrites := map[string]int{}
	for round := 0; round < max(*poolRounds, 1); round++ {
		first := round * 2 * n
		if round > 0 {
			if err := removePools(ctx, cl, ns); err != nil {
				return err
			}
		}
		if err := createPools(ctx, cl, ns, first, first+2*n); err != nil {
			return err
		}
		b, err := bareCreates(ctx, bareCl, ns, poolName(first), 2*n, false)
		if err != nil {
			return err
		}
		bare = append(bare, b...)
		if b, err = bareCreates(ctx, bareCl, ns, poolName(first), n, true); err != nil {
			return err
		}
		bareBurst = append(bareBurst, b...)

		for i := first; i < first+n; i++ {
			trace.arm(poolName(i))
			if opened[i], err = room(meetingOf(i)); err != nil {
				return err
			}
			sent, answer, splits, err := wait(i, i+1)
			if err != nil {
				return err
			}
			oneSent, oneAnswer, oneSplit = append(oneSent, sent...), append(oneAnswer, answer...), append(oneSplit, splits...)
			time.Sleep(*poolGap)
		}
		// All at once: the events go out together, one sender each, as n rooms opening at 9:00.
		if *poolProfile != "" && round == 0 {
			f, err := os.Create(*poolProfile)
			if err != nil {
				return err
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				return err
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		openedAt := make([]opening, n)
		for i := first + n; i < first+2*n; i++ {
			trace.arm(poolName(i))
		}
		for k := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				openedAt[k], errs[k] = room(meetingOf(first + n + k))
			}()
		}
		wg.Wait()
		for k := range n {
			if errs[k] != nil {
				return errs[k]
			}
			opened[first+n+k] = openedAt[k]
		}
		sent, answer, splits, err := wait(first+n, first+2*n)
		if *poolProfile != "" && round == 0 {
			pprof.StopCPUProfile()
		}
		if err != nil {
			return err
		}
		from, to := openedAt[0].sent, openedAt[0].sent
		for k := range n {
			if openedAt[k].sent.Before(from) {
				from = openedAt[k].sent
			}
			if end := openedAt[k].sent.Add(sent[k]); end.After(to) {
				to = end
			}
		}
		burstBusy.add(trace.busy(from, to))
		for _, w := range trace.writes.since(from) {
			if !w.at.After(to) {
				burstWrites[writeKind(w.what)]++
			}
		}
		burstSent, burstAnswer, burstSplit = append(burstSent, sent...), append(burstAnswer, answer...), append(burstSplit, splits...)
	}
	rounds := ""
	if *poolRounds > 1 {
		rounds = fmt.Sprintf(", %d rounds", *poolRounds)
	}
	fmt.Printf("recorder demand: room-created event to the new Jibri pod object (goals: p99 under 100ms one at a time, under 500ms %d at once%s):\n", n, rounds)
	report("  one meeting at a time, from the event's sending", oneSent)
	report("  one meeting at a time, from the receiver's answer", oneAnswer)
	report(fmt.Sprintf("  %d meetings at once, from the events' sending", n), burstSent)
	report(fmt.Sprintf("  %d meetings at once, from the receiver's answers", n), burstAnswer)
	report("  baseline: a bare Pod create by one writer, one after the other", bare)
	report(fmt.Sprintf("  baseline: %d bare Pod creates at once, one writer each", n), bareBurst)
	printSplit("one meeting at a time", oneSplit)
	printSplit(fmt.Sprintf("%d meetings at once", n), burstSplit)
	burstBusy.print("meanwhile")
	printWrites(burstWrites)
	if n := pods.restarts.Load(); n > 0 {
		fmt.Printf("  (the bench's watch of recorder pods was closed by the API server and resumed %d times)\n", n)
	}
	return nil
}

// stackForPools starts the local cluster and the operator (its pool reconciler's calls traced
// into trace, when not nil), and creates the JitsiDeployment "meet" in default that the pools
// record. stop stops everything.
func stackForPools(ctx context.Context, assets string, trace *poolTrace) (cl client.WithWatch, cfg *rest.Config, stop func(), err error) {
	cluster, scheme, _, err := startCluster(ctx, assets, 2)
	if err != nil {
		return nil, nil, nil, err
	}
	if cl, err = client.NewWithWatch(cluster.Config, client.Options{Scheme: scheme}); err != nil {
		cluster.Stop()
		return nil, nil, nil, err
	}
	stop = func() {
		_ = cluster.Stop()
		_ = os.RemoveAll(cluster.Dir)
	}
	if err := startOperatorTraced(ctx, cluster, scheme, 0, trace); err != nil {
		stop()
		return nil, nil, nil, err
	}
	if err := cl.Create(ctx, &jitsiv1alpha1.JitsiDeployment{ObjectMeta: metav1.ObjectMeta{Name: "meet", Namespace: "default"},
		Spec: jitsiv1alpha1.JitsiDeploymentSpec{Domain: "meet.example.com", JVB: jitsiv1alpha1.JVBSpec{Media: jitsiv1alpha1.MediaSpec{Type: jitsiv1alpha1.MediaNodePort}}}}); err != nil {
		stop()
		return nil, nil, nil, err
	}
	return cl, cluster.Config, stop, nil
}

// receiverURL is where startOperator's receiver listens, on loopback.
var receiverURL string

// startOperator runs the three controllers and the receiver as main.go wires them; the receiver
// listens on loopback at receiverURL.
func startOperator(ctx context.Context, cluster *localcluster.Cluster, scheme *runtime.Scheme, statsPeriod time.Duration) error {
	return startOperatorTraced(ctx, cluster, scheme, statsPeriod, nil)
}

// startOperatorTraced is startOperator with the pool reconciler's calls traced into trace (when
// not nil).
func startOperatorTraced(ctx context.Context, cluster *localcluster.Cluster, scheme *runtime.Scheme, statsPeriod time.Duration, trace *poolTrace) error {
	opCfg := rest.CopyConfig(cluster.Config)
	opCfg.QPS, opCfg.Burst = 200, 400
	if trace != nil {
		opCfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { trace.writes.next = rt; return &trace.writes }
	}
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
	srv := &webhook.Server{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Destinations: dests}
	go func() { _ = http.Serve(listener, srv.Handler()) }()
	go func() { <-ctx.Done(); listener.Close() }()
	receiver := func(string) string { return receiverURL }
	if err := (&controllers.JitsiDeploymentReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("bench"), ReceiverURL: receiver,
		Bridges: &jvb.Client{}, StatsPeriod: statsPeriod}).SetupWithManager(mgr); err != nil {
		return err
	}
	if err := (&controllers.MeetingReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("bench"), Destinations: dests}).SetupWithManager(mgr); err != nil {
		return err
	}
	var poolClient client.Client = mgr.GetClient()
	poolReader := mgr.GetAPIReader()
	if trace != nil {
		tc := tracedClient{Client: poolClient, t: trace}
		poolClient, poolReader = tc, tracedReader{Reader: poolReader, c: tc}
	}
	if err := (&controllers.JibriPoolReconciler{Client: poolClient, APIReader: poolReader, Sessions: srv, Recorder: mgr.GetEventRecorder("bench"),
		ReceiverURL: receiver, Jibri: &jibri.Client{}, HealthPeriod: time.Second, Destinations: dests, Workers: *poolWorkers}).SetupWithManager(mgr); err != nil {
		return err
	}
	go func() { _ = mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return fmt.Errorf("cache did not sync")
	}
	if trace != nil {
		return trace.watchMeetings(ctx, mgr.GetCache())
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
	post := func(body []byte) error { return benchkit.PostSigned(ctx, http.DefaultClient, url, key, body) }
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
