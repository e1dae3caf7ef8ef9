package webhook_test

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/controllers"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
	"github.com/jitsi-operator/jitsi-operator/webhook"
)

// The receiver's handlers run against a real API server (envtest): authentication, lookups and
// optimistic-concurrency status writes are the API server's business. The receiver is wired as
// main.go wires it: its Client is a manager's (reads from the informer cache, with the operator's
// cache options), its Reader the manager's API reader. The specs create and read objects with
// k8sClient, straight on the API server, so what they create may not be in the cache yet: as in
// production, where a Meeting can be created a moment before its room's first event.

var (
	ctx          context.Context
	cancel       context.CancelFunc
	testEnv      *envtest.Environment
	k8sClient    client.Client
	cachedClient client.Client // the receiver's own: the manager's client
	managerDone  = make(chan struct{})
	receiver     *httptest.Server
	server       *webhook.Server // the receiver's, behind receiver
	clock        = time.Now()
)

func TestReceiver(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Webhook receiver (envtest)")
}

var _ = BeforeSuite(func() {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())
	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(jitsiv1alpha1.AddToScheme(scheme)).To(Succeed())
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join("..", "bin", "k8s")
	}
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	cfg, err := testEnv.Start()
	Expect(err).NotTo(HaveOccurred(), "run the tests with `make test`, which builds the control plane")
	cfg.QPS, cfg.Burst = 200, 400
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  controllers.CacheOptions(),
	})
	Expect(err).NotTo(HaveOccurred())
	Expect(controllers.IndexMeetingRooms(ctx, mgr.GetFieldIndexer())).To(Succeed())
	// In the operator the controllers' watches have started these informers before the first
	// event arrives; started here by the receiver's first read instead, their initial List would
	// hold what that read looks for, and hide the cache's lag.
	for _, o := range []client.Object{&jitsiv1alpha1.JitsiDeployment{}, &jitsiv1alpha1.Meeting{},
		&jitsiv1alpha1.JibriPool{}, &corev1.Secret{}, &corev1.Pod{}} {
		_, err := mgr.GetCache().GetInformer(ctx, o)
		Expect(err).NotTo(HaveOccurred())
	}
	go func() {
		defer GinkgoRecover()
		defer close(managerDone)
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
	Expect(mgr.GetCache().WaitForCacheSync(ctx)).To(BeTrue())
	cachedClient = mgr.GetClient()

	uncachedLists = &listRecorder{Reader: mgr.GetAPIReader()}
	server = &webhook.Server{Client: mgr.GetClient(), Reader: uncachedLists, Now: func() time.Time { return clock }, Destinations: testDestinations}
	receiver = httptest.NewServer(server.Handler())
})

var _ = AfterSuite(func() {
	receiver.Close()
	cancel()
	<-managerDone
	Expect(testEnv.Stop()).To(Succeed())
})

const eventsSecret = "deployment-events-secret"

// uncachedLists is the receiver's reader of the API server; it records the Lists it sends.
var uncachedLists *listRecorder

// listRecorder is a client.Reader that records each List's namespace, field selector and the
// number of items the API server answered with.
type listRecorder struct {
	client.Reader
	mu    sync.Mutex
	lists []recordedList
}

type recordedList struct {
	namespace, fields string
	items             int
}

func (l *listRecorder) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	err := l.Reader.List(ctx, list, opts...)
	o := (&client.ListOptions{}).ApplyOptions(opts)
	r := recordedList{namespace: o.Namespace}
	if o.FieldSelector != nil {
		r.fields = o.FieldSelector.String()
	}
	if err == nil {
		r.items = meta.LenList(list)
	}
	l.mu.Lock()
	l.lists = append(l.lists, r)
	l.mu.Unlock()
	return err
}

// in is what was listed in namespace ns.
func (l *listRecorder) in(ns string) []recordedList {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []recordedList
	for _, r := range l.lists {
		if r.namespace == ns {
			out = append(out, r)
		}
	}
	return out
}

// deploymentWithMeeting creates a namespace with a JitsiDeployment, its generated Secret (as the
// controller would) and a Meeting for room.
func deploymentWithMeeting(room string) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "recv-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	DeferCleanup(func() { _ = k8sClient.Delete(ctx, ns) })
	Expect(k8sClient.Create(ctx, &jitsiv1alpha1.JitsiDeployment{
		ObjectMeta: metav1.ObjectMeta{Name: "meet", Namespace: ns.Name},
		Spec:       jitsiv1alpha1.JitsiDeploymentSpec{Domain: "meet.example.com"},
	})).To(Succeed())
	Expect(k8sClient.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "meet-generated", Namespace: ns.Name, Labels: ownSecret},
		Data:       map[string][]byte{"WEBHOOK_SECRET": []byte(eventsSecret)},
	})).To(Succeed())
	Expect(k8sClient.Create(ctx, &jitsiv1alpha1.Meeting{
		ObjectMeta: metav1.ObjectMeta{Name: room, Namespace: ns.Name},
		Spec:       jitsiv1alpha1.MeetingSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"}},
	})).To(Succeed())
	// Prosody signs with the events secret only once the operator has made it, from its cache:
	// the receiver's cache has the deployment and the secret before any event (the Meeting may
	// still be on its way; meetingForRoom reads it through).
	cached(&jitsiv1alpha1.JitsiDeployment{ObjectMeta: metav1.ObjectMeta{Name: "meet", Namespace: ns.Name}}, func() bool { return true })
	cached(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "meet-generated", Namespace: ns.Name}}, func() bool { return true })
	return ns.Name
}

// ownSecret labels a Secret as the operator labels those it makes (its cache holds only those).
var ownSecret = map[string]string{render.LabelManagedBy: render.ManagedBy}

func meetingStatus(ns, name string) jitsiv1alpha1.MeetingStatus {
	m := &jitsiv1alpha1.Meeting{}
	Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, m)).To(Succeed())
	return m.Status
}

// cached waits until the receiver's cache holds obj (as it is on the API server at least when
// cond says so), for specs about something else than the cache's lag.
func cached(obj client.Object, cond func() bool) {
	GinkgoHelper()
	Eventually(func() bool {
		return cachedClient.Get(ctx, client.ObjectKeyFromObject(obj), obj) == nil && cond()
	}).Should(BeTrue(), "the receiver's cache has %s", obj.GetName())
}
