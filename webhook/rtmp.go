package webhook

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/events"
	"github.com/jitsi-operator/jitsi-operator/internal/meeting"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// rtmpPublish answers the RTMP relay's on_publish (nginx RTMP module, form-encoded): a 2xx admits
// the publisher. The stream name must be a Meeting's stream key ("<namespace>.<meeting>.<secret>",
// kept in its access Secret); the Meeting must stream and must not have ended.
func (s *Server) rtmpPublish(w http.ResponseWriter, r *http.Request) {
	result, err := s.handleRTMP(w, r, events.StreamStarted)
	s.answer(w, r, "rtmp", result, err)
}

// rtmpPublishDone takes on_publish_done: the stream ended.
func (s *Server) rtmpPublishDone(w http.ResponseWriter, r *http.Request) {
	result, err := s.handleRTMP(w, r, events.StreamStopped)
	s.answer(w, r, "rtmp", result, err)
}

func (s *Server) handleRTMP(w http.ResponseWriter, r *http.Request, kind events.Kind) (map[string]any, error) {
	if err := r.ParseForm(); err != nil { // the body is bounded by limitBody
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, tooLarge(tooBig.Limit)
		}
		return nil, fail(http.StatusBadRequest, "BadForm", "the body is not a form")
	}
	name := r.PostForm.Get("name")
	if strings.HasPrefix(name, "ui.") {
		// A stream started from the meeting, sent to the relay by the recorder's ffmpeg wrapper.
		if err := s.uiStream(r.Context(), name); err != nil {
			return nil, err
		}
		return map[string]any{"applied": false, "reason": "a stream started from the meeting"}, nil
	}
	refused := fail(http.StatusForbidden, "UnknownStream", "the stream name is not a live Meeting's stream key")
	ns, meetingName, ok := parseStreamKey(name)
	if !ok {
		return nil, refused
	}
	m := &jitsiv1alpha1.Meeting{}
	if err := s.Client.Get(r.Context(), types.NamespacedName{Namespace: ns, Name: meetingName}, m); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, refused
		}
		return nil, err
	}
	secret := &corev1.Secret{}
	if err := s.Client.Get(r.Context(), types.NamespacedName{Namespace: m.Namespace, Name: m.Name + "-access"}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, refused
		}
		return nil, err
	}
	key := secret.Data[meeting.KeyStreamKey]
	if len(key) == 0 || subtle.ConstantTimeCompare(key, []byte(name)) != 1 {
		return nil, refused
	}
	now := s.now()
	if kind == events.StreamStarted {
		if m.Spec.Streaming.Mode == "" || m.Spec.Streaming.Mode == jitsiv1alpha1.StreamingNone {
			return nil, fail(http.StatusForbidden, "StreamingOff", "the Meeting does not stream")
		}
		if phase, _ := meeting.Phase(m, now); meeting.Ended(phase) {
			return nil, fail(http.StatusForbidden, "MeetingEnded", "the meeting has ended")
		}
	}
	ev := events.Event{Kind: kind, Room: m.RoomName(), Time: now}
	changed, err := s.store(r.Context(), "rtmp", m, []events.Event{ev})
	if err != nil {
		return nil, err
	}
	return map[string]any{"applied": true, "changed": changed, "meeting": m.Name}, nil
}

// parseStreamKey splits "<namespace>.<meeting>.<secret>"; the secret is compared elsewhere. A
// namespace and the secret (lower-case base32) hold no dot; a Meeting's name may (with a
// spec.roomName, any DNS subdomain), so the meeting is everything between them.
func parseStreamKey(name string) (ns, meeting string, ok bool) {
	ns, rest, _ := strings.Cut(name, ".")
	i := strings.LastIndex(rest, ".")
	if ns == "" || i <= 0 || i == len(rest)-1 {
		return "", "", false
	}
	return ns, rest[:i], true
}

// uiStream checks the relay name of a stream started from the meeting (render.RelayUIName) for
// the relay's on_publish, which names no pool: the name's own pool's key must have signed it.
func (s *Server) uiStream(ctx context.Context, name string) error {
	ns, poolName, ok := render.SplitRelayUIName(name)
	if !ok {
		return uiRefused
	}
	pool := &jitsiv1alpha1.JibriPool{}
	if err := s.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: poolName}, pool); err != nil {
		if apierrors.IsNotFound(err) {
			return uiRefused
		}
		return err
	}
	_, secret, err := s.deploymentSecret(ctx, ns, pool.Spec.JitsiDeploymentRef.Name)
	if err != nil {
		return err
	}
	_, err = s.uiTarget(ctx, secret, name, ns, poolName)
	return err
}

var uiRefused = fail(http.StatusForbidden, "UnknownStream", "the stream name is not signed by a recorder of the pool")

// uiTarget is the URL the person typed, carried by a relay name of pool ns/poolName signed with
// its key (derived from eventsSecret). A signed name whose URL the destination policy refuses
// is refused too (DestinationRefused): the signature says a recorder of the pool made the
// name, not that the URL leads anywhere the relay may push to.
func (s *Server) uiTarget(ctx context.Context, eventsSecret []byte, name, ns, poolName string) (string, error) {
	claimedNS, claimedPool, target, ok := render.ParseRelayUIName(render.RelayUIKey(eventsSecret, ns, poolName), name)
	if !ok || claimedNS != ns || claimedPool != poolName || !strings.HasPrefix(target, "rtmp://") && !strings.HasPrefix(target, "rtmps://") {
		return "", uiRefused
	}
	if err := s.Destinations.Check(ctx, target); err != nil {
		// The refusal never quotes the URL's path, where the stream key is.
		log.FromContext(ctx).Info("refused a stream started from the meeting", "namespace", ns, "pool", poolName, "why", err.Error())
		return "", fail(http.StatusForbidden, "DestinationRefused", "the stream's destination is refused: %s", err.Error())
	}
	return target, nil
}
