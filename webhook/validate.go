package webhook

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/meeting"
)

// accessRequest is what the module asks before a join.
type accessRequest struct {
	Timestamp int64 `json:"timestamp"`
	Room      struct {
		Name string `json:"name"`
	} `json:"room"`
	Occupant struct {
		JID      string `json:"jid"`
		ID       string `json:"id"`
		Recorder bool   `json:"recorder"`
	} `json:"occupant"`
}

// validateAccess answers whether a person may join: POST /v1/prosody/validate-access?deployment=
// <namespace>/<name>, signed like the module's events. The answer is {"allowed": bool, "reason"}.
// Rooms without a Meeting are open; a Meeting that ended admits nobody; a Private Meeting admits
// only holders of its tokens and its invitees; the recorder is always admitted.
func (s *Server) validateAccess(w http.ResponseWriter, r *http.Request) {
	result, err := s.handleValidateAccess(w, r)
	s.answer(w, r, "prosody", result, err)
}

func (s *Server) handleValidateAccess(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	var q accessRequest
	d, err := s.signed(w, r, &q, func() int64 { return q.Timestamp })
	if err != nil {
		return nil, err
	}
	ok, reason, _, err := s.decideAccess(r.Context(), d, q.Room.Name, q.Occupant.ID, q.Occupant.Recorder)
	if err != nil {
		return nil, err
	}
	return map[string]any{"allowed": ok, "reason": reason}, nil
}

// decideAccess is the access rule for person id (a token's context.user id; empty without one)
// joining room of deployment d. It also returns the room's Meeting, nil when there is none.
func (s *Server) decideAccess(ctx context.Context, d *jitsiv1alpha1.JitsiDeployment, room, id string, recorder bool) (bool, string, *jitsiv1alpha1.Meeting, error) {
	var list jitsiv1alpha1.MeetingList
	if err := s.Client.List(ctx, &list, client.InNamespace(d.Namespace)); err != nil {
		return false, "", nil, err
	}
	i := slices.IndexFunc(list.Items, func(m jitsiv1alpha1.Meeting) bool {
		return m.Spec.JitsiDeploymentRef.Name == d.Name && strings.EqualFold(m.RoomName(), room)
	})
	if i < 0 {
		return true, "no Meeting for this room", nil, nil
	}
	m := &list.Items[i]
	if recorder {
		return true, "the recorder", m, nil
	}
	switch phase, _ := meeting.Phase(m, s.now()); phase {
	case jitsiv1alpha1.MeetingCompleted, jitsiv1alpha1.MeetingExpired, jitsiv1alpha1.MeetingFailed:
		return false, "the meeting has ended", m, nil
	}
	if m.Spec.Access != jitsiv1alpha1.AccessPrivate {
		return true, "a public meeting", m, nil
	}
	invited := []string{meeting.ModeratorID(m), meeting.GuestID(m)}
	for _, p := range append(m.Spec.Moderators, m.Spec.Participants...) {
		invited = append(invited, p.ID)
	}
	if id != "" && slices.Contains(invited, id) {
		return true, "invited", m, nil
	}
	return false, "a private meeting: only invited people may join", m, nil
}
