// Package turn runs the operator's coturn configuration for real, on loopback: Debian's coturn
// started through the rendered start.sh with a rendered turnserver.conf, and its
// turnutils_uclient allocating relays with credentials computed as Prosody computes them.
package turn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// coturn is a running turnserver and what the test knows about it.
type coturn struct {
	*server
	port, tlsPort          int
	relayMin, relayMax     int
	secret                 string
	renderedConf, fullConf string
}

// startCoturn renders the config with loopback addresses only and starts coturn through
// start.sh, as the pod does. Only 127.0.0.0/31 (127.0.0.0 and 127.0.0.1) is an allowed peer.
func startCoturn(t *testing.T, tl coturnTools) *coturn {
	t.Helper()
	dir := t.TempDir()
	confDir, runDir := filepath.Join(dir, "config"), filepath.Join(dir, "run")
	for _, d := range []string{confDir, runDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	c := &coturn{port: freePort(t), tlsPort: freePort(t)}
	c.relayMin, c.relayMax = relayRange(t, 50)
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	// Like the secrets the operator generates.
	c.secret = base64.RawURLEncoding.EncodeToString(raw)

	certFile, keyFile := selfSigned(t, confDir)
	conf := render.TURNServerConfig(render.TURNServerConf{
		ListenIPs: []string{"127.0.0.1"}, RelayIPs: []string{"127.0.0.1"},
		Port: c.port, TLSPort: c.tlsPort, TLSCert: certFile, TLSKey: keyFile,
		Realm:        "meet.test",
		RelayMinPort: c.relayMin, RelayMaxPort: c.relayMax,
		AllowedPeers:       []string{"127.0.0.0/31"},
		AllowLoopbackPeers: true, // tests only
		PidFile:            filepath.Join(runDir, "turnserver.pid"), DBFile: filepath.Join(runDir, "turndb"),
		Verbose: true,
		// Debian 12's coturn is 4.6.1.
		OldDefaults: true,
	})
	c.renderedConf = filepath.Join(confDir, render.TURNConfFile)
	c.fullConf = filepath.Join(runDir, render.TURNConfFile)
	script := filepath.Join(confDir, render.TURNScriptFile)
	for path, body := range map[string]string{c.renderedConf: conf, script: render.TURNStartScript} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	cmd := exec.Command("/bin/sh", script)
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + filepath.Dir(tl.turnserver) + ":/usr/bin:/bin",
		"TURN_SECRET=" + c.secret,
		"TURN_CONFIG=" + c.renderedConf,
		"TURN_RUN_DIR=" + runDir,
	}
	c.server = startServer(t, cmd)
	for _, port := range []int{c.port, c.tlsPort} {
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		waitFor(t, "listener on "+addr, c.server, 15*time.Second, func() bool {
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				conn.Close()
			}
			return err == nil
		})
	}
	return c
}

