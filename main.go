// Command jitsi-operator runs the jitsi-operator manager: the reconcilers of JitsiDeployment,
// JibriPool and Meeting, and the webhook receiver. --run=controllers or --run=receiver runs one of
// the two alone, so that the receiver can be a Deployment of its own with fewer permissions.
//
// With no cluster configured (no --kubeconfig, KUBECONFIG, in-cluster config or ~/.kube/config)
// and --local-cluster=auto, it starts a local control plane on loopback first (kube-apiserver,
// etcd, controller-manager, scheduler and kwok nodes from hack/controlplane.sh), installs the
// CRDs, optionally applies the samples, and stops it all again on Ctrl-C.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/config"
	"github.com/jitsi-operator/jitsi-operator/controllers"
	"github.com/jitsi-operator/jitsi-operator/internal/destination"
	"github.com/jitsi-operator/jitsi-operator/internal/jibri"
	"github.com/jitsi-operator/jitsi-operator/internal/jvb"
	"github.com/jitsi-operator/jitsi-operator/internal/localcluster"
	"github.com/jitsi-operator/jitsi-operator/internal/manifests"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
	"github.com/jitsi-operator/jitsi-operator/webhook"
)

var scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(apiextensionsv1.AddToScheme(scheme))
	utilruntime.Must(jitsiv1alpha1.AddToScheme(scheme))
	utilruntime.Must(gatewayv1.Install(scheme))
}

type options struct {
	metricsAddr, probeAddr string
	leaderElect            bool
	leaderElectionNS       string
	localCluster           string
	localAssets, localDir  string
	localNodes             int
	installCRDs            bool
	applySamples           bool
	samplesNamespace       string
	receiverURL            string
	jibriHealthPeriod      time.Duration
	relayImage             string
	jvbStatsPeriod         time.Duration
	receiverAddr           string
	receiverConns          int
	clusterDomain          string
	sndAloopLoaderImage    string
	operatorNamespace      string
	operatorPodLabels      string
	run                    string
	watchNamespaces        string
	destinationNetworks    string
	destinationAllow       string
	// destinations is the policy parsed from destinationNetworks and destinationAllow.
	destinations *destination.Policy
}

func main() {
	var o options
	flag.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", "address the metrics endpoint binds to; 0 disables it")
	flag.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "address the health and readiness probes bind to")
	flag.BoolVar(&o.leaderElect, "leader-elect", false, "elect a leader among operator replicas; only the leader reconciles")
	flag.StringVar(&o.leaderElectionNS, "leader-election-namespace", "", "namespace of the leader election Lease (default: the pod's own namespace)")
	flag.StringVar(&o.localCluster, "local-cluster", "auto", "auto: start a local control plane when no cluster is configured; always; never")
	flag.StringVar(&o.localAssets, "local-cluster-assets", envOr("KUBEBUILDER_ASSETS", "bin/k8s"), "directory of the control plane binaries built by hack/controlplane.sh")
	flag.StringVar(&o.localDir, "local-cluster-dir", ".local-cluster", "working directory of the local control plane (data, logs, kubeconfig); wiped at start")
	flag.IntVar(&o.localNodes, "local-cluster-nodes", 2, "kwok nodes of the local control plane")
	flag.BoolVar(&o.installCRDs, "install-crds", false, "install or update the CRDs before starting (always done on a local control plane)")
	flag.BoolVar(&o.applySamples, "apply-samples", false, "apply config/samples once the CRDs are served")
	flag.StringVar(&o.samplesNamespace, "samples-namespace", "default", "namespace the samples are applied in")
	flag.StringVar(&o.clusterDomain, "cluster-domain", render.DefaultClusterDomain,
		"the cluster's DNS domain: every Service name the operator hands a pod is fully qualified with it, since nginx and Prosody ignore the pod's DNS search list")
	flag.StringVar(&o.receiverURL, "receiver-url", "",
		"base URL at which Prosody and Jibri reach the operator's webhook receiver, with a fully qualified host (default: http://jitsi-operator-receiver.<operator-namespace>.svc.<cluster-domain>:9090; the Helm chart sets it to its Service)")
	flag.DurationVar(&o.jvbStatsPeriod, "jvb-stats-period", 10*time.Second, "how often autoscaled videobridges' stats are read")
	flag.StringVar(&o.relayImage, "relay-image", controllers.DefaultRelayImage, "image of the pools' RTMP relays (relay/Dockerfile) when a pool names none")
	flag.StringVar(&o.sndAloopLoaderImage, "snd-aloop-loader-image", render.DefaultSndAloopLoaderImage,
		"image with modprobe that loads snd-aloop for privileged SndAloop pools whose nodes do not load it themselves")
	flag.StringVar(&o.operatorNamespace, "operator-namespace", envOr("POD_NAMESPACE", render.DefaultOperatorNamespace),
		"namespace of the operator's pods: only they may reach the recorders' HTTP API (the recorders' NetworkPolicy)")
	flag.StringVar(&o.operatorPodLabels, "operator-pod-labels", "",
		"labels every operator pod carries, as k=v,k=v (the Helm chart passes its selector labels); empty: every pod of --operator-namespace may reach the recorders' HTTP API")
	flag.DurationVar(&o.jibriHealthPeriod, "jibri-health-period", 10*time.Second, "how often each recorder's health API is polled")
	flag.StringVar(&o.receiverAddr, "receiver-bind-address", ":9090", "address the webhook receiver listens on; every replica answers")
	flag.IntVar(&o.receiverConns, "receiver-max-connections", webhook.DefaultMaxConnections,
		"connections the webhook receiver holds at once; requests waiting for the write that stores their events keep theirs, so more carries more events per write under load, for more memory")
	flag.StringVar(&o.run, "run", runAll,
		"what this process runs: all (the controllers and the receiver), controllers (the reconcilers, with leader election when --leader-elect), or receiver (the webhook receiver alone: no leader election, no reconcilers)")
	flag.StringVar(&o.watchNamespaces, "watch-namespaces", "",
		"comma-separated namespaces whose JitsiDeployments, JibriPools and Meetings this operator manages; empty: every namespace")
	zapOpts := zap.Options{Development: true}
	flag.StringVar(&o.destinationNetworks, "destination-cluster-networks", "",
		"the cluster's pod and Service networks (CIDRs, comma-separated): no stream destination may lead into them")
	flag.StringVar(&o.destinationAllow, "destination-allow-list", "",
		"CIDRs and exact host names (comma-separated) a stream destination may use although the rules refuse them")
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	if err := run(o); err != nil {
		ctrl.Log.Error(err, "jitsi-operator stopped")
		os.Exit(1)
	}
}

