package podsecurity

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
	"github.com/jitsi-operator/jitsi-operator/internal/scaling"
)

// The matrix has two halves, because the renderers' inputs do: a stack's pods (Prosody, Jicofo,
// web, the bridges, the managed TURN server) do not read any JibriPool, and a pool's pods (the
// recorders, the relay) read of the JitsiDeployment only its images and pull settings, which no
// case varies. Each half is the full product of its choices.

// stack is a JitsiDeployment's choices that change its pods.
type stack struct {
	auth    jitsiv1alpha1.AuthType
	media   jitsiv1alpha1.MediaType
	turn    bool // spec.turn.managed
	ingress bool // spec.web.ingress.enabled
}

func (s stack) String() string {
	return strings.Join([]string{string(s.auth) + " auth", string(s.media) + " media",
		map[bool]string{true: "managed TURN", false: "no TURN"}[s.turn],
		map[bool]string{true: "ingress", false: "no ingress"}[s.ingress]}, ", ")
}

// recorders is a JibriPool's choices that change its pods.
type recorders struct {
	audio  jitsiv1alpha1.AudioType
	upload bool // recordings.upload.s3
	relay  bool // streaming.relay.enabled
}

func (r recorders) String() string {
	return strings.Join([]string{string(r.audio) + " audio",
		map[bool]string{true: "S3 upload", false: "no upload"}[r.upload],
		map[bool]string{true: "relay", false: "no relay"}[r.relay]}, ", ")
}

// deployment is the JitsiDeployment of s, with the API server's defaults filled in (the
// renderers read defaulted specs).
func (s stack) deployment() *jitsiv1alpha1.JitsiDeployment {
	one := int32(1)
	grace := int64(3600)
	d := &jitsiv1alpha1.JitsiDeployment{
		ObjectMeta: metav1.ObjectMeta{Name: "meet", Namespace: "video", UID: "deployment-uid"},
		Spec: jitsiv1alpha1.JitsiDeploymentSpec{
			Domain:           "meet.example.com",
			Image:            jitsiv1alpha1.ImageSpec{Registry: "ghcr.io/jitsi", Tag: "stable-11146-2", PullPolicy: "IfNotPresent"},
			Auth:             jitsiv1alpha1.AuthSpec{Type: s.auth},
			ImagePullSecrets: []jitsiv1alpha1.LocalObjectReference{{Name: "registry"}},
			JVB: jitsiv1alpha1.JVBSpec{
				Replicas:                      &one,
				Media:                         jitsiv1alpha1.MediaSpec{Type: s.media, Port: 10000},
				TerminationGracePeriodSeconds: &grace,
			},
			Web: jitsiv1alpha1.WebSpec{Replicas: &one},
		},
	}
	if s.auth == jitsiv1alpha1.AuthJWT {
		d.Spec.Auth.JWT = &jitsiv1alpha1.JWTAuthSpec{AppID: "app", Audience: "jitsi"}
	}
	if s.turn {
		d.Spec.TURN = &jitsiv1alpha1.TURNSpec{Managed: true, TLSSecretName: "turn-tls"}
	}
	if s.ingress {
		d.Spec.Web.Ingress = &jitsiv1alpha1.IngressSpec{Enabled: true, Host: "meet.example.com"}
	}
	return d
}

// pool is the JibriPool of r.
func (r recorders) pool() *jitsiv1alpha1.JibriPool {
	yes := true
	pool := &jitsiv1alpha1.JibriPool{
		ObjectMeta: metav1.ObjectMeta{Name: "recorders", Namespace: "video", UID: "pool-uid"},
		Spec: jitsiv1alpha1.JibriPoolSpec{
			JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"},
			Audio:              r.audio,
			Streaming:          jitsiv1alpha1.PoolStreamingSpec{Enabled: &yes},
		},
	}
	if r.audio == jitsiv1alpha1.AudioSndAloop {
		pool.Spec.SndAloop = &jitsiv1alpha1.SndAloopSpec{DeviceResource: "squat.ai/snd", CardsPerNode: 8}
	}
	if r.upload {
		pool.Spec.Recordings.Upload = &jitsiv1alpha1.UploadSpec{S3: &jitsiv1alpha1.S3UploadSpec{
			Endpoint: "http://127.0.0.1:9000", Bucket: "recordings", ForcePathStyle: true,
			CredentialsSecretRef: jitsiv1alpha1.SecretReference{Name: "s3-credentials"},
		}}
	}
	if r.relay {
		pool.Spec.Streaming.Relay = &jitsiv1alpha1.RelaySpec{Enabled: true, Record: true}
	}
	return pool
}

