package render

import (
	"strings"
	"testing"
)

// FuzzRelayUIName: the relay name of a stream started from the meeting carries its namespace,
// pool and target back to the receiver, for every target and every namespace and pool without
// a dot (a namespace never has one; a pool with a relay is a DNS label, its Service's name is
// "<pool>-relay"); SplitRelayUIName reads the same namespace and pool; and the name is refused
// once any byte of it changes, or under another pool's key.
func FuzzRelayUIName(f *testing.F) {
	f.Fuzz(func(t *testing.T, eventsSecret []byte, namespace, pool, target string, at uint16, b byte) {
		if strings.Contains(namespace, ".") || strings.Contains(pool, ".") {
			return
		}
		key := RelayUIKey(eventsSecret, namespace, pool)
		name := RelayUIName(key, namespace, pool, target)
		ns, p, got, ok := ParseRelayUIName(key, name)
		if !ok || ns != namespace || p != pool || got != target {
			t.Fatalf("%q parsed as %q %q %q %v", name, ns, p, got, ok)
		}
		if ns, p, ok := SplitRelayUIName(name); !ok || ns != namespace || p != pool {
			t.Fatalf("%q split as %q %q %v", name, ns, p, ok)
		}
		if !strings.HasPrefix(name, RelayUIPrefix(namespace, pool)+".") {
			t.Fatalf("%q does not start with the prefix the recorders are given", name)
		}
		if _, _, _, ok := ParseRelayUIName(RelayUIKey(eventsSecret, namespace, pool+"x"), name); ok {
			t.Fatalf("%q accepted under another pool's key", name)
		}
		i := int(at) % len(name)
		if name[i] == b {
			b ^= 0x01
		}
		modified := name[:i] + string([]byte{b}) + name[i+1:]
		if _, _, _, ok := ParseRelayUIName(key, modified); ok {
			t.Fatalf("%q accepted after byte %d of %q changed", modified, i, name)
		}
	})
}
