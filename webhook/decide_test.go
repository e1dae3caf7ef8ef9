package webhook_test

import (
	"context"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/events"
	"github.com/jitsi-operator/jitsi-operator/internal/session"
	"github.com/jitsi-operator/jitsi-operator/webhook"
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

	It("starts a Meeting's next write from its last one while the cache is behind it, with no read", func() {
		ns := deploymentWithMeeting("lag")
		m := &jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Name: "lag", Namespace: ns}}
		cached(m, func() bool { return true })
		// A cache that stays where it was before the first write, and a reader that counts.
		behind := &lagging{Client: k8sClient, at: m.DeepCopy()}
		reader := &countingReader{Reader: k8sClient}
		s := &webhook.Server{Client: behind, Reader: reader}
		now := time.Now()
		written, applied, err := s.Decide(ctx, m, events.Decision{Seen: events.Seen(m.Status, false),
			Signal: session.Signal{Kind: session.Queued, At: now}})
		Expect(err).NotTo(HaveOccurred())
		Expect(applied).To(BeTrue())
		_, applied, err = s.Decide(ctx, written, events.Decision{Seen: events.Seen(written.Status, false),
			Signal: session.Signal{Kind: session.Assigned, Session: "lag-abc", Recorder: "rec-abcde", At: now}})
		Expect(err).NotTo(HaveOccurred())
		Expect(applied).To(BeTrue())
		Expect(reader.gets.Load()).To(BeZero(), "reads of the Meeting from the API server")
		stored := &jitsiv1alpha1.Meeting{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "lag"}, stored)).To(Succeed())
		Expect(stored.Status.Recording).To(HaveField("Recorder", "rec-abcde"))

		// Once another writer has moved the Meeting on, the cache (when it has that) is what the
		// next write starts from, not this replica's last write.
		other := stored.DeepCopy()
		other.Status.PeakParticipants = 7
		Expect(k8sClient.Status().Update(ctx, other)).To(Succeed())
		behind.at = other.DeepCopy()
		_, applied, err = s.Decide(ctx, other, events.Decision{Seen: events.Seen(other.Status, false),
			Signal: session.Signal{Kind: session.Stopped, At: now.Add(time.Second)}})
		Expect(err).NotTo(HaveOccurred())
		Expect(applied).To(BeTrue())
		Expect(reader.gets.Load()).To(BeZero(), "reads of the Meeting from the API server")
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "lag"}, stored)).To(Succeed())
		Expect(stored.Status.PeakParticipants).To(BeEquivalentTo(7))
	})
})

// lagging answers Gets of Meetings with the Meeting at (a cache that has not seen later writes).
type lagging struct {
	client.Client
	at *jitsiv1alpha1.Meeting
}

func (l *lagging) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if m, ok := obj.(*jitsiv1alpha1.Meeting); ok && key == client.ObjectKeyFromObject(l.at) {
		l.at.DeepCopyInto(m)
		return nil
	}
	return l.Client.Get(ctx, key, obj, opts...)
}

// countingReader counts its Gets.
type countingReader struct {
	client.Reader
	gets atomic.Int32
}

func (r *countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	r.gets.Add(1)
	return r.Reader.Get(ctx, key, obj, opts...)
}
