// Package v1alpha1 holds the jitsi.operator.dev/v1alpha1 API: JitsiDeployment (one Jitsi Meet
// stack), JibriPool (recorders for a stack) and Meeting (one conference).
//
// +kubebuilder:object:generate=true
// +groupName=jitsi.operator.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the API group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "jitsi.operator.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
