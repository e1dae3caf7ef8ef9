package webhook

import (
	"context"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/events"
	"github.com/jitsi-operator/jitsi-operator/internal/meeting"
)

// parseRoom is the Meeting room an event's room name names. "[tenant]room" is a tenant's room
// (Jitsi's multi-domain rooms, as mod_muc_domain_mapper names them inside Prosody and event_sync
// reports them): a room of its own, which no Meeting names, so it is never the Meeting of
// "room". Rooms are compared in lower case, as Jitsi does.
func parseRoom(name string) (room string, tenant bool) {
	name = strings.ToLower(strings.TrimSpace(name))
	return name, strings.HasPrefix(name, "[")
}

// tenantRoom is the answer to an event about a tenant's room: accepted, nothing to store.
var tenantRoom = map[string]any{"applied": false, "reason": "a tenant's room: no Meeting names a tenant"}

// claimants are the Meetings of d whose room is room, oldest first (the first receives the
// room's events). Two or more is a conflict the Meeting controller reports on each of them;
// until it is resolved, access follows the most restrictive (decideAccess). A room the cache
// knows no Meeting for is looked up again on the API server: a backend creates a Meeting a
// moment before its room's first event (or its first join, which must not be admitted as if the
// room had no Meeting). Only authenticated requests get here. The Meetings are the cache's own
// (not copies): never to be changed.
func (s *Server) claimants(ctx context.Context, d *jitsiv1alpha1.JitsiDeployment, room string) ([]jitsiv1alpha1.Meeting, error) {
	var list jitsiv1alpha1.MeetingList
	// Not copied out of the cache: each may carry 200 participants, and every event asks.
	err := s.Client.List(ctx, &list, client.InNamespace(d.Namespace),
		client.MatchingFields{meeting.IndexRoom: meeting.RoomKeyOf(d.Name, room)}, client.UnsafeDisableDeepCopy)
	if err != nil {
		return nil, err
	}
	ms := list.Items
	if len(ms) == 0 {
		if ms, err = s.claimantsOnServer(ctx, d, room); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(ms, meeting.OlderFirst)
	return ms, nil
}

// claimantsOnServer asks the API server for the Meetings of d whose room is room, by the
// Meeting's selectable fields: those that name it in spec.roomName, and one named after it that
// names no other room. The server filters, so an ad-hoc room (no Meeting) costs two small
// answers, not a list of the namespace's Meetings.
func (s *Server) claimantsOnServer(ctx context.Context, d *jitsiv1alpha1.JitsiDeployment, room string) ([]jitsiv1alpha1.Meeting, error) {
	key := meeting.RoomKeyOf(d.Name, room)
	var ms []jitsiv1alpha1.Meeting
	for _, sel := range []client.MatchingFields{
		{meeting.FieldRoomName: room, meeting.FieldDeployment: d.Name},
		{"metadata.name": room, meeting.FieldDeployment: d.Name},
	} {
		var list jitsiv1alpha1.MeetingList
		err := s.Reader.List(ctx, &list, client.InNamespace(d.Namespace), sel)
		if apierrors.IsBadRequest(err) {
			// An API server before Kubernetes 1.31 does not filter by a custom resource's
			// fields: the namespace's Meetings, filtered here.
			err = s.Reader.List(ctx, &list, client.InNamespace(d.Namespace))
		}
		if err != nil {
			return nil, err
		}
		for _, m := range list.Items {
			if meeting.RoomKey(&m) == key && !slices.ContainsFunc(ms, func(o jitsiv1alpha1.Meeting) bool { return o.Name == m.Name }) {
				ms = append(ms, m)
			}
		}
	}
	return ms, nil
}

// meetingForRoom is the Meeting that receives room's events, nil when there is none.
func (s *Server) meetingForRoom(ctx context.Context, d *jitsiv1alpha1.JitsiDeployment, room string) (*jitsiv1alpha1.Meeting, error) {
	ms, err := s.claimants(ctx, d, room)
	if err != nil || len(ms) == 0 {
		return nil, err
	}
	return &ms[0], nil
}

// apply applies evs to the Meeting that receives their room's events, writing its status with
// optimistic concurrency (retried on conflict). Event times are clamped to between ReplayWindow
// before the Meeting's creation and MaxClockAhead after now: a sender cannot date an event far
// into the future, nor long before the Meeting existed. It reports whether a Meeting was found and whether its status changed.
func (s *Server) apply(ctx context.Context, source string, d *jitsiv1alpha1.JitsiDeployment, room string, evs []events.Event) (map[string]any, error) {
	ms, err := s.claimants(ctx, d, room)
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		// Rooms without a Meeting are normal (ad-hoc rooms): accepted, nothing to store.
		return map[string]any{"applied": false, "reason": "no Meeting for room " + room}, nil
	}
	target := &ms[0]
	now := s.now()
	for i := range evs {
		evs[i].Time = clampTime(evs[i].Time, target.CreationTimestamp.Add(-ReplayWindow), now.Add(MaxClockAhead))
	}
	changed, err := s.store(ctx, source, target, evs)
	if err != nil {
		return nil, err
	}
	answer := map[string]any{"applied": true, "changed": changed, "meeting": target.Name}
	for _, e := range evs {
		if e.Kind == events.RoomCreated {
			answer["room"] = roomConfig(ms, now)
		}
	}
	return answer, nil
}

