package render

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/scaling"
)

func jibriPool(audio jitsiv1alpha1.AudioType) *jitsiv1alpha1.JibriPool {
	return &jitsiv1alpha1.JibriPool{
		ObjectMeta: metav1.ObjectMeta{Name: "recorders", Namespace: "video", UID: "pool-uid"},
		Spec:       jitsiv1alpha1.JibriPoolSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"}, Audio: audio},
	}
}

func TestRecorderPodWithPulseAudio(t *testing.T) {
	in := input(deployment())
	pod := JibriPod(in, jibriPool(jitsiv1alpha1.AudioPulseAudio), "recorders-x1", nil)
	if pod.Labels[LabelPool] != "recorders" || pod.Labels[LabelComponent] != ComponentJibri || pod.OwnerReferences[0].Kind != "JibriPool" {
		t.Errorf("labels %v owners %v", pod.Labels, pod.OwnerReferences)
	}
	c := pod.Spec.Containers[0]
	env := envOf(t, c)
	for _, name := range []string{"DISPLAY", "XMPP_SERVER", "XMPP_DOMAIN", "XMPP_AUTH_DOMAIN", "XMPP_INTERNAL_MUC_DOMAIN", "XMPP_MUC_DOMAIN", "XMPP_HIDDEN_DOMAIN", "PUBLIC_URL"} {
		if _, ok := env[name]; !ok {
			t.Errorf("the image needs %s", name)
		}
	}
	if value(t, env, "JIBRI_INSTANCE_ID") != "recorders-x1" {
		t.Error("jibriId must be the pod's name: the receiver checks it")
	}
	for _, name := range []string{"JIBRI_XMPP_PASSWORD", "JIBRI_RECORDER_PASSWORD", "JIBRI_WEBHOOK_SUBSCRIBERS", KeyRecordingReportKey, KeyRecordingURL} {
		if e := env[name]; e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.Value != "" {
			t.Errorf("%s must come from a Secret: %+v", name, e)
		}
	}
	if _, ok := env["JITSI_OPERATOR_AUDIO_SOURCE"]; ok {
		t.Error("PulseAudio recorders keep the image's audio settings")
	}
	var shm *corev1.Volume
	for i, v := range pod.Spec.Volumes {
		if v.Name == "shm" {
			shm = &pod.Spec.Volumes[i]
		}
		if v.HostPath != nil {
			t.Errorf("a PulseAudio recorder mounts the host: %+v", v)
		}
	}
	if shm == nil || shm.EmptyDir.Medium != corev1.StorageMediumMemory || shm.EmptyDir.SizeLimit.String() != "2Gi" {
		t.Errorf("/dev/shm %+v", shm)
	}
	if len(pod.Spec.InitContainers) != 0 || *c.SecurityContext.AllowPrivilegeEscalation || !*c.SecurityContext.ReadOnlyRootFilesystem {
		t.Error("a PulseAudio recorder needs no privilege")
	}
	if p := c.ReadinessProbe.HTTPGet; p == nil || p.Path != "/jibri/api/v1.0/health" {
		t.Errorf("readiness %+v: Jibri's health answers 200 while busy, so a busy recorder stays Ready", c.ReadinessProbe)
	}
	conf := JibriScriptsConfigMap(in).Data[CustomJibriConf]
	if !strings.Contains(conf, `external-api-host = "0.0.0.0"`) || strings.Contains(conf, "internal-api-host") {
		t.Errorf("custom-jibri.conf exposes the external API only:\n%s", conf)
	}
}

