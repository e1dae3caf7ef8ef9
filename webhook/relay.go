package webhook

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/destination"
	"github.com/jitsi-operator/jitsi-operator/internal/events"
	"github.com/jitsi-operator/jitsi-operator/internal/meeting"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// The pool's RTMP relay asks, for each stream it admitted, where to push it (GET
// /v1/rtmp/pools/<namespace>/<pool>/<token>/destinations?stream=<key>), and reports each
// destination's state (POST .../destination-status). The token is render.RelayToken of the pool.

// relayDestinations answers one destination per line, "<name> <url>/<stream key>": the stream
// keys leave their Secrets only here, for the relay.
func (s *Server) relayDestinations(w http.ResponseWriter, r *http.Request) {
	stream := r.URL.Query().Get("stream")
	if strings.HasPrefix(stream, "ui.") {
		// A stream started from the meeting goes where the person asked.
		key, err := s.relayToken(r)
		if err != nil {
			s.answer(w, r, "rtmp", nil, err)
			return
		}
		target, err := s.uiTarget(r.Context(), key, stream, r.PathValue("namespace"), r.PathValue("pool"))
		if err != nil {
			s.answer(w, r, "rtmp", nil, err)
			return
		}
		writeDestinations(w, []string{"ui " + target})
		return
	}
	m, err := s.relayStream(r, stream)
	if err != nil {
		s.answer(w, r, "rtmp", nil, err)
		return
	}
	if phase, _ := meeting.Phase(m, s.now()); meeting.Ended(phase) {
		s.answer(w, r, "rtmp", nil, fail(http.StatusForbidden, "MeetingEnded", "the meeting has ended"))
		return
	}
	var pushes []push
	for _, d := range m.Spec.Streaming.Destinations {
		data, err := s.secretData(r.Context(), types.NamespacedName{Namespace: m.Namespace, Name: d.StreamKeySecretRef.Name})
		if err != nil {
			s.answer(w, r, "rtmp", nil, err)
			return
		}
		key := strings.TrimSpace(string(data[d.StreamKeySecretRef.Key]))
		if key == "" {
			// The controller reports the missing key in the Meeting's status.
			continue
		}
		pushes = append(pushes, push{dest: d, url: strings.TrimSuffix(d.URL, "/") + "/" + key})
	}
	writeDestinations(w, s.admitted(r.Context(), m, pushes))
}

// push is a destination the relay may be told about, with its URL (stream key included).
type push struct {
	dest jitsiv1alpha1.StreamDestination
	url  string
}

// admitted are the lines of the pushes the destination policy accepts, checked when the relay
// asks (a host's addresses may have changed since the Meeting was reconciled) and all at once
// (each host lookup is bounded by the policy's timeout). A refused one is left out and logged
// without its URL or key (the Meeting's Ready condition says why too, unless it is the key).
func (s *Server) admitted(ctx context.Context, m *jitsiv1alpha1.Meeting, pushes []push) []string {
	errs := make([]error, len(pushes))
	var wg sync.WaitGroup
	for i := range pushes {
		wg.Go(func() { errs[i] = s.Destinations.Check(ctx, pushes[i].url) })
	}
	wg.Wait()
	var lines []string
	for i, p := range pushes {
		if err := errs[i]; err != nil {
			why := err.Error()
			if destination.CheckSyntax(p.dest.URL) == nil && destination.CheckSyntax(p.url) != nil {
				ref := p.dest.StreamKeySecretRef
				why = fmt.Sprintf("its stream key (Secret %s, key %s) makes the URL unusable: %s", ref.Name, ref.Key, why)
			}
			log.FromContext(ctx).Info("streaming destination refused: the relay is not told about it",
				"meeting", m.Namespace+"/"+m.Name, "destination", p.dest.Name, "why", why)
			continue
		}
		lines = append(lines, p.dest.Name+" "+p.url)
	}
	return lines
}

// writeDestinations answers the relay one destination per line.
func writeDestinations(w http.ResponseWriter, lines []string) {
	received.WithLabelValues("rtmp").Inc()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprint(w, strings.Join(lines, "\n")+"\n")
}

// relayDestinationStatus takes one destination's state (form fields stream, destination, state:
// Live, Failed or Stopped, and error) into the Meeting's status.streaming.destinations.
func (s *Server) relayDestinationStatus(w http.ResponseWriter, r *http.Request) {
	result, err := s.handleDestinationStatus(w, r)
	s.answer(w, r, "rtmp", result, err)
}

