package render

import (
	_ "embed"
	"fmt"
	"strings"
	"text/template"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

// A pool's RTMP relay: nginx with the RTMP module (PROTOCOLS.md 9). Recorders publish a meeting's
// stream to it; it asks the receiver to admit each publish, and its push script sends each
// admitted stream to all of that meeting's destinations.

// ComponentRelay is the LabelComponent of a pool's RTMP relay.
const ComponentRelay = "rtmp-relay"

// Relay pod conventions.
const (
	// RelayPort is the relay's RTMP port (Service and container).
	RelayPort = 1935
	// RelayApp is the RTMP application recorders publish to.
	RelayApp = "live"
	// RelayModulePath is where Debian's libnginx-mod-rtmp installs the module.
	RelayModulePath = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
	// Files of the relay's ConfigMap.
	RelayNginxConfFile = "nginx.conf"
	RelayPushFile      = "push.sh"

	relayConfigDir     = "/etc/jitsi-operator-relay"
	relayRecordingsDir = "/recordings"
	relayUID           = int64(1000)
)

// RelayPushScript is the relay's push script (see its header for the contract): nginx runs it
// once per admitted stream (exec_push) with the stream name as its argument.
//
//go:embed relay/push.sh
var RelayPushScript string

//go:embed relay/nginx.conf.tmpl
var relayNginxConfTemplate string

// RelayInput is what the relay renderers read.
type RelayInput struct {
	Deployment *jitsiv1alpha1.JitsiDeployment
	Pool       *jitsiv1alpha1.JibriPool
	// Image is the relay's image when the pool names none (spec.streaming.relay.image).
	Image string
	// ReceiverURL is the operator's receiver base URL, without a trailing slash.
	ReceiverURL string
}

// JibriRelay names the relay's objects of pool: its ConfigMap, Deployment, Service and
// NetworkPolicy.
func JibriRelay(pool *jitsiv1alpha1.JibriPool) string { return pool.Name + "-relay" }

// RelayStreamURL is where a recorder publishes the stream with key streamKey.
func RelayStreamURL(pool *jitsiv1alpha1.JibriPool, clusterDomain, streamKey string) string {
	return fmt.Sprintf("rtmp://%s:%d/%s/%s", ServiceHost(JibriRelay(pool), pool.Namespace, clusterDomain), RelayPort, RelayApp, streamKey)
}

// relaySpec is the pool's relay settings (the defaults when it has none).
func relaySpec(pool *jitsiv1alpha1.JibriPool) *jitsiv1alpha1.RelaySpec {
	if r := pool.Spec.Streaming.Relay; r != nil {
		return r
	}
	return &jitsiv1alpha1.RelaySpec{}
}

// RelayConf is what nginx.conf is made of.
type RelayConf struct {
	// ModulePath is the RTMP module's shared object (load_module): RelayModulePath on Debian.
	ModulePath string
	// Listen is nginx's RTMP listen address: "1935" in the pod, "127.0.0.1:<port>" in tests.
	Listen string
	// PublishURL and PublishDoneURL are the receiver's on_publish and on_publish_done URLs.
	PublishURL     string
	PublishDoneURL string
	// PushScript is the path of push.sh.
	PushScript string
	// Record keeps a copy of every stream, as <RecordPath>/<name>-<unix time>.flv.
	Record     bool
	RecordPath string
	// PidFile is nginx's pid file; it must be writable by nginx's (non-root) user.
	PidFile string
	// ErrorLog is nginx's error log: "stderr" in the pod.
	ErrorLog string
}

// RelayNginxConf renders nginx.conf: no HTTP server and no temp paths, so it needs nothing
// writable but PidFile, RecordPath and push.sh's temporary directory.
func RelayNginxConf(c RelayConf) string {
	t := template.Must(template.New(RelayNginxConfFile).Funcs(template.FuncMap{"q": nginxQuote}).Parse(relayNginxConfTemplate))
	var b strings.Builder
	if err := t.Execute(&b, c); err != nil {
		// The template and its input are fixed types: an error is a bug in this package.
		panic(err)
	}
	return b.String()
}

// nginxQuote makes s one nginx config argument.
func nginxQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// relayConf is the relay's configuration in its pod.
func relayConf(in RelayInput, record bool) RelayConf {
	receiver := strings.TrimRight(in.ReceiverURL, "/")
	return RelayConf{
		ModulePath:     RelayModulePath,
		Listen:         fmt.Sprint(RelayPort),
		PublishURL:     receiver + "/v1/rtmp/publish",
		PublishDoneURL: receiver + "/v1/rtmp/publish-done",
		PushScript:     relayConfigDir + "/" + RelayPushFile,
		Record:         record,
		RecordPath:     relayRecordingsDir,
		PidFile:        "/tmp/nginx.pid",
		ErrorLog:       "stderr",
	}
}

// relayLabels are the labels of the relay's objects.
func relayLabels(in RelayInput) map[string]string {
	l := Labels(in.Deployment, ComponentRelay)
	l[LabelPool] = in.Pool.Name
	return l
}

// relaySelectorLabels select the relay's pods. They are few and never change, because a
// Deployment's selector is immutable.
func relaySelectorLabels(in RelayInput) map[string]string {
	l := SelectorLabels(in.Deployment, ComponentRelay)
	l[LabelPool] = in.Pool.Name
	return l
}

// relayMeta names, labels and owns a relay object: the pool is its controlling owner.
func relayMeta(in RelayInput) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: JibriRelay(in.Pool), Namespace: in.Pool.Namespace, Labels: relayLabels(in),
		OwnerReferences: poolOwnerReferences(in.Pool),
	}
}

