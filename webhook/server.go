package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/destination"
	"github.com/jitsi-operator/jitsi-operator/internal/events"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// MaxBody is the largest request body any endpoint accepts (limits.go has each endpoint's own).
const MaxBody = LimitRoomDestroyed

// Server is the receiver. It runs on every operator replica (not only the leader): writes go
// through the API server with optimistic concurrency, so any replica may take any event.
type Server struct {
	// Client reads JitsiDeployments, pools, Secrets, Pods and Meetings (from the cache) and
	// writes status. Deployments, their Secrets, pools and recorder pods exist long before
	// anything signs with them, so a cache miss there is an unknown sender: it is never read
	// through, or every unauthenticated request would cost an API read.
	Client client.Client
	// Reader reads from the API server: a Meeting fresh before a write, and the Meeting of a
	// room the cache does not know (meetingForRoom).
	Reader client.Reader
	// Addr is where it listens, e.g. ":9090".
	Addr string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Destinations decides where the relay may push a stream (relay.go): nil is the safe
	// default, which refuses loopback, link-local and the like but knows no cluster networks.
	Destinations *destination.Policy
	// MaxConnections is how many connections it holds at once (DefaultMaxConnections when 0).
	// Requests waiting for the write that stores their events keep theirs, so under load it
	// bounds the events waiting for a Meeting's next write: more lets each write carry more
	// events, for the memory each waiting request holds.
	MaxConnections int

	batches batches
	replays replays
	// userSecrets remembers the users' Secrets read by name (secretData).
	userSecrets secretMemo
	// recent holds each Meeting's last write by this replica for a moment (remember).
	recent sync.Map
	// pending holds the replay key of each signed request being handled, forgotten again when
	// the request could not be stored (its retry must be taken).
	pending sync.Map
}

// writeTimeout bounds one Meeting status write with its retries, within the server's 20 s
// WriteTimeout so that its callers can still be answered.
const writeTimeout = 15 * time.Second

// NeedLeaderElection is false: every replica answers.
func (s *Server) NeedLeaderElection() bool { return false }

// Start serves until ctx ends (a manager.Runnable).
func (s *Server) Start(ctx context.Context) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 3 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      20 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    MaxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	l, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	conns := s.MaxConnections
	if conns <= 0 {
		conns = DefaultMaxConnections
	}
	go func() { errc <- srv.Serve(newLimitListener(l, conns)) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(shutdown)
	}
}

// Handler routes every endpoint, each with its body limit, at most MaxInFlight at once.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, limit int64, source string, h http.HandlerFunc) {
		mux.HandleFunc(pattern, limitBody(limit, source, s, h))
	}
	handle("POST /v1/prosody/events", LimitModuleEvent, "prosody", s.prosodyEvents)
	mux.HandleFunc("POST /v1/event-sync/{namespace}/{deployment}/events/{kind}/{what}", func(w http.ResponseWriter, r *http.Request) {
		limit := int64(LimitModuleEvent)
		if r.PathValue("kind") == "room" && r.PathValue("what") == "destroyed" {
			limit = LimitRoomDestroyed
		}
		limitBody(limit, "event_sync", s, s.eventSync)(w, r)
	})
	handle("POST /v1/prosody/validate-access", LimitAccess, "prosody", s.validateAccess)
	// The Reflector-style path of API.md's table: the same signed events as the module's.
	handle("POST /v1/jitsi/events", LimitModuleEvent, "prosody", s.prosodyEvents)
	handle("POST /v1/jibri/recording-complete", LimitReport, "jibri", s.recordingComplete)
	handle("POST /v1/jibri/pools/{namespace}/{pool}/{token}/v1/status", LimitSmall, "jibri", s.jibriStatus)
	handle("POST /v1/jibri/pools/{namespace}/{pool}/{token}/v1/session/status", LimitSmall, "jibri", s.jibriStatus)
	handle("POST /webhooks/jitsi/{event}", LimitAccess, "jitsi_webhooks", s.jitsiWebhooks)
	handle("POST /v1/rtmp/publish", LimitSmall, "rtmp", s.rtmpPublish)
	handle("POST /v1/rtmp/publish-done", LimitSmall, "rtmp", s.rtmpPublishDone)
	handle("GET /v1/rtmp/pools/{namespace}/{pool}/{token}/destinations", LimitSmall, "rtmp", s.relayDestinations)
	handle("POST /v1/rtmp/pools/{namespace}/{pool}/{token}/destination-status", LimitSmall, "rtmp", s.relayDestinationStatus)
	mux.HandleFunc("GET /v1/jitsi/health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	})
	return make(inFlight, MaxInFlight).wrap(mux)
}

