package webhook_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
	"github.com/jitsi-operator/jitsi-operator/webhook"
)

// postChunked posts body without a Content-Length (chunked), as a sender that does not declare
// its size.
func postChunked(path string, body []byte, header map[string]string) reply {
	req, err := http.NewRequest(http.MethodPost, receiver.URL+path, io.MultiReader(bytes.NewReader(body)))
	Expect(err).NotTo(HaveOccurred())
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode}
	Expect(json.Unmarshal(raw, &r.body)).To(Succeed(), "answers are JSON: %s", raw)
	return r
}

// versions are the resourceVersions of every Meeting and recorder Pod of ns.
func versions(ns string) map[string]string {
	GinkgoHelper()
	out := map[string]string{}
	var ms jitsiv1alpha1.MeetingList
	Expect(k8sClient.List(ctx, &ms, client.InNamespace(ns))).To(Succeed())
	for _, m := range ms.Items {
		out["meeting/"+m.Name] = m.ResourceVersion
	}
	var pods corev1.PodList
	Expect(k8sClient.List(ctx, &pods, client.InNamespace(ns))).To(Succeed())
	for _, p := range pods.Items {
		out["pod/"+p.Name] = p.ResourceVersion
	}
	return out
}

func syncBody(v map[string]any) []byte {
	b, _ := json.Marshal(v)
	return b
}

