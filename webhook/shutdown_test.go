package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/webhook"
)

var _ = Describe("A receiver that stops", func() {
	It("stores every event it accepted before it returns", func() {
		ns := deploymentWithMeeting("all-hands")
		cached(&jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Name: "all-hands", Namespace: ns}}, func() bool { return true })
		l, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		addr := l.Addr().String()
		Expect(l.Close()).To(Succeed())
		own := &webhook.Server{Client: cachedClient, Reader: uncachedLists, Addr: addr, Now: func() time.Time { return clock }}
		runCtx, stop := context.WithCancel(ctx)
		defer stop()
		stopped := make(chan error, 1)
		go func() { stopped <- own.Start(runCtx) }()
		Eventually(func() error {
			resp, err := http.Get("http://" + addr + "/v1/jitsi/health")
			if err == nil {
				resp.Body.Close()
			}
			return err
		}).Should(Succeed())

		const people = 200
		var wg sync.WaitGroup
		codes := make(chan int, people)
		for i := range people {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer GinkgoRecover()
				body := moduleEvent("occupant-joined", "all-hands", clock, fmt.Sprintf("p%03d@meet.jitsi", i), "P", false)
				req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/prosody/events?deployment="+ns+"/meet", bytes.NewReader(body))
				Expect(err).NotTo(HaveOccurred())
				req.Header.Set("X-Jitsi-Signature", sign(body))
				resp, err := http.DefaultClient.Do(req)
				Expect(err).NotTo(HaveOccurred())
				resp.Body.Close()
				codes <- resp.StatusCode
			}()
		}
		wg.Wait()
		close(codes)
		for c := range codes {
			Expect(c).To(Equal(http.StatusOK))
		}
		By("stopping at once after the last answer: the events accepted are still being written")
		stop()
		Eventually(stopped, webhook.ShutdownTimeout+5*time.Second).Should(Receive(BeNil()))
		m := &jitsiv1alpha1.Meeting{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "all-hands"}, m)).To(Succeed())
		Expect(m.Status.Participants).To(HaveLen(people), "every accepted join is stored once the receiver has stopped")
		Expect(m.Status.ParticipantCount).To(BeEquivalentTo(people))
		stored() // the suite's own receiver, which shares the process's gauge
		Expect(metric("jitsi_operator_receiver_events_queued", nil)).To(BeZero())
	})
})
