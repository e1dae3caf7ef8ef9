package controllers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/controllers"
)

var _ = Describe("A status write", func() {
	It("is refused when it was computed from an older object than the server's, and changes nothing then", func() {
		ns := newNamespace()
		newMeeting(ns, "retro")
		Eventually(meetingStatus(ns, "retro")).Should(HaveField("ObservedGeneration", int64(1)))

		var stale *jitsiv1alpha1.Meeting
		Eventually(func(g Gomega) {
			m := &jitsiv1alpha1.Meeting{}
			g.Expect(k8sClient.Get(ctx, key(ns, "retro"), m)).To(Succeed())
			stale = m.DeepCopy()
			g.Expect(controllers.WriteStatus(ctx, k8sClient, m, map[string]any{"peakParticipants": 3})).To(Succeed())
			g.Expect(m.ResourceVersion).NotTo(Equal(stale.ResourceVersion), "the written object carries the new resourceVersion")
		}).Should(Succeed())

		err := controllers.WriteStatus(ctx, k8sClient, stale, map[string]any{"peakParticipants": 1})
		Expect(apierrors.IsConflict(err)).To(BeTrue(), "a write over an older resourceVersion: %v", err)
		Expect(meetingStatus(ns, "retro")(Default)).To(HaveField("PeakParticipants", int32(3)))
	})
})
