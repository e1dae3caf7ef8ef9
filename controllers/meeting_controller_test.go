package controllers_test

import (
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/meeting"
)

func newMeeting(ns, name string, mutate ...func(*jitsiv1alpha1.Meeting)) *jitsiv1alpha1.Meeting {
	m := &jitsiv1alpha1.Meeting{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       jitsiv1alpha1.MeetingSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"}},
	}
	for _, f := range mutate {
		f(m)
	}
	Expect(k8sClient.Create(ctx, m)).To(Succeed())
	return m
}

func meetingStatus(ns, name string) func(Gomega) jitsiv1alpha1.MeetingStatus {
	return func(g Gomega) jitsiv1alpha1.MeetingStatus {
		m := &jitsiv1alpha1.Meeting{}
		g.Expect(k8sClient.Get(ctx, key(ns, name), m)).To(Succeed())
		return m.Status
	}
}

func meetingCondition(ns, name, t string) func(Gomega) metav1.Condition {
	return func(g Gomega) metav1.Condition {
		c := meta.FindStatusCondition(meetingStatus(ns, name)(g).Conditions, t)
		g.Expect(c).NotTo(BeNil())
		return *c
	}
}

// verify checks a token with the deployment's generated signing secret.
func verify(ns, token string) *meeting.Claims {
	secret := &corev1.Secret{}
	Expect(k8sClient.Get(ctx, key(ns, "meet-generated"), secret)).To(Succeed())
	c := &meeting.Claims{}
	_, err := jwt.ParseWithClaims(token, c, func(*jwt.Token) (any, error) { return secret.Data["JWT_APP_SECRET"], nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithoutClaimsValidation())
	Expect(err).NotTo(HaveOccurred())
	return c
}

// setEndTime moves a Meeting's end, retrying conflicts with the controller.
func setEndTime(ns, name string, end time.Time) {
	GinkgoHelper()
	updateSpec(&jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}, func(m *jitsiv1alpha1.Meeting) {
		m.Spec.EndTime = &metav1.Time{Time: end}
	})
}

// moderatorTokenExpiry reads the expiry of the moderator token in a Meeting's access Secret.
func moderatorTokenExpiry(ns, name string) func(Gomega) time.Time {
	return func(g Gomega) time.Time {
		s := &corev1.Secret{}
		g.Expect(k8sClient.Get(ctx, key(ns, name+"-access"), s)).To(Succeed())
		return verify(ns, string(s.Data["moderatorToken"])).ExpiresAt.Time
	}
}

