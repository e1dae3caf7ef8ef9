package render

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/scaling"
)

// Recorder pod conventions (docker-jitsi-meet's jibri image, PROTOCOLS.md 3.8).
const (
	JibriAPIPort    = 2222
	jibriScriptsDir = "/opt/jitsi-operator"
	// JibriRecordingsDir is where Jibri writes (JIBRI_RECORDING_DIR): one directory per session.
	JibriRecordingsDir = "/storage/recordings"
	// CustomJibriConf is the file the image includes last (/config/custom-jibri.conf).
	CustomJibriConf = "custom-jibri.conf"
	// KeyWebhookSubscribers is the key, in the pool's Secret, of the webhook subscriber URL (it
	// carries the pool's token, so it is a secret).
	KeyWebhookSubscribers = "JIBRI_WEBHOOK_SUBSCRIBERS"
	// KeyRecordingURL is the key, in the pool's Secret, of the finalize script's report URL
	// (<receiver>/v1/jibri/recording-complete?pool=<namespace>/<pool>).
	KeyRecordingURL = "JITSI_OPERATOR_RECORDING_URL"
	// KeyRecordingReportKey is the key, in the pool's Secret, of the key the finalize script signs
	// its reports with (RecordingReportKey).
	KeyRecordingReportKey = "JITSI_OPERATOR_REPORT_KEY"
	// KeyRelayURL is the key, in the pool's Secret, of the RTMP relay's base URL at the receiver
	// (<receiver>/v1/rtmp/pools/<namespace>/<pool>/<token>); it carries the pool's token.
	KeyRelayURL = "JITSI_OPERATOR_RELAY_URL"
	// KeyRelayUIKey is the key, in the pool's Secret, recorders sign the relay names of streams
	// started from the meeting with (RelayUIKey).
	KeyRelayUIKey = "JITSI_OPERATOR_RELAY_UI_KEY"
	// JibriRecorderUser is the recorder's account on the hidden domain: the participant that
	// joins a meeting to record it.
	JibriRecorderUser = "recorder"
)

// drainScript asks Jibri (its internal API, on loopback) to exit once idle, and waits until it is.
const drainScript = `curl -s -X POST http://127.0.0.1:3333/jibri/api/internal/v1.0/gracefulShutdown || true
while curl -s http://127.0.0.1:2222/jibri/api/v1.0/health | grep -q '"busyStatus":"BUSY"'; do sleep 5; done`

// customJibriConf exposes the external API to the operator (the internal one, unauthenticated
// shutdown control, stays on loopback) and lets a SndAloop recorder capture from its own ALSA
// card (optional substitutions: unset, the image's PulseAudio settings stand).
const customJibriConf = `# Rendered by jitsi-operator.
jibri.api.http.external-api-host = "0.0.0.0"
jibri.ffmpeg.audio-source = ${?JITSI_OPERATOR_AUDIO_SOURCE}
jibri.ffmpeg.audio-device = ${?JITSI_OPERATOR_AUDIO_DEVICE}
`

// JibriPoolSecret names a pool's Secret of webhook and report URLs and keys.
func JibriPoolSecret(pool *jitsiv1alpha1.JibriPool) string { return pool.Name + "-jibri" }

// JibriAPIPolicy names the NetworkPolicy that fences a pool's recorders' HTTP API.
func JibriAPIPolicy(pool *jitsiv1alpha1.JibriPool) string { return pool.Name + "-jibri-api" }

