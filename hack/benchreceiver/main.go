// Command benchreceiver measures the webhook receiver against a real API server (etcd and
// kube-apiserver from bin/k8s) and prints its figures (it asserts nothing):
//
//   - events per second and the time from sending an event to its 2xx (which means the Meeting's
//     status holds it), p50 and (from 100 samples) p99, with -senders concurrent senders over -meetings meetings;
//
//   - how many status writes a burst of 200 joins to one meeting costs;
//
//   - for the receiver's writes and the bare ones, the API server's CPU time per write (its
//     process's, over the writes made meanwhile);
//
//   - with -flood N: the receiver's real HTTP server under a flood of unauthenticated 1 MiB posts
//     from N connections (from another process) for -flood-for: the flood's answers, the
//     authenticated events stored meanwhile and their latency, and this process's memory.
//
//     go run ./hack/benchreceiver [-events 4000] [-meetings 20] [-senders 16] [-flood 200] [-assets bin/k8s]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/controllers"
	"github.com/jitsi-operator/jitsi-operator/hack/internal/benchkit"
	"github.com/jitsi-operator/jitsi-operator/hack/internal/latency"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
	"github.com/jitsi-operator/jitsi-operator/webhook"
)

const secret = "bench-events-secret"

func main() {
	n := flag.Int("events", 4000, "events to send")
	meetings := flag.Int("meetings", 20, "meetings the events are spread over")
	senders := flag.Int("senders", 16, "concurrent senders")
	assets := flag.String("assets", "bin/k8s", "control plane binaries (hack/controlplane.sh)")
	floodConns := flag.Int("flood", 0, "connections of the unauthenticated flood (0: no flood)")
	floodFor := flag.Duration("flood-for", 15*time.Second, "how long the flood lasts")
	floodAt := flag.String("flood-client", "", "internal: be the flood's client, against this address")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run (receiver and senders) to this file")
	rates := flag.String("rates", "500,1000,2000", "offered rates (events/s, comma-separated) of the open-loop runs after the closed-loop one; empty: none")
	apiProfile := flag.String("apiserver-cpuprofile", "", "write the API server's CPU profile of the first 10 s of the events to this file")
	conns := flag.Int("max-connections", webhook.DefaultMaxConnections, "connections the receiver holds (its --receiver-max-connections): the open-loop runs leave as many unanswered at most, and the flood's receiver holds as many")
	baseProfile := flag.String("apiserver-cpuprofile-baseline", "", "write the API server's CPU profile of the first 5 s of the second baseline (bare writes to the Meetings as the events left them) to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchreceiver:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if *floodAt != "" {
		if err := floodClient(*floodAt, *floodConns, *floodFor); err != nil {
			fmt.Fprintln(os.Stderr, "benchreceiver flood client:", err)
			os.Exit(1)
		}
		return
	}
	log.SetLogger(logr.Discard()) // the receiver logs each refused request at debug level
	if err := run(*n, *meetings, *senders, *floodConns, *floodFor, *assets, *apiProfile, *baseProfile, *rates, *conns); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "benchreceiver:", err)
		os.Exit(1)
	}
}

// writes counts the status writes the receiver sends, their bytes, and its reads.
type writes struct {
	next  http.RoundTripper
	n     atomic.Int64
	bytes atomic.Int64
	reads atomic.Int64
}

func (w *writes) RoundTrip(r *http.Request) (*http.Response, error) {
	switch {
	case r.Method == http.MethodPut || r.Method == http.MethodPatch:
		w.n.Add(1)
		w.bytes.Add(max(r.ContentLength, 0))
	case r.Method == http.MethodGet && r.URL.Query().Get("watch") != "true":
		w.reads.Add(1)
	}
	return w.next.RoundTrip(r)
}