func TestRecorderPodWithSndAloop(t *testing.T) {
	in := input(deployment())
	pool := jibriPool(jitsiv1alpha1.AudioSndAloop)
	pool.Spec.SndAloop = &jitsiv1alpha1.SndAloopSpec{DeviceResource: "squat.ai/snd", CardsPerNode: 8}
	pod := JibriPod(in, pool, "recorders-x2", &scaling.Card{Node: "node-a", Index: 3})
	c := pod.Spec.Containers[0]
	env := envOf(t, c)
	if value(t, env, "JITSI_OPERATOR_AUDIO_SOURCE") != "alsa" || value(t, env, "JITSI_OPERATOR_AUDIO_DEVICE") != "hw:3,1" {
		t.Error("ffmpeg does not capture from the capture side of its own card")
	}
	if pod.Spec.NodeSelector[LabelHostname] != "node-a" {
		t.Error("not pinned to its card's node")
	}
	var pulse *corev1.VolumeMount
	for i, m := range c.VolumeMounts {
		if m.MountPath == "/home/s6/config/pulse/default.pa" {
			pulse = &c.VolumeMounts[i]
		}
	}
	if pulse == nil || pulse.Name != "scripts" || pulse.SubPath != PulseSndAloopFile(3) {
		t.Fatalf("PulseAudio does not play into card 3: %+v", pulse)
	}
	if pa := JibriScriptsConfigMap(in).Data[PulseSndAloopFile(3)]; !strings.Contains(pa, "load-module module-alsa-sink device=hw:3,0 sink_name=jibri-aloop\nset-default-sink jibri-aloop\n") ||
		!strings.HasPrefix(strings.SplitN(pa, "\n", 2)[1], ".include /etc/pulse/default.pa") {
		t.Errorf("card 3's PulseAudio script:\n%s", pa)
	}
	for _, v := range pod.Spec.Volumes {
		if v.HostPath != nil {
			t.Errorf("a device-plugin recorder mounts the host: %+v", v)
		}
	}
	if q := c.Resources.Limits["squat.ai/snd"]; q.String() != "1" {
		t.Errorf("the recorder does not request the device plugin's resource: %v", c.Resources.Limits)
	}
	sc := c.SecurityContext
	if sc.Privileged != nil || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation {
		t.Errorf("a device-plugin recorder needs no privilege: %+v", sc)
	}
	init := pod.Spec.InitContainers
	if len(init) != 1 || init[0].Image != c.Image || *init[0].SecurityContext.AllowPrivilegeEscalation || init[0].Resources.Limits["squat.ai/snd"] != resource.MustParse("1") ||
		!strings.Contains(strings.Join(init[0].Command, " "), "pcmC3D0p") || !strings.Contains(strings.Join(init[0].Command, " "), "pcmC3D1c") {
		t.Errorf("the card check must run unprivileged with the same devices: %+v", init)
	}

	pool.Spec.SndAloop = &jitsiv1alpha1.SndAloopSpec{Privileged: true, CardsPerNode: 8}
	in.SndAloopLoaderImage = "registry.example/tools/kmod:1"
	priv := JibriPod(in, pool, "recorders-x3", &scaling.Card{Node: "node-b", Index: 1})
	if sc := priv.Spec.Containers[0].SecurityContext; sc.Privileged == nil || !*sc.Privileged || sc.AllowPrivilegeEscalation != nil {
		t.Errorf("privileged opt-in: %+v", sc)
	}
	init = priv.Spec.InitContainers
	if len(init) != 1 || init[0].Image != "registry.example/tools/kmod:1" || !*init[0].SecurityContext.Privileged ||
		!strings.Contains(strings.Join(init[0].Command, " "), "modprobe snd-aloop enable=1,1,1,1,1,1,1,1 index=0,1,2,3,4,5,6,7") {
		t.Errorf("the module loader must use the installer's image: %+v", init)
	}
	for _, v := range priv.Spec.Volumes {
		if v.HostPath != nil && v.HostPath.Path != "/lib/modules" {
			t.Errorf("only the loader mounts the host, and only its modules: %+v", v)
		}
	}
	pool.Spec.SndAloop = &jitsiv1alpha1.SndAloopSpec{Privileged: true, NodesPrepared: true, CardsPerNode: 4}
	prepared := JibriPod(in, pool, "recorders-x4", &scaling.Card{Node: "node-a", Index: 1}).Spec
	if len(prepared.InitContainers) != 1 || strings.Contains(strings.Join(prepared.InitContainers[0].Command, " "), "modprobe") {
		t.Errorf("prepared nodes: only a check: %+v", prepared.InitContainers)
	}
	for _, v := range prepared.Volumes {
		if v.HostPath != nil {
			t.Errorf("prepared nodes: no host path: %+v", v)
		}
	}
}

