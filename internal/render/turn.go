package render

import (
	"crypto/hmac"
	"crypto/sha1"
	_ "embed"
	"encoding/base64"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"text/template"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

// TURN (PROTOCOLS.md 10). Prosody hands clients the TURN servers of spec.turn with credentials
// that expire, derived from a shared secret (coturn's TURN REST API scheme), through
// docker-jitsi-meet's TURN_* variables. With spec.turn.managed the operator also runs coturn
// with the same secret, relaying only to the cluster's pod network.

// ComponentTURN is the LabelComponent of the managed TURN server.
const ComponentTURN = "turn"

// TURN conventions.
const (
	// TURNPort is TURN over UDP and TCP (the IANA port), on the Service and in the container.
	TURNPort = 3478
	// TURNSPort is TURN over TLS as the Service exposes it: 443 passes the firewalls that
	// block everything but HTTPS.
	TURNSPort = 443
	// TURNTLSPort is coturn's TLS port in the container (its default); the Service maps
	// TURNSPort to it, so coturn needs no privileged port.
	TURNTLSPort = 5349
	// TURNRelayMinPort and TURNRelayMaxPort bound the relay ports: about one per concurrent
	// allocation. They are not exposed (see turnserver.conf.tmpl for the trade-offs).
	TURNRelayMinPort = 50000
	TURNRelayMaxPort = 54999
	// TURNCredentialTTL is how long the credentials Prosody hands out stay valid. Clients fetch
	// them once before a call and never again, so it is long.
	TURNCredentialTTL = 24 * time.Hour
	// TURNImage is the managed server's default image: coturn's own (docker hub coturn/coturn;
	// the -rN tags are its Debian variant), pinned to 4.18.0. Releases before 4.13 let
	// IPv4-mapped IPv6 peers past allowed/denied-peer-ip, which is what keeps this server's
	// relays inside the pod network; 4.17.0 and 4.17.1 send with a TTL of 1.
	TURNImage = "docker.io/coturn/coturn:4.18.0-r0"
	// Files of the TURN ConfigMap.
	TURNConfFile   = "turnserver.conf"
	TURNScriptFile = "start.sh"

	turnConfigDir = "/etc/jitsi-operator-turn"
	turnTLSDir    = "/etc/jitsi-operator-turn-tls"
	turnRunDir    = "/run/coturn"
	turnSecretEnv = "TURN_SECRET"
)

// TURNStartScript starts coturn in its pod: it adds the shared secret, from the environment, to
// a copy of turnserver.conf (see its header).
//
//go:embed turn/start.sh
var TURNStartScript string

//go:embed turn/turnserver.conf.tmpl
var turnConfTemplate string

var turnConf = template.Must(template.New(TURNConfFile).Parse(turnConfTemplate))

// TURN names the managed TURN server's ConfigMap, Deployment, Service and NetworkPolicy.
func TURN(d *jitsiv1alpha1.JitsiDeployment) string { return d.Name + "-turn" }

// TURNHost is the managed server's public host name, "turn.<spec.domain>": its own name, because
// TURN over TLS takes port 443 on an address of its own (the web front end has the domain's 443),
// and its certificate must name it. Its DNS record points at TURNService's load balancer.
func TURNHost(d *jitsiv1alpha1.JitsiDeployment) string { return "turn." + d.Spec.Domain }

// TURNInput is what the TURN renderers read beyond Input; the reconciler fills it. The shared
// secret is Input.Secrets.TURN.
type TURNInput struct {
	// PodCIDRs are the cluster's pod networks (CIDRs, addresses or "a-b" ranges), as observed:
	// the only peers the managed server relays to. None: it relays to nobody.
	PodCIDRs []string
	// TLSSecret names a kubernetes.io/tls Secret whose certificate is valid for TURNHost. With
	// it the managed server also serves TURN over TLS on TURNSPort. Empty: no TLS.
	TLSSecret string
	// Image is the managed server's image. Empty: TURNImage.
	Image string
}

// TURNCredentials are the credentials Prosody hands out for a TURN server with shared secret
// secret (coturn's TURN REST API scheme, Prosody's mod_external_services with algorithm "turn"):
// username is the Unix time at which they expire, password is base64(HMAC-SHA1(secret,
// username)) in standard encoding with padding. coturn (use-auth-secret) accepts them until
// expiry.
func TURNCredentials(secret []byte, expiry time.Time) (username, password string) {
	username = strconv.FormatInt(expiry.Unix(), 10)
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username))
	return username, base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// turnEntry is one TURN server as clients get it.
type turnEntry struct {
	host      string
	port      int32
	transport jitsiv1alpha1.TURNTransport
}

// turnEntries are the servers handed to clients: the managed one first, then spec.turn.servers,
// with their default ports and transport.
func turnEntries(d *jitsiv1alpha1.JitsiDeployment, t TURNInput) []turnEntry {
	spec := d.Spec.TURN
	var out []turnEntry
	if spec.Managed {
		out = append(out,
			turnEntry{TURNHost(d), TURNPort, jitsiv1alpha1.TURNTransport("udp")},
			turnEntry{TURNHost(d), TURNPort, jitsiv1alpha1.TURNTransport("tcp")})
		if t.TLSSecret != "" {
			out = append(out, turnEntry{TURNHost(d), TURNSPort, jitsiv1alpha1.TURNTransport("tls")})
		}
	}
	for _, s := range spec.Servers {
		e := turnEntry{host: s.Host, transport: s.Transport}
		if e.transport == "" {
			e.transport = "udp"
		}
		switch {
		case s.Port != nil:
			e.port = *s.Port
		case e.transport == "tls":
			e.port = TURNSPort
		default:
			e.port = TURNPort
		}
		out = append(out, e)
	}
	return out
}

