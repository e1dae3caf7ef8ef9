package render

import (
	"fmt"
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

const (
	jvbScriptsDir       = "/opt/jitsi-operator"
	jvbGracefulShutdown = "graceful-shutdown.sh"
	// LabelHostname is the well-known node label a HostPort bridge is pinned with.
	LabelHostname = "kubernetes.io/hostname"
)

// jvbGracefulShutdownScript runs as the bridge's preStop hook: the bridge stops taking new
// conferences, and the hook returns once the last conference has ended (or the bridge is gone),
// bounded by the pod's termination grace period. A scale-down or upgrade so never cuts a call.
const jvbGracefulShutdownScript = `#!/bin/sh
# Rendered by jitsi-operator: graceful shutdown of a Jitsi videobridge. Needs only sh, curl,
# tr, grep and cut, which the image has.
api=http://127.0.0.1:8080
curl -fsS -X POST -H 'Content-Type: application/json' -d '{"graceful-shutdown": true}' "$api/colibri/shutdown" || exit 0
while :; do
  stats=$(curl -fsS "$api/colibri/stats") || exit 0
  conferences=$(printf '%s' "$stats" | tr -d ' \n' | grep -o '"conferences":[0-9]*' | cut -d: -f2)
  [ "${conferences:-0}" = "0" ] && exit 0
  sleep 5
done
`

// JVBScriptsConfigMap holds the bridges' lifecycle scripts.
func JVBScriptsConfigMap(in Input) *corev1.ConfigMap {
	d := in.Deployment
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: objectMeta(d, JVBScripts(d), Labels(d, ComponentJVB)),
		Data:       map[string]string{jvbGracefulShutdown: jvbGracefulShutdownScript},
	}
}

// JVBAdvertise is the JVB_ADVERTISE_IPS value of a bridge: the address, with "#port" when the
// public port differs from the media port. Empty when the address is not known.
func JVBAdvertise(d *jitsiv1alpha1.JitsiDeployment, b Bridge) string {
	if b.AdvertiseIP == "" {
		return ""
	}
	if b.AdvertisePort != 0 && b.AdvertisePort != d.Spec.JVB.Media.Port {
		return fmt.Sprintf("%s#%d", b.AdvertiseIP, b.AdvertisePort)
	}
	return b.AdvertiseIP
}

