package webhook_test

import (
	"encoding/json"
	"fmt"
	"net/http"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

// A Meeting created a moment before its room's first event is on the API server but not yet in
// the receiver's cache. Each spec creates Meetings and posts to them at once, several times, so
// that some requests surely beat the cache.
var _ = Describe("A Meeting the receiver's cache has not seen yet", func() {
	const rounds = 20

	// fresh creates Meeting name on the API server and returns without waiting for the cache.
	fresh := func(ns, name string, spec jitsiv1alpha1.MeetingSpec) {
		spec.JitsiDeploymentRef = jitsiv1alpha1.LocalObjectReference{Name: "meet"}
		Expect(k8sClient.Create(ctx, &jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: spec})).To(Succeed())
	}
	// deployment is a namespace whose deployment and events Secret the cache already has: only
	// the Meetings are new.
	deployment := func() string {
		ns := deploymentWithMeeting("unused")
		cached(&jitsiv1alpha1.JitsiDeployment{ObjectMeta: metav1.ObjectMeta{Name: "meet", Namespace: ns}}, func() bool { return true })
		cached(&jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Name: "unused", Namespace: ns}}, func() bool { return true })
		return ns
	}

	It("gets its first event stored, not dropped as a room without a Meeting", func() {
		ns := deployment()
		for i := range rounds {
			room := fmt.Sprintf("kickoff-%02d", i)
			fresh(ns, room, jitsiv1alpha1.MeetingSpec{})
			r := postModule(ns, moduleEvent("room-created", room, clock, "", "", false))
			Expect(r.status).To(Equal(http.StatusOK), "%s: %v", room, r.body)
			Expect(r.body).To(And(HaveKeyWithValue("applied", true), HaveKeyWithValue("meeting", room)), room)
			Expect(r.body).To(HaveKeyWithValue("room", HaveKeyWithValue("access", BeEquivalentTo(jitsiv1alpha1.AccessPublic))), room)
			Expect(meetingStatus(ns, room).StartedAt).NotTo(BeNil(), "%s: the event is in the status", room)
		}
	})

	It("admits to a fresh Private Meeting only its invitees", func() {
		ns := deployment()
		ask := func(room, id string) map[string]any {
			b, _ := json.Marshal(map[string]any{"timestamp": clock.UnixMilli(), "room": map[string]any{"name": room},
				"occupant": map[string]any{"jid": id + "@meet.jitsi", "id": id}})
			r := post("/v1/prosody/validate-access?deployment="+ns+"/meet", b, map[string]string{"X-Jitsi-Signature": sign(b)})
			Expect(r.status).To(Equal(http.StatusOK), "%v", r.body)
			return r.body
		}
		for i := range rounds {
			room := fmt.Sprintf("board-%02d", i)
			fresh(ns, room, jitsiv1alpha1.MeetingSpec{Access: jitsiv1alpha1.AccessPrivate,
				Moderators: []jitsiv1alpha1.Person{{ID: "alice"}}})
			Expect(ask(room, "mallory")).To(HaveKeyWithValue("allowed", false), "%s: not invited", room)
			Expect(ask(room, "alice")).To(HaveKeyWithValue("allowed", true), "%s: invited", room)
		}
	})

	It("finds a fresh Meeting by its spec.roomName", func() {
		ns := deployment()
		for i := range rounds {
			name, room := fmt.Sprintf("weekly-%02d", i), fmt.Sprintf("standup-%02d", i)
			fresh(ns, name, jitsiv1alpha1.MeetingSpec{RoomName: room})
			r := postModule(ns, moduleEvent("room-created", room, clock, "", "", false))
			Expect(r.status).To(Equal(http.StatusOK), "%s: %v", room, r.body)
			Expect(r.body).To(And(HaveKeyWithValue("applied", true), HaveKeyWithValue("meeting", name)), room)
		}
	})

	It("does not take a Meeting named after a room for it when the Meeting names another room", func() {
		ns := deployment()
		fresh(ns, "lobby", jitsiv1alpha1.MeetingSpec{RoomName: "elsewhere"})
		r := postModule(ns, moduleEvent("room-created", "lobby", clock, "", "", false))
		Expect(r.status).To(Equal(http.StatusOK), "%v", r.body)
		Expect(r.body).To(HaveKeyWithValue("applied", false))
	})

	It("asks the API server only for the room's Meetings when a room has none", func() {
		ns := deployment()
		for i := range 30 {
			fresh(ns, fmt.Sprintf("other-%02d", i), jitsiv1alpha1.MeetingSpec{})
		}
		cached(&jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Name: "other-29", Namespace: ns}}, func() bool { return true })
		before := len(uncachedLists.in(ns))
		r := postModule(ns, moduleEvent("room-created", "ad-hoc", clock, "", "", false))
		Expect(r.status).To(Equal(http.StatusOK), "%v", r.body)
		Expect(r.body).To(HaveKeyWithValue("applied", false))
		lists := uncachedLists.in(ns)[before:]
		Expect(lists).NotTo(BeEmpty(), "the room was looked up on the API server")
		for _, l := range lists {
			Expect(l.fields).To(ContainSubstring("ad-hoc"), "each List is filtered by the room on the server")
			Expect(l.items).To(BeZero(), "the answer holds none of the namespace's 31 other Meetings")
		}
	})
})
