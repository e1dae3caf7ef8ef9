package webhook

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Body limits per endpoint, from the largest real payload of each source with room to spare. A
// body over its endpoint's limit is refused before it is read when Content-Length says so, and
// cut at the limit otherwise.
const (
	// LimitModuleEvent: the operator's module sends one event per post, an occupant's JID, nick,
	// name, email and token id at most (under 2 KiB).
	LimitModuleEvent = 64 << 10
	// LimitAccess: a validate-access ask, or a mod_jitsi_webhooks post with a token (a few KiB).
	LimitAccess = 64 << 10
	// LimitRoomDestroyed: event_sync's room-destroyed lists everyone who was ever in the room,
	// about 250 bytes each in the vectors: 2 MiB holds some 5,000 occupants with long names.
	LimitRoomDestroyed = 2 << 20
	// LimitSmall: Jibri's status webhooks (about 150 bytes), the relay's form posts (a few
	// hundred bytes).
	LimitSmall = 16 << 10
	// LimitReport: a finalize report with up to a hundred files.
	LimitReport = 256 << 10
)

// Connection and request limits of the receiver's HTTP server.
const (
	// DefaultMaxConnections is how many connections the receiver holds at once unless
	// Server.MaxConnections says otherwise; more wait in the kernel's backlog.
	DefaultMaxConnections = 2048
	// MaxInFlight is how many requests are worked on at once (read, authenticated, parsed); a
	// request that finds no slot within inFlightWait is answered 503 (the senders retry 5xx). A
	// request waiting for the write that stores its events gives its slot back (giveBackSlot):
	// those are bounded by the connections.
	MaxInFlight  = 256
	inFlightWait = 200 * time.Millisecond
	// MaxHeaderBytes bounds a request's header block (the senders' headers are a few hundred
	// bytes).
	MaxHeaderBytes = 16 << 10
)

// limitBody refuses r's body when it declares more than limit bytes, and cuts it at limit
// otherwise. Refused bodies are never read: the server closes the connection after the answer.
func limitBody(limit int64, source string, s *Server, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			s.answer(w, r, source, nil, tooLarge(limit))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next(w, r)
	}
}

func tooLarge(limit int64) *problem {
	return fail(http.StatusRequestEntityTooLarge, "BodyTooLarge", "the body is larger than this endpoint's %d bytes", limit)
}

// readBody reads the request's body, which limitBody has bounded.
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var big *http.MaxBytesError
		if errors.As(err, &big) {
			return nil, tooLarge(big.Limit)
		}
		return nil, fail(http.StatusBadRequest, "BadBody", "the body could not be read")
	}
	return body, nil
}

// inFlight caps the requests handled at once.
type inFlight chan struct{}

func (f inFlight) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := time.NewTimer(inFlightWait)
		defer t.Stop()
		select {
		case f <- struct{}{}:
		case <-t.C:
			busy.Inc()
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "the receiver is busy; retry", "reason": "Busy"})
			return
		case <-r.Context().Done():
			return
		}
		release := sync.OnceFunc(func() { <-f })
		defer release()
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), slotKey{}, release)))
	})
}

// slotKey holds, in a request's context, the func that gives back its inFlight slot.
type slotKey struct{}

// giveBackSlot frees the inFlight slot of the request ctx belongs to, for a request that has
// done its work and only waits (for its Meeting's write): waiting requests are bounded by the
// connections (Server.MaxConnections) instead. Without a slot in ctx (the pool's decisions) it
// does nothing.
func giveBackSlot(ctx context.Context) {
	if release, ok := ctx.Value(slotKey{}).(func()); ok {
		release()
	}
}

// limitListener accepts at most n connections at a time.
type limitListener struct {
	net.Listener
	slots chan struct{}
}

func newLimitListener(l net.Listener, n int) net.Listener {
	return &limitListener{Listener: l, slots: make(chan struct{}, n)}
}

func (l *limitListener) Accept() (net.Conn, error) {
	l.slots <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	connections.Inc()
	return &slotConn{Conn: c, release: sync.OnceFunc(func() {
		connections.Dec()
		<-l.slots
	})}, nil
}

type slotConn struct {
	net.Conn
	release func()
}

func (c *slotConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}
