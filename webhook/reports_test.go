package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// reportKey is the key pool's recorders sign their finalize reports with.
func reportKey(ns, pool string) string {
	return render.RecordingReportKey([]byte(eventsSecret), ns, pool)
}

// signWith is the hex HMAC-SHA256 of body under key, as the finalize script signs.
func signWith(key string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// postReport posts body as pool's finalize script does, signed with key.
func postReport(ns, pool, key string, body []byte) reply {
	return post("/v1/jibri/recording-complete?pool="+ns+"/"+pool, body, map[string]string{"X-Jitsi-Signature": signWith(key, body)})
}

// recorderPool creates JibriPool pool of deployment "meet" in ns and its recorder Pod named
// recorder, labelled and owned as the JibriPool controller makes them, writing under recordings
// (JIBRI_RECORDING_DIR; empty: the image's default) and carrying annotations. It waits until
// the receiver's cache has both (the receiver reads pools and pods from its cache only).
func recorderPool(ns, pool, recorder, recordings string, annotations map[string]string) *corev1.Pod {
	GinkgoHelper()
	p := &jitsiv1alpha1.JibriPool{}
	err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: pool}, p)
	if err != nil {
		p = &jitsiv1alpha1.JibriPool{
			ObjectMeta: metav1.ObjectMeta{Name: pool, Namespace: ns},
			Spec:       jitsiv1alpha1.JibriPoolSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"}},
		}
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
	}
	var env []corev1.EnvVar
	if recordings != "" {
		env = []corev1.EnvVar{{Name: "JIBRI_RECORDING_DIR", Value: recordings}}
	}
	yes := true
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: recorder, Namespace: ns, Annotations: annotations,
			Labels: render.PoolLabels(&jitsiv1alpha1.JitsiDeployment{ObjectMeta: metav1.ObjectMeta{Name: "meet"}}, p),
			OwnerReferences: []metav1.OwnerReference{{APIVersion: jitsiv1alpha1.GroupVersion.String(), Kind: "JibriPool",
				Name: p.Name, UID: p.UID, Controller: &yes}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: render.ComponentJibri, Image: "ghcr.io/jitsi/jibri:stable-11146-2", Env: env}}},
	}
	Expect(k8sClient.Create(ctx, pod)).To(Succeed())
	cached(&jitsiv1alpha1.JibriPool{ObjectMeta: metav1.ObjectMeta{Name: pool, Namespace: ns}}, func() bool { return true })
	cached(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: recorder, Namespace: ns}}, func() bool { return true })
	return pod
}

// assigned is the annotation the JibriPool controller puts on a recorder it started session of
// meeting on.
func assigned(meeting, session string) map[string]string {
	return map[string]string{render.AnnotationJibriAssignment: meeting + " " + session}
}

// finalizeReport is a report as the finalize script writes it, with one uploaded file.
func finalizeReport(recorder, session, room string, files ...map[string]any) []byte {
	if files == nil {
		files = []map[string]any{{"name": room + "_2026-12-01-09-00-00.mp4", "url": "s3://rec/video/" + room + "/" + session + "/" + room + "_2026-12-01-09-00-00.mp4",
			"sizeBytes": 1234, "sha256": strings.Repeat("ab", 32)}}
	}
	b, err := json.Marshal(map[string]any{"timestamp": clock.UnixMilli(), "recorder": recorder, "session": session, "room": room,
		"meeting_url": "https://meet.example.com/" + room, "files": files})
	Expect(err).NotTo(HaveOccurred())
	return b
}

func meetingVersion(ns, name string) string {
	m := &jitsiv1alpha1.Meeting{}
	Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, m)).To(Succeed())
	return m.ResourceVersion
}

