package webhook_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/destination"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// testDestinations is the receiver's destination policy in these specs: a cluster's pod and
// Service networks, and host names answered from a fixed table, so no lookup leaves the process.
var testDestinations = &destination.Policy{
	ClusterNetworks: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("10.96.0.0/12")},
	Resolver: destination.Hosts{
		"a.rtmp.youtube.com":   {netip.MustParseAddr("198.51.100.10")},
		"live.twitch.example":  {netip.MustParseAddr("198.51.100.20")},
		"internal.example.com": {netip.MustParseAddr("10.96.0.10")},
		"half.example.com":     {netip.MustParseAddr("198.51.100.30"), netip.MustParseAddr("10.244.7.7")},
	},
	Timeout: time.Second,
}

var _ = Describe("Streaming destinations the destination policy refuses", func() {
	// relayPool creates pool "recorders" of ns's deployment, as the relay would find it.
	relayPool := func(ns string) string {
		pool := &jitsiv1alpha1.JibriPool{ObjectMeta: metav1.ObjectMeta{Name: "recorders", Namespace: ns},
			Spec: jitsiv1alpha1.JibriPoolSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"}}}
		Expect(k8sClient.Create(ctx, pool)).To(Succeed())
		cached(&jitsiv1alpha1.JibriPool{ObjectMeta: pool.ObjectMeta}, func() bool { return true })
		return "/v1/rtmp/pools/" + ns + "/recorders/" + render.RelayToken([]byte(eventsSecret), ns, "recorders")
	}
	// answer reads an answer: its status, body, and the reason of a JSON error.
	answer := func(resp *http.Response, err error) (int, string, string) {
		GinkgoHelper()
		Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var problem struct{ Reason string }
		_ = json.Unmarshal(b, &problem)
		return resp.StatusCode, string(b), problem.Reason
	}
	get := func(path string) (int, string, string) { return answer(http.Get(receiver.URL + path)) }
	publish := func(name string) (int, string, string) {
		return answer(http.PostForm(receiver.URL+"/v1/rtmp/publish", url.Values{
			"app": {"live"}, "call": {"publish"}, "addr": {"127.0.0.1"}, "name": {name}, "type": {"live"}}))
	}

	It("are not told to the relay; the others are", func() {
		ns := deploymentWithMeeting("unused")
		base := relayPool(ns)
		keys := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "keys", Namespace: ns}, Data: map[string][]byte{
			"youtube":  []byte("yt-KEY-1"),
			"internal": []byte("in-KEY-2"),
			"metadata": []byte("md-KEY-3"),
			"half":     []byte("hf-KEY-4"),
			// A key that would add a destination line of its own.
			"twitch": []byte("tw-KEY-5\nevil rtmp://10.96.0.1/live/x"),
		}}
		Expect(k8sClient.Create(ctx, keys)).To(Succeed())
		dest := func(name, u string) jitsiv1alpha1.StreamDestination {
			return jitsiv1alpha1.StreamDestination{Name: name, URL: u, StreamKeySecretRef: jitsiv1alpha1.SecretKeyReference{Name: "keys", Key: name}}
		}
		m := &jitsiv1alpha1.Meeting{
			ObjectMeta: metav1.ObjectMeta{Name: "launch", Namespace: ns},
			Spec: jitsiv1alpha1.MeetingSpec{
				JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"},
				StartTime:          &metav1.Time{Time: clock.Add(-time.Hour)},
				EndTime:            &metav1.Time{Time: clock.Add(time.Hour)},
				Streaming: jitsiv1alpha1.MeetingStreamingSpec{
					Mode:         jitsiv1alpha1.StreamingManual,
					JibriPoolRef: &jitsiv1alpha1.LocalObjectReference{Name: "recorders"},
					Destinations: []jitsiv1alpha1.StreamDestination{
						dest("youtube", "rtmp://a.rtmp.youtube.com/live2"),
						dest("internal", "rtmp://internal.example.com/live"),
						dest("metadata", "rtmp://169.254.169.254/latest"),
						dest("half", "rtmps://half.example.com:443/live"),
						dest("twitch", "rtmp://live.twitch.example/app"),
					},
				},
			},
		}
		Expect(k8sClient.Create(ctx, m)).To(Succeed())
		streamKey := ns + ".launch.s3cr3tstreamkey"
		access := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "launch-access", Namespace: ns, Labels: ownSecret},
			Data: map[string][]byte{"streamKey": []byte(streamKey)}}
		Expect(k8sClient.Create(ctx, access)).To(Succeed())
		cached(&jitsiv1alpha1.Meeting{ObjectMeta: m.ObjectMeta}, func() bool { return true })
		cached(&corev1.Secret{ObjectMeta: access.ObjectMeta}, func() bool { return true })

		code, body, _ := get(base + "/destinations?stream=" + url.QueryEscape(streamKey))
		Expect(code).To(Equal(http.StatusOK))
		Expect(body).To(Equal("youtube rtmp://a.rtmp.youtube.com/live2/yt-KEY-1\n"))
	})

	It("refuse a stream started from the meeting, on publish and when the relay asks", func() {
		ns := deploymentWithMeeting("unused")
		base := relayPool(ns)
		uiName := func(typed string) string {
			return render.RelayUIName(render.RelayUIKey([]byte(eventsSecret), ns, "recorders"), ns, "recorders", typed)
		}

		for _, typed := range []string{
			"rtmp://169.254.169.254/latest/typed-KEY",
			"rtmp://internal.example.com/live/typed-KEY",
			"rtmp://[::ffff:127.0.0.1]:1935/live/typed-KEY",
			"rtmp://localhost/live/typed-KEY",
			"rtmp://nowhere.example.com/live/typed-KEY",
		} {
			name := uiName(typed)
			code, body, reason := publish(name)
			Expect(code).To(Equal(http.StatusForbidden), typed)
			Expect(reason).To(Equal("DestinationRefused"), typed)
			Expect(body).NotTo(ContainSubstring("typed-KEY"))

			code, body, reason = get(base + "/destinations?stream=" + url.QueryEscape(name))
			Expect(code).To(Equal(http.StatusForbidden), typed)
			Expect(reason).To(Equal("DestinationRefused"), typed)
			Expect(body).NotTo(ContainSubstring("typed-KEY"))
		}

		By("one the policy accepts")
		typed := "rtmps://live.twitch.example:443/app/typed-KEY"
		code, _, _ := publish(uiName(typed))
		Expect(code).To(Equal(http.StatusOK))
		code, body, _ := get(base + "/destinations?stream=" + url.QueryEscape(uiName(typed)))
		Expect(code).To(Equal(http.StatusOK))
		Expect(body).To(Equal("ui " + typed + "\n"))

		By("a forged name is still an unknown stream, whatever its URL")
		code, _, reason := publish(render.RelayUIName("guessed", ns, "recorders", "rtmp://169.254.169.254/x"))
		Expect(code).To(Equal(http.StatusForbidden))
		Expect(reason).To(Equal("UnknownStream"))
	})
})
