package destination

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

// resolverFunc is a Resolver from a function.
type resolverFunc func(ctx context.Context, network, host string) ([]netip.Addr, error)

func (f resolverFunc) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	return f(ctx, network, host)
}

// testResolver answers from a table, and fails or hangs for a few names.
func testResolver(t *testing.T) Resolver {
	hosts := Hosts{
		"a.rtmp.youtube.com":        addrs("198.51.100.10", "2001:db8::10"),
		"live-api-s.facebook.com":   addrs("198.51.100.20"),
		"ingest.example.com":        addrs("203.0.113.7"),
		"mixed.example.com":         addrs("203.0.113.7", "10.96.0.10"),
		"mixed-v6.example.com":      addrs("2001:db8::7", "::1"),
		"mapped.example.com":        addrs("::ffff:127.0.0.1"),
		"metadata.example.com":      addrs("169.254.169.254"),
		"pods.example.com":          addrs("10.244.1.5"),
		"v6pods.example.com":        addrs("fd00:10::5"),
		"onprem.example.com":        addrs("10.20.0.5"),
		"empty.example.com":         {},
		"under_score.example.com":   addrs("203.0.113.8"),
		"rebinding.example.com":     addrs("0.0.0.0"),
		"multicast.example.com":     addrs("ff02::1"),
		"nat64-private.example.com": addrs("64:ff9b::a60:a"),
	}
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	return resolverFunc(func(ctx context.Context, network, host string) ([]netip.Addr, error) {
		switch host {
		case "broken.example.com":
			return nil, &net.DNSError{Err: "server misbehaving", Name: host, Server: "10.96.0.10:53"}
		case "weird.example.com":
			return nil, errors.New("resolver on fire")
		case "slow.example.com":
			<-ctx.Done()
			return nil, &net.DNSError{Err: "i/o timeout", Name: host, IsTimeout: true}
		case "stuck.example.com":
			<-hang // ignores its context
			return nil, errors.New("too late")
		}
		return hosts.LookupNetIP(ctx, network, host)
	})
}

