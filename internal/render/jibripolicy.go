package render

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

// DefaultOperatorNamespace is the operator's namespace when Input.OperatorNamespace is empty.
const DefaultOperatorNamespace = "jitsi-operator"

// LabelNamespaceName is the label the API server sets on every namespace to its name.
const LabelNamespaceName = "kubernetes.io/metadata.name"

// JibriAPINetworkPolicy fences pool's recorders: only the operator's pods reach them, and only
// on Jibri's external HTTP API (JibriAPIPort). That API has no authentication and listens on
// every address (customJibriConf), so whatever reaches it could start and stop sessions; the
// recorders serve nothing else (the internal API is on loopback). The policy covers ingress
// only: recorders still reach Prosody, the receiver, the relay and RTMP destinations, and the
// replies to those connections are let in. The node's kubelet probing its pods is let in by
// CNIs that enforce NetworkPolicy; CNIs that do not enforce it ignore the policy.
func JibriAPINetworkPolicy(in Input, pool *jitsiv1alpha1.JibriPool) *networkingv1.NetworkPolicy {
	ns := in.OperatorNamespace
	if ns == "" {
		ns = DefaultOperatorNamespace
	}
	operator := networkingv1.NetworkPolicyPeer{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{LabelNamespaceName: ns}},
	}
	// Without the operator's pod labels, every pod of the operator's namespace is admitted:
	// the namespace should then hold the operator alone.
	if len(in.OperatorPodLabels) > 0 {
		operator.PodSelector = &metav1.LabelSelector{MatchLabels: maps.Clone(in.OperatorPodLabels)}
	}
	tcp := corev1.ProtocolTCP
	port := intstr.FromInt32(JibriAPIPort)
	return &networkingv1.NetworkPolicy{
		TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: JibriAPIPolicy(pool), Namespace: pool.Namespace, Labels: PoolLabels(in.Deployment, pool),
			OwnerReferences: poolOwnerReferences(pool)},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: PoolSelectorLabels(in.Deployment, pool)},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{operator},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port}},
			}},
		},
	}
}
