package webhook_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/events"
	"github.com/jitsi-operator/jitsi-operator/internal/session"
)

var _ = Describe("The pool's decisions through the receiver's writer", func() {
	It("writes a decision made from the current recording, and refuses one made from a recording that moved on", func() {
		ns := deploymentWithMeeting("retro")
		m := &jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Name: "retro", Namespace: ns}}
		cached(m, func() bool { return true })
		seen := m.DeepCopy()

		now := time.Now()
		written, applied, err := server.Decide(ctx, m, events.Decision{Seen: events.Seen(m.Status, false),
			Signal: session.Signal{Kind: session.Queued, At: now}})
		Expect(err).NotTo(HaveOccurred())
		Expect(applied).To(BeTrue())
		Expect(written.Status.Recording).To(HaveField("State", jitsiv1alpha1.RecordingStatePending))
		Expect(written.ResourceVersion).NotTo(Equal(seen.ResourceVersion))

		// Decided from the Meeting before that write: its recording is no longer what it saw.
		_, applied, err = server.Decide(ctx, seen, events.Decision{Seen: events.Seen(seen.Status, false),
			Signal: session.Signal{Kind: session.Assigned, Session: "retro-abc", Recorder: "rec-abcde", At: now}})
		Expect(err).NotTo(HaveOccurred())
		Expect(applied).To(BeFalse())
		stored := &jitsiv1alpha1.Meeting{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "retro"}, stored)).To(Succeed())
		Expect(stored.Status.Recording).To(And(HaveField("State", jitsiv1alpha1.RecordingStatePending), HaveField("Recorder", "")))
	})

	It("stores a write whose caller has gone (the write may hold other callers' events)", func() {
		ns := deploymentWithMeeting("gone")
		m := &jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Name: "gone", Namespace: ns}}
		cached(m, func() bool { return true })
		gone, cancel := context.WithCancel(ctx)
		cancel()
		_, applied, err := server.Decide(gone, m, events.Decision{Seen: events.Seen(m.Status, false),
			Signal: session.Signal{Kind: session.Queued, At: time.Now()}})
		Expect(err).NotTo(HaveOccurred())
		Expect(applied).To(BeTrue())
		stored := &jitsiv1alpha1.Meeting{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gone"}, stored)).To(Succeed())
		Expect(stored.Status.Recording).To(HaveField("State", jitsiv1alpha1.RecordingStatePending))
	})
})
