package render

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/scaling"
)

// renderedPod is one pod a renderer produced, with the container that runs the upstream image.
type renderedPod struct {
	name, component string
	spec            corev1.PodSpec
}

// specCase is one combination of the settings that change what the pods look like.
type specCase struct {
	auth   jitsiv1alpha1.AuthType
	media  jitsiv1alpha1.MediaType
	turn   bool
	ingres bool
	audio  string // PulseAudio, SndAloop-device, SndAloop-privileged
	upload bool
	relay  bool
}

func (c specCase) String() string {
	return fmt.Sprintf("%s/%s/turn=%v/ingress=%v/%s/upload=%v/relay=%v", c.auth, c.media, c.turn, c.ingres, c.audio, c.upload, c.relay)
}

// specMatrix is every combination of those settings.
func specMatrix() []specCase {
	var cases []specCase
	for _, auth := range []jitsiv1alpha1.AuthType{jitsiv1alpha1.AuthJWT, jitsiv1alpha1.AuthAnonymous, jitsiv1alpha1.AuthInternal} {
		for _, media := range []jitsiv1alpha1.MediaType{jitsiv1alpha1.MediaLoadBalancer, jitsiv1alpha1.MediaNodePort, jitsiv1alpha1.MediaHostPort} {
			for _, audio := range []string{"PulseAudio", "SndAloop-device", "SndAloop-privileged"} {
				for flags := range 16 {
					cases = append(cases, specCase{auth: auth, media: media, audio: audio,
						turn: flags&1 != 0, ingres: flags&2 != 0, upload: flags&4 != 0, relay: flags&8 != 0})
				}
			}
		}
	}
	return cases
}

// render renders every pod of case c: the stack's Deployments, a bridge, the managed TURN server
// and a recorder.
func (c specCase) render() []renderedPod {
	d := deployment(func(d *jitsiv1alpha1.JitsiDeployment) {
		d.Spec.Auth.Type = c.auth
		if c.auth != jitsiv1alpha1.AuthJWT {
			d.Spec.Auth.JWT = nil
		}
		d.Spec.JVB.Media.Type = c.media
		if c.turn {
			d.Spec.TURN = &jitsiv1alpha1.TURNSpec{Managed: true, TLSSecretName: "turn-tls"}
		}
		if c.ingres {
			d.Spec.Web.Ingress = &jitsiv1alpha1.IngressSpec{Enabled: true}
		}
	})
	in := input(d)
	in.Recorders = Recorders{Recording: true, Streaming: true}
	pool := jibriPool(jitsiv1alpha1.AudioPulseAudio)
	var card *scaling.Card
	if c.audio != "PulseAudio" {
		pool.Spec.Audio = jitsiv1alpha1.AudioSndAloop
		pool.Spec.SndAloop = &jitsiv1alpha1.SndAloopSpec{CardsPerNode: 8, DeviceResource: "squat.ai/snd"}
		if c.audio == "SndAloop-privileged" {
			pool.Spec.SndAloop = &jitsiv1alpha1.SndAloopSpec{CardsPerNode: 8, Privileged: true}
		}
		card = &scaling.Card{Node: "node-a", Index: 2}
	}
	if c.upload {
		pool.Spec.Recordings.Upload = &jitsiv1alpha1.UploadSpec{S3: &jitsiv1alpha1.S3UploadSpec{Bucket: "recordings",
			CredentialsSecretRef: jitsiv1alpha1.SecretReference{Name: "s3"}}}
	}
	if c.relay {
		pool.Spec.Streaming.Relay = &jitsiv1alpha1.RelaySpec{Enabled: true}
	}
	bridge := Bridge{Index: 0, AdvertiseIP: "203.0.113.7"}
	if c.media == jitsiv1alpha1.MediaHostPort {
		bridge.NodeName = "node-a"
	}
	pods := []renderedPod{
		{"prosody", ComponentProsody, ProsodyDeployment(in).Spec.Template.Spec},
		{"jicofo", ComponentJicofo, JicofoDeployment(in).Spec.Template.Spec},
		{"web", ComponentWeb, WebDeployment(in).Spec.Template.Spec},
		{"jvb-0", ComponentJVB, JVBDeployment(in, bridge).Spec.Template.Spec},
		{"recorder", ComponentJibri, JibriPod(in, pool, "recorders-a1", card).Spec},
	}
	if t := TURNDeployment(in, TURNInput{TLSSecret: "turn-tls"}); t != nil {
		pods = append(pods, renderedPod{"turn", ComponentTURN, t.Spec.Template.Spec})
	}
	return pods
}

