package controllers_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

// The operator's controllers, by the name controller-runtime gives their metrics.
var operatorControllers = []string{"jitsideployment", "jibripool", "meeting"}

var _ = Describe("The operator at steady state", func() {
	It("sends no API write and no API read for 30 s once a stack, its pool and its meetings have settled", func() {
		ns := newNamespace()
		reconciledBefore := reconciles()
		newJitsi(ns, func(d *jitsiv1alpha1.JitsiDeployment) {
			d.Spec.Auth.JWT = &jitsiv1alpha1.JWTAuthSpec{AppID: "backend", Audience: "meet"}
		})
		runFakeRecorders(ns, "rec", 0)
		// A Secret the pool names (the user's, outside the operator's cache), which it checks on
		// every health period.
		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "recordings-s3", Namespace: ns},
			Data: map[string][]byte{"AWS_ACCESS_KEY_ID": []byte("AKIAEXAMPLE"), "AWS_SECRET_ACCESS_KEY": []byte("s3cr3t")}})).To(Succeed())
		newPool(ns, "rec", func(p *jitsiv1alpha1.JibriPool) {
			p.Spec.Recordings.Upload = &jitsiv1alpha1.UploadSpec{S3: &jitsiv1alpha1.S3UploadSpec{Bucket: "recordings",
				CredentialsSecretRef: jitsiv1alpha1.SecretReference{Name: "recordings-s3"}}}
		})
		start := metav1.NewTime(time.Now().Add(time.Hour).Truncate(time.Second))
		end := metav1.NewTime(start.Add(time.Hour))
		for _, name := range []string{"standup", "board-review"} {
			newMeeting(ns, name, func(m *jitsiv1alpha1.Meeting) {
				m.Spec.StartTime, m.Spec.EndTime = &start, &end
				if name == "board-review" {
					m.Spec.Recording = jitsiv1alpha1.MeetingRecordingSpec{Mode: jitsiv1alpha1.RecordingAutomatic,
						JibriPoolRef: &jitsiv1alpha1.LocalObjectReference{Name: "rec"}}
				}
			})
		}
		assignLoadBalancer(ns, "meet-jvb-0", corev1.LoadBalancerIngress{IP: "203.0.113.30"})
		assignLoadBalancer(ns, "meet-jvb-1", corev1.LoadBalancerIngress{IP: "203.0.113.31"})

		By("settling: every status current, the bridges advertised, the recorder idle, access issued")
		Eventually(func(g Gomega) {
			d := &jitsiv1alpha1.JitsiDeployment{}
			g.Expect(k8sClient.Get(ctx, key(ns, "meet"), d)).To(Succeed())
			g.Expect(d.Status.ObservedGeneration).To(Equal(d.Generation))
			expectConditions(g, d.Generation, d.Status.Conditions, map[string]metav1.ConditionStatus{
				jitsiv1alpha1.ConditionReady: metav1.ConditionTrue, jitsiv1alpha1.ConditionProgressing: metav1.ConditionFalse})
			g.Expect(d.Status.MediaEndpoints).To(ConsistOf(HaveField("Address", "203.0.113.30"), HaveField("Address", "203.0.113.31")))
		}, "90s").Should(Succeed())
		Eventually(func(g Gomega) {
			p := &jitsiv1alpha1.JibriPool{}
			g.Expect(k8sClient.Get(ctx, key(ns, "rec"), p)).To(Succeed())
			g.Expect(p.Status).To(And(HaveField("ObservedGeneration", p.Generation), HaveField("DesiredReplicas", int32(1)),
				HaveField("Replicas", int32(1)), HaveField("ReadyReplicas", int32(1)), HaveField("Idle", int32(1)),
				HaveField("Recorders", ConsistOf(HaveField("State", jitsiv1alpha1.RecorderIdle)))))
			expectConditions(g, p.Generation, p.Status.Conditions, map[string]metav1.ConditionStatus{
				jitsiv1alpha1.ConditionReady: metav1.ConditionTrue, jitsiv1alpha1.ConditionRecordersAvailable: metav1.ConditionTrue})
		}, "60s").Should(Succeed())
		for _, name := range []string{"standup", "board-review"} {
			Eventually(func(g Gomega) {
				m := &jitsiv1alpha1.Meeting{}
				g.Expect(k8sClient.Get(ctx, key(ns, name), m)).To(Succeed())
				g.Expect(m.Status).To(And(HaveField("ObservedGeneration", m.Generation),
					HaveField("Phase", jitsiv1alpha1.MeetingScheduled), HaveField("AccessSecretName", name+"-access")))
				expectConditions(g, m.Generation, m.Status.Conditions, map[string]metav1.ConditionStatus{
					jitsiv1alpha1.ConditionReady: metav1.ConditionTrue, jitsiv1alpha1.ConditionAccessIssued: metav1.ConditionTrue})
			}).Should(Succeed())
		}

		By("waiting until the operator has stopped writing in the namespace")
		quiet, lastWrites, lastChange := 5*time.Second, -1, time.Now()
		Eventually(func() time.Duration {
			n := 0
			for _, c := range writes(operatorRequests.snapshot(), ns) {
				n += c
			}
			if n != lastWrites {
				lastWrites, lastChange = n, time.Now()
			}
			return time.Since(lastChange)
		}, "60s", "100ms").Should(BeNumerically(">=", quiet), "the operator kept writing")
		Expect(lastWrites).To(BeNumerically(">", 0), "the operator made the stack")
		reconciledAtRest := reconciles()
		for _, c := range operatorControllers {
			Expect(reconciledAtRest[c]).To(BeNumerically(">", reconciledBefore[c]), "controller %s reconciled the objects", c)
		}

		By("holding 30 s: no write and no read, while the pool is polled every second")
		atRest := operatorRequests.snapshot()
		Consistently(func() string {
			during := since(atRest, operatorRequests.snapshot())
			return listed(writes(during, ns)) + listed(writes(during, ""))
		}, "30s", "250ms").Should(BeEmpty(), func() string {
			// An Event PATCH is a series: an event the operator emitted again (say, twice from
			// one stale cached status), or the events library's delayed retry of one.
			var evs eventsv1.EventList
			_ = k8sClient.List(ctx, &evs, client.InNamespace(ns))
			out := ""
			for _, e := range evs.Items {
				out += fmt.Sprintf("%s %s %s/%s %q series=%v at %v\n", e.Name, e.Reason, e.Regarding.Kind, e.Regarding.Name, e.Note, e.Series, e.EventTime)
			}
			return "writes by the operator at rest; events:\n" + out
		})

		during := since(atRest, operatorRequests.snapshot())
		polls := reconciles()["jibripool"] - reconciledAtRest["jibripool"]
		GinkgoWriter.Printf("the operator's requests in 30 s at rest, %v reconciles of the pool:\n%s", polls, listed(during))
		Expect(polls).To(BeNumerically(">=", 5), "the pool is reconciled every health period (1 s): the operator was awake")
		// Every reconcile reads from the cache: children (apply), the pool's recorder pods, the
		// operator's own Secrets. The API server is asked only what the cache cannot answer: a
		// Secret or Pod of the operator's that the cache lacks (before it exists), a recorder whose
		// create may have failed, a Secret a user names (only once its resourceVersion in the Secret
		// metadata cache moved; this pool names its upload credentials). At rest, none.
		// Other namespaces are earlier specs' (the listing above shows their requests).
		Expect(listed(reads(during, ns))+listed(reads(during, ""))).To(BeEmpty(), "reads by the operator at rest")
	})
})

