package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

var _ = Describe("Capacity ahead of the calendar", func() {
	It("has an idle recorder ready for a meeting recorded automatically before its start, not earlier than its lead time, and lets it go when the meeting is deleted", func() {
		ns := newNamespace()
		newJitsi(ns)
		runFakeRecorders(ns, "rec", 0)
		newPool(ns, "rec", func(p *jitsiv1alpha1.JibriPool) {
			p.Spec.MinReplicas, p.Spec.MinIdle, p.Spec.MaxReplicas = ptr(int32(0)), ptr(int32(0)), ptr(int32(3))
			p.Spec.ScaleDownDelaySeconds = ptr(int32(2))
			p.Spec.Prewarm = &jitsiv1alpha1.RecorderPrewarm{LeadSeconds: 120}
		})
		Eventually(poolStatus(ns, "rec")).Should(And(HaveField("DesiredReplicas", int32(0)),
			HaveField("Scheduled", HaveField("Count", int32(0)))))
		Expect(recorderPods(ns, "rec")(Default)).To(BeEmpty())

		recorded := func(name string, in time.Duration) *jitsiv1alpha1.Meeting {
			start := metav1.NewTime(time.Now().Add(in).Truncate(time.Second))
			return newMeeting(ns, name, func(m *jitsiv1alpha1.Meeting) {
				m.Spec.StartTime = &start
				m.Spec.Recording = jitsiv1alpha1.MeetingRecordingSpec{Mode: jitsiv1alpha1.RecordingAutomatic,
					JibriPoolRef: &jitsiv1alpha1.LocalObjectReference{Name: "rec"}}
			})
		}

		By("a meeting starting in 60 s: a recorder at once, idle and Ready before the start")
		first := recorded("all-hands", time.Minute)
		Eventually(poolStatus(ns, "rec")).Should(And(HaveField("Idle", int32(1)), HaveField("DesiredReplicas", int32(1)),
			HaveField("Scheduled", And(HaveField("Count", int32(1)), HaveField("Meetings", ConsistOf("all-hands"))))))
		Expect(time.Now()).To(BeTemporally("<", first.Spec.StartTime.Time), "ready before the start")
		Eventually(eventMessages(ns, "rec", "ScaledUp")).Should(ContainElement(ContainSubstring("scheduled: all-hands")))

		By("a meeting starting in 135 s: nothing until its lead time begins (15 s from now), then a second recorder")
		second := recorded("review", 135*time.Second)
		leadStarts := second.Spec.StartTime.Add(-2 * time.Minute)
		Eventually(poolStatus(ns, "rec")).Should(HaveField("Scheduled", HaveField("NextChange",
			HaveField("Time", BeTemporally("~", leadStarts, time.Second)))))
		Consistently(func() int { return len(recorderPods(ns, "rec")(Default)) }, time.Until(leadStarts)-2*time.Second).Should(Equal(1))
		Eventually(poolStatus(ns, "rec"), "20s").Should(And(HaveField("Idle", int32(2)),
			HaveField("Scheduled", HaveField("Meetings", ConsistOf("all-hands", "review")))))

		By("deleting the first: one recorder goes after the scale-down delay")
		Expect(k8sClient.Delete(ctx, first)).To(Succeed())
		Eventually(poolStatus(ns, "rec")).Should(HaveField("Scheduled", HaveField("Meetings", ConsistOf("review"))))
		Eventually(func() int { return len(recorderPods(ns, "rec")(Default)) }, "20s").Should(Equal(1))
		Expect(k8sClient.Delete(ctx, second)).To(Succeed())
		Eventually(func() int { return len(recorderPods(ns, "rec")(Default)) }, "20s").Should(BeZero())
	})

	It("adds bridges for a scheduled meeting's expected participants before its start, and drains them once it is deleted", func() {
		ns := newNamespace()
		fakes := runFakeBridges(ns)
		newJitsi(ns, func(d *jitsiv1alpha1.JitsiDeployment) {
			d.Spec.JVB.Media.Type = jitsiv1alpha1.MediaNodePort
			d.Spec.JVB.Autoscaling = &jitsiv1alpha1.JVBAutoscalingSpec{Enabled: true, MinReplicas: ptr(int32(1)), MaxReplicas: ptr(int32(5)),
				TargetStress: ptr(0.5), ScaleDownDelaySeconds: ptr(int32(0)),
				Prewarm: &jitsiv1alpha1.BridgePrewarm{LeadSeconds: 120, ParticipantsPerBridge: 100}}
		})
		// The first bridge Ready and its load read (its pod through the scheduler and the kwok node
		// is slow on a loaded machine, and a bridge that does not answer is replaced, so it is
		// named from the status): the load needs one bridge at the target.
		var first string
		Eventually(func(g Gomega) {
			st := jitsiStatus(ns, "meet")(g)
			g.Expect(st.Bridges).To(ConsistOf(HaveField("State", "Ready")))
			first = st.Bridges[0].Name
			g.Expect(bridgeOf(fakes, first)()).NotTo(BeNil())
		}, "90s").Should(Succeed())
		bridgeOf(fakes, first)().SetLoad(0.2, 4, 1)
		Eventually(jitsiStatus(ns, "meet"), "90s").Should(And(HaveField("DesiredBridges", int32(1)),
			HaveField("ScheduledBridges", HaveField("Count", int32(0))),
			HaveField("Bridges", ConsistOf(And(HaveField("Name", first), HaveField("StressPercent", int32(20)))))))

		sized := func(name string, in time.Duration, people int32) *jitsiv1alpha1.Meeting {
			start := metav1.NewTime(time.Now().Add(in).Truncate(time.Second))
			return newMeeting(ns, name, func(m *jitsiv1alpha1.Meeting) {
				m.Spec.StartTime, m.Spec.ExpectedParticipants = &start, ptr(people)
			})
		}
		By("a town hall of 150 in 60 s: two bridges on top of the one the load needs")
		townHall := sized("town-hall", time.Minute, 150)
		Eventually(jitsiStatus(ns, "meet"), "45s").Should(And(HaveField("DesiredBridges", int32(3)),
			HaveField("ScheduledBridges", And(HaveField("Count", int32(2)), HaveField("Participants", int32(150)),
				HaveField("Meetings", ConsistOf("town-hall"))))))
		Eventually(jitsiStatus(ns, "meet"), "45s").Should(HaveField("Bridges", HaveLen(3)))
		Eventually(eventMessages(ns, "meet", "BridgeAdded")).Should(ContainElement(ContainSubstring("scheduled: town-hall")))

		By("a meeting in 10 minutes: nothing before its lead time, which the status names")
		later := sized("offsite", 10*time.Minute, 400)
		Eventually(jitsiStatus(ns, "meet")).Should(HaveField("ScheduledBridges", HaveField("NextChange",
			HaveField("Time", BeTemporally("~", later.Spec.StartTime.Add(-2*time.Minute), time.Second)))))
		Consistently(jitsiStatus(ns, "meet"), "3s").Should(HaveField("DesiredBridges", int32(3)))

		By("the town hall deleted: the extra bridges drain (empty, they go at once)")
		Expect(k8sClient.Delete(ctx, townHall)).To(Succeed())
		Eventually(jitsiStatus(ns, "meet"), "90s").Should(And(HaveField("DesiredBridges", int32(1)),
			HaveField("ScheduledBridges", HaveField("Count", int32(0)))))
	})
})

// eventMessages are the notes of the events of reason about object name in ns.
func eventMessages(ns, name, reason string) func(Gomega) []string {
	return func(g Gomega) []string {
		var list eventsv1.EventList
		g.Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		var out []string
		for _, e := range list.Items {
			if e.Regarding.Name == name && e.Reason == reason {
				out = append(out, e.Note)
			}
		}
		return out
	}
}
