package render

import (
	corev1 "k8s.io/api/core/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

// Input is everything a renderer may read. The reconciler fills it from the spec and from what
// it observed; renderers never look anything up themselves.
type Input struct {
	Deployment *jitsiv1alpha1.JitsiDeployment

	// Secrets says where each secret value comes from.
	Secrets Secrets

	// ClusterDomain is the cluster's DNS domain (DefaultClusterDomain when empty): every
	// Service name handed to a pod is fully qualified with it (ServiceHost).
	ClusterDomain string

	// ReceiverURL is the base URL of the operator's webhook receiver as Prosody reaches it,
	// without a trailing slash. Empty when spec.webhooks.url sends events elsewhere.
	ReceiverURL string

	// Bridges are the videobridges wanted, in index order, with what is known of their media
	// address.
	Bridges []Bridge

	// TURN is what the TURN renderers read beyond the spec (pod networks, certificate).
	TURN TURNInput

	// Recorders says whether JibriPools record (and stream) this deployment's meetings; the
	// stack's recording and live-streaming features are on only then.
	Recorders Recorders

	// SndAloopLoaderImage is the image of the privileged init container that loads snd-aloop
	// for privileged SndAloop pools on unprepared nodes (DefaultSndAloopLoaderImage when empty).
	SndAloopLoaderImage string

	// OperatorNamespace is the namespace the operator's pods run in (DefaultOperatorNamespace
	// when empty), and OperatorPodLabels are labels every operator pod carries (its selector
	// labels). JibriAPINetworkPolicy admits only those pods to the recorders' HTTP API.
	OperatorNamespace string
	OperatorPodLabels map[string]string

	// ConfigHashes are hashes of inputs a component reads that live outside its pod template
	// (the contents of user Secrets, for example), by component. A change rolls that component.
	ConfigHashes map[string]string
}

// Secrets names the Secret keys each secret value is read from. Values never pass through the
// renderer; pods read them through secretKeyRef.
type Secrets struct {
	// Generated is the Secret the operator generates once (GeneratedSecret).
	Generated string
	// JWT is the HS256 signing secret: the user's auth.jwt.secretRef, or a generated key.
	JWT corev1.SecretKeySelector
	// Webhook is the shared secret Prosody signs its events with: the user's
	// webhooks.secretRef, or a generated key.
	Webhook corev1.SecretKeySelector
	// TURN is the TURN servers' shared secret: turn.credentialsSecretRef, or (managed) a
	// generated key. Empty without turn.
	TURN corev1.SecretKeySelector
}

// Recorders is what the deployment's JibriPools offer.
type Recorders struct {
	// Recording: at least one pool exists.
	Recording bool
	// Streaming: at least one pool streams (spec.streaming.enabled).
	Streaming bool
}

// JibriBreweryMUC is the room (on the internal MUC domain) where recorders wait for Jicofo.
const JibriBreweryMUC = "jibribrewery"

// recordingEnv switches the recording and live-streaming features of a component.
func recordingEnv(in Input) []corev1.EnvVar {
	return []corev1.EnvVar{env("ENABLE_RECORDING", flag(in.Recorders.Recording)), env("ENABLE_LIVESTREAMING", flag(in.Recorders.Streaming))}
}

func flag(on bool) string {
	if on {
		return "1"
	}
	return "0"
}

// Bridge is one videobridge and its media address.
type Bridge struct {
	// Index is the bridge's number, part of its name.
	Index int
	// AdvertiseIP is the address clients send media to; empty while it is not known, and the
	// bridge then does not run (a bridge that advertises a wrong address breaks calls).
	AdvertiseIP string
	// AdvertisePort is the port clients send media to, when it differs from the media port
	// (a node port).
	AdvertisePort int32
	// NodeName pins the bridge to a node (HostPort media), whose address it advertises.
	NodeName string
}

// Keys of the generated Secret. They are created once and never rewritten, so that upgrades and
// operator restarts keep every account working.
const (
	KeyJicofoPassword   = "JICOFO_AUTH_PASSWORD"
	KeyJVBPassword      = "JVB_AUTH_PASSWORD"
	KeyJibriPassword    = "JIBRI_XMPP_PASSWORD"
	KeyRecorderPassword = "JIBRI_RECORDER_PASSWORD"
	KeyJWTSecret        = "JWT_APP_SECRET"
	KeyWebhookSecret    = "WEBHOOK_SECRET"
	KeyTURNSecret       = "TURN_SECRET"
)

// GeneratedKeys are the keys the generated Secret must hold for d.
func GeneratedKeys(d *jitsiv1alpha1.JitsiDeployment) []string {
	keys := []string{KeyJicofoPassword, KeyJVBPassword, KeyJibriPassword, KeyRecorderPassword}
	if d.Spec.Auth.Type == jitsiv1alpha1.AuthJWT && (d.Spec.Auth.JWT == nil || d.Spec.Auth.JWT.SecretRef == nil) {
		keys = append(keys, KeyJWTSecret)
	}
	if t := d.Spec.TURN; t != nil && t.Managed && t.CredentialsSecretRef == nil {
		keys = append(keys, KeyTURNSecret)
	}
	if d.Spec.Webhooks.SecretRef == nil {
		keys = append(keys, KeyWebhookSecret)
	}
	return keys
}

// SecretsFor says where d's secret values come from.
func SecretsFor(d *jitsiv1alpha1.JitsiDeployment) Secrets {
	gen := GeneratedSecret(d)
	s := Secrets{
		Generated: gen,
		JWT:       selector(gen, KeyJWTSecret),
		Webhook:   selector(gen, KeyWebhookSecret),
	}
	if j := d.Spec.Auth.JWT; j != nil && j.SecretRef != nil {
		s.JWT = selector(j.SecretRef.Name, j.SecretRef.Key)
	}
	if r := d.Spec.Webhooks.SecretRef; r != nil {
		s.Webhook = selector(r.Name, r.Key)
	}
	if t := d.Spec.TURN; t != nil {
		s.TURN = selector(gen, KeyTURNSecret)
		if t.CredentialsSecretRef != nil {
			s.TURN = selector(t.CredentialsSecretRef.Name, t.CredentialsSecretRef.Key)
		}
	}
	return s
}

func selector(name, key string) corev1.SecretKeySelector {
	return corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key}
}
