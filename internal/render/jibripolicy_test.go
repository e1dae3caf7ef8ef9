package render

import (
	"maps"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

func TestJibriAPINetworkPolicy(t *testing.T) {
	operatorLabels := map[string]string{"app.kubernetes.io/name": "jitsi-operator", "app.kubernetes.io/instance": "ops"}
	for _, tc := range []struct {
		name      string
		namespace string
		podLabels map[string]string
		want      networkingv1.NetworkPolicyPeer
	}{{
		name: "the operator's pods", namespace: "ops", podLabels: operatorLabels,
		want: networkingv1.NetworkPolicyPeer{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "ops"}},
			PodSelector:       &metav1.LabelSelector{MatchLabels: operatorLabels},
		},
	}, {
		name: "no pod labels: the operator's namespace", namespace: "ops",
		want: networkingv1.NetworkPolicyPeer{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "ops"}},
		},
	}, {
		name: "no namespace: the default one", podLabels: operatorLabels,
		want: networkingv1.NetworkPolicyPeer{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "jitsi-operator"}},
			PodSelector:       &metav1.LabelSelector{MatchLabels: operatorLabels},
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			in := input(deployment())
			in.OperatorNamespace, in.OperatorPodLabels = tc.namespace, tc.podLabels
			pool := jibriPool(jitsiv1alpha1.AudioPulseAudio)
			np := JibriAPINetworkPolicy(in, pool)

			tcp := corev1.ProtocolTCP
			port := intstr.FromInt32(2222)
			want := networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{
					LabelName: AppName, LabelInstance: "meet", LabelComponent: ComponentJibri, LabelPool: "recorders",
				}},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress: []networkingv1.NetworkPolicyIngressRule{{
					From:  []networkingv1.NetworkPolicyPeer{tc.want},
					Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port}},
				}},
			}
			if !reflect.DeepEqual(np.Spec, want) {
				got, _ := yaml.Marshal(np.Spec)
				exp, _ := yaml.Marshal(want)
				t.Errorf("spec:\n%s\nwant:\n%s", got, exp)
			}

			if np.Name != "recorders-jibri-api" || np.Namespace != "video" || np.Kind != "NetworkPolicy" || np.APIVersion != "networking.k8s.io/v1" {
				t.Errorf("%s %s %s/%s", np.APIVersion, np.Kind, np.Namespace, np.Name)
			}
			if l := np.Labels; !maps.Equal(l, JibriPod(in, pool, "recorders-x1", nil).Labels) {
				t.Errorf("labels %v, want the recorders'", l)
			}
			refs := np.OwnerReferences
			if len(refs) != 1 || refs[0].Kind != "JibriPool" || refs[0].Name != "recorders" || refs[0].UID != "pool-uid" ||
				refs[0].APIVersion != jitsiv1alpha1.GroupVersion.String() || !*refs[0].Controller || !*refs[0].BlockOwnerDeletion {
				t.Errorf("owners %+v", refs)
			}

			// It selects the pool's recorders, and neither another pool's nor the relay.
			sel := labels.SelectorFromSet(np.Spec.PodSelector.MatchLabels)
			if !sel.Matches(labels.Set(JibriPod(in, pool, "recorders-x1", nil).Labels)) {
				t.Error("the policy does not select the pool's recorders")
			}
			other := jibriPool(jitsiv1alpha1.AudioPulseAudio)
			other.Name = "other"
			if sel.Matches(labels.Set(JibriPod(in, other, "other-x1", nil).Labels)) {
				t.Error("the policy selects another pool's recorders")
			}
			relay := relayInput()
			if sel.Matches(labels.Set(RelayDeployment(relay).Spec.Template.Labels)) {
				t.Error("the policy selects the relay")
			}
		})
	}
}

// The policy does not share the operator's labels map: a caller changing it later changes no
// rendered object.
func TestJibriAPINetworkPolicyCopiesThePodLabels(t *testing.T) {
	in := input(deployment())
	in.OperatorPodLabels = map[string]string{"app": "op"}
	np := JibriAPINetworkPolicy(in, jibriPool(jitsiv1alpha1.AudioPulseAudio))
	in.OperatorPodLabels["app"] = "changed"
	if got := np.Spec.Ingress[0].From[0].PodSelector.MatchLabels["app"]; got != "op" {
		t.Errorf("pod selector %q", got)
	}
}
