// Package controllers holds one reconciler per kind (JitsiDeployment, JibriPool, Meeting). Each
// reconciler is a short list of named steps; child objects are rendered by internal/render and
// written only through the apply helper.
package controllers

// The manager itself elects a leader with a Lease and records Events on the objects it manages.
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=core,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
