package controllers_test

import (
	"encoding/json"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/jibri/jibritest"
	"github.com/jitsi-operator/jitsi-operator/internal/meeting"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

func newPool(ns, name string, mutate ...func(*jitsiv1alpha1.JibriPool)) *jitsiv1alpha1.JibriPool {
	p := &jitsiv1alpha1.JibriPool{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: jitsiv1alpha1.JibriPoolSpec{
			JitsiDeploymentRef:    jitsiv1alpha1.LocalObjectReference{Name: "meet"},
			MinReplicas:           ptr(int32(1)),
			MaxReplicas:           ptr(int32(2)),
			MinIdle:               ptr(int32(1)),
			ScaleDownDelaySeconds: ptr(int32(1)),
			Audio:                 jitsiv1alpha1.AudioPulseAudio,
		},
	}
	for _, m := range mutate {
		m(p)
	}
	Expect(k8sClient.Create(ctx, p)).To(Succeed())
	return p
}

func poolStatus(ns, name string) func(Gomega) jitsiv1alpha1.JibriPoolStatus {
	return func(g Gomega) jitsiv1alpha1.JibriPoolStatus {
		p := &jitsiv1alpha1.JibriPool{}
		g.Expect(k8sClient.Get(ctx, key(ns, name), p)).To(Succeed())
		return p.Status
	}
}

func poolCondition(ns, name, t string) func(Gomega) metav1.Condition {
	return func(g Gomega) metav1.Condition {
		c := meta.FindStatusCondition(poolStatus(ns, name)(g).Conditions, t)
		g.Expect(c).NotTo(BeNil())
		return *c
	}
}

// recorderPods are the live pods of a pool.
func recorderPods(ns, pool string) func(Gomega) []corev1.Pod {
	return func(g Gomega) []corev1.Pod {
		var pods corev1.PodList
		g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{render.LabelPool: pool})).To(Succeed())
		var live []corev1.Pod
		for _, p := range pods.Items {
			if p.DeletionTimestamp.IsZero() {
				live = append(live, p)
			}
		}
		return live
	}
}

func recordedMeeting(ns, name, pool string, mode jitsiv1alpha1.RecordingMode) *jitsiv1alpha1.Meeting {
	return newMeeting(ns, name, func(m *jitsiv1alpha1.Meeting) {
		m.Spec.Recording = jitsiv1alpha1.MeetingRecordingSpec{Mode: mode, JibriPoolRef: &jitsiv1alpha1.LocalObjectReference{Name: pool}}
	})
}

// patchMeetingStatus changes a Meeting's status as the receiver does when Prosody reports.
func patchMeetingStatus(ns, name string, status map[string]any) {
	body, err := json.Marshal(map[string]any{"status": status})
	Expect(err).NotTo(HaveOccurred())
	m := &jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	Expect(k8sClient.Status().Patch(ctx, m, client.RawPatch(types.MergePatchType, body))).To(Succeed())
}

func openRoom(ns, name string, people int) {
	patchMeetingStatus(ns, name, map[string]any{"startedAt": time.Now().UTC().Format(time.RFC3339),
		"participantCount": people, "peakParticipants": people})
}

func closeRoom(ns, name string) {
	patchMeetingStatus(ns, name, map[string]any{"endedAt": time.Now().UTC().Add(time.Second).Format(time.RFC3339), "participantCount": 0})
}

func recordingOf(ns, name string) func(Gomega) jitsiv1alpha1.RecordingStatus {
	return func(g Gomega) jitsiv1alpha1.RecordingStatus {
		r := meetingStatus(ns, name)(g).Recording
		g.Expect(r).NotTo(BeNil())
		return *r
	}
}