// TestImageContract checks every pod the renderers produce, for every combination of the
// settings that shape them, against its image's contract. A privileged SndAloop recorder is the
// one documented exception: privileged cannot go with allowPrivilegeEscalation false.
func TestImageContract(t *testing.T) {
	cases := specMatrix()
	if len(cases) < 200 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		for _, p := range c.render() {
			contract, ok := Contracts[p.component]
			if !ok {
				t.Fatalf("%s: no contract for %s", c, p.component)
			}
			bad := contract.Check(&p.spec, p.spec.Containers[0].Name)
			if p.component == ComponentJibri && c.audio == "SndAloop-privileged" {
				if !slices.Equal(bad, []string{"allowPrivilegeEscalation must be false"}) {
					t.Errorf("%s %s: the privileged opt-in breaks more than allowPrivilegeEscalation: %v", c, p.name, bad)
				}
				continue
			}
			for _, b := range bad {
				t.Errorf("%s %s: %s", c, p.name, b)
			}
		}
	}
}

// TestContractCheckCatchesWhatTheImagesRefuse makes sure Check fails for each way a pod can break
// an image, so that a green TestImageContract means something.
func TestContractCheckCatchesWhatTheImagesRefuse(t *testing.T) {
	good := func(component string) corev1.PodSpec {
		for _, p := range (specCase{auth: jitsiv1alpha1.AuthJWT, media: jitsiv1alpha1.MediaLoadBalancer, audio: "PulseAudio", turn: true}).render() {
			if p.component == component {
				return p.spec
			}
		}
		t.Fatalf("no %s pod", component)
		return corev1.PodSpec{}
	}
	for _, tc := range []struct {
		component, want string
		breakIt         func(*corev1.PodSpec)
	}{
		{ComponentProsody, EnvS6KubernetesRun, func(p *corev1.PodSpec) {
			p.Containers[0].Env = slices.DeleteFunc(p.Containers[0].Env, func(e corev1.EnvVar) bool { return e.Name == EnvS6KubernetesRun })
		}},
		{ComponentProsody, "/var/lib/prosody must be a writable mount", func(p *corev1.PodSpec) {
			p.Containers[0].VolumeMounts = slices.DeleteFunc(p.Containers[0].VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == ProsodyDataDir })
		}},
		{ComponentWeb, "/run must be a writable mount", func(p *corev1.PodSpec) {
			for i := range p.Containers[0].VolumeMounts {
				if p.Containers[0].VolumeMounts[i].MountPath == "/run" {
					p.Containers[0].VolumeMounts[i].ReadOnly = true
				}
			}
		}},
		{ComponentJicofo, "liveness must not probe /about/health", func(p *corev1.PodSpec) {
			p.Containers[0].LivenessProbe = httpProbe("/about/health", "rest", 30, 5)
		}},
		{ComponentJicofo, "JICOFO_AUTH_PASSWORD must be set", func(p *corev1.PodSpec) {
			p.Containers[0].Env = slices.DeleteFunc(p.Containers[0].Env, func(e corev1.EnvVar) bool { return e.Name == "JICOFO_AUTH_PASSWORD" })
		}},
		{ComponentJVB, "allowPrivilegeEscalation must be false", func(p *corev1.PodSpec) {
			yes := true
			p.Containers[0].SecurityContext.AllowPrivilegeEscalation = &yes
		}},
		{ComponentJVB, "port http must be 8080/TCP", func(p *corev1.PodSpec) { p.Containers[0].Ports = p.Containers[0].Ports[:1] }},
		{ComponentJibri, "/dev/shm must be memory of at least 2Gi", func(p *corev1.PodSpec) {
			for i := range p.Volumes {
				if p.Volumes[i].Name == "shm" {
					p.Volumes[i].EmptyDir.Medium = ""
				}
			}
		}},
		{ComponentJibri, "must run as uid 1000", func(p *corev1.PodSpec) {
			uid := int64(0)
			p.SecurityContext.RunAsUser = &uid
		}},
		{ComponentTURN, "capability NET_BIND_SERVICE must stay", func(p *corev1.PodSpec) {
			p.Containers[0].SecurityContext.Capabilities.Add = nil
		}},
	} {
		spec := good(tc.component)
		if bad := Contracts[tc.component].Check(&spec, spec.Containers[0].Name); len(bad) != 0 {
			t.Fatalf("%s: the unbroken pod fails: %v", tc.component, bad)
		}
		tc.breakIt(&spec)
		bad := Contracts[tc.component].Check(&spec, spec.Containers[0].Name)
		if !slices.ContainsFunc(bad, func(b string) bool { return strings.Contains(b, tc.want) }) {
			t.Errorf("%s: breaking it for %q went unnoticed: %v", tc.component, tc.want, bad)
		}
	}
}