// turnPlan is what docker-jitsi-meet's variables can say: one port for every TURN host, each
// host over every transport of TURN_TRANSPORT, and one port for every TURNS host.
type turnPlan struct {
	hosts, tlsHosts   []string
	port, tlsPort     int32
	udp, tcp          bool
	leftOut           []string
	seen, seenTLSHost map[string]bool
}

func planTURN(d *jitsiv1alpha1.JitsiDeployment, t TURNInput) turnPlan {
	p := turnPlan{seen: map[string]bool{}, seenTLSHost: map[string]bool{}}
	for _, e := range turnEntries(d, t) {
		if e.transport == "tls" {
			if p.tlsPort == 0 {
				p.tlsPort = e.port
			}
			if e.port != p.tlsPort {
				p.leftOut = append(p.leftOut, fmt.Sprintf("%s:%d (tls): every TLS server is handed out on one port (TURNS_PORT), here %d", e.host, e.port, p.tlsPort))
				continue
			}
			if !p.seenTLSHost[e.host] {
				p.seenTLSHost[e.host] = true
				p.tlsHosts = append(p.tlsHosts, e.host)
			}
			continue
		}
		if p.port == 0 {
			p.port = e.port
		}
		if e.port != p.port {
			p.leftOut = append(p.leftOut, fmt.Sprintf("%s:%d (%s): every udp and tcp server is handed out on one port (TURN_PORT), here %d", e.host, e.port, e.transport, p.port))
			continue
		}
		if e.transport == "tcp" {
			p.tcp = true
		} else {
			p.udp = true
		}
		if !p.seen[e.host] {
			p.seen[e.host] = true
			p.hosts = append(p.hosts, e.host)
		}
	}
	return p
}

// TURNEnv is the docker-jitsi-meet Prosody variables that hand clients the TURN servers of
// spec.turn (nil when it is not set), the managed server (TURNHost) first:
//   - TURN_CREDENTIALS, the shared secret, from in.Secrets.TURN through secretKeyRef, never in
//     clear;
//   - TURN_HOST, TURN_PORT, TURN_TRANSPORT for the udp and tcp servers. Prosody hands out every
//     host over every transport listed, on the one port;
//   - TURNS_HOST, TURNS_PORT for the tls servers (Prosody adds transport=tcp);
//   - TURN_TTL, TURNCredentialTTL in seconds.
//
// The Jitsi web client uses only transport=tcp servers (turn: with tcp, and turns:) for the
// bridge: udp-only servers help peer-to-peer calls alone. Servers the variables cannot express
// (another port than the first of their kind) are left out; TURNLeftOut says which.
func TURNEnv(in Input, t TURNInput) []corev1.EnvVar {
	d := in.Deployment
	if d.Spec.TURN == nil {
		return nil
	}
	p := planTURN(d, t)
	out := []corev1.EnvVar{secretEnv("TURN_CREDENTIALS", in.Secrets.TURN)}
	if len(p.hosts) > 0 {
		var transports []string
		if p.udp {
			transports = append(transports, "udp")
		}
		if p.tcp {
			transports = append(transports, "tcp")
		}
		out = append(out,
			env("TURN_HOST", strings.Join(p.hosts, ",")),
			env("TURN_PORT", fmt.Sprint(p.port)),
			env("TURN_TRANSPORT", strings.Join(transports, ",")))
	}
	if len(p.tlsHosts) > 0 {
		out = append(out,
			env("TURNS_HOST", strings.Join(p.tlsHosts, ",")),
			env("TURNS_PORT", fmt.Sprint(p.tlsPort)))
	}
	return append(out, env("TURN_TTL", fmt.Sprint(int64(TURNCredentialTTL/time.Second))))
}

// TURNLeftOut says, for people, which servers of spec.turn TURNEnv leaves out and why; nil when
// it hands out every one.
func TURNLeftOut(in Input, t TURNInput) []string {
	if in.Deployment.Spec.TURN == nil {
		return nil
	}
	return planTURN(in.Deployment, t).leftOut
}

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
	// tests), which otherwise starts a telnet CLI and, with a certificate, DTLS. Newer coturn
	// (TURNImage) starts neither unless asked, and no longer knows these options.
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
	tcp := func(period, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("turn-tcp")}},
			PeriodSeconds:    period,
			TimeoutSeconds:   5,
			FailureThreshold: failures,
		}
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
		ReadinessProbe: tcp(10, 3),
		LivenessProbe:  tcp(20, 3),
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
	restrictedPod(&pod, d)
	// The image gives turnserver the file capability NET_BIND_SERVICE (setcap +ep). Such a
	// binary does not start when the capability is outside the bounding set, which dropping
	// ALL empties; keeping this one (the restricted Pod Security Standard allows it) lets it
	// start. No new privileges: coturn still runs without it, on unprivileged ports.
	pod.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"NET_BIND_SERVICE"}

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