// expectConditions checks that conditions have each type of want at its status, observed at
// generation.
func expectConditions(g Gomega, generation int64, conditions []metav1.Condition, want map[string]metav1.ConditionStatus) {
	for t, status := range want {
		c := meta.FindStatusCondition(conditions, t)
		g.Expect(c).NotTo(BeNil(), "no %s condition yet", t)
		g.Expect(*c).To(And(HaveField("Status", status), HaveField("ObservedGeneration", generation)), "condition %s: %s", t, c.Message)
	}
}

// reconciles is controller_runtime_reconcile_total by controller, every result.
func reconciles() map[string]float64 {
	families, err := metrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" {
					out[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

// since is the requests counted in now and not yet in before.
func since(before, now map[string]int) map[string]int {
	out := map[string]int{}
	for r, n := range now {
		if d := n - before[r]; d > 0 {
			out[r] = d
		}
	}
	return out
}

// writes are the write requests in namespace ns, or of cluster-scoped resources when ns is "".
func writes(requests map[string]int, ns string) map[string]int {
	out := map[string]int{}
	for r, n := range requests {
		method, path, _ := strings.Cut(r, " ")
		inNamespace := ns != "" && (strings.Contains(path, "/namespaces/"+ns+"/") || strings.HasSuffix(path, "/namespaces/"+ns))
		clusterScoped := ns == "" && !strings.Contains(path, "/namespaces/")
		if slices.Contains([]string{"POST", "PUT", "PATCH", "DELETE"}, method) && (inNamespace || clusterScoped) {
			out[r] = n
		}
	}
	return out
}

// reads are the GET and LIST requests (not watches) in namespace ns, or of cluster-scoped
// resources and discovery when ns is "", by "GET path" or "LIST path".
func reads(requests map[string]int, ns string) map[string]int {
	out := map[string]int{}
	for r, n := range requests {
		method, path, _ := strings.Cut(r, " ")
		inNamespace := ns != "" && (strings.Contains(path, "/namespaces/"+ns+"/") || strings.HasSuffix(path, "/namespaces/"+ns))
		clusterScoped := ns == "" && !strings.Contains(path, "/namespaces/")
		if method == "GET" && (inNamespace || clusterScoped) {
			out[readVerb(path)+" "+path] += n
		}
	}
	return out
}

// readVerb is LIST for a GET of a collection (/api/v1/namespaces/ns/pods, /apis/g/v/nodes),
// else GET (an object, a subresource, discovery).
func readVerb(path string) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	var rest []string
	switch {
	case len(segs) >= 2 && segs[0] == "api":
		rest = segs[2:]
	case len(segs) >= 3 && segs[0] == "apis":
		rest = segs[3:]
	}
	if len(rest) >= 3 && rest[0] == "namespaces" {
		rest = rest[2:]
	}
	if len(rest) == 1 {
		return "LIST"
	}
	return "GET"
}

// listed lists requests one a line, with their counts.
func listed(requests map[string]int) string {
	var b strings.Builder
	for _, r := range slices.Sorted(maps.Keys(requests)) {
		fmt.Fprintf(&b, "  %4d %s\n", requests[r], r)
	}
	return b.String()
}

// Children are read from the cache, which holds only the operator's own Secrets: a user's Secret
// of a child's name must still be found, and refused.
var _ = Describe("Applying children from the cache", func() {
	It("refuses a user's Secret named like a child, which the cache does not hold, and leaves it alone", func() {
		ns := newNamespace()
		mine := map[string][]byte{"note": []byte("the user's")}
		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "retro-access", Namespace: ns}, Data: mine})).To(Succeed())
		newJitsi(ns)
		newMeeting(ns, "retro")

		Eventually(meetingCondition(ns, "retro", jitsiv1alpha1.ConditionAccessIssued)).Should(And(
			HaveField("Status", metav1.ConditionFalse),
			HaveField("Message", ContainSubstring("Secret retro-access exists and is not controlled by retro"))))
		Eventually(eventReasons(ns, "retro")).Should(ContainElement("ChildConflict"))
		Consistently(func(g Gomega) {
			s := &corev1.Secret{}
			g.Expect(k8sClient.Get(ctx, key(ns, "retro-access"), s)).To(Succeed())
			g.Expect(s.Data).To(Equal(mine))
			g.Expect(s.OwnerReferences).To(BeEmpty())
		}, "3s").Should(Succeed())
	})
})
