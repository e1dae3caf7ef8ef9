package main

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	goruntime "runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
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
	"github.com/jitsi-operator/jitsi-operator/internal/render"
	"github.com/jitsi-operator/jitsi-operator/webhook"
)

// restWindow is how long reconciles and API requests are counted once everything settled.
const restWindow = 30 * time.Second

// runMeetings measures n Meetings on one JitsiDeployment with the operator (its three controllers
// and the receiver, wired as main.go does) in this process: the time until every Meeting has its
// access Secret and AccessIssued=True; at rest, this process's memory, the reconciles per
// controller and the operator's API requests; each Meeting's requeue against its own next time;
// and the receiver's signed module events spread over the Meetings, next to bare status writes
// made meanwhile; with settle, the memory once more that much later. The Meetings come in four kinds, a quarter each: an end hours ahead, a start
// and a maximum duration, no times (tokens re-issued daily), and an end in the past (Expired).
func runMeetings(n int, settle time.Duration, assets string) error {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	cluster, scheme, _, err := startCluster(ctx, assets, 2)
	if err != nil {
		return err
	}
	defer os.RemoveAll(cluster.Dir)
	defer cluster.Stop()
	// The bench's own client: no client-side limit, and not counted as the operator's.
	bcfg := rest.CopyConfig(cluster.Config)
	bcfg.QPS, bcfg.Burst = -1, 0
	cl, err := client.NewWithWatch(bcfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	requests := &requestCounter{}
	opCfg := rest.CopyConfig(cluster.Config)
	opCfg.QPS, opCfg.Burst = 200, 400
	opCfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { requests.next = rt; return requests }
	meetings, receiver, err := startMeetingOperator(ctx, opCfg, scheme)
	if err != nil {
		return err
	}
	const ns = "default"
	if err := cl.Create(ctx, &jitsiv1alpha1.JitsiDeployment{ObjectMeta: metav1.ObjectMeta{Name: "meet", Namespace: ns},
		Spec: jitsiv1alpha1.JitsiDeploymentSpec{Domain: "meet.example.com", JVB: jitsiv1alpha1.JVBSpec{Media: jitsiv1alpha1.MediaSpec{Type: jitsiv1alpha1.MediaNodePort}}}}); err != nil {
		return err
	}
	generated := &corev1.Secret{}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: "meet-generated"}, generated)
		if err == nil && len(generated.Data[render.KeyWebhookSecret]) > 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no generated secret for deployment meet: %v", err)
		}
	}

	issued, err := watchIssued(ctx, cl, ns)
	if err != nil {
		return err
	}
	atStart, err := reconciles()
	if err != nil {
		return err
	}
	fmt.Printf("creating %d Meetings on one JitsiDeployment (JWT auth), 16 creators\n", n)
	created := make([]time.Time, n)
	start := time.Now()
	if err := parallel(16, n, func(i int) error {
		err := cl.Create(ctx, meetingOfKind(ns, i, start))
		created[i] = time.Now()
		return err
	}); err != nil {
		return err
	}
	createdAll := time.Since(start)
	done, err := issued.wait(n, 15*time.Minute)
	if err != nil {
		return err
	}
	var took []time.Duration
	var last time.Time
	for i := range n {
		at := done[meetingName(i)]
		took = append(took, at.Sub(created[i]))
		if at.After(last) {
			last = at
		}
	}
	fmt.Printf("creation: %d Meetings created in %s (%.0f/s); all with their access Secret and AccessIssued=True %s after the first\n",
		n, createdAll.Round(time.Millisecond), float64(n)/createdAll.Seconds(), last.Sub(start).Round(time.Millisecond))
	report("  per Meeting, from its creation", took)
	if atDone, err := reconciles(); err == nil {
		fmt.Printf("  reconciles meanwhile: meeting %.0f, jitsideployment %.0f\n",
			atDone["meeting"]-atStart["meeting"], atDone["jitsideployment"]-atStart["jitsideployment"])
	}
	took, done, created = nil, nil, nil // not held while the memory is measured

	// At rest: nothing changes, so the counts are what the operator does by itself.
	if err := quiet(10*time.Second, 3*time.Minute); err != nil {
		return err
	}
	before, err := reconciles()
	if err != nil {
		return err
	}
	requests.arm()
	time.Sleep(restWindow)
	counted := requests.disarm()
	after, err := reconciles()
	if err != nil {
		return err
	}
	fmt.Printf("at rest, %s with %d Meetings present (goal ~0):\n", restWindow, n)
	for _, k := range slices.Sorted(maps.Keys(after)) {
		if d := after[k] - before[k]; d > 0 || !strings.Contains(k, " ") {
			fmt.Printf("  controller_runtime_reconcile_total %s: %.0f (%.2f/s)\n", k, d, d/restWindow.Seconds())
		}
	}
	total := 0
	for _, c := range counted {
		total += c
	}
	fmt.Printf("  operator API requests: %d (%.2f/s)\n", total, float64(total)/restWindow.Seconds())
	for _, k := range slices.Sorted(maps.Keys(counted)) {
		fmt.Printf("    %4d %s\n", counted[k], k)
	}
	memoryFigures("  memory")
	if settle > 0 {
		// client-go's event recorder forgets an event 6 to 12 minutes after it, and the runtime
		// returns unused heap to the system over minutes.
		time.Sleep(settle)
		memoryFigures(fmt.Sprintf("  memory %s later", settle))
	}

	if err := checkRequeues(ctx, cl, meetings, ns); err != nil {
		return err
	}
	return receiverFigures(ctx, cl, receiver, generated.Data[render.KeyWebhookSecret], n, ns)
}