// selfSigned writes a certificate for 127.0.0.1 and its key into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "turn.meet.test"},
		DNSNames:     []string{"turn.meet.test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// uclientArgs are turnutils_uclient's arguments for one client that sends 10 messages of 100
// bytes to peer at peerIP through a relay, without RTCP (one allocation); extra selects the
// transport (-t TCP, -S TLS).
func (c *coturn) uclientArgs(port int, user, password, peerIP string, p *peer, extra ...string) []string {
	return append(extra,
		"-v", "-c", "-n", "10", "-l", "100", "-L", "127.0.0.1",
		"-e", peerIP, "-r", strconv.Itoa(p.port()),
		"-u", user, "-w", password, "-p", strconv.Itoa(port),
		"127.0.0.1")
}

// logged says whether coturn logged a request of user that ended as outcome ("success",
// "error 401", ...).
func (c *coturn) logged(user, outcome string) bool {
	re := regexp.MustCompile(`user <` + regexp.QuoteMeta(user) + `>: incoming packet \S+ processed, ` + regexp.QuoteMeta(outcome))
	return re.MatchString(c.Out.String())
}

var summary = regexp.MustCompile(`start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)`)

func TestTURN(t *testing.T) {
	tl := findCoturn(t)
	c := startCoturn(t, tl)
	secret := []byte(c.secret)
	// Distinct usernames per case, so that coturn's log tells them apart.
	expiry := time.Now().Add(time.Hour).Truncate(time.Second)
	nextExpiry := func() time.Time { expiry = expiry.Add(time.Second); return expiry }

	t.Run("the secret is in no command line, environment, rendered config or log", func(t *testing.T) {
		pid := c.Cmd.Process.Pid
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(cmdline), "turnserver") {
			t.Fatalf("start.sh did not exec turnserver: %q", cmdline)
		}
		environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			t.Fatal(err)
		}
		for what, b := range map[string][]byte{"command line": cmdline, "environment": environ} {
			if strings.Contains(string(b), c.secret) || strings.Contains(string(b), "TURN_SECRET=") {
				t.Errorf("turnserver's %s carries the secret", what)
			}
		}
		rendered, _ := os.ReadFile(c.renderedConf)
		if strings.Contains(string(rendered), c.secret) || strings.Contains(string(rendered), "static-auth-secret=") {
			t.Error("the rendered config (the ConfigMap's) carries the secret")
		}
		full, err := os.ReadFile(c.fullConf)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(full), "\nstatic-auth-secret="+c.secret+"\n"); n != 1 {
			t.Errorf("the config coturn reads has %d static-auth-secret lines with the secret", n)
		}
		if fi, err := os.Stat(c.fullConf); err != nil {
			t.Error(err)
		} else if fi.Mode().Perm() != 0o600 {
			t.Errorf("the config with the secret has mode %v, want 0600", fi.Mode().Perm())
		}
		if strings.Contains(c.Out.String(), c.secret) {
			t.Error("coturn logged the secret")
		}
	})

	relay := func(t *testing.T, port int, extra ...string) {
		p := startPeer(t, "127.0.0.1")
		user, password := render.TURNCredentials(secret, nextExpiry())
		out, err := runClient(t, tl.uclient, 30*time.Second, nil, c.uclientArgs(port, user, password, "127.0.0.1", p, extra...)...)
		if err != nil {
			t.Fatalf("turnutils_uclient %v: %v\n%s\nturnserver's log:\n%s", extra, err, out, c.Out.String())
		}
		m := summary.FindStringSubmatch(out)
		if m == nil || m[1] != "10" || m[2] != "10" || !strings.Contains(out, "Total lost packets 0 ") {
			t.Fatalf("not every message came back through the relay:\n%s", out)
		}
		if !c.logged(user, "success") {
			t.Errorf("coturn did not log a successful request of %s", user)
		}
		// The peer saw the messages from a relay port of the configured range.
		total := 0
		for from, n := range p.senders() {
			host, port, _ := net.SplitHostPort(from)
			pn, _ := strconv.Atoi(port)
			if host != "127.0.0.1" || pn < c.relayMin || pn > c.relayMax {
				t.Errorf("the peer got %d messages from %s, outside the relay range %d-%d", n, from, c.relayMin, c.relayMax)
			}
			total += n
		}
		if total < 10 {
			t.Errorf("the peer got %d messages, want 10", total)
		}
	}
	t.Run("UDP relays data with Prosody's credentials", func(t *testing.T) { relay(t, c.port) })
	t.Run("TCP relays data with Prosody's credentials", func(t *testing.T) { relay(t, c.port, "-t") })
	t.Run("TLS relays data with Prosody's credentials", func(t *testing.T) { relay(t, c.tlsPort, "-t", "-S") })

	refused := func(t *testing.T, user, password string) {
		p := startPeer(t, "127.0.0.1")
		out, err := runClient(t, tl.uclient, 30*time.Second, nil, c.uclientArgs(c.port, user, password, "127.0.0.1", p)...)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() == 0 || !strings.Contains(out, "Cannot complete Allocation") {
			t.Fatalf("turnutils_uclient: %v, want a failed allocation:\n%s", err, out)
		}
		if !c.logged(user, "error 401") {
			t.Errorf("coturn did not answer %s with 401:\n%s", user, c.Out.String())
		}
		if c.logged(user, "success") {
			t.Errorf("coturn accepted a request of %s", user)
		}
		if n := len(p.senders()); n != 0 {
			t.Errorf("the peer got messages from %d relays", n)
		}
	}
	t.Run("a forged password gets 401", func(t *testing.T) {
		user, _ := render.TURNCredentials(secret, nextExpiry())
		_, forged := render.TURNCredentials([]byte("not-"+c.secret), time.Unix(mustAtoi(t, user), 0))
		refused(t, user, forged)
	})
	t.Run("an expired credential, correctly signed, gets 401", func(t *testing.T) {
		user, password := render.TURNCredentials(secret, time.Now().Add(-time.Minute))
		refused(t, user, password)
	})

	t.Run("a peer outside the allowed networks gets 403", func(t *testing.T) {
		// 127.0.0.2 is loopback, which the test allows, but outside the allowed 127.0.0.0/31.
		p := startPeer(t, "127.0.0.2")
		user, password := render.TURNCredentials(secret, nextExpiry())
		forbidden := func() bool { return c.logged(user, "error 403") }
		out, _ := runClient(t, tl.uclient, 30*time.Second, forbidden, c.uclientArgs(c.port, user, password, "127.0.0.2", p)...)
		waitFor(t, "403 for "+user, c.server, 10*time.Second, forbidden)
		if !c.logged(user, "success") {
			t.Errorf("the allocation itself should succeed:\n%s", out)
		}
		if n := len(p.senders()); n != 0 {
			t.Errorf("the forbidden peer got messages from %d relays", n)
		}
	})
}

func mustAtoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