func run(o options) error {
	if o.receiverConns < 1 || o.receiverConns > maxReceiverConns {
		return fmt.Errorf("--receiver-max-connections must be 1 to %d, not %d", maxReceiverConns, o.receiverConns)
	}
	log := ctrl.Log.WithName("setup")
	if limit := setMemoryLimit(cgroupMemoryMax); limit > 0 {
		log.Info("Go memory limit set from the container's", "bytes", limit)
	}
	operatorPodLabels, err := labels.ConvertSelectorToLabelsMap(o.operatorPodLabels)
	if err != nil {
		return fmt.Errorf("--operator-pod-labels: %w", err)
	}
	if o.destinations, err = destinationPolicy(o); err != nil {
		return err
	}
	withControllers, withReceiver := o.run == runAll || o.run == runControllers, o.run == runAll || o.run == runReceiver
	if !withControllers && !withReceiver {
		return fmt.Errorf("--run must be %s, %s or %s, not %q", runAll, runControllers, runReceiver, o.run)
	}
	namespaces, err := namespaceList(o.watchNamespaces)
	if err != nil {
		return fmt.Errorf("--watch-namespaces: %w", err)
	}
	ctx := signalContext()

	cfg, local, stopCluster, err := clusterConfig(ctx, o)
	if err != nil {
		return err
	}
	defer stopCluster()

	setupClient, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if o.installCRDs || local {
		n, err := manifests.InstallCRDs(ctx, setupClient)
		if err != nil {
			return err
		}
		log.Info("CRDs installed", "count", n)
	}

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress: o.probeAddr,
		// Only the reconcilers need a leader; every receiver answers.
		LeaderElection:          o.leaderElect && withControllers,
		LeaderElectionNamespace: o.leaderElectionNS,
		LeaderElectionID:        "jitsi-operator.jitsi.operator.dev",
		// A stopping leader hands over at once instead of after the Lease expires: run returns
		// as soon as the manager has stopped.
		LeaderElectionReleaseOnCancel: true,
		Cache:                         controllers.CacheOptions(namespaces...),
	})
	if err != nil {
		return fmt.Errorf("manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}

	// The receiver's per-Meeting writer is also the pool's for Meetings' recordings and streams
	// (one writer of those fields); without the receiver in this process it only writes.
	receiver := &webhook.Server{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Addr: o.receiverAddr,
		MaxConnections: o.receiverConns, Destinations: o.destinations}
	if withControllers {
		if err := setupControllers(mgr, o, namespaces, operatorPodLabels, receiver); err != nil {
			return err
		}
	}
	if withReceiver {
		if err := setupReceiver(ctx, mgr, withControllers, receiver); err != nil {
			return err
		}
	}

	if o.applySamples {
		samples, err := manifests.Read(config.Samples, "samples")
		if err != nil {
			return err
		}
		if err := manifests.Apply(ctx, setupClient, o.samplesNamespace, samples); err != nil {
			return fmt.Errorf("apply samples: %w", err)
		}
		log.Info("samples applied", "namespace", o.samplesNamespace, "objects", len(samples))
	}

	log.Info("starting manager", "run", o.run, "namespaces", namespaces)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("manager: %w", err)
	}
	return nil
}

