package webhook_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

func sign(body []byte) string {
	mac := hmac.New(sha256.New, []byte(eventsSecret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// moduleEvent is a body as the operator's Prosody module sends it.
func moduleEvent(kind, room string, at time.Time, jid, nick string, recorder bool) []byte {
	e := map[string]any{
		"id": fmt.Sprintf("%s-%s-%d", kind, jid, at.UnixNano()), "event": kind, "timestamp": at.UnixMilli(),
		"room": map[string]any{"jid": room + "@muc.meet.jitsi", "name": room},
	}
	if jid != "" {
		e["occupant"] = map[string]any{"jid": jid, "nick": nick, "name": nick, "moderator": false, "recorder": recorder}
	}
	b, _ := json.Marshal(e)
	return b
}

type reply struct {
	status int
	body   map[string]any
}

func post(path string, body []byte, header map[string]string) reply {
	req, err := http.NewRequest(http.MethodPost, receiver.URL+path, bytes.NewReader(body))
	Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Content-Type", "application/json")
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

// unauthorizedBody is the one answer to every authentication failure.
var unauthorizedBody = map[string]any{"error": "the request is not authenticated", "reason": "Unauthorized"}

func postModule(ns string, body []byte) reply {
	return post("/v1/prosody/events?deployment="+ns+"/meet", body, map[string]string{"X-Jitsi-Signature": sign(body)})
}

// metric sums the samples of a metric family whose labels include want.
func metric(name string, want map[string]string) float64 {
	families, err := metrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	total := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	samples:
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue samples
				}
			}
			switch {
			case m.GetCounter() != nil:
				total += m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				total += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return total
}

var _ = Describe("The receiver", func() {
	It("applies the module's signed events to the Meeting of the room", func() {
		ns := deploymentWithMeeting("standup")
		for _, b := range [][]byte{
			moduleEvent("room-created", "standup", clock, "", "", false),
			moduleEvent("occupant-joined", "standup", clock.Add(time.Second), "alice@meet.jitsi", "Alice", false),
			moduleEvent("occupant-joined", "standup", clock.Add(2*time.Second), "recorder@hidden.meet.jitsi", "Recorder", true),
		} {
			r := postModule(ns, b)
			Expect(r.status).To(Equal(http.StatusOK), "%v", r.body)
			Expect(r.body).To(HaveKeyWithValue("applied", true))
		}
		st := meetingStatus(ns, "standup")
		Expect(st.ParticipantCount).To(BeEquivalentTo(1))
		Expect(st.Participants).To(ConsistOf(HaveField("Name", "Alice")))
		Expect(st.StartedAt).NotTo(BeNil())
		Expect(st.Recording).To(HaveField("State", jitsiv1alpha1.RecordingStateRecording))

		Expect(metric("jitsi_operator_receiver_events_applied_total", map[string]string{"source": "prosody", "type": "occupant-joined"})).To(BeNumerically(">=", 2))
		Expect(metric("jitsi_operator_receiver_event_to_status_seconds", map[string]string{"source": "prosody"})).To(BeNumerically(">=", 3))

		By("a role change")
		role, _ := json.Marshal(map[string]any{"id": "r1", "event": "role-changed", "timestamp": clock.Add(3 * time.Second).UnixMilli(),
			"room": map[string]any{"name": "standup"}, "occupant": map[string]any{"jid": "alice@meet.jitsi", "moderator": true}})
		Expect(postModule(ns, role).status).To(Equal(http.StatusOK))
		Expect(meetingStatus(ns, "standup").Participants).To(ConsistOf(HaveField("Moderator", true)))

		By("a duplicate delivery, which is not taken again")
		before := meetingStatus(ns, "standup")
		r := postModule(ns, moduleEvent("occupant-joined", "standup", clock.Add(time.Second), "alice@meet.jitsi", "Alice", false))
		Expect(r.status).To(Equal(http.StatusOK))
		Expect(r.body).To(And(HaveKeyWithValue("applied", false), HaveKeyWithValue("reason", "AlreadyReceived")))
		Expect(meetingStatus(ns, "standup")).To(Equal(before))

		By("the same event on the Reflector-style path")
		left := moduleEvent("occupant-left", "standup", clock.Add(4*time.Second), "alice@meet.jitsi", "Alice", false)
		r = post("/v1/jitsi/events?deployment="+ns+"/meet", left, map[string]string{"X-Jitsi-Signature": sign(left)})
		Expect(r.status).To(Equal(http.StatusOK))
		Expect(meetingStatus(ns, "standup").ParticipantCount).To(BeZero())

		By("a room without a Meeting, which is accepted and stored nowhere")
		r = postModule(ns, moduleEvent("room-created", "adhoc", clock, "", "", false))
		Expect(r.status).To(Equal(http.StatusOK))
		Expect(r.body).To(HaveKeyWithValue("applied", false))
	})

	It("refuses what is not signed by the deployment, and changes nothing", func() {
		ns := deploymentWithMeeting("standup")
		body := moduleEvent("occupant-joined", "standup", clock, "mallory@meet.jitsi", "Mallory", false)
		forged := hmac.New(sha256.New, []byte("guessed"))
		forged.Write(body)
		cases := map[string]reply{
			"no signature":     post("/v1/prosody/events?deployment="+ns+"/meet", body, nil),
			"forged signature": post("/v1/prosody/events?deployment="+ns+"/meet", body, map[string]string{"X-Jitsi-Signature": hex.EncodeToString(forged.Sum(nil))}),
			"not hex":          post("/v1/prosody/events?deployment="+ns+"/meet", body, map[string]string{"X-Jitsi-Signature": "zz"}),
			"other deployment": post("/v1/prosody/events?deployment="+ns+"/other", body, map[string]string{"X-Jitsi-Signature": sign(body)}),
			"no deployment":    post("/v1/prosody/events", body, map[string]string{"X-Jitsi-Signature": sign(body)}),
			"stale":            postModule(ns, moduleEvent("occupant-joined", "standup", clock.Add(-time.Hour), "mallory@meet.jitsi", "Mallory", false)),
		}
		for name, r := range cases {
			Expect(r.status).To(Equal(http.StatusUnauthorized), name)
			Expect(r.body).To(Equal(unauthorizedBody), name)
		}
		Expect(metric("jitsi_operator_receiver_rejected_total", map[string]string{"source": "prosody", "reason": "BadSignature"})).To(BeNumerically(">=", 1))
		Expect(metric("jitsi_operator_receiver_rejected_total", map[string]string{"source": "prosody", "reason": "NoSignature"})).To(BeNumerically(">=", 2))
		Expect(metric("jitsi_operator_receiver_rejected_total", map[string]string{"source": "prosody", "reason": "StaleEvent"})).To(BeNumerically(">=", 1))
		tampered := bytes.Replace(body, []byte("Mallory"), []byte("Mallorx"), 1)
		Expect(post("/v1/prosody/events?deployment="+ns+"/meet", tampered, map[string]string{"X-Jitsi-Signature": sign(body)}).status).To(Equal(http.StatusUnauthorized))
		Expect(meetingStatus(ns, "standup").Participants).To(BeEmpty())

		By("bad bodies get a 4xx with a reason")
		junk := []byte(`{"event": "occupant-joined", "timestamp": 1`)
		Expect(postModule(ns, junk).status).To(Equal(http.StatusBadRequest))
		huge := bytes.Repeat([]byte("x"), 2<<20)
		r := post("/v1/prosody/events?deployment="+ns+"/meet", huge, map[string]string{"X-Jitsi-Signature": sign(huge)})
		Expect(r.status).To(Equal(http.StatusRequestEntityTooLarge))
	})

	It("takes event_sync's real payloads with its Bearer header", func() {
		ns := deploymentWithMeeting("standup-7f3a")
		bearer := map[string]string{"Authorization": "Bearer " + eventsSecret}
		for _, c := range []struct{ file, path string }{
			{"event_sync-room-created.json", "room/created"},
			{"event_sync-occupant-joined.json", "occupant/joined"},
			{"event_sync-occupant-joined-jibri-recorder.json", "occupant/joined"},
			{"event_sync-occupant-left.json", "occupant/left"},
			{"event_sync-room-destroyed.json", "room/destroyed"},
		} {
			body, err := os.ReadFile(filepath.Join("testdata", "event_sync", c.file))
			Expect(err).NotTo(HaveOccurred())
			r := post("/v1/event-sync/"+ns+"/meet/events/"+c.path, body, bearer)
			Expect(r.status).To(Equal(http.StatusOK), "%s: %v", c.file, r.body)
		}
		st := meetingStatus(ns, "standup-7f3a")
		Expect(st.StartedAt).NotTo(BeNil())
		Expect(st.EndedAt).NotTo(BeNil())
		Expect(st.ParticipantCount).To(BeZero())
		Expect(st.Participants).NotTo(BeEmpty())
		Expect(st.Recording).NotTo(BeNil())

		body, _ := os.ReadFile(filepath.Join("testdata", "event_sync", "event_sync-room-created.json"))
		Expect(post("/v1/event-sync/"+ns+"/meet/events/room/created", body, map[string]string{"Authorization": "Bearer wrong"}).status).To(Equal(http.StatusUnauthorized))
		Expect(post("/v1/event-sync/"+ns+"/meet/events/room/created", body, nil).status).To(Equal(http.StatusUnauthorized))
	})

	It("ends in the exact status after 1,000 events sent at once, shuffled, with duplicates", func() {
		ns := deploymentWithMeeting("town-hall")
		rng := rand.New(rand.NewSource(7))
		var bodies [][]byte
		// Within the replay window: an older signed event is refused.
		bodies = append(bodies, moduleEvent("room-created", "town-hall", clock.Add(-4*time.Minute), "", "", false))
		for i := 0; i < 200; i++ {
			jid := fmt.Sprintf("p%03d@meet.jitsi", i)
			in := clock.Add(-4*time.Minute + time.Duration(1+rng.Intn(100))*time.Second)
			bodies = append(bodies, moduleEvent("occupant-joined", "town-hall", in, jid, fmt.Sprintf("P%03d", i), false))
			if i%4 != 0 { // three quarters leave again
				bodies = append(bodies, moduleEvent("occupant-left", "town-hall", in.Add(time.Duration(1+rng.Intn(100))*time.Second), jid, fmt.Sprintf("P%03d", i), false))
			}
		}
		for len(bodies) < 1000 {
			bodies = append(bodies, bodies[rng.Intn(len(bodies))])
		}
		rng.Shuffle(len(bodies), func(i, j int) { bodies[i], bodies[j] = bodies[j], bodies[i] })

		var wg sync.WaitGroup
		work := make(chan []byte)
		failures := make(chan string, len(bodies))
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func() {
				defer GinkgoRecover()
				defer wg.Done()
				for b := range work {
					if r := postModule(ns, b); r.status != http.StatusOK {
						failures <- fmt.Sprintf("%d %v", r.status, r.body)
					}
				}
			}()
		}
		for _, b := range bodies {
			work <- b
		}
		close(work)
		wg.Wait()
		close(failures)
		var failed []string
		for f := range failures {
			failed = append(failed, f)
		}
		Expect(failed).To(BeEmpty(), strings.Join(failed, "\n"))

		st := meetingStatus(ns, "town-hall")
		Expect(st.Participants).To(HaveLen(200))
		Expect(st.ParticipantCount).To(BeEquivalentTo(50))
		present := 0
		for _, p := range st.Participants {
			if p.LeftAt == nil {
				present++
				n, err := strconv.Atoi(strings.TrimPrefix(p.ID, "p")[:3])
				Expect(err).NotTo(HaveOccurred())
				Expect(n%4).To(BeZero(), "only those who never left are present, not %s", p.ID)
			}
		}
		Expect(present).To(Equal(50))
	})
})

var _ = Describe("The finalize script", func() {
	It("reports a finished recording's files, which the Meeting's status then lists", func() {
		ns := deploymentWithMeeting("standup-7f3a")
		recordings := filepath.Join(GinkgoT().TempDir(), "recordings")
		recorderPool(ns, "recorders", "recorders-0", recordings, assigned("standup-7f3a", "0b6f3c1e-2a9d-4f7b-8e3c-5d4a1b2c3d4e"))
		dir := filepath.Join(recordings, "0b6f3c1e-2a9d-4f7b-8e3c-5d4a1b2c3d4e")
		Expect(os.MkdirAll(dir, 0o755)).To(Succeed())
		media := bytes.Repeat([]byte("not really an mp4 "), 1000)
		Expect(os.WriteFile(filepath.Join(dir, "standup-7f3a_2026-12-01-09-00-00.mp4"), media, 0o644)).To(Succeed())
		metadata, err := os.ReadFile(filepath.Join("testdata", "jibri-metadata.json"))
		Expect(err).NotTo(HaveOccurred())
		Expect(os.WriteFile(filepath.Join(dir, "metadata.json"), metadata, 0o644)).To(Succeed())

		script := filepath.Join(GinkgoT().TempDir(), "finalize.sh")
		Expect(os.WriteFile(script, []byte(render.FinalizeRecordingScript), 0o755)).To(Succeed())
		// The script dates its report with date +%s; the receiver's clock is the suite's.
		bin := GinkgoT().TempDir()
		Expect(os.WriteFile(filepath.Join(bin, "date"), []byte(fmt.Sprintf("#!/bin/sh\necho %d\n", clock.Unix())), 0o755)).To(Succeed())
		run := func(key string) (string, error) {
			cmd := exec.Command("sh", script, dir)
			cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
				"JITSI_OPERATOR_RECORDING_URL="+receiver.URL+"/v1/jibri/recording-complete?pool="+ns+"/recorders",
				"JITSI_OPERATOR_REPORT_KEY="+key, "JIBRI_INSTANCE_ID=recorders-0")
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		out, err := run(reportKey(ns, "recorders"))
		Expect(err).NotTo(HaveOccurred(), out)

		r := meetingStatus(ns, "standup-7f3a").Recording
		Expect(r).NotTo(BeNil())
		Expect(r.State).To(Equal(jitsiv1alpha1.RecordingStateCompleted))
		Expect(r.SessionID).To(Equal("0b6f3c1e-2a9d-4f7b-8e3c-5d4a1b2c3d4e"))
		sum := sha256.Sum256(media)
		Expect(r.Files).To(ContainElement(And(
			HaveField("Name", "standup-7f3a_2026-12-01-09-00-00.mp4"),
			HaveField("Path", filepath.Join(dir, "standup-7f3a_2026-12-01-09-00-00.mp4")),
			HaveField("SizeBytes", int64(len(media))),
			HaveField("SHA256", hex.EncodeToString(sum[:])),
		)))

		By("a script with another pool's key, which is refused and not retried")
		out, err = run(reportKey(ns, "other"))
		Expect(err).To(HaveOccurred())
		Expect(out).To(ContainSubstring("refused"))
		Expect(out).To(ContainSubstring("401"))
	})
})

var _ = Describe("A failed upload", func() {
	It("fails the Meeting's recording with the reason, and lists the local copies", func() {
		ns := deploymentWithMeeting("standup")
		recorderPool(ns, "recorders", "recorders-0", "", assigned("standup", "s-1"))
		body, _ := json.Marshal(map[string]any{"timestamp": clock.UnixMilli(), "recorder": "recorders-0", "session": "s-1", "room": "standup",
			"meeting_url": "https://meet.example.com/standup", "error": "access denied: check the credentials in Secret recordings-s3",
			"files": []map[string]any{{"name": "standup.mp4", "path": "/storage/recordings/s-1/standup.mp4", "sizeBytes": 10}}})
		r := postReport(ns, "recorders", reportKey(ns, "recorders"), body)
		Expect(r.status).To(Equal(http.StatusOK))
		rec := meetingStatus(ns, "standup").Recording
		Expect(rec).To(And(HaveField("State", jitsiv1alpha1.RecordingStateFailed), HaveField("Error", ContainSubstring("access denied")),
			HaveField("Files", ConsistOf(HaveField("Path", "/storage/recordings/s-1/standup.mp4")))))
	})
})

var _ = Describe("Access checks", func() {
	It("admit by the Meeting's state and access", func() {
		ns := deploymentWithMeeting("open")
		now := clock
		for _, m := range []*jitsiv1alpha1.Meeting{
			{ObjectMeta: metav1.ObjectMeta{Name: "ended", Namespace: ns}, Spec: jitsiv1alpha1.MeetingSpec{
				JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"},
				StartTime:          &metav1.Time{Time: now.Add(-2 * time.Hour)}, EndTime: &metav1.Time{Time: now.Add(-time.Hour)}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "board", Namespace: ns}, Spec: jitsiv1alpha1.MeetingSpec{
				JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"}, Access: jitsiv1alpha1.AccessPrivate,
				Moderators: []jitsiv1alpha1.Person{{ID: "alice"}}}},
		} {
			Expect(k8sClient.Create(ctx, m)).To(Succeed())
		}
		ask := func(room, id string, recorder bool) map[string]any {
			b, _ := json.Marshal(map[string]any{"timestamp": now.UnixMilli(), "room": map[string]any{"name": room},
				"occupant": map[string]any{"jid": "x@meet.jitsi", "id": id, "recorder": recorder}})
			r := post("/v1/prosody/validate-access?deployment="+ns+"/meet", b, map[string]string{"X-Jitsi-Signature": sign(b)})
			Expect(r.status).To(Equal(http.StatusOK), "%v", r.body)
			return r.body
		}
		Expect(ask("adhoc", "", false)).To(HaveKeyWithValue("allowed", true))
		Expect(ask("open", "", false)).To(HaveKeyWithValue("allowed", true))
		Expect(ask("ended", "", false)).To(And(HaveKeyWithValue("allowed", false), HaveKeyWithValue("reason", "the meeting has ended")))
		Expect(ask("ended", "", true)).To(HaveKeyWithValue("allowed", true), "the recorder still finishes")
		Expect(ask("board", "", false)).To(HaveKeyWithValue("allowed", false))
		Expect(ask("board", "mallory", false)).To(HaveKeyWithValue("allowed", false))
		Expect(ask("board", "alice", false)).To(HaveKeyWithValue("allowed", true))
		Expect(ask("board", "board-guest", false)).To(HaveKeyWithValue("allowed", false), "a Private meeting has no guest token, and its id admits nobody")
		Expect(ask("board", "board-moderator", false)).To(HaveKeyWithValue("allowed", true), "the meeting's own moderator token")

		b, _ := json.Marshal(map[string]any{"timestamp": now.UnixMilli(), "room": map[string]any{"name": "board"}})
		Expect(post("/v1/prosody/validate-access?deployment="+ns+"/meet", b, nil).status).To(Equal(http.StatusUnauthorized))
	})
})

var _ = Describe("The RTMP relay's callbacks", func() {
	form := func(path, name string) int {
		resp, err := http.PostForm(receiver.URL+path, url.Values{
			"app": {"live"}, "call": {"publish"}, "addr": {"127.0.0.1"}, "name": {name}, "type": {"live"},
		})
		Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		return resp.StatusCode
	}
	streaming := func(ns, name string, end time.Time) string {
		m := &jitsiv1alpha1.Meeting{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: jitsiv1alpha1.MeetingSpec{
				JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"},
				StartTime:          &metav1.Time{Time: end.Add(-2 * time.Hour)},
				EndTime:            &metav1.Time{Time: end},
				Streaming: jitsiv1alpha1.MeetingStreamingSpec{
					Mode:         jitsiv1alpha1.StreamingManual,
					JibriPoolRef: &jitsiv1alpha1.LocalObjectReference{Name: "recorders"},
					Destinations: []jitsiv1alpha1.StreamDestination{{Name: "youtube", URL: "rtmp://a.rtmp.youtube.com/live2",
						StreamKeySecretRef: jitsiv1alpha1.SecretKeyReference{Name: "youtube", Key: "key"}}},
				},
			},
		}
		Expect(k8sClient.Create(ctx, m)).To(Succeed())
		key := ns + "." + name + ".s3cr3tstreamkey"
		// As the Meeting controller keeps it.
		access := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name + "-access", Namespace: ns, Labels: ownSecret},
			Data: map[string][]byte{"streamKey": []byte(key)}}
		Expect(k8sClient.Create(ctx, access)).To(Succeed())
		// A relay publishes only once the operator has started the stream, which it does from
		// its own cache: by then the receiver's cache holds the Meeting and its access Secret.
		cached(&jitsiv1alpha1.Meeting{ObjectMeta: m.ObjectMeta}, func() bool { return true })
		cached(&corev1.Secret{ObjectMeta: access.ObjectMeta}, func() bool { return true })
		return key
	}

	It("admit only a live Meeting's stream key, and follow the stream", func() {
		ns := deploymentWithMeeting("unused")
		key := streaming(ns, "keynote", clock.Add(time.Hour))
		Expect(form("/v1/rtmp/publish", key)).To(Equal(http.StatusOK))
		Expect(meetingStatus(ns, "keynote").Streaming).To(HaveField("State", jitsiv1alpha1.StreamingStateLive))

		Expect(form("/v1/rtmp/publish", ns+".keynote.guessed")).To(Equal(http.StatusForbidden))
		Expect(form("/v1/rtmp/publish", "keynote")).To(Equal(http.StatusForbidden))
		Expect(form("/v1/rtmp/publish", ns+".nosuchmeeting.s3cr3tstreamkey")).To(Equal(http.StatusForbidden))

		Expect(form("/v1/rtmp/publish-done", key)).To(Equal(http.StatusOK))
		st := meetingStatus(ns, "keynote").Streaming
		Expect(st.State).To(Equal(jitsiv1alpha1.StreamingStateStopped))
		Expect(st.StoppedAt).NotTo(BeNil())

		By("a meeting that has ended")
		old := streaming(ns, "yesterday", clock.Add(-time.Hour))
		Expect(form("/v1/rtmp/publish", old)).To(Equal(http.StatusForbidden))
		Expect(meetingStatus(ns, "yesterday").Streaming).To(BeNil())
	})

	It("tell the pool's relay where to push a stream, and take each destination's state", func() {
		ns := deploymentWithMeeting("unused")
		key := streaming(ns, "keynote", clock.Add(time.Hour))
		youtube := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "youtube", Namespace: ns},
			Data: map[string][]byte{"key": []byte("yt-KEY-123")}}
		Expect(k8sClient.Create(ctx, youtube)).To(Succeed())
		pool := &jitsiv1alpha1.JibriPool{ObjectMeta: metav1.ObjectMeta{Name: "recorders", Namespace: ns},
			Spec: jitsiv1alpha1.JibriPoolSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"}}}
		Expect(k8sClient.Create(ctx, pool)).To(Succeed())
		// The relay runs only once the operator has reconciled the pool from its cache, so the
		// receiver's cache has the pool by the time the relay asks.
		cached(&jitsiv1alpha1.JibriPool{ObjectMeta: pool.ObjectMeta}, func() bool { return true })
		// A user's Secret: not in the operator's cache, read by name.
		base := "/v1/rtmp/pools/" + ns + "/recorders/" + render.RelayToken([]byte(eventsSecret), ns, "recorders")
		get := func(path string) (int, string) {
			resp, err := http.Get(receiver.URL + path)
			Expect(err).NotTo(HaveOccurred())
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		code, body := get(base + "/destinations?stream=" + url.QueryEscape(key))
		Expect(fmt.Sprint(code, " ", body)).To(Equal("200 youtube rtmp://a.rtmp.youtube.com/live2/yt-KEY-123\n"))

		code, _ = get("/v1/rtmp/pools/" + ns + "/recorders/wrongtoken/destinations?stream=" + url.QueryEscape(key))
		Expect(code).To(Equal(http.StatusUnauthorized))
		code, _ = get(base + "/destinations?stream=" + url.QueryEscape(ns+".keynote.guessed"))
		Expect(code).To(Equal(http.StatusForbidden))

		status := func(fields url.Values) int {
			resp, err := http.PostForm(receiver.URL+base+"/destination-status", fields)
			Expect(err).NotTo(HaveOccurred())
			resp.Body.Close()
			return resp.StatusCode
		}
		Expect(status(url.Values{"stream": {key}, "destination": {"youtube"}, "state": {"Live"}})).To(Equal(http.StatusOK))
		Expect(meetingStatus(ns, "keynote").Streaming.Destinations).To(ConsistOf(
			jitsiv1alpha1.DestinationStatus{Name: "youtube", State: jitsiv1alpha1.StreamingStateLive}))
		Expect(status(url.Values{"stream": {key}, "destination": {"youtube"}, "state": {"Failed"},
			"error": {"rtmp://a.rtmp.youtube.com/live2/yt-KEY-123: Connection refused"}})).To(Equal(http.StatusOK))
		d := meetingStatus(ns, "keynote").Streaming.Destinations[0]
		Expect(d.State).To(Equal(jitsiv1alpha1.StreamingStateFailed))
		Expect(d.Error).To(And(ContainSubstring("Connection refused"), Not(ContainSubstring("yt-KEY-123"))))

		Expect(status(url.Values{"stream": {key}, "destination": {"twitch"}, "state": {"Live"}})).To(Equal(http.StatusBadRequest))
		Expect(status(url.Values{"stream": {key}, "destination": {"youtube"}, "state": {"Sideways"}})).To(Equal(http.StatusBadRequest))

		By("a stream started from the meeting, which the recorder's ffmpeg sent to the relay")
		typed := "rtmp://a.rtmp.youtube.com/live2/typed-in-the-meeting"
		ui := render.RelayUIName(render.RelayUIKey([]byte(eventsSecret), ns, "recorders"), ns, "recorders", typed)
		Expect(form("/v1/rtmp/publish", ui)).To(Equal(http.StatusOK))
		code, body = get(base + "/destinations?stream=" + url.QueryEscape(ui))
		Expect(code).To(Equal(http.StatusOK))
		Expect(body).To(Equal("ui " + typed + "\n"))
		Expect(status(url.Values{"stream": {ui}, "destination": {"ui"}, "state": {"Live"}})).To(Equal(http.StatusOK))
		forged := render.RelayUIName("guessed", ns, "recorders", typed)
		Expect(form("/v1/rtmp/publish", forged)).To(Equal(http.StatusForbidden))
		code, _ = get(base + "/destinations?stream=" + url.QueryEscape(forged))
		Expect(code).To(Equal(http.StatusForbidden))
		otherPool := render.RelayUIName(render.RelayUIKey([]byte(eventsSecret), ns, "other"), ns, "other", typed)
		Expect(form("/v1/rtmp/publish", otherPool)).To(Equal(http.StatusForbidden), "no such pool")
	})
})

