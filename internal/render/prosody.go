package render

import (
	_ "embed"
	"fmt"
	"strings"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// EventsModule is the operator's own Prosody module (mod_jitsi_operator_events.lua): it posts
// room and occupant events, signed with HMAC-SHA256, to the operator's receiver.
//
//go:embed prosody/mod_jitsi_operator_events.lua
var EventsModule string

// EventsModuleName is the module's name as Prosody loads it.
const EventsModuleName = "jitsi_operator_events"

// Files of the Prosody ConfigMap.
const (
	prosodyConfFile   = "jitsi-operator.cfg.lua"
	prosodyModuleFile = "mod_" + EventsModuleName + ".lua"
	// EnvEventsSecret carries the webhook secret into Prosody's config (Prosody exposes each
	// variable as ENV_<name>), so the secret never sits in the ConfigMap.
	EnvEventsSecret = "JITSI_OPERATOR_EVENTS_SECRET"
)

// ProsodyConfigMap holds the operator's Prosody module and the config that points it at the
// receiver. Nil when events go elsewhere (spec.webhooks.url) and no module is wanted.
func ProsodyConfigMap(in Input) *corev1.ConfigMap {
	d := in.Deployment
	url := in.ReceiverURL
	if d.Spec.Webhooks.URL != "" {
		url = d.Spec.Webhooks.URL
	}
	conf := fmt.Sprintf(`-- Rendered by jitsi-operator: where the %s module posts events.
jitsi_operator_events_url = %q
jitsi_operator_events_secret = ENV_%s
jitsi_operator_events_hidden_domain = %q
-- Joins the receiver cannot check: admitted only to rooms it said are public or have no Meeting,
-- and only when this is true (spec.webhooks.admitPublicRoomsWhenReceiverDown).
jitsi_operator_admit_public_when_unreachable = %t
`, EventsModuleName, EventsURL(d, url), EnvEventsSecret, XMPPHiddenDomain, AdmitPublicRoomsWhenReceiverDown(d))
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: objectMeta(d, ProsodyConfig(d), Labels(d, ComponentProsody)),
		Data: map[string]string{
			prosodyConfFile:   conf,
			prosodyModuleFile: EventsModule,
		},
	}
}

// AdmitPublicRoomsWhenReceiverDown is spec.webhooks.admitPublicRoomsWhenReceiverDown, true when
// unset.
func AdmitPublicRoomsWhenReceiverDown(d *jitsiv1alpha1.JitsiDeployment) bool {
	if v := d.Spec.Webhooks.AdmitPublicRoomsWhenReceiverDown; v != nil {
		return *v
	}
	return true
}

// prosodyConfigHash is the hash of the Prosody ConfigMap's files, with hash (the hash of the
// Secrets Prosody reads, "" without) mixed in. Prosody reads its config and modules only at
// start, and a subPath mount never sees a changed ConfigMap: the hash in the pod template rolls
// Prosody when either file changes (a setting, or the module after an operator upgrade).
func prosodyConfigHash(in Input, hash string) string {
	values := map[string][]byte{"secrets": []byte(hash)}
	for k, v := range ProsodyConfigMap(in).Data {
		values["file/"+k] = []byte(v)
	}
	return Hash(values)
}

// EventsURL is where d's Prosody module posts: the receiver's events endpoint, naming the
// deployment so that the receiver checks the signature with that deployment's secret.
func EventsURL(d *jitsiv1alpha1.JitsiDeployment, base string) string {
	return base + "/v1/prosody/events?deployment=" + d.Namespace + "/" + d.Name
}

// ProsodyDataDir is Prosody's data path: an emptyDir. The accounts in it (Jicofo, the bridges,
// the recorders) are registered again from the generated Secret at every start (the image's
// 70-register-setup step), so nothing is lost with the pod; Prosody keeps rooms in memory.
const ProsodyDataDir = "/var/lib/prosody"