func TestPoolSecretAndConditions(t *testing.T) {
	pool := jibriPool(jitsiv1alpha1.AudioPulseAudio)
	s := JibriPoolSecretObject(deployment(), pool, "http://op:9090", []byte("events"))
	if got := string(s.Data[KeyWebhookSubscribers]); got != "http://op:9090/v1/jibri/pools/"+pool.Namespace+"/"+pool.Name+"/"+JibriWebhookToken([]byte("events"), pool.Namespace, pool.Name) {
		t.Errorf("subscriber URL %q", got)
	}
	relay := string(s.Data[KeyRelayURL])
	if want := "http://op:9090/v1/rtmp/pools/" + pool.Namespace + "/" + pool.Name + "/" + RelayToken([]byte("events"), pool.Namespace, pool.Name); relay != want || strings.Contains(string(s.Data[KeyWebhookSubscribers]), RelayToken([]byte("events"), pool.Namespace, pool.Name)) {
		t.Errorf("relay URL %q, want %q, and a token of its own", relay, want)
	}
	if ref := metav1.GetControllerOf(s); ref == nil || ref.Kind != "JibriPool" || ref.Name != pool.Name {
		t.Errorf("owner %+v", ref)
	}
	find := func(conds []metav1.Condition, typ string) metav1.Condition {
		for _, c := range conds {
			if c.Type == typ {
				return c
			}
		}
		t.Fatalf("no %s in %+v", typ, conds)
		return metav1.Condition{}
	}
	cases := []struct {
		name               string
		facts              PoolFacts
		err                error
		ready, available   metav1.ConditionStatus
		readyReason, avail string
	}{
		{"all well", PoolFacts{DeploymentFound: true, Replicas: 2, Ready: 2, Busy: 1, Idle: 1, Desired: 2, MaxReplicas: 5},
			nil, metav1.ConditionTrue, metav1.ConditionTrue, jitsiv1alpha1.ReasonAvailable, jitsiv1alpha1.ReasonAvailable},
		{"scaling up", PoolFacts{DeploymentFound: true, Replicas: 2, Ready: 1, Busy: 1, Desired: 2, MaxReplicas: 5},
			nil, metav1.ConditionFalse, metav1.ConditionFalse, jitsiv1alpha1.ReasonComponentsNotReady, jitsiv1alpha1.ReasonAllBusy},
		{"at max with a queue", PoolFacts{DeploymentFound: true, Replicas: 2, Ready: 2, Busy: 2, Queue: 3, Desired: 2, MaxReplicas: 2},
			nil, metav1.ConditionTrue, metav1.ConditionFalse, jitsiv1alpha1.ReasonAvailable, jitsiv1alpha1.ReasonAtMaxReplicas},
		{"no cards", PoolFacts{DeploymentFound: true, Replicas: 1, Ready: 1, Idle: 1, Desired: 3, MaxReplicas: 3, Unplaced: "2 more"},
			nil, metav1.ConditionFalse, metav1.ConditionTrue, jitsiv1alpha1.ReasonNoLoopbackCards, jitsiv1alpha1.ReasonAvailable},
		{"nothing healthy", PoolFacts{DeploymentFound: true, Replicas: 1, Desired: 1, MaxReplicas: 3},
			nil, metav1.ConditionFalse, metav1.ConditionFalse, jitsiv1alpha1.ReasonComponentsNotReady, jitsiv1alpha1.ReasonNoHealthyRecorders},
		{"step failed", PoolFacts{DeploymentFound: true, Idle: 1}, errors.New("scale: boom"),
			metav1.ConditionFalse, metav1.ConditionTrue, jitsiv1alpha1.ReasonReconcileError, jitsiv1alpha1.ReasonAvailable},
		{"no deployment", PoolFacts{}, nil, metav1.ConditionFalse, metav1.ConditionUnknown, jitsiv1alpha1.ReasonDeploymentNotFound, jitsiv1alpha1.ReasonDeploymentNotFound},
	}
	for _, tc := range cases {
		conds := PoolConditions(4, tc.facts, tc.err)
		ready, available := find(conds, jitsiv1alpha1.ConditionReady), find(conds, jitsiv1alpha1.ConditionRecordersAvailable)
		if ready.Status != tc.ready || ready.Reason != tc.readyReason || available.Status != tc.available || available.Reason != tc.avail ||
			ready.ObservedGeneration != 4 {
			t.Errorf("%s: Ready %s/%s, RecordersAvailable %s/%s", tc.name, ready.Status, ready.Reason, available.Status, available.Reason)
		}
	}
}