// JibriPod renders recorder name of pool. card is its ALSA loopback card (SndAloop audio), nil
// for PulseAudio. Recorders are pods of the pool itself, not of a Deployment, so that a
// scale-down picks exactly which one goes.
func JibriPod(in Input, pool *jitsiv1alpha1.JibriPool, name string, card *scaling.Card) *corev1.Pod {
	d := in.Deployment
	labels := PoolLabels(d, pool)
	poolSecret := JibriPoolSecret(pool)
	managed := append(contractEnv(ComponentJibri), xmppEnv(in)...)
	managed = append(managed,
		env("JIBRI_INSTANCE_ID", name),
		env("JIBRI_BREWERY_MUC", JibriBreweryMUC),
		env("JIBRI_XMPP_USER", "jibri"),
		secretEnv("JIBRI_XMPP_PASSWORD", selector(in.Secrets.Generated, KeyJibriPassword)),
		env("JIBRI_RECORDER_USER", JibriRecorderUser),
		secretEnv("JIBRI_RECORDER_PASSWORD", selector(in.Secrets.Generated, KeyRecorderPassword)),
		env("JIBRI_RECORDING_DIR", JibriRecordingsDir),
		env("JIBRI_FINALIZE_RECORDING_SCRIPT_PATH", jibriScriptsDir+"/"+FinalizeRecordingFile),
		env("JIBRI_HTTP_API_EXTERNAL_PORT", fmt.Sprint(JibriAPIPort)),
		secretEnv("JIBRI_WEBHOOK_SUBSCRIBERS", selector(poolSecret, KeyWebhookSubscribers)),
		secretEnv(KeyRecordingURL, selector(poolSecret, KeyRecordingURL)),
		// The pool's own report key, never the deployment's events secret.
		secretEnv(KeyRecordingReportKey, selector(poolSecret, KeyRecordingReportKey)),
	)
	if pool.Spec.Streaming.Relay != nil && pool.Spec.Streaming.Relay.Enabled {
		// Streams started from the meeting go through the relay too (FFmpegRelayScript).
		managed = append(managed,
			env("JITSI_OPERATOR_RELAY_PUBLISH", strings.TrimSuffix(RelayStreamURL(pool, in.ClusterDomain, ""), "/")),
			env("JITSI_OPERATOR_RELAY_UI_PREFIX", RelayUIPrefix(pool.Namespace, pool.Name)),
			secretEnv(KeyRelayUIKey, selector(poolSecret, KeyRelayUIKey)))
	}
	if card != nil {
		managed = append(managed,
			env("JITSI_OPERATOR_AUDIO_SOURCE", "alsa"),
			// The capture side (device 1) of the recorder's own loopback card.
			env("JITSI_OPERATOR_AUDIO_DEVICE", fmt.Sprintf("hw:%d,1", card.Index)),
			env("JITSI_OPERATOR_ALSA_CARD", fmt.Sprint(card.Index)))
	}
	// Jibri's health endpoint answers 200 even while it records or is unhealthy: a busy recorder
	// stays Ready, and its state comes from the body, which the operator reads.
	probe := httpProbe("/jibri/api/v1.0/health", "http-api", 10, 6)
	shm := resource.MustParse("2Gi")
	mode := int32(0o755)
	pod := corev1.PodSpec{
		// A recording is finalized (uploaded) before the recorder stops.
		TerminationGracePeriodSeconds: ptrInt64(3600),
		Containers: []corev1.Container{{
			Name:           ComponentJibri,
			Image:          image(d, ComponentJibri),
			Env:            managed,
			Ports:          []corev1.ContainerPort{{Name: "http-api", ContainerPort: JibriAPIPort, Protocol: corev1.ProtocolTCP}},
			ReadinessProbe: probe,
			LivenessProbe:  httpProbe("/jibri/api/v1.0/health", "http-api", 30, 5),
			StartupProbe:   httpProbe("/jibri/api/v1.0/health", "http-api", 5, 60),
			// The operator removes only idle recorders; should a session start in between (Jicofo
			// hands out recordings too), Jibri's graceful shutdown lets it finish first.
			Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", drainScript}}}},
			VolumeMounts: []corev1.VolumeMount{
				{Name: "shm", MountPath: "/dev/shm"},
				{Name: "recordings", MountPath: "/storage"},
				{Name: "scripts", MountPath: jibriScriptsDir, ReadOnly: true},
				{Name: "scripts", MountPath: "/config/" + CustomJibriConf, SubPath: CustomJibriConf, ReadOnly: true},
				// Ahead of /usr/bin/ffmpeg in PATH.
				{Name: "scripts", MountPath: "/usr/local/bin/ffmpeg", SubPath: FFmpegRelayFile, ReadOnly: true},
			},
		}},
		Volumes: []corev1.Volume{
			{Name: "shm", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: &shm}}},
			{Name: "recordings", VolumeSource: recordingsVolume(pool, name)},
			{Name: "scripts", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: JibriScripts(d)}, DefaultMode: &mode,
			}}},
		},
	}
	placement(&pod, pool.Spec.Placement)
	restrictedPod(&pod, d, ComponentJibri)
	if card != nil {
		sndAloop(&pod, pool, card, in.SndAloopLoaderImage)
	}
	upload(&pod, pool)
	var annotations map[string]string
	if card != nil {
		annotations = map[string]string{AnnotationALSACard: fmt.Sprint(card.Index)}
	}
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: pool.Namespace, Labels: labels, Annotations: annotations,
			OwnerReferences: poolOwnerReferences(pool)},
		Spec: pod,
	}
}

