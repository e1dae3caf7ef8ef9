// Package controllers holds one reconciler per kind (JitsiDeployment, JibriPool, Meeting). Each
// reconciler is a short list of named steps; child objects are rendered by internal/render and
// written only through the apply helper.
package controllers

// The reconcilers record Events (events.k8s.io) on the objects they manage. Leader election's
// Lease, and the core Events about it, are in the operator's own namespace: the Helm chart grants
// them there with a Role, never cluster-wide.
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
