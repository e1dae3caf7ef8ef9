package chart

import (
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// The chart on a shared cluster: the receiver behind a NetworkPolicy, the receiver as a
// Deployment of its own with fewer permissions, and an install for a list of namespaces.

var (
	operatorPods = map[string]string{"app.kubernetes.io/name": "jitsi-operator", "app.kubernetes.io/instance": "ops"}
	receiverPods = map[string]string{"app.kubernetes.io/name": "jitsi-operator-receiver", "app.kubernetes.io/instance": "ops"}
)

// The senders the receiver's NetworkPolicy admits by default are the pods the operator runs, by
// the labels internal/render gives them.
func defaultSender(component string) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{
		NamespaceSelector: &metav1.LabelSelector{},
		PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{render.LabelManagedBy: render.ManagedBy, render.LabelComponent: component}},
	}
}

// ingressOn is the peers of policy's rules for port, and whether any rule names the port.
func ingressOn(p networkingv1.NetworkPolicy, port int) (peers []networkingv1.NetworkPolicyPeer, ruled bool) {
	for _, rule := range p.Spec.Ingress {
		for _, rp := range rule.Ports {
			if rp.Port != nil && rp.Port.IntValue() == port {
				ruled = true
				peers = append(peers, rule.From...)
			}
		}
	}
	return peers, ruled
}

func TestReceiverNetworkPolicy(t *testing.T) {
	t.Run("on by default, admitting the operator's Prosody, recorders and relays", func(t *testing.T) {
		var p networkingv1.NetworkPolicy
		template(t).decode(t, "NetworkPolicy/ops-jitsi-operator-receiver", &p)
		if !maps.Equal(p.Spec.PodSelector.MatchLabels, operatorPods) {
			t.Errorf("selects %v, want the operator pods %v", p.Spec.PodSelector.MatchLabels, operatorPods)
		}
		if !reflect.DeepEqual(p.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) || len(p.Spec.Egress) > 0 {
			t.Errorf("policy types %v egress %v: egress must stay open (the API server)", p.Spec.PolicyTypes, p.Spec.Egress)
		}
		senders, _ := ingressOn(p, 9090)
		// Sorted by source name: jibri, prosody, relay.
		want := []networkingv1.NetworkPolicyPeer{defaultSender(render.ComponentJibri), defaultSender(render.ComponentProsody), defaultSender(render.ComponentRelay)}
		if !reflect.DeepEqual(senders, want) {
			t.Errorf("receiver port admits %+v, want %+v", senders, want)
		}
		for _, port := range []int{8080, 8081} {
			if peers, ruled := ingressOn(p, port); !ruled || len(peers) != 0 {
				t.Errorf("port %d: ruled %v, peers %+v; want a rule admitting anyone", port, ruled, peers)
			}
		}
	})

	t.Run("selectors from values", func(t *testing.T) {
		var p networkingv1.NetworkPolicy
		template(t, "networkPolicy.receiverFrom.relay=null",
			"networkPolicy.receiverFrom.prosody.namespaceSelector.matchLabels.team=video",
			"networkPolicy.receiverFrom.legacy.podSelector.matchLabels.app=prosody",
			"networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.name=monitoring",
			"metrics.port=9100", "receiver.port=9443").decode(t, "NetworkPolicy/ops-jitsi-operator-receiver", &p)
		senders, _ := ingressOn(p, 9443)
		prosody := defaultSender(render.ComponentProsody)
		prosody.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "video"}}
		legacy := networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{},
			PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "prosody"}}}
		want := []networkingv1.NetworkPolicyPeer{defaultSender(render.ComponentJibri), legacy, prosody}
		if !reflect.DeepEqual(senders, want) {
			t.Errorf("receiver port admits %+v, want %+v", senders, want)
		}
		metrics, _ := ingressOn(p, 9100)
		if len(metrics) != 1 || metrics[0].NamespaceSelector.MatchLabels["name"] != "monitoring" {
			t.Errorf("metrics port admits %+v", metrics)
		}
	})

	t.Run("watched namespaces only, by default", func(t *testing.T) {
		var p networkingv1.NetworkPolicy
		template(t, "watchNamespaces={video,talks}").decode(t, "NetworkPolicy/ops-jitsi-operator-receiver", &p)
		senders, _ := ingressOn(p, 9090)
		for _, s := range senders {
			sel, err := metav1.LabelSelectorAsSelector(s.NamespaceSelector)
			if err != nil {
				t.Fatal(err)
			}
			for ns, admitted := range map[string]bool{"video": true, "talks": true, "other": false} {
				if got := sel.Matches(labels.Set{"kubernetes.io/metadata.name": ns}); got != admitted {
					t.Errorf("namespace %s admitted %v by %v", ns, got, s.NamespaceSelector)
				}
			}
		}
	})

	t.Run("no sender left admits nobody", func(t *testing.T) {
		var p networkingv1.NetworkPolicy
		template(t, "networkPolicy.receiverFrom=null").decode(t, "NetworkPolicy/ops-jitsi-operator-receiver", &p)
		if _, ruled := ingressOn(p, 9090); ruled {
			t.Errorf("a rule for the receiver's port without senders admits everyone: %+v", p.Spec.Ingress)
		}
	})

	t.Run("off by value", func(t *testing.T) {
		for key := range template(t, "networkPolicy.enabled=false", "receiver.separateDeployment=true") {
			if strings.HasPrefix(key, "NetworkPolicy/") {
				t.Errorf("%s rendered", key)
			}
		}
	})
}

