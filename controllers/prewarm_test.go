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