func TestRecordingsVolume(t *testing.T) {
	in := input(deployment())
	pool := jibriPool(jitsiv1alpha1.AudioPulseAudio)
	volume := func(pod *corev1.Pod) corev1.VolumeSource {
		for _, v := range pod.Spec.Volumes {
			if v.Name == "recordings" {
				return v.VolumeSource
			}
		}
		t.Fatal("no recordings volume")
		return corev1.VolumeSource{}
	}
	if v := volume(JibriPod(in, pool, "recorders-a", nil)); v.EmptyDir == nil || JibriRecordingsClaim(pool, &corev1.Pod{}) != nil {
		t.Errorf("default: %+v", v)
	}
	limit := resource.MustParse("20Gi")
	pool.Spec.Recordings.Volume = &jitsiv1alpha1.RecordingsVolume{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &limit}}
	if v := volume(JibriPod(in, pool, "recorders-a", nil)); v.EmptyDir == nil || v.EmptyDir.SizeLimit.Cmp(limit) != 0 {
		t.Errorf("emptyDir from the spec: %+v", v)
	}
	class := "fast"
	pool.Spec.Recordings.Volume = &jitsiv1alpha1.RecordingsVolume{PersistentVolumeClaim: &corev1.PersistentVolumeClaimSpec{
		StorageClassName: &class, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: limit}}}}
	pod := JibriPod(in, pool, "recorders-a", nil)
	pod.UID = "pod-uid"
	if v := volume(pod); v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != "recorders-a-recordings" {
		t.Errorf("claim volume: %+v", v)
	}
	claim := JibriRecordingsClaim(pool, pod)
	if claim.Name != "recorders-a-recordings" || *claim.Spec.StorageClassName != "fast" || claim.OwnerReferences[0].UID != "pod-uid" {
		t.Errorf("claim %+v", claim)
	}
}