func TestSeparateReceiver(t *testing.T) {
	objs := template(t, "receiver.separateDeployment=true", "receiver.replicaCount=3", "receiver.resources.limits.memory=256Mi",
		"receiver.podDisruptionBudget.enabled=true", "podLabels.team=video", "receiver.maxConnections=512")
	for _, key := range []string{"Deployment/ops-jitsi-operator", "Deployment/ops-jitsi-operator-receiver",
		"ServiceAccount/ops-jitsi-operator", "ServiceAccount/ops-jitsi-operator-receiver",
		"ClusterRole/ops-jitsi-operator-receiver", "ClusterRoleBinding/ops-jitsi-operator-receiver",
		"PodDisruptionBudget/ops-jitsi-operator-receiver", "Service/ops-jitsi-operator-receiver-metrics",
		"NetworkPolicy/ops-jitsi-operator", "NetworkPolicy/ops-jitsi-operator-receiver"} {
		if _, ok := objs[key]; !ok {
			t.Errorf("no %s among %v", key, objs.keys())
		}
	}
	var operator, receiver appsv1.Deployment
	objs.decode(t, "Deployment/ops-jitsi-operator", &operator)
	objs.decode(t, "Deployment/ops-jitsi-operator-receiver", &receiver)

	// Each Deployment's selector matches its own pods only.
	for _, d := range []struct {
		dep   *appsv1.Deployment
		other *appsv1.Deployment
		want  map[string]string
	}{{&operator, &receiver, operatorPods}, {&receiver, &operator, receiverPods}} {
		sel := labels.SelectorFromSet(d.dep.Spec.Selector.MatchLabels)
		if !maps.Equal(d.dep.Spec.Selector.MatchLabels, d.want) || !sel.Matches(labels.Set(d.dep.Spec.Template.Labels)) ||
			sel.Matches(labels.Set(d.other.Spec.Template.Labels)) {
			t.Errorf("%s selects %v; its pods %v, the other's %v", d.dep.Name, d.dep.Spec.Selector.MatchLabels,
				d.dep.Spec.Template.Labels, d.other.Spec.Template.Labels)
		}
	}
	if receiver.Spec.Template.Labels["team"] != "video" {
		t.Errorf("receiver pod labels %v lack podLabels", receiver.Spec.Template.Labels)
	}

	oc, rc := operator.Spec.Template.Spec.Containers[0], receiver.Spec.Template.Spec.Containers[0]
	for _, arg := range []string{"--run=controllers", "--leader-elect=true", "--receiver-url=http://ops-jitsi-operator-receiver.jitsi-operator.svc.cluster.local:9090"} {
		if !slices.Contains(oc.Args, arg) {
			t.Errorf("operator args %v lack %s", oc.Args, arg)
		}
	}
	if slices.ContainsFunc(oc.Args, func(a string) bool {
		return strings.HasPrefix(a, "--receiver-bind-address") || strings.HasPrefix(a, "--receiver-max-connections")
	}) ||
		slices.ContainsFunc(oc.Ports, func(p corev1.ContainerPort) bool { return p.Name == "receiver" }) {
		t.Errorf("the operator still serves the receiver: args %v ports %v", oc.Args, oc.Ports)
	}
	for _, arg := range []string{"--run=receiver", "--local-cluster=never", "--receiver-bind-address=:9090", "--receiver-max-connections=512", "--metrics-bind-address=:8080"} {
		if !slices.Contains(rc.Args, arg) {
			t.Errorf("receiver args %v lack %s", rc.Args, arg)
		}
	}
	if slices.ContainsFunc(rc.Args, func(a string) bool { return strings.HasPrefix(a, "--leader-elect") }) {
		t.Errorf("receiver args %v: no leader election", rc.Args)
	}
	if operator.Spec.Template.Spec.ServiceAccountName != "ops-jitsi-operator" || receiver.Spec.Template.Spec.ServiceAccountName != "ops-jitsi-operator-receiver" {
		t.Errorf("service accounts %q and %q", operator.Spec.Template.Spec.ServiceAccountName, receiver.Spec.Template.Spec.ServiceAccountName)
	}
	if *receiver.Spec.Replicas != 3 || rc.Resources.Limits.Memory().String() != "256Mi" || rc.ReadinessProbe == nil ||
		!*rc.SecurityContext.ReadOnlyRootFilesystem || !*receiver.Spec.Template.Spec.SecurityContext.RunAsNonRoot {
		t.Errorf("receiver replicas %d resources %v probe %v security %+v", *receiver.Spec.Replicas, rc.Resources, rc.ReadinessProbe, rc.SecurityContext)
	}

	// The receiver Service, its NetworkPolicy and its disruption budget select the receiver's pods.
	var svc, metricsSvc corev1.Service
	objs.decode(t, "Service/ops-jitsi-operator-receiver", &svc)
	objs.decode(t, "Service/ops-jitsi-operator-receiver-metrics", &metricsSvc)
	var policy networkingv1.NetworkPolicy
	objs.decode(t, "NetworkPolicy/ops-jitsi-operator-receiver", &policy)
	var pdb policyv1.PodDisruptionBudget
	objs.decode(t, "PodDisruptionBudget/ops-jitsi-operator-receiver", &pdb)
	for what, sel := range map[string]map[string]string{"Service": svc.Spec.Selector, "metrics Service": metricsSvc.Spec.Selector,
		"NetworkPolicy": policy.Spec.PodSelector.MatchLabels, "PodDisruptionBudget": pdb.Spec.Selector.MatchLabels} {
		if !maps.Equal(sel, receiverPods) {
			t.Errorf("the receiver's %s selects %v, want %v", what, sel, receiverPods)
		}
	}
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("disruption budget %+v", pdb.Spec)
	}
	var controllersPolicy networkingv1.NetworkPolicy
	objs.decode(t, "NetworkPolicy/ops-jitsi-operator", &controllersPolicy)
	if !maps.Equal(controllersPolicy.Spec.PodSelector.MatchLabels, operatorPods) {
		t.Errorf("the controllers' NetworkPolicy selects %v", controllersPolicy.Spec.PodSelector.MatchLabels)
	}
	if _, ruled := ingressOn(controllersPolicy, 9090); ruled {
		t.Errorf("the controllers' pods admit the receiver's port: %+v", controllersPolicy.Spec.Ingress)
	}

	// The receiver's permissions: what it reads and writes, all of it within the operator's.
	var role rbacv1.ClusterRole
	objs.decode(t, "ClusterRole/ops-jitsi-operator-receiver", &role)
	want := map[string][]string{
		"jitsi.operator.dev/jitsideployments": {"get", "list", "watch"}, "jitsi.operator.dev/jibripools": {"get", "list", "watch"},
		"jitsi.operator.dev/meetings": {"get", "list", "watch"}, "jitsi.operator.dev/meetings/status": {"patch"},
		"/pods": {"get", "list", "patch", "watch"}, "/secrets": {"get", "list", "watch"},
	}
	if got := grants(role.Rules); !reflect.DeepEqual(got, want) {
		t.Errorf("the receiver may %v, want %v", got, want)
	}
	operatorGrants := grants(configRules(t))
	for res, verbs := range want {
		for _, v := range verbs {
			if !slices.Contains(operatorGrants[res], v) {
				t.Errorf("the receiver may %s %s, which the markers (config/rbac/role.yaml) do not grant", v, res)
			}
		}
	}
	var binding rbacv1.ClusterRoleBinding
	objs.decode(t, "ClusterRoleBinding/ops-jitsi-operator-receiver", &binding)
	if binding.RoleRef.Name != "ops-jitsi-operator-receiver" || len(binding.Subjects) != 1 ||
		binding.Subjects[0].Name != "ops-jitsi-operator-receiver" || binding.Subjects[0].Namespace != releaseNS {
		t.Errorf("receiver binding %+v", binding)
	}
}

