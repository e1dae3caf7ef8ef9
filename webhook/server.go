package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/events"
	"github.com/jitsi-operator/jitsi-operator/internal/meeting"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// MaxBody is the largest request body accepted; room events are a few hundred bytes, a destroy
// with every occupant a few tens of kilobytes.
const MaxBody = 1 << 20

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

	batches batches
}

// NeedLeaderElection is false: every replica answers.
func (s *Server) NeedLeaderElection() bool { return false }

// Start serves until ctx ends (a manager.Runnable).
func (s *Server) Start(ctx context.Context) error {
	srv := &http.Server{
		Addr:              s.Addr,
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(shutdown)
	}
}

// Handler routes every endpoint.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/prosody/events", s.prosodyEvents)
	mux.HandleFunc("POST /v1/event-sync/{namespace}/{deployment}/events/{kind}/{what}", s.eventSync)
	mux.HandleFunc("POST /v1/prosody/validate-access", s.validateAccess)
	// The Reflector-style path of API.md's table: the same signed events as the module's.
	mux.HandleFunc("POST /v1/jitsi/events", s.prosodyEvents)
	mux.HandleFunc("POST /v1/jibri/recording-complete", s.recordingComplete)
	mux.HandleFunc("POST /v1/jibri/pools/{namespace}/{pool}/{token}/v1/status", s.jibriStatus)
	mux.HandleFunc("POST /v1/jibri/pools/{namespace}/{pool}/{token}/v1/session/status", s.jibriStatus)
	mux.HandleFunc("POST /webhooks/jitsi/{event}", s.jitsiWebhooks)
	mux.HandleFunc("POST /v1/rtmp/publish", s.rtmpPublish)
	mux.HandleFunc("POST /v1/rtmp/publish-done", s.rtmpPublishDone)
	mux.HandleFunc("GET /v1/rtmp/pools/{namespace}/{pool}/{token}/destinations", s.relayDestinations)
	mux.HandleFunc("POST /v1/rtmp/pools/{namespace}/{pool}/{token}/destination-status", s.relayDestinationStatus)
	mux.HandleFunc("GET /v1/jitsi/health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	})
	return mux
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
	if err == nil {
		writeJSON(w, http.StatusOK, result)
		return
	}
	var p *problem
	if !errors.As(err, &p) {
		// Not the sender's fault: it retries on 5xx.
		log.FromContext(r.Context()).Error(err, "event not stored", "source", source)
		p = fail(http.StatusServiceUnavailable, "NotStored", "the event could not be stored; retry")
	}
	rejected.WithLabelValues(source, p.reason).Inc()
	writeJSON(w, p.status, map[string]any{"error": p.message, "reason": p.reason})
}

// readBody reads at most MaxBody bytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, fail(http.StatusRequestEntityTooLarge, "BodyTooLarge", "the body is larger than %d bytes", MaxBody)
		}
		return nil, fail(http.StatusBadRequest, "BadBody", "the body could not be read")
	}
	return body, nil
}

// deploymentSecret is the events secret of JitsiDeployment ns/name. Any failure is the same
// 401 to the sender, so that the answer does not tell which deployments exist.
func (s *Server) deploymentSecret(ctx context.Context, ns, name string) (*jitsiv1alpha1.JitsiDeployment, []byte, error) {
	unauthorized := fail(http.StatusUnauthorized, "Unauthorized", "the request is not signed by a known deployment")
	if ns == "" || name == "" {
		return nil, nil, unauthorized
	}
	d := &jitsiv1alpha1.JitsiDeployment{}
	if err := s.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, d); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, unauthorized
		}
		return nil, nil, err
	}
	key, err := s.eventsSecretOf(ctx, d)
	if err != nil {
		return nil, nil, err
	}
	if key == nil {
		return nil, nil, unauthorized
	}
	return d, key, nil
}

// eventsSecretOf is d's events secret, nil when its Secret or key does not exist (yet).
func (s *Server) eventsSecretOf(ctx context.Context, d *jitsiv1alpha1.JitsiDeployment) ([]byte, error) {
	ref := render.SecretsFor(d).Webhook
	secret := &corev1.Secret{}
	if err := s.Client.Get(ctx, types.NamespacedName{Namespace: d.Namespace, Name: ref.Name}, secret); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	if key := secret.Data[ref.Key]; len(key) > 0 {
		return key, nil
	}
	return nil, nil
}