func TestStreamsStartedFromTheMeetingGoThroughTheRelay(t *testing.T) {
	key := RelayUIKey([]byte("events"), "video", "recorders")
	typed := "rtmp://a.rtmp.youtube.com/live2/abcd"
	name := RelayUIName(key, "video", "recorders", typed)
	if ns, pool, target, ok := ParseRelayUIName(key, name); !ok || ns != "video" || pool != "recorders" || target != typed {
		t.Fatalf("round trip: %s %s %q %v", ns, pool, target, ok)
	}
	for _, bad := range []string{name + "x", strings.Replace(name, "recorders", "others", 1), "video.keynote.s3cr3t",
		RelayUIName("other-key", "video", "recorders", typed)} {
		if _, _, _, ok := ParseRelayUIName(key, bad); ok {
			t.Errorf("accepted %q", bad)
		}
	}

	in := input(deployment())
	pool := jibriPool(jitsiv1alpha1.AudioPulseAudio)
	env := envOf(t, JibriPod(in, pool, "recorders-a", nil).Spec.Containers[0])
	if _, ok := env["JITSI_OPERATOR_RELAY_PUBLISH"]; ok {
		t.Error("a pool without a relay sends streams to one")
	}
	pool.Spec.Streaming.Relay = &jitsiv1alpha1.RelaySpec{Enabled: true}
	pod := JibriPod(in, pool, "recorders-a", nil)
	env = envOf(t, pod.Spec.Containers[0])
	if env["JITSI_OPERATOR_RELAY_PUBLISH"].Value != "rtmp://recorders-relay.video.svc.cluster.local:1935/live" ||
		env["JITSI_OPERATOR_RELAY_UI_PREFIX"].Value != "ui.video.recorders" ||
		env[KeyRelayUIKey].ValueFrom == nil || env[KeyRelayUIKey].Value != "" {
		t.Errorf("relay env %+v %+v %+v", env["JITSI_OPERATOR_RELAY_PUBLISH"], env["JITSI_OPERATOR_RELAY_UI_PREFIX"], env[KeyRelayUIKey])
	}
	mounted := false
	for _, m := range pod.Spec.Containers[0].VolumeMounts {
		mounted = mounted || m.MountPath == "/usr/local/bin/ffmpeg" && m.SubPath == FFmpegRelayFile
	}
	if !mounted || JibriScriptsConfigMap(in).Data[FFmpegRelayFile] == "" {
		t.Error("the ffmpeg wrapper is not shipped")
	}
}

func TestUploadSettingsAndCredentials(t *testing.T) {
	in := input(deployment())
	pool := jibriPool(jitsiv1alpha1.AudioPulseAudio)
	env := envOf(t, JibriPod(in, pool, "recorders-a", nil).Spec.Containers[0])
	if _, ok := env["JITSI_OPERATOR_S3_BUCKET"]; ok || env["JITSI_OPERATOR_NAMESPACE"].Value != "video" {
		t.Errorf("without an upload: %+v", env)
	}
	pool.Spec.Recordings = jitsiv1alpha1.RecordingsSpec{KeepLocal: true, Upload: &jitsiv1alpha1.UploadSpec{S3: &jitsiv1alpha1.S3UploadSpec{
		Endpoint: "https://minio.example.net", Bucket: "recordings", Prefix: "jitsi", ForcePathStyle: true,
		CredentialsSecretRef: jitsiv1alpha1.SecretReference{Name: "s3"}}}}
	pod := JibriPod(in, pool, "recorders-a", nil)
	c := pod.Spec.Containers[0]
	env = envOf(t, c)
	for k, v := range map[string]string{"JITSI_OPERATOR_S3_BUCKET": "recordings", "JITSI_OPERATOR_S3_ENDPOINT": "https://minio.example.net",
		"JITSI_OPERATOR_S3_REGION": "us-east-1", "JITSI_OPERATOR_S3_PREFIX": "jitsi", "JITSI_OPERATOR_S3_PATH_STYLE": "true",
		"JITSI_OPERATOR_KEEP_LOCAL": "true", "JITSI_OPERATOR_S3_CREDENTIALS_DIR": S3CredentialsDir} {
		if env[k].Value != v {
			t.Errorf("%s = %q, want %q", k, env[k].Value, v)
		}
	}
	for name := range env {
		if strings.HasPrefix(name, "AWS_") {
			t.Errorf("credentials in the environment: %s", name)
		}
	}
	mounted := false
	for _, m := range c.VolumeMounts {
		mounted = mounted || m.Name == "s3-credentials" && m.MountPath == S3CredentialsDir && m.ReadOnly
	}
	found := false
	for _, v := range pod.Spec.Volumes {
		found = found || v.Secret != nil && v.Secret.SecretName == "s3"
	}
	if !mounted || !found {
		t.Error("the credentials Secret is not mounted")
	}
}
