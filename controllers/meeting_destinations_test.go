package controllers_test

import (
	"net/netip"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/destination"
)

// testDestinations is the operator's destination policy in these specs: a cluster's pod and
// Service networks, loopback allowed (the specs' stand-in platforms listen there), and host names
// answered from a fixed table, so no lookup leaves the process.
var testDestinations = &destination.Policy{
	ClusterNetworks: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("10.96.0.0/12")},
	AllowNetworks:   []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	Resolver: destination.Hosts{
		"a.rtmp.youtube.com":   {netip.MustParseAddr("198.51.100.10")},
		"internal.example.com": {netip.MustParseAddr("10.96.0.10")},
	},
	Timeout: time.Second,
}

func destinationTo(name, u string) jitsiv1alpha1.StreamDestination {
	return jitsiv1alpha1.StreamDestination{Name: name, URL: u, StreamKeySecretRef: jitsiv1alpha1.SecretKeyReference{Name: "keys", Key: name}}
}

var _ = Describe("Meeting streaming destinations", func() {
	It("are refused by the API server unless they are one rtmp or rtmps URL", func() {
		ns := newNamespace()
		for u, says := range map[string]string{
			"https://a.rtmp.youtube.com/live2":                     "url must start with rtmp:// or rtmps://",
			"RTMP://a.rtmp.youtube.com/live2":                      "url must start with rtmp:// or rtmps://",
			"rtmp://a.rtmp.youtube.com/live 2":                     "no spaces",
			"rtmp://a.rtmp.youtube.com/live2\nx rtmp://10.0.0.1/y": "no spaces",
			"rtmp://a.rtmp.youtube.com/live2;push rtmp://x/y":      "no spaces, quotes, ';'",
			"rtmp://a.rtmp.youtube.com/{live2}":                    "no spaces, quotes, ';'",
			"rtmp://user:pw@a.rtmp.youtube.com/live2":              "may not carry a user name or password",
		} {
			m := &jitsiv1alpha1.Meeting{
				ObjectMeta: metav1.ObjectMeta{Name: "bad", Namespace: ns},
				Spec: jitsiv1alpha1.MeetingSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"},
					Streaming: jitsiv1alpha1.MeetingStreamingSpec{Mode: jitsiv1alpha1.StreamingManual,
						JibriPoolRef: &jitsiv1alpha1.LocalObjectReference{Name: "recorders"},
						Destinations: []jitsiv1alpha1.StreamDestination{destinationTo("youtube", u)}}},
			}
			err := k8sClient.Create(ctx, m)
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%q: %v", u, err)
			Expect(err.Error()).To(And(ContainSubstring("spec.streaming.destinations[0].url"), ContainSubstring(says)), u)
		}
	})

	It("that the operator's policy refuses are reported in Ready and in an event, until they are fixed", func() {
		ns := newNamespace()
		newJitsi(ns, func(d *jitsiv1alpha1.JitsiDeployment) { d.Spec.JVB.Replicas = ptr(int32(1)) })
		start := time.Now().Add(time.Hour).Truncate(time.Second)
		newMeeting(ns, "launch", func(m *jitsiv1alpha1.Meeting) {
			m.Spec.StartTime = &metav1.Time{Time: start}
			m.Spec.EndTime = &metav1.Time{Time: start.Add(time.Hour)}
			m.Spec.Streaming = jitsiv1alpha1.MeetingStreamingSpec{
				Mode: jitsiv1alpha1.StreamingManual, JibriPoolRef: &jitsiv1alpha1.LocalObjectReference{Name: "recorders"},
				Destinations: []jitsiv1alpha1.StreamDestination{
					destinationTo("youtube", "rtmp://a.rtmp.youtube.com/live2"),
					destinationTo("internal", "rtmp://internal.example.com/live"),
					destinationTo("metadata", "rtmp://169.254.169.254/latest"),
				},
			}
		})
		Eventually(meetingCondition(ns, "launch", jitsiv1alpha1.ConditionReady)).Should(And(
			HaveField("Status", metav1.ConditionFalse),
			HaveField("Reason", jitsiv1alpha1.ReasonDestinationRefused),
			HaveField("Message", And(
				ContainSubstring("people can join at "),
				ContainSubstring("2 streaming destinations are refused"),
				ContainSubstring("internal: the host internal.example.com resolves to 10.96.0.10, which is inside the cluster network 10.96.0.0/12"),
				ContainSubstring("metadata: the address 169.254.169.254 is the cloud metadata endpoint"),
				Not(ContainSubstring("youtube"))))))
		Expect(meetingCondition(ns, "launch", jitsiv1alpha1.ConditionAccessIssued)(Default)).To(HaveField("Status", metav1.ConditionTrue))
		Eventually(eventReasons(ns, "launch")).Should(ContainElement(jitsiv1alpha1.ReasonDestinationRefused))

		By("the destinations fixed")
		updateSpec(&jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "launch"}}, func(m *jitsiv1alpha1.Meeting) {
			m.Spec.Streaming.Destinations = m.Spec.Streaming.Destinations[:1]
		})
		Eventually(meetingCondition(ns, "launch", jitsiv1alpha1.ConditionReady)).Should(And(
			HaveField("Status", metav1.ConditionTrue), HaveField("Reason", jitsiv1alpha1.ReasonIssued)))
	})
})