var _ = Describe("Meeting", func() {
	It("waits for its JitsiDeployment, then issues URLs with tokens Prosody accepts", func() {
		ns := newNamespace()
		start := time.Now().Add(time.Hour).Truncate(time.Second)
		newMeeting(ns, "board-review", func(m *jitsiv1alpha1.Meeting) {
			m.Spec.StartTime = &metav1.Time{Time: start}
			m.Spec.EndTime = &metav1.Time{Time: start.Add(time.Hour)}
			m.Spec.Recording.Mode = jitsiv1alpha1.RecordingManual
			m.Spec.Recording.JibriPoolRef = &jitsiv1alpha1.LocalObjectReference{Name: "recorders"}
			m.Spec.Access = jitsiv1alpha1.AccessPrivate
			m.Spec.Moderators = []jitsiv1alpha1.Person{{ID: "alice", Name: "Alice Example"}}
			m.Spec.Participants = []jitsiv1alpha1.Person{{ID: "bob@example.com", Name: "Bob"}}
		})
		Eventually(meetingCondition(ns, "board-review", "Ready")).Should(And(
			HaveField("Status", metav1.ConditionFalse),
			HaveField("Reason", jitsiv1alpha1.ReasonDeploymentNotFound),
		))

		newJitsi(ns, func(d *jitsiv1alpha1.JitsiDeployment) {
			d.Spec.Auth.JWT = &jitsiv1alpha1.JWTAuthSpec{AppID: "backend", Audience: "meet"}
			d.Spec.JVB.Media.AdvertiseIPs = []string{"198.51.100.1", "198.51.100.2"}
		})
		Eventually(meetingCondition(ns, "board-review", "Ready"), "30s").Should(HaveField("Status", metav1.ConditionTrue))
		st := meetingStatus(ns, "board-review")(Default)
		Expect(st.Phase).To(Equal(jitsiv1alpha1.MeetingScheduled))
		Expect(st.RoomURL).To(Equal("https://meet.example.com/board-review"))
		Expect(st.AccessSecretName).To(Equal("board-review-access"))
		Expect(meta.FindStatusCondition(st.Conditions, "AccessIssued").Status).To(Equal(metav1.ConditionTrue))

		access := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, key(ns, "board-review-access"), access)).To(Succeed())
		Expect(access.OwnerReferences).To(HaveLen(1))
		modURL, err := url.Parse(string(access.Data["moderatorURL"]))
		Expect(err).NotTo(HaveOccurred())
		Expect(modURL.Query().Get("jwt")).To(Equal(string(access.Data["moderatorToken"])))
		mod := verify(ns, string(access.Data["moderatorToken"]))
		Expect(mod.Issuer).To(Equal("backend"))
		Expect(mod.Aud).To(Equal("meet"))
		Expect(mod.Subject).To(Equal("meet.jitsi"))
		Expect(mod.Room).To(Equal("board-review"))
		Expect(mod.ExpiresAt.Time).To(BeTemporally("==", start.Add(time.Hour)))
		Expect(mod.Context.User.Moderator).To(BeTrue())
		Expect(mod.Context.Features).To(HaveKeyWithValue("recording", true))
		Expect(access.Data).NotTo(HaveKey("guestToken"), "a Private meeting admits only its invitees: no shared guest link")
		Expect(access.Data).NotTo(HaveKey("guestURL"))
		Eventually(eventReasons(ns, "board-review")).Should(ContainElement("AccessIssued"))

		By("giving each invitee a token of their own")
		alice := verify(ns, string(access.Data["invite-alice.token"]))
		Expect(alice.Context.User.ID).To(Equal("alice"))
		Expect(alice.Context.User.Moderator).To(BeTrue())
		bob := verify(ns, string(access.Data["invite-bob_example.com.token"]))
		Expect(bob.Context.User.ID).To(Equal("bob@example.com"))
		Expect(bob.Context.User.Moderator).To(BeFalse())
		Expect(bob.Context.Features).To(HaveKeyWithValue("recording", false))
		Expect(string(access.Data["invite-bob_example.com.url"])).To(HaveSuffix("?jwt=" + string(access.Data["invite-bob_example.com.token"])))

		By("re-issuing the tokens when the meeting's times change")
		setEndTime(ns, "board-review", start.Add(2*time.Hour))
		Eventually(moderatorTokenExpiry(ns, "board-review")).Should(BeTemporally("==", start.Add(2*time.Hour)))

		By("never putting a token in the status or events")
		st = meetingStatus(ns, "board-review")(Default)
		Expect(strings.Contains(st.RoomURL, "jwt")).To(BeFalse())
	})

	It("re-signs the tokens when the deployment's JWT secret is rotated", func() {
		ns := newNamespace()
		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "jwt", Namespace: ns},
			Data: map[string][]byte{"key": []byte("first-signing-secret")}})).To(Succeed())
		newJitsi(ns, func(d *jitsiv1alpha1.JitsiDeployment) {
			d.Spec.Auth.JWT = &jitsiv1alpha1.JWTAuthSpec{AppID: "app", SecretRef: &jitsiv1alpha1.SecretKeyReference{Name: "jwt", Key: "key"}}
			d.Spec.JVB.Replicas = ptr(int32(1))
		})
		newMeeting(ns, "retro")
		signedWith := func(signingKey string) func(Gomega) {
			return func(g Gomega) {
				s := &corev1.Secret{}
				g.Expect(k8sClient.Get(ctx, key(ns, "retro-access"), s)).To(Succeed())
				_, err := jwt.ParseWithClaims(string(s.Data["moderatorToken"]), &meeting.Claims{},
					func(*jwt.Token) (any, error) { return []byte(signingKey), nil }, jwt.WithoutClaimsValidation())
				g.Expect(err).NotTo(HaveOccurred())
			}
		}
		Eventually(signedWith("first-signing-secret")).Should(Succeed())
		updateSpec(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "jwt"}}, func(s *corev1.Secret) {
			s.Data["key"] = []byte("second-signing-secret")
		})
		Eventually(signedWith("second-signing-secret")).Should(Succeed())
	})

	It("keeps a streaming Meeting's stream key across re-issues", func() {
		ns := newNamespace()
		newJitsi(ns, func(d *jitsiv1alpha1.JitsiDeployment) { d.Spec.JVB.Replicas = ptr(int32(1)) })
		start := time.Now().Add(time.Hour).Truncate(time.Second)
		newMeeting(ns, "keynote", func(m *jitsiv1alpha1.Meeting) {
			m.Spec.StartTime = &metav1.Time{Time: start}
			m.Spec.EndTime = &metav1.Time{Time: start.Add(time.Hour)}
			m.Spec.Streaming = jitsiv1alpha1.MeetingStreamingSpec{
				Mode: jitsiv1alpha1.StreamingManual, JibriPoolRef: &jitsiv1alpha1.LocalObjectReference{Name: "recorders"},
				Destinations: []jitsiv1alpha1.StreamDestination{{Name: "youtube", URL: "rtmp://a.rtmp.youtube.com/live2",
					StreamKeySecretRef: jitsiv1alpha1.SecretKeyReference{Name: "youtube", Key: "key"}}},
			}
		})
		streamKey := func(g Gomega) string {
			s := &corev1.Secret{}
			g.Expect(k8sClient.Get(ctx, key(ns, "keynote-access"), s)).To(Succeed())
			return string(s.Data["streamKey"])
		}
		Eventually(streamKey).Should(MatchRegexp(`^` + ns + `\.keynote\.[a-z2-7]{32}$`))
		first := streamKey(Default)
		setEndTime(ns, "keynote", start.Add(2*time.Hour))
		Eventually(moderatorTokenExpiry(ns, "keynote")).Should(BeTemporally("==", start.Add(2*time.Hour)))
		Expect(streamKey(Default)).To(Equal(first))
	})

	It("follows the room: in progress once it opens, completed when it closes, expired when nobody came", func() {
		ns := newNamespace()
		newJitsi(ns, func(d *jitsiv1alpha1.JitsiDeployment) {
			d.Spec.Auth.Type = jitsiv1alpha1.AuthAnonymous
			d.Spec.JVB.Replicas = ptr(int32(1))
		})
		now := time.Now().Truncate(time.Second)
		newMeeting(ns, "standup", func(m *jitsiv1alpha1.Meeting) {
			m.Spec.StartTime = &metav1.Time{Time: now.Add(-time.Minute)}
			m.Spec.EndTime = &metav1.Time{Time: now.Add(time.Hour)}
		})
		Eventually(meetingStatus(ns, "standup")).Should(HaveField("Phase", jitsiv1alpha1.MeetingScheduled))
		access := &corev1.Secret{}
		Eventually(func() error { return k8sClient.Get(ctx, key(ns, "standup-access"), access) }).Should(Succeed())
		Expect(string(access.Data["guestURL"])).To(Equal("https://meet.example.com/standup"), "no token without JWT auth")

		By("the room opening")
		// As the receiver writes: read fresh, update, again on a conflict with the controller.
		setStatus := func(change func(*jitsiv1alpha1.MeetingStatus)) {
			updateStatus(&jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "standup"}},
				func(m *jitsiv1alpha1.Meeting) { change(&m.Status) })
		}
		setStatus(func(st *jitsiv1alpha1.MeetingStatus) { st.StartedAt = &metav1.Time{Time: now} })
		Eventually(meetingStatus(ns, "standup")).Should(HaveField("Phase", jitsiv1alpha1.MeetingInProgress))

		By("the room closing")
		setStatus(func(st *jitsiv1alpha1.MeetingStatus) { st.EndedAt = &metav1.Time{Time: now.Add(time.Second)} })
		Eventually(meetingStatus(ns, "standup")).Should(HaveField("Phase", jitsiv1alpha1.MeetingCompleted))
		Eventually(meetingCondition(ns, "standup", "Ready")).Should(HaveField("Reason", jitsiv1alpha1.ReasonEnded))
		Eventually(eventReasons(ns, "standup")).Should(ContainElements("PhaseInProgress", "PhaseCompleted"))

		By("a meeting whose end passes with nobody there")
		// Scheduled is asserted while the end is an hour away, so no wait before it can make it
		// late; only then is the end brought a few seconds close, and Expired must follow it.
		newMeeting(ns, "missed", func(m *jitsiv1alpha1.Meeting) {
			m.Spec.StartTime = &metav1.Time{Time: time.Now().Add(-time.Minute)}
			m.Spec.EndTime = &metav1.Time{Time: time.Now().Add(time.Hour)}
		})
		Eventually(meetingStatus(ns, "missed")).Should(HaveField("Phase", jitsiv1alpha1.MeetingScheduled))
		end := time.Now().Add(3 * time.Second).Truncate(time.Second) // as stored: whole seconds
		setEndTime(ns, "missed", end)
		Eventually(meetingStatus(ns, "missed"), "15s").Should(HaveField("Phase", jitsiv1alpha1.MeetingExpired))
		Expect(time.Now()).To(BeTemporally(">=", end), "expired before its end")
		Eventually(eventReasons(ns, "missed")).Should(ContainElements("PhaseScheduled", "PhaseExpired"))
	})
})