var _ = Describe("JibriPool controller", func() {
	It("keeps minIdle recorders as pods of the pool, wired to the receiver, and reports them", func() {
		ns := newNamespace()
		newJitsi(ns)
		fakes := runFakeRecorders(ns, "rec", 0)
		pool := newPool(ns, "rec")

		Eventually(recorderPods(ns, "rec")).Should(HaveLen(1))
		p := recorderPods(ns, "rec")(Default)[0]
		Expect(p.Name).To(HavePrefix("rec-"))
		Expect(metav1.GetControllerOf(&p).UID).To(Equal(pool.UID))

		secret := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, key(ns, "rec-jibri"), secret)).To(Succeed())
		hook := string(secret.Data[render.KeyWebhookSubscribers])
		Expect(hook).To(HavePrefix(receiver.URL + "/v1/jibri/pools/" + ns + "/rec/"))
		Expect(string(secret.Data[render.KeyRecordingURL])).To(Equal(receiver.URL + "/v1/jibri/recording-complete?pool=" + ns + "/rec"))
		Expect(secret.Data).To(HaveKey("JITSI_OPERATOR_REPORT_KEY"), "the recorders' own report key")
		Expect(secret.Data).NotTo(HaveKey(render.KeyWebhookSecret), "never the deployment's events secret")

		// The fake recorder's startup status reaches the receiver, which notes it on the pod.
		Eventually(func(g Gomega) string {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(&p), &p)).To(Succeed())
			return p.Annotations[render.AnnotationJibriBusy]
		}).Should(Equal("IDLE"))
		Eventually(poolStatus(ns, "rec")).Should(And(
			HaveField("Replicas", int32(1)), HaveField("Idle", int32(1)), HaveField("Busy", int32(0)),
			HaveField("DesiredReplicas", int32(1)), HaveField("Recorders", ConsistOf(HaveField("State", jitsiv1alpha1.RecorderIdle)))))
		Eventually(poolCondition(ns, "rec", jitsiv1alpha1.ConditionReady)).Should(HaveField("Status", metav1.ConditionTrue))
		Eventually(poolCondition(ns, "rec", jitsiv1alpha1.ConditionRecordersAvailable)).Should(HaveField("Status", metav1.ConditionTrue))
		Expect(fakes.Recorder(p.Name).WebhookErrors()).To(BeEmpty())

		// At rest the pool writes nothing: the Secret and the status keep their versions while
		// the recorder is polled every second.
		Expect(k8sClient.Get(ctx, key(ns, "rec-jibri"), secret)).To(Succeed())
		pool = &jitsiv1alpha1.JibriPool{}
		Expect(k8sClient.Get(ctx, key(ns, "rec"), pool)).To(Succeed())
		versions := []string{secret.ResourceVersion, pool.ResourceVersion}
		Consistently(func(g Gomega) []string {
			g.Expect(k8sClient.Get(ctx, key(ns, "rec-jibri"), secret)).To(Succeed())
			g.Expect(k8sClient.Get(ctx, key(ns, "rec"), pool)).To(Succeed())
			return []string{secret.ResourceVersion, pool.ResourceVersion}
		}, "3s").Should(Equal(versions))
	})

	It("records meetings in progress, queues the rest, stops at the end and shrinks without killing a recording", func() {
		ns := newNamespace()
		newJitsi(ns)
		fakes := runFakeRecorders(ns, "rec", 300*time.Millisecond)
		newPool(ns, "rec")
		Eventually(poolStatus(ns, "rec")).Should(HaveField("Idle", int32(1)))

		// A meeting goes in progress: the idle recorder takes it, and the pool adds a spare.
		recordedMeeting(ns, "alpha", "rec", jitsiv1alpha1.RecordingAutomatic)
		openRoom(ns, "alpha", 1)
		Eventually(fakes.Recording).WithArguments("alpha").ShouldNot(BeEmpty())
		first := fakes.Recording("alpha")
		Eventually(recordingOf(ns, "alpha")).Should(And(
			HaveField("State", jitsiv1alpha1.RecordingStateRecording), HaveField("Recorder", first),
			HaveField("SessionID", HavePrefix("alpha-")), HaveField("StartedAt", Not(BeNil()))))
		Eventually(recorderPods(ns, "rec")).Should(HaveLen(2))
		Eventually(eventReasons(ns, "rec")).Should(ContainElement("ScaledUp"))

		// Second-participant recording starts when the second person is in.
		recordedMeeting(ns, "beta", "rec", jitsiv1alpha1.RecordingAutomaticOnSecondParticipant)
		openRoom(ns, "beta", 1)
		Consistently(fakes.Recording, "1s").WithArguments("beta").Should(BeEmpty())
		patchMeetingStatus(ns, "beta", map[string]any{"participantCount": 2, "peakParticipants": 2})
		Eventually(fakes.Recording).WithArguments("beta").ShouldNot(BeEmpty())
		Eventually(recordingOf(ns, "beta")).Should(HaveField("State", jitsiv1alpha1.RecordingStateRecording))

		// Both recorders busy at maxReplicas: the third meeting waits in the queue.
		recordedMeeting(ns, "gamma", "rec", jitsiv1alpha1.RecordingAutomatic)
		openRoom(ns, "gamma", 1)
		Eventually(recordingOf(ns, "gamma")).Should(And(HaveField("State", jitsiv1alpha1.RecordingStatePending), HaveField("Recorder", "")))
		Eventually(poolStatus(ns, "rec")).Should(And(HaveField("QueueDepth", int32(1)), HaveField("Busy", int32(2)), HaveField("DesiredReplicas", int32(2))))
		Eventually(poolCondition(ns, "rec", jitsiv1alpha1.ConditionRecordersAvailable)).Should(And(
			HaveField("Status", metav1.ConditionFalse), HaveField("Reason", jitsiv1alpha1.ReasonAtMaxReplicas)))
		Expect(recorderPods(ns, "rec")(Default)).To(HaveLen(2))

		// Alpha ends: its recording is stopped, finalized, and the freed recorder takes gamma.
		closeRoom(ns, "alpha")
		Eventually(func() int { return fakes.Recorder(first).Stops() }).Should(Equal(1))
		Eventually(fakes.Recording).WithArguments("gamma").Should(Equal(first))
		Eventually(recordingOf(ns, "gamma")).Should(HaveField("State", jitsiv1alpha1.RecordingStateRecording))
		Eventually(poolStatus(ns, "rec")).Should(HaveField("QueueDepth", int32(0)))
		Eventually(eventReasons(ns, "alpha")).Should(ContainElements("RecordingStarting", "RecordingStopping"))

		// Everything ends: the pool goes back to minReplicas after the delay, removing idle
		// recorders only.
		closeRoom(ns, "beta")
		closeRoom(ns, "gamma")
		Eventually(recorderPods(ns, "rec")).Should(HaveLen(1))
		Eventually(poolStatus(ns, "rec")).Should(And(HaveField("Busy", int32(0)), HaveField("Idle", int32(1)), HaveField("DesiredReplicas", int32(1))))
		Eventually(eventReasons(ns, "rec")).Should(ContainElement("ScaledDown"))
		Expect(fakes.KilledWhileBusy()).To(BeEmpty())
		Expect(fakes.Sessions()).NotTo(ContainElement(HavePrefix("alpha/stream")))
	})

	It("records a Manual meeting while a backend asks, through the recording annotation", func() {
		ns := newNamespace()
		newJitsi(ns)
		fakes := runFakeRecorders(ns, "rec", 0)
		newPool(ns, "rec")
		recordedMeeting(ns, "manual", "rec", jitsiv1alpha1.RecordingManual)
		openRoom(ns, "manual", 3)
		Eventually(poolStatus(ns, "rec")).Should(HaveField("Idle", int32(1)))
		Consistently(fakes.Recording, "1s").WithArguments("manual").Should(BeEmpty())

		setAnnotation(ns, "manual", "on")
		Eventually(fakes.Recording).WithArguments("manual").ShouldNot(BeEmpty())
		rec := fakes.Recording("manual")
		Eventually(recordingOf(ns, "manual")).Should(HaveField("State", jitsiv1alpha1.RecordingStateRecording))
		setAnnotation(ns, "manual", "off")
		Eventually(func() int { return fakes.Recorder(rec).Stops() }).Should(Equal(1))
		Eventually(recordingOf(ns, "manual")).Should(HaveField("State", jitsiv1alpha1.RecordingStateFinalizing))
	})

	It("replaces a recorder that reports UNHEALTHY", func() {
		ns, fakes, sick := idlePool()
		fakes.Recorder(sick).SetUnhealthy()
		Eventually(func(g Gomega) []string {
			var names []string
			for _, p := range recorderPods(ns, "rec")(g) {
				names = append(names, p.Name)
			}
			return names
		}).Should(And(HaveLen(1), Not(ContainElement(sick))))
		Eventually(eventReasons(ns, "rec")).Should(ContainElement("RecorderReplaced"))
		Eventually(poolStatus(ns, "rec")).Should(HaveField("Idle", int32(1)))
	})

	It("shows a recorder it cannot reach as Unknown, and keeps it", func() {
		ns, fakes, silent := idlePool()
		fakes.Recorder(silent).Close()
		Eventually(poolStatus(ns, "rec")).Should(And(HaveField("Idle", int32(0)),
			HaveField("Recorders", ConsistOf(And(HaveField("Name", silent), HaveField("State", jitsiv1alpha1.RecorderUnknown))))))
		Eventually(eventReasons(ns, "rec")).Should(ContainElement("RecorderUnreachable"))
		Consistently(recorderPods(ns, "rec"), "2s").Should(ConsistOf(HaveField("Name", silent)))
	})

	It("gives SndAloop recorders a loopback card each and never more recorders on a node than cards", func() {
		ns := newNamespace()
		newJitsi(ns)
		runFakeRecorders(ns, "alsa", 0)
		newPool(ns, "alsa", func(p *jitsiv1alpha1.JibriPool) {
			p.Spec.Audio = jitsiv1alpha1.AudioSndAloop
			p.Spec.SndAloop = &jitsiv1alpha1.SndAloopSpec{CardsPerNode: 1, DeviceResource: "squat.ai/snd"}
			p.Spec.MinReplicas, p.Spec.MaxReplicas, p.Spec.MinIdle = ptr(int32(3)), ptr(int32(3)), ptr(int32(3))
		})
		Eventually(recorderPods(ns, "alsa")).Should(HaveLen(2))
		Consistently(recorderPods(ns, "alsa"), "1s").Should(HaveLen(2))
		nodes := map[string]bool{}
		for _, p := range recorderPods(ns, "alsa")(Default) {
			Expect(p.Annotations[render.AnnotationALSACard]).To(Equal("0"))
			nodes[p.Spec.NodeSelector[render.LabelHostname]] = true
		}
		Expect(nodes).To(HaveLen(2))
		Eventually(poolCondition(ns, "alsa", jitsiv1alpha1.ConditionReady)).Should(And(
			HaveField("Status", metav1.ConditionFalse), HaveField("Reason", jitsiv1alpha1.ReasonNoLoopbackCards),
			HaveField("Message", ContainSubstring("no node has a free loopback card"))))
		Eventually(eventReasons(ns, "alsa")).Should(ContainElement(jitsiv1alpha1.ReasonNoLoopbackCards))
	})

	It("gives each recorder its own recordings claim from the pool's template, gone with the recorder", func() {
		ns := newNamespace()
		newJitsi(ns)
		newPool(ns, "rec", func(p *jitsiv1alpha1.JibriPool) {
			p.Spec.Recordings.Volume = &jitsiv1alpha1.RecordingsVolume{PersistentVolumeClaim: &corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}}}}
		})
		Eventually(recorderPods(ns, "rec")).Should(HaveLen(1))
		pod := recorderPods(ns, "rec")(Default)[0]
		claim := &corev1.PersistentVolumeClaim{}
		Eventually(func() error { return k8sClient.Get(ctx, key(ns, pod.Name+"-recordings"), claim) }).Should(Succeed())
		Expect(metav1.GetControllerOf(claim).UID).To(Equal(pod.UID))
	})

	It("switches the stack's recording and live streaming on while a pool exists", func() {
		ns := newNamespace()
		newJitsi(ns)
		webEnv := func(name string) func(Gomega) string {
			return func(g Gomega) string { return envValue(deploymentOf(ns, "meet-web")(g), name) }
		}
		Eventually(webEnv("ENABLE_RECORDING")).Should(Equal("0"))
		Expect(envValue(deploymentOf(ns, "meet-jicofo")(Default), "ENABLE_LIVESTREAMING")).To(Equal("0"))
		newPool(ns, "rec")
		Eventually(webEnv("ENABLE_RECORDING")).Should(Equal("1"))
		Eventually(webEnv("ENABLE_LIVESTREAMING")).Should(Equal("1"))
		Eventually(func(g Gomega) string { return envValue(deploymentOf(ns, "meet-jicofo")(g), "JIBRI_BREWERY_MUC") }).Should(Equal("jibribrewery"))
		Expect(envValue(deploymentOf(ns, "meet-prosody")(Default), "ENABLE_RECORDING")).To(Equal("1"))
	})

	It("streams a meeting straight to its one destination, and never shows the key", func() {
		ns, fakes, rec := idlePool()
		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "yt", Namespace: ns},
			Data: map[string][]byte{"key": []byte("yt-SECRET-KEY-42")}})).To(Succeed())
		streamedMeeting(ns, "launch", "rec", jitsiv1alpha1.StreamingAutomatic, "youtube")
		openRoom(ns, "launch", 1)
		Eventually(fakes.Recording).WithArguments("launch").Should(Equal(rec))
		s := fakes.Recorder(rec).Sessions()
		Expect(s[len(s)-1]).To(And(HaveField("Sink", "stream"), HaveField("StreamURL", "rtmp://127.0.0.1:1935/live2/yt-SECRET-KEY-42")))
		Eventually(streamingOf(ns, "launch")).Should(And(HaveField("State", jitsiv1alpha1.StreamingStateLive), HaveField("Recorder", rec),
			HaveField("Destinations", ConsistOf(jitsiv1alpha1.DestinationStatus{Name: "youtube", State: jitsiv1alpha1.StreamingStateLive}))))
		Eventually(poolStatus(ns, "rec")).Should(HaveField("Busy", int32(1)), "a streaming recorder is busy")
		Eventually(recorderPods(ns, "rec")).Should(HaveLen(2), "and the pool adds a spare for the next")

		closeRoom(ns, "launch")
		Eventually(streamingOf(ns, "launch")).Should(HaveField("State", jitsiv1alpha1.StreamingStateStopped))
		// The pool sends the stop on its own goroutine: the status may say Stopped first.
		Eventually(func() int { return fakes.Recorder(rec).Stops() }).Should(Equal(1))
		expectNowhere(ns, "yt-SECRET-KEY-42")
	})

	It("sends streams through the pool's relay, which it runs, and refuses several destinations without one", func() {
		ns, fakes, _ := idlePool()
		streamedMeeting(ns, "panel", "rec", jitsiv1alpha1.StreamingAutomatic, "youtube", "twitch")
		openRoom(ns, "panel", 1)
		Eventually(streamingOf(ns, "panel")).Should(And(HaveField("State", jitsiv1alpha1.StreamingStateFailed),
			HaveField("Destinations", ContainElement(HaveField("Error", ContainSubstring("2 destinations need the pool's relay"))))))
		Expect(fakes.Recording("panel")).To(BeEmpty())

		By("enabling the relay")
		pool := &jitsiv1alpha1.JibriPool{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rec"}}
		updateSpec(pool, func(p *jitsiv1alpha1.JibriPool) { p.Spec.Streaming.Relay = &jitsiv1alpha1.RelaySpec{Enabled: true} })
		Eventually(deploymentOf(ns, "rec-relay")).Should(HaveField("OwnerReferences", ContainElement(HaveField("Name", "rec"))))
		// Applied one after the other: the Service and the NetworkPolicy may follow a moment later.
		Eventually(func() error { return k8sClient.Get(ctx, key(ns, "rec-relay"), &corev1.Service{}) }).Should(Succeed())
		Eventually(func() error { return k8sClient.Get(ctx, key(ns, "rec-relay"), &networkingv1.NetworkPolicy{}) }).Should(Succeed())
		Eventually(poolCondition(ns, "rec", jitsiv1alpha1.ConditionReady)).Should(HaveField("Status", metav1.ConditionTrue))

		streamedMeeting(ns, "keynote", "rec", jitsiv1alpha1.StreamingManual, "youtube", "twitch")
		openRoom(ns, "keynote", 2)
		Consistently(fakes.Recording, "1s").WithArguments("keynote").Should(BeEmpty())
		setMeetingAnnotation(ns, "keynote", meeting.AnnotationStreaming, "on")
		Eventually(fakes.Recording).WithArguments("keynote").ShouldNot(BeEmpty())
		streamer := fakes.Recording("keynote")
		access := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, key(ns, "keynote-access"), access)).To(Succeed())
		s := fakes.Recorder(streamer).Sessions()
		Expect(s[len(s)-1].StreamURL).To(Equal("rtmp://rec-relay." + ns + ".svc.cluster.local:1935/live/" + string(access.Data[meeting.KeyStreamKey])))
		Eventually(streamingOf(ns, "keynote")).Should(HaveField("State", jitsiv1alpha1.StreamingStateLive))

		By("disabling the relay again")
		updateSpec(pool, func(p *jitsiv1alpha1.JibriPool) { p.Spec.Streaming.Relay.Enabled = false })
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, key(ns, "rec-relay"), &appsv1.Deployment{}))
		}).Should(BeTrue())
	})

	It("mounts the upload credentials into its recorders, and says when their Secret is missing", func() {
		ns := newNamespace()
		newJitsi(ns)
		newPool(ns, "rec", func(p *jitsiv1alpha1.JibriPool) {
			p.Spec.Recordings.Upload = &jitsiv1alpha1.UploadSpec{S3: &jitsiv1alpha1.S3UploadSpec{Bucket: "recordings",
				CredentialsSecretRef: jitsiv1alpha1.SecretReference{Name: "recordings-s3"}}}
		})
		Eventually(poolCondition(ns, "rec", jitsiv1alpha1.ConditionReady)).Should(And(
			HaveField("Reason", jitsiv1alpha1.ReasonSecretNotFound), HaveField("Message", ContainSubstring("recordings-s3"))))
		Eventually(recorderPods(ns, "rec")).Should(HaveLen(1), "recordings still work without uploads")
		pod := recorderPods(ns, "rec")(Default)[0]
		Expect(pod.Spec.Volumes).To(ContainElement(HaveField("Secret.SecretName", "recordings-s3")))
		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "recordings-s3", Namespace: ns},
			Data: map[string][]byte{"AWS_ACCESS_KEY_ID": []byte("AKIAEXAMPLE"), "AWS_SECRET_ACCESS_KEY": []byte("s3cr3t")}})).To(Succeed())
		Eventually(poolCondition(ns, "rec", jitsiv1alpha1.ConditionReady)).ShouldNot(HaveField("Reason", jitsiv1alpha1.ReasonSecretNotFound))
		expectNowhere(ns, "s3cr3t")
	})

	It("fences its recorders' HTTP API: only the operator's pods reach port 2222", func() {
		ns, _, recorder := idlePool()
		np := &networkingv1.NetworkPolicy{}
		Expect(k8sClient.Get(ctx, key(ns, "rec-jibri-api"), np)).To(Succeed())
		pool := &jitsiv1alpha1.JibriPool{}
		Expect(k8sClient.Get(ctx, key(ns, "rec"), pool)).To(Succeed())
		Expect(metav1.GetControllerOf(np).UID).To(Equal(pool.UID))

		// It selects the pool's recorders, lets nothing in but TCP 2222, and that only from the
		// operator's pods in the operator's namespace.
		pod := &corev1.Pod{}
		Expect(k8sClient.Get(ctx, key(ns, recorder), pod)).To(Succeed())
		selector, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		Expect(err).NotTo(HaveOccurred())
		Expect(selector.Matches(labels.Set(pod.Labels))).To(BeTrue(), "the policy does not select recorder %v", pod.Labels)
		Expect(np.Spec.PodSelector.MatchLabels).To(HaveKeyWithValue(render.LabelPool, "rec"))
		Expect(np.Spec.PolicyTypes).To(Equal([]networkingv1.PolicyType{networkingv1.PolicyTypeIngress}))
		Expect(np.Spec.Egress).To(BeEmpty())
		Expect(np.Spec.Ingress).To(HaveLen(1))
		Expect(np.Spec.Ingress[0].Ports).To(ConsistOf(And(
			HaveField("Protocol", HaveValue(Equal(corev1.ProtocolTCP))), HaveField("Port", HaveValue(Equal(intstr.FromInt32(2222)))))))
		Expect(np.Spec.Ingress[0].From).To(ConsistOf(networkingv1.NetworkPolicyPeer{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": operatorNamespace}},
			PodSelector:       &metav1.LabelSelector{MatchLabels: operatorPodLabels},
		}))

		// At rest it is not written again, reconcile after reconcile (the recorder is polled
		// every second).
		version := np.ResourceVersion
		Consistently(func(g Gomega) string {
			g.Expect(k8sClient.Get(ctx, key(ns, "rec-jibri-api"), np)).To(Succeed())
			return np.ResourceVersion
		}, "3s").Should(Equal(version))

		// Deleted, it comes back.
		deleted := np.UID
		Expect(k8sClient.Delete(ctx, np)).To(Succeed())
		Eventually(func(g Gomega) types.UID {
			again := &networkingv1.NetworkPolicy{}
			g.Expect(k8sClient.Get(ctx, key(ns, "rec-jibri-api"), again)).To(Succeed())
			return again.UID
		}).ShouldNot(Equal(deleted))
	})

	It("says so when its JitsiDeployment does not exist", func() {
		ns := newNamespace()
		newPool(ns, "orphan")
		Eventually(poolCondition(ns, "orphan", jitsiv1alpha1.ConditionReady)).Should(And(
			HaveField("Status", metav1.ConditionFalse), HaveField("Reason", jitsiv1alpha1.ReasonDeploymentNotFound)))
		Consistently(recorderPods(ns, "orphan"), "500ms").Should(BeEmpty())
	})
})