// ProsodyDeployment runs the XMPP server. One replica: Prosody keeps rooms in memory, and two
// would split every conference.
func ProsodyDeployment(in Input) *appsv1.Deployment {
	d := in.Deployment
	one := int32(1)
	managed := append(contractEnv(ComponentProsody), xmppEnv(in)...)
	managed = append(managed, authEnv(d)...)
	managed = append(managed,
		secretEnv("JICOFO_AUTH_PASSWORD", selector(in.Secrets.Generated, KeyJicofoPassword)),
		secretEnv("JVB_AUTH_PASSWORD", selector(in.Secrets.Generated, KeyJVBPassword)),
		secretEnv("JIBRI_XMPP_PASSWORD", selector(in.Secrets.Generated, KeyJibriPassword)),
		secretEnv("JIBRI_RECORDER_PASSWORD", selector(in.Secrets.Generated, KeyRecorderPassword)),
		secretEnv(EnvEventsSecret, in.Secrets.Webhook),
		env("XMPP_MUC_MODULES", strings.Join(mucModules(d), ",")),
		env("JVB_BREWERY_MUC", JVBBreweryMUC),
		// The recorders' accounts (jibri, recorder on the hidden domain) exist only with recording.
		env("ENABLE_RECORDING", flag(in.Recorders.Recording)),
	)
	managed = append(managed, jwtEnv(in)...)
	managed = append(managed, moderatorRolesEnv(d)...)
	// TURN servers with time-limited credentials for clients behind networks that block UDP.
	managed = append(managed, TURNEnv(in, in.TURN)...)

	pod := corev1.PodSpec{
		Containers: []corev1.Container{{
			Name:  ComponentProsody,
			Image: image(d, ComponentProsody),
			Env:   withUserEnv(managed, d.Spec.Prosody.Env),
			Ports: []corev1.ContainerPort{
				{Name: "xmpp-c2s", ContainerPort: XMPPPort, Protocol: corev1.ProtocolTCP},
				{Name: "http", ContainerPort: ProsodyHTTPPort, Protocol: corev1.ProtocolTCP},
			},
			// /health answers 403 to anyone but localhost, the kubelet included: ask from inside.
			ReadinessProbe: execProbe([]string{"/usr/local/bin/healthcheck.sh"}, 10, 3),
			LivenessProbe:  execProbe([]string{"/usr/local/bin/healthcheck.sh"}, 30, 5),
			StartupProbe:   execProbe([]string{"/usr/local/bin/healthcheck.sh"}, 5, 60),
			VolumeMounts: []corev1.VolumeMount{
				{Name: "operator-config", MountPath: "/config/conf.d/" + prosodyConfFile, SubPath: prosodyConfFile, ReadOnly: true},
				{Name: "operator-config", MountPath: "/prosody-plugins-custom/" + prosodyModuleFile, SubPath: prosodyModuleFile, ReadOnly: true},
			},
		}},
		Volumes: []corev1.Volume{{
			Name: "operator-config",
			VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: ProsodyConfig(d)},
			}},
		}},
	}
	placement(&pod, d.Spec.Prosody.Placement)
	restrictedPod(&pod, d, ComponentProsody)

	// A copy: the caller's map is shared with the other renderers.
	hashes := map[string]string{}
	for k, v := range in.ConfigHashes {
		hashes[k] = v
	}
	hashes[ComponentProsody] = prosodyConfigHash(in, in.ConfigHashes[ComponentProsody])
	in.ConfigHashes = hashes

	// Never two Prosodys at once: components would connect to either.
	return componentDeployment(in, ComponentProsody, Prosody(d), &one, appsv1.RecreateDeploymentStrategyType, pod)
}

// ProsodyService is the XMPP server's address for every other component, and BOSH and
// websocket for the web front end.
func ProsodyService(in Input) *corev1.Service {
	return componentService(in, ComponentProsody, Prosody(in.Deployment),
		corev1.ServicePort{Name: "xmpp-c2s", Port: XMPPPort},
		corev1.ServicePort{Name: "http", Port: ProsodyHTTPPort})
}