func TestWatchNamespaces(t *testing.T) {
	objs := template(t, "watchNamespaces={video,talks}", "receiver.separateDeployment=true")
	var operator, receiver appsv1.Deployment
	objs.decode(t, "Deployment/ops-jitsi-operator", &operator)
	objs.decode(t, "Deployment/ops-jitsi-operator-receiver", &receiver)
	for _, d := range []appsv1.Deployment{operator, receiver} {
		if args := d.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--watch-namespaces=video,talks") {
			t.Errorf("%s args %v", d.Name, args)
		}
	}

	// The namespaced rules are Roles in each namespace; the ClusterRole keeps the cluster-scoped
	// ones only, and together they are the markers' rules.
	var cluster rbacv1.ClusterRole
	objs.decode(t, "ClusterRole/ops-jitsi-operator", &cluster)
	clusterGrants := grants(cluster.Rules)
	if !reflect.DeepEqual(clusterGrants, map[string][]string{"/nodes": {"list", "watch"}}) {
		t.Errorf("the ClusterRole grants %v: only nodes are cluster-scoped", clusterGrants)
	}
	for _, ns := range []string{"video", "talks"} {
		var role rbacv1.Role
		objs.decode(t, "Role/"+ns+"/ops-jitsi-operator", &role)
		union := grants(role.Rules)
		for res, verbs := range clusterGrants {
			union[res] = verbs
		}
		if want := grants(configRules(t)); !reflect.DeepEqual(union, want) {
			t.Errorf("Role in %s and ClusterRole grant %v, the markers %v", ns, union, want)
		}
		if _, ok := grants(role.Rules)["/nodes"]; ok {
			t.Errorf("Role in %s grants nodes", ns)
		}
		for _, b := range []struct{ name, account string }{{"ops-jitsi-operator", "ops-jitsi-operator"}, {"ops-jitsi-operator-receiver", "ops-jitsi-operator-receiver"}} {
			var binding rbacv1.RoleBinding
			objs.decode(t, "RoleBinding/"+ns+"/"+b.name, &binding)
			if binding.RoleRef.Kind != "Role" || binding.RoleRef.Name != b.name || binding.Subjects[0].Name != b.account ||
				binding.Subjects[0].Namespace != releaseNS {
				t.Errorf("RoleBinding %s in %s: %+v", b.name, ns, binding)
			}
		}
		var receiverRole rbacv1.Role
		objs.decode(t, "Role/"+ns+"/ops-jitsi-operator-receiver", &receiverRole)
		if _, ok := grants(receiverRole.Rules)["/secrets"]; !ok {
			t.Errorf("the receiver's Role in %s: %+v", ns, receiverRole.Rules)
		}
	}
	for _, gone := range []string{"ClusterRole/ops-jitsi-operator-receiver", "ClusterRoleBinding/ops-jitsi-operator-receiver", "Role/other/ops-jitsi-operator"} {
		if _, ok := objs[gone]; ok {
			t.Errorf("%s rendered", gone)
		}
	}
	// Leader election stays in the release's namespace.
	if _, ok := objs["Role/ops-jitsi-operator-leader-election"]; !ok {
		t.Errorf("no leader election Role among %v", objs.keys())
	}

	t.Run("SndAloop placement across namespaces, by opt-in", func(t *testing.T) {
		var cluster rbacv1.ClusterRole
		template(t, "watchNamespaces={video}", "jibri.sndAloopClusterWide=true").decode(t, "ClusterRole/ops-jitsi-operator", &cluster)
		if got := grants(cluster.Rules); !reflect.DeepEqual(got, map[string][]string{"/nodes": {"list", "watch"}, "/pods": {"list"}}) {
			t.Errorf("ClusterRole grants %v", got)
		}
	})
}