// problem is an error answer: an HTTP status, a CamelCase reason and a sentence.
type problem struct {
	status  int
	reason  string
	message string
}

func (p *problem) Error() string { return p.reason + ": " + p.message }

func fail(status int, reason, format string, args ...any) *problem {
	return &problem{status: status, reason: reason, message: fmt.Sprintf(format, args...)}
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (s *Server) answer(w http.ResponseWriter, r *http.Request, source string, result map[string]any, err error) {
	received.WithLabelValues(source).Inc()
	key, signed := s.pending.LoadAndDelete(r)
	if err == nil {
		writeJSON(w, http.StatusOK, result)
		return
	}
	if errors.Is(err, errAlreadyReceived) {
		replayed.Inc()
		writeJSON(w, http.StatusOK, map[string]any{"applied": false, "reason": "AlreadyReceived"})
		return
	}
	var refused *authFailure
	if errors.As(err, &refused) {
		// One answer for every authentication failure: it must not tell which deployments or
		// pools exist, nor which check failed. The cause is for the operator's own log.
		rejected.WithLabelValues(source, refused.cause).Inc()
		logger := log.FromContext(r.Context())
		if refused.cause != "AmbiguousSecret" {
			logger = logger.V(1) // a sender's mistake (or an attacker's), not the operator's
		}
		logger.Info("request refused", "source", source, "path", redactedPath(r), "cause", refused.cause)
		writeJSON(w, unauthorized.status, map[string]any{"error": unauthorized.message, "reason": unauthorized.reason})
		return
	}
	var p *problem
	if !errors.As(err, &p) {
		// Not the sender's fault: it retries on 5xx, and that retry must be taken.
		if signed {
			s.replays.forget(key.(replayKey))
		}
		log.FromContext(r.Context()).Error(err, "event not stored", "source", source)
		p = fail(http.StatusServiceUnavailable, "NotStored", "the event could not be stored; retry")
	}
	rejected.WithLabelValues(source, p.reason).Inc()
	writeJSON(w, p.status, map[string]any{"error": p.message, "reason": p.reason})
}

// unauthorized is the one answer to every authentication failure (authFailure).
var unauthorized = fail(http.StatusUnauthorized, "Unauthorized", "the request is not authenticated")

// authFailure is a failed authentication; cause says which check failed, for logs and metrics
// only.
type authFailure struct{ cause string }

func (a *authFailure) Error() string { return "unauthorized: " + a.cause }

func refuse(cause string) error { return &authFailure{cause: cause} }

// redactedPath is r's path without the token some endpoints carry in it.
func redactedPath(r *http.Request) string {
	if t := r.PathValue("token"); t != "" {
		return strings.Replace(r.URL.Path, t, "<token>", 1)
	}
	return r.URL.Path
}

// deploymentSecret is the events secret of JitsiDeployment ns/name. Any failure is the same
// 401 to the sender, so that the answer does not tell which deployments exist.
func (s *Server) deploymentSecret(ctx context.Context, ns, name string) (*jitsiv1alpha1.JitsiDeployment, []byte, error) {
	if ns == "" || name == "" {
		return nil, nil, refuse("NoDeployment")
	}
	d := &jitsiv1alpha1.JitsiDeployment{}
	if err := s.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, d); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, refuse("UnknownDeployment")
		}
		return nil, nil, err
	}
	key, err := s.eventsSecretOf(ctx, d)
	if err != nil {
		return nil, nil, err
	}
	if key == nil {
		return nil, nil, refuse("NoEventsSecret")
	}
	return d, key, nil
}

// eventsSecretOf is d's events secret, nil when its Secret or key does not exist (yet).
func (s *Server) eventsSecretOf(ctx context.Context, d *jitsiv1alpha1.JitsiDeployment) ([]byte, error) {
	ref := render.SecretsFor(d).Webhook
	data, err := s.secretData(ctx, types.NamespacedName{Namespace: d.Namespace, Name: ref.Name})
	if err != nil {
		return nil, err
	}
	if key := data[ref.Key]; len(key) > 0 {
		return key, nil
	}
	return nil, nil
}

// store applies evs to m's status (coalesced with other events for m arriving meanwhile) and
// counts them.
func (s *Server) store(ctx context.Context, source string, m *jitsiv1alpha1.Meeting, evs []events.Event) (bool, error) {
	r := s.submit(ctx, m, evs)
	if r.err != nil {
		return false, r.err
	}
	stored := s.now()
	for _, e := range evs {
		applied.WithLabelValues(source, string(e.Kind)).Inc()
		latency.WithLabelValues(source).Observe(stored.Sub(e.Time).Seconds())
	}
	return r.changed, nil
}