func run(n, meetings, senders, floodConns int, floodFor time.Duration, assets, apiProfile, baseProfile, rates string, conns int) error {
	assets, err := filepath.Abs(assets)
	if err != nil {
		return err
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{"config/crd/bases"},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("start the API server (run from the repository root): %w", err)
	}
	defer func() { _ = env.Stop() }()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, jitsiv1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			return err
		}
	}
	counter := &writes{}
	rcfg := rest.CopyConfig(cfg)
	rcfg.QPS, rcfg.Burst = -1, 0 // no client-side limit: measure the receiver and the API server
	rcfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { counter.next = rt; return counter }
	cl, err := client.New(rcfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	ctx := context.Background()
	ns := "default"
	if err := cl.Create(ctx, &jitsiv1alpha1.JitsiDeployment{ObjectMeta: metav1.ObjectMeta{Name: "meet", Namespace: ns},
		Spec: jitsiv1alpha1.JitsiDeploymentSpec{Domain: "meet.example.com"}}); err != nil {
		return err
	}
	if err := cl.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "meet-generated", Namespace: ns,
		Labels: map[string]string{render.LabelManagedBy: render.ManagedBy}},
		Data: map[string][]byte{"WEBHOOK_SECRET": []byte(secret)}}); err != nil {
		return err
	}
	for i := 0; i <= meetings; i++ {
		if err := cl.Create(ctx, &jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("room-%02d", i), Namespace: ns},
			Spec: jitsiv1alpha1.MeetingSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"}}}); err != nil {
			return err
		}
	}
	// As in the operator: lookups from an informer cache, the fresh read before a write and the
	// write itself from the API server.
	opts := controllers.CacheOptions()
	opts.Scheme = scheme
	informers, err := cache.New(rcfg, opts)
	if err != nil {
		return err
	}
	if err := controllers.IndexMeetingRooms(ctx, informers); err != nil {
		return err
	}
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = informers.Start(cctx) }()
	cached, err := client.New(rcfg, client.Options{Scheme: scheme, Cache: &client.CacheOptions{Reader: informers}})
	if err != nil {
		return err
	}
	for _, o := range []client.Object{&jitsiv1alpha1.JitsiDeployment{}, &corev1.Secret{}, &jitsiv1alpha1.Meeting{}} {
		if _, err := informers.GetInformer(ctx, o); err != nil {
			return err
		}
	}
	if !informers.WaitForCacheSync(ctx) {
		return fmt.Errorf("cache did not sync")
	}
	receiver := &webhook.Server{Client: cached, Reader: cl, MaxConnections: conns}
	srv := httptest.NewServer(receiver.Handler())
	defer srv.Close()
	url := srv.URL + "/v1/prosody/events?deployment=" + ns + "/meet"
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders}}

	// Throughput and latency: joins then leaves of people spread over the meetings.
	var bodies [][]byte
	for i := 0; len(bodies) < n; i++ {
		room := fmt.Sprintf("room-%02d", 1+i%meetings)
		jid := fmt.Sprintf("p%05d@meet.jitsi", i)
		bodies = append(bodies, benchkit.ModuleEvent("occupant-joined", room, jid), benchkit.ModuleEvent("occupant-left", room, jid))
	}
	bodies = bodies[:n]
	if err := baseline(ctx, cl, ns, senders, meetings); err != nil {
		return err
	}
	profiled := make(chan error, 1)
	if apiProfile != "" {
		go func() { profiled <- profileAPIServer(ctx, cfg, apiProfile, 10*time.Second) }()
	}
	before, bytesBefore, readsBefore := counter.n.Load(), counter.bytes.Load(), counter.reads.Load()
	cores := benchkit.TakeCores()
	lat, elapsed, err := benchkit.SendSigned(httpc, url, []byte(secret), bodies, senders)
	used := cores.Since()
	if err != nil {
		return err
	}
	if apiProfile != "" {
		if err := <-profiled; err != nil {
			return fmt.Errorf("the API server's profile: %w", err)
		}
		fmt.Printf("the API server's CPU profile: go tool pprof -top %s\n", apiProfile)
	}
	w := counter.n.Load() - before
	fmt.Printf("%d events, %d senders, %d meetings: %.0f events/s; send to stored %s; %d status writes (%.2f per event, %.0f bytes each, %s of the API server's CPU each), %d reads; %s\n",
		n, senders, meetings, float64(n)/elapsed.Seconds(), latency.Summary(lat, 100*time.Microsecond),
		w, float64(w)/float64(n), float64(counter.bytes.Load()-bytesBefore)/float64(max(w, 1)), perWrite(used.APIServer, w), counter.reads.Load()-readsBefore, used)

	// Open loop: events offered at a rate, as Prosody sends them, each waiting for nobody's answer.
	// Fresh people each run (the same joins again would change nothing and write nothing).
	openc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns}}
	for run, field := range strings.Split(rates, ",") {
		if field = strings.TrimSpace(field); field == "" {
			continue
		}
		rate, err := strconv.ParseFloat(field, 64)
		if err != nil || rate <= 0 {
			return fmt.Errorf("-rates: %q is not a rate", field)
		}
		var offered [][]byte
		for i := 0; len(offered) < n; i++ {
			room := fmt.Sprintf("room-%02d", 1+i%meetings)
			jid := fmt.Sprintf("r%d-%05d@meet.jitsi", run, i)
			offered = append(offered, benchkit.ModuleEvent("occupant-joined", room, jid), benchkit.ModuleEvent("occupant-left", room, jid))
		}
		offered = offered[:n]
		before, cores := counter.n.Load(), benchkit.TakeCores()
		// As many unanswered as the receiver holds connections (each waiting request holds one).
		lat, elapsed, late, err := benchkit.OfferSigned(openc, url, []byte(secret), offered, rate, conns)
		if err != nil {
			return err
		}
		_, peak := benchkit.Memory()
		w, used := counter.n.Load()-before, cores.Since()
		fmt.Printf("offered %.0f events/s (open loop, %d events, %d meetings): stored %.0f events/s; due to stored %s; %d status writes (%.2f per event, %s of the API server's CPU each); %d sent late (%d unanswered); %s; this process's peak %.0f MiB resident\n",
			rate, n, meetings, float64(n)/elapsed.Seconds(), latency.Summary(lat, 100*time.Microsecond), w, float64(w)/float64(n), perWrite(used.APIServer, w), late, conns, used, peak)
	}

	// The same bare writes now that the Meetings carry the status the events left (up to 200
	// participants each): the API server's cost of a write grows with the object.
	fmt.Println("baseline again, on the Meetings as the events left them:")
	if baseProfile != "" {
		go func() { profiled <- profileAPIServer(ctx, cfg, baseProfile, 5*time.Second) }()
	}
	if err := baseline(ctx, cl, ns, senders, meetings); err != nil {
		return err
	}
	if baseProfile != "" {
		if err := <-profiled; err != nil {
			return fmt.Errorf("the API server's profile: %w", err)
		}
		fmt.Printf("the API server's CPU profile of the bare writes: go tool pprof -top %s\n", baseProfile)
	}

	// A burst of 200 joins to one meeting.
	var burst [][]byte
	for i := 0; i < 200; i++ {
		burst = append(burst, benchkit.ModuleEvent("occupant-joined", "room-00", fmt.Sprintf("burst%03d@meet.jitsi", i)))
	}
	before, bytesBefore = counter.n.Load(), counter.bytes.Load()
	_, elapsed, err = benchkit.SendSigned(httpc, url, []byte(secret), burst, senders)
	if err != nil {
		return err
	}
	m := &jitsiv1alpha1.Meeting{}
	if err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: "room-00"}, m); err != nil {
		return err
	}
	w = counter.n.Load() - before
	fmt.Printf("burst of 200 joins to one meeting from %d senders: %d status writes (%.0f bytes each), %s; the meeting shows %d participants\n",
		senders, w, float64(counter.bytes.Load()-bytesBefore)/float64(max(w, 1)), elapsed.Round(time.Millisecond), m.Status.ParticipantCount)
	if floodConns > 0 {
		return flood(receiver, n, senders, floodConns, floodFor)
	}
	return nil
}