// JWTSettings are the app id, issuer and audience tokens must carry for d: the spec's, with
// "jitsi" for an unset app id or audience and the app id for an unset issuer.
func JWTSettings(d *jitsiv1alpha1.JitsiDeployment) (appID, issuer, audience string) {
	appID, audience = "jitsi", "jitsi"
	if j := d.Spec.Auth.JWT; j != nil {
		if j.AppID != "" {
			appID = j.AppID
		}
		if j.Audience != "" {
			audience = j.Audience
		}
		issuer = j.Issuer
	}
	if issuer == "" {
		issuer = appID
	}
	return appID, issuer, audience
}

// jwtEnv configures Prosody's token authentication.
func jwtEnv(in Input) []corev1.EnvVar {
	d := in.Deployment
	if d.Spec.Auth.Type != jitsiv1alpha1.AuthJWT {
		return nil
	}
	appID, issuer, audience := JWTSettings(d)
	return []corev1.EnvVar{
		env("JWT_APP_ID", appID),
		secretEnv("JWT_APP_SECRET", in.Secrets.JWT),
		env("JWT_ACCEPTED_ISSUERS", issuer),
		env("JWT_ACCEPTED_AUDIENCES", audience),
		env("JWT_SIGN_TYPE", "HS256"),
		// The recorder joins from the hidden domain without a token.
		env("JWT_TOKEN_AUTH_MODULE", "token_verification"),
	}
}

// TokenAffiliationModule is jitsi-meet's MUC module that makes an occupant owner (moderator)
// when its token's context.user.moderator is true (or "true", or context.user.affiliation is
// owner, moderator or teacher) and member otherwise, before the join completes. The image ships it
// in /prosody-plugins: prosody/Dockerfile copies jitsi-meet-prosody's
// /usr/share/jitsi-meet/prosody-plugins there, and jitsi-meet's
// resources/prosody-plugins/mod_token_affiliation.lua is that module (jitsi-contrib
// prosody-plugins token_affiliation_legacy/README.md: "Jitsi officially provides a
// token_affiliation module now").
const TokenAffiliationModule = "token_affiliation"

// mucModules are the modules added to the conference MUC (XMPP_MUC_MODULES): the operator's
// events module, and with JWT auth token_affiliation, so that a moderator token makes a moderator
// and a guest token does not (no stock module grants moderator from a token).
func mucModules(d *jitsiv1alpha1.JitsiDeployment) []string {
	modules := []string{EventsModuleName}
	if d.Spec.Auth.Type == jitsiv1alpha1.AuthJWT {
		modules = append(modules, TokenAffiliationModule)
	}
	return modules
}

// moderatorRolesEnv is Prosody's half of moderators from tokens (jicofoRolesEnv is Jicofo's):
// should muc_wait_for_host be enabled through env, it must not make every token holder owner
// (prosody/rootfs/defaults/conf.d/jitsi-meet.cfg.lua: wait_for_host_disable_auto_owners).
func moderatorRolesEnv(d *jitsiv1alpha1.JitsiDeployment) []corev1.EnvVar {
	if d.Spec.Auth.Type != jitsiv1alpha1.AuthJWT {
		return nil
	}
	return []corev1.EnvVar{env("WAIT_FOR_HOST_DISABLE_AUTO_OWNERS", "true")}
}

func podMeta(in Input, component string, labels map[string]string) metav1.ObjectMeta {
	m := metav1.ObjectMeta{Labels: labels}
	if h := in.ConfigHashes[component]; h != "" {
		m.Annotations = map[string]string{AnnotationConfigHash: h}
	}
	return m
}

func execProbe(cmd []string, period, failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:     corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: cmd}},
		PeriodSeconds:    period,
		TimeoutSeconds:   5,
		FailureThreshold: failures,
	}
}

func tcpProbe(port string, period, failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:     corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString(port)}},
		PeriodSeconds:    period,
		TimeoutSeconds:   5,
		FailureThreshold: failures,
	}
}

func httpProbe(path string, port string, period, failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString(port)}},
		PeriodSeconds:    period,
		TimeoutSeconds:   5,
		FailureThreshold: failures,
	}
}