// submit hands evs for m to its Meeting's writer (batches, write) and waits for the write that
// holds them.
func (s *Server) submit(ctx context.Context, m *jitsiv1alpha1.Meeting, evs []events.Event) result {
	key := client.ObjectKeyFromObject(m)
	// The write carries other callers' events too: it is not cut short when this caller goes
	// (its sender gave up, or the receiver is stopping and waits for its answers).
	wctx := context.WithoutCancel(ctx)
	return s.batches.submit(ctx, key.String(), evs, func(all []events.Event, last **jitsiv1alpha1.Meeting) (bool, []bool, error) {
		ctx, cancel := context.WithTimeout(wctx, writeTimeout)
		defer cancel()
		return s.write(ctx, key, all, last)
	})
}

// lastWrite is a Meeting as this replica's last write of it left it, and the resourceVersion
// that write started from: a cache still at from has not seen the write.
type lastWrite struct {
	meeting *jitsiv1alpha1.Meeting
	from    string
}

// recentFor is how long a Meeting's last write is remembered (Server.recent): longer than the
// cache takes to see it.
const recentFor = 2 * time.Second

// remember keeps w as key's last write for recentFor, so that the Meeting's next drain starts
// from it and not from a cache that is a moment behind (a conflict and a read).
func (s *Server) remember(key client.ObjectKey, w *lastWrite) {
	s.recent.Store(key, w)
	time.AfterFunc(recentFor, func() { s.recent.CompareAndDelete(key, w) })
}

// errStale: the events changed nothing in a Meeting that may be behind; read it again.
var errStale = errors.New("nothing to change in a possibly stale Meeting")

// write applies evs to the Meeting's status in one write. It starts from what the previous write
// of this drain left (*last), else from the cache, and sends only the change, locked to the
// resourceVersion it started from (statusPatch); on a conflict (another writer, or a cache
// behind) it reads the Meeting from the API server and tries again.
func (s *Server) write(ctx context.Context, key client.ObjectKey, evs []events.Event, last **jitsiv1alpha1.Meeting) (bool, []bool, error) {
	m := *last
	if m == nil {
		m = &jitsiv1alpha1.Meeting{}
		if err := s.Client.Get(ctx, key, m); err != nil {
			if !apierrors.IsNotFound(err) {
				return false, nil, err
			}
			if err := s.Reader.Get(ctx, key, m); err != nil {
				return false, nil, err
			}
		} else if w, ok := s.recent.Load(key); ok && w.(*lastWrite).from == m.ResourceVersion {
			// The cache has not seen this replica's last write of the Meeting yet.
			m = w.(*lastWrite).meeting
		}
	}
	changed, tried, read := false, false, false
	skipped := make([]bool, len(evs))
	// A patch from a Meeting that moved on is refused with a conflict, or as invalid when its
	// resourceVersion test fails: both mean "read it again".
	stale := func(err error) bool {
		return err == errStale || apierrors.IsConflict(err) || apierrors.IsInvalid(err)
	}
	err := retry.OnError(retry.DefaultBackoff, stale, func() error {
		if tried {
			m = &jitsiv1alpha1.Meeting{}
			if err := s.Reader.Get(ctx, key, m); err != nil {
				return err
			}
			read = true
		}
		tried = true
		st := *m.Status.DeepCopy()
		for i, e := range evs {
			if skipped[i] = !events.Applies(st, e); !skipped[i] {
				events.ApplyTo(&st, e)
			}
		}
		if equalJSON(st, m.Status) {
			if !read {
				// Nothing to change in a Meeting that may be behind the API server (the cache,
				// or this drain's last write if another writer came after it): the events may
				// still change the current one.
				return errStale
			}
			changed = false
			*last = m
			return nil
		}
		patch, err := statusPatch(m.Status, st, m.ResourceVersion)
		if err != nil {
			return err
		}
		written := m.DeepCopy()
		if err := s.Client.Status().Patch(ctx, written, client.RawPatch(types.JSONPatchType, patch)); err != nil {
			return err
		}
		s.remember(key, &lastWrite{meeting: written, from: m.ResourceVersion})
		changed, *last = true, written
		return nil
	})
	if err != nil {
		*last = nil // start from the cache again
	}
	return changed, skipped, err
}

func equalJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
