package webhook

import (
	"crypto/sha256"
	"strings"
	"sync"
	"time"
)

// A signed request is taken once: its signature is remembered for as long as its timestamp is
// acceptable (ReplayWindow into the past, MaxClockAhead into the future), and the same body
// again is answered AlreadyReceived without being applied. A sender's retry after a 5xx is
// taken again: the receiver forgets the signature of a request it could not store. Each
// receiver replica remembers what it took.

// ReplayWindow is how old an event's own timestamp may be. The module retries for about a
// minute and a half; an older signed body is a replay.
const ReplayWindow = 5 * time.Minute

// MaxClockAhead is how far in the future an event's timestamp may be (clocks differ a little).
const MaxClockAhead = time.Minute

// replayKey is half a digest of a signature and its scope: 128 bits are plenty to tell them apart.
type replayKey [16]byte

// replays remembers the signatures taken, in two generations of ReplayWindow+MaxClockAhead
// each: a signature is kept at least that long and at most twice that.
type replays struct {
	mu        sync.Mutex
	cur, prev map[replayKey]struct{}
	rotated   time.Time
}

// take reports whether signature was not taken before for scope (the deployment it is for), and
// remembers it.
func (p *replays) take(scope, signature string, now time.Time) (replayKey, bool) {
	var k replayKey
	sum := sha256.Sum256([]byte(scope + "\x00" + strings.ToLower(strings.TrimSpace(signature))))
	copy(k[:], sum[:])
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil || now.Sub(p.rotated) >= ReplayWindow+MaxClockAhead {
		p.prev, p.cur, p.rotated = p.cur, map[replayKey]struct{}{}, now
	}
	if _, seen := p.cur[k]; seen {
		return k, false
	}
	if _, seen := p.prev[k]; seen {
		return k, false
	}
	p.cur[k] = struct{}{}
	return k, true
}

// forget lets k be taken again (its request was not stored).
func (p *replays) forget(k replayKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.cur, k)
	delete(p.prev, k)
}