// idlePool is a pool "rec" of one recorder, idle, and its fake recorders.
func idlePool() (ns string, fakes *jibritest.Pods, recorder string) {
	ns = newNamespace()
	newJitsi(ns)
	fakes = runFakeRecorders(ns, "rec", 0)
	newPool(ns, "rec")
	Eventually(poolStatus(ns, "rec")).Should(HaveField("Idle", int32(1)))
	return ns, fakes, recorderPods(ns, "rec")(Default)[0].Name
}

// runFakeRecorders plays the recorders of pool in ns for the rest of the spec.
func runFakeRecorders(ns, pool string, finalize time.Duration) *jibritest.Pods {
	p := jibritest.RunPods(k8sClient, ns, pool, finalize, nil)
	DeferCleanup(func() {
		p.Stop()
		Expect(p.Errors()).To(BeEmpty())
	})
	return p
}

func streamedMeeting(ns, name, pool string, mode jitsiv1alpha1.StreamingMode, destinations ...string) *jitsiv1alpha1.Meeting {
	return newMeeting(ns, name, func(m *jitsiv1alpha1.Meeting) {
		m.Spec.Streaming = jitsiv1alpha1.MeetingStreamingSpec{Mode: mode, JibriPoolRef: &jitsiv1alpha1.LocalObjectReference{Name: pool}}
		for _, d := range destinations {
			m.Spec.Streaming.Destinations = append(m.Spec.Streaming.Destinations, jitsiv1alpha1.StreamDestination{
				Name: d, URL: "rtmp://127.0.0.1:1935/live2", StreamKeySecretRef: jitsiv1alpha1.SecretKeyReference{Name: "yt", Key: "key"}})
		}
	})
}