var _ = Describe("Bad input", func() {
	It("is refused with the answer its case deserves, and changes nothing", func() {
		ns := deploymentWithMeeting("standup")
		Expect(k8sClient.Create(ctx, &jitsiv1alpha1.JibriPool{
			ObjectMeta: metav1.ObjectMeta{Name: "pool-a", Namespace: ns},
			Spec:       jitsiv1alpha1.JibriPoolSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"}},
		})).To(Succeed())
		cached(&jitsiv1alpha1.JibriPool{ObjectMeta: metav1.ObjectMeta{Name: "pool-a", Namespace: ns}}, func() bool { return true })
		cached(&jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Name: "standup", Namespace: ns}}, func() bool { return true })

		joined := moduleEvent("occupant-joined", "standup", clock, "mallory@meet.jitsi", "Mallory", false)
		future := moduleEvent("occupant-joined", "standup", clock.Add(10*time.Minute), "mallory@meet.jitsi", "Mallory", false)
		stale := moduleEvent("occupant-joined", "standup", clock.Add(-6*time.Minute), "mallory@meet.jitsi", "Mallory", false)
		syncJoin := syncBody(map[string]any{"event_name": "muc-occupant-joined", "room_name": "standup",
			"occupant": map[string]any{"occupant_jid": "mallory@meet.jitsi/x", "joined_at": clock.Unix(), "name": "Mallory"}})
		jibriStatus := []byte(`{"jibriId": "jibri-pool-a-0", "status": {"busyStatus": "BUSY", "health": {"healthStatus": "HEALTHY"}}}`)
		poolToken := render.JibriWebhookToken([]byte(eventsSecret), ns, "pool-a")
		relayToken := render.RelayToken([]byte(eventsSecret), ns, "pool-a")
		huge := bytes.Repeat([]byte(" "), webhook.LimitRoomDestroyed+1)
		signedHeader := func(b []byte) map[string]string { return map[string]string{"X-Jitsi-Signature": sign(b)} }
		bearer := map[string]string{"Authorization": "Bearer " + eventsSecret}

		type tc struct {
			name   string
			send   func() reply
			status int
			reason string
		}
		cases := []tc{
			// Authentication: one answer, whatever failed and whatever exists.
			{"module: no signature", func() reply { return post("/v1/prosody/events?deployment="+ns+"/meet", joined, nil) }, 401, "Unauthorized"},
			{"module: forged signature", func() reply {
				return post("/v1/prosody/events?deployment="+ns+"/meet", joined, map[string]string{"X-Jitsi-Signature": strings.Repeat("ab", 32)})
			}, 401, "Unauthorized"},
			{"module: unknown deployment", func() reply { return post("/v1/prosody/events?deployment="+ns+"/nope", joined, signedHeader(joined)) }, 401, "Unauthorized"},
			{"module: unknown namespace", func() reply { return post("/v1/prosody/events?deployment=nope/meet", joined, signedHeader(joined)) }, 401, "Unauthorized"},
			{"module: stale", func() reply { return postModule(ns, stale) }, 401, "Unauthorized"},
			{"module: from the future", func() reply { return postModule(ns, future) }, 401, "Unauthorized"},
			{"access: unsigned", func() reply { return post("/v1/prosody/validate-access?deployment="+ns+"/meet", joined, nil) }, 401, "Unauthorized"},
			{"event_sync: wrong token", func() reply {
				return post("/v1/event-sync/"+ns+"/meet/events/occupant/joined", syncJoin, map[string]string{"Authorization": "Bearer wrong"})
			}, 401, "Unauthorized"},
			{"event_sync: no token", func() reply { return post("/v1/event-sync/"+ns+"/meet/events/occupant/joined", syncJoin, nil) }, 401, "Unauthorized"},
			{"event_sync: unknown deployment", func() reply { return post("/v1/event-sync/"+ns+"/nope/events/occupant/joined", syncJoin, bearer) }, 401, "Unauthorized"},
			{"webhooks: wrong secret", func() reply {
				return post("/webhooks/jitsi/user-joined", syncJoin, map[string]string{"X-Webhook-Secret": "wrong"})
			}, 401, "Unauthorized"},
			{"webhooks: no secret", func() reply { return post("/webhooks/jitsi/user-joined", syncJoin, nil) }, 401, "Unauthorized"},
			{"jibri: wrong token", func() reply {
				return post("/v1/jibri/pools/"+ns+"/pool-a/"+strings.Repeat("0", 40)+"/v1/status", jibriStatus, nil)
			}, 401, "Unauthorized"},
			{"jibri: unknown pool", func() reply { return post("/v1/jibri/pools/"+ns+"/nope/"+poolToken+"/v1/status", jibriStatus, nil) }, 401, "Unauthorized"},
			{"relay: wrong token", func() reply {
				return post("/v1/rtmp/pools/"+ns+"/pool-a/"+strings.Repeat("0", 40)+"/destination-status", []byte("stream=x"), nil)
			}, 401, "Unauthorized"},
			{"relay: unknown pool", func() reply {
				return post("/v1/rtmp/pools/"+ns+"/nope/"+relayToken+"/destination-status", []byte("stream=x"), nil)
			}, 401, "Unauthorized"},

			// Sizes: refused before they are read when declared, cut at the limit when not.
			{"module: declared too large", func() reply {
				return post("/v1/prosody/events?deployment="+ns+"/meet", huge[:webhook.LimitModuleEvent+1], nil)
			}, 413, "BodyTooLarge"},
			{"event_sync: declared too large", func() reply { return post("/v1/event-sync/"+ns+"/meet/events/room/destroyed", huge, bearer) }, 413, "BodyTooLarge"},
			{"event_sync: undeclared too large", func() reply { return postChunked("/v1/event-sync/"+ns+"/meet/events/room/destroyed", huge, bearer) }, 413, "BodyTooLarge"},
			{"event_sync: undeclared too large, unauthenticated", func() reply {
				return postChunked("/v1/event-sync/"+ns+"/meet/events/room/destroyed", huge, map[string]string{"Authorization": "Bearer wrong"})
			}, 401, "Unauthorized"},
			{"jibri: declared too large", func() reply {
				return post("/v1/jibri/pools/"+ns+"/pool-a/"+poolToken+"/v1/status", huge[:webhook.LimitSmall+1], nil)
			}, 413, "BodyTooLarge"},

			// Malformed bodies from authenticated senders.
			{"event_sync: not JSON", func() reply {
				return post("/v1/event-sync/"+ns+"/meet/events/occupant/joined", []byte(`{"room_name":`), bearer)
			}, 400, "BadJSON"},
			{"module: unknown event", func() reply {
				b, _ := json.Marshal(map[string]any{"id": "x1", "event": "room-exploded", "timestamp": clock.UnixMilli(), "room": map[string]any{"name": "standup"}})
				return postModule(ns, b)
			}, 400, "UnknownEvent"},
			{"module: no room", func() reply {
				b, _ := json.Marshal(map[string]any{"id": "x2", "event": "room-created", "timestamp": clock.UnixMilli(), "room": map[string]any{"name": ""}})
				return postModule(ns, b)
			}, 400, "MissingRoom"},

			// A tenant's room is not the Meeting's.
			{"module: a tenant's room", func() reply {
				return postModule(ns, moduleEvent("occupant-joined", "[acme]standup", clock, "mallory@meet.jitsi", "Mallory", false))
			}, 200, "a tenant's room: no Meeting names a tenant"},
			{"event_sync: a tenant's room", func() reply {
				b := syncBody(map[string]any{"event_name": "muc-occupant-joined", "room_name": "[acme]standup",
					"occupant": map[string]any{"occupant_jid": "mallory@meet.jitsi/x", "joined_at": clock.Unix(), "name": "Mallory"}})
				return post("/v1/event-sync/"+ns+"/meet/events/occupant/joined", b, bearer)
			}, 200, "a tenant's room: no Meeting names a tenant"},
		}
		before := versions(ns)
		for _, c := range cases {
			r := c.send()
			Expect(r.status).To(Equal(c.status), "%s: %v", c.name, r.body)
			Expect(r.body).To(HaveKeyWithValue("reason", c.reason), c.name)
			if c.status == http.StatusUnauthorized {
				Expect(r.body).To(Equal(unauthorizedBody), c.name)
			}
		}
		Expect(versions(ns)).To(Equal(before), "no object changed")
		Expect(meetingStatus(ns, "standup").Participants).To(BeEmpty())
	})

	It("takes a signed body once, and clamps times to the Meeting's life", func() {
		ns := deploymentWithMeeting("standup")
		cached(&jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Name: "standup", Namespace: ns}}, func() bool { return true })
		created := moduleEvent("room-created", "standup", clock, "", "", false)
		Expect(postModule(ns, created).body).To(HaveKeyWithValue("applied", true))
		before := versions(ns)
		again := postModule(ns, created)
		Expect(again.status).To(Equal(http.StatusOK))
		Expect(again.body).To(And(HaveKeyWithValue("applied", false), HaveKeyWithValue("reason", "AlreadyReceived"),
			HaveKey("room")), "a retry whose answer was lost still learns the room's settings")
		Expect(versions(ns)).To(Equal(before))

		By("an event_sync occupant who claims to have joined two days before the Meeting existed")
		m := &jitsiv1alpha1.Meeting{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "standup"}, m)).To(Succeed())
		b := syncBody(map[string]any{"event_name": "muc-occupant-joined", "room_name": "standup",
			"occupant": map[string]any{"occupant_jid": "early@meet.jitsi/x", "joined_at": m.CreationTimestamp.Add(-48 * time.Hour).Unix(), "name": "Early"}})
		Expect(post("/v1/event-sync/"+ns+"/meet/events/occupant/joined", b, map[string]string{"Authorization": "Bearer " + eventsSecret}).status).To(Equal(http.StatusOK))
		b = syncBody(map[string]any{"event_name": "muc-occupant-joined", "room_name": "standup",
			"occupant": map[string]any{"occupant_jid": "late@meet.jitsi/x", "joined_at": clock.Add(48 * time.Hour).Unix(), "name": "Late"}})
		Expect(post("/v1/event-sync/"+ns+"/meet/events/occupant/joined", b, map[string]string{"Authorization": "Bearer " + eventsSecret}).status).To(Equal(http.StatusOK))
		st := meetingStatus(ns, "standup")
		Expect(st.Participants).To(HaveLen(2))
		for _, p := range st.Participants {
			Expect(p.JoinedAt.Time).To(BeTemporally(">=", m.CreationTimestamp.Add(-webhook.ReplayWindow)), p.ID)
			Expect(p.JoinedAt.Time).To(BeTemporally("<=", clock.Add(webhook.MaxClockAhead)), p.ID)
		}
	})

	It("gives a room two Meetings claim the access of the most restrictive, and its events to the oldest", func() {
		ns := deploymentWithMeeting("unused")
		open := &jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Name: "open", Namespace: ns}, Spec: jitsiv1alpha1.MeetingSpec{
			JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"}, RoomName: "board"}}
		Expect(k8sClient.Create(ctx, open)).To(Succeed())
		cached(open, func() bool { return true })
		private := &jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Name: "private", Namespace: ns}, Spec: jitsiv1alpha1.MeetingSpec{
			JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"}, RoomName: "board", Access: jitsiv1alpha1.AccessPrivate,
			Participants: []jitsiv1alpha1.Person{{ID: "alice"}}}}
		Expect(k8sClient.Create(ctx, private)).To(Succeed())
		cached(private, func() bool { return true })
		ask := func(id string) map[string]any {
			b, _ := json.Marshal(map[string]any{"timestamp": clock.UnixMilli(), "room": map[string]any{"name": "board"},
				"occupant": map[string]any{"jid": "x@meet.jitsi", "id": id}})
			r := post("/v1/prosody/validate-access?deployment="+ns+"/meet", b, map[string]string{"X-Jitsi-Signature": sign(b)})
			Expect(r.status).To(Equal(http.StatusOK), "%v", r.body)
			return r.body
		}
		Expect(ask("")).To(And(HaveKeyWithValue("allowed", false), HaveKeyWithValue("room", HaveKeyWithValue("access", "Private"))),
			"the public one alone would admit anyone")
		Expect(ask("open-guest")).To(HaveKeyWithValue("allowed", false))
		Expect(ask("alice")).To(HaveKeyWithValue("allowed", true), "invited to the private one, and the public one admits anyone")

		r := postModule(ns, moduleEvent("room-created", "board", clock, "", "", false))
		Expect(r.body).To(HaveKeyWithValue("meeting", "open"), "the oldest claimant receives the room's events")
		Expect(meetingStatus(ns, "private").StartedAt).To(BeNil())
	})
})
