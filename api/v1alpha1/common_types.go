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
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`
}
