package render

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

func withTURN(spec jitsiv1alpha1.TURNSpec) func(*jitsiv1alpha1.JitsiDeployment) {
	return func(d *jitsiv1alpha1.JitsiDeployment) { d.Spec.TURN = &spec }
}

func turnServer(host string, port int32, transport string) jitsiv1alpha1.TURNServer {
	s := jitsiv1alpha1.TURNServer{Host: host, Transport: jitsiv1alpha1.TURNTransport(transport)}
	if port != 0 {
		s.Port = &port
	}
	return s
}

// turnVars maps TURNEnv's variables to their values, and checks the secret arrives only through
// secretKeyRef.
func turnVars(t *testing.T, in Input, ti TURNInput) map[string]string {
	t.Helper()
	vars := map[string]string{}
	for _, e := range TURNEnv(in, ti) {
		if _, dup := vars[e.Name]; dup {
			t.Errorf("variable %s set twice", e.Name)
		}
		if e.Name == "TURN_CREDENTIALS" {
			if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || *e.ValueFrom.SecretKeyRef != in.Secrets.TURN {
				t.Errorf("TURN_CREDENTIALS is not read from %v through secretKeyRef: %+v", in.Secrets.TURN, e)
			}
			vars[e.Name] = "<secret>"
			continue
		}
		if e.ValueFrom != nil {
			t.Errorf("%s: unexpected valueFrom", e.Name)
		}
		vars[e.Name] = e.Value
	}
	return vars
}

// dockerTURNURLs is what docker-jitsi-meet's prosody.cfg.lua (2e6b31d) makes of the variables, as
// TURN URLs: every TURN_HOST over every TURN_TRANSPORT on TURN_PORT, every TURNS_HOST with
// transport tcp on TURNS_PORT, with the template's defaults.
func dockerTURNURLs(vars map[string]string) []string {
	get := func(name, def string) string {
		if v := vars[name]; v != "" {
			return v
		}
		return def
	}
	split := func(s string) []string {
		var out []string
		for _, f := range strings.Split(s, ",") {
			if f != "" {
				out = append(out, f)
			}
		}
		return out
	}
	var urls []string
	for _, h := range split(vars["TURN_HOST"]) {
		for _, tr := range split(get("TURN_TRANSPORT", "tcp")) {
			urls = append(urls, fmt.Sprintf("turn:%s:%s?transport=%s", h, get("TURN_PORT", "443"), tr))
		}
	}
	for _, h := range split(vars["TURNS_HOST"]) {
		urls = append(urls, fmt.Sprintf("turns:%s:%s?transport=tcp", h, get("TURNS_PORT", "443")))
	}
	return urls
}

