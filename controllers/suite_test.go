package controllers_test

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/controllers"
	"github.com/jitsi-operator/jitsi-operator/internal/jibri"
	"github.com/jitsi-operator/jitsi-operator/internal/jvb"
	"github.com/jitsi-operator/jitsi-operator/internal/localcluster"
	"github.com/jitsi-operator/jitsi-operator/internal/manifests"
	"github.com/jitsi-operator/jitsi-operator/webhook"
)

// The controllers run against the local control plane: a real kube-apiserver for ownership,
// the status subresource and conflicts, kube-controller-manager for Deployments and garbage
// collection, and kwok nodes so pods get scheduled and become ready.

const receiverURL = "http://jitsi-operator-receiver.ops.svc:9090"

// The operator's namespace and pod labels, as the Helm chart passes them.
const operatorNamespace = "ops"

var operatorPodLabels = map[string]string{"app.kubernetes.io/name": "jitsi-operator", "app.kubernetes.io/instance": "ops"}

var (
	ctx       context.Context
	cancel    context.CancelFunc
	cluster   *localcluster.Cluster
	cfg       *rest.Config
	k8sClient client.Client
	scheme    = runtime.NewScheme()

	stopManager context.CancelFunc
	managerDone chan struct{}

	// receiver serves the operator's webhook receiver (the current manager's) on loopback: the
	// fake recorders post their Jibri webhooks to it.
	receiver        *httptest.Server
	receiverHandler atomic.Pointer[http.Handler]

	// operatorRequests counts every API request of the manager: its client, cache, API reader
	// and event recorder. k8sClient, the specs' own, is not counted.
	operatorRequests = &requestCounter{counts: map[string]int{}}
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	RunSpecs(t, "Controllers (local control plane)")
}

var _ = BeforeSuite(func() {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(apiextensionsv1.AddToScheme(scheme)).To(Succeed())
	Expect(jitsiv1alpha1.AddToScheme(scheme)).To(Succeed())
	Expect(gatewayv1.Install(scheme)).To(Succeed())

	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join("..", "bin", "k8s")
	}
	var err error
	dir, err := os.MkdirTemp("", "jitsi-operator-controllers-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, dir)
	cluster, err = localcluster.Start(ctx, localcluster.Options{AssetsDir: assets, Dir: dir, Nodes: 2, Log: GinkgoWriter})
	Expect(err).NotTo(HaveOccurred(), "run the tests with `make test`, which builds the control plane")
	cfg = cluster.Config
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	_, err = manifests.InstallCRDs(ctx, k8sClient)
	Expect(err).NotTo(HaveOccurred())
	installHTTPRoutes()

	receiver = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*receiverHandler.Load()).ServeHTTP(w, r)
	}))
	DeferCleanup(receiver.Close)
	startManager()
})

var _ = AfterSuite(func() {
	stopTheManager()
	cancel()
	Expect(cluster.Stop()).To(Succeed())
})

// startManager runs the operator's reconcilers as main.go wires them.
func startManager() {
	mcfg := rest.CopyConfig(cfg)
	mcfg.Wrap(operatorRequests.wrap)
	mgr, err := ctrl.NewManager(mcfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// The specs restart the manager in one process; a real restart is a new process.
		Controller: ctrlconfig.Controller{SkipNameValidation: ptr(true)},
		Cache:      controllers.CacheOptions(),
	})
	Expect(err).NotTo(HaveOccurred())
	Expect((&controllers.JitsiDeploymentReconciler{
		Client:      mgr.GetClient(),
		Recorder:    mgr.GetEventRecorder("jitsi-operator"),
		ReceiverURL: func(string) string { return receiverURL },
		Bridges:     &jvb.Client{HTTP: &http.Client{Timeout: time.Second}},
		StatsPeriod: 500 * time.Millisecond,
	}).SetupWithManager(mgr)).To(Succeed())
	Expect((&controllers.MeetingReconciler{
		Client:       mgr.GetClient(),
		Recorder:     mgr.GetEventRecorder("jitsi-operator"),
		Destinations: testDestinations,
	}).SetupWithManager(mgr)).To(Succeed())
	srv := &webhook.Server{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Destinations: testDestinations}
	Expect((&controllers.JibriPoolReconciler{
		Client:            mgr.GetClient(),
		Sessions:          srv,
		APIReader:         mgr.GetAPIReader(),
		Recorder:          mgr.GetEventRecorder("jitsi-operator"),
		ReceiverURL:       func(string) string { return receiver.URL },
		Jibri:             &jibri.Client{HTTP: &http.Client{Timeout: time.Second}},
		HealthPeriod:      time.Second,
		FinalizeGrace:     2 * time.Second,
		OperatorNamespace: operatorNamespace,
		OperatorPodLabels: operatorPodLabels,
		Destinations:      testDestinations,
	}).SetupWithManager(mgr)).To(Succeed())
	h := srv.Handler()
	receiverHandler.Store(&h)
	var mctx context.Context
	mctx, stopManager = context.WithCancel(ctx)
	managerDone = make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(managerDone)
		Expect(mgr.Start(mctx)).To(Succeed())
	}()
}

// requestCounter counts API requests by "METHOD path", where a watch's method is WATCH: writes
// are POST, PUT, PATCH and DELETE whatever the resource, events included.
type requestCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (c *requestCounter) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		method := req.Method
		if req.URL.Query().Get("watch") == "true" {
			method = "WATCH"
		}
		c.mu.Lock()
		c.counts[method+" "+req.URL.Path]++
		c.mu.Unlock()
		return next.RoundTrip(req)
	})
}

// snapshot is a copy of the counts so far.
func (c *requestCounter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.counts)
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

func stopTheManager() {
	if stopManager == nil {
		return
	}
	stopManager()
	Eventually(managerDone).Should(BeClosed())
	stopManager = nil
}

// newNamespace creates a namespace of its own for one spec.
func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ctrl-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	DeferCleanup(func() { _ = k8sClient.Delete(ctx, ns) })
	return ns.Name
}

func ptr[T any](v T) *T { return &v }

func gvkOf(obj client.Object) schema.GroupVersionKind {
	gvk, err := apiutil.GVKForObject(obj, scheme)
	Expect(err).NotTo(HaveOccurred())
	return gvk
}

// installHTTPRoutes installs the Gateway API's HTTPRoute CRD from the gateway-api module, so that
// the cluster serves HTTPRoutes as one with the Gateway API does.
func installHTTPRoutes() {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api").Output()
	Expect(err).NotTo(HaveOccurred(), "the gateway-api module")
	raw, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "config", "crd", "standard", "gateway.networking.k8s.io_httproutes.yaml"))
	Expect(err).NotTo(HaveOccurred())
	objs, err := manifests.Decode(raw)
	Expect(err).NotTo(HaveOccurred())
	Expect(manifests.Apply(ctx, k8sClient, "", objs)).To(Succeed())
	Expect(manifests.WaitEstablished(ctx, k8sClient, objs, time.Minute)).To(Succeed())
}
