package controllers_test

import (
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/localcluster"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

func newJitsi(ns string, mutate ...func(*jitsiv1alpha1.JitsiDeployment)) *jitsiv1alpha1.JitsiDeployment {
	d := &jitsiv1alpha1.JitsiDeployment{
		ObjectMeta: metav1.ObjectMeta{Name: "meet", Namespace: ns},
		Spec: jitsiv1alpha1.JitsiDeploymentSpec{
			Domain: "meet.example.com",
			JVB: jitsiv1alpha1.JVBSpec{
				Replicas: ptr(int32(2)),
				Media:    jitsiv1alpha1.MediaSpec{Type: jitsiv1alpha1.MediaLoadBalancer},
			},
		},
	}
	for _, m := range mutate {
		m(d)
	}
	Expect(k8sClient.Create(ctx, d)).To(Succeed())
	return d
}

func key(ns, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: ns, Name: name}
}

func deploymentOf(ns, name string) func(Gomega) *appsv1.Deployment {
	return func(g Gomega) *appsv1.Deployment {
		dep := &appsv1.Deployment{}
		g.Expect(k8sClient.Get(ctx, key(ns, name), dep)).To(Succeed())
		return dep
	}
}

func envValue(dep *appsv1.Deployment, name string) string {
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func condition(ns, name, t string) func(Gomega) metav1.Condition {
	return func(g Gomega) metav1.Condition {
		d := &jitsiv1alpha1.JitsiDeployment{}
		g.Expect(k8sClient.Get(ctx, key(ns, name), d)).To(Succeed())
		c := meta.FindStatusCondition(d.Status.Conditions, t)
		g.Expect(c).NotTo(BeNil(), "no %s condition yet", t)
		return *c
	}
}

func jitsiStatus(ns, name string) func(Gomega) jitsiv1alpha1.JitsiDeploymentStatus {
	return func(g Gomega) jitsiv1alpha1.JitsiDeploymentStatus {
		d := &jitsiv1alpha1.JitsiDeployment{}
		g.Expect(k8sClient.Get(ctx, key(ns, name), d)).To(Succeed())
		return d.Status
	}
}

// assignLoadBalancer plays the cloud: it writes an address into a Service's status.
func assignLoadBalancer(ns, name string, ing corev1.LoadBalancerIngress) {
	GinkgoHelper()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	// The controller creates the Service a moment after the JitsiDeployment.
	Eventually(func() error { return k8sClient.Get(ctx, key(ns, name), svc) }).Should(Succeed())
	updateStatus(svc, func(svc *corev1.Service) { svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{ing} })
}

func eventReasons(ns, regarding string) func(Gomega) []string {
	return func(g Gomega) []string {
		var list eventsv1.EventList
		g.Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		var out []string
		for _, e := range list.Items {
			if e.Regarding.Name == regarding {
				out = append(out, e.Reason)
			}
		}
		return out
	}
}

var _ = Describe("JitsiDeployment", func() {
	It("runs the stack and advertises each bridge at its load balancer's address", func() {
		ns := newNamespace()
		newJitsi(ns, func(d *jitsiv1alpha1.JitsiDeployment) {
			d.Spec.JVB.Media.AdvertiseIPs = nil
		})

		By("creating every component")
		for _, name := range []string{"meet-prosody", "meet-jicofo", "meet-web", "meet-jvb-0", "meet-jvb-1"} {
			Eventually(deploymentOf(ns, name)).ShouldNot(BeNil())
		}
		for _, name := range []string{"meet-prosody", "meet-jicofo", "meet-web"} {
			Eventually(func() error { return k8sClient.Get(ctx, key(ns, name), &corev1.Service{}) }).Should(Succeed())
		}
		Eventually(func() error { return k8sClient.Get(ctx, key(ns, "meet-prosody-config"), &corev1.ConfigMap{}) }).Should(Succeed())
		scripts := &corev1.ConfigMap{}
		Eventually(func() error { return k8sClient.Get(ctx, key(ns, "meet-jibri-scripts"), scripts) }).Should(Succeed())
		Expect(scripts.Data["finalize-recording.sh"]).To(ContainSubstring("/v1/jibri/recording-complete"))
		prosody := deploymentOf(ns, "meet-prosody")(Default)
		Expect(envValue(prosody, "XMPP_MUC_MODULES")).To(Equal(render.EventsModuleName + "," + render.TokenAffiliationModule))
		cm := &corev1.ConfigMap{}
		Expect(k8sClient.Get(ctx, key(ns, "meet-prosody-config"), cm)).To(Succeed())
		Expect(cm.Data["jitsi-operator.cfg.lua"]).To(ContainSubstring(receiverURL + "/v1/prosody/events?deployment=" + ns + "/meet"))

		By("keeping bridges stopped and saying why while the cloud has not assigned addresses")
		svc := &corev1.Service{}
		Eventually(func() error { return k8sClient.Get(ctx, key(ns, "meet-jvb-0"), svc) }).Should(Succeed())
		Expect(svc.Spec.Type).To(Equal(corev1.ServiceTypeLoadBalancer))
		Expect(svc.Spec.Ports[0].Protocol).To(Equal(corev1.ProtocolUDP))
		Expect(svc.Spec.Ports[0].Port).To(Equal(int32(10000)))
		Expect(*deploymentOf(ns, "meet-jvb-0")(Default).Spec.Replicas).To(BeZero())
		Eventually(condition(ns, "meet", "Ready")).Should(And(
			HaveField("Status", metav1.ConditionFalse),
			HaveField("Reason", jitsiv1alpha1.ReasonAddressPending),
			HaveField("Message", ContainSubstring("2 of 2 bridges have no media address")),
		))
		Expect(condition(ns, "meet", "MediaReachable")(Default).Status).To(Equal(metav1.ConditionFalse))

		By("advertising the address the cloud assigns, and starting the bridge")
		assignLoadBalancer(ns, "meet-jvb-0", corev1.LoadBalancerIngress{IP: "203.0.113.10"})
		Eventually(func(g Gomega) {
			dep := deploymentOf(ns, "meet-jvb-0")(g)
			g.Expect(envValue(dep, "JVB_ADVERTISE_IPS")).To(Equal("203.0.113.10"))
			g.Expect(*dep.Spec.Replicas).To(Equal(int32(1)))
		}).Should(Succeed())
		Eventually(condition(ns, "meet", "Ready")).Should(HaveField("Message", ContainSubstring("1 of 2 bridges")))

		By("reporting the one that has only a host name as needing a person")
		assignLoadBalancer(ns, "meet-jvb-1", corev1.LoadBalancerIngress{Hostname: "abc.elb.example.com"})
		Eventually(condition(ns, "meet", "Degraded")).Should(And(
			HaveField("Status", metav1.ConditionTrue),
			HaveField("Reason", jitsiv1alpha1.ReasonHostnameOnly),
			HaveField("Message", ContainSubstring("advertiseIPs")),
		))

		By("turning Ready once every bridge has an address and every pod runs")
		assignLoadBalancer(ns, "meet-jvb-1", corev1.LoadBalancerIngress{IP: "203.0.113.11"})
		Eventually(condition(ns, "meet", "Ready"), "60s").Should(HaveField("Status", metav1.ConditionTrue))
		st := jitsiStatus(ns, "meet")(Default)
		Expect(st.MediaEndpoints).To(ConsistOf(
			jitsiv1alpha1.MediaEndpoint{Bridge: "meet-jvb-0", Address: "203.0.113.10", Port: 10000},
			jitsiv1alpha1.MediaEndpoint{Bridge: "meet-jvb-1", Address: "203.0.113.11", Port: 10000},
		))
		Expect(st.Components.JVB).To(Equal(jitsiv1alpha1.ReplicaStatus{Replicas: 2, ReadyReplicas: 2}))
		Expect(st.Components.Web.ReadyReplicas).To(BeNumerically(">=", 1))
		Expect(st.PublicURL).To(Equal("https://meet.example.com"))
		Expect(condition(ns, "meet", "Degraded")(Default).Status).To(Equal(metav1.ConditionFalse))
		Eventually(eventReasons(ns, "meet")).Should(ContainElements("SecretGenerated", "MediaAddressAssigned"))

		By("letting advertiseIPs override the observed address")
		updateJitsi(ns, func(d *jitsiv1alpha1.JitsiDeployment) { d.Spec.JVB.Media.AdvertiseIPs = []string{"198.51.100.20"} })
		Eventually(func(g Gomega) string {
			return envValue(deploymentOf(ns, "meet-jvb-0")(g), "JVB_ADVERTISE_IPS")
		}).Should(Equal("198.51.100.20"))
		Expect(envValue(deploymentOf(ns, "meet-jvb-1")(Default), "JVB_ADVERTISE_IPS")).To(Equal("203.0.113.11"))
	})

	It("advertises a node's address and the node port with NodePort media", func() {
		ns := newNamespace()
		newJitsi(ns, func(d *jitsiv1alpha1.JitsiDeployment) {
			d.Spec.JVB.Replicas = ptr(int32(1))
			d.Spec.JVB.Media.Type = jitsiv1alpha1.MediaNodePort
		})
		svc := &corev1.Service{}
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key(ns, "meet-jvb-0"), svc)).To(Succeed())
			g.Expect(svc.Spec.Ports[0].NodePort).NotTo(BeZero())
		}).Should(Succeed())
		Expect(svc.Spec.Type).To(Equal(corev1.ServiceTypeNodePort))
		want := fmt.Sprintf("127.0.0.1#%d", svc.Spec.Ports[0].NodePort)
		Eventually(func(g Gomega) string {
			return envValue(deploymentOf(ns, "meet-jvb-0")(g), "JVB_ADVERTISE_IPS")
		}).Should(Equal(want))
		Eventually(condition(ns, "meet", "MediaReachable")).Should(HaveField("Status", metav1.ConditionTrue))
		Eventually(jitsiStatus(ns, "meet")).Should(HaveField("MediaEndpoints", ConsistOf(
			jitsiv1alpha1.MediaEndpoint{Bridge: "meet-jvb-0", Address: "127.0.0.1", Port: svc.Spec.Ports[0].NodePort})))
	})

	It("pins one HostPort bridge per node and says when nodes run out", func() {
		ns := newNamespace()
		newJitsi(ns, func(d *jitsiv1alpha1.JitsiDeployment) {
			d.Spec.JVB.Replicas = ptr(int32(3))
			d.Spec.JVB.Media.Type = jitsiv1alpha1.MediaHostPort
		})
		nodes := map[string]bool{}
		Eventually(func(g Gomega) {
			for i := 0; i < 2; i++ {
				dep := deploymentOf(ns, fmt.Sprintf("meet-jvb-%d", i))(g)
				node := dep.Spec.Template.Spec.NodeSelector["kubernetes.io/hostname"]
				g.Expect(node).NotTo(BeEmpty())
				g.Expect(envValue(dep, "JVB_ADVERTISE_IPS")).To(Equal("127.0.0.1"))
				g.Expect(dep.Spec.Template.Spec.Containers[0].Ports[0].HostPort).To(Equal(int32(10000)))
				nodes[node] = true
			}
		}).Should(Succeed())
		Expect(nodes).To(HaveLen(2), "two bridges share a node")
		// The third bridge's Deployment is applied after the first two: it may arrive a moment later.
		Eventually(deploymentOf(ns, "meet-jvb-2")).Should(HaveField("Spec.Replicas", HaveValue(BeZero())))
		Eventually(condition(ns, "meet", "Ready")).Should(And(
			HaveField("Reason", jitsiv1alpha1.ReasonNoNodeAddress),
			HaveField("Message", ContainSubstring("3 bridges need 3 nodes")),
		))
		Expect(condition(ns, "meet", "Degraded")(Default).Status).To(Equal(metav1.ConditionTrue))
		Expect(k8sClient.Get(ctx, key(ns, "meet-jvb-0"), &corev1.Service{})).To(Satisfy(apierrors.IsNotFound))

		By("running the pinned bridges on their nodes")
		Eventually(func(g Gomega) {
			var pods corev1.PodList
			g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/component": "jvb"})).To(Succeed())
			running := map[string]bool{}
			for _, p := range pods.Items {
				if p.Status.Phase == corev1.PodRunning {
					running[p.Spec.NodeName] = true
				}
			}
			g.Expect(running).To(HaveLen(2))
		}, "60s").Should(Succeed())
	})

	It("keeps its secrets across spec edits and operator restarts, and rolls only what changed", func() {
		ns := newNamespace()
		newJitsi(ns, func(d *jitsiv1alpha1.JitsiDeployment) {
			d.Spec.JVB.Media.AdvertiseIPs = []string{"198.51.100.1", "198.51.100.2"}
		})
		secret := &corev1.Secret{}
		Eventually(func() error { return k8sClient.Get(ctx, key(ns, "meet-generated"), secret) }).Should(Succeed())
		Expect(secret.Data).To(HaveKey("JICOFO_AUTH_PASSWORD"))
		Expect(secret.Data).To(HaveKey("JWT_APP_SECRET"))
		Expect(secret.Data).To(HaveKey("WEBHOOK_SECRET"))
		original := secret.DeepCopy()
		Eventually(condition(ns, "meet", "Ready"), "60s").Should(HaveField("Status", metav1.ConditionTrue))
		jicofoGen := deploymentOf(ns, "meet-jicofo")(Default).Generation
		prosodyGen := deploymentOf(ns, "meet-prosody")(Default).Generation

		By("changing Prosody's settings, which restarts Prosody alone")
		updateJitsi(ns, func(d *jitsiv1alpha1.JitsiDeployment) {
			d.Spec.Prosody.Env = []corev1.EnvVar{{Name: "ENABLE_LOBBY", Value: "1"}}
		})
		Eventually(func(g Gomega) string { return envValue(deploymentOf(ns, "meet-prosody")(g), "ENABLE_LOBBY") }).Should(Equal("1"))
		Expect(deploymentOf(ns, "meet-prosody")(Default).Generation).To(BeNumerically(">", prosodyGen))
		Consistently(func(g Gomega) int64 { return deploymentOf(ns, "meet-jicofo")(g).Generation }, "2s").Should(Equal(jicofoGen))

		By("restarting the operator, which then writes nothing but the generation it saw: the stack is as it should be")
		// Once Prosody's rollout is over: while it runs, the Deployments' controller and the
		// operator (reporting it) write, rightly.
		settled := waitSettled(ns)
		before := resourceVersions(ns)
		stopTheManager()
		// An edit no child depends on, made while no operator runs: only the new manager can
		// observe its generation, so its status proves the new manager has reconciled "meet".
		updateJitsi(ns, func(d *jitsiv1alpha1.JitsiDeployment) {
			d.Spec.JVB.Autoscaling = &jitsiv1alpha1.JVBAutoscalingSpec{Enabled: false}
		})
		edited := &jitsiv1alpha1.JitsiDeployment{}
		Expect(k8sClient.Get(ctx, key(ns, "meet"), edited)).To(Succeed())
		Expect(edited.Generation).To(BeNumerically(">", settled.Generation))
		startManager()
		Eventually(jitsiStatus(ns, "meet")).Should(HaveField("ObservedGeneration", edited.Generation))
		restarted := &jitsiv1alpha1.JitsiDeployment{}
		Expect(k8sClient.Get(ctx, key(ns, "meet"), restarted)).To(Succeed())
		Expect(withoutGenerations(restarted.Status)).To(Equal(withoutGenerations(settled.Status)), "the status says more than the generation")
		before["JitsiDeployment/meet"] = restarted.ResourceVersion
		Consistently(func() map[string]string { return resourceVersions(ns) }, "3s", "250ms").Should(Equal(before))

		By("changing the image tag, which rolls every component")
		updateJitsi(ns, func(d *jitsiv1alpha1.JitsiDeployment) { d.Spec.Image.Tag = "stable-99999" })
		for _, name := range []string{"meet-prosody", "meet-jicofo", "meet-web", "meet-jvb-0"} {
			Eventually(func(g Gomega) string {
				return deploymentOf(ns, name)(g).Spec.Template.Spec.Containers[0].Image
			}).Should(HaveSuffix(":stable-99999"))
		}
		Expect(k8sClient.Get(ctx, key(ns, "meet-generated"), secret)).To(Succeed())
		Expect(secret.Data).To(Equal(original.Data))
		Expect(secret.ResourceVersion).To(Equal(original.ResourceVersion), "the generated Secret was rewritten")
	})

	It("repairs drift and deletes only what it made", func() {
		ns := newNamespace()
		d := newJitsi(ns, func(d *jitsiv1alpha1.JitsiDeployment) {
			d.Spec.JVB.Media.AdvertiseIPs = []string{"198.51.100.1", "198.51.100.2"}
		})
		Eventually(deploymentOf(ns, "meet-web")).ShouldNot(BeNil())

		By("putting back a deleted Deployment")
		web := deploymentOf(ns, "meet-web")(Default)
		Expect(k8sClient.Delete(ctx, web)).To(Succeed())
		Eventually(func(g Gomega) types.UID { return deploymentOf(ns, "meet-web")(g).UID }).ShouldNot(Equal(web.UID))

		By("undoing a hand edit")
		updateSpec(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "meet-jicofo"}}, func(dep *appsv1.Deployment) {
			dep.Spec.Template.Spec.Containers[0].Image = "example.invalid/other:1"
		})
		Eventually(func(g Gomega) string {
			return deploymentOf(ns, "meet-jicofo")(g).Spec.Template.Spec.Containers[0].Image
		}).Should(HavePrefix("ghcr.io/jitsi/jicofo:"))

		By("scaling the bridges down")
		updateJitsi(ns, func(d *jitsiv1alpha1.JitsiDeployment) { d.Spec.JVB.Replicas = ptr(int32(1)) })
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, key(ns, "meet-jvb-1"), &appsv1.Deployment{}))
		}).Should(BeTrue())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, key(ns, "meet-jvb-1"), &corev1.Service{}))
		}).Should(BeTrue())
		Eventually(eventReasons(ns, "meet")).Should(ContainElement("BridgeRemoved"))
		Expect(k8sClient.Get(ctx, key(ns, "meet-jvb-0"), &appsv1.Deployment{})).To(Succeed())

		By("deleting the JitsiDeployment, which removes its children and nothing else")
		bystander := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "bystander", Namespace: ns,
			Labels: map[string]string{"app.kubernetes.io/instance": "meet", "app.kubernetes.io/managed-by": "jitsi-operator"}}}
		Expect(k8sClient.Create(ctx, bystander)).To(Succeed())
		Expect(k8sClient.Delete(ctx, d)).To(Succeed())
		for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}, &corev1.ConfigMap{}, &corev1.Secret{}} {
			Eventually(func(g Gomega) []string {
				list := &metav1.PartialObjectMetadataList{}
				list.SetGroupVersionKind(gvkOf(obj).GroupVersion().WithKind(gvkOf(obj).Kind + "List"))
				g.Expect(k8sClient.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/instance": "meet"})).To(Succeed())
				var names []string
				for _, o := range list.Items {
					names = append(names, o.Name)
				}
				return names
			}, "60s").Should(Or(BeEmpty(), Equal([]string{"bystander"})))
		}
		Expect(k8sClient.Get(ctx, key(ns, "bystander"), &corev1.ConfigMap{})).To(Succeed())
	})

	It("reports bad references and foreign objects in its conditions instead of failing silently", func() {
		ns := newNamespace()
		By("a JWT secret that does not exist")
		newJitsi(ns, func(d *jitsiv1alpha1.JitsiDeployment) {
			d.Spec.JVB.Media.AdvertiseIPs = []string{"198.51.100.1", "198.51.100.2"}
			d.Spec.Auth.JWT = &jitsiv1alpha1.JWTAuthSpec{AppID: "app", SecretRef: &jitsiv1alpha1.SecretKeyReference{Name: "jwt", Key: "secret"}}
		})
		Eventually(condition(ns, "meet", "Ready")).Should(And(
			HaveField("Reason", jitsiv1alpha1.ReasonSecretNotFound),
			HaveField("Message", ContainSubstring("jwt/secret")),
		))
		Eventually(eventReasons(ns, "meet")).Should(ContainElement(jitsiv1alpha1.ReasonSecretNotFound))

		By("the Secret appearing")
		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "jwt", Namespace: ns},
			Data: map[string][]byte{"secret": []byte("s3cr3t-value-never-logged")}})).To(Succeed())
		Eventually(condition(ns, "meet", "Ready"), "60s").Should(HaveField("Status", metav1.ConditionTrue))
		hash := deploymentOf(ns, "meet-prosody")(Default).Spec.Template.Annotations["jitsi.operator.dev/config-hash"]
		Expect(hash).NotTo(BeEmpty())

		By("the Secret's value changing, which rolls Prosody")
		updateSpec(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "jwt"}}, func(s *corev1.Secret) {
			s.Data["secret"] = []byte("rotated-value")
		})
		Eventually(func(g Gomega) string {
			return deploymentOf(ns, "meet-prosody")(g).Spec.Template.Annotations["jitsi.operator.dev/config-hash"]
		}).ShouldNot(Equal(hash))

		By("a user's object in the way, which is never taken over")
		ns2 := newNamespace()
		foreign := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "meet-prosody-config", Namespace: ns2}, Data: map[string]string{"mine": "yes"}}
		Expect(k8sClient.Create(ctx, foreign)).To(Succeed())
		newJitsi(ns2, func(d *jitsiv1alpha1.JitsiDeployment) { d.Spec.JVB.Replicas = ptr(int32(1)) })
		Eventually(condition(ns2, "meet", "Degraded")).Should(And(
			HaveField("Status", metav1.ConditionTrue),
			HaveField("Reason", jitsiv1alpha1.ReasonReconcileError),
			HaveField("Message", ContainSubstring("ConfigMap meet-prosody-config exists and is not controlled")),
		))
		Expect(k8sClient.Get(ctx, key(ns2, "meet-prosody-config"), foreign)).To(Succeed())
		Expect(foreign.Data).To(Equal(map[string]string{"mine": "yes"}))
		Expect(foreign.OwnerReferences).To(BeEmpty())
		Eventually(eventReasons(ns2, "meet")).Should(ContainElement("ChildConflict"))

		By("never putting secret values in status or events")
		var events eventsv1.EventList
		Expect(k8sClient.List(ctx, &events, client.InNamespace(ns))).To(Succeed())
		d := &jitsiv1alpha1.JitsiDeployment{}
		Expect(k8sClient.Get(ctx, key(ns, "meet"), d)).To(Succeed())
		generated := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, key(ns, "meet-generated"), generated)).To(Succeed())
		text := fmt.Sprintf("%+v %+v", d.Status, events.Items)
		for _, v := range generated.Data {
			Expect(strings.Contains(text, string(v))).To(BeFalse())
		}
		Expect(text).NotTo(ContainSubstring("rotated-value"))
	})
})

