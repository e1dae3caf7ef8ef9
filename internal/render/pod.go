package render

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

// The stack's internal XMPP domains: docker-jitsi-meet's defaults, identical in every image
// (web, prosody, jicofo, jvb, jibri must agree). The public domain is spec.domain.
const (
	XMPPDomain            = "meet.jitsi"
	XMPPAuthDomain        = "auth.meet.jitsi"
	XMPPMUCDomain         = "muc.meet.jitsi"
	XMPPInternalMUCDomain = "internal-muc.meet.jitsi"
	XMPPGuestDomain       = "guest.meet.jitsi"
	XMPPHiddenDomain      = "hidden.meet.jitsi"
	JVBBreweryMUC         = "jvbbrewery"

	XMPPPort        = 5222
	ProsodyHTTPPort = 5280
	JicofoRESTPort  = 8888
	JVBHTTPPort     = 8080
	WebHTTPPort     = 8000
)

// AnnotationConfigHash on a pod template holds a hash of the inputs that live outside the
// template; a change rolls exactly the pods that read them.
const AnnotationConfigHash = "jitsi.operator.dev/config-hash"

// image is the component's image reference.
func image(d *jitsiv1alpha1.JitsiDeployment, component string) string {
	return fmt.Sprintf("%s/%s:%s", d.Spec.Image.Registry, component, d.Spec.Image.Tag)
}

// PublicURL is the URL people open: always https (browsers give camera and microphone only to
// HTTPS pages), on web.ingress.host when it is set.
func PublicURL(d *jitsiv1alpha1.JitsiDeployment) string {
	return "https://" + WebHost(d)
}

// DefaultClusterDomain is the cluster's DNS domain unless the operator is told another
// (--cluster-domain).
const DefaultClusterDomain = "cluster.local"

// ServiceHost is the fully qualified DNS name of Service name in namespace. Some images resolve
// names themselves and ignore the pod's DNS search list: the web's nginx (resolver from the
// nameserver lines of resolv.conf only, web/rootfs/etc/s6-overlay/scripts/config, and proxy_pass
// with variables resolved at request time, web/rootfs/defaults/meet.conf) and Prosody's
// libunbound (Prosody 13 net/unbound.lua; ub_ctx_resolvconf reads no search domains). So
// "x.ns.svc" does not resolve there and "x.ns.svc.cluster.local" does. Every name the operator
// hands a pod is this one, so that no component depends on its resolver's search list.
func ServiceHost(name, namespace, clusterDomain string) string {
	if clusterDomain == "" {
		clusterDomain = DefaultClusterDomain
	}
	return fmt.Sprintf("%s.%s.svc.%s", name, namespace, clusterDomain)
}

// XMPPServer is the host every component reaches Prosody at.
func XMPPServer(in Input) string {
	return ServiceHost(Prosody(in.Deployment), in.Deployment.Namespace, in.ClusterDomain)
}

// xmppEnv is the XMPP wiring every component shares.
func xmppEnv(in Input) []corev1.EnvVar {
	d := in.Deployment
	return []corev1.EnvVar{
		env("XMPP_SERVER", XMPPServer(in)),
		env("XMPP_PORT", fmt.Sprint(XMPPPort)),
		env("XMPP_DOMAIN", XMPPDomain),
		env("XMPP_AUTH_DOMAIN", XMPPAuthDomain),
		env("XMPP_MUC_DOMAIN", XMPPMUCDomain),
		env("XMPP_INTERNAL_MUC_DOMAIN", XMPPInternalMUCDomain),
		env("XMPP_GUEST_DOMAIN", XMPPGuestDomain),
		env("XMPP_HIDDEN_DOMAIN", XMPPHiddenDomain),
		env("PUBLIC_URL", PublicURL(d)),
		env("TZ", "UTC"),
	}
}

// authEnv switches a component to the deployment's auth type.
func authEnv(d *jitsiv1alpha1.JitsiDeployment) []corev1.EnvVar {
	guests := "0"
	if d.Spec.Auth.AllowGuests {
		guests = "1"
	}
	switch d.Spec.Auth.Type {
	case jitsiv1alpha1.AuthAnonymous:
		return []corev1.EnvVar{env("ENABLE_AUTH", "0"), env("ENABLE_GUESTS", guests)}
	case jitsiv1alpha1.AuthInternal:
		return []corev1.EnvVar{env("ENABLE_AUTH", "1"), env("AUTH_TYPE", "internal"), env("ENABLE_GUESTS", guests)}
	default:
		return []corev1.EnvVar{env("ENABLE_AUTH", "1"), env("AUTH_TYPE", "jwt"), env("ENABLE_GUESTS", guests)}
	}
}

func env(name, value string) corev1.EnvVar { return corev1.EnvVar{Name: name, Value: value} }

func secretEnv(name string, from corev1.SecretKeySelector) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &from}}
}

