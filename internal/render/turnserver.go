package render

import (
	_ "embed"
	"net/netip"
	"strings"
	"text/template"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

// The managed TURN server (spec.turn.managed): coturn with the stack's shared secret, relaying only
// to the cluster's pod network (PROTOCOLS.md 10).

// TURNStartScript starts coturn in its pod: it adds the shared secret, from the environment, to
// a copy of turnserver.conf (see its header).
//
//go:embed turn/start.sh
var TURNStartScript string

//go:embed turn/turnserver.conf.tmpl
var turnConfTemplate string

var turnConf = template.Must(template.New(TURNConfFile).Parse(turnConfTemplate))

// TURNServerConf is what turnserver.conf is made of.
type TURNServerConf struct {
	// ListenIPs are the addresses coturn listens on. None: every address of the host (the pod).
	ListenIPs []string
	// RelayIPs are the addresses relay sockets bind. None: the address the client reached.
	RelayIPs []string
	// Port is TURN over UDP and TCP.
	Port int
	// TLSPort is TURN over TLS, with certificate TLSCert and key TLSKey (PEM files). Without
	// TLSCert coturn serves no TLS.
	TLSPort         int
	TLSCert, TLSKey string
	// Realm is the TURN realm (the deployment's domain).
	Realm string
	// RelayMinPort and RelayMaxPort bound the relay ports.
	RelayMinPort, RelayMaxPort int
	// AllowedPeers are the only peers relayed to: CIDRs, addresses or "a-b" ranges. Anything
	// else is left out (with a comment), which relays less, never more.
	AllowedPeers []string
	// AllowLoopbackPeers relays to loopback too. Tests only: never in a pod.
	AllowLoopbackPeers bool
	// PidFile and DBFile are coturn's pid file and SQLite database (unused with a static
	// secret, but opened): both must be writable.
	PidFile, DBFile string
	// Verbose logs every request, with its username (tests).
	Verbose bool
	// OldDefaults adds no-cli and no-dtls, for coturn before 4.17 (Debian 12's 4.6.1, in the
	// tests), which otherwise starts a telnet CLI and, with a certificate, DTLS. 4.17 (TURNImage)
	// starts neither unless asked (src/apps/relay/mainrelay.c: use_cli false by default; DTLS
	// only with --dtls, #2026) and keeps no-dtls only as a deprecated option.
	OldDefaults bool
}

// TURNServerConfig renders turnserver.conf. It never holds the shared secret: start.sh
// (TURNStartScript) appends static-auth-secret when the server starts.
func TURNServerConfig(c TURNServerConf) string {
	data := struct {
		TURNServerConf
		Peers, Ignored []string
	}{TURNServerConf: c}
	data.Realm, data.TLSCert, data.TLSKey = oneLine(c.Realm), oneLine(c.TLSCert), oneLine(c.TLSKey)
	data.PidFile, data.DBFile = oneLine(c.PidFile), oneLine(c.DBFile)
	data.ListenIPs, data.RelayIPs = addresses(c.ListenIPs), addresses(c.RelayIPs)
	for _, s := range c.AllowedPeers {
		if r, ok := PeerRange(s); ok {
			data.Peers = append(data.Peers, r)
		} else {
			data.Ignored = append(data.Ignored, s)
		}
	}
	var b strings.Builder
	if err := turnConf.Execute(&b, data); err != nil {
		// The template and its input are fixed types: an error is a bug in this package.
		panic(err)
	}
	return b.String()
}

// PeerRange turns a CIDR ("10.244.0.0/16"), an address, or a range "a-b" into coturn's
// allowed-peer-ip form: an address, or "first-last" (coturn 4.6 takes no CIDR).
func PeerRange(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if a, b, ok := strings.Cut(s, "-"); ok {
		first, err1 := netip.ParseAddr(strings.TrimSpace(a))
		last, err2 := netip.ParseAddr(strings.TrimSpace(b))
		if err1 != nil || err2 != nil || first.Zone() != "" || last.Zone() != "" || first.Is4() != last.Is4() || last.Less(first) {
			return "", false
		}
		return first.String() + "-" + last.String(), true
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a.String(), true
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return "", false
	}
	p = p.Masked()
	if p.IsSingleIP() {
		return p.Addr().String(), true
	}
	last := p.Addr().AsSlice()
	for i := p.Bits(); i < len(last)*8; i++ {
		last[i/8] |= 0x80 >> (i % 8)
	}
	end, _ := netip.AddrFromSlice(last)
	return p.Addr().String() + "-" + end.String(), true
}

// addresses keeps the valid IP addresses of list.
func addresses(list []string) []string {
	var out []string
	for _, s := range list {
		if a, err := netip.ParseAddr(strings.TrimSpace(s)); err == nil {
			out = append(out, a.String())
		}
	}
	return out
}

// oneLine drops control characters, so that a value cannot add lines to the config.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// turnPodConf is the managed server's configuration in its pod.
func turnPodConf(in Input, t TURNInput) TURNServerConf {
	c := TURNServerConf{
		Port:         TURNPort,
		Realm:        in.Deployment.Spec.Domain,
		RelayMinPort: TURNRelayMinPort,
		RelayMaxPort: TURNRelayMaxPort,
		AllowedPeers: t.PodCIDRs,
		PidFile:      turnRunDir + "/turnserver.pid",
		DBFile:       turnRunDir + "/turndb",
	}
	if t.TLSSecret != "" {
		c.TLSPort = TURNTLSPort
		c.TLSCert = turnTLSDir + "/" + corev1.TLSCertKey
		c.TLSKey = turnTLSDir + "/" + corev1.TLSPrivateKeyKey
	}
	return c
}

func turnManaged(d *jitsiv1alpha1.JitsiDeployment) bool {
	return d.Spec.TURN != nil && d.Spec.TURN.Managed
}

func turnFiles(in Input, t TURNInput) map[string]string {
	return map[string]string{
		TURNConfFile:   TURNServerConfig(turnPodConf(in, t)),
		TURNScriptFile: TURNStartScript,
	}
}

// TURNConfigMap holds the managed server's turnserver.conf (without the secret) and start.sh.
// Nil unless spec.turn.managed.
func TURNConfigMap(in Input, t TURNInput) *corev1.ConfigMap {
	d := in.Deployment
	if !turnManaged(d) {
		return nil
	}
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: objectMeta(d, TURN(d), Labels(d, ComponentTURN)),
		Data:       turnFiles(in, t),
	}
}