var _ = Describe("meeting-service-style modules (mod_jitsi_webhooks)", func() {
	It("take their camelCase events with X-Webhook-Secret", func() {
		ns := deploymentWithMeeting("standup")
		// The header names no deployment: the secret does, so it must be this deployment's own.
		own := "own-secret-of-" + ns
		s := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "meet-generated"}, s)).To(Succeed())
		s.Data["WEBHOOK_SECRET"] = []byte(own)
		Expect(k8sClient.Update(ctx, s)).To(Succeed())
		// Found by its secret, so from the cache only (deploymentBySecret says why): a sender
		// learns a new secret from its pod's mount, well after the cache.
		cached(s, func() bool { return string(s.Data["WEBHOOK_SECRET"]) == own })
		cached(&jitsiv1alpha1.JitsiDeployment{ObjectMeta: metav1.ObjectMeta{Name: "meet", Namespace: ns}}, func() bool { return true })
		hook := func(event string, body map[string]any, secret string) reply {
			body["timestamp"] = clock.Unix()
			b, _ := json.Marshal(body)
			return post("/webhooks/jitsi/"+event, b, map[string]string{"X-Webhook-Secret": secret})
		}
		Expect(hook("room-created", map[string]any{"roomName": "standup"}, own).status).To(Equal(http.StatusOK))
		Expect(hook("user-joined", map[string]any{"roomName": "standup", "userId": "alice", "userJid": "alice@meet.jitsi", "isModerator": false}, own).status).To(Equal(http.StatusOK))
		Expect(hook("moderator-changed", map[string]any{"roomName": "standup", "userId": "alice", "isModerator": true}, own).status).To(Equal(http.StatusOK))
		Expect(hook("recording", map[string]any{"roomName": "standup", "status": "on", "sessionId": "s-1"}, own).status).To(Equal(http.StatusOK))
		st := meetingStatus(ns, "standup")
		Expect(st.Participants).To(ConsistOf(And(HaveField("ID", "alice@meet.jitsi"), HaveField("Moderator", true))))
		Expect(st.Recording).To(And(HaveField("State", jitsiv1alpha1.RecordingStateRecording), HaveField("SessionID", "s-1")))

		r := hook("validate-access", map[string]any{"roomName": "standup", "userId": "bob", "userJid": "bob@meet.jitsi"}, own)
		Expect(r.status).To(Equal(http.StatusOK))
		Expect(r.body).To(HaveKeyWithValue("allowed", true))

		Expect(hook("user-left", map[string]any{"roomName": "standup", "userJid": "alice@meet.jitsi"}, "wrong").status).To(Equal(http.StatusUnauthorized))
		deploymentWithMeeting("standup")
		deploymentWithMeeting("standup") // two deployments with the same events secret
		// Not told to the sender (it must not learn which secrets are valid), counted for the operator.
		Expect(hook("user-left", map[string]any{"roomName": "standup", "userJid": "alice@meet.jitsi"}, eventsSecret).body).To(Equal(unauthorizedBody))
		Expect(metric("jitsi_operator_receiver_rejected_total", map[string]string{"source": "jitsi_webhooks", "reason": "AmbiguousSecret"})).To(BeNumerically(">=", 1))
		Expect(hook("user-left", map[string]any{"roomName": "standup", "userJid": "alice@meet.jitsi"}, "").status).To(Equal(http.StatusUnauthorized))
		Expect(meetingStatus(ns, "standup").ParticipantCount).To(BeEquivalentTo(1))
		Expect(hook("user-left", map[string]any{"roomName": "standup", "userJid": "alice@meet.jitsi"}, own).status).To(Equal(http.StatusOK))
		Expect(meetingStatus(ns, "standup").ParticipantCount).To(BeZero())
	})
})

