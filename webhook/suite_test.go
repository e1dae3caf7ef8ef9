package webhook_test

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/webhook"
)

// The receiver's handlers run against a real API server (envtest): authentication, lookups and
// optimistic-concurrency status writes are the API server's business.

var (
	ctx       context.Context
	cancel    context.CancelFunc
	testEnv   *envtest.Environment
	k8sClient client.Client
	receiver  *httptest.Server
	clock     = time.Now()
)

func TestReceiver(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Webhook receiver (envtest)")
}

var _ = BeforeSuite(func() {
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
	srv := &webhook.Server{Client: k8sClient, Reader: k8sClient, Now: func() time.Time { return clock }}
	receiver = httptest.NewServer(srv.Handler())
})

var _ = AfterSuite(func() {
	receiver.Close()
	cancel()
	Expect(testEnv.Stop()).To(Succeed())
})

const eventsSecret = "deployment-events-secret"

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
		ObjectMeta: metav1.ObjectMeta{Name: "meet-generated", Namespace: ns.Name},
		Data:       map[string][]byte{"WEBHOOK_SECRET": []byte(eventsSecret)},
	})).To(Succeed())
	Expect(k8sClient.Create(ctx, &jitsiv1alpha1.Meeting{
		ObjectMeta: metav1.ObjectMeta{Name: room, Namespace: ns.Name},
		Spec:       jitsiv1alpha1.MeetingSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"}},
	})).To(Succeed())
	return ns.Name
}

func meetingStatus(ns, name string) jitsiv1alpha1.MeetingStatus {
	m := &jitsiv1alpha1.Meeting{}
	Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, m)).To(Succeed())
	return m.Status
}
