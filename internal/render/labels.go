package render

import (
	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

// Label keys of API.md's table, set on every child object.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelComponent = "app.kubernetes.io/component"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelPool      = "jitsi.operator.dev/pool"
	// LabelBridge tells one videobridge's pod apart from the others, so that its media Service
	// selects exactly that bridge.
	LabelBridge = "jitsi.operator.dev/bridge"

	ManagedBy = "jitsi-operator"
	AppName   = "jitsi"
)

// Annotations on a recorder's Pod. The receiver keeps the first three from its Jibri's webhooks;
// the JibriPool controller writes the assignment, and the renderer the loopback card.
const (
	// AnnotationJibriBusy is the last busyStatus the recorder posted (IDLE, BUSY, EXPIRED).
	AnnotationJibriBusy = "jitsi.operator.dev/jibri-busy-status"
	// AnnotationJibriHealth is the last healthStatus it posted (HEALTHY, UNHEALTHY).
	AnnotationJibriHealth = "jitsi.operator.dev/jibri-health"
	// AnnotationJibriSession is "<session id> <status>" of the last session status it posted.
	AnnotationJibriSession = "jitsi.operator.dev/jibri-session"
	// AnnotationJibriFailure is "<session id> <reason>" of the last session Jibri ended with a
	// failure (status OFF with a failure object): its reason and error detail, addresses removed.
	AnnotationJibriFailure = "jitsi.operator.dev/jibri-failure"
	// AnnotationJibriAssignment is "<meeting> <session id>": the recording the operator started on it.
	AnnotationJibriAssignment = "jitsi.operator.dev/jibri-assignment"
	// AnnotationJibriAssignedAt is when the operator gave the recorder that session (RFC 3339):
	// its start deadline runs from there, across operator restarts.
	AnnotationJibriAssignedAt = "jitsi.operator.dev/jibri-assigned-at"
	// AnnotationALSACard is the index of the recorder's loopback card on its node (SndAloop audio).
	AnnotationALSACard = "jitsi.operator.dev/alsa-card"
)

// Components, the values of LabelComponent.
const (
	ComponentProsody = "prosody"
	ComponentJicofo  = "jicofo"
	ComponentJVB     = "jvb"
	ComponentWeb     = "web"
	ComponentJibri   = "jibri"
)

// Labels are the labels of every child object of component.
func Labels(d *jitsiv1alpha1.JitsiDeployment, component string) map[string]string {
	return map[string]string{
		LabelName:      AppName,
		LabelInstance:  d.Name,
		LabelComponent: component,
		LabelManagedBy: ManagedBy,
	}
}

// SelectorLabels select the pods of component. They are few and never change, because a
// Deployment's selector is immutable; user labels never reach a selector.
func SelectorLabels(d *jitsiv1alpha1.JitsiDeployment, component string) map[string]string {
	return map[string]string{
		LabelName:      AppName,
		LabelInstance:  d.Name,
		LabelComponent: component,
	}
}

// PoolLabels are the labels of a JibriPool's recorders and of the pool's objects that go with
// them (its Secret, its recorders' NetworkPolicy).
func PoolLabels(d *jitsiv1alpha1.JitsiDeployment, pool *jitsiv1alpha1.JibriPool) map[string]string {
	l := Labels(d, ComponentJibri)
	l[LabelPool] = pool.Name
	return l
}

// PoolSelectorLabels select the recorders of pool. Like SelectorLabels they are few and never
// change.
func PoolSelectorLabels(d *jitsiv1alpha1.JitsiDeployment, pool *jitsiv1alpha1.JibriPool) map[string]string {
	l := SelectorLabels(d, ComponentJibri)
	l[LabelPool] = pool.Name
	return l
}

// BridgeSelectorLabels select the pod of videobridge i.
func BridgeSelectorLabels(d *jitsiv1alpha1.JitsiDeployment, i int) map[string]string {
	l := SelectorLabels(d, ComponentJVB)
	l[LabelBridge] = JVB(d, i)
	return l
}

// BridgeLabels are the labels of videobridge i's objects.
func BridgeLabels(d *jitsiv1alpha1.JitsiDeployment, i int) map[string]string {
	l := Labels(d, ComponentJVB)
	l[LabelBridge] = JVB(d, i)
	return l
}