// grants is what rules allow, as "group/resource" to sorted verbs.
func grants(rules []rbacv1.PolicyRule) map[string][]string {
	out := map[string][]string{}
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				k := g + "/" + res
				for _, v := range r.Verbs {
					if !slices.Contains(out[k], v) {
						out[k] = append(out[k], v)
					}
				}
				slices.Sort(out[k])
			}
		}
	}
	return out
}

// configRules are the rules controller-gen derived from the markers.
func configRules(t *testing.T) []rbacv1.PolicyRule {
	t.Helper()
	raw, err := os.ReadFile("../../config/rbac/role.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.Unmarshal(raw, &role); err != nil {
		t.Fatal(err)
	}
	return role.Rules
}

func TestDestinationPolicyReachesEveryProcessThatChecks(t *testing.T) {
	objs := template(t, "receiver.separateDeployment=true",
		"destinations.clusterNetworks={10.244.0.0/16,10.96.0.0/12}", "destinations.allowList={10.20.0.0/24,rtmp.media.svc.cluster.local}")
	for _, name := range []string{"Deployment/ops-jitsi-operator", "Deployment/ops-jitsi-operator-receiver"} {
		var dep appsv1.Deployment
		objs.decode(t, name, &dep)
		args := dep.Spec.Template.Spec.Containers[0].Args
		for _, want := range []string{"--destination-cluster-networks=10.244.0.0/16,10.96.0.0/12",
			"--destination-allow-list=10.20.0.0/24,rtmp.media.svc.cluster.local", "--cluster-domain=cluster.local"} {
			if !slices.Contains(args, want) {
				t.Errorf("%s: no %s in %v", name, want, args)
			}
		}
	}
	var dep appsv1.Deployment
	template(t).decode(t, "Deployment/ops-jitsi-operator", &dep)
	for _, a := range dep.Spec.Template.Spec.Containers[0].Args {
		if strings.HasPrefix(a, "--destination-") || a == "" {
			t.Errorf("without destinations values: arg %q", a)
		}
	}
}