// recordingsVolume is where recorder name writes: the pool's emptyDir (an empty one by default),
// or its own claim from the pool's template (JibriRecordingsClaim).
func recordingsVolume(pool *jitsiv1alpha1.JibriPool, name string) corev1.VolumeSource {
	v := pool.Spec.Recordings.Volume
	switch {
	case v != nil && v.PersistentVolumeClaim != nil:
		return corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: JibriRecordingsClaimName(name)}}
	case v != nil && v.EmptyDir != nil:
		return corev1.VolumeSource{EmptyDir: v.EmptyDir.DeepCopy()}
	}
	return corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
}

// JibriRecordingsClaimName names recorder pod's claim for recordings.
func JibriRecordingsClaimName(pod string) string { return pod + "-recordings" }

// JibriRecordingsClaim renders recorder pod's claim from the pool's template, owned by the pod so
// that it goes with the recorder; nil when the pool uses no claims.
func JibriRecordingsClaim(pool *jitsiv1alpha1.JibriPool, pod *corev1.Pod) *corev1.PersistentVolumeClaim {
	v := pool.Spec.Recordings.Volume
	if v == nil || v.PersistentVolumeClaim == nil {
		return nil
	}
	yes := true
	return &corev1.PersistentVolumeClaim{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{Name: JibriRecordingsClaimName(pod.Name), Namespace: pod.Namespace, Labels: pod.Labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID, Controller: &yes}}},
		Spec: *v.PersistentVolumeClaim.DeepCopy(),
	}
}

// S3CredentialsDir is where a recorder finds its upload credentials (files AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY), read by the finalize script only.
const S3CredentialsDir = "/etc/jitsi-operator-s3"

// upload tells the finalize script where recordings go (recordings.upload.s3): the bucket's
// settings in the environment, the credentials as files of the mounted Secret, never in the
// environment.
func upload(pod *corev1.PodSpec, pool *jitsiv1alpha1.JibriPool) {
	c := &pod.Containers[0]
	rec := pool.Spec.Recordings
	c.Env = append(c.Env, env("JITSI_OPERATOR_NAMESPACE", pool.Namespace), env("JITSI_OPERATOR_KEEP_LOCAL", fmt.Sprint(rec.KeepLocal)))
	if rec.Upload == nil || rec.Upload.S3 == nil {
		return
	}
	s3 := rec.Upload.S3
	region := s3.Region
	if region == "" {
		region = "us-east-1"
	}
	c.Env = append(c.Env,
		env("JITSI_OPERATOR_S3_ENDPOINT", s3.Endpoint),
		env("JITSI_OPERATOR_S3_REGION", region),
		env("JITSI_OPERATOR_S3_BUCKET", s3.Bucket),
		env("JITSI_OPERATOR_S3_PREFIX", s3.Prefix),
		env("JITSI_OPERATOR_S3_PATH_STYLE", fmt.Sprint(s3.ForcePathStyle)),
		env("JITSI_OPERATOR_S3_CREDENTIALS_DIR", S3CredentialsDir))
	mode := int32(0o440)
	pod.Volumes = append(pod.Volumes, corev1.Volume{Name: "s3-credentials", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: s3.CredentialsSecretRef.Name, DefaultMode: &mode,
		Items: []corev1.KeyToPath{{Key: "AWS_ACCESS_KEY_ID", Path: "AWS_ACCESS_KEY_ID"}, {Key: "AWS_SECRET_ACCESS_KEY", Path: "AWS_SECRET_ACCESS_KEY"}},
	}}})
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "s3-credentials", MountPath: S3CredentialsDir, ReadOnly: true})
}

// DefaultSndAloopLoaderImage runs modprobe for privileged SndAloop pools whose nodes do not load
// snd-aloop themselves (--snd-aloop-loader-image). busybox's modprobe reads the node's
// modules.dep; it is an image of the operator's installer's choosing, never the stack's registry.
const DefaultSndAloopLoaderImage = "docker.io/library/busybox:1.38.0"

// MaxLoopbackCards is the most loopback cards a node offers (sndAloop.cardsPerNode's maximum).
const MaxLoopbackCards = 32

// PulseSndAloopFile is the scripts ConfigMap's PulseAudio startup script for loopback card
// index: mounted over the image's /home/s6/config/pulse/default.pa, which the image's config
// step copies to the pulse user's config (jibri/rootfs/etc/s6-overlay/scripts/config: cp -r
// /home/s6/config/. /run/tmp/s6-config, the target of /home/s6/.config in jibri/Dockerfile).
func PulseSndAloopFile(index int) string { return fmt.Sprintf("pulse-sndaloop-%d.pa", index) }