// resourceVersions of the JitsiDeployment and everything labelled as its child, by kind/name
// (for Deployments, what only a spec or metadata write changes).
func resourceVersions(ns string) map[string]string {
	out := map[string]string{}
	d := &jitsiv1alpha1.JitsiDeployment{}
	Expect(k8sClient.Get(ctx, key(ns, "meet"), d)).To(Succeed())
	out["JitsiDeployment/meet"] = d.ResourceVersion
	for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}, &corev1.ConfigMap{}, &corev1.Secret{}} {
		gvk := gvkOf(obj)
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		Expect(k8sClient.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/instance": "meet"})).To(Succeed())
		for _, o := range list.Items {
			v := o.ResourceVersion
			if gvk.Kind == "Deployment" {
				// The controller-manager writes a Deployment's status as its pods change; the
				// operator's writes show in the generation and the annotations.
				v = fmt.Sprintf("%d %v", o.Generation, o.Annotations)
			}
			out[gvk.Kind+"/"+o.Name] = v
		}
	}
	return out
}

// waitSettled waits until every Deployment of JitsiDeployment "meet" in ns has rolled out and
// "meet" reports it (Ready, not Progressing, at its generation), and returns "meet" as it then is.
// From there on neither the Deployments' controller nor the operator has anything to write.
func waitSettled(ns string) *jitsiv1alpha1.JitsiDeployment {
	GinkgoHelper()
	d := &jitsiv1alpha1.JitsiDeployment{}
	Eventually(func(g Gomega) {
		var deps appsv1.DeploymentList
		g.Expect(k8sClient.List(ctx, &deps, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/instance": "meet"})).To(Succeed())
		g.Expect(deps.Items).NotTo(BeEmpty())
		for _, dep := range deps.Items {
			want := int32(1)
			if dep.Spec.Replicas != nil {
				want = *dep.Spec.Replicas
			}
			g.Expect(dep.Status).To(And(HaveField("ObservedGeneration", dep.Generation), HaveField("Replicas", want),
				HaveField("UpdatedReplicas", want), HaveField("ReadyReplicas", want)), "Deployment %s is rolling out", dep.Name)
		}
		d = &jitsiv1alpha1.JitsiDeployment{}
		g.Expect(k8sClient.Get(ctx, key(ns, "meet"), d)).To(Succeed())
		g.Expect(d.Status.ObservedGeneration).To(Equal(d.Generation))
		for t, want := range map[string]metav1.ConditionStatus{
			jitsiv1alpha1.ConditionReady: metav1.ConditionTrue, jitsiv1alpha1.ConditionProgressing: metav1.ConditionFalse} {
			c := meta.FindStatusCondition(d.Status.Conditions, t)
			g.Expect(c).NotTo(BeNil(), "no %s condition yet", t)
			g.Expect(*c).To(And(HaveField("Status", want), HaveField("ObservedGeneration", d.Generation)), "%s: %s", t, c.Message)
		}
	}, "60s").Should(Succeed())
	return d
}

// withoutGenerations is st without the generations it was observed at.
func withoutGenerations(st jitsiv1alpha1.JitsiDeploymentStatus) jitsiv1alpha1.JitsiDeploymentStatus {
	out := st.DeepCopy()
	out.ObservedGeneration = 0
	for i := range out.Conditions {
		out.Conditions[i].ObservedGeneration = 0
	}
	return *out
}

var _ = Describe("JitsiDeployment web front end", func() {
	It("publishes it over HTTPS with an Ingress, and says when the address and the certificate exist", func() {
		ns := newNamespace()
		d := newJitsi(ns, func(d *jitsiv1alpha1.JitsiDeployment) {
			d.Spec.JVB.Media.Type = jitsiv1alpha1.MediaNodePort
			d.Spec.Web.Ingress = &jitsiv1alpha1.IngressSpec{Enabled: true, Host: "video.example.org", ClassName: "nginx",
				TLS: &jitsiv1alpha1.IngressTLSSpec{ClusterIssuer: "letsencrypt"}}
		})
		ing := &networkingv1.Ingress{}
		Eventually(func() error { return k8sClient.Get(ctx, key(ns, "meet-web"), ing) }).Should(Succeed())
		Expect(ing.Annotations).To(HaveKeyWithValue("cert-manager.io/cluster-issuer", "letsencrypt"))
		Expect(ing.Spec.TLS).To(ConsistOf(HaveField("SecretName", "meet-web-tls")))
		Expect(metav1.IsControlledBy(ing, d)).To(BeTrue())
		Eventually(jitsiStatus(ns, "meet")).Should(HaveField("PublicURL", "https://video.example.org"))
		Eventually(condition(ns, "meet", jitsiv1alpha1.ConditionWebReachable)).Should(HaveField("Reason", jitsiv1alpha1.ReasonIngressPending))

		By("the ingress controller gives an address")
		updateStatus(ing, func(ing *networkingv1.Ingress) {
			ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "203.0.113.80"}}
		})
		Eventually(condition(ns, "meet", jitsiv1alpha1.ConditionWebReachable)).Should(HaveField("Reason", jitsiv1alpha1.ReasonCertificatePending))
		Eventually(condition(ns, "meet", "Ready")).Should(HaveField("Reason", jitsiv1alpha1.ReasonCertificatePending))

		By("cert-manager writes the certificate")
		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "meet-web-tls", Namespace: ns}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": []byte("certificate"), "tls.key": []byte("key")}})).To(Succeed())
		Eventually(condition(ns, "meet", jitsiv1alpha1.ConditionWebReachable)).Should(And(
			HaveField("Status", metav1.ConditionTrue), HaveField("Message", ContainSubstring("203.0.113.80"))))

		By("turning the Ingress off")
		updateJitsi(ns, func(d *jitsiv1alpha1.JitsiDeployment) { d.Spec.Web.Ingress.Enabled = false })
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, key(ns, "meet-web"), &networkingv1.Ingress{}))
		}).Should(BeTrue())
		Eventually(func(g Gomega) *metav1.Condition {
			return meta.FindStatusCondition(jitsiStatus(ns, "meet")(g).Conditions, jitsiv1alpha1.ConditionWebReachable)
		}).Should(BeNil())
	})
})

