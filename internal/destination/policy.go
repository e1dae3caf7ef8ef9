// Package destination decides where the operator lets a meeting's live stream be pushed: the
// RTMP and RTMPS URLs of a Meeting's spec.streaming.destinations, and the URL a moderator typed
// for a stream started from the meeting.
//
// A URL passes when the relay's push script and ffmpeg read it as one URL and nothing more, and
// when its host leads out of the cluster: not back to the relay itself, the node, the cloud's
// metadata service or the cluster's own pods and Services. An allow-list admits the exceptions
// a person wants (an RTMP server inside the cluster, say).
//
// The package reads no cluster, clock or environment; its one call out is the host name lookup,
// through the Policy's Resolver.
package destination

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxLength is the longest URL accepted, stream key included, in bytes.
const MaxLength = 4096

// DefaultTimeout bounds a host name lookup when the Policy sets no Timeout.
const DefaultTimeout = 3 * time.Second

// DefaultClusterDomain is the cluster's DNS domain when the Policy names none.
const DefaultClusterDomain = "cluster.local"

// Policy says which destination URLs are accepted. The zero Policy (and a nil *Policy) is the
// safe default: it refuses loopback, link-local (the metadata endpoint 169.254.169.254 among
// them), unspecified, broadcast and multicast addresses and names of the cluster's DNS domain,
// resolves names with the system resolver, and knows no cluster networks.
type Policy struct {
	// ClusterNetworks are the cluster's own networks (pod and Service CIDRs, and the nodes'
	// where they are private): no destination may resolve into them.
	ClusterNetworks []netip.Prefix
	// ClusterDomain is the cluster's DNS domain (DefaultClusterDomain when empty): its names
	// are the cluster's Services and pods, and are refused.
	ClusterDomain string
	// AllowNetworks admit addresses the rules above refuse: an address inside one of them is
	// accepted whatever it is.
	AllowNetworks []netip.Prefix
	// AllowHosts admit host names (exact, case-insensitive, without a trailing dot): their
	// URLs are accepted without a lookup. The URL itself is still checked.
	AllowHosts []string
	// Resolver looks host names up (the system resolver when nil).
	Resolver Resolver
	// Timeout bounds one host name lookup (DefaultTimeout when zero).
	Timeout time.Duration
}

// Refusal is why a URL is refused, in words a person can act on. It never quotes the URL's
// path or query (where the stream key is), nor a user name or password.
type Refusal struct {
	// Transient is true when the host could not be looked up (an error or a timeout): the
	// same URL may pass later.
	Transient bool
	msg       string
}

func (r *Refusal) Error() string { return r.msg }

func refuse(format string, args ...any) *Refusal {
	return &Refusal{msg: fmt.Sprintf(format, args...)}
}

// IsTransient reports whether err is a Refusal that may pass when checked again.
func IsTransient(err error) bool {
	var r *Refusal
	return errors.As(err, &r) && r.Transient
}

// Check returns nil when rawURL may be pushed to, else a *Refusal. A host name is looked up
// (within the Policy's Timeout), and every address it has must pass: ffmpeg may use any.
func (p *Policy) Check(ctx context.Context, rawURL string) error {
	if p == nil {
		p = &Policy{}
	}
	host, err := parse(rawURL)
	if err != nil {
		return err
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		if why := p.refusedAddr(addr); why != "" {
			return refuse("the address %s is %s%s", addr, why, allowHint)
		}
		return nil
	}
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	if p.allowedHost(name) {
		return nil
	}
	if err := p.checkName(name); err != nil {
		return err
	}
	addrs, err := p.lookup(ctx, name)
	if err != nil {
		return err
	}
	// In order, so that the same answer in another order gives the same refusal.
	addrs = slices.SortedFunc(slices.Values(addrs), netip.Addr.Compare)
	for _, a := range addrs {
		if why := p.refusedAddr(a); why != "" {
			many := ""
			if len(addrs) > 1 {
				many = fmt.Sprintf(" (one of its %d addresses; ffmpeg may use any)", len(addrs))
			}
			return refuse("the host %s resolves to %s%s, which is %s%s", name, a, many, why, allowHint)
		}
	}
	return nil
}

const allowHint = "; if that is meant, add it to the operator's destination allow-list"

// CheckSyntax checks rawURL without looking anything up: Check's rules on the URL itself.
func CheckSyntax(rawURL string) error {
	_, err := parse(rawURL)
	return err
}

// forbidden are the printable bytes a destination URL may not hold. The relay's receiver answers
// one destination per line as "<name> <url>" and push.sh reads it with `read -r name url extra`,
// then hands the URL to ffmpeg, which (built with librtmp) reads space-separated options after
// it: whitespace and control bytes (refused apart from this set) would end the URL, add options,
// or start another destination. Quotes, backslash, ';', '{', '}', '#' and '$' are nginx
// configuration syntax (and shell syntax); '#' also starts a fragment, which RTMP has no use
// for. '<', '>', '^', '|' and '`' are not URL characters at all. Everything an RTMP URL needs
// stays: letters, digits, "-._~:/?[]@!&()*+,=" and percent escapes.
const forbidden = "\"'`\\;{}#$<>^|"

