package controllers_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/jibri/jibritest"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// How sessions end when Jibri does not end them well: a failure (status OFF with a failure
// object), no media (no finalize script, so no report), a start that never completes, a
// finalize that never reports.
var _ = Describe("A pool's sessions", func() {
	// soleRecorder is a pool of exactly one recorder (every session lands on it), its fakes and
	// that recorder.
	soleRecorder := func(finalize time.Duration, mutate ...func(*jitsiv1alpha1.JibriPool)) (string, *jibritest.Pods, *jibritest.Recorder) {
		ns := newNamespace()
		newJitsi(ns)
		fakes := runFakeRecorders(ns, "rec", finalize)
		newPool(ns, "rec", append([]func(*jitsiv1alpha1.JibriPool){func(p *jitsiv1alpha1.JibriPool) {
			p.Spec.MinReplicas, p.Spec.MaxReplicas = ptr(int32(1)), ptr(int32(1))
		}}, mutate...)...)
		Eventually(poolStatus(ns, "rec")).Should(HaveField("Idle", int32(1)))
		var rec *jibritest.Recorder
		Eventually(func() *jibritest.Recorder {
			rec = fakes.Recorder(recorderPods(ns, "rec")(Default)[0].Name)
			return rec
		}).ShouldNot(BeNil())
		return ns, fakes, rec
	}

	It("ends a recording whose start Jibri reports failed as Failed, with Jibri's reason, and frees the recorder", func() {
		ns, _, rec := soleRecorder(0)
		rec.SetFailStart("Failed to join the call")
		recordedMeeting(ns, "alpha", "rec", jitsiv1alpha1.RecordingAutomatic)
		openRoom(ns, "alpha", 1)
		Eventually(recordingOf(ns, "alpha")).Should(And(HaveField("State", jitsiv1alpha1.RecordingStateFailed),
			HaveField("Error", And(ContainSubstring("Failed to join the call"), ContainSubstring(rec.ID)))))
		Eventually(eventReasons(ns, "alpha")).Should(ContainElement("RecordingFailed"))
		Eventually(poolStatus(ns, "rec")).Should(And(HaveField("Idle", int32(1)), HaveField("Busy", int32(0))))
		Consistently(func() int { return len(rec.Sessions()) }, "2s").Should(Equal(1), "a failed recording is not started again")
	})

	It("starts a failing live stream again at most 3 times, then leaves it Failed with the reason and no key shown", func() {
		ns, _, rec := soleRecorder(0)
		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "yt", Namespace: ns},
			Data: map[string][]byte{"key": []byte("yt-SECRET-KEY-42")}})).To(Succeed())
		// ffmpeg's error line quotes the URL it was given, key and all.
		rec.SetFailStart("rtmp://127.0.0.1:1935/live2/yt-SECRET-KEY-42: Input/output error")
		streamedMeeting(ns, "launch", "rec", jitsiv1alpha1.StreamingAutomatic, "youtube")
		openRoom(ns, "launch", 1)
		Eventually(streamingOf(ns, "launch"), "30s").Should(And(HaveField("State", jitsiv1alpha1.StreamingStateFailed),
			HaveField("Restarts", int32(3)), HaveField("Error", ContainSubstring("Input/output error"))))
		Consistently(func() int { return len(rec.Sessions()) }, "2s").Should(Equal(4), "the first start and 3 more")
		Eventually(eventReasons(ns, "launch")).Should(ContainElements("StreamRestarting", "StreamFailed"))
		expectNowhere(ns, "yt-SECRET-KEY-42")
	})

	It("ends a recording that wrote no media as Completed with no files once its recorder is idle", func() {
		ns, _, rec := soleRecorder(0)
		rec.SetNoMedia(true)
		recordedMeeting(ns, "brief", "rec", jitsiv1alpha1.RecordingAutomatic)
		openRoom(ns, "brief", 1)
		Eventually(recordingOf(ns, "brief")).Should(HaveField("State", jitsiv1alpha1.RecordingStateRecording))
		closeRoom(ns, "brief")
		Eventually(recordingOf(ns, "brief"), "20s").Should(And(HaveField("State", jitsiv1alpha1.RecordingStateCompleted),
			HaveField("Files", BeEmpty()), HaveField("Error", "")))
		Eventually(eventReasons(ns, "brief")).Should(ContainElement("RecordingEmpty"))
		Eventually(poolStatus(ns, "rec")).Should(HaveField("Idle", int32(1)))
	})

	It("completes, with its files, a recording whose session id holds a dot that Jibri's directory name turns into '_'", func() {
		ns := newNamespace()
		newJitsi(ns)
		// The stand-in recorders report as Jibri's finalize script does: from the session's
		// directory, signed with the pool's report key, to the URL in the pool's Secret.
		report := func(pod, dir string) {
			defer GinkgoRecover()
			s := &corev1.Secret{}
			Expect(k8sClient.Get(ctx, key(ns, "rec-jibri"), s)).To(Succeed())
			body, err := json.Marshal(map[string]any{"timestamp": time.Now().UnixMilli(), "recorder": pod, "session": dir,
				"room": "q4-review", "meeting_url": "https://meet.example.com/q4-review",
				"files": []map[string]any{{"name": "q4-review.mp4", "url": "s3://rec/" + dir + "/q4-review.mp4", "sizeBytes": 1234}}})
			Expect(err).NotTo(HaveOccurred())
			mac := hmac.New(sha256.New, s.Data[render.KeyRecordingReportKey])
			mac.Write(body)
			req, err := http.NewRequest(http.MethodPost, string(s.Data[render.KeyRecordingURL]), bytes.NewReader(body))
			Expect(err).NotTo(HaveOccurred())
			req.Header.Set("X-Jitsi-Signature", hex.EncodeToString(mac.Sum(nil)))
			resp, err := http.DefaultClient.Do(req)
			Expect(err).NotTo(HaveOccurred())
			resp.Body.Close()
			Expect(resp.StatusCode).To(BeNumerically("<", 300), "the report of %s", dir)
		}
		fakes := jibritest.RunPods(k8sClient, ns, "rec", 300*time.Millisecond, report)
		DeferCleanup(func() { fakes.Stop(); Expect(fakes.Errors()).To(BeEmpty()) })
		newPool(ns, "rec", func(p *jitsiv1alpha1.JibriPool) {
			p.Spec.MinReplicas, p.Spec.MaxReplicas = ptr(int32(1)), ptr(int32(1))
		})
		Eventually(poolStatus(ns, "rec")).Should(HaveField("Idle", int32(1)))
		newMeeting(ns, "q4.review", func(m *jitsiv1alpha1.Meeting) {
			m.Spec.RoomName = "q4-review"
			m.Spec.Recording = jitsiv1alpha1.MeetingRecordingSpec{Mode: jitsiv1alpha1.RecordingAutomatic,
				JibriPoolRef: &jitsiv1alpha1.LocalObjectReference{Name: "rec"}}
		})
		openRoom(ns, "q4.review", 1)
		Eventually(recordingOf(ns, "q4.review")).Should(And(HaveField("State", jitsiv1alpha1.RecordingStateRecording),
			HaveField("SessionID", HavePrefix("q4.review-"))))
		closeRoom(ns, "q4.review")
		Eventually(recordingOf(ns, "q4.review"), "20s").Should(And(HaveField("State", jitsiv1alpha1.RecordingStateCompleted),
			HaveField("SessionID", HavePrefix("q4.review-")), HaveField("Files", ConsistOf(HaveField("Name", "q4-review.mp4")))))
	})

	It("gives up a session a recorder accepted and never started, after the pool's start timeout", func() {
		ns, _, rec := soleRecorder(0, func(p *jitsiv1alpha1.JibriPool) {
			p.Spec.SessionTimeouts.StartSeconds = ptr(int32(10))
		})
		rec.SetStayPending(true)
		recordedMeeting(ns, "stuck", "rec", jitsiv1alpha1.RecordingAutomatic)
		openRoom(ns, "stuck", 1)
		Eventually(recordingOf(ns, "stuck")).Should(And(HaveField("State", jitsiv1alpha1.RecordingStatePending), HaveField("Recorder", rec.ID)))
		// The deadline runs from the assignment on the pod (written just after the Meeting's
		// status), which an operator restart keeps.
		Eventually(func(g Gomega) time.Time {
			pod := &corev1.Pod{}
			g.Expect(k8sClient.Get(ctx, key(ns, rec.ID), pod)).To(Succeed())
			assignedAt, err := time.Parse(time.RFC3339, pod.Annotations["jitsi.operator.dev/jibri-assigned-at"])
			g.Expect(err).NotTo(HaveOccurred())
			return assignedAt
		}).Should(BeTemporally("~", time.Now(), 30*time.Second))
		Consistently(recordingOf(ns, "stuck"), "5s").Should(HaveField("State", jitsiv1alpha1.RecordingStatePending), "not before the timeout")
		Eventually(recordingOf(ns, "stuck"), "20s").Should(And(HaveField("State", jitsiv1alpha1.RecordingStateFailed),
			HaveField("Error", ContainSubstring("had not started it after 10s"))))
		Eventually(rec.Stops).Should(Equal(1), "the session is stopped on the recorder")
	})

	It("ends a recording whose finalize script never reports as Failed after the pool's finalize timeout", func() {
		// The recorder stays busy finalizing longer than the timeout.
		ns, _, _ := soleRecorder(time.Minute, func(p *jitsiv1alpha1.JibriPool) {
			p.Spec.SessionTimeouts.FinalizeSeconds = ptr(int32(10))
		})
		recordedMeeting(ns, "long", "rec", jitsiv1alpha1.RecordingAutomatic)
		openRoom(ns, "long", 1)
		Eventually(recordingOf(ns, "long")).Should(HaveField("State", jitsiv1alpha1.RecordingStateRecording))
		closeRoom(ns, "long")
		Eventually(recordingOf(ns, "long")).Should(HaveField("State", jitsiv1alpha1.RecordingStateFinalizing))
		Eventually(recordingOf(ns, "long"), "25s").Should(And(HaveField("State", jitsiv1alpha1.RecordingStateFailed),
			HaveField("Error", ContainSubstring("did not report within 10s"))))
	})

	It("counts a recording a moderator started from the meeting (through Jicofo) as its recorder's, busy, and leaves it alone", func() {
		ns := newNamespace()
		newJitsi(ns)
		fakes := runFakeRecorders(ns, "rec", 0)
		newPool(ns, "rec")
		Eventually(poolStatus(ns, "rec")).Should(HaveField("Idle", int32(1)))
		name := recorderPods(ns, "rec")(Default)[0].Name
		rec := fakes.Recorder(name)
		Expect(rec).NotTo(BeNil())
		recordedMeeting(ns, "townhall", "rec", jitsiv1alpha1.RecordingManual)
		openRoom(ns, "townhall", 3)

		By("Jicofo starting the recorder, and the receiver recording what Prosody reports")
		rec.StartFromJicofo("jicofo-5e1f")
		patchMeetingStatus(ns, "townhall", map[string]any{"recording": map[string]any{
			"state": "Recording", "sessionID": "jicofo-5e1f", "recorder": name, "startedAt": time.Now().UTC().Format(time.RFC3339)}})
		Eventually(poolStatus(ns, "rec")).Should(HaveField("Busy", int32(1)), "busy for scaling")
		Eventually(recorderPods(ns, "rec")).Should(HaveLen(2), "and a spare comes for the next recording")
		Consistently(recordingOf(ns, "townhall"), "3s").Should(And(HaveField("State", jitsiv1alpha1.RecordingStateRecording),
			HaveField("SessionID", "jicofo-5e1f"), HaveField("Recorder", name)))
		Expect(rec.Stops()).To(BeZero(), "the pool does not stop a session it did not start")
		Expect(fakes.Sessions()).To(BeEmpty(), "nor start one of its own: the meeting's recording is on")

		By("the session ending: the recorder is idle again, and the pool can shrink back")
		rec.StopFromJicofo()
		patchMeetingStatus(ns, "townhall", map[string]any{"recording": map[string]any{"state": "Finalizing",
			"stoppedAt": time.Now().UTC().Format(time.RFC3339)}})
		Eventually(poolStatus(ns, "rec")).Should(HaveField("Busy", int32(0)))
		Expect(fakes.KilledWhileBusy()).To(BeEmpty())
	})
})