// meetingName names the i-th Meeting.
func meetingName(i int) string { return fmt.Sprintf("m-%05d", i) }

// meetingOfKind is the i-th Meeting; its kind is i%4 (see runMeetings), its times relative to t.
func meetingOfKind(ns string, i int, t time.Time) *jitsiv1alpha1.Meeting {
	m := &jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Name: meetingName(i), Namespace: ns},
		Spec: jitsiv1alpha1.MeetingSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"}, Title: "bench"}}
	at := func(d time.Duration) *metav1.Time { v := metav1.NewTime(t.Add(d).Truncate(time.Second)); return &v }
	spread := time.Duration(i) * time.Second
	switch i % 4 {
	case 0:
		m.Spec.StartTime, m.Spec.EndTime = at(time.Hour+spread), at(2*time.Hour+spread)
	case 1:
		minutes := int32(90)
		m.Spec.StartTime, m.Spec.MaxDurationMinutes = at(3*time.Hour+spread), &minutes
	case 3:
		m.Spec.StartTime, m.Spec.EndTime = at(-3*time.Hour-spread), at(-2*time.Hour-spread)
	}
	return m
}

// ownNext is when m changes by itself, from its own times: its end while ahead, else for a
// Meeting without an end the next UTC midnight (its tokens' re-issue); zero for one that ended.
func ownNext(m *jitsiv1alpha1.Meeting, now time.Time) time.Time {
	var end time.Time
	switch s := m.Spec; {
	case s.EndTime != nil:
		end = s.EndTime.Time
	case s.StartTime != nil && s.MaxDurationMinutes != nil:
		end = s.StartTime.Add(time.Duration(*s.MaxDurationMinutes) * time.Minute)
	default:
		return now.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	}
	if end.After(now) {
		return end
	}
	return time.Time{}
}

// checkRequeues reconciles every Meeting once more and compares the requeue it asks for with the
// Meeting's own next time: none may come sooner.
func checkRequeues(ctx context.Context, cl client.Client, r *controllers.MeetingReconciler, ns string) error {
	var list jitsiv1alpha1.MeetingList
	if err := cl.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return err
	}
	var sooner, none, matched int
	var soonest time.Duration
	for i := range list.Items {
		m := &list.Items[i]
		now := time.Now()
		res, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: m.Name}})
		if err != nil {
			return fmt.Errorf("reconcile %s: %w", m.Name, err)
		}
		next := ownNext(m, now)
		switch {
		case res.RequeueAfter == 0 && next.IsZero():
			none++
		case next.IsZero() || res.RequeueAfter < next.Sub(now)-time.Second:
			sooner++
		default:
			matched++
		}
		if res.RequeueAfter > 0 && (soonest == 0 || res.RequeueAfter < soonest) {
			soonest = res.RequeueAfter
		}
	}
	fmt.Printf("requeues of the %d Meetings, against each one's own next time: %d at it, %d none (ended), %d sooner; soonest %s\n",
		len(list.Items), matched, none, sooner, soonest.Round(time.Second))
	return nil
}

