package controllers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

var _ = Describe("Meetings claiming one room", func() {
	It("both say so until one is gone, and a room of its own says nothing", func() {
		ns := newNamespace()
		newJitsi(ns)
		newMeeting(ns, "first", func(m *jitsiv1alpha1.Meeting) { m.Spec.RoomName = "board" })
		Eventually(meetingCondition(ns, "first", jitsiv1alpha1.ConditionRoomConflict), "30s").Should(And(
			HaveField("Status", metav1.ConditionFalse), HaveField("Reason", jitsiv1alpha1.ReasonRoomUnique)))

		second := newMeeting(ns, "second", func(m *jitsiv1alpha1.Meeting) {
			m.Spec.RoomName = "board"
			m.Spec.Access = jitsiv1alpha1.AccessPrivate
		})
		newMeeting(ns, "elsewhere", func(m *jitsiv1alpha1.Meeting) { m.Spec.RoomName = "standup" })
		for _, name := range []string{"first", "second"} {
			Eventually(meetingCondition(ns, name, jitsiv1alpha1.ConditionRoomConflict), "30s").Should(And(
				HaveField("Status", metav1.ConditionTrue),
				HaveField("Reason", jitsiv1alpha1.ReasonRoomClaimedTwice),
				HaveField("Message", ContainSubstring("Meetings first, second all claim room board")),
				HaveField("Message", ContainSubstring("its events go to first"))), name)
		}
		Eventually(meetingCondition(ns, "elsewhere", jitsiv1alpha1.ConditionRoomConflict), "30s").Should(
			HaveField("Status", metav1.ConditionFalse))

		By("resolving when one of them is deleted")
		Expect(k8sClient.Delete(ctx, second)).To(Succeed())
		Eventually(meetingCondition(ns, "first", jitsiv1alpha1.ConditionRoomConflict), "30s").Should(
			HaveField("Status", metav1.ConditionFalse))
		Eventually(eventReasons(ns, "first")).Should(And(ContainElement("RoomConflict"), ContainElement("RoomConflictResolved")))
	})
})
