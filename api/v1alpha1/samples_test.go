package v1alpha1_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/jitsi-operator/jitsi-operator/config"
	"github.com/jitsi-operator/jitsi-operator/internal/manifests"
)

var _ = Describe("The samples", func() {
	It("are valid objects, as the demo applies them", func() {
		samples, err := manifests.Read(config.Samples, "samples")
		Expect(err).NotTo(HaveOccurred())
		Expect(samples).NotTo(BeEmpty())
		ns := newNamespace()
		for _, obj := range samples {
			obj.SetNamespace(ns)
			Expect(k8sClient.Create(ctx, obj, client.DryRunAll)).To(Succeed(), "sample %s %s", obj.GetKind(), obj.GetName())
		}
	})
})
