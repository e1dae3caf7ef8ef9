package render

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

// Names the images resolve themselves (nginx, Prosody's libunbound) ignore the DNS search list,
// so every Service name handed to a pod is fully qualified, with the cluster's domain.
func TestServiceNamesAreFullyQualified(t *testing.T) {
	in := input(deployment())
	web := envOf(t, WebDeployment(in).Spec.Template.Spec.Containers[0])
	if got := value(t, web, "XMPP_BOSH_URL_BASE"); got != "http://meet-prosody.video.svc.cluster.local:5280" {
		t.Errorf("XMPP_BOSH_URL_BASE = %s", got)
	}
	pool := jibriPool(jitsiv1alpha1.AudioPulseAudio)
	pool.Spec.Streaming.Relay = &jitsiv1alpha1.RelaySpec{Enabled: true}
	for name, c := range map[string]map[string]string{
		"prosody":  vars(t, ProsodyDeployment(in).Spec.Template.Spec.Containers[0].Env),
		"jicofo":   vars(t, JicofoDeployment(in).Spec.Template.Spec.Containers[0].Env),
		"web":      vars(t, WebDeployment(in).Spec.Template.Spec.Containers[0].Env),
		"jvb":      vars(t, JVBDeployment(in, Bridge{AdvertiseIP: "203.0.113.7"}).Spec.Template.Spec.Containers[0].Env),
		"recorder": vars(t, JibriPod(in, pool, "recorders-a", nil).Spec.Containers[0].Env),
	} {
		if c["XMPP_SERVER"] != "meet-prosody.video.svc.cluster.local" {
			t.Errorf("%s: XMPP_SERVER = %s", name, c["XMPP_SERVER"])
		}
	}
	rec := vars(t, JibriPod(in, pool, "recorders-a", nil).Spec.Containers[0].Env)
	if rec["JITSI_OPERATOR_RELAY_PUBLISH"] != "rtmp://recorders-relay.video.svc.cluster.local:1935/live" {
		t.Errorf("relay URL %s", rec["JITSI_OPERATOR_RELAY_PUBLISH"])
	}

	in.ClusterDomain = "k8s.internal"
	if got := XMPPServer(in); got != "meet-prosody.video.svc.k8s.internal" {
		t.Errorf("another cluster domain: %s", got)
	}
	if got := ServiceHost("jitsi-operator-receiver", "ops", ""); got != "jitsi-operator-receiver.ops.svc.cluster.local" {
		t.Errorf("default domain: %s", got)
	}
}

func vars(t *testing.T, env []corev1.EnvVar) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, e := range env {
		m[e.Name] = e.Value
	}
	return m
}

// With JWT, only Prosody's token_affiliation decides who is a moderator: Jicofo's
// authentication (every token holder an owner) and auto-owner (the first to join an owner) are
// off. Other auth types keep Jicofo's own rules.
func TestModeratorsComeFromTokensOnly(t *testing.T) {
	in := input(deployment())
	prosody := vars(t, ProsodyDeployment(in).Spec.Template.Spec.Containers[0].Env)
	if !strings.Contains(","+prosody["XMPP_MUC_MODULES"]+",", ",token_affiliation,") || prosody["WAIT_FOR_HOST_DISABLE_AUTO_OWNERS"] != "true" {
		t.Errorf("prosody %v", prosody)
	}
	jicofo := vars(t, JicofoDeployment(in).Spec.Template.Spec.Containers[0].Env)
	if jicofo["JICOFO_ENABLE_AUTH"] != "0" || jicofo["ENABLE_AUTO_OWNER"] != "false" {
		t.Errorf("jicofo would make guests moderators: JICOFO_ENABLE_AUTH=%q ENABLE_AUTO_OWNER=%q", jicofo["JICOFO_ENABLE_AUTH"], jicofo["ENABLE_AUTO_OWNER"])
	}
	for _, auth := range []jitsiv1alpha1.AuthType{jitsiv1alpha1.AuthAnonymous, jitsiv1alpha1.AuthInternal} {
		in := input(deployment(func(d *jitsiv1alpha1.JitsiDeployment) { d.Spec.Auth = jitsiv1alpha1.AuthSpec{Type: auth} }))
		prosody := vars(t, ProsodyDeployment(in).Spec.Template.Spec.Containers[0].Env)
		jicofo := vars(t, JicofoDeployment(in).Spec.Template.Spec.Containers[0].Env)
		if prosody["XMPP_MUC_MODULES"] != EventsModuleName {
			t.Errorf("%s: token_affiliation without tokens: %s", auth, prosody["XMPP_MUC_MODULES"])
		}
		if _, set := jicofo["ENABLE_AUTO_OWNER"]; set {
			t.Errorf("%s: Jicofo's owner rules are the image's", auth)
		}
	}
}

// Jicofo's health check fails without bridges: it may decide readiness, never a restart.
func TestJicofoProbesAndPendingTimeout(t *testing.T) {
	c := JicofoDeployment(input(deployment())).Spec.Template.Spec.Containers[0]
	if p := c.ReadinessProbe.HTTPGet; p == nil || p.Path != "/about/health" {
		t.Errorf("readiness %+v", c.ReadinessProbe)
	}
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "startup": c.StartupProbe} {
		if p.HTTPGet != nil || p.TCPSocket == nil || p.TCPSocket.Port.String() != "rest" {
			t.Errorf("%s %+v must not depend on bridges", name, p)
		}
	}
	if got := value(t, envOf(t, c), "JIBRI_PENDING_TIMEOUT"); got != "90 seconds" {
		t.Errorf("JIBRI_PENDING_TIMEOUT = %q: a bare number is milliseconds in HOCON", got)
	}
}

// Prosody's data path is an emptyDir: the accounts are registered again at every start.
func TestProsodyDataPathIsWritable(t *testing.T) {
	pod := ProsodyDeployment(input(deployment())).Spec.Template.Spec
	for _, m := range pod.Containers[0].VolumeMounts {
		if m.MountPath == ProsodyDataDir {
			for _, v := range pod.Volumes {
				if v.Name == m.Name && v.EmptyDir != nil && !m.ReadOnly {
					return
				}
			}
		}
	}
	t.Errorf("no writable emptyDir at %s: %+v", ProsodyDataDir, pod.Containers[0].VolumeMounts)
}
