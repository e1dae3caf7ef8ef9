// Package podsecurity asks a real kube-apiserver whether the pods the operator renders meet the
// Pod Security "restricted" standard. The renderers' own tests check the security context field
// by field; here the API server's PodSecurity admission (on by default) is the judge: every pod is
// created with a server-side dry run in a namespace that enforces the level, so admission runs and
// nothing is stored. No CRDs and no manager are needed.
package podsecurity

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

var (
	ctx       context.Context
	cancel    context.CancelFunc
	testEnv   *envtest.Environment
	k8sClient client.Client
	scheme    = runtime.NewScheme()
)

func TestPodSecurity(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Pod Security of rendered pods (envtest)")
}

var _ = BeforeSuite(func() {
	ctx, cancel = context.WithCancel(context.Background())
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())

	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join("..", "..", "bin", "k8s")
	}
	_, err := os.Stat(filepath.Join(assets, "kube-apiserver"))
	Expect(err).NotTo(HaveOccurred(), "no kube-apiserver in %s: run `make test` (it builds the control plane with hack/controlplane.sh)", assets)

	testEnv = &envtest.Environment{BinaryAssetsDirectory: assets}
	cfg, err := testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	cancel()
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// Pod Security levels a namespace can enforce.
const (
	restricted = "restricted"
	baseline   = "baseline"
	privileged = "privileged"
)

// newNamespace creates a namespace of its own for one spec, enforcing Pod Security level at the
// server's latest version of the standard.
func newNamespace(level string) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "podsecurity-", Labels: map[string]string{
		"pod-security.kubernetes.io/enforce":         level,
		"pod-security.kubernetes.io/enforce-version": "latest",
	}}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	DeferCleanup(func() { _ = k8sClient.Delete(ctx, ns) })
	return ns.Name
}

// admit creates pod in namespace with a server-side dry run: the API server validates and admits
// it (Pod Security included) and stores nothing.
func admit(pod *corev1.Pod, namespace string) error {
	pod = pod.DeepCopy()
	pod.Namespace = namespace
	return k8sClient.Create(ctx, pod, client.DryRunAll)
}

// expectRefused asserts that err is Pod Security's refusal at level, for a reason that mentions
// reason.
func expectRefused(err error, level, reason string) {
	GinkgoHelper()
	Expect(err).To(HaveOccurred(), "want a Pod Security refusal at %s", level)
	Expect(apierrors.IsForbidden(err)).To(BeTrue(), "want Forbidden, got %v", err)
	Expect(err.Error()).To(ContainSubstring(`violates PodSecurity "%s:latest"`, level))
	Expect(err.Error()).To(ContainSubstring(reason))
}