func TestTURNEnv(t *testing.T) {
	cases := []struct {
		name    string
		spec    *jitsiv1alpha1.TURNSpec
		tls     string
		vars    map[string]string
		urls    []string
		leftOut []string
	}{
		{name: "no turn"},
		{
			name: "udp, tcp and tls servers with default ports",
			spec: &jitsiv1alpha1.TURNSpec{Servers: []jitsiv1alpha1.TURNServer{
				turnServer("a.example.net", 0, ""), turnServer("b.example.net", 3478, "tcp"), turnServer("c.example.net", 0, "tls"),
			}},
			vars: map[string]string{
				"TURN_HOST": "a.example.net,b.example.net", "TURN_PORT": "3478", "TURN_TRANSPORT": "udp,tcp",
				"TURNS_HOST": "c.example.net", "TURNS_PORT": "443",
			},
			urls: []string{
				"turn:a.example.net:3478?transport=udp", "turn:a.example.net:3478?transport=tcp",
				"turn:b.example.net:3478?transport=udp", "turn:b.example.net:3478?transport=tcp",
				"turns:c.example.net:443?transport=tcp",
			},
		},
		{
			name: "one host over udp and tcp is listed once",
			spec: &jitsiv1alpha1.TURNSpec{Servers: []jitsiv1alpha1.TURNServer{
				turnServer("a.example.net", 3479, "udp"), turnServer("a.example.net", 3479, "tcp"),
			}},
			vars: map[string]string{"TURN_HOST": "a.example.net", "TURN_PORT": "3479", "TURN_TRANSPORT": "udp,tcp"},
			urls: []string{"turn:a.example.net:3479?transport=udp", "turn:a.example.net:3479?transport=tcp"},
		},
		{
			name: "tcp only",
			spec: &jitsiv1alpha1.TURNSpec{Servers: []jitsiv1alpha1.TURNServer{turnServer("b.example.net", 443, "tcp")}},
			vars: map[string]string{"TURN_HOST": "b.example.net", "TURN_PORT": "443", "TURN_TRANSPORT": "tcp"},
			urls: []string{"turn:b.example.net:443?transport=tcp"},
		},
		{
			name: "managed without a certificate, and a tls server",
			spec: &jitsiv1alpha1.TURNSpec{Managed: true, Servers: []jitsiv1alpha1.TURNServer{turnServer("c.example.net", 5349, "tls")}},
			vars: map[string]string{
				"TURN_HOST": "turn.meet.example.com", "TURN_PORT": "3478", "TURN_TRANSPORT": "udp,tcp",
				"TURNS_HOST": "c.example.net", "TURNS_PORT": "5349",
			},
			urls: []string{
				"turn:turn.meet.example.com:3478?transport=udp", "turn:turn.meet.example.com:3478?transport=tcp",
				"turns:c.example.net:5349?transport=tcp",
			},
		},
		{
			name: "managed with a certificate",
			spec: &jitsiv1alpha1.TURNSpec{Managed: true},
			tls:  "turn-cert",
			vars: map[string]string{
				"TURN_HOST": "turn.meet.example.com", "TURN_PORT": "3478", "TURN_TRANSPORT": "udp,tcp",
				"TURNS_HOST": "turn.meet.example.com", "TURNS_PORT": "443",
			},
			urls: []string{
				"turn:turn.meet.example.com:3478?transport=udp", "turn:turn.meet.example.com:3478?transport=tcp",
				"turns:turn.meet.example.com:443?transport=tcp",
			},
		},
		{
			name: "servers on other ports than the first of their kind are left out",
			spec: &jitsiv1alpha1.TURNSpec{Managed: true, Servers: []jitsiv1alpha1.TURNServer{
				turnServer("a.example.net", 5000, "udp"), turnServer("b.example.net", 3478, "tcp"),
				turnServer("c.example.net", 0, "tls"), turnServer("d.example.net", 5349, "tls"),
			}},
			vars: map[string]string{
				"TURN_HOST": "turn.meet.example.com,b.example.net", "TURN_PORT": "3478", "TURN_TRANSPORT": "udp,tcp",
				"TURNS_HOST": "c.example.net", "TURNS_PORT": "443",
			},
			urls: []string{
				"turn:turn.meet.example.com:3478?transport=udp", "turn:turn.meet.example.com:3478?transport=tcp",
				"turn:b.example.net:3478?transport=udp", "turn:b.example.net:3478?transport=tcp",
				"turns:c.example.net:443?transport=tcp",
			},
			leftOut: []string{"a.example.net:5000", "d.example.net:5349"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := deployment()
			if c.spec != nil {
				d = deployment(withTURN(*c.spec))
			}
			in := input(d)
			ti := TURNInput{TLSSecret: c.tls}
			if c.spec == nil {
				if env := TURNEnv(in, ti); env != nil {
					t.Fatalf("TURNEnv without turn = %v, want nil", env)
				}
				return
			}
			vars := turnVars(t, in, ti)
			want := map[string]string{"TURN_CREDENTIALS": "<secret>", "TURN_TTL": "86400"}
			for k, v := range c.vars {
				want[k] = v
			}
			for k, v := range want {
				if vars[k] != v {
					t.Errorf("%s = %q, want %q", k, vars[k], v)
				}
			}
			for k := range vars {
				if _, ok := want[k]; !ok {
					t.Errorf("unexpected variable %s=%q", k, vars[k])
				}
			}
			if urls := dockerTURNURLs(vars); !slices.Equal(urls, c.urls) {
				t.Errorf("Prosody hands out\n%s\nwant\n%s", strings.Join(urls, "\n"), strings.Join(c.urls, "\n"))
			}
			left := TURNLeftOut(in, ti)
			if len(left) != len(c.leftOut) {
				t.Fatalf("left out %q, want %q", left, c.leftOut)
			}
			for i, l := range c.leftOut {
				if !strings.HasPrefix(left[i], l) {
					t.Errorf("left out %q, want %q...", left[i], l)
				}
			}
		})
	}
}