func TestCheck(t *testing.T) {
	cluster := []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("10.96.0.0/12"),
		netip.MustParsePrefix("fd00:10::/56")}
	base := Policy{ClusterNetworks: cluster, Resolver: testResolver(t), Timeout: 50 * time.Millisecond}
	allowing := base
	allowing.ClusterNetworks = append([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, cluster...)
	allowing.AllowNetworks = []netip.Prefix{netip.MustParsePrefix("10.20.0.0/24"), netip.MustParsePrefix("127.0.0.0/8")}
	allowing.AllowHosts = []string{"rtmp.media.svc.cluster.local.", "Relay"}
	otherDomain := base
	otherDomain.ClusterDomain = "k8s.internal."

	long := "rtmp://ingest.example.com/live/KEY-" + strings.Repeat("x", MaxLength)
	cases := []struct {
		name      string
		policy    *Policy
		url       string
		want      string // "" accepted, else a part of the refusal
		transient bool
	}{
		// Accepted.
		{name: "youtube", url: "rtmp://a.rtmp.youtube.com/live2/KEY-abcd-efgh"},
		{name: "rtmps with port and query", url: "rtmps://live-api-s.facebook.com:443/rtmp/KEY-FB?s_bl=1&s_ps=1&a=(b),c*d+e!f~g"},
		{name: "trailing slash", url: "rtmp://ingest.example.com/app/"},
		{name: "trailing dot", url: "rtmp://ingest.example.com./app/KEY-1"},
		{name: "upper-case host", url: "rtmp://INGEST.example.com/app/KEY-1"},
		{name: "underscore in host", url: "rtmp://under_score.example.com/app"},
		{name: "percent escape", url: "rtmp://ingest.example.com/app/KEY-a%20b"},
		{name: "public IPv4", url: "rtmp://203.0.113.9:1935/live/KEY-1"},
		{name: "public IPv6", url: "rtmp://[2001:db8::9]:1935/live/KEY-1"},
		{name: "public IPv4-mapped IPv6", url: "rtmp://[::ffff:203.0.113.9]/live/KEY-1"},
		{name: "NAT64 of a public address", url: "rtmp://[64:ff9b::cb00:7109]/live/KEY-1"},
		{name: "outside the cluster networks", url: "rtmp://10.95.255.255/live/KEY-1"},

		// The URL itself.
		{name: "empty", url: "", want: "empty"},
		{name: "too long", url: long, want: "at most 4096"},
		{name: "https", url: "https://a.rtmp.youtube.com/live2/KEY-1", want: `scheme is "https"; only rtmp and rtmps`},
		{name: "upper-case scheme", url: "RTMP://a.rtmp.youtube.com/live2/KEY-1", want: `scheme is "RTMP"`},
		{name: "rtmpt", url: "rtmpt://a.rtmp.youtube.com/live2/KEY-1", want: "only rtmp and rtmps"},
		{name: "no scheme", url: "a.rtmp.youtube.com/live2/KEY-1", want: "does not start with rtmp://"},
		{name: "one slash", url: "rtmp:/a.rtmp.youtube.com/live2/KEY-1", want: "does not start with rtmp://"},
		{name: "space", url: "rtmp://ingest.example.com/live/KEY-1 playpath=x", want: "a space at byte"},
		{name: "tab", url: "rtmp://ingest.example.com/live/KEY-1\tx", want: "a tab"},
		{name: "second destination", url: "rtmp://ingest.example.com/live/KEY-1\nevil rtmp://10.96.0.1/x", want: "a line break"},
		{name: "carriage return", url: "rtmp://ingest.example.com/live/KEY-1\r", want: "a carriage return"},
		{name: "NUL", url: "rtmp://ingest.example.com/live/KEY-1\x00", want: "a control character (0x00)"},
		{name: "DEL", url: "rtmp://ingest.example.com/live/KEY-1\x7f", want: "a control character (0x7f)"},
		{name: "non-ASCII host", url: "rtmp://exämple.com/live/KEY-1", want: "outside ASCII"},
		{name: "double quote", url: `rtmp://ingest.example.com/live/KEY-1"`, want: `the character '"'`},
		{name: "single quote", url: "rtmp://ingest.example.com/live/KEY-1'", want: `the character '\''`},
		{name: "semicolon", url: "rtmp://ingest.example.com/live/KEY-1;push rtmp://10.96.0.1/x", want: "the character ';'"},
		{name: "brace", url: "rtmp://ingest.example.com/live/KEY-1}", want: "the character '}'"},
		{name: "open brace", url: "rtmp://ingest.example.com/live/{KEY-1", want: "the character '{'"},
		{name: "fragment", url: "rtmp://ingest.example.com/live/KEY-1#x", want: "the character '#'"},
		{name: "dollar", url: "rtmp://ingest.example.com/live/$name", want: "the character '$'"},
		{name: "backslash", url: `rtmp://ingest.example.com/live\KEY-1`, want: `the character '\\'`},
		{name: "backtick", url: "rtmp://ingest.example.com/live/`id`", want: "the character '`'"},
		{name: "user and password", url: "rtmp://user:KEY-pass@ingest.example.com/live/KEY-1", want: "user name or password"},
		{name: "empty user", url: "rtmp://@ingest.example.com/live/KEY-1", want: "user name or password"},
		{name: "no host", url: "rtmp:///live/KEY-1", want: "no host"},
		{name: "only a port", url: "rtmp://:1935/live/KEY-1", want: "no host"},
		{name: "port zero", url: "rtmp://ingest.example.com:0/live/KEY-1", want: `port "0"`},
		{name: "port too big", url: "rtmp://ingest.example.com:65536/live/KEY-1", want: `port "65536"`},
		{name: "empty port", url: "rtmp://ingest.example.com:/live/KEY-1", want: "without a port"},
		{name: "bad escape", url: "rtmp://ingest.example.com/live/KEY-%zz", want: "two hexadecimal digits"},
		{name: "IPv4 in brackets", url: "rtmp://[203.0.113.9]/live/KEY-1", want: "cannot be read"},
		{name: "IPv6 zone", url: "rtmp://[fe80::1%25eth0]/live/KEY-1", want: "zone"},
		{name: "bad label", url: "rtmp://-ingest.example.com/live/KEY-1", want: "not a valid host name"},
		{name: "empty label", url: "rtmp://ingest..example.com/live/KEY-1", want: "not a valid host name"},
		{name: "short IPv4", url: "rtmp://127.1/live/KEY-1", want: "neither a host name nor an IPv4 address"},
		{name: "decimal IPv4", url: "rtmp://2130706433/live/KEY-1", want: "neither a host name nor an IPv4 address"},
		{name: "hex IPv4", url: "rtmp://0x7f000001/live/KEY-1", want: "neither a host name nor an IPv4 address"},
		{name: "leading zeros", url: "rtmp://127.000.000.001/live/KEY-1", want: "neither a host name nor an IPv4 address"},

		// IPv4 literals.
		{name: "loopback", url: "rtmp://127.0.0.1:1935/live/KEY-1", want: "the address 127.0.0.1 is a loopback address"},
		{name: "loopback range", url: "rtmp://127.5.6.7/live/KEY-1", want: "loopback"},
		{name: "unspecified", url: "rtmp://0.0.0.0/live/KEY-1", want: "unspecified"},
		{name: "this network", url: "rtmp://0.1.2.3/live/KEY-1", want: "0.0.0.0/8"},
		{name: "metadata", url: "rtmp://169.254.169.254/latest/KEY-1", want: "the cloud metadata endpoint"},
		{name: "link-local", url: "rtmp://169.254.1.1/live/KEY-1", want: "link-local"},
		{name: "multicast", url: "rtmp://224.0.0.1/live/KEY-1", want: "multicast"},
		{name: "broadcast", url: "rtmp://255.255.255.255/live/KEY-1", want: "broadcast"},
		{name: "service network", url: "rtmp://10.96.0.10/live/KEY-1", want: "inside the cluster network 10.96.0.0/12"},
		{name: "pod network", url: "rtmp://10.244.3.4/live/KEY-1", want: "inside the cluster network 10.244.0.0/16"},
		{name: "alibaba metadata", url: "rtmp://100.100.100.200/live/KEY-1", want: "a cloud metadata endpoint"},

		// IPv6 literals.
		{name: "IPv6 loopback", url: "rtmp://[::1]:1935/live/KEY-1", want: "the address ::1 is a loopback"},
		{name: "IPv6 unspecified", url: "rtmp://[::]/live/KEY-1", want: "unspecified"},
		{name: "IPv6 link-local", url: "rtmp://[fe80::1]/live/KEY-1", want: "link-local"},
		{name: "IPv6 multicast", url: "rtmp://[ff02::1]/live/KEY-1", want: "multicast"},
		{name: "AWS IPv6 metadata", url: "rtmp://[fd00:ec2::254]/live/KEY-1", want: "a cloud metadata endpoint"},
		{name: "IPv6 pod network", url: "rtmp://[fd00:10::5]/live/KEY-1", want: "inside the cluster network fd00:10::/56"},
		{name: "mapped loopback", url: "rtmp://[::ffff:127.0.0.1]/live/KEY-1", want: "loopback"},
		{name: "mapped metadata", url: "rtmp://[::ffff:169.254.169.254]/live/KEY-1", want: "the cloud metadata endpoint"},
		{name: "mapped service", url: "rtmp://[::ffff:10.96.0.1]/live/KEY-1", want: "inside the cluster network 10.96.0.0/12"},
		{name: "mapped in hex", url: "rtmp://[::ffff:7f00:1]/live/KEY-1", want: "loopback"},
		{name: "IPv4-compatible", url: "rtmp://[::127.0.0.1]/live/KEY-1", want: "IPv4-compatible"},
		{name: "NAT64 to metadata", url: "rtmp://[64:ff9b::a9fe:a9fe]/live/KEY-1", want: "translated by NAT64 to 169.254.169.254"},

		// Names.
		{name: "mixed public and private", url: "rtmp://mixed.example.com/live/KEY-1",
			want: "resolves to 10.96.0.10 (one of its 2 addresses; ffmpeg may use any), which is inside the cluster network 10.96.0.0/12"},
		{name: "mixed IPv6", url: "rtmp://mixed-v6.example.com/live/KEY-1", want: "resolves to ::1"},
		{name: "name to mapped loopback", url: "rtmp://mapped.example.com/live/KEY-1", want: "resolves to ::ffff:127.0.0.1, which is a loopback"},
		{name: "name to metadata", url: "rtmp://metadata.example.com/live/KEY-1", want: "the cloud metadata endpoint"},
		{name: "name to pods", url: "rtmp://pods.example.com/live/KEY-1", want: "inside the cluster network 10.244.0.0/16"},
		{name: "name to IPv6 pods", url: "rtmp://v6pods.example.com/live/KEY-1", want: "inside the cluster network fd00:10::/56"},
		{name: "name to unspecified", url: "rtmp://rebinding.example.com/live/KEY-1", want: "unspecified"},
		{name: "name to multicast", url: "rtmp://multicast.example.com/live/KEY-1", want: "multicast"},
		{name: "name to NAT64 of a service", url: "rtmp://nat64-private.example.com/live/KEY-1", want: "NAT64 to 10.96.0.10, inside the cluster network"},
		{name: "no address", url: "rtmp://empty.example.com/live/KEY-1", want: "has no address"},
		{name: "no such host", url: "rtmp://missing.example.com/live/KEY-1", want: "does not exist"},
		{name: "resolver error", url: "rtmp://broken.example.com/live/KEY-1", want: "could not be looked up (server misbehaving)", transient: true},
		{name: "other resolver error", url: "rtmp://weird.example.com/live/KEY-1", want: "resolver on fire", transient: true},
		{name: "resolver timeout", url: "rtmp://slow.example.com/live/KEY-1", want: "did not resolve within 50ms", transient: true},
		{name: "resolver ignoring its context", url: "rtmp://stuck.example.com/live/KEY-1", want: "did not resolve within 50ms", transient: true},
		{name: "localhost", url: "rtmp://localhost:1935/live/KEY-1", want: "the relay itself (localhost)"},
		{name: "a localhost name", url: "rtmp://rtmp.localhost/live/KEY-1", want: "localhost"},
		{name: "cluster domain", url: "rtmp://kube-dns.kube-system.svc.cluster.local/live/KEY-1", want: "the cluster's own domain cluster.local"},
		{name: "other cluster domain", policy: &otherDomain, url: "rtmp://relay.video.svc.k8s.internal/live/KEY-1", want: "own domain k8s.internal"},
		{name: "no dot", url: "rtmp://relay:1935/live/KEY-1", want: "has no dot"},

		// The allow-list.
		{name: "allowed network", policy: &allowing, url: "rtmp://10.20.0.5/live/KEY-1"},
		{name: "allowed network by name", policy: &allowing, url: "rtmp://onprem.example.com/live/KEY-1"},
		{name: "allowed loopback", policy: &allowing, url: "rtmp://127.0.0.1:1935/live/KEY-1"},
		{name: "allowed loopback, mapped", policy: &allowing, url: "rtmp://[::ffff:127.0.0.1]:1935/live/KEY-1"},
		{name: "next to the allowed network", policy: &allowing, url: "rtmp://10.20.1.5/live/KEY-1", want: "inside the cluster network 10.0.0.0/8"},
		{name: "allowed host, not looked up", policy: &allowing, url: "rtmp://rtmp.media.svc.cluster.local:1935/live/KEY-1"},
		{name: "allowed host without a dot", policy: &allowing, url: "rtmp://relay/live/KEY-1"},
		{name: "allowed host, bad URL", policy: &allowing, url: "rtmp://rtmp.media.svc.cluster.local/live/KEY-1 x", want: "a space"},
		{name: "allowed host, other name", policy: &allowing, url: "rtmp://other.media.svc.cluster.local/live/KEY-1", want: "own domain"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := &base
			if c.policy != nil {
				p = c.policy
			}
			err := p.Check(context.Background(), c.url)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("Check(%q) = %v, want accepted", c.url, err)
			case c.want == "":
				return
			case err == nil:
				t.Fatalf("Check(%q) accepted it, want %q", c.url, c.want)
			case !strings.Contains(err.Error(), c.want):
				t.Fatalf("Check(%q) = %q, want it to say %q", c.url, err, c.want)
			case IsTransient(err) != c.transient:
				t.Fatalf("Check(%q): transient %v, want %v", c.url, IsTransient(err), c.transient)
			case strings.Contains(err.Error(), "KEY-"):
				t.Fatalf("Check(%q) = %q: the refusal quotes the stream key", c.url, err)
			case strings.Contains(err.Error(), "10.96.0.10:53"):
				t.Fatalf("Check(%q) = %q: the refusal quotes the DNS server", c.url, err)
			}
			var r *Refusal
			if !errors.As(err, &r) {
				t.Fatalf("Check(%q) = %T, want a *Refusal", c.url, err)
			}
		})
	}
}