// withUserEnv appends the user's variables, except those the operator manages: a user value
// would break the wiring between components. The API refuses those already (ManagedEnv); this
// keeps the renderers safe on their own.
func withUserEnv(managed []corev1.EnvVar, user []corev1.EnvVar) []corev1.EnvVar {
	taken := map[string]bool{}
	for _, e := range managed {
		taken[e.Name] = true
	}
	out := append([]corev1.EnvVar{}, managed...)
	for _, e := range user {
		if !taken[e.Name] {
			out = append(out, e)
		}
	}
	return out
}

// ownerRef makes d the controlling owner, so deleting d deletes the child and the child's
// changes wake d's reconciler.
func ownerRef(d *jitsiv1alpha1.JitsiDeployment) []metav1.OwnerReference {
	yes := true
	return []metav1.OwnerReference{{
		APIVersion:         jitsiv1alpha1.GroupVersion.String(),
		Kind:               "JitsiDeployment",
		Name:               d.Name,
		UID:                d.UID,
		Controller:         &yes,
		BlockOwnerDeletion: &yes,
	}}
}

func objectMeta(d *jitsiv1alpha1.JitsiDeployment, name string, labels map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: d.Namespace, Labels: labels, OwnerReferences: ownerRef(d)}
}

// restrictedPod is the pod security component's image allows (its Contract): its uid, no
// privilege, no service account token, a read-only root, with writable emptyDirs at the paths
// the image writes that the pod does not mount otherwise. It meets Pod Security "restricted".
func restrictedPod(spec *corev1.PodSpec, d *jitsiv1alpha1.JitsiDeployment, component string) {
	contract := Contracts[component]
	uid := contract.User
	yes, no := true, false
	spec.SecurityContext = &corev1.PodSecurityContext{
		RunAsNonRoot:   &yes,
		RunAsUser:      &uid,
		RunAsGroup:     &uid,
		FSGroup:        &uid,
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	spec.AutomountServiceAccountToken = &no
	spec.EnableServiceLinks = &no
	for _, ref := range d.Spec.ImagePullSecrets {
		spec.ImagePullSecrets = append(spec.ImagePullSecrets, corev1.LocalObjectReference{Name: ref.Name})
	}
	var writable []string
	for _, path := range contract.Writable {
		if !slices.ContainsFunc(spec.Containers[0].VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == path }) {
			writable = append(writable, path)
		}
	}
	for i := range spec.Containers {
		c := &spec.Containers[i]
		c.ImagePullPolicy = corev1.PullPolicy(d.Spec.Image.PullPolicy)
		c.SecurityContext = &corev1.SecurityContext{
			AllowPrivilegeEscalation: &no,
			ReadOnlyRootFilesystem:   &yes,
			RunAsNonRoot:             &yes,
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: contract.Capabilities},
		}
		for j, path := range writable {
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: fmt.Sprintf("writable-%d", j), MountPath: path})
		}
	}
	for j := range writable {
		spec.Volumes = append(spec.Volumes, corev1.Volume{
			Name:         fmt.Sprintf("writable-%d", j),
			VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}},
		})
	}
}

// placement copies the user's scheduling settings into a pod.
func placement(spec *corev1.PodSpec, p jitsiv1alpha1.Placement) {
	spec.NodeSelector = p.NodeSelector
	spec.Tolerations = p.Tolerations
	spec.Affinity = p.Affinity.DeepCopy()
	if len(spec.Containers) > 0 {
		spec.Containers[0].Resources = *p.Resources.DeepCopy()
	}
}

// Hash is a short, stable hash of named values (for AnnotationConfigHash).
func Hash(values map[string][]byte) string {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%d:%s=%d:", len(k), k, len(values[k]))
		h.Write(values[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// componentDeployment is the Deployment of one of the stack's single-purpose components
// (Prosody, Jicofo, web): its pods are selected by SelectorLabels only. A nil replicas leaves the
// count to the API server's default (1).
func componentDeployment(in Input, component, name string, replicas *int32, strategy appsv1.DeploymentStrategyType, pod corev1.PodSpec) *appsv1.Deployment {
	d := in.Deployment
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: objectMeta(d, name, Labels(d, component)),
		Spec: appsv1.DeploymentSpec{
			Replicas: replicas,
			Selector: &metav1.LabelSelector{MatchLabels: SelectorLabels(d, component)},
			Strategy: appsv1.DeploymentStrategy{Type: strategy},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: podMeta(in, component, Labels(d, component)),
				Spec:       pod,
			},
		},
	}
}

// componentService is the ClusterIP Service of a component; each port targets the container
// port of the same name.
func componentService(in Input, component, name string, ports ...corev1.ServicePort) *corev1.Service {
	d := in.Deployment
	for i := range ports {
		ports[i].TargetPort = intstr.FromString(ports[i].Name)
		ports[i].Protocol = corev1.ProtocolTCP
	}
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: objectMeta(d, name, Labels(d, component)),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: SelectorLabels(d, component),
			Ports:    ports,
		},
	}
}