// clampTime is t within [from, to].
func clampTime(t, from, to time.Time) time.Time {
	if t.After(to) {
		return to
	}
	if t.Before(from) {
		return from
	}
	return t
}

// roomConfig is what Prosody's module is told about a room with Meetings: its access, and how
// long it may stay open (the module closes it then; 0 for a meeting that has ended). With
// several claimants it is the most restrictive of them: Private if any is, the earliest end.
func roomConfig(ms []jitsiv1alpha1.Meeting, now time.Time) map[string]any {
	access := jitsiv1alpha1.AccessPublic
	var end time.Time
	for i := range ms {
		if ms[i].Spec.Access == jitsiv1alpha1.AccessPrivate {
			access = jitsiv1alpha1.AccessPrivate
		}
		if e, ok := meeting.End(&ms[i]); ok && (end.IsZero() || e.Before(end)) {
			end = e
		}
	}
	c := map[string]any{"access": access}
	if !end.IsZero() {
		c["maxDurationSeconds"] = max(0, int64(math.Ceil(end.Sub(now).Seconds())))
	}
	return c
}

// decideAccess is the access rule for person id (a token's context.user id; empty without one)
// joining room of deployment d. It also returns the room's claimants. With several claimants a
// person is admitted only when each of them admits them.
func (s *Server) decideAccess(ctx context.Context, d *jitsiv1alpha1.JitsiDeployment, room, id string, recorder bool) (bool, string, []jitsiv1alpha1.Meeting, error) {
	room, tenant := parseRoom(room)
	if tenant {
		return true, "a tenant's room: no Meeting names a tenant", nil, nil
	}
	ms, err := s.claimants(ctx, d, room)
	if err != nil {
		return false, "", nil, err
	}
	if len(ms) == 0 {
		return true, "no Meeting for this room", nil, nil
	}
	if recorder {
		return true, "the recorder", ms, nil
	}
	reason := ""
	for i := range ms {
		ok, why := s.admits(&ms[i], id)
		if !ok {
			if len(ms) > 1 {
				why += " (Meetings " + claimantNames(ms) + " claim this room)"
			}
			return false, why, ms, nil
		}
		reason = why
	}
	return true, reason, ms, nil
}

// admits is one Meeting's rule: an ended meeting admits nobody; a Private one only the people
// it lists (each with their own invitation token) and the holder of its moderator token; the
// shared guest token is not issued for a Private meeting and does not admit to one.
func (s *Server) admits(m *jitsiv1alpha1.Meeting, id string) (bool, string) {
	if phase, _ := meeting.Phase(m, s.now()); meeting.Ended(phase) {
		return false, "the meeting has ended"
	}
	if m.Spec.Access != jitsiv1alpha1.AccessPrivate {
		return true, "a public meeting"
	}
	invited := []string{meeting.ModeratorID(m)}
	for _, p := range append(slices.Clone(m.Spec.Moderators), m.Spec.Participants...) {
		invited = append(invited, p.ID)
	}
	if id != "" && slices.Contains(invited, id) {
		return true, "invited"
	}
	return false, "a private meeting: only invited people may join"
}

func claimantNames(ms []jitsiv1alpha1.Meeting) string {
	names := make([]string, len(ms))
	for i := range ms {
		names[i] = ms[i].Name
	}
	return strings.Join(names, ", ")
}

// badRoom is the answer to an event that names no room.
var badRoom = fail(http.StatusBadRequest, "MissingRoom", "the event names no room")