func TestNilPolicyIsTheSafeDefault(t *testing.T) {
	var p *Policy
	for _, u := range []string{"rtmp://127.0.0.1/live/k", "rtmp://[::1]/live/k", "rtmp://169.254.169.254/k", "rtmp://[::ffff:169.254.169.254]/k",
		"rtmp://0.0.0.0/k", "rtmp://224.1.1.1/k", "rtmp://localhost/k", "rtmp://kube-dns.kube-system.svc.cluster.local/k", "https://203.0.113.9/k"} {
		if err := p.Check(context.Background(), u); err == nil {
			t.Errorf("nil Policy accepted %q", u)
		}
	}
	// No cluster networks: a private address is not known to be the cluster's.
	if err := p.Check(context.Background(), "rtmp://10.96.0.10/live/k"); err != nil {
		t.Errorf("nil Policy: %v", err)
	}
}

func TestCheckSyntax(t *testing.T) {
	if err := CheckSyntax("rtmp://a.rtmp.youtube.com/live2"); err != nil {
		t.Errorf("CheckSyntax: %v", err)
	}
	if err := CheckSyntax("rtmp://a.rtmp.youtube.com/live2 x"); err == nil {
		t.Error("CheckSyntax accepted a space")
	}
}

func TestParseNetworks(t *testing.T) {
	got, err := ParseNetworks(" 10.244.0.0/16, 10.96.0.0/12,fd00:10::/56,,::ffff:192.168.0.0/112, 10.1.2.3, 10.9.9.9/8")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.244.0.0/16", "10.96.0.0/12", "fd00:10::/56", "192.168.0.0/16", "10.1.2.3/32", "10.0.0.0/8"}
	if len(got) != len(want) {
		t.Fatalf("ParseNetworks = %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("ParseNetworks[%d] = %s, want %s", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "ten", "10.0.0.0/8;"} {
		if _, err := ParseNetworks(bad); err == nil {
			t.Errorf("ParseNetworks(%q) accepted it", bad)
		}
	}
}

func TestParseAllowList(t *testing.T) {
	nets, hosts, err := ParseAllowList("10.20.0.0/24, RTMP.media.svc.cluster.local., 2001:db8::1, relay")
	if err != nil {
		t.Fatal(err)
	}
	if len(nets) != 2 || nets[0].String() != "10.20.0.0/24" || nets[1].String() != "2001:db8::1/128" {
		t.Errorf("networks = %v", nets)
	}
	if len(hosts) != 2 || hosts[0] != "rtmp.media.svc.cluster.local" || hosts[1] != "relay" {
		t.Errorf("hosts = %v", hosts)
	}
	for _, bad := range []string{"10.0.0.0/99", "not a host", "a..b", "x;y"} {
		if _, _, err := ParseAllowList(bad); err == nil {
			t.Errorf("ParseAllowList(%q) accepted it", bad)
		}
	}
}