var _ = Describe("Recording reports", func() {
	var ns string
	BeforeEach(func() {
		ns = deploymentWithMeeting("standup")
		Expect(k8sClient.Create(ctx, &jitsiv1alpha1.Meeting{
			ObjectMeta: metav1.ObjectMeta{Name: "board", Namespace: ns},
			Spec:       jitsiv1alpha1.MeetingSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"}},
		})).To(Succeed())
		recorderPool(ns, "recorders", "recorders-0", "", assigned("standup", "standup.x-4f7b8e3c"))
	})

	// refused posts body to pool recorders signed with key, and expects status and reason and
	// that no Meeting changed.
	refused := func(key string, body []byte, status int, reason string) {
		GinkgoHelper()
		before := []string{meetingVersion(ns, "standup"), meetingVersion(ns, "board")}
		r := postReport(ns, "recorders", key, body)
		Expect(r.status).To(Equal(status), "%v", r.body)
		Expect(r.body).To(HaveKeyWithValue("reason", reason))
		Expect([]string{meetingVersion(ns, "standup"), meetingVersion(ns, "board")}).To(Equal(before), "a refused report changes nothing")
	}

	It("apply the session its recorder was given to that Meeting, once", func() {
		// Jibri records session "standup.x-4f7b8e3c" into directory standup_x-4f7b8e3c.
		body := finalizeReport("recorders-0", "standup_x-4f7b8e3c", "standup")
		r := postReport(ns, "recorders", reportKey(ns, "recorders"), body)
		Expect(r.status).To(Equal(http.StatusOK), "%v", r.body)
		Expect(r.body).To(And(HaveKeyWithValue("applied", true), HaveKeyWithValue("meeting", "standup")))
		rec := meetingStatus(ns, "standup").Recording
		Expect(rec).To(And(HaveField("State", jitsiv1alpha1.RecordingStateCompleted), HaveField("SessionID", "standup.x-4f7b8e3c"),
			HaveField("Files", ConsistOf(HaveField("URL", HavePrefix("s3://rec/video/standup/"))))))

		By("the same report again, which is not taken twice")
		version := meetingVersion(ns, "standup")
		again := postReport(ns, "recorders", reportKey(ns, "recorders"), body)
		Expect(again.status).To(Equal(http.StatusOK))
		Expect(again.body).To(HaveKeyWithValue("reason", "AlreadyReceived"))
		Expect(meetingVersion(ns, "standup")).To(Equal(version))
	})

	It("are one Unauthorized answer without the pool's own key", func() {
		body := finalizeReport("recorders-0", "standup_x-4f7b8e3c", "standup")
		before := meetingVersion(ns, "standup")
		for name, r := range map[string]reply{
			"the events secret itself": postReport(ns, "recorders", eventsSecret, body),
			"another pool's key":       postReport(ns, "recorders", reportKey(ns, "other"), body),
			"an unknown pool":          postReport(ns, "nopool", reportKey(ns, "nopool"), body),
			"no pool named": post("/v1/jibri/recording-complete", body,
				map[string]string{"X-Jitsi-Signature": signWith(reportKey(ns, "recorders"), body)}),
			"the old ?deployment= form": post("/v1/jibri/recording-complete?deployment="+ns+"/meet", body,
				map[string]string{"X-Jitsi-Signature": sign(body)}),
			"no signature": post("/v1/jibri/recording-complete?pool="+ns+"/recorders", body, nil),
		} {
			Expect(r.status).To(Equal(http.StatusUnauthorized), name)
			Expect(r.body).To(Equal(unauthorizedBody), name)
		}
		Expect(meetingVersion(ns, "standup")).To(Equal(before))
	})

	It("refuse a recorder of another pool, signed with either pool's key", func() {
		recorderPool(ns, "others", "others-0", "", assigned("standup", "standup.x-4f7b8e3c"))
		body := finalizeReport("others-0", "standup_x-4f7b8e3c", "standup")
		refused(reportKey(ns, "recorders"), body, http.StatusForbidden, "UnknownRecorder")
		before := meetingVersion(ns, "standup")
		r := postReport(ns, "recorders", reportKey(ns, "others"), body)
		Expect(r.status).To(Equal(http.StatusUnauthorized))
		Expect(meetingVersion(ns, "standup")).To(Equal(before))
	})

	It("refuse a pod the pool does not run", func() {
		refused(reportKey(ns, "recorders"), finalizeReport("recorders-9", "standup_x-4f7b8e3c", "standup"), http.StatusForbidden, "UnknownRecorder")
		// Labelled for the pool but not the operator's (so not in its cache either).
		Expect(k8sClient.Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "impostor", Namespace: ns, Labels: map[string]string{render.LabelPool: "recorders"},
				Annotations: assigned("standup", "standup.x-4f7b8e3c")},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "jibri", Image: "ghcr.io/jitsi/jibri:stable-11146-2"}}},
		})).To(Succeed())
		refused(reportKey(ns, "recorders"), finalizeReport("impostor", "standup_x-4f7b8e3c", "standup"), http.StatusForbidden, "UnknownRecorder")
	})

	It("refuse a session the recorder was not given", func() {
		refused(reportKey(ns, "recorders"), finalizeReport("recorders-0", "standup_x-00000000", "standup"), http.StatusForbidden, "SessionNotAssigned")
	})

	It("refuse another Meeting's room", func() {
		refused(reportKey(ns, "recorders"), finalizeReport("recorders-0", "standup_x-4f7b8e3c", "board"), http.StatusForbidden, "RoomNotAssigned")
	})

	It("refuse fields out of bounds", func() {
		key := reportKey(ns, "recorders")
		file := func(change func(map[string]any)) []map[string]any {
			f := map[string]any{"name": "standup.mp4", "path": "/storage/recordings/standup_x-4f7b8e3c/standup.mp4", "sizeBytes": 10}
			change(f)
			return []map[string]any{f}
		}
		report := func(files []map[string]any) []byte {
			return finalizeReport("recorders-0", "standup_x-4f7b8e3c", "standup", files...)
		}
		refused(key, report(file(func(f map[string]any) { f["path"] = "/etc/passwd" })), http.StatusBadRequest, "BadFilePath")
		refused(key, report(file(func(f map[string]any) { f["path"] = "/storage/recordings/../../etc/passwd" })), http.StatusBadRequest, "BadFilePath")
		refused(key, report(file(func(f map[string]any) { f["path"] = "storage/recordings/s/standup.mp4" })), http.StatusBadRequest, "BadFilePath")
		refused(key, report(file(func(f map[string]any) { f["name"] = "../standup.mp4" })), http.StatusBadRequest, "BadFileName")
		refused(key, report(file(func(f map[string]any) { f["name"] = "sub/standup.mp4" })), http.StatusBadRequest, "BadFileName")
		refused(key, report(file(func(f map[string]any) { f["url"] = "https://bucket.example.com/standup.mp4\nX-Injected: 1" })), http.StatusBadRequest, "BadFileURL")
		refused(key, report(file(func(f map[string]any) { f["url"] = "file:///etc/passwd" })), http.StatusBadRequest, "BadFileURL")
		refused(key, report(file(func(f map[string]any) { f["sizeBytes"] = -1 })), http.StatusBadRequest, "BadFileSize")
		refused(key, report(file(func(f map[string]any) { f["sha256"] = "not-a-digest" })), http.StatusBadRequest, "BadFileSHA256")
		var many []map[string]any
		for i := range 51 {
			many = append(many, map[string]any{"name": fmt.Sprintf("part-%03d.mp4", i), "url": fmt.Sprintf("s3://rec/p/%03d.mp4", i), "sizeBytes": 1})
		}
		refused(key, report(many), http.StatusBadRequest, "TooManyFiles")
		refused(key, finalizeReport("recorders-0", "../standup", "standup"), http.StatusBadRequest, "BadSession")
		refused(key, finalizeReport("", "standup_x-4f7b8e3c", "standup"), http.StatusBadRequest, "BadRecorder")
	})

	It("bind a recording started from the meeting to the session Jicofo announced in its room", func() {
		// Jibri reports no session it was given over XMPP: the recorder says BUSY, and the
		// Meeting's status carries Jicofo's session id (from the room's jibri-recording-status).
		recorderPool(ns, "recorders", "recorders-1", "", map[string]string{
			render.AnnotationJibriBusy: "BUSY", render.AnnotationJibriAssignment: "standup an-old-session"})
		m := &jitsiv1alpha1.Meeting{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "board"}, m)).To(Succeed())
		m.Status.Recording = &jitsiv1alpha1.RecordingStatus{State: jitsiv1alpha1.RecordingStateFinalizing,
			SessionID: "7d1e0b52-4c3a-4f8e-9b6d-2a1c0e9f8d7b", Recorder: "a1b2c3d4"}
		// The receiver reads the Meeting from its cache: each step waits until it has the status.
		names := func(recorder string) {
			GinkgoHelper()
			Expect(k8sClient.Status().Update(ctx, m)).To(Succeed())
			seen := &jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Name: "board", Namespace: ns}}
			cached(seen, func() bool { return seen.Status.Recording != nil && seen.Status.Recording.Recorder == recorder })
		}
		names("a1b2c3d4")

		By("refusing that session for another room, and from a recorder the Meeting does not name")
		refused(reportKey(ns, "recorders"), finalizeReport("recorders-1", "7d1e0b52-4c3a-4f8e-9b6d-2a1c0e9f8d7b", "standup"), http.StatusForbidden, "SessionNotAssigned")
		m.Status.Recording.Recorder = "recorders-0"
		names("recorders-0")
		refused(reportKey(ns, "recorders"), finalizeReport("recorders-1", "7d1e0b52-4c3a-4f8e-9b6d-2a1c0e9f8d7b", "board"), http.StatusForbidden, "SessionNotAssigned")

		m.Status.Recording.Recorder = "a1b2c3d4"
		names("a1b2c3d4")
		r := postReport(ns, "recorders", reportKey(ns, "recorders"), finalizeReport("recorders-1", "7d1e0b52-4c3a-4f8e-9b6d-2a1c0e9f8d7b", "board"))
		Expect(r.status).To(Equal(http.StatusOK), "%v", r.body)
		Expect(meetingStatus(ns, "board").Recording).To(And(HaveField("State", jitsiv1alpha1.RecordingStateCompleted),
			HaveField("SessionID", "7d1e0b52-4c3a-4f8e-9b6d-2a1c0e9f8d7b")))
	})
})
