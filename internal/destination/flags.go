package destination

import (
	"fmt"
	"net/netip"
	"strings"
)

// ParseNetworks reads a comma-separated list of CIDRs, as a flag gives the cluster networks
// ("10.244.0.0/16,10.96.0.0/12,fd00:10::/56"). A bare address stands for itself alone.
func ParseNetworks(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range split(list) {
		n, err := parsePrefix(item)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// ParseAllowList reads a comma-separated allow-list of CIDRs and exact host names
// ("10.20.0.0/24,rtmp.media.svc.cluster.local"): an item that is not an address or CIDR is a
// host name.
func ParseAllowList(list string) (networks []netip.Prefix, hosts []string, err error) {
	for _, item := range split(list) {
		if strings.ContainsAny(item, "/:") || isAddr(item) {
			n, err := parsePrefix(item)
			if err != nil {
				return nil, nil, err
			}
			networks = append(networks, n)
			continue
		}
		if err := hostName(item); err != nil {
			return nil, nil, fmt.Errorf("allow-list: %q is neither a CIDR nor a host name", item)
		}
		hosts = append(hosts, strings.ToLower(strings.TrimSuffix(item, ".")))
	}
	return networks, hosts, nil
}

func split(list string) []string {
	var out []string
	for _, item := range strings.Split(list, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func isAddr(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

// parsePrefix reads a CIDR or a bare address; an IPv4-mapped IPv6 network becomes the IPv4
// network it maps, as addresses are compared unmapped.
func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	n, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR", s)
	}
	if a := n.Addr(); a.Is4In6() && n.Bits() >= 96 {
		n = netip.PrefixFrom(a.Unmap(), n.Bits()-96)
	}
	return n.Masked(), nil
}
