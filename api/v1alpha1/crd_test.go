package v1alpha1_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/config"
	"github.com/jitsi-operator/jitsi-operator/internal/manifests"
)

var _ = Describe("The CRDs", func() {
	DescribeTable("are served with the short names, columns and status subresource users expect",
		func(name, shortName string, columns []string) {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			Expect(k8sClient.Get(ctx, client.ObjectKey{Name: name}, crd)).To(Succeed())
			Expect(crd.Spec.Scope).To(Equal(apiextensionsv1.NamespaceScoped))
			Expect(crd.Spec.Names.ShortNames).To(ContainElement(shortName))
			// A category named like a short name would shadow it: `kubectl get jitsi meet` must
			// find the JitsiDeployment, and `kubectl get jitsi-operator` lists all three kinds.
			Expect(crd.Spec.Names.Categories).To(ConsistOf("jitsi-operator"))
			Expect(crd.Spec.Names.Categories).NotTo(ContainElement(shortName))
			Expect(crd.Status.Conditions).To(ContainElement(And(
				HaveField("Type", apiextensionsv1.Established),
				HaveField("Status", apiextensionsv1.ConditionTrue))))
			Expect(crd.Spec.Versions).To(HaveLen(1))
			version := crd.Spec.Versions[0]
			Expect(version.Name).To(Equal("v1alpha1"))
			Expect(version.Subresources).NotTo(BeNil())
			Expect(version.Subresources.Status).NotTo(BeNil())
			var got []string
			for _, c := range version.AdditionalPrinterColumns {
				got = append(got, c.Name)
			}
			Expect(got).To(ContainElements(columns))
		},
		Entry("JitsiDeployment", "jitsideployments.jitsi.operator.dev", "jitsi", []string{"Domain", "JVBs", "Ready", "Age"}),
		Entry("JibriPool", "jibripools.jitsi.operator.dev", "jibri", []string{"Min", "Max", "Busy", "Idle", "Queue", "Desired", "Age"}),
		Entry("Meeting", "meetings.jitsi.operator.dev", "meeting", []string{"Phase", "Participants", "Recording", "Age"}),
	)

	It("explain a Meeting's recording to a new user", func() {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "meetings.jitsi.operator.dev"}, crd)).To(Succeed())
		recording := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["recording"]
		Expect(recording.Description).To(ContainSubstring("whether and when the meeting is recorded"))
		mode := recording.Properties["mode"]
		Expect(mode.Description).To(ContainSubstring("AutomaticOnSecondParticipant (once two people are in)"))
		Expect(mode.Description).To(ContainSubstring("Default: None"))
		Expect(recording.Properties["jibriPoolRef"].Description).To(ContainSubstring("JibriPool"))
	})
})

var _ = Describe("The samples", func() {
	It("are all accepted", func() {
		ns := newNamespace()
		samples, err := manifests.Read(config.Samples, "samples")
		Expect(err).NotTo(HaveOccurred())
		kinds := map[string]int{}
		for _, s := range samples {
			kinds[s.GetKind()]++
		}
		Expect(kinds).To(HaveKey("JitsiDeployment"))
		Expect(kinds).To(HaveKey("JibriPool"))
		Expect(kinds).To(HaveKey("Meeting"))
		Expect(manifests.Apply(ctx, k8sClient, ns, samples)).To(Succeed())

		meetings := &jitsiv1alpha1.MeetingList{}
		Expect(k8sClient.List(ctx, meetings, client.InNamespace(ns))).To(Succeed())
		Expect(meetings.Items).To(HaveLen(kinds["Meeting"]))
	})
})