// input is what the reconciler would hand the renderers for d: one bridge whose address is known
// (on node n1 for HostPort media), a pool that records and streams.
func input(d *jitsiv1alpha1.JitsiDeployment) render.Input {
	bridge := render.Bridge{Index: 0, AdvertiseIP: "203.0.113.10"}
	switch d.Spec.JVB.Media.Type {
	case jitsiv1alpha1.MediaNodePort:
		bridge.AdvertisePort = 30000
	case jitsiv1alpha1.MediaHostPort:
		bridge.NodeName = "n1"
	}
	in := render.Input{
		Deployment:  d,
		Secrets:     render.SecretsFor(d),
		ReceiverURL: "http://127.0.0.1:9090",
		Bridges:     []render.Bridge{bridge},
		Recorders:   render.Recorders{Recording: true, Streaming: true},
	}
	if d.Spec.TURN != nil {
		in.TURN = render.TURNInput{PodCIDRs: []string{"127.0.0.0/8"}, TLSSecret: d.Spec.TURN.TLSSecretName}
	}
	return in
}

// renderedPod is one pod the operator would run, and what it is.
type renderedPod struct {
	what string
	pod  *corev1.Pod
}

// podOf is the pod a Deployment's template makes.
func podOf(dep *appsv1.Deployment) renderedPod {
	t := dep.Spec.Template
	return renderedPod{what: "Deployment " + dep.Name, pod: &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: dep.Name + "-0", Labels: t.Labels, Annotations: t.Annotations},
		Spec:       t.Spec,
	}}
}

// recorder renders a recorder of pool, on card 0 of node n1 for SndAloop audio.
func recorder(d *jitsiv1alpha1.JitsiDeployment, pool *jitsiv1alpha1.JibriPool) renderedPod {
	var card *scaling.Card
	if pool.Spec.Audio == jitsiv1alpha1.AudioSndAloop {
		card = &scaling.Card{Node: "n1", Index: 0}
	}
	return renderedPod{what: "recorder Pod", pod: render.JibriPod(input(d), pool, "recorders-0", card)}
}

// pods are every pod s runs: each Deployment's pod template.
func (s stack) pods() []renderedPod {
	in := input(s.deployment())
	out := []renderedPod{
		podOf(render.ProsodyDeployment(in)),
		podOf(render.JicofoDeployment(in)),
		podOf(render.WebDeployment(in)),
	}
	for _, b := range in.Bridges {
		out = append(out, podOf(render.JVBDeployment(in, b)))
	}
	if dep := render.TURNDeployment(in, in.TURN); dep != nil {
		out = append(out, podOf(dep))
	}
	return out
}

// pods are every pod r runs in a stack of d: a recorder, and the relay's pod template.
func (r recorders) pods(d *jitsiv1alpha1.JitsiDeployment) []renderedPod {
	pool := r.pool()
	out := []renderedPod{recorder(d, pool)}
	if r.relay {
		out = append(out, podOf(render.RelayDeployment(render.RelayInput{
			Deployment: d, Pool: pool, Image: "ghcr.io/jitsi-operator/rtmp-relay:0.1.0", ReceiverURL: input(d).ReceiverURL,
		})))
	}
	return out
}

// withoutHostPorts is pod with every hostPort removed.
func withoutHostPorts(pod *corev1.Pod) *corev1.Pod {
	pod = pod.DeepCopy()
	for i := range pod.Spec.Containers {
		for j := range pod.Spec.Containers[i].Ports {
			pod.Spec.Containers[i].Ports[j].HostPort = 0
		}
	}
	return pod
}

