package destination

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Resolver looks up a host name's addresses; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Hosts is a Resolver that answers from a fixed table: a name not in it does not resolve.
type Hosts map[string][]netip.Addr

// LookupNetIP answers host's addresses from the table.
func (h Hosts) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if addrs, ok := h[strings.ToLower(strings.TrimSuffix(host, "."))]; ok {
		return addrs, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

var (
	// metadata are the cloud metadata services outside link-local: AWS's IPv6 endpoint and
	// Alibaba Cloud's. The usual one, 169.254.169.254, is link-local.
	metadata = []netip.Addr{netip.MustParseAddr("fd00:ec2::254"), netip.MustParseAddr("100.100.100.200")}

	thisNetwork  = netip.MustParsePrefix("0.0.0.0/8")
	broadcast    = netip.MustParseAddr("255.255.255.255")
	v4Compatible = netip.MustParsePrefix("::/96")
	nat64        = netip.MustParsePrefix("64:ff9b::/96")
)

// refusedAddr says what a is when no destination may be there, "" when it may.
func (p *Policy) refusedAddr(a netip.Addr) string {
	a = a.WithZone("")
	if inAny(p.AllowNetworks, a) || inAny(p.AllowNetworks, a.Unmap()) {
		return ""
	}
	a = a.Unmap()
	switch {
	case a == netip.MustParseAddr("169.254.169.254"):
		return "the cloud metadata endpoint"
	case isMetadata(a):
		return "a cloud metadata endpoint"
	case a.IsUnspecified():
		return "the unspecified address (the relay itself)"
	case a.Is4() && thisNetwork.Contains(a):
		return "in 0.0.0.0/8, which means this host"
	case a.IsLoopback():
		return "a loopback address (the relay itself)"
	case a.IsLinkLocalUnicast():
		return "a link-local address (the node's own network segment)"
	case a.IsMulticast():
		return "a multicast address"
	case a == broadcast:
		return "the broadcast address"
	case a.Is6() && v4Compatible.Contains(a):
		return "an IPv4-compatible IPv6 address (deprecated; some systems reach the IPv4 address it holds)"
	case a.Is6() && nat64.Contains(a):
		b := a.As16()
		v4 := netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
		if why := p.refusedAddr(v4); why != "" {
			return fmt.Sprintf("translated by NAT64 to %s, %s", v4, why)
		}
		return ""
	}
	for _, n := range p.ClusterNetworks {
		if contains(n, a) {
			return fmt.Sprintf("inside the cluster network %s", n)
		}
	}
	return ""
}

// contains compares unmapped: an IPv4-mapped IPv6 network holds the IPv4 addresses it maps.
func contains(n netip.Prefix, a netip.Addr) bool {
	if n.Addr().Is4In6() && n.Bits() >= 96 {
		n = netip.PrefixFrom(n.Addr().Unmap(), n.Bits()-96)
	}
	return n.Contains(a)
}

func isMetadata(a netip.Addr) bool {
	for _, m := range metadata {
		if a == m {
			return true
		}
	}
	return false
}

func inAny(nets []netip.Prefix, a netip.Addr) bool {
	for _, n := range nets {
		if contains(n, a) {
			return true
		}
	}
	return false
}

// lookup resolves name within the Policy's timeout, even with a Resolver that does not heed its
// context.
func (p *Policy) lookup(ctx context.Context, name string) ([]netip.Addr, error) {
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	var r Resolver = net.DefaultResolver
	if p.Resolver != nil {
		r = p.Resolver
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type answer struct {
		addrs []netip.Addr
		err   error
	}
	done := make(chan answer, 1)
	go func() {
		addrs, err := r.LookupNetIP(ctx, "ip", name)
		done <- answer{addrs, err}
	}()
	var a answer
	select {
	case a = <-done:
	case <-ctx.Done():
		a.err = ctx.Err()
	}
	var dnsErr *net.DNSError
	switch {
	case a.err == nil && len(a.addrs) == 0:
		return nil, refuse("the host %s has no address", name)
	case a.err == nil:
		return a.addrs, nil
	case errors.Is(a.err, context.DeadlineExceeded) || errors.As(a.err, &dnsErr) && dnsErr.IsTimeout:
		return nil, &Refusal{Transient: true, msg: fmt.Sprintf("the host %s did not resolve within %s", name, timeout)}
	case errors.Is(a.err, context.Canceled):
		return nil, &Refusal{Transient: true, msg: fmt.Sprintf("the lookup of host %s was cancelled", name)}
	case errors.As(a.err, &dnsErr) && dnsErr.IsNotFound:
		return nil, refuse("the host %s does not exist (no address found)", name)
	case errors.As(a.err, &dnsErr):
		return nil, &Refusal{Transient: true, msg: fmt.Sprintf("the host %s could not be looked up (%s)", name, dnsErr.Err)}
	default:
		return nil, &Refusal{Transient: true, msg: fmt.Sprintf("the host %s could not be looked up (%v)", name, a.err)}
	}
}
