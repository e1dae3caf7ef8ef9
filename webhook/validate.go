package webhook

import (
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
	now := s.now()
	var list jitsiv1alpha1.MeetingList
	if err := s.Client.List(r.Context(), &list, client.InNamespace(d.Namespace)); err != nil {
		return nil, err
	}
	room := strings.ToLower(q.Room.Name)
	i := slices.IndexFunc(list.Items, func(m jitsiv1alpha1.Meeting) bool {
		return m.Spec.JitsiDeploymentRef.Name == d.Name && strings.EqualFold(m.RoomName(), room)
	})
	allow := func(ok bool, reason string) (map[string]any, error) {
		return map[string]any{"allowed": ok, "reason": reason}, nil
	}
	if i < 0 {
		return allow(true, "no Meeting for this room")
	}
	m := &list.Items[i]
	if q.Occupant.Recorder {
		return allow(true, "the recorder")
	}
	switch phase, _ := meeting.Phase(m, now); phase {
	case jitsiv1alpha1.MeetingCompleted, jitsiv1alpha1.MeetingExpired, jitsiv1alpha1.MeetingFailed:
		return allow(false, "the meeting has ended")
	}
	if m.Spec.Access != jitsiv1alpha1.AccessPrivate {
		return allow(true, "a public meeting")
	}
	invited := []string{meeting.ModeratorID(m), meeting.GuestID(m)}
	for _, p := range append(m.Spec.Moderators, m.Spec.Participants...) {
		invited = append(invited, p.ID)
	}
	if q.Occupant.ID != "" && slices.Contains(invited, q.Occupant.ID) {
		return allow(true, "invited")
	}
	return allow(false, "a private meeting: only invited people may join")
}