// TURNDeployment runs the managed coturn (nil unless spec.turn.managed): one replica, as a
// non-root user on a read-only root filesystem, the secret from in.Secrets.TURN through
// secretKeyRef into start.sh. coturn reads its config and certificate once, so a change of the
// ConfigMap or of t.TLSSecret's name rolls the pod; so does in.ConfigHashes[ComponentTURN],
// where the reconciler puts a hash of the shared secret and of the certificate.
func TURNDeployment(in Input, t TURNInput) *appsv1.Deployment {
	d := in.Deployment
	if !turnManaged(d) {
		return nil
	}
	img := t.Image
	if img == "" {
		img = TURNImage
	}
	scriptMode := int32(0o555)
	runSize := resource.MustParse("16Mi")
	container := corev1.Container{
		Name:    "coturn",
		Image:   img,
		Command: []string{"/bin/sh", turnConfigDir + "/" + TURNScriptFile},
		Env: []corev1.EnvVar{
			secretEnv(turnSecretEnv, in.Secrets.TURN),
			env("TURN_CONFIG", turnConfigDir+"/"+TURNConfFile),
			env("TURN_RUN_DIR", turnRunDir),
		},
		Ports: []corev1.ContainerPort{
			{Name: "turn-udp", ContainerPort: TURNPort, Protocol: corev1.ProtocolUDP},
			{Name: "turn-tcp", ContainerPort: TURNPort, Protocol: corev1.ProtocolTCP},
		},
		ReadinessProbe: tcpProbe("turn-tcp", 10, 3),
		LivenessProbe:  tcpProbe("turn-tcp", 20, 3),
		VolumeMounts: []corev1.VolumeMount{
			{Name: "config", MountPath: turnConfigDir, ReadOnly: true},
			// The complete config (with the secret), the pid file and coturn's database.
			{Name: "run", MountPath: turnRunDir},
		},
	}
	volumes := []corev1.Volume{
		{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: TURN(d)}, DefaultMode: &scriptMode,
		}}},
		// In memory: the secret never reaches the node's disk.
		{Name: "run", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			Medium: corev1.StorageMediumMemory, SizeLimit: &runSize,
		}}},
	}
	if t.TLSSecret != "" {
		keyMode := int32(0o440)
		container.Ports = append(container.Ports, corev1.ContainerPort{Name: "turns", ContainerPort: TURNTLSPort, Protocol: corev1.ProtocolTCP})
		container.VolumeMounts = append(container.VolumeMounts, corev1.VolumeMount{Name: "tls", MountPath: turnTLSDir, ReadOnly: true})
		volumes = append(volumes, corev1.Volume{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: t.TLSSecret, DefaultMode: &keyMode,
		}}})
	}
	pod := corev1.PodSpec{Containers: []corev1.Container{container}, Volumes: volumes}
	// The image's turnserver carries the file capability NET_BIND_SERVICE, which must stay in
	// the bounding set (Contracts[ComponentTURN]; the restricted Pod Security Standard allows
	// it). No new privileges: coturn still runs on unprivileged ports.
	restrictedPod(&pod, d, ComponentTURN)

	files := turnFiles(in, t)
	hash := map[string][]byte{"tls-secret": []byte(t.TLSSecret), "inputs": []byte(in.ConfigHashes[ComponentTURN])}
	for k, v := range files {
		hash[k] = []byte(v)
	}
	one := int32(1)
	dep := componentDeployment(in, ComponentTURN, TURN(d), &one, appsv1.RollingUpdateDeploymentStrategyType, pod)
	dep.Spec.Template.Annotations = map[string]string{AnnotationConfigHash: Hash(hash)}
	return dep
}