// The web client uses only transport=tcp servers for the bridge (PROTOCOLS.md 10): every tcp and
// tls server of the spec, and the managed one, must come out as such a URL.
func TestTURNEnvGivesTheBridgeTCPURLs(t *testing.T) {
	spec := jitsiv1alpha1.TURNSpec{Managed: true, Servers: []jitsiv1alpha1.TURNServer{
		turnServer("relay.example.net", 0, "tcp"), turnServer("tls.example.net", 0, "tls"), turnServer("udp.example.net", 0, "udp"),
	}}
	in := input(deployment(withTURN(spec)))
	urls := dockerTURNURLs(turnVars(t, in, TURNInput{TLSSecret: "turn-cert"}))
	for _, want := range []string{
		"turn:relay.example.net:3478?transport=tcp",
		"turns:tls.example.net:443?transport=tcp",
		"turn:turn.meet.example.com:3478?transport=tcp",
		"turns:turn.meet.example.com:443?transport=tcp",
	} {
		if !slices.Contains(urls, want) {
			t.Errorf("no %s among %v", want, urls)
		}
	}
}

// hmacSHA1 is RFC 2104 written out, to check TURNCredentials against something other than
// crypto/hmac.
func hmacSHA1(key, msg []byte) []byte {
	const block = 64
	if len(key) > block {
		sum := sha1.Sum(key)
		key = sum[:]
	}
	k := make([]byte, block)
	copy(k, key)
	inner, outer := make([]byte, block), make([]byte, block)
	for i := range k {
		inner[i], outer[i] = k[i]^0x36, k[i]^0x5c
	}
	in := sha1.Sum(append(inner, msg...))
	out := sha1.Sum(append(outer, in[:]...))
	return out[:]
}

func TestTURNCredentials(t *testing.T) {
	// Computed with Python's hmac module: base64(hmac.new(secret, username, sha1).digest()).
	vectors := []struct {
		secret         string
		expiry         int64
		user, password string
	}{
		{"s3cret", 1795635734, "1795635734", "XrS13sXP0PXrlwgQCzxRgwppVxw="},
		{strings.Repeat("K", 100), 1700000000, "1700000000", "TaDMICxcDK9oLG/cA9Tk4Vrp7qk="},
		{"", 0, "0", "quVF+oHel6qbb9/EUj4aA4yGxbw="},
	}
	for _, v := range vectors {
		user, pass := TURNCredentials([]byte(v.secret), time.Unix(v.expiry, 0))
		if user != v.user || pass != v.password {
			t.Errorf("TURNCredentials(%.10q, %d) = %q, %q; want %q, %q", v.secret, v.expiry, user, pass, v.user, v.password)
		}
	}
	// Only the expiry's second counts, in any time zone.
	u1, p1 := TURNCredentials([]byte("s3cret"), time.Unix(1795635734, 999_000_000).In(time.FixedZone("x", 5*3600)))
	if u1 != "1795635734" || p1 != "XrS13sXP0PXrlwgQCzxRgwppVxw=" {
		t.Errorf("sub-second or zoned expiry changed the credentials: %q %q", u1, p1)
	}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 200; i++ {
		secret := make([]byte, rng.Intn(130))
		rng.Read(secret)
		expiry := time.Unix(rng.Int63n(1<<34), 0)
		user, pass := TURNCredentials(secret, expiry)
		if user != strconv.FormatInt(expiry.Unix(), 10) {
			t.Fatalf("username %q for expiry %d", user, expiry.Unix())
		}
		if want := base64.StdEncoding.EncodeToString(hmacSHA1(secret, []byte(user))); pass != want {
			t.Fatalf("password %q, want %q (secret %x)", pass, want, secret)
		}
	}
}

// confLines maps each option of a turnserver.conf to its values ("" for flags).
func confLines(conf string) map[string][]string {
	m := map[string][]string{}
	for _, line := range strings.Split(conf, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		m[k] = append(m[k], v)
	}
	return m
}

