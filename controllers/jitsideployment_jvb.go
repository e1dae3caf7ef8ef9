package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// ensureMedia finds each wanted videobridge its media address:
//   - LoadBalancer: the address the cloud wrote into the bridge's own UDP Service;
//   - NodePort: a node's address and the Service's node port;
//   - HostPort: the address of the node the bridge is pinned to, one bridge per node.
//
// spec.jvb.media.advertiseIPs[i], when given, is bridge i's address in every mode. A bridge
// whose address is not known yet gets none, and a MediaFacts entry that says why.
func (r *JitsiDeploymentReconciler) ensureMedia(ctx context.Context, d *jitsiv1alpha1.JitsiDeployment, obs *deploymentObservation) error {
	in := obs.in
	a := r.applier()
	indices := obs.bridgeIndices
	if indices == nil {
		for i := 0; i < render.BridgeCount(d); i++ {
			indices = append(indices, i)
		}
	}
	count := len(indices)
	media := d.Spec.JVB.Media
	var all, ready []corev1.Node
	if media.Type != jitsiv1alpha1.MediaLoadBalancer {
		var err error
		if all, ready, err = r.bridgeNodes(ctx, d); err != nil {
			return err
		}
	}
	var pinned map[int]string
	if media.Type == jitsiv1alpha1.MediaHostPort {
		var err error
		if pinned, err = r.pinBridges(ctx, d, indices, all, ready); err != nil {
			return err
		}
	}
	advertised := map[string]string{}
	for _, e := range d.Status.MediaEndpoints {
		advertised[e.Bridge] = e.Address
	}

	bridges := make([]render.Bridge, 0, count)
	facts := make([]render.MediaFacts, 0, count)
	for _, i := range indices {
		b := render.Bridge{Index: i}
		f := render.MediaFacts{Bridge: render.JVB(d, i)}
		override := ""
		if i < len(media.AdvertiseIPs) {
			override = media.AdvertiseIPs[i]
		}
		switch media.Type {
		case jitsiv1alpha1.MediaLoadBalancer:
			svc, err := r.applyMediaService(ctx, a, in, i)
			if err != nil {
				return err
			}
			b.AdvertiseIP, f.Reason, f.Message = loadBalancerAddress(svc, render.JVB(d, i))
			if override != "" {
				b.AdvertiseIP = override
			}
		case jitsiv1alpha1.MediaNodePort:
			svc, err := r.applyMediaService(ctx, a, in, i)
			if err != nil {
				return err
			}
			port := int32(0)
			if svc != nil && len(svc.Spec.Ports) > 0 {
				port = svc.Spec.Ports[0].NodePort
			}
			addr := override
			if addr == "" {
				// Any node forwards a node port to the bridge. Keep the address advertised so
				// far while a node still has it, or may have it (a node briefly NotReady, or
				// reporting no address for a moment, must not restart the bridge); else spread
				// bridges over the Ready nodes.
				if cur := advertised[render.JVB(d, i)]; cur != "" && slices.ContainsFunc(all, func(n corev1.Node) bool {
					a := nodeAddress(&n)
					return a == cur || a == ""
				}) {
					addr = cur
				} else if len(ready) > 0 {
					addr = nodeAddress(&ready[i%len(ready)])
				}
			}
			switch {
			case port == 0:
				f.Reason, f.Message = jitsiv1alpha1.ReasonAddressPending, fmt.Sprintf("Service %s has no node port yet", render.JVB(d, i))
			case addr == "":
				f.Reason, f.Message = jitsiv1alpha1.ReasonNoNodeAddress, "no Ready node has an address; set spec.jvb.media.advertiseIPs or check the nodes"
			default:
				b.AdvertiseIP, b.AdvertisePort = addr, port
			}
		case jitsiv1alpha1.MediaHostPort:
			name, ok := pinned[i]
			if !ok {
				f.Reason = jitsiv1alpha1.ReasonNoNodeAddress
				f.Message = fmt.Sprintf("%d bridges need %d nodes, one each (HostPort), and %d Ready nodes match spec.jvb.nodeSelector", count, count, len(ready))
				break
			}
			b.NodeName = name
			addr := override
			if addr == "" {
				idx := slices.IndexFunc(all, func(n corev1.Node) bool { return n.Name == name })
				addr = nodeAddress(&all[idx])
			}
			if addr == "" {
				// A node reporting no address for a moment keeps its bridge's address.
				addr = advertised[render.JVB(d, i)]
			}
			if addr == "" {
				f.Reason, f.Message = jitsiv1alpha1.ReasonNoNodeAddress, fmt.Sprintf("node %s has no address", name)
				break
			}
			b.AdvertiseIP = addr
		}
		if b.AdvertiseIP != "" {
			f.Address = render.JVBAdvertise(d, b)
			f.Reason, f.Message = "", ""
		}
		bridges = append(bridges, b)
		facts = append(facts, f)
	}
	obs.in.Bridges = bridges
	obs.facts.Media = facts
	return nil
}

// applyMediaService applies bridge i's media Service and returns the live one as the cache
// has it (nil right after creation, until the cache sees it).
func (r *JitsiDeploymentReconciler) applyMediaService(ctx context.Context, a *applier, in render.Input, i int) (*corev1.Service, error) {
	want := render.JVBMediaService(in, i)
	if want == nil {
		return nil, nil
	}
	if _, err := a.apply(ctx, in.Deployment, want); err != nil {
		return nil, err
	}
	live := &corev1.Service{}
	err := r.Get(ctx, client.ObjectKeyFromObject(want), live)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return live, nil
}