func streamingOf(ns, name string) func(Gomega) jitsiv1alpha1.StreamingStatus {
	return func(g Gomega) jitsiv1alpha1.StreamingStatus {
		s := meetingStatus(ns, name)(g).Streaming
		g.Expect(s).NotTo(BeNil())
		return *s
	}
}

// expectNowhere checks that secret appears in no object of ns but Secrets: no status, event or
// pod spec carries it.
func expectNowhere(ns, secret string) {
	lists := []client.ObjectList{&jitsiv1alpha1.MeetingList{}, &jitsiv1alpha1.JibriPoolList{}, &corev1.PodList{},
		&eventsv1.EventList{}, &corev1.ConfigMapList{}, &appsv1.DeploymentList{}}
	for _, l := range lists {
		Expect(k8sClient.List(ctx, l, client.InNamespace(ns))).To(Succeed())
		raw, err := json.Marshal(l)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(raw)).NotTo(ContainSubstring(secret), "%T carries the secret", l)
	}
}

func setAnnotation(ns, name, value string) {
	setMeetingAnnotation(ns, name, meeting.AnnotationRecording, value)
}

func setMeetingAnnotation(ns, name, annotation, value string) {
	m := &jitsiv1alpha1.Meeting{}
	Expect(k8sClient.Get(ctx, key(ns, name), m)).To(Succeed())
	patch := client.MergeFrom(m.DeepCopy())
	if m.Annotations == nil {
		m.Annotations = map[string]string{}
	}
	m.Annotations[annotation] = value
	Expect(k8sClient.Patch(ctx, m, patch)).To(Succeed())
}