func TestTURNServerConfig(t *testing.T) {
	base := TURNServerConf{
		Port: 3478, Realm: "meet.example.com", RelayMinPort: 50000, RelayMaxPort: 54999,
		AllowedPeers: []string{"10.244.0.0/16", "fd00:10:244::/64"},
		PidFile:      "/run/coturn/turnserver.pid", DBFile: "/run/coturn/turndb",
	}
	conf := TURNServerConfig(base)
	opts := confLines(conf)
	want := map[string][]string{
		"use-auth-secret": {""}, "realm": {"meet.example.com"}, "fingerprint": {""}, "no-rfc5780": {""},
		"listening-port": {"3478"}, "min-port": {"50000"}, "max-port": {"54999"}, "no-tcp-relay": {""},
		"no-multicast-peers": {""},
		"denied-peer-ip":     {"0.0.0.0-255.255.255.255", "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		"allowed-peer-ip":    {"10.244.0.0-10.244.255.255", "fd00:10:244::-fd00:10:244:0:ffff:ffff:ffff:ffff"},
		"no-tls":             {""},
		"log-file":           {"stdout"}, "pidfile": {"/run/coturn/turnserver.pid"}, "userdb": {"/run/coturn/turndb"},
	}
	for k, v := range want {
		if !slices.Equal(opts[k], v) {
			t.Errorf("%s = %q, want %q", k, opts[k], v)
		}
	}
	// The secret comes from start.sh; nothing opens the relay beyond the allowed peers.
	// Nor options the image's coturn (4.17) needs no more (CLI and DTLS are off by default).
	for _, never := range []string{"static-auth-secret", "lt-cred-mech", "no-auth", "user", "allow-loopback-peers",
		"external-ip", "listening-ip", "relay-ip", "server-relay", "verbose", "cert", "pkey", "tls-listening-port",
		"no-cli", "no-dtls", "no-tlsv1", "no-tlsv1_1"} {
		if _, ok := opts[never]; ok {
			t.Errorf("the shipped config sets %s:\n%s", never, conf)
		}
	}

	tls := base
	tls.TLSPort, tls.TLSCert, tls.TLSKey = 5349, "/tls/tls.crt", "/tls/tls.key"
	tls.ListenIPs, tls.RelayIPs = []string{"127.0.0.1", "not-an-ip"}, []string{"127.0.0.1"}
	tls.AllowLoopbackPeers, tls.Verbose, tls.OldDefaults = true, true, true
	opts = confLines(TURNServerConfig(tls))
	for k, v := range map[string][]string{
		"tls-listening-port": {"5349"}, "cert": {"/tls/tls.crt"}, "pkey": {"/tls/tls.key"}, "no-dtls": {""}, "no-cli": {""},
		"listening-ip": {"127.0.0.1"}, "relay-ip": {"127.0.0.1"}, "allow-loopback-peers": {""}, "verbose": {""},
	} {
		if !slices.Equal(opts[k], v) {
			t.Errorf("with TLS and loopback: %s = %q, want %q", k, opts[k], v)
		}
	}
	if _, ok := opts["no-tls"]; ok {
		t.Error("no-tls set with a certificate")
	}

	// Values cannot add lines, and what is not a peer range is left out.
	evil := base
	evil.Realm = "meet.example.com\nallow-loopback-peers"
	evil.AllowedPeers = []string{"10.0.0.0/8\nserver-relay", "everything", "10.1.0.9-10.1.0.1"}
	conf = TURNServerConfig(evil)
	opts = confLines(conf)
	for _, never := range []string{"allow-loopback-peers", "server-relay", "allowed-peer-ip"} {
		if _, ok := opts[never]; ok {
			t.Errorf("a value added %s:\n%s", never, conf)
		}
	}
	if strings.Count(conf, "# left out") != 3 {
		t.Errorf("the left-out peers are not noted:\n%s", conf)
	}
}

func TestPeerRange(t *testing.T) {
	for in, want := range map[string]string{
		"10.244.0.0/16":          "10.244.0.0-10.244.255.255",
		"10.244.3.7/16":          "10.244.0.0-10.244.255.255",
		"100.64.0.0/10":          "100.64.0.0-100.127.255.255",
		"192.168.1.0/31":         "192.168.1.0-192.168.1.1",
		"10.0.0.5/32":            "10.0.0.5",
		"10.0.0.5":               "10.0.0.5",
		" 10.1.0.0 - 10.1.0.9 ":  "10.1.0.0-10.1.0.9",
		"fd00:10:244::/56":       "fd00:10:244::-fd00:10:244:ff:ffff:ffff:ffff:ffff",
		"2001:db8::1":            "2001:db8::1",
		"10.1.0.9-10.1.0.1":      "",
		"10.0.0.0-fd00::1":       "",
		"10.0.0.0/33":            "",
		"pods":                   "",
		"":                       "",
		"10.0.0.0/8\nverbose":    "",
		"127.0.0.1/8":            "127.0.0.0-127.255.255.255",
		"0.0.0.0/0":              "0.0.0.0-255.255.255.255",
		"::/0":                   "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		"10.96.0.0/12":           "10.96.0.0-10.111.255.255",
		"172.16.0.0/12":          "172.16.0.0-172.31.255.255",
		"fd12:3456:789a:1::/64":  "fd12:3456:789a:1::-fd12:3456:789a:1:ffff:ffff:ffff:ffff",
		"192.0.2.128/25":         "192.0.2.128-192.0.2.255",
		"198.51.100.0/24 ":       "198.51.100.0-198.51.100.255",
		"203.0.113.255/32":       "203.0.113.255",
		"fe80::1%eth0":           "",
		"10.0.0.1-10.0.0.1":      "10.0.0.1-10.0.0.1",
		"::ffff:10.0.0.0/104":    "::ffff:10.0.0.0-::ffff:10.255.255.255",
		"10.0.0.0/8,10.1.0.0/16": "",
	} {
		got, ok := PeerRange(in)
		if got != want || ok != (want != "") {
			t.Errorf("PeerRange(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func managedInput(mutate ...func(*jitsiv1alpha1.JitsiDeployment)) Input {
	return input(deployment(append([]func(*jitsiv1alpha1.JitsiDeployment){withTURN(jitsiv1alpha1.TURNSpec{Managed: true})}, mutate...)...))
}

func TestTURNObjectsOnlyWhenManaged(t *testing.T) {
	ti := TURNInput{PodCIDRs: []string{"10.244.0.0/16"}}
	for name, in := range map[string]Input{
		"no turn":      input(deployment()),
		"servers only": input(deployment(withTURN(jitsiv1alpha1.TURNSpec{Servers: []jitsiv1alpha1.TURNServer{turnServer("a.example.net", 0, "")}}))),
	} {
		if TURNConfigMap(in, ti) != nil || TURNDeployment(in, ti) != nil || TURNService(in, ti) != nil || TURNNetworkPolicy(in) != nil {
			t.Errorf("%s: a managed TURN object is rendered", name)
		}
	}
	in := managedInput()
	objects := map[string]metav1.Object{
		"configmap": TURNConfigMap(in, ti), "deployment": TURNDeployment(in, ti),
		"service": TURNService(in, ti), "networkpolicy": TURNNetworkPolicy(in),
	}
	for kind, o := range objects {
		if o.GetName() != "meet-turn" || o.GetNamespace() != "video" {
			t.Errorf("%s: %s/%s", kind, o.GetNamespace(), o.GetName())
		}
		l := o.GetLabels()
		if l[LabelName] != "jitsi" || l[LabelInstance] != "meet" || l[LabelComponent] != ComponentTURN || l[LabelManagedBy] != "jitsi-operator" {
			t.Errorf("%s: labels %v", kind, l)
		}
		refs := o.GetOwnerReferences()
		if len(refs) != 1 || refs[0].Kind != "JitsiDeployment" || refs[0].UID != "uid-1" || refs[0].Controller == nil || !*refs[0].Controller {
			t.Errorf("%s: owner references %v", kind, refs)
		}
	}
}

func TestTURNConfigMap(t *testing.T) {
	in := managedInput()
	cm := TURNConfigMap(in, TURNInput{PodCIDRs: []string{"10.244.0.0/16", "10.245.0.0/16"}})
	if len(cm.Data) != 2 || cm.Data[TURNScriptFile] != TURNStartScript {
		t.Fatalf("files %v", slices.Collect(maps.Keys(cm.Data)))
	}
	opts := confLines(cm.Data[TURNConfFile])
	if !slices.Equal(opts["allowed-peer-ip"], []string{"10.244.0.0-10.244.255.255", "10.245.0.0-10.245.255.255"}) {
		t.Errorf("allowed peers %q", opts["allowed-peer-ip"])
	}
	if opts["realm"][0] != "meet.example.com" || opts["listening-port"][0] != "3478" {
		t.Errorf("realm %q, port %q", opts["realm"], opts["listening-port"])
	}
	for _, never := range []string{"static-auth-secret", "allow-loopback-peers", "listening-ip", "relay-ip", "external-ip", "cert", "no-cli", "no-dtls"} {
		if _, ok := opts[never]; ok {
			t.Errorf("the pod's config sets %s", never)
		}
	}
	// Both files land in the directory start.sh is told about, and the run directory is where
	// coturn writes.
	dep := TURNDeployment(in, TURNInput{})
	c := dep.Spec.Template.Spec.Containers[0]
	env := envOf(t, c)
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	if value(t, env, "TURN_CONFIG") != mounts["config"]+"/"+TURNConfFile || c.Command[len(c.Command)-1] != mounts["config"]+"/"+TURNScriptFile {
		t.Errorf("TURN_CONFIG %q, command %q, config mounted at %q", value(t, env, "TURN_CONFIG"), c.Command, mounts["config"])
	}
	if run := value(t, env, "TURN_RUN_DIR"); run != mounts["run"] || !strings.HasPrefix(opts["pidfile"][0], run+"/") || !strings.HasPrefix(opts["userdb"][0], run+"/") {
		t.Errorf("run dir %q mounted at %q; pidfile %q, userdb %q", run, mounts["run"], opts["pidfile"], opts["userdb"])
	}

	// With a certificate, coturn reads it where the Secret is mounted.
	ti := TURNInput{TLSSecret: "turn-cert"}
	opts = confLines(TURNConfigMap(in, ti).Data[TURNConfFile])
	c = TURNDeployment(in, ti).Spec.Template.Spec.Containers[0]
	var tlsDir string
	for _, m := range c.VolumeMounts {
		if m.Name == "tls" {
			tlsDir = m.MountPath
		}
	}
	if tlsDir == "" || opts["cert"][0] != tlsDir+"/tls.crt" || opts["pkey"][0] != tlsDir+"/tls.key" || opts["tls-listening-port"][0] != "5349" {
		t.Errorf("certificate %q, key %q, TLS port %q; Secret mounted at %q", opts["cert"], opts["pkey"], opts["tls-listening-port"], tlsDir)
	}
}

func TestTURNDeployment(t *testing.T) {
	in := managedInput()
	dep := TURNDeployment(in, TURNInput{PodCIDRs: []string{"10.244.0.0/16"}})
	if *dep.Spec.Replicas != 1 || !maps.Equal(dep.Spec.Selector.MatchLabels, SelectorLabels(in.Deployment, ComponentTURN)) {
		t.Errorf("replicas %d, selector %v", *dep.Spec.Replicas, dep.Spec.Selector.MatchLabels)
	}
	pod := dep.Spec.Template.Spec
	if len(pod.Containers) != 1 || len(pod.InitContainers) != 0 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Image != TURNImage || !strings.HasPrefix(TURNImage, "docker.io/coturn/coturn:4.") {
		t.Errorf("image %s", c.Image)
	}
	if img := TURNDeployment(in, TURNInput{Image: "registry.example/coturn:1"}).Spec.Template.Spec.Containers[0].Image; img != "registry.example/coturn:1" {
		t.Errorf("image override: %s", img)
	}
	if c.Command[0] != "/bin/sh" || len(c.Args) != 0 {
		t.Errorf("command %q args %q", c.Command, c.Args)
	}
	// The secret reaches start.sh through secretKeyRef only; nothing else is secret.
	env := envOf(t, c)
	if s := env["TURN_SECRET"]; s.Value != "" || s.ValueFrom == nil || s.ValueFrom.SecretKeyRef == nil || *s.ValueFrom.SecretKeyRef != in.Secrets.TURN {
		t.Errorf("TURN_SECRET %+v, want secretKeyRef %v", s, in.Secrets.TURN)
	}
	if in.Secrets.TURN.Key != KeyTURNSecret || in.Secrets.TURN.Name != "meet-generated" {
		t.Errorf("managed TURN without credentialsSecretRef reads %v", in.Secrets.TURN)
	}
	for _, a := range append(c.Command, c.Args...) {
		if strings.Contains(a, "$(") || strings.Contains(a, "secret") {
			t.Errorf("the command line carries the secret: %q", a)
		}
	}

	sc := pod.SecurityContext
	if sc == nil || !*sc.RunAsNonRoot || *sc.RunAsUser == 0 || sc.SeccompProfile == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("pod security %+v", sc)
	}
	csc := c.SecurityContext
	if !*csc.ReadOnlyRootFilesystem || *csc.AllowPrivilegeEscalation || !slices.Equal(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
		!slices.Equal(csc.Capabilities.Add, []corev1.Capability{"NET_BIND_SERVICE"}) {
		t.Errorf("container security %+v", csc)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.TCPSocket == nil || c.LivenessProbe == nil {
		t.Errorf("probes %+v %+v", c.ReadinessProbe, c.LivenessProbe)
	}
	ports := map[string]corev1.ContainerPort{}
	for _, p := range c.Ports {
		ports[p.Name] = p
	}
	if len(ports) != 2 || ports["turn-udp"].ContainerPort != 3478 || ports["turn-udp"].Protocol != corev1.ProtocolUDP ||
		ports["turn-tcp"].ContainerPort != 3478 || ports["turn-tcp"].Protocol != corev1.ProtocolTCP {
		t.Errorf("ports %+v", c.Ports)
	}
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		vols[v.Name] = v
	}
	if cm := vols["config"].ConfigMap; cm == nil || cm.Name != "meet-turn" {
		t.Errorf("config volume %+v", vols["config"])
	}
	if ed := vols["run"].EmptyDir; ed == nil || ed.Medium != corev1.StorageMediumMemory {
		t.Errorf("the run directory (which gets the secret) is not in memory: %+v", vols["run"])
	}
	if _, ok := vols["tls"]; ok {
		t.Error("a certificate volume without a certificate")
	}

	tls := TURNDeployment(in, TURNInput{TLSSecret: "turn-cert"}).Spec.Template.Spec
	var tlsVol *corev1.Volume
	for i := range tls.Volumes {
		if tls.Volumes[i].Name == "tls" {
			tlsVol = &tls.Volumes[i]
		}
	}
	if tlsVol == nil || tlsVol.Secret == nil || tlsVol.Secret.SecretName != "turn-cert" || *tlsVol.Secret.DefaultMode&0o007 != 0 {
		t.Errorf("certificate volume %+v", tlsVol)
	}
	if p := tls.Containers[0].Ports; len(p) != 3 || p[2].Name != "turns" || p[2].ContainerPort != 5349 {
		t.Errorf("ports with TLS %+v", p)
	}
}

func TestTURNPodRollsWhenWhatCoturnReadsOnceChanges(t *testing.T) {
	hash := func(in Input, ti TURNInput) string {
		return TURNDeployment(in, ti).Spec.Template.Annotations[AnnotationConfigHash]
	}
	in := managedInput()
	ti := TURNInput{PodCIDRs: []string{"10.244.0.0/16"}}
	base := hash(in, ti)
	if base == "" || base != hash(managedInput(), TURNInput{PodCIDRs: []string{"10.244.0.0/16"}}) {
		t.Fatalf("hash %q is not stable", base)
	}
	other := in
	other.ConfigHashes = map[string]string{ComponentProsody: "p1"}
	if hash(other, ti) != base {
		t.Error("another component's inputs roll the TURN server")
	}
	for name, h := range map[string]string{
		"pod networks": hash(in, TURNInput{PodCIDRs: []string{"10.245.0.0/16"}}),
		"certificate":  hash(in, TURNInput{PodCIDRs: ti.PodCIDRs, TLSSecret: "turn-cert"}),
		"secret hash":  hash(Input{Deployment: in.Deployment, Secrets: in.Secrets, ConfigHashes: map[string]string{ComponentTURN: "s2"}}, ti),
		"domain":       hash(managedInput(func(d *jitsiv1alpha1.JitsiDeployment) { d.Spec.Domain = "other.example.com" }), ti),
	} {
		if h == base {
			t.Errorf("a change of %s does not roll the TURN server", name)
		}
	}
}

func TestTURNService(t *testing.T) {
	in := managedInput()
	svc := TURNService(in, TURNInput{})
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal ||
		!maps.Equal(svc.Spec.Selector, SelectorLabels(in.Deployment, ComponentTURN)) {
		t.Errorf("service %+v", svc.Spec)
	}
	got := func(s *corev1.Service) []string {
		var out []string
		for _, p := range s.Spec.Ports {
			out = append(out, fmt.Sprintf("%s %d/%s->%s", p.Name, p.Port, p.Protocol, p.TargetPort.String()))
		}
		return out
	}
	if p := got(svc); !slices.Equal(p, []string{"turn-udp 3478/UDP->turn-udp", "turn-tcp 3478/TCP->turn-tcp"}) {
		t.Errorf("ports %q", p)
	}
	if p := got(TURNService(in, TURNInput{TLSSecret: "turn-cert"})); !slices.Equal(p, []string{
		"turn-udp 3478/UDP->turn-udp", "turn-tcp 3478/TCP->turn-tcp", "turns 443/TCP->turns",
	}) {
		t.Errorf("ports with TLS %q", p)
	}
	// Every target port is a container port of the same name and protocol.
	dep := TURNDeployment(in, TURNInput{TLSSecret: "turn-cert"})
	for _, sp := range TURNService(in, TURNInput{TLSSecret: "turn-cert"}).Spec.Ports {
		found := false
		for _, cp := range dep.Spec.Template.Spec.Containers[0].Ports {
			found = found || (cp.Name == sp.TargetPort.StrVal && cp.Protocol == sp.Protocol)
		}
		if !found {
			t.Errorf("service port %s targets no container port", sp.Name)
		}
	}
}

func TestTURNNetworkPolicy(t *testing.T) {
	in := managedInput(func(d *jitsiv1alpha1.JitsiDeployment) { d.Spec.JVB.Media.Port = 10001 })
	np := TURNNetworkPolicy(in)
	if !maps.Equal(np.Spec.PodSelector.MatchLabels, SelectorLabels(in.Deployment, ComponentTURN)) ||
		!slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}) || len(np.Spec.Egress) != 1 {
		t.Fatalf("policy %+v", np.Spec)
	}
	e := np.Spec.Egress[0]
	if len(e.To) != 1 || e.To[0].PodSelector == nil || !maps.Equal(e.To[0].PodSelector.MatchLabels, SelectorLabels(in.Deployment, ComponentJVB)) ||
		e.To[0].NamespaceSelector != nil {
		t.Errorf("egress to %+v", e.To)
	}
	if len(e.Ports) != 1 || *e.Ports[0].Protocol != corev1.ProtocolUDP || e.Ports[0].Port.IntValue() != 10001 {
		t.Errorf("egress ports %+v", e.Ports)
	}
}

// No secret in clear anywhere: the renderers never see a value, so every object must carry the
// TURN secret only as a reference, and the rendered config holds no static-auth-secret.
func TestTURNNoSecretInClear(t *testing.T) {
	in := managedInput()
	ti := TURNInput{PodCIDRs: []string{"10.244.0.0/16"}, TLSSecret: "turn-cert"}
	for name, o := range map[string]any{
		"env": TURNEnv(in, ti), "configmap": TURNConfigMap(in, ti), "deployment": TURNDeployment(in, ti), "service": TURNService(in, ti),
	} {
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for _, bad := range []string{"static-auth-secret=", `"name":"TURN_SECRET","value"`, `"name":"TURN_CREDENTIALS","value"`} {
			// start.sh's printf format is the only place the option's name may appear.
			if strings.Contains(strings.ReplaceAll(s, `static-auth-secret=%s`, ""), bad) {
				t.Errorf("%s carries %s", name, bad)
			}
		}
	}
}