// stacks are every combination of a stack's choices.
func stacks() []TableEntry {
	var entries []TableEntry
	for _, auth := range []jitsiv1alpha1.AuthType{jitsiv1alpha1.AuthJWT, jitsiv1alpha1.AuthAnonymous, jitsiv1alpha1.AuthInternal} {
		for _, media := range []jitsiv1alpha1.MediaType{jitsiv1alpha1.MediaLoadBalancer, jitsiv1alpha1.MediaNodePort, jitsiv1alpha1.MediaHostPort} {
			for _, turn := range []bool{false, true} {
				for _, ingress := range []bool{false, true} {
					s := stack{auth: auth, media: media, turn: turn, ingress: ingress}
					entries = append(entries, Entry(s.String(), s))
				}
			}
		}
	}
	return entries
}

// pools are every combination of a pool's choices.
func pools() []TableEntry {
	var entries []TableEntry
	for _, audio := range []jitsiv1alpha1.AudioType{jitsiv1alpha1.AudioPulseAudio, jitsiv1alpha1.AudioSndAloop} {
		for _, upload := range []bool{false, true} {
			for _, relay := range []bool{false, true} {
				r := recorders{audio: audio, upload: upload, relay: relay}
				entries = append(entries, Entry(r.String(), r))
			}
		}
	}
	return entries
}

var _ = Describe("Pod Security of the rendered pods", func() {
	It("is enforced by this API server: a privileged pod is refused under restricted", func() {
		yes := true
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "guard"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "c", Image: "docker.io/library/busybox:1.38.0",
				SecurityContext: &corev1.SecurityContext{Privileged: &yes},
			}}},
		}
		expectRefused(admit(pod, newNamespace(restricted)), restricted, "privileged")
		Expect(admit(pod, newNamespace(privileged))).To(Succeed(), "a privileged namespace admits it")
	})

	DescribeTable("every pod of a stack is admitted under restricted",
		func(s stack) {
			ns := newNamespace(restricted)
			for _, p := range s.pods() {
				By(p.what)
				err := admit(p.pod, ns)
				if s.media == jitsiv1alpha1.MediaHostPort && p.pod.Labels[render.LabelComponent] == render.ComponentJVB {
					// The documented exception (below): refused for its hostPort, and for
					// nothing else.
					expectRefused(err, restricted, "hostPort")
					Expect(admit(withoutHostPorts(p.pod), ns)).To(Succeed(), "%s without its hostPort", p.what)
					continue
				}
				Expect(err).NotTo(HaveOccurred(), "%s refused", p.what)
			}
		},
		stacks(),
	)

	DescribeTable("every pod of a recorder pool is admitted under restricted",
		func(r recorders) {
			ns := newNamespace(restricted)
			d := stack{auth: jitsiv1alpha1.AuthJWT, media: jitsiv1alpha1.MediaLoadBalancer}.deployment()
			for _, p := range r.pods(d) {
				By(p.what)
				Expect(admit(p.pod, ns)).To(Succeed(), "%s refused", p.what)
			}
		},
		pools(),
	)

	// Exceptions: what the Pod Security Standards forbid below "privileged", and where a spec
	// asks for it.
	Describe("documented exceptions, admitted only where the namespace enforces privileged", func() {
		It("a HostPort bridge: baseline allows hostPort only undefined or 0", func() {
			in := input(stack{auth: jitsiv1alpha1.AuthJWT, media: jitsiv1alpha1.MediaHostPort}.deployment())
			bridge := podOf(render.JVBDeployment(in, in.Bridges[0])).pod

			expectRefused(admit(bridge, newNamespace(restricted)), restricted, `container "jvb" uses hostPort 10000`)
			expectRefused(admit(bridge, newNamespace(baseline)), baseline, `container "jvb" uses hostPort 10000`)
			Expect(admit(bridge, newNamespace(privileged))).To(Succeed())
		})

		It("a recorder of a pool with sndAloop.privileged: true", func() {
			pool := recorders{audio: jitsiv1alpha1.AudioSndAloop}.pool()
			pool.Spec.SndAloop = &jitsiv1alpha1.SndAloopSpec{Privileged: true, CardsPerNode: 8}
			pod := recorder(stack{auth: jitsiv1alpha1.AuthJWT, media: jitsiv1alpha1.MediaLoadBalancer}.deployment(), pool).pod

			expectRefused(admit(pod, newNamespace(restricted)), restricted, "privileged")
			Expect(admit(pod, newNamespace(privileged))).To(Succeed())
		})
	})
})