// loadBalancerAddress reads the address the cloud assigned to a bridge's load balancer.
func loadBalancerAddress(svc *corev1.Service, bridge string) (ip, reason, message string) {
	if svc == nil {
		return "", jitsiv1alpha1.ReasonAddressPending, fmt.Sprintf("Service %s was just created", bridge)
	}
	hostname := ""
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		if ing.IP != "" {
			return ing.IP, "", ""
		}
		if ing.Hostname != "" {
			hostname = ing.Hostname
		}
	}
	if hostname != "" {
		return "", jitsiv1alpha1.ReasonHostnameOnly, fmt.Sprintf(
			"the load balancer of Service %s has only a host name (%s) and a bridge advertises IPs: set spec.jvb.media.advertiseIPs, or use a load balancer with a static IP", bridge, hostname)
	}
	return "", jitsiv1alpha1.ReasonAddressPending, fmt.Sprintf(
		"waiting for the cloud to assign the load balancer of Service %s an address (kubectl get service %s); without a cloud load balancer use media type NodePort or HostPort", bridge, bridge)
}

// bridgeNodes are the schedulable nodes that match the bridges' node selector, and of those
// the Ready ones, by name.
func (r *JitsiDeploymentReconciler) bridgeNodes(ctx context.Context, d *jitsiv1alpha1.JitsiDeployment) (all, ready []corev1.Node, err error) {
	var list corev1.NodeList
	if err := r.List(ctx, &list); err != nil {
		return nil, nil, err
	}
	sel := labels.SelectorFromSet(d.Spec.JVB.NodeSelector)
	for _, n := range list.Items {
		if n.Spec.Unschedulable || !sel.Matches(labels.Set(n.Labels)) {
			continue
		}
		all = append(all, n)
		if nodeUsable(&n) {
			ready = append(ready, n)
		}
	}
	byName := func(a, b corev1.Node) int { return strings.Compare(a.Name, b.Name) }
	slices.SortFunc(all, byName)
	slices.SortFunc(ready, byName)
	return all, ready, nil
}

// pinBridges assigns HostPort bridges to nodes, one bridge per node. A bridge keeps its node
// while that node exists and is schedulable (Ready or not: a brief NotReady must not move a
// bridge with calls on it), so adding a node never moves a running bridge either. New
// assignments go to Ready nodes only.
func (r *JitsiDeploymentReconciler) pinBridges(ctx context.Context, d *jitsiv1alpha1.JitsiDeployment, indices []int, all, nodes []corev1.Node) (map[int]string, error) {
	usable := map[string]bool{}
	for _, n := range all {
		usable[n.Name] = true
	}
	pinned := map[int]string{}
	taken := map[string]bool{}
	for _, i := range indices {
		dep := &appsv1.Deployment{}
		err := r.Get(ctx, types.NamespacedName{Namespace: d.Namespace, Name: render.JVB(d, i)}, dep)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if name := dep.Spec.Template.Spec.NodeSelector[render.LabelHostname]; usable[name] && !taken[name] {
			pinned[i] = name
			taken[name] = true
		}
	}
	free := 0
	for _, i := range indices {
		if _, ok := pinned[i]; ok {
			continue
		}
		for free < len(nodes) && taken[nodes[free].Name] {
			free++
		}
		if free == len(nodes) {
			break
		}
		pinned[i] = nodes[free].Name
		taken[nodes[free].Name] = true
	}
	return pinned, nil
}

func nodeUsable(n *corev1.Node) bool {
	if n.Spec.Unschedulable {
		return false
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// nodeAddress is the address clients reach a node at: its external IP, else its internal IP.
func nodeAddress(n *corev1.Node) string {
	internal := ""
	for _, a := range n.Status.Addresses {
		switch a.Type {
		case corev1.NodeExternalIP:
			return a.Address
		case corev1.NodeInternalIP:
			if internal == "" {
				internal = a.Address
			}
		}
	}
	return internal
}

// removeExtraBridges deletes the Deployments and Services of bridges beyond the wanted count.
// The pod's preStop hook drains the bridge (graceful shutdown, bounded by its long termination
// grace period), so a running conference is not cut.
func (r *JitsiDeploymentReconciler) removeExtraBridges(ctx context.Context, d *jitsiv1alpha1.JitsiDeployment, obs *deploymentObservation) error {
	bridges := map[string]bool{}
	for _, b := range obs.in.Bridges {
		bridges[render.JVB(d, b.Index)] = true
	}
	// HostPort bridges have no Service.
	hostPort := d.Spec.JVB.Media.Type == jitsiv1alpha1.MediaHostPort
	sel := client.MatchingLabels(render.SelectorLabels(d, render.ComponentJVB))
	var deps appsv1.DeploymentList
	if err := r.List(ctx, &deps, client.InNamespace(d.Namespace), sel); err != nil {
		return err
	}
	for i := range deps.Items {
		dep := &deps.Items[i]
		if bridges[dep.Name] || !metav1.IsControlledBy(dep, d) {
			continue
		}
		if err := r.Delete(ctx, dep, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			return err
		}
		r.Recorder.Eventf(d, dep, corev1.EventTypeNormal, "BridgeRemoved", "Delete",
			"videobridge %s removed; it drains its conferences before it stops", dep.Name)
	}
	var svcs corev1.ServiceList
	if err := r.List(ctx, &svcs, client.InNamespace(d.Namespace), sel); err != nil {
		return err
	}
	for i := range svcs.Items {
		svc := &svcs.Items[i]
		if bridges[svc.Name] && !hostPort || !metav1.IsControlledBy(svc, d) {
			continue
		}
		if err := r.Delete(ctx, svc); client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	return nil
}
