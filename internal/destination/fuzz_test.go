package destination

import (
	"context"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// FuzzCheck: whatever Check accepts is an rtmp or rtmps URL of one line that holds no byte a
// destination may not (nothing that could start another destination or nginx syntax), is at most
// MaxLength long and carries no user name or password; and no refusal quotes what follows the
// host (the stream key). Names resolve to a public address, so the URL's own rules are fuzzed.
func FuzzCheck(f *testing.F) {
	public := netip.MustParseAddr("198.51.100.7")
	p := &Policy{
		ClusterNetworks: []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12")},
		Resolver: resolverFunc(func(context.Context, string, string) ([]netip.Addr, error) {
			return []netip.Addr{public}, nil
		}),
	}
	const key = "Zq9-stream-key-Xw4"
	f.Fuzz(func(t *testing.T, raw string) {
		err := p.Check(context.Background(), raw)
		if withKey := p.Check(context.Background(), raw+"/"+key); withKey != nil && strings.Contains(withKey.Error(), key) {
			t.Fatalf("the refusal of %q quotes the stream key: %v", raw+"/"+key, withKey)
		}
		if err != nil {
			return
		}
		if !strings.HasPrefix(raw, "rtmp://") && !strings.HasPrefix(raw, "rtmps://") {
			t.Fatalf("accepted %q: not rtmp or rtmps", raw)
		}
		if len(raw) > MaxLength {
			t.Fatalf("accepted %d bytes", len(raw))
		}
		for i := 0; i < len(raw); i++ {
			if b := raw[i]; b <= ' ' || b >= 0x7f || strings.IndexByte(forbidden, b) >= 0 {
				t.Fatalf("accepted %q with byte 0x%02x at %d", raw, b, i)
			}
		}
		u, perr := url.Parse(raw)
		if perr != nil || u.User != nil || u.Hostname() == "" || (u.Scheme != "rtmp" && u.Scheme != "rtmps") {
			t.Fatalf("accepted %q: %v, user %v, host %q", raw, perr, u.User, u.Hostname())
		}
		if err := CheckSyntax(raw); err != nil {
			t.Fatalf("Check accepted %q, CheckSyntax refused it: %v", raw, err)
		}
	})
}
