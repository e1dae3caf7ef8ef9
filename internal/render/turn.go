package render

import (
	"crypto/hmac"
	"crypto/sha1"
	_ "embed"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

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
	// the -rN tags are its Debian variant, built from docker/coturn/debian/Dockerfile), pinned
	// to the newest image release in coturn's history, the git tag docker/4.17.0-r0. Releases
	// before 4.13.1 let IPv4-mapped IPv6 peers past allowed/denied-peer-ip (coturn #1945), which
	// is what keeps this server's relays inside the pod network; 4.17.0 also stops asking the
	// kernel for an outgoing TTL of 0 (#2027) and starts DTLS only when asked (#2026).
	TURNImage = "docker.io/coturn/coturn:4.17.0-r0"
	// Files of the TURN ConfigMap.
	TURNConfFile   = "turnserver.conf"
	TURNScriptFile = "start.sh"

	turnConfigDir = "/etc/jitsi-operator-turn"
	turnTLSDir    = "/etc/jitsi-operator-turn-tls"
	turnRunDir    = "/run/coturn"
	turnSecretEnv = "TURN_SECRET"
)

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