// parse applies the rules on the URL itself and returns its host (an IPv6 literal without its
// brackets).
func parse(raw string) (string, error) {
	if raw == "" {
		return "", refuse("the URL is empty")
	}
	if len(raw) > MaxLength {
		return "", refuse("the URL is %d bytes long; at most %d are accepted", len(raw), MaxLength)
	}
	for i := 0; i < len(raw); i++ {
		if what := badByte(raw[i]); what != "" {
			return "", refuse("the URL holds %s at byte %d; a destination URL may not, as it could end the URL early or start "+
				"another destination: remove it or percent-encode it", what, i+1)
		}
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return "", refuse("the URL does not start with rtmp:// or rtmps://")
	}
	if scheme != "rtmp" && scheme != "rtmps" {
		if len(scheme) > 16 {
			scheme = scheme[:16] + "..."
		}
		return "", refuse("the URL's scheme is %q; only rtmp and rtmps (lower-case) are accepted", scheme)
	}
	u, err := url.Parse(raw)
	if err != nil {
		var esc url.EscapeError
		var badHost url.InvalidHostError
		switch {
		case errors.As(err, &esc):
			return "", refuse("the URL has a '%%' that is not followed by two hexadecimal digits")
		case errors.As(err, &badHost):
			return "", refuse("the URL's host holds a character a host may not")
		default:
			return "", refuse("the URL cannot be read as %s://host[:port]/path", scheme)
		}
	}
	if u.User != nil || strings.Contains(authority(rest), "@") {
		return "", refuse("the URL carries a user name or password before its host (user:password@host); " +
			"the secret of an RTMP destination goes in its stream key, which lives in a Secret")
	}
	host := u.Hostname()
	if host == "" {
		return "", refuse("the URL has no host")
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", refuse("the URL's port %q is not a number from 1 to 65535", port)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return "", refuse("the URL's host ends in ':' without a port")
	}
	if strings.HasPrefix(u.Host, "[") {
		a, err := netip.ParseAddr(host)
		switch {
		case err != nil || !a.Is6():
			return "", refuse("the URL's host in brackets is not an IPv6 address")
		case a.Zone() != "":
			return "", refuse("the URL's IPv6 address names a network interface (%%zone); that is only for link-local addresses")
		}
		return host, nil
	}
	if a, err := netip.ParseAddr(host); err == nil && a.Is4() {
		return host, nil
	}
	if err := hostName(host); err != nil {
		return "", err
	}
	return host, nil
}

// authority is what stands between "scheme://" and the path, query or fragment.
func authority(rest string) string {
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		return rest[:i]
	}
	return rest
}

// badByte names b when a destination URL may not hold it, else "".
func badByte(b byte) string {
	switch {
	case b == ' ':
		return "a space"
	case b == '\t':
		return "a tab"
	case b == '\n':
		return "a line break"
	case b == '\r':
		return "a carriage return"
	case b < 0x20 || b == 0x7f:
		return fmt.Sprintf("a control character (0x%02x)", b)
	case b >= 0x80:
		return fmt.Sprintf("a byte outside ASCII (0x%02x; write an international host name in its xn-- form)", b)
	case strings.IndexByte(forbidden, b) >= 0:
		return fmt.Sprintf("the character %q", rune(b))
	}
	return ""
}

// hostName checks a host that is not an IP literal: a DNS name of letters, digits, '-' and '_',
// whose last label is not a number (ffmpeg's resolver reads "127.1", "2130706433" or "0x7f.1"
// as IPv4 addresses).
func hostName(host string) error {
	name := strings.TrimSuffix(host, ".")
	if len(name) > 253 {
		return refuse("the URL's host is longer than a host name may be (253)")
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return refuse("the URL's host %q is not a valid host name", host)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return refuse("the URL's host %q is not a valid host name", host)
			}
		}
	}
	last := strings.ToLower(labels[len(labels)-1])
	if strings.Trim(last, "0123456789") == "" || strings.HasPrefix(last, "0x") {
		return refuse("the URL's host %q is neither a host name nor an IPv4 address in dotted form (a.b.c.d)", host)
	}
	return nil
}

// checkName refuses names that lead into the cluster or to the relay itself whatever the
// lookup says: localhost, names of the cluster's domain, and names without a dot (looked up in
// the cluster's search domains).
func (p *Policy) checkName(name string) error {
	domain := strings.ToLower(strings.Trim(p.ClusterDomain, "."))
	if domain == "" {
		domain = DefaultClusterDomain
	}
	switch {
	case name == "localhost" || strings.HasSuffix(name, ".localhost"):
		return refuse("the host %s is the relay itself (localhost)", name)
	case name == domain || strings.HasSuffix(name, "."+domain):
		return refuse("the host %s is a name of the cluster's own domain %s%s", name, domain, allowHint)
	case !strings.Contains(name, "."):
		return refuse("the host %s has no dot: it would be looked up in the cluster's own search domains; "+
			"write the full host name", name)
	}
	return nil
}

func (p *Policy) allowedHost(name string) bool {
	for _, h := range p.AllowHosts {
		if strings.EqualFold(strings.TrimSuffix(h, "."), name) {
			return true
		}
	}
	return false
}