var _ = Describe("JitsiDeployment web front end through the Gateway API", func() {
	It("attaches it to a Gateway with an HTTPRoute when asked, and says when the Gateway accepts it", func() {
		ns := newNamespace()
		d := newJitsi(ns, func(d *jitsiv1alpha1.JitsiDeployment) {
			d.Spec.JVB.Media.Type = jitsiv1alpha1.MediaNodePort
			d.Spec.Web.Ingress = &jitsiv1alpha1.IngressSpec{Enabled: true,
				Gateway: &jitsiv1alpha1.GatewayRef{Name: "public", Namespace: "gateways", SectionName: "https"}}
		})
		route := &gatewayv1.HTTPRoute{}
		Eventually(func() error { return k8sClient.Get(ctx, key(ns, "meet-web"), route) }).Should(Succeed())
		Expect(route.Spec.ParentRefs).To(ConsistOf(And(HaveField("Name", gatewayv1.ObjectName("public")),
			HaveField("SectionName", HaveValue(Equal(gatewayv1.SectionName("https")))))))
		Expect(route.Spec.Hostnames).To(ConsistOf(gatewayv1.Hostname("meet.example.com")))
		Expect(metav1.IsControlledBy(route, d)).To(BeTrue())
		Expect(apierrors.IsNotFound(k8sClient.Get(ctx, key(ns, "meet-web"), &networkingv1.Ingress{}))).To(BeTrue())
		Eventually(condition(ns, "meet", jitsiv1alpha1.ConditionWebReachable)).Should(And(
			HaveField("Status", metav1.ConditionFalse), HaveField("Message", ContainSubstring("not accepted"))))

		By("the Gateway accepts the route")
		gwns := gatewayv1.Namespace("gateways")
		updateStatus(route, func(route *gatewayv1.HTTPRoute) {
			route.Status.Parents = []gatewayv1.RouteParentStatus{{
				ParentRef:      gatewayv1.ParentReference{Name: "public", Namespace: &gwns},
				ControllerName: "example.net/gateway-controller",
				Conditions: []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted",
					Message: "attached", LastTransitionTime: metav1.Now(), ObservedGeneration: route.Generation}},
			}}
		})
		Eventually(condition(ns, "meet", jitsiv1alpha1.ConditionWebReachable)).Should(HaveField("Status", metav1.ConditionTrue))

		By("back to an Ingress")
		updateJitsi(ns, func(d *jitsiv1alpha1.JitsiDeployment) { d.Spec.Web.Ingress.Gateway = nil })
		Eventually(func() error { return k8sClient.Get(ctx, key(ns, "meet-web"), &networkingv1.Ingress{}) }).Should(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, key(ns, "meet-web"), &gatewayv1.HTTPRoute{}))
		}).Should(BeTrue())
	})
})