// JVBDeployment runs videobridge b. Each bridge is its own Deployment of one pod, so that it has
// its own advertised address and its own media Service selects exactly it. The bridge does not
// run (0 replicas) until its address is known: a bridge advertising a wrong address takes
// conferences and breaks them.
func JVBDeployment(in Input, b Bridge) *appsv1.Deployment {
	d := in.Deployment
	media := d.Spec.JVB.Media
	replicas := int32(0)
	if b.AdvertiseIP != "" {
		replicas = 1
	}
	name := JVB(d, b.Index)
	// The REST API for stats, drain and the preStop hook's graceful shutdown is in the contract.
	managed := append(contractEnv(ComponentJVB), xmppEnv(in)...)
	managed = append(managed,
		env("JVB_AUTH_USER", "jvb"),
		secretEnv("JVB_AUTH_PASSWORD", selector(in.Secrets.Generated, KeyJVBPassword)),
		env("JVB_BREWERY_MUC", JVBBreweryMUC),
		env("JVB_PORT", fmt.Sprint(media.Port)),
		env("JVB_ADVERTISE_IPS", JVBAdvertise(d, b)),
		env("JVB_MUC_NICKNAME", name),
		// The advertised address is known; a STUN lookup would only guess it again.
		env("JVB_DISABLE_STUN", "true"),
	)
	mediaPort := corev1.ContainerPort{Name: "media", ContainerPort: media.Port, Protocol: corev1.ProtocolUDP}
	if media.Type == jitsiv1alpha1.MediaHostPort {
		mediaPort.HostPort = media.Port
	}
	pod := corev1.PodSpec{
		TerminationGracePeriodSeconds: d.Spec.JVB.TerminationGracePeriodSeconds,
		Containers: []corev1.Container{{
			Name:  ComponentJVB,
			Image: image(d, ComponentJVB),
			Env:   managed,
			Ports: []corev1.ContainerPort{mediaPort,
				{Name: "http", ContainerPort: JVBHTTPPort, Protocol: corev1.ProtocolTCP}},
			ReadinessProbe: httpProbe("/about/health", "http", 10, 3),
			LivenessProbe:  httpProbe("/about/health", "http", 30, 5),
			StartupProbe:   httpProbe("/about/health", "http", 5, 60),
			Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
				Exec: &corev1.ExecAction{Command: []string{"/bin/sh", jvbScriptsDir + "/" + jvbGracefulShutdown}},
			}},
			VolumeMounts: []corev1.VolumeMount{{Name: "operator-scripts", MountPath: jvbScriptsDir, ReadOnly: true}},
		}},
		Volumes: []corev1.Volume{{
			Name: "operator-scripts",
			VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: JVBScripts(d)},
			}},
		}},
	}
	placement(&pod, d.Spec.JVB.Placement)
	if media.Type == jitsiv1alpha1.MediaHostPort {
		// The bridge advertises its node's address, so it must run on exactly that node; and
		// two bridges cannot bind one node's port.
		pod.NodeSelector = maps.Clone(pod.NodeSelector)
		if pod.NodeSelector == nil {
			pod.NodeSelector = map[string]string{}
		}
		if b.NodeName != "" {
			pod.NodeSelector[LabelHostname] = b.NodeName
		}
		if pod.Affinity == nil {
			pod.Affinity = &corev1.Affinity{}
		}
		if pod.Affinity.PodAntiAffinity == nil {
			pod.Affinity.PodAntiAffinity = &corev1.PodAntiAffinity{}
		}
		pod.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution = append(
			pod.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution,
			corev1.PodAffinityTerm{
				LabelSelector: &metav1.LabelSelector{MatchLabels: SelectorLabels(d, ComponentJVB)},
				TopologyKey:   LabelHostname,
			})
	}
	restrictedPod(&pod, d, ComponentJVB)

	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: objectMeta(d, name, BridgeLabels(d, b.Index)),
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: BridgeSelectorLabels(d, b.Index)},
			// Never two pods of one bridge: the media Service must reach exactly the pod whose
			// address is advertised, and the old pod keeps its calls until they end.
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: podMeta(in, ComponentJVB, BridgeLabels(d, b.Index)),
				Spec:       pod,
			},
		},
	}
}

// JVBMediaService exposes bridge i's UDP media port: a load balancer of its own, or a node
// port. Nil for HostPort media, where the bridge binds the node's port itself.
func JVBMediaService(in Input, i int) *corev1.Service {
	d := in.Deployment
	media := d.Spec.JVB.Media
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: objectMeta(d, JVB(d, i), BridgeLabels(d, i)),
		Spec: corev1.ServiceSpec{
			Selector: BridgeSelectorLabels(d, i),
			Ports: []corev1.ServicePort{{
				Name: "media", Protocol: corev1.ProtocolUDP,
				Port: media.Port, TargetPort: intstr.FromString("media"),
			}},
		},
	}
	switch media.Type {
	case jitsiv1alpha1.MediaLoadBalancer:
		svc.Spec.Type = corev1.ServiceTypeLoadBalancer
		// Only the node running the bridge answers, so media takes no extra hop and the bridge
		// sees the client's address.
		svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	case jitsiv1alpha1.MediaNodePort:
		svc.Spec.Type = corev1.ServiceTypeNodePort
		// Any node forwards to the bridge, so the advertised node need not be the one it runs on.
		svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	default:
		return nil
	}
	return svc
}

// BridgeCount is the number of bridges wanted.
func BridgeCount(d *jitsiv1alpha1.JitsiDeployment) int {
	if a := d.Spec.JVB.Autoscaling; a != nil && a.Enabled && a.MinReplicas != nil {
		return int(*a.MinReplicas)
	}
	if d.Spec.JVB.Replicas == nil {
		return 1
	}
	return int(*d.Spec.JVB.Replicas)
}
