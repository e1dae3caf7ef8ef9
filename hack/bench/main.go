// Command bench measures the JitsiDeployment controller on the local control plane and prints
// its figures (it asserts nothing):
//
//   - creation: from creating a JitsiDeployment to all of its children existing, per deployment,
//     with N deployments created at once;
//
//   - steady state: the API writes and reads (GET, LIST) the operator makes per minute while
//     nothing changes, with the N deployments present (the goal is 0 of each); requests within a
//     few seconds after an outside change (a pod's readiness, a node's condition) are counted
//     apart, as reactions to it.
//
//     go run ./hack/bench [-deployments 50] [-steady 60s] [-assets bin/k8s]
//
//   - recorder demand (with -pool N): the time from "a Meeting needs a recorder" (the Prosody
//     module's room-created event for a Meeting that records Automatic, sent to the operator's
//     receiver; also from the receiver's answer) to "a new Jibri pod object exists", over N
//     meetings one after the other and then N at once (p50, and p99 only from 100 samples; the
//     goal is under one second).
//
//     go run ./hack/bench -pool 50
//
//   - live-stream demand (with -stream N): the time from a Meeting with Automatic streaming going
//     InProgress to the startService request (stream mode) reaching its pool's idle stand-in recorder.
//
//     go run ./hack/bench -stream 20
//
//   - bridge autoscaling (with -bridges N): the time from a bridge's stress going above the target
//     to the new bridge's Deployment and media Service (the goal: one stats period plus under 100 ms).
//
//     go run ./hack/bench -bridges 20 [-stats-period 1s]
//
//   - meetings at scale (with -meetings N): N Meetings on one JitsiDeployment, the operator in this
//     process: the time until all have their access Secret, then at rest the memory, reconciles
//     and API requests (the goal is ~0), each Meeting's requeue against its own next time, and the
//     receiver's signed events with the N Meetings present, next to bare status writes.
//
//     go run ./hack/bench -meetings 10000 [-meetings-settle 13m]
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/controllers"
	"github.com/jitsi-operator/jitsi-operator/hack/internal/latency"
	"github.com/jitsi-operator/jitsi-operator/internal/localcluster"
	"github.com/jitsi-operator/jitsi-operator/internal/manifests"
)