// updateJitsi changes the spec of JitsiDeployment "meet", again on a conflict (the operator writes
// its status meanwhile).
func updateJitsi(ns string, change func(*jitsiv1alpha1.JitsiDeployment)) {
	GinkgoHelper()
	updateSpec(&jitsiv1alpha1.JitsiDeployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "meet"}}, change)
}

var _ = Describe("JitsiDeployment TURN", func() {
	templateHash := func(ns, name string) func(Gomega) string {
		return func(g Gomega) string {
			return deploymentOf(ns, name)(g).Spec.Template.Annotations[render.AnnotationConfigHash]
		}
	}

	It("hands clients TURN servers, runs the managed one, and rolls only what reads a changed secret", func() {
		ns := newNamespace()
		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "turn-shared", Namespace: ns},
			Data: map[string][]byte{"secret": []byte("first-shared-secret")}})).To(Succeed())
		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "turn-tls", Namespace: ns}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": []byte("cert-1"), "tls.key": []byte("key-1")}})).To(Succeed())
		newJitsi(ns, func(d *jitsiv1alpha1.JitsiDeployment) {
			d.Spec.JVB.Media.Type = jitsiv1alpha1.MediaNodePort
			d.Spec.TURN = &jitsiv1alpha1.TURNSpec{Managed: true, TLSSecretName: "turn-tls",
				CredentialsSecretRef: &jitsiv1alpha1.SecretKeyReference{Name: "turn-shared", Key: "secret"}}
		})
		Eventually(func(g Gomega) string { return envValue(deploymentOf(ns, "meet-prosody")(g), "TURN_HOST") }).Should(ContainSubstring("turn.meet.example.com"))
		prosody := deploymentOf(ns, "meet-prosody")(Default)
		var cred *corev1.EnvVar
		for i, e := range prosody.Spec.Template.Spec.Containers[0].Env {
			if e.Name == "TURN_CREDENTIALS" {
				cred = &prosody.Spec.Template.Spec.Containers[0].Env[i]
			}
		}
		Expect(cred).NotTo(BeNil())
		Expect(cred.Value).To(BeEmpty())
		Expect(cred.ValueFrom.SecretKeyRef.Name).To(Equal("turn-shared"))

		Eventually(deploymentOf(ns, "meet-turn")).Should(HaveField("OwnerReferences", ContainElement(HaveField("Kind", "JitsiDeployment"))))
		for _, o := range []client.Object{&corev1.Service{}, &corev1.ConfigMap{}, &networkingv1.NetworkPolicy{}} {
			// Applied one after the other: they may follow the Deployment a moment later.
			Eventually(func() error { return k8sClient.Get(ctx, key(ns, "meet-turn"), o) }).Should(Succeed())
		}
		cm := &corev1.ConfigMap{}
		Expect(k8sClient.Get(ctx, key(ns, "meet-turn"), cm)).To(Succeed())
		Expect(fmt.Sprint(cm.Data)).NotTo(ContainSubstring("first-shared-secret"))
		Expect(fmt.Sprint(cm.Data)).To(ContainSubstring(localcluster.PodPrefix())) // relays only to the pod network (the nodes' pod CIDRs)

		prosodyHash, webHash, turnHash := templateHash(ns, "meet-prosody")(Default), templateHash(ns, "meet-web")(Default), templateHash(ns, "meet-turn")(Default)
		Expect(prosodyHash).NotTo(BeEmpty())
		Expect(turnHash).NotTo(BeEmpty())

		By("a new shared secret: Prosody and the TURN server roll, the web does not")
		updateSpec(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "turn-shared"}}, func(s *corev1.Secret) {
			s.Data["secret"] = []byte("second-shared-secret")
		})
		Eventually(templateHash(ns, "meet-prosody")).ShouldNot(Equal(prosodyHash))
		Eventually(templateHash(ns, "meet-turn")).ShouldNot(Equal(turnHash))
		Expect(templateHash(ns, "meet-web")(Default)).To(Equal(webHash))

		By("a new certificate: only the TURN server rolls")
		prosodyHash, turnHash = templateHash(ns, "meet-prosody")(Default), templateHash(ns, "meet-turn")(Default)
		updateSpec(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "turn-tls"}}, func(s *corev1.Secret) {
			s.Data["tls.crt"] = []byte("cert-2")
		})
		Eventually(templateHash(ns, "meet-turn")).ShouldNot(Equal(turnHash))
		Consistently(templateHash(ns, "meet-prosody"), "1s").Should(Equal(prosodyHash))

		By("no managed server any more")
		updateJitsi(ns, func(d *jitsiv1alpha1.JitsiDeployment) {
			d.Spec.TURN.Managed = false
			d.Spec.TURN.Servers = []jitsiv1alpha1.TURNServer{{Host: "turn.example.net", Transport: "tcp"}}
		})
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, key(ns, "meet-turn"), &appsv1.Deployment{}))
		}).Should(BeTrue())
		Eventually(func(g Gomega) string { return envValue(deploymentOf(ns, "meet-prosody")(g), "TURN_HOST") }).Should(Equal("turn.example.net"))
	})
})