func (s *Server) handleDestinationStatus(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	if err := r.ParseForm(); err != nil {
		return nil, fail(http.StatusBadRequest, "BadForm", "the body is not a form")
	}
	if stream := r.PostForm.Get("stream"); strings.HasPrefix(stream, "ui.") {
		// A stream started from the meeting belongs to no Meeting: nothing to store.
		key, err := s.relayToken(r)
		if err != nil {
			return nil, err
		}
		if _, err := s.uiTarget(r.Context(), key, stream, r.PathValue("namespace"), r.PathValue("pool")); err != nil {
			return nil, err
		}
		return map[string]any{"applied": false, "reason": "a stream started from the meeting"}, nil
	}
	m, err := s.relayStream(r, r.PostForm.Get("stream"))
	if err != nil {
		return nil, err
	}
	name := r.PostForm.Get("destination")
	var dest *jitsiv1alpha1.StreamDestination
	for i := range m.Spec.Streaming.Destinations {
		if m.Spec.Streaming.Destinations[i].Name == name {
			dest = &m.Spec.Streaming.Destinations[i]
		}
	}
	if dest == nil {
		return nil, fail(http.StatusBadRequest, "UnknownDestination", "the Meeting has no destination %q", name)
	}
	state := jitsiv1alpha1.StreamingState(r.PostForm.Get("state"))
	switch state {
	case jitsiv1alpha1.StreamingStateLive, jitsiv1alpha1.StreamingStateFailed, jitsiv1alpha1.StreamingStateStopped:
	default:
		return nil, fail(http.StatusBadRequest, "BadState", "state must be Live, Failed or Stopped")
	}
	msg, err := s.scrub(r.Context(), m, r.PostForm.Get("error"))
	if err != nil {
		return nil, err
	}
	ev := events.Event{Kind: events.DestinationChanged, Room: m.RoomName(), Time: s.now(),
		Destination: &jitsiv1alpha1.DestinationStatus{Name: name, State: state, Error: msg}}
	changed, err := s.store(r.Context(), "rtmp", m, []events.Event{ev})
	if err != nil {
		return nil, err
	}
	return map[string]any{"applied": true, "changed": changed, "meeting": m.Name}, nil
}

// scrub removes every stream key of m from msg (an ffmpeg error may quote its URL), and bounds it.
func (s *Server) scrub(ctx context.Context, m *jitsiv1alpha1.Meeting, msg string) (string, error) {
	for _, d := range m.Spec.Streaming.Destinations {
		data, err := s.secretData(ctx, types.NamespacedName{Namespace: m.Namespace, Name: d.StreamKeySecretRef.Name})
		if err != nil {
			return "", err
		}
		if key := strings.TrimSpace(string(data[d.StreamKeySecretRef.Key])); key != "" {
			msg = strings.ReplaceAll(msg, key, "<stream key>")
		}
	}
	msg = strings.TrimSpace(msg)
	if len(msg) > 300 {
		msg = msg[:300]
	}
	return msg, nil
}

// relayStream checks the relay's token and the stream key, and returns the stream's Meeting: a
// Meeting of the pool's namespace that streams through this pool, whose stream key it is.
func (s *Server) relayStream(r *http.Request, stream string) (*jitsiv1alpha1.Meeting, error) {
	ns, poolName := r.PathValue("namespace"), r.PathValue("pool")
	if _, err := s.relayToken(r); err != nil {
		return nil, err
	}
	refused := fail(http.StatusForbidden, "UnknownStream", "the stream is not a Meeting of this pool")
	streamNS, name, ok := parseStreamKey(stream)
	if !ok || streamNS != ns {
		return nil, refused
	}
	m := &jitsiv1alpha1.Meeting{}
	if err := s.Client.Get(r.Context(), types.NamespacedName{Namespace: ns, Name: name}, m); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, refused
		}
		return nil, err
	}
	if ref := m.Spec.Streaming.JibriPoolRef; ref == nil || ref.Name != poolName || m.Spec.Streaming.Mode == jitsiv1alpha1.StreamingNone {
		return nil, refused
	}
	access := &corev1.Secret{}
	if err := s.Client.Get(r.Context(), types.NamespacedName{Namespace: ns, Name: m.Name + "-access"}, access); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, refused
		}
		return nil, err
	}
	if want := access.Data[meeting.KeyStreamKey]; len(want) == 0 || subtle.ConstantTimeCompare(want, []byte(stream)) != 1 {
		return nil, refused
	}
	return m, nil
}

// relayToken checks that the URL carries the relay token of the pool it names, and returns that
// pool's deployment's events secret (the pool's other keys derive from it).
func (s *Server) relayToken(r *http.Request) ([]byte, error) {
	ns, poolName := r.PathValue("namespace"), r.PathValue("pool")
	pool := &jitsiv1alpha1.JibriPool{}
	if err := s.Client.Get(r.Context(), types.NamespacedName{Namespace: ns, Name: poolName}, pool); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, refuse("UnknownPool")
		}
		return nil, err
	}
	_, key, err := s.deploymentSecret(r.Context(), ns, pool.Spec.JitsiDeploymentRef.Name)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(r.PathValue("token")), []byte(render.RelayToken(key, ns, poolName))) != 1 {
		return nil, refuse("BadToken")
	}
	return key, nil
}