// TURNService is the managed server's public address, TURNHost's DNS target (nil unless
// spec.turn.managed): a load balancer with TURN on 3478 over UDP and TCP, and TURN over TLS on
// 443 (to coturn's 5349) when t.TLSSecret is set. Relay ports are not exposed: the server
// relays only to pods. UDP and TCP on one load balancer needs Kubernetes 1.26 or later and a
// provider that supports mixed protocols.
func TURNService(in Input, t TURNInput) *corev1.Service {
	d := in.Deployment
	if !turnManaged(d) {
		return nil
	}
	ports := []corev1.ServicePort{
		{Name: "turn-udp", Protocol: corev1.ProtocolUDP, Port: TURNPort, TargetPort: intstr.FromString("turn-udp")},
		{Name: "turn-tcp", Protocol: corev1.ProtocolTCP, Port: TURNPort, TargetPort: intstr.FromString("turn-tcp")},
	}
	if t.TLSSecret != "" {
		ports = append(ports, corev1.ServicePort{Name: "turns", Protocol: corev1.ProtocolTCP, Port: TURNSPort, TargetPort: intstr.FromString("turns")})
	}
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: objectMeta(d, TURN(d), Labels(d, ComponentTURN)),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: SelectorLabels(d, ComponentTURN),
			Ports:    ports,
			// Only the node running coturn answers: no extra hop, and coturn sees the client.
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
		},
	}
}

// TURNNetworkPolicy lets the managed server send only to the bridges' media port (nil unless
// spec.turn.managed). allowed-peer-ip already keeps relays inside the pod network; this keeps
// them off every other pod of it (a relay to any pod's UDP port would reach, for example, the
// cluster's DNS). Replies to clients and to bridges are allowed as part of their flows. It
// relies on the bridges' private candidates (their pod address and media port), which
// docker-jitsi-meet advertises by default. Enforced only where the network plugin does.
func TURNNetworkPolicy(in Input) *networkingv1.NetworkPolicy {
	d := in.Deployment
	if !turnManaged(d) {
		return nil
	}
	udp := corev1.ProtocolUDP
	media := intstr.FromInt32(d.Spec.JVB.Media.Port)
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: objectMeta(d, TURN(d), Labels(d, ComponentTURN)),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: SelectorLabels(d, ComponentTURN)},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress: []networkingv1.NetworkPolicyEgressRule{{
				To:    []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: SelectorLabels(d, ComponentJVB)}}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &media}},
			}},
		},
	}
}
