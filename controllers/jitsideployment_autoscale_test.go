package controllers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/jvb/jvbtest"
)

// runFakeBridges plays the videobridges of ns for the rest of the spec.
func runFakeBridges(ns string) *jvbtest.Pods {
	p := jvbtest.RunPods(k8sClient, ns, 8080)
	DeferCleanup(func() {
		p.Stop()
		Expect(p.Errors()).To(BeEmpty())
	})
	return p
}

// bridgeOf is the stand-in of bridge name, once it runs.
func bridgeOf(p *jvbtest.Pods, name string) func() *jvbtest.Bridge {
	return func() *jvbtest.Bridge { return p.Bridge(name) }
}

var _ = Describe("JitsiDeployment videobridge autoscaling", func() {
	It("adds a bridge when the load rises, drains the emptiest when it falls, and keeps it until its call ends", func() {
		ns := newNamespace()
		fakes := runFakeBridges(ns)
		newJitsi(ns, func(d *jitsiv1alpha1.JitsiDeployment) {
			d.Spec.JVB.Media.Type = jitsiv1alpha1.MediaNodePort
			d.Spec.JVB.Autoscaling = &jitsiv1alpha1.JVBAutoscalingSpec{Enabled: true, MinReplicas: ptr(int32(1)), MaxReplicas: ptr(int32(3)),
				TargetStress: ptr(0.5), ScaleDownDelaySeconds: ptr(int32(0))}
		})
		Eventually(bridgeOf(fakes, "meet-jvb-0")).ShouldNot(BeNil())
		bridgeOf(fakes, "meet-jvb-0")().SetLoad(0.2, 4, 1)
		Consistently(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, key(ns, "meet-jvb-1"), &appsv1.Deployment{}))
		}, "2s").Should(BeTrue())
		Eventually(jitsiStatus(ns, "meet")).Should(And(HaveField("DesiredBridges", int32(1)),
			HaveField("Bridges", ConsistOf(And(HaveField("Name", "meet-jvb-0"), HaveField("State", "Ready"), HaveField("StressPercent", int32(20)))))))

		By("load above the target: a second bridge with its media Service")
		bridgeOf(fakes, "meet-jvb-0")().SetLoad(0.9, 20, 3)
		Eventually(deploymentOf(ns, "meet-jvb-1")).ShouldNot(BeNil())
		Eventually(func() error { return k8sClient.Get(ctx, key(ns, "meet-jvb-1"), &corev1.Service{}) }).Should(Succeed())
		Eventually(eventReasons(ns, "meet")).Should(ContainElement("BridgeAdded"))
		Eventually(jitsiStatus(ns, "meet")).Should(HaveField("DesiredBridges", int32(2)))

		By("load falls: the emptiest bridge drains, and stays while its last call goes on")
		Eventually(bridgeOf(fakes, "meet-jvb-1")).ShouldNot(BeNil())
		// A bridge still starting holds every drain back (one change at a time): the new one must be
		// Ready (its pod, through the scheduler and the kwok node, under a loaded machine) first.
		Eventually(jitsiStatus(ns, "meet"), "90s").Should(HaveField("Bridges", ContainElement(And(
			HaveField("Name", "meet-jvb-1"), HaveField("State", "Ready")))))
		bridgeOf(fakes, "meet-jvb-1")().SetLoad(0.1, 2, 1)
		bridgeOf(fakes, "meet-jvb-0")().SetLoad(0.05, 1, 1)
		Eventually(func() bool { return bridgeOf(fakes, "meet-jvb-0")().Draining() }).Should(BeTrue())
		Expect(bridgeOf(fakes, "meet-jvb-1")().Draining()).To(BeFalse())
		Eventually(eventReasons(ns, "meet")).Should(ContainElement("BridgeDraining"))
		Consistently(func() error { return k8sClient.Get(ctx, key(ns, "meet-jvb-0"), &appsv1.Deployment{}) }, "2s").Should(Succeed())

		By("its call ends: the bridge and its Service go")
		bridgeOf(fakes, "meet-jvb-0")().SetLoad(0, 0, 0)
		Eventually(func() bool {
			dep := &appsv1.Deployment{}
			err := k8sClient.Get(ctx, key(ns, "meet-jvb-0"), dep)
			return apierrors.IsNotFound(err) || err == nil && !dep.DeletionTimestamp.IsZero()
		}).Should(BeTrue())
		Eventually(func() bool { return apierrors.IsNotFound(k8sClient.Get(ctx, key(ns, "meet-jvb-0"), &corev1.Service{})) }).Should(BeTrue())
		Expect(k8sClient.Get(ctx, key(ns, "meet-jvb-1"), &appsv1.Deployment{})).To(Succeed())
		Eventually(jitsiStatus(ns, "meet")).Should(HaveField("DesiredBridges", int32(1)))
	})
})

var _ = Describe("JitsiDeployment scale subresource", func() {
	It("lets an external scaler (HPA, KEDA, kubectl scale) set jvb.replicas", func() {
		ns := newNamespace()
		newJitsi(ns, func(d *jitsiv1alpha1.JitsiDeployment) { d.Spec.JVB.Media.Type = jitsiv1alpha1.MediaNodePort })
		d := &jitsiv1alpha1.JitsiDeployment{}
		Expect(k8sClient.Get(ctx, key(ns, "meet"), d)).To(Succeed())
		scale := &autoscalingv1.Scale{}
		Expect(k8sClient.SubResource("scale").Get(ctx, d, scale)).To(Succeed())
		Expect(scale.Spec.Replicas).To(Equal(int32(2)))
		scale.Spec.Replicas = 3
		Expect(k8sClient.SubResource("scale").Update(ctx, d, client.WithSubResourceBody(scale))).To(Succeed())
		Eventually(deploymentOf(ns, "meet-jvb-2")).ShouldNot(BeNil())
		Eventually(func(g Gomega) int32 {
			g.Expect(k8sClient.SubResource("scale").Get(ctx, d, scale)).To(Succeed())
			return scale.Status.Replicas
		}).Should(Equal(int32(3)))
	})
})
