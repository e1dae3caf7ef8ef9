package webhook

import (
	"context"
	"net/http"
	"slices"

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
	m, err := s.meetingForRoom(ctx, d, room)
	if err != nil {
		return false, "", nil, err
	}
	if m == nil {
		return true, "no Meeting for this room", nil, nil
	}
	if recorder {
		return true, "the recorder", m, nil
	}
	if phase, _ := meeting.Phase(m, s.now()); meeting.Ended(phase) {
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
