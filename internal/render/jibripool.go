package render

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

// JibriPoolSecretObject renders a pool's Secret: the Jibri webhook subscriber base URL and the
// relay's URL at the receiver (each carries a token derived from the events secret), the
// finalize script's report URL and the keys recorders sign with (derived the same way, for this
// pool only). Recorders and the relay read them through secretKeyRef.
func JibriPoolSecretObject(d *jitsiv1alpha1.JitsiDeployment, pool *jitsiv1alpha1.JibriPool, receiverURL string, eventsSecret []byte) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: JibriPoolSecret(pool), Namespace: pool.Namespace, Labels: PoolLabels(d, pool),
			OwnerReferences: poolOwnerReferences(pool)},
		Type: corev1.SecretTypeOpaque,
		// data, not stringData: the API server stores data only, and the applier compares with it.
		Data: map[string][]byte{
			KeyWebhookSubscribers: fmt.Appendf(nil, "%s/v1/jibri/pools/%s/%s/%s", receiverURL, pool.Namespace, pool.Name,
				JibriWebhookToken(eventsSecret, pool.Namespace, pool.Name)),
			KeyRelayURL: fmt.Appendf(nil, "%s/v1/rtmp/pools/%s/%s/%s", receiverURL, pool.Namespace, pool.Name,
				RelayToken(eventsSecret, pool.Namespace, pool.Name)),
			KeyRelayUIKey:         []byte(RelayUIKey(eventsSecret, pool.Namespace, pool.Name)),
			KeyRecordingURL:       fmt.Appendf(nil, "%s/v1/jibri/recording-complete?pool=%s/%s", receiverURL, pool.Namespace, pool.Name),
			KeyRecordingReportKey: []byte(RecordingReportKey(eventsSecret, pool.Namespace, pool.Name)),
		},
	}
}

// poolOwnerReferences make pool the controlling owner of a child: it goes with the pool.
func poolOwnerReferences(pool *jitsiv1alpha1.JibriPool) []metav1.OwnerReference {
	yes := true
	return []metav1.OwnerReference{{
		APIVersion: jitsiv1alpha1.GroupVersion.String(), Kind: "JibriPool", Name: pool.Name, UID: pool.UID,
		Controller: &yes, BlockOwnerDeletion: &yes,
	}}
}

// PoolFacts is everything a JibriPool's conditions are derived from.
type PoolFacts struct {
	// DeploymentFound: the referenced JitsiDeployment exists.
	DeploymentFound bool
	// Replicas, Ready, Busy and Idle count the recorders; Queue the recordings waiting for one.
	Replicas, Ready, Busy, Idle, Queue, Desired, MaxReplicas int32
	// Unknown counts the ready recorders whose health API the operator cannot reach.
	Unknown int32
	// RelayNotReady says how the wanted RTMP relay is not ready; empty when it is, or is not wanted.
	RelayNotReady string
	// MissingSecret says which Secret the pool needs and lacks (the upload credentials).
	MissingSecret string
	// Unplaced says why wanted SndAloop recorders have no node (no free loopback card); empty when
	// every wanted recorder is placed.
	Unplaced string
}

// PoolConditions derives a JibriPool's conditions (Ready, RecordersAvailable) from facts; stepErr
// is the error of the reconcile step that failed, if any.
func PoolConditions(generation int64, f PoolFacts, stepErr error) []metav1.Condition {
	cond := conditionAt(generation)
	var ready metav1.Condition
	switch {
	case !f.DeploymentFound:
		ready = cond(jitsiv1alpha1.ConditionReady, false, jitsiv1alpha1.ReasonDeploymentNotFound,
			"the JitsiDeployment named in spec.jitsiDeploymentRef does not exist")
	case stepErr != nil:
		ready = cond(jitsiv1alpha1.ConditionReady, false, jitsiv1alpha1.ReasonReconcileError, stepErr.Error())
	case f.MissingSecret != "":
		ready = cond(jitsiv1alpha1.ConditionReady, false, jitsiv1alpha1.ReasonSecretNotFound, f.MissingSecret)
	case f.Unplaced != "":
		ready = cond(jitsiv1alpha1.ConditionReady, false, jitsiv1alpha1.ReasonNoLoopbackCards, f.Unplaced)
	case f.RelayNotReady != "":
		ready = cond(jitsiv1alpha1.ConditionReady, false, jitsiv1alpha1.ReasonComponentsNotReady, f.RelayNotReady)
	case f.Ready < f.Desired:
		ready = cond(jitsiv1alpha1.ConditionReady, false, jitsiv1alpha1.ReasonComponentsNotReady,
			fmt.Sprintf("%d of %d recorders ready", f.Ready, f.Desired))
	default:
		msg := fmt.Sprintf("%d recorders ready: %d busy, %d idle", f.Ready, f.Busy, f.Idle)
		if f.Unknown > 0 {
			msg += fmt.Sprintf(", %d not answering the operator", f.Unknown)
		}
		ready = cond(jitsiv1alpha1.ConditionReady, true, jitsiv1alpha1.ReasonAvailable, msg)
	}
	var available metav1.Condition
	switch {
	case !f.DeploymentFound:
		available = metav1.Condition{Type: jitsiv1alpha1.ConditionRecordersAvailable, Status: metav1.ConditionUnknown,
			Reason: jitsiv1alpha1.ReasonDeploymentNotFound, Message: "no recorders without a JitsiDeployment", ObservedGeneration: generation}
	case f.Idle > 0:
		available = cond(jitsiv1alpha1.ConditionRecordersAvailable, true, jitsiv1alpha1.ReasonAvailable,
			fmt.Sprintf("%d idle recorders", f.Idle))
	case f.Busy == 0:
		available = cond(jitsiv1alpha1.ConditionRecordersAvailable, false, jitsiv1alpha1.ReasonNoHealthyRecorders,
			fmt.Sprintf("none of %d recorders is ready and healthy", f.Replicas))
	case f.Queue > 0 && f.Replicas >= f.MaxReplicas:
		available = cond(jitsiv1alpha1.ConditionRecordersAvailable, false, jitsiv1alpha1.ReasonAtMaxReplicas,
			fmt.Sprintf("all %d recorders busy and %d recordings waiting: the pool is at maxReplicas (%d)", f.Busy, f.Queue, f.MaxReplicas))
	default:
		available = cond(jitsiv1alpha1.ConditionRecordersAvailable, false, jitsiv1alpha1.ReasonAllBusy,
			fmt.Sprintf("all %d recorders busy, %d recordings waiting", f.Busy, f.Queue))
	}
	return []metav1.Condition{ready, available}
}