// PulseSndAloopConfig is PulseAudio's startup script for a recorder on loopback card index. The
// image's PulseAudio (s6 service 30-pulse) is what Chrome plays into, and its own default.pa
// makes that a virtual sink nothing captures but its monitor (jibri/rootfs/home/s6/config/pulse/
// default.pa); here the default sink is the card's playback side, hw:<index>,0, so the sound
// goes through the card, and Jibri's ffmpeg captures the card's capture side, hw:<index>,1
// (custom-jibri.conf's audio-device).
func PulseSndAloopConfig(index int) string {
	return fmt.Sprintf(`# Rendered by jitsi-operator: the recorder's sound through ALSA loopback card %[1]d.
.include /etc/pulse/default.pa

load-module module-alsa-sink device=hw:%[1]d,0 sink_name=jibri-aloop
set-default-sink jibri-aloop
`, index)
}

// sndAloop gives a recorder its ALSA loopback card: the pod pinned to the card's node, PulseAudio
// playing into the card, and the node's /dev/snd through the pool's device plugin resource
// (unprivileged) or a privileged container (the explicit opt-in). A hostPath /dev/snd alone is
// never given: the container runtime's device cgroup refuses an unprivileged container the
// devices (IMAGES.md 2, jibri). An init container checks that the card exists, loading
// snd-aloop first on privileged pools whose nodes are not prepared.
func sndAloop(pod *corev1.PodSpec, pool *jitsiv1alpha1.JibriPool, card *scaling.Card, loaderImage string) {
	c := &pod.Containers[0]
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{
		Name: "scripts", MountPath: "/home/s6/config/pulse/default.pa", SubPath: PulseSndAloopFile(card.Index), ReadOnly: true})
	if pod.NodeSelector == nil {
		pod.NodeSelector = map[string]string{}
	}
	pod.NodeSelector[LabelHostname] = card.Node
	spec := pool.Spec.SndAloop
	if spec == nil {
		spec = &jitsiv1alpha1.SndAloopSpec{}
	}
	check := fmt.Sprintf("test -e /dev/snd/pcmC%[1]dD0p && test -e /dev/snd/pcmC%[1]dD1c || { echo 'loopback card %[1]d missing: the node must load snd-aloop with enough cards (index=%[1]d or more)'; exit 1; }", card.Index)
	if loaderImage == "" {
		loaderImage = DefaultSndAloopLoaderImage
	}
	if spec.Privileged {
		// privileged cannot go with allowPrivilegeEscalation: false (the API refuses it).
		yes := true
		c.SecurityContext.Privileged = &yes
		c.SecurityContext.AllowPrivilegeEscalation = nil
		c.SecurityContext.Capabilities = nil
		script, mounts := check, []corev1.VolumeMount(nil)
		if !spec.NodesPrepared {
			hostDir := corev1.HostPathDirectory
			pod.Volumes = append(pod.Volumes, corev1.Volume{Name: "modules", VolumeSource: corev1.VolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: "/lib/modules", Type: &hostDir}}})
			mounts = []corev1.VolumeMount{{Name: "modules", MountPath: "/lib/modules", ReadOnly: true}}
			script = fmt.Sprintf("modprobe snd-aloop %s && %s", aloopParams(pool), check)
		}
		pod.InitContainers = append(pod.InitContainers, corev1.Container{
			Name: "snd-aloop", Image: loaderImage, Command: []string{"sh", "-c", script}, VolumeMounts: mounts,
			SecurityContext: &corev1.SecurityContext{Privileged: &yes, RunAsUser: ptrInt64(0), RunAsNonRoot: ptrBool(false)},
		})
		return
	}
	one := resource.MustParse("1")
	if c.Resources.Limits == nil {
		c.Resources.Limits = corev1.ResourceList{}
	}
	c.Resources.Limits[corev1.ResourceName(spec.DeviceResource)] = one
	// The check runs as the recorder does (the jibri image, restricted), with the same resource:
	// the device plugin gives it the same devices.
	no, yes := false, true
	pod.InitContainers = append(pod.InitContainers, corev1.Container{
		Name: "check-snd-aloop", Image: c.Image, ImagePullPolicy: c.ImagePullPolicy, Command: []string{"sh", "-c", check},
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceName(spec.DeviceResource): one}},
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes, RunAsNonRoot: &yes,
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	})
}

// aloopParams loads as many loopback cards as the pool places per node, at indices 0..n-1.
func aloopParams(pool *jitsiv1alpha1.JibriPool) string {
	n := 8
	if s := pool.Spec.SndAloop; s != nil && s.CardsPerNode > 0 {
		n = int(s.CardsPerNode)
	}
	enable, index := "1", "0"
	for i := 1; i < n; i++ {
		enable += ",1"
		index += fmt.Sprintf(",%d", i)
	}
	return "enable=" + enable + " index=" + index
}

func ptrInt64(v int64) *int64 { return &v }
func ptrBool(v bool) *bool    { return &v }
