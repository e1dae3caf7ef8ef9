package webhook

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"k8s.io/apimachinery/pkg/types"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/events"
	"github.com/jitsi-operator/jitsi-operator/internal/meeting"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// webhookEvent is what meeting-service-style modules (mod_jitsi_webhooks) post: camelCase
// fields, Unix seconds, the node of the user's JID as userId.
type webhookEvent struct {
	RoomName    string `json:"roomName"`
	UserID      string `json:"userId"`
	UserJID     string `json:"userJid"`
	IsModerator bool   `json:"isModerator"`
	JWTToken    string `json:"jwtToken"`
	Status      string `json:"status"`
	SessionID   string `json:"sessionId"`
	Timestamp   int64  `json:"timestamp"`
}

// jitsiWebhooks takes POST /webhooks/jitsi/{room-created, validate-access, user-joined,
// user-left, room-destroyed, moderator-changed, recording}, authenticated by the static header
// X-Webhook-Secret, which must be one deployment's events secret (that is how the deployment is
// found).
func (s *Server) jitsiWebhooks(w http.ResponseWriter, r *http.Request) {
	result, err := s.handleJitsiWebhook(w, r)
	s.answer(w, r, "jitsi_webhooks", result, err)
}

func (s *Server) handleJitsiWebhook(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	// Authenticated from the header alone, before the body is read.
	d, err := s.deploymentBySecret(r.Context(), r.Header.Get("X-Webhook-Secret"))
	if err != nil {
		return nil, err
	}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	var e webhookEvent
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, fail(http.StatusBadRequest, "BadJSON", "the body is not the module's JSON: %v", err)
	}
	at := time.Unix(e.Timestamp, 0)
	if err := s.fresh(at); err != nil {
		return nil, err
	}
	room, tenant := parseRoom(e.RoomName)
	if room == "" {
		return nil, badRoom
	}
	if tenant && r.PathValue("event") != "validate-access" {
		return tenantRoom, nil
	}
	key := e.UserJID
	if key == "" {
		key = e.UserID // moderator-changed carries only the JID's node
	}
	occupant := &events.Occupant{Key: key, Name: e.UserID, Moderator: e.IsModerator,
		Recorder: strings.HasSuffix(e.UserJID, "@"+render.XMPPHiddenDomain)}
	var ev events.Event
	switch r.PathValue("event") {
	case "validate-access":
		return s.webhookAccess(r.Context(), d, room, e)
	case "room-created":
		ev = events.Event{Kind: events.RoomCreated, Room: room, Time: at}
	case "room-destroyed":
		ev = events.Event{Kind: events.RoomDestroyed, Room: room, Time: at}
	case "user-joined":
		ev = events.Event{Kind: events.OccupantJoined, Room: room, Time: at, Occupant: occupant}
	case "user-left":
		ev = events.Event{Kind: events.OccupantLeft, Room: room, Time: at, Occupant: occupant}
	case "moderator-changed":
		ev = events.Event{Kind: events.RoleChanged, Room: room, Time: at, Occupant: occupant}
	case "recording":
		ev = events.Event{Kind: events.RecordingStatus, Room: room, Time: at,
			Status: &events.JibriStatus{Status: e.Status, Mode: "file", SessionID: e.SessionID}}
	default:
		return nil, fail(http.StatusNotFound, "UnknownEvent", "no event %q", r.PathValue("event"))
	}
	if (ev.Kind == events.OccupantJoined || ev.Kind == events.OccupantLeft) && e.UserJID == "" {
		return nil, fail(http.StatusBadRequest, "MissingUser", "%s without a userJid", r.PathValue("event"))
	}
	return s.apply(r.Context(), "jitsi_webhooks", d, room, []events.Event{ev})
}

// webhookAccess answers validate-access as those modules expect: {"allowed": bool, "reason",
// "roomConfiguration": {"maxDurationMinutes"}}. A jwtToken in the request, when it verifies with
// the deployment's JWT secret, gives the person's id.
func (s *Server) webhookAccess(ctx context.Context, d *jitsiv1alpha1.JitsiDeployment, room string, e webhookEvent) (map[string]any, error) {
	id := ""
	if e.JWTToken != "" && d.Spec.Auth.Type == jitsiv1alpha1.AuthJWT {
		ref := render.SecretsFor(d).JWT
		data, err := s.secretData(ctx, types.NamespacedName{Namespace: d.Namespace, Name: ref.Name})
		if err != nil {
			return nil, err
		}
		if key := data[ref.Key]; len(key) > 0 {
			c := &meeting.Claims{}
			if _, err := jwt.ParseWithClaims(e.JWTToken, c, func(*jwt.Token) (any, error) { return key, nil },
				jwt.WithValidMethods([]string{"HS256"})); err == nil {
				id = c.Context.User.ID
			}
		}
	}
	ok, reason, ms, err := s.decideAccess(ctx, d, room, id, strings.HasSuffix(e.UserJID, "@"+render.XMPPHiddenDomain))
	if err != nil {
		return nil, err
	}
	answer := map[string]any{"allowed": ok, "reason": reason}
	if seconds, has := roomConfig(ms, s.now())["maxDurationSeconds"].(int64); has && len(ms) > 0 {
		answer["roomConfiguration"] = map[string]any{"maxDurationMinutes": (seconds + 59) / 60}
	}
	return answer, nil
}

// deploymentBySecret finds the deployment whose events secret is secret, comparing each in
// constant time. Anything else is the same 401. The deployments are listed from the cache only:
// the secret names no deployment, so reading through on a miss would cost every wrong secret a
// cluster-wide List; and a sender knows the secret only from its Prosody pod, which starts long
// after the cache has the deployment and its Secret.
func (s *Server) deploymentBySecret(ctx context.Context, secret string) (*jitsiv1alpha1.JitsiDeployment, error) {
	if secret == "" {
		return nil, refuse("NoSecret")
	}
	var list jitsiv1alpha1.JitsiDeploymentList
	if err := s.Client.List(ctx, &list); err != nil {
		return nil, err
	}
	var found *jitsiv1alpha1.JitsiDeployment
	for i := range list.Items {
		d := &list.Items[i]
		key, err := s.eventsSecretOf(ctx, d)
		if err != nil {
			return nil, err
		}
		if key != nil && subtle.ConstantTimeCompare(key, []byte(secret)) == 1 {
			if found != nil {
				// Several deployments share this events secret, so it does not say which sent the
				// event: the operator's log says so (cause AmbiguousSecret); each needs its own.
				return nil, refuse("AmbiguousSecret")
			}
			found = d
		}
	}
	if found == nil {
		return nil, refuse("UnknownSecret")
	}
	return found, nil
}
