package webhook

import (
	"context"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/events"
)

// Decide writes a decision of the JibriPool controller about m's recording or live stream
// through the same per-Meeting writer as the receiver's events, coalesced with those arriving
// meanwhile: status.recording and status.streaming have this one writer. It returns the Meeting
// as the write left it, and applied false when m's recording (stream) had moved on from the
// status the decision was made from (d.Seen), so that the pool decides again from the newer one.
func (s *Server) Decide(ctx context.Context, m *jitsiv1alpha1.Meeting, d events.Decision) (*jitsiv1alpha1.Meeting, bool, error) {
	ev := events.Event{Kind: events.PoolDecided, Time: d.Signal.At, Decision: &d}
	r := s.submit(ctx, m, []events.Event{ev})
	if r.err != nil {
		return nil, false, r.err
	}
	if !r.skipped {
		applied.WithLabelValues("pool", string(ev.Kind)).Inc()
	}
	return r.meeting.DeepCopy(), !r.skipped, nil
}
