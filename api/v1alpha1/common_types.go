package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
)

// LocalObjectReference names an object of a known kind in the same namespace.
type LocalObjectReference struct {
	// name of the referenced object, in the same namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`
}

// SecretKeyReference names one key of a Secret in the same namespace.
type SecretKeyReference struct {
	// name of the Secret, in the same namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// key inside the Secret's data.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +required
	Key string `json:"key"`
}

// SecretReference names a whole Secret in the same namespace; the keys it must hold are
// given where it is used.
type SecretReference struct {
	// name of the Secret, in the same namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`
}

// Placement says where a component's pods run and what they may use.
type Placement struct {
	// resources are the CPU and memory requests and limits of the component's main container.
	// Default: none (the cluster's defaults apply).
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// nodeSelector restricts the component's pods to nodes with these labels.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// tolerations let the component's pods run on tainted nodes.
	// +listType=atomic
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// affinity is the scheduling affinity of the component's pods. The operator adds its own
	// rules where a component needs them (one bridge per node with HostPort media).
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`
}

// ComponentSpec configures one stack component (Prosody, Jicofo).
type ComponentSpec struct {
	Placement `json:",inline"`

	// env adds or overrides environment variables of the component's container, using the
	// docker-jitsi-meet image's variable names (for example ENABLE_LOBBY). Variables the
	// operator manages (domains, passwords, auth) cannot be overridden here.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:XValidation:rule="self.all(e, !(e.name in ['AUTH_TYPE','DISABLE_HTTPS','ENABLE_AUTH','ENABLE_AUTO_OWNER','ENABLE_GUESTS','ENABLE_HTTP_REDIRECT','ENABLE_LETSENCRYPT','ENABLE_LIVESTREAMING','ENABLE_RECORDING','ENABLE_XMPP_WEBSOCKET','JIBRI_BREWERY_MUC','JIBRI_PENDING_TIMEOUT','JIBRI_RECORDER_PASSWORD','JIBRI_XMPP_PASSWORD','JICOFO_AUTH_PASSWORD','JICOFO_ENABLE_AUTH','JICOFO_ENABLE_HEALTH_CHECKS','JICOFO_ENABLE_REST','JITSI_OPERATOR_EVENTS_SECRET','JVB_AUTH_PASSWORD','JVB_BREWERY_MUC','JWT_ACCEPTED_AUDIENCES','JWT_ACCEPTED_ISSUERS','JWT_APP_ID','JWT_APP_SECRET','JWT_SIGN_TYPE','JWT_TOKEN_AUTH_MODULE','PUBLIC_URL','S6_YES_I_WANT_A_WORLD_WRITABLE_RUN_BECAUSE_KUBERNETES','TURNS_HOST','TURNS_PORT','TURN_CREDENTIALS','TURN_HOST','TURN_PORT','TURN_TRANSPORT','TURN_TTL','TZ','WAIT_FOR_HOST_DISABLE_AUTO_OWNERS','XMPP_AUTH_DOMAIN','XMPP_BOSH_URL_BASE','XMPP_DOMAIN','XMPP_GUEST_DOMAIN','XMPP_HIDDEN_DOMAIN','XMPP_INTERNAL_MUC_DOMAIN','XMPP_MUC_DOMAIN','XMPP_MUC_MODULES','XMPP_PORT','XMPP_SERVER']))",message="env cannot set the variables the operator manages (XMPP domains and server, PUBLIC_URL, auth, JWT and moderator settings, passwords and secrets, TZ, the web front end's HTTP settings and the images' s6 setting); see ManagedEnv in api/v1alpha1"
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`
}

// ManagedEnv are the environment variables the operator sets on Prosody, Jicofo and the web front
// end itself, so that the components stay wired to each other; a component's env cannot set
// them. The CEL rule on ComponentSpec.Env lists the same names (tests keep the two equal, and
// equal to what the renderers set).
var ManagedEnv = []string{
	"AUTH_TYPE",
	"DISABLE_HTTPS",
	"ENABLE_AUTH",
	"ENABLE_AUTO_OWNER",
	"ENABLE_GUESTS",
	"ENABLE_HTTP_REDIRECT",
	"ENABLE_LETSENCRYPT",
	"ENABLE_LIVESTREAMING",
	"ENABLE_RECORDING",
	"ENABLE_XMPP_WEBSOCKET",
	"JIBRI_BREWERY_MUC",
	"JIBRI_PENDING_TIMEOUT",
	"JIBRI_RECORDER_PASSWORD",
	"JIBRI_XMPP_PASSWORD",
	"JICOFO_AUTH_PASSWORD",
	"JICOFO_ENABLE_AUTH",
	"JICOFO_ENABLE_HEALTH_CHECKS",
	"JICOFO_ENABLE_REST",
	"JITSI_OPERATOR_EVENTS_SECRET",
	"JVB_AUTH_PASSWORD",
	"JVB_BREWERY_MUC",
	"JWT_ACCEPTED_AUDIENCES",
	"JWT_ACCEPTED_ISSUERS",
	"JWT_APP_ID",
	"JWT_APP_SECRET",
	"JWT_SIGN_TYPE",
	"JWT_TOKEN_AUTH_MODULE",
	"PUBLIC_URL",
	"S6_YES_I_WANT_A_WORLD_WRITABLE_RUN_BECAUSE_KUBERNETES",
	"TURNS_HOST",
	"TURNS_PORT",
	"TURN_CREDENTIALS",
	"TURN_HOST",
	"TURN_PORT",
	"TURN_TRANSPORT",
	"TURN_TTL",
	"TZ",
	"WAIT_FOR_HOST_DISABLE_AUTO_OWNERS",
	"XMPP_AUTH_DOMAIN",
	"XMPP_BOSH_URL_BASE",
	"XMPP_DOMAIN",
	"XMPP_GUEST_DOMAIN",
	"XMPP_HIDDEN_DOMAIN",
	"XMPP_INTERNAL_MUC_DOMAIN",
	"XMPP_MUC_DOMAIN",
	"XMPP_MUC_MODULES",
	"XMPP_PORT",
	"XMPP_SERVER",
}