// receiverFigures sends signed module events (a join, later a leave, per Meeting) to the receiver
// with 16 senders, over a quarter of the Meetings, and times bare status writes by one and by 16
// writers in the same run: the receiver's latency is to be read against them.
func receiverFigures(ctx context.Context, cl client.Client, url string, key []byte, n int, ns string) error {
	var bare1, bare16 []time.Duration
	write := func(name string, k int) (time.Duration, error) {
		m := &jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
		t0 := time.Now()
		err := cl.Status().Patch(ctx, m, client.RawPatch(types.MergePatchType, []byte(fmt.Sprintf(`{"status":{"peakParticipants":%d}}`, k))))
		return time.Since(t0), err
	}
	for k := range 200 {
		d, err := write(meetingName(1), k+1)
		if err != nil {
			return err
		}
		bare1 = append(bare1, d)
	}
	var mu sync.Mutex
	if err := parallel(16, 16*50, func(i int) error {
		d, err := write(meetingName(1+4*(i%16)), i+1)
		mu.Lock()
		bare16 = append(bare16, d)
		mu.Unlock()
		return err
	}); err != nil {
		return err
	}
	// The receiver's events go to the Meetings without times (open at any time).
	var bodies [][]byte
	rooms := n / 4
	for _, kind := range []string{"occupant-joined", "occupant-left"} {
		for i := range rooms {
			bodies = append(bodies, benchkit.ModuleEvent(kind, meetingName(4*i+2), fmt.Sprintf("p%05d@meet.jitsi", i)))
		}
	}
	lat, elapsed, err := benchkit.SendSigned(&http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}, url+"/v1/prosody/events?deployment="+ns+"/meet", key, bodies, 16)
	if err != nil {
		return err
	}
	fmt.Printf("receiver with %d Meetings present: %d signed events (a join and a leave to each of %d Meetings), 16 senders: %.0f events/s; send to stored %s\n",
		n, len(bodies), rooms, float64(len(bodies))/elapsed.Seconds(), latency.Summary(lat, 100*time.Microsecond))
	fmt.Printf("  bare Meeting status write (merge patch), 1 writer: %s\n", latency.Summary(bare1, 100*time.Microsecond))
	fmt.Printf("  bare Meeting status write (merge patch), 16 writers: %s\n", latency.Summary(bare16, 100*time.Microsecond))
	slices.Sort(lat)
	slices.Sort(bare16)
	fmt.Printf("  receiver p50 / 16-writer bare p50: %.1f\n", float64(latency.Quantile(lat, 0.5))/float64(latency.Quantile(bare16, 0.5)))
	return nil
}

// startMeetingOperator runs the three controllers and the receiver as main.go wires them, on cfg;
// it returns the Meeting reconciler and the receiver's loopback URL.
func startMeetingOperator(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme) (*controllers.MeetingReconciler, string, error) {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0", Cache: controllers.CacheOptions()})
	if err != nil {
		return nil, "", err
	}
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	addr := probe.Addr().String()
	probe.Close()
	dests := &destination.Policy{AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	receiver := func(string) string { return "http://" + addr }
	secrets, err := controllers.NewSecretMetadataCache(mgr)
	if err != nil {
		return nil, "", err
	}
	if err := (&controllers.JitsiDeploymentReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), SecretMetadata: secrets,
		Recorder: mgr.GetEventRecorder("bench"), ReceiverURL: receiver, Bridges: &jvb.Client{}}).SetupWithManager(mgr); err != nil {
		return nil, "", err
	}
	meetings := &controllers.MeetingReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), SecretMetadata: secrets,
		Recorder: mgr.GetEventRecorder("bench"), Destinations: dests}
	if err := meetings.SetupWithManager(mgr); err != nil {
		return nil, "", err
	}
	srv := &webhook.Server{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Addr: addr, Destinations: dests}
	if err := (&controllers.JibriPoolReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Sessions: srv, Recorder: mgr.GetEventRecorder("bench"),
		ReceiverURL: receiver, Jibri: &jibri.Client{}, HealthPeriod: time.Second, Destinations: dests}).SetupWithManager(mgr); err != nil {
		return nil, "", err
	}
	if err := mgr.Add(srv); err != nil {
		return nil, "", err
	}
	go func() { _ = mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return nil, "", fmt.Errorf("cache did not sync")
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			return nil, "", fmt.Errorf("the receiver did not listen on %s", addr)
		}
	}
	return meetings, "http://" + addr, nil
}

// memoryFigures prints this process's memory after a collection, and writes a heap profile.
func memoryFigures(what string) {
	goruntime.GC()
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	rss, hwm := benchkit.Memory()
	mib := func(b uint64) float64 { return float64(b) / (1 << 20) }
	fmt.Printf("%s: VmRSS %.0f MiB, VmHWM %.0f MiB, Go HeapInuse %.0f MiB (goal: RSS < 150 MiB); heap kept for reuse %.0f MiB, next GC at %.0f MiB\n",
		what, rss, hwm, mib(ms.HeapInuse), mib(ms.HeapIdle-ms.HeapReleased), mib(ms.NextGC))
	if prof, err := os.CreateTemp("", "meetings-heap-*.pprof"); err == nil {
		if pprof.WriteHeapProfile(prof) == nil {
			fmt.Printf("    heap profile: go tool pprof -top %s\n", prof.Name())
		}
		prof.Close()
	}
}