var _ = Describe("Jibri's webhooks", func() {
	It("keep each recorder's state on its Pod, for its pool only", func() {
		ns := deploymentWithMeeting("unused")
		Expect(k8sClient.Create(ctx, &jitsiv1alpha1.JibriPool{
			ObjectMeta: metav1.ObjectMeta{Name: "pool-a", Namespace: ns},
			Spec:       jitsiv1alpha1.JibriPoolSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"}},
		})).To(Succeed())
		pod := func(name, pool string) {
			// Labelled as the JibriPool controller labels its recorders (and the operator's Pod
			// cache selects them).
			labels := render.PoolLabels(&jitsiv1alpha1.JitsiDeployment{ObjectMeta: metav1.ObjectMeta{Name: "meet"}},
				&jitsiv1alpha1.JibriPool{ObjectMeta: metav1.ObjectMeta{Name: pool}})
			Expect(k8sClient.Create(ctx, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "jibri", Image: "ghcr.io/jitsi/jibri:stable-11146-2"}}},
			})).To(Succeed())
		}
		pod("jibri-pool-a-0", "pool-a")
		pod("stranger", "pool-b")
		// The receiver finds pools and recorders in its cache only: this spec is about the
		// webhooks, not about the cache's lag.
		cached(&jitsiv1alpha1.JibriPool{ObjectMeta: metav1.ObjectMeta{Name: "pool-a", Namespace: ns}}, func() bool { return true })
		cached(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "jibri-pool-a-0", Namespace: ns}}, func() bool { return true })
		cached(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "stranger", Namespace: ns}}, func() bool { return true })
		base := "/v1/jibri/pools/" + ns + "/pool-a/" + render.JibriWebhookToken([]byte(eventsSecret), ns, "pool-a")
		vector := func(name string) []byte {
			b, err := os.ReadFile(filepath.Join("testdata", name))
			Expect(err).NotTo(HaveOccurred())
			return b
		}
		annotations := func() map[string]string {
			p := &corev1.Pod{}
			Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "jibri-pool-a-0"}, p)).To(Succeed())
			return p.Annotations
		}

		Expect(post(base+"/v1/status", vector("jibri-webhook-status-busy.json"), nil).status).To(Equal(http.StatusOK))
		Expect(annotations()).To(And(HaveKeyWithValue("jitsi.operator.dev/jibri-busy-status", "BUSY"),
			HaveKeyWithValue("jitsi.operator.dev/jibri-health", "HEALTHY")))
		Expect(post(base+"/v1/session/status", vector("jibri-webhook-session-status-on.json"), nil).status).To(Equal(http.StatusOK))
		Expect(annotations()).To(HaveKeyWithValue("jitsi.operator.dev/jibri-session", "3f2c9a4e-8d1b-4c7e-a5f0-6b2d9e1c4a77 ON"))
		Expect(post(base+"/v1/status", vector("jibri-webhook-status-idle.json"), nil).status).To(Equal(http.StatusOK))
		Expect(annotations()).To(HaveKeyWithValue("jitsi.operator.dev/jibri-busy-status", "IDLE"))
		Expect(post(base+"/v1/status", vector("jibri-webhook-status-unhealthy.json"), nil).status).To(Equal(http.StatusOK))
		Expect(annotations()).To(HaveKeyWithValue("jitsi.operator.dev/jibri-health", "UNHEALTHY"))

		By("refusing a wrong token, another pool's recorder and unknown pools")
		wrong := "/v1/jibri/pools/" + ns + "/pool-a/" + strings.Repeat("0", 40) + "/v1/status"
		Expect(post(wrong, vector("jibri-webhook-status-busy.json"), nil).status).To(Equal(http.StatusUnauthorized))
		stranger := []byte(`{"jibriId": "stranger", "status": {"busyStatus": "BUSY", "health": {"healthStatus": "HEALTHY"}}}`)
		Expect(post(base+"/v1/status", stranger, nil).status).To(Equal(http.StatusForbidden))
		Expect(post("/v1/jibri/pools/"+ns+"/nopool/x/v1/status", stranger, nil).status).To(Equal(http.StatusUnauthorized))
		Expect(k8sClient.Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "impostor", Namespace: ns, Labels: map[string]string{render.LabelPool: "pool-a"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "jibri", Image: "ghcr.io/jitsi/jibri:stable-11146-2"}}},
		})).To(Succeed())
		impostor := []byte(`{"jibriId": "impostor", "status": {"busyStatus": "BUSY", "health": {"healthStatus": "HEALTHY"}}}`)
		Expect(post(base+"/v1/status", impostor, nil).status).To(Equal(http.StatusForbidden), "a pod the operator does not run")
		Expect(annotations()).To(HaveKeyWithValue("jitsi.operator.dev/jibri-health", "UNHEALTHY"))
	})
})