// The relay renderers render the relay whether or not the pool enables it
// (spec.streaming.relay.enabled): the caller applies them, or deletes their namesakes.

// RelayConfigMap holds the relay's nginx.conf and push.sh.
func RelayConfigMap(in RelayInput) *corev1.ConfigMap {
	spec := relaySpec(in.Pool)
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: relayMeta(in),
		Data:       relayFiles(in, spec),
	}
}

func relayFiles(in RelayInput, spec *jitsiv1alpha1.RelaySpec) map[string]string {
	return map[string]string{
		RelayNginxConfFile: RelayNginxConf(relayConf(in, spec.Record)),
		RelayPushFile:      RelayPushScript,
	}
}

// RelayDeployment runs the relay's nginx (in the foreground, as a non-root user, on a read-only
// root filesystem). A change of its ConfigMap rolls its pods.
func RelayDeployment(in RelayInput) *appsv1.Deployment {
	spec := relaySpec(in.Pool)
	img := spec.Image
	if img == "" {
		img = in.Image
	}
	replicas := int32(1)
	if spec.Replicas != nil {
		replicas = *spec.Replicas
	}
	files := relayFiles(in, spec)
	hash := map[string][]byte{}
	for k, v := range files {
		hash[k] = []byte(v)
	}
	yes, no := true, false
	uid := relayUID
	mode := int32(0o755)
	container := corev1.Container{
		Name:    "nginx",
		Image:   img,
		Command: []string{"nginx", "-c", relayConfigDir + "/" + RelayNginxConfFile, "-e", "stderr"},
		Env: []corev1.EnvVar{
			secretEnv(KeyRelayURL, selector(JibriPoolSecret(in.Pool), KeyRelayURL)),
		},
		Ports:          []corev1.ContainerPort{{Name: "rtmp", ContainerPort: RelayPort, Protocol: corev1.ProtocolTCP}},
		ReadinessProbe: tcpProbe("rtmp", 10, 3),
		LivenessProbe:  tcpProbe("rtmp", 20, 3),
		Resources:      *spec.Resources.DeepCopy(),
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: &no,
			ReadOnlyRootFilesystem:   &yes,
			RunAsNonRoot:             &yes,
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
		VolumeMounts: []corev1.VolumeMount{
			{Name: "config", MountPath: relayConfigDir, ReadOnly: true},
			// The pid file and push.sh's temporary files.
			{Name: "tmp", MountPath: "/tmp"},
		},
	}
	volumes := []corev1.Volume{
		{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: JibriRelay(in.Pool)}, DefaultMode: &mode,
		}}},
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	if spec.Record {
		container.VolumeMounts = append(container.VolumeMounts, corev1.VolumeMount{Name: "recordings", MountPath: relayRecordingsDir})
		volumes = append(volumes, corev1.Volume{Name: "recordings", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	}
	d := in.Deployment
	pod := corev1.PodSpec{
		Containers: []corev1.Container{container},
		Volumes:    volumes,
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot: &yes,
			RunAsUser:    &uid,
			RunAsGroup:   &uid,
			// nginx writes recordings as its own user: the volumes belong to its group.
			FSGroup:        &uid,
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		AutomountServiceAccountToken: &no,
		EnableServiceLinks:           &no,
	}
	for _, ref := range d.Spec.ImagePullSecrets {
		pod.ImagePullSecrets = append(pod.ImagePullSecrets, corev1.LocalObjectReference{Name: ref.Name})
	}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: relayMeta(in),
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: relaySelectorLabels(in)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      relayLabels(in),
					Annotations: map[string]string{AnnotationConfigHash: Hash(hash)},
				},
				Spec: pod,
			},
		},
	}
}

// RelayService is the relay's ClusterIP Service (RTMP on 1935), the host of RelayStreamURL.
func RelayService(in RelayInput) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: relayMeta(in),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: relaySelectorLabels(in),
			Ports: []corev1.ServicePort{{
				Name: "rtmp", Port: RelayPort, TargetPort: intstr.FromString("rtmp"), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
}

// RelayNetworkPolicy lets only this pool's recorders reach the relay, on its RTMP port: the
// receiver admits only live meetings' stream keys, and the policy keeps everyone else in the
// cluster from even trying.
func RelayNetworkPolicy(in RelayInput) *networkingv1.NetworkPolicy {
	tcp := corev1.ProtocolTCP
	port := intstr.FromInt32(RelayPort)
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: relayMeta(in),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: relaySelectorLabels(in)},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{
					LabelPool:      in.Pool.Name,
					LabelComponent: ComponentJibri,
				}}}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port}},
			}},
		},
	}
}