var _ = Describe("Defaults", func() {
	It("fill in what a minimal JitsiDeployment leaves out", func() {
		ns := newNamespace()
		d := &jitsiv1alpha1.JitsiDeployment{
			ObjectMeta: metav1.ObjectMeta{Name: "meet", Namespace: ns},
			Spec:       jitsiv1alpha1.JitsiDeploymentSpec{Domain: "meet.example.com", Auth: jitsiv1alpha1.AuthSpec{JWT: &jitsiv1alpha1.JWTAuthSpec{}}},
		}
		Expect(k8sClient.Create(ctx, d)).To(Succeed())
		Expect(d.Spec.Image.Registry).To(Equal("ghcr.io/jitsi"))
		Expect(d.Spec.Image.Tag).To(Equal("stable-11146-2"))
		Expect(d.Spec.Image.PullPolicy).To(Equal("IfNotPresent"))
		Expect(d.Spec.Auth.Type).To(Equal(jitsiv1alpha1.AuthJWT))
		Expect(d.Spec.Auth.JWT.AppID).To(Equal("jitsi"))
		Expect(d.Spec.Auth.JWT.Audience).To(Equal("jitsi"))
		Expect(d.Spec.JVB.Replicas).To(Equal(ptr(int32(1))))
		Expect(d.Spec.JVB.Media.Type).To(Equal(jitsiv1alpha1.MediaLoadBalancer))
		Expect(d.Spec.JVB.Media.Port).To(Equal(int32(10000)))
		Expect(d.Spec.Web.Replicas).To(Equal(ptr(int32(1))))
	})

	It("fill in autoscaling bounds and target", func() {
		ns := newNamespace()
		d := &jitsiv1alpha1.JitsiDeployment{
			ObjectMeta: metav1.ObjectMeta{Name: "meet", Namespace: ns},
			Spec: jitsiv1alpha1.JitsiDeploymentSpec{Domain: "meet.example.com",
				JVB: jitsiv1alpha1.JVBSpec{Autoscaling: &jitsiv1alpha1.JVBAutoscalingSpec{Enabled: true}}},
		}
		Expect(k8sClient.Create(ctx, d)).To(Succeed())
		a := d.Spec.JVB.Autoscaling
		Expect(a.MinReplicas).To(Equal(ptr(int32(1))))
		Expect(a.MaxReplicas).To(Equal(ptr(int32(10))))
		Expect(a.TargetStress).To(Equal(ptr(0.6)))
		Expect(a.ScaleDownDelaySeconds).To(Equal(ptr(int32(300))))
	})

	It("fill in what a minimal JibriPool leaves out", func() {
		ns := newNamespace()
		p := &jitsiv1alpha1.JibriPool{
			ObjectMeta: metav1.ObjectMeta{Name: "rec", Namespace: ns},
			Spec:       jitsiv1alpha1.JibriPoolSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"}},
		}
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		Expect(p.Spec.MinReplicas).To(Equal(ptr(int32(1))))
		Expect(p.Spec.MaxReplicas).To(Equal(ptr(int32(5))))
		Expect(p.Spec.MinIdle).To(Equal(ptr(int32(1))))
		Expect(p.Spec.ScaleDownDelaySeconds).To(Equal(ptr(int32(300))))
		Expect(p.Spec.Audio).To(Equal(jitsiv1alpha1.AudioPulseAudio))
		Expect(p.Spec.Streaming.Enabled).To(Equal(ptr(true)))
	})

	It("fill in what a minimal Meeting leaves out", func() {
		ns := newNamespace()
		m := &jitsiv1alpha1.Meeting{
			ObjectMeta: metav1.ObjectMeta{Name: "standup", Namespace: ns},
			Spec:       jitsiv1alpha1.MeetingSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"}},
		}
		Expect(k8sClient.Create(ctx, m)).To(Succeed())
		Expect(m.Spec.Access).To(Equal(jitsiv1alpha1.AccessPublic))
		Expect(m.Spec.Recording.Mode).To(Equal(jitsiv1alpha1.RecordingNone))
		Expect(m.Spec.Streaming.Mode).To(Equal(jitsiv1alpha1.StreamingNone))
		Expect(m.RoomName()).To(Equal("standup"))
	})
})

var _ = Describe("The status subresource", func() {
	It("ignores spec changes sent with a status write, and status changes sent with a spec write", func() {
		ns := newNamespace()
		m := &jitsiv1alpha1.Meeting{
			ObjectMeta: metav1.ObjectMeta{Name: "standup", Namespace: ns},
			Spec:       jitsiv1alpha1.MeetingSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"}, Title: "before"},
		}
		Expect(k8sClient.Create(ctx, m)).To(Succeed())

		m.Spec.Title = "changed through status"
		m.Status.Phase = jitsiv1alpha1.MeetingInProgress
		m.Status.ParticipantCount = 3
		Expect(k8sClient.Status().Update(ctx, m)).To(Succeed())

		stored := &jitsiv1alpha1.Meeting{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(m), stored)).To(Succeed())
		Expect(stored.Spec.Title).To(Equal("before"))
		Expect(stored.Status.Phase).To(Equal(jitsiv1alpha1.MeetingInProgress))
		Expect(stored.Status.ParticipantCount).To(Equal(int32(3)))

		stored.Status.Phase = jitsiv1alpha1.MeetingCompleted
		stored.Spec.Title = "after"
		Expect(k8sClient.Update(ctx, stored)).To(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(m), stored)).To(Succeed())
		Expect(stored.Spec.Title).To(Equal("after"))
		Expect(stored.Status.Phase).To(Equal(jitsiv1alpha1.MeetingInProgress))
	})

	It("keeps conditions as a list keyed by type", func() {
		ns := newNamespace()
		p := &jitsiv1alpha1.JibriPool{
			ObjectMeta: metav1.ObjectMeta{Name: "rec", Namespace: ns},
			Spec:       jitsiv1alpha1.JibriPoolSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"}},
		}
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		cond := metav1.Condition{Type: jitsiv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: jitsiv1alpha1.ReasonReconciling,
			Message: "starting", LastTransitionTime: metav1.Now(), ObservedGeneration: p.Generation}
		p.Status.Conditions = []metav1.Condition{cond, cond}
		err := k8sClient.Status().Update(ctx, p)
		expectRejected(err, "Duplicate value")
	})
})