// profileAPIServer writes the API server's CPU profile over the next d to path (its
// /debug/pprof, open to the test environment's administrator).
func profileAPIServer(ctx context.Context, cfg *rest.Config, path string, d time.Duration) error {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", strings.TrimSuffix(cfg.Host, "/"), int(d.Seconds())), nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("answered %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// baseline prints the API server's own pace on this machine in this run: bare status writes (a
// merge patch of one field) to Meetings by one writer and by senders writers (each on its own
// Meeting), so that the
// receiver's figures can be read as ratios on a noisy machine.
func baseline(ctx context.Context, cl client.Client, ns string, senders, meetings int) error {
	for _, writers := range []int{1, senders} {
		const per = 100
		var mu sync.Mutex
		var lat []time.Duration
		var firstErr error
		var wg sync.WaitGroup
		cores := benchkit.TakeCores()
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Each writer its own Meeting of the events' (room-01 on), as the receiver's writes
				// for different meetings.
				m := &jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("room-%02d", 1+w%meetings)}}
				for i := 0; i < per; i++ {
					patch := fmt.Sprintf(`{"status":{"peakParticipants":%d}}`, w*per+i)
					t0 := time.Now()
					err := cl.Status().Patch(ctx, m, client.RawPatch(types.MergePatchType, []byte(patch)))
					mu.Lock()
					lat = append(lat, time.Since(t0))
					if err != nil && firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if firstErr != nil {
			return firstErr
		}
		used := cores.Since()
		fmt.Printf("baseline: bare status writes by %d writer(s): %.0f writes/s, %s, %s of the API server's CPU each\n",
			writers, float64(len(lat))/used.Wall.Seconds(), latency.Summary(lat, 100*time.Microsecond), perWrite(used.APIServer, int64(len(lat))))
	}
	return nil
}

// perWrite is the API server's CPU time cpu spread over n writes (it also served the watches and
// the other requests of the time: an upper bound of a write's own cost).
func perWrite(cpu time.Duration, n int64) string {
	if cpu <= 0 || n <= 0 {
		return "unknown"
	}
	return (cpu / time.Duration(n)).Round(100 * time.Microsecond).String()
}