func main() {
	n := flag.Int("deployments", 50, "JitsiDeployments to create")
	steady := flag.Duration("steady", time.Minute, "how long to count writes once everything is settled")
	assets := flag.String("assets", "bin/k8s", "control plane binaries (hack/controlplane.sh)")
	logTo := flag.String("log", "", "write the operator's debug log to this file")
	pools := flag.Int("pool", 0, "measure recorder demand to pod with this many meetings instead")
	streams := flag.Int("stream", 0, "measure live-stream demand to the recorder's startService with this many meetings instead")
	bridges := flag.Int("bridges", 0, "measure bridge autoscaling (stress above target to the new bridge) with this many deployments instead")
	meetings := flag.Int("meetings", 0, "measure this many Meetings on one JitsiDeployment (creation, memory and requeues at rest, the receiver) instead")
	settle := flag.Duration("meetings-settle", 0, "with -meetings: also measure the memory this much later (e.g. 13m: recorded events forgotten)")
	period := flag.Duration("stats-period", time.Second, "with -bridges: how often the bridges' stats are read")
	flag.Parse()
	if *logTo == "" {
		ctrl.SetLogger(logr.Discard())
	} else {
		f, err := os.Create(*logTo)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		defer f.Close()
		ctrl.SetLogger(zap.New(zap.WriteTo(f), zap.UseDevMode(true)))
	}
	measure := func() error { return run(*n, *steady, *assets) }
	if *pools > 0 {
		measure = func() error { return runPool(*pools, *assets) }
	}
	if *streams > 0 {
		measure = func() error { return runStream(*streams, *assets) }
	}
	if *bridges > 0 {
		measure = func() error { return runBridges(*bridges, *period, *assets) }
	}
	if *meetings > 0 {
		measure = func() error { return runMeetings(*meetings, *settle, *assets) }
	}
	if err := measure(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// writeCounter counts the requests that change something (everything but GET, LIST, WATCH),
// and keeps when each was made and what it was; and the same of reads (GET, LIST).
type writeCounter struct {
	next    http.RoundTripper
	writes  atomic.Int64
	mu      sync.Mutex
	log     []write
	readLog []write
}

type write struct {
	at   time.Time
	what string
}

func (w *writeCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	switch {
	case req.Method != http.MethodGet:
		w.writes.Add(1)
		w.mu.Lock()
		w.log = append(w.log, write{time.Now(), req.Method + " " + req.URL.Path})
		w.mu.Unlock()
	case req.URL.Query().Get("watch") != "true":
		w.mu.Lock()
		w.readLog = append(w.readLog, write{time.Now(), "GET " + req.URL.Path})
		w.mu.Unlock()
	}
	return w.next.RoundTrip(req)
}

// since is the writes made from t on.
func (w *writeCounter) since(t time.Time) []write {
	w.mu.Lock()
	defer w.mu.Unlock()
	return from(w.log, t)
}

// readsSince is the reads (GET and LIST, not watches) made from t on.
func (w *writeCounter) readsSince(t time.Time) []write {
	w.mu.Lock()
	defer w.mu.Unlock()
	return from(w.readLog, t)
}

func from(log []write, t time.Time) []write {
	var out []write
	for _, x := range log {
		if !x.at.Before(t) {
			out = append(out, x)
		}
	}
	return out
}

// reactionWindow is how long after an outside change a write counts as its reaction; outside
// changes are seen by polling once a second, so a write up to a second before one is seen counts
// too.
const reactionWindow = 5 * time.Second

// reaction reports whether a write at t followed one of the outside changes.
func reaction(t time.Time, changes []time.Time) bool {
	for _, c := range changes {
		if !t.Before(c.Add(-time.Second)) && t.Before(c.Add(reactionWindow)) {
			return true
		}
	}
	return false
}

func run(n int, steady time.Duration, assets string) error {
	// Ctrl-C still stops the local control plane.
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	// kwok nodes take 110 pods each; each deployment runs 5 pods.
	nodes := max(2, n*5/100+1)
	cluster, scheme, cl, err := startCluster(ctx, assets, nodes)
	if err != nil {
		return err
	}
	defer os.RemoveAll(cluster.Dir)
	defer cluster.Stop()

	counter := &writeCounter{}
	opCfg := rest.CopyConfig(cluster.Config)
	opCfg.QPS, opCfg.Burst = 200, 400
	opCfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { counter.next = rt; return counter }
	mgr, err := ctrl.NewManager(opCfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
	if err != nil {
		return err
	}
	if err := (&controllers.JitsiDeploymentReconciler{
		Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("jitsi-operator"),
		ReceiverURL: func(string) string { return "http://jitsi-operator-receiver.ops.svc:9090" },
	}).SetupWithManager(mgr); err != nil {
		return err
	}
	go func() { _ = mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return fmt.Errorf("cache did not sync")
	}

	// Creation: N deployments at once, NodePort media so every bridge gets an address.
	fmt.Printf("creating %d JitsiDeployments (2 bridges each, NodePort media) on %d kwok nodes\n", n, nodes)
	start := time.Now()
	for i := 0; i < n; i++ {
		d := &jitsiv1alpha1.JitsiDeployment{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("meet-%02d", i), Namespace: "default"},
			Spec: jitsiv1alpha1.JitsiDeploymentSpec{
				Domain: fmt.Sprintf("meet-%02d.example.com", i),
				JVB:    jitsiv1alpha1.JVBSpec{Replicas: ptr(int32(2)), Media: jitsiv1alpha1.MediaSpec{Type: jitsiv1alpha1.MediaNodePort}},
			},
		}
		if err := cl.Create(ctx, d); err != nil {
			return err
		}
	}
	done := map[string]time.Duration{}
	for len(done) < n {
		if time.Since(start) > 5*time.Minute {
			return fmt.Errorf("only %d of %d deployments complete after 5 minutes", len(done), n)
		}
		have, err := childNames(ctx, cl)
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			name := fmt.Sprintf("meet-%02d", i)
			if _, ok := done[name]; !ok && complete(have, name) {
				done[name] = time.Since(start)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	var times []time.Duration
	for _, t := range done {
		times = append(times, t)
	}
	fmt.Printf("creation: all children of %d deployments in %s; per deployment %s; %d writes\n",
		n, slices.Max(times).Round(time.Millisecond), latency.Summary(times, time.Millisecond), counter.writes.Load())

	// Let pods start and statuses settle, then count.
	settle := time.Now()
	ready := 0
	for time.Since(settle) < 3*time.Minute {
		var list jitsiv1alpha1.JitsiDeploymentList
		if err := cl.List(ctx, &list); err != nil {
			return err
		}
		ready = 0
		for _, d := range list.Items {
			for _, c := range d.Status.Conditions {
				if c.Type == jitsiv1alpha1.ConditionReady && c.Status == metav1.ConditionTrue {
					ready++
				}
			}
		}
		if ready == n {
			break
		}
		time.Sleep(time.Second)
	}
	fmt.Printf("settled: %d of %d Ready %s after creation began\n", ready, n, time.Since(start).Round(time.Second))
	time.Sleep(5 * time.Second)
	window := time.Now()
	changes, err := outsideChanges(ctx, cl, steady)
	if err != nil {
		return err
	}
	var unprompted, reactions int
	byKind := map[string]int{}
	for _, w := range counter.since(window) {
		if reaction(w.at, changes) {
			reactions++
			byKind["reaction: "+w.what]++
		} else {
			unprompted++
			byKind[w.what]++
		}
	}
	var readsUnprompted, readReactions int
	for _, r := range counter.readsSince(window) {
		if reaction(r.at, changes) {
			readReactions++
			byKind["reaction: "+r.what]++
		} else {
			readsUnprompted++
			byKind[r.what]++
		}
	}
	fmt.Printf("steady state, %s with %d deployments present: %d API writes nothing outside asked for (%.1f per minute; goal 0)\n",
		steady, n, unprompted, float64(unprompted)/steady.Minutes())
	fmt.Printf("  and %d API reads (GET, LIST) nothing outside asked for (%.1f per minute; goal 0)\n",
		readsUnprompted, float64(readsUnprompted)/steady.Minutes())
	fmt.Printf("  and %d writes and %d reads within %s of the %d outside changes seen (a pod's readiness or a node's condition changed: the operator reports what it observes)\n",
		reactions, readReactions, reactionWindow, len(changes))
	for k, v := range byKind {
		fmt.Printf("  %4d %s\n", v, k)
	}
	return nil
}

// startCluster starts the local control plane with the CRDs installed.
func startCluster(ctx context.Context, assets string, nodes int) (*localcluster.Cluster, *runtime.Scheme, client.Client, error) {
	assets, err := filepath.Abs(assets)
	if err != nil {
		return nil, nil, nil, err
	}
	dir, err := os.MkdirTemp("", "jitsi-operator-bench-")
	if err != nil {
		return nil, nil, nil, err
	}
	cluster, err := localcluster.Start(ctx, localcluster.Options{AssetsDir: assets, Dir: dir, Nodes: nodes})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, nil, err
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, jitsiv1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, nil, nil, err
		}
	}
	cl, err := client.New(cluster.Config, client.Options{Scheme: scheme})
	if err == nil {
		_, err = manifests.InstallCRDs(ctx, cl)
	}
	if err != nil {
		cluster.Stop()
		return nil, nil, nil, err
	}
	return cluster, scheme, cl, nil
}

// outsideChanges polls, for d, the pods' readiness and the nodes' conditions, and returns when
// it saw each change: what the operator may rightly react to.
func outsideChanges(ctx context.Context, cl client.Client, d time.Duration) ([]time.Time, error) {
	state := map[string]string{}
	var changes []time.Time
	end := time.Now().Add(d)
	for first := true; time.Now().Before(end); first = false {
		now := map[string]string{}
		var pods corev1.PodList
		if err := cl.List(ctx, &pods, client.InNamespace("default")); err != nil {
			return nil, err
		}
		for _, p := range pods.Items {
			now["pod/"+string(p.UID)] = fmt.Sprint(podReady(&p))
		}
		var nodes corev1.NodeList
		if err := cl.List(ctx, &nodes); err != nil {
			return nil, err
		}
		for _, n := range nodes.Items {
			var conds []string
			for _, c := range n.Status.Conditions {
				conds = append(conds, string(c.Type)+"="+string(c.Status))
			}
			now["node/"+n.Name] = strings.Join(conds, ",") + fmt.Sprint(n.Spec.Taints)
		}
		if !first {
			for k, v := range now {
				if was, seen := state[k]; !seen || was != v {
					changes = append(changes, time.Now())
				}
			}
			for k := range state {
				if _, still := now[k]; !still {
					changes = append(changes, time.Now())
				}
			}
		}
		state = now
		time.Sleep(time.Second)
	}
	return changes, nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// childNames lists the names of every Deployment, Service, ConfigMap and Secret, by kind.
func childNames(ctx context.Context, cl client.Client) (map[string]bool, error) {
	have := map[string]bool{}
	lists := map[string]client.ObjectList{
		"Deployment": &appsv1.DeploymentList{}, "Service": &corev1.ServiceList{},
		"ConfigMap": &corev1.ConfigMapList{}, "Secret": &corev1.SecretList{},
	}
	for kind, list := range lists {
		if err := cl.List(ctx, list, client.InNamespace("default")); err != nil {
			return nil, err
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return nil, err
		}
		for _, o := range items {
			have[kind+"/"+o.(client.Object).GetName()] = true
		}
	}
	return have, nil
}

// complete reports whether every child of deployment name exists.
func complete(have map[string]bool, name string) bool {
	want := []string{"Secret/-generated", "ConfigMap/-prosody-config", "ConfigMap/-jvb-scripts"}
	for _, c := range []string{"-prosody", "-jicofo", "-web", "-jvb-0", "-jvb-1"} {
		want = append(want, "Deployment/"+c, "Service/"+c)
	}
	for _, w := range want {
		kind, suffix, _ := strings.Cut(w, "/")
		if !have[kind+"/"+name+suffix] {
			return false
		}
	}
	return true
}

func ptr[T any](v T) *T { return &v }