// What --run runs.
const (
	runAll         = "all"
	runControllers = "controllers"
	runReceiver    = "receiver"
)

// maxReceiverConns bounds --receiver-max-connections: each connection holds a file descriptor
// and, while it waits for a write, its request's events; this is far above what the measured gain
// needs (README, the receiver's figures).
const maxReceiverConns = 65536

// setupControllers registers the three reconcilers.
func setupControllers(mgr ctrl.Manager, o options, namespaces []string, operatorPodLabels map[string]string, sessions controllers.SessionWriter) error {
	receiver := strings.TrimSuffix(o.receiverURL, "/")
	if receiver == "" {
		receiver = "http://" + render.ServiceHost("jitsi-operator-receiver", o.operatorNamespace, o.clusterDomain) + ":9090"
	}
	// The manager caches only the operator's own Secrets; the reconcilers learn of changes to
	// the ones users name from this one watch of every Secret's metadata.
	secretMetadata, err := controllers.NewSecretMetadataCache(mgr, namespaces...)
	if err != nil {
		return fmt.Errorf("Secret metadata cache: %w", err)
	}
	if err := (&controllers.JitsiDeploymentReconciler{
		Client:         mgr.GetClient(),
		APIReader:      mgr.GetAPIReader(),
		SecretMetadata: secretMetadata,
		Recorder:       mgr.GetEventRecorder("jitsi-operator"),
		ReceiverURL:    func(string) string { return receiver },
		ClusterDomain:  o.clusterDomain,
		Bridges:        &jvb.Client{},
		StatsPeriod:    o.jvbStatsPeriod,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("JitsiDeployment controller: %w", err)
	}

	if err := (&controllers.MeetingReconciler{
		Client:         mgr.GetClient(),
		APIReader:      mgr.GetAPIReader(),
		SecretMetadata: secretMetadata,
		Recorder:       mgr.GetEventRecorder("jitsi-operator"),
		Destinations:   o.destinations,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("Meeting controller: %w", err)
	}

	if err := (&controllers.JibriPoolReconciler{
		Client:              mgr.GetClient(),
		Sessions:            sessions,
		APIReader:           mgr.GetAPIReader(),
		SecretMetadata:      secretMetadata,
		Recorder:            mgr.GetEventRecorder("jitsi-operator"),
		ReceiverURL:         func(string) string { return receiver },
		ClusterDomain:       o.clusterDomain,
		Jibri:               &jibri.Client{},
		HealthPeriod:        o.jibriHealthPeriod,
		RelayImage:          o.relayImage,
		SndAloopLoaderImage: o.sndAloopLoaderImage,
		OperatorNamespace:   o.operatorNamespace,
		OperatorPodLabels:   operatorPodLabels,
		Destinations:        o.destinations,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("JibriPool controller: %w", err)
	}
	return nil
}

// setupReceiver adds the webhook receiver. Its cache holds what it reads before it listens, so
// that the first events after a start are not answered from an empty cache.
func setupReceiver(ctx context.Context, mgr ctrl.Manager, withControllers bool, receiver *webhook.Server) error {
	if !withControllers {
		// The Meeting controller registers the index of Meetings by room, by which the
		// receiver finds a room's Meeting.
		if err := controllers.IndexMeetingRooms(ctx, mgr.GetFieldIndexer()); err != nil {
			return fmt.Errorf("index of Meetings by room: %w", err)
		}
	}
	for _, obj := range []client.Object{&jitsiv1alpha1.JitsiDeployment{}, &jitsiv1alpha1.JibriPool{}, &jitsiv1alpha1.Meeting{},
		&corev1.Pod{}, &corev1.Secret{}} {
		if _, err := mgr.GetCache().GetInformer(ctx, obj); err != nil {
			return fmt.Errorf("the receiver's cache of %T: %w", obj, err)
		}
	}
	if err := mgr.Add(receiver); err != nil {
		return fmt.Errorf("webhook receiver: %w", err)
	}
	return nil
}

// destinationPolicy is the stream destination policy of --destination-cluster-networks and
// --destination-allow-list.
func destinationPolicy(o options) (*destination.Policy, error) {
	networks, err := destination.ParseNetworks(o.destinationNetworks)
	if err != nil {
		return nil, fmt.Errorf("--destination-cluster-networks: %w", err)
	}
	allowNetworks, allowHosts, err := destination.ParseAllowList(o.destinationAllow)
	if err != nil {
		return nil, fmt.Errorf("--destination-allow-list: %w", err)
	}
	return &destination.Policy{ClusterNetworks: networks, ClusterDomain: o.clusterDomain,
		AllowNetworks: allowNetworks, AllowHosts: allowHosts}, nil
}

// namespaceList parses --watch-namespaces: names separated by commas, blanks ignored.
func namespaceList(s string) ([]string, error) {
	var out []string
	for _, ns := range strings.Split(s, ",") {
		ns = strings.TrimSpace(ns)
		if ns == "" || slices.Contains(out, ns) {
			continue
		}
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return nil, fmt.Errorf("%q is not a namespace name: %s", ns, strings.Join(errs, "; "))
		}
		out = append(out, ns)
	}
	return out, nil
}

// clusterConfig returns the configured cluster's config, or starts a local control plane when
// none is configured and --local-cluster allows it. The returned func stops what was started.
func clusterConfig(ctx context.Context, o options) (cfg *rest.Config, local bool, stop func(), err error) {
	log := ctrl.Log.WithName("setup")
	noop := func() {}
	switch o.localCluster {
	case "never", "auto":
		if o.localCluster == "never" || clusterConfigured() {
			cfg, err = ctrl.GetConfig()
			if err == nil {
				return cfg, false, noop, nil
			}
			if o.localCluster == "never" {
				return nil, false, noop, fmt.Errorf("no cluster configured (set KUBECONFIG or --kubeconfig): %w", err)
			}
			return nil, false, noop, fmt.Errorf("the configured cluster: %w", err)
		}
		log.Info("no cluster configured (no KUBECONFIG, ~/.kube/config or in-cluster service account); starting a local control plane")
	case "always":
	default:
		return nil, false, noop, fmt.Errorf("--local-cluster must be auto, always or never, not %q", o.localCluster)
	}

	assets, err := filepath.Abs(o.localAssets)
	if err != nil {
		return nil, false, noop, err
	}
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		return nil, false, noop, fmt.Errorf("no control plane binaries in %s: run hack/controlplane.sh (or make demo) first", assets)
	}
	dir, err := filepath.Abs(o.localDir)
	if err != nil {
		return nil, false, noop, err
	}
	// A previous run's data would hold objects of another run; start clean.
	if err := os.RemoveAll(dir); err != nil {
		return nil, false, noop, err
	}
	start := time.Now()
	cluster, err := localcluster.Start(ctx, localcluster.Options{
		AssetsDir: assets,
		Dir:       dir,
		Nodes:     o.localNodes,
		Log:       os.Stderr,
	})
	if err != nil {
		return nil, false, noop, fmt.Errorf("local control plane: %w", err)
	}
	log.Info("local control plane up", "seconds", time.Since(start).Round(100*time.Millisecond).Seconds(), "kubeconfig", cluster.KubeconfigPath)
	fmt.Fprintf(os.Stderr, `
Local control plane running (stops with Ctrl-C). Look at what the operator made:

    export KUBECONFIG=%s
    %s get jitsi,jibri,meeting
    %s get pods,services,secrets -l app.kubernetes.io/managed-by=jitsi-operator

`, cluster.KubeconfigPath, kubectlPath(assets), kubectlPath(assets))
	return cluster.Config, true, func() {
		if err := cluster.Stop(); err != nil {
			log.Error(err, "stopping the local control plane")
		}
	}, nil
}

// clusterConfigured reports whether a cluster is configured the ways ctrl.GetConfig looks for
// one: --kubeconfig, KUBECONFIG, running in a pod, or ~/.kube/config.
func clusterConfigured() bool {
	if f := flag.Lookup("kubeconfig"); f != nil && f.Value.String() != "" {
		return true
	}
	if os.Getenv("KUBECONFIG") != "" || os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		return true
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return false
	}
	_, err = os.Stat(filepath.Join(home, ".kube", "config"))
	return err == nil
}

func kubectlPath(assets string) string {
	if rel, err := filepath.Rel(mustGetwd(), filepath.Join(assets, "kubectl")); err == nil {
		return rel
	}
	return filepath.Join(assets, "kubectl")
}

func mustGetwd() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	return wd
}

// signalContext is cancelled on the first SIGINT or SIGTERM. Later signals are ignored so that
// the local control plane, if any, is always stopped: its processes run in their own process
// groups and would outlive an abrupt exit.
func signalContext() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-ch
		ctrl.Log.WithName("setup").Info("stopping; waiting for the manager and the local control plane to stop")
		cancel()
		for range ch {
		}
	}()
	return ctx
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