// meetingForRoom is the Meeting of d whose room is room, nil when there is none. A room the cache
// knows no Meeting for is looked up again on the API server before that answer: a backend creates
// a Meeting a moment before its room's first event (or its first join, which must not be admitted
// as if the room had no Meeting). Only authenticated events get here; ad-hoc rooms pay that one
// List per event.
func (s *Server) meetingForRoom(ctx context.Context, d *jitsiv1alpha1.JitsiDeployment, room string) (*jitsiv1alpha1.Meeting, error) {
	m, err := findMeeting(ctx, s.Client, d, room)
	if m != nil || err != nil {
		return m, err
	}
	return findMeeting(ctx, s.Reader, d, room)
}

// findMeeting is the Meeting of d whose room is room as r lists them, nil when there is none.
func findMeeting(ctx context.Context, r client.Reader, d *jitsiv1alpha1.JitsiDeployment, room string) (*jitsiv1alpha1.Meeting, error) {
	var list jitsiv1alpha1.MeetingList
	if err := r.List(ctx, &list, client.InNamespace(d.Namespace)); err != nil {
		return nil, err
	}
	for i := range list.Items {
		if m := &list.Items[i]; m.Spec.JitsiDeploymentRef.Name == d.Name && strings.EqualFold(m.RoomName(), room) {
			return m, nil
		}
	}
	return nil, nil
}

// apply applies evs to the Meeting of d's namespace whose room they are about, reading the
// Meeting fresh and writing its status with optimistic concurrency, retried on conflict. It
// reports whether a Meeting was found and whether its status changed.
func (s *Server) apply(ctx context.Context, source string, d *jitsiv1alpha1.JitsiDeployment, room string, evs []events.Event) (map[string]any, error) {
	target, err := s.meetingForRoom(ctx, d, room)
	if err != nil {
		return nil, err
	}
	if target == nil {
		// Rooms without a Meeting are normal (ad-hoc rooms): accepted, nothing to store.
		return map[string]any{"applied": false, "reason": "no Meeting for room " + room}, nil
	}
	changed, err := s.store(ctx, source, target, evs)
	if err != nil {
		return nil, err
	}
	answer := map[string]any{"applied": true, "changed": changed, "meeting": target.Name}
	for _, e := range evs {
		if e.Kind == events.RoomCreated {
			answer["room"] = roomConfig(target, s.now())
		}
	}
	return answer, nil
}

// store applies evs to m's status (coalesced with other events for m arriving meanwhile) and
// counts them.
func (s *Server) store(ctx context.Context, source string, m *jitsiv1alpha1.Meeting, evs []events.Event) (bool, error) {
	key := client.ObjectKeyFromObject(m)
	changed, err := s.batches.submit(key.String(), evs, func(all []events.Event) (bool, error) {
		return s.write(ctx, key, all)
	})
	if err != nil {
		return false, err
	}
	stored := s.now()
	for _, e := range evs {
		applied.WithLabelValues(source, string(e.Kind)).Inc()
		latency.WithLabelValues(source).Observe(stored.Sub(e.Time).Seconds())
	}
	return changed, nil
}

// write applies evs to the Meeting's status in one write: read fresh, apply, update with the
// read resourceVersion, and again on a conflict (another replica wrote meanwhile).
func (s *Server) write(ctx context.Context, key client.ObjectKey, evs []events.Event) (bool, error) {
	changed := false
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		m := &jitsiv1alpha1.Meeting{}
		if err := s.Reader.Get(ctx, key, m); err != nil {
			return err
		}
		st := m.Status
		for _, e := range evs {
			st = events.Apply(st, e)
		}
		if equalJSON(st, m.Status) {
			changed = false
			return nil
		}
		m.Status = st
		changed = true
		return s.Client.Status().Update(ctx, m)
	})
	return changed, err
}

// roomConfig is what Prosody's module is told when a Meeting's room is created: its access, and
// how long it may stay open (the module closes it then; 0 for a meeting that has ended).
func roomConfig(m *jitsiv1alpha1.Meeting, now time.Time) map[string]any {
	c := map[string]any{"access": m.Spec.Access}
	if end, ok := meeting.End(m); ok {
		c["maxDurationSeconds"] = max(0, int64(math.Ceil(end.Sub(now).Seconds())))
	}
	return c
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
