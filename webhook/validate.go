package webhook

import (
	"net/http"
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
// only its invitees (and its moderator token); the recorder is always admitted (rooms.go).
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
	ok, reason, ms, err := s.decideAccess(r.Context(), d, q.Room.Name, q.Occupant.ID, q.Occupant.Recorder)
	if err != nil {
		return nil, err
	}
	answer := map[string]any{"allowed": ok, "reason": reason}
	if len(ms) > 0 {
		// The module keeps this per room and decides by it while the receiver cannot be asked.
		answer["room"] = roomConfig(ms, s.now())
	}
	return answer, nil
}
