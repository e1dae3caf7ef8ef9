package controllers

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/meeting"
	"github.com/jitsi-operator/jitsi-operator/internal/schedule"
)

// defaultPrewarmGrace is how long after its start a meeting whose room has not opened still
// counts for prewarming (spec.prewarm.graceSeconds).
const defaultPrewarmGrace = 600 * time.Second

// maxScheduledListed bounds the meetings a status lists as scheduled demand.
const maxScheduledListed = 20

// scheduledRecorders is what pool's spec.prewarm asks now of the meetings that name it: one
// idle recorder for each recording or stream that will start without anyone asking (or, with
// includeManual, may be asked for) and starts within the lead time. ok is false when prewarming
// is off.
func scheduledRecorders(pool *jitsiv1alpha1.JibriPool, meetings []jitsiv1alpha1.Meeting, now time.Time) (d schedule.Demand, ok bool) {
	pw := pool.Spec.Prewarm
	if pw == nil || pw.LeadSeconds <= 0 {
		return schedule.Demand{}, false
	}
	w := prewarmWindow(pw.LeadSeconds, pw.GraceSeconds)
	var cal []schedule.Meeting
	for i := range meetings {
		m := &meetings[i]
		if !m.DeletionTimestamp.IsZero() {
			continue
		}
		base := calendarEntry(m, now)
		rec, stream := m.Spec.Recording, m.Spec.Streaming
		if refersTo(rec.JibriPoolRef, pool.Name) && (rec.Mode == jitsiv1alpha1.RecordingAutomatic ||
			rec.Mode == jitsiv1alpha1.RecordingAutomaticOnSecondParticipant || pw.IncludeManual && rec.Mode == jitsiv1alpha1.RecordingManual) {
			e := base
			e.Began = m.Status.Recording != nil && m.Status.Recording.State != "" && m.Status.Recording.State != jitsiv1alpha1.RecordingStateNone
			cal = append(cal, e)
		}
		if refersTo(stream.JibriPoolRef, pool.Name) && (stream.Mode == jitsiv1alpha1.StreamingAutomatic ||
			pw.IncludeManual && stream.Mode == jitsiv1alpha1.StreamingManual) {
			e := base
			e.Name += " (stream)"
			e.Began = m.Status.Streaming != nil && m.Status.Streaming.State != "" && m.Status.Streaming.State != jitsiv1alpha1.StreamingStateNone
			cal = append(cal, e)
		}
	}
	return schedule.Recorders(cal, now, w), true
}

// prewarmWindow is a prewarm spec's lead and grace (default defaultPrewarmGrace), the same for
// recorders and bridges.
func prewarmWindow(leadSeconds int32, graceSeconds *int32) schedule.Window {
	return schedule.Window{Lead: time.Duration(leadSeconds) * time.Second,
		Grace: time.Duration(ptr.Deref(graceSeconds, int32(defaultPrewarmGrace/time.Second))) * time.Second}
}

// calendarEntry is m as the schedule sees it: its start (its creation when it names none), its
// end, whether its room opened and whether it is over.
func calendarEntry(m *jitsiv1alpha1.Meeting, now time.Time) schedule.Meeting {
	e := schedule.Meeting{Name: m.Name, Start: m.CreationTimestamp.Time, Opened: m.Status.StartedAt != nil,
		Ended: meeting.Ended(phaseOf(m, now)), Participants: int(ptr.Deref(m.Spec.ExpectedParticipants, 0))}
	if s := m.Spec.StartTime; s != nil {
		e.Start = s.Time
	}
	if end, ok := meeting.End(m); ok {
		e.End = end
	}
	return e
}

func refersTo(ref *jitsiv1alpha1.LocalObjectReference, name string) bool {
	return ref != nil && ref.Name == name
}

// scheduledStatus is d as a status reports it.
func scheduledStatus(d schedule.Demand, count int) *jitsiv1alpha1.ScheduledDemand {
	st := &jitsiv1alpha1.ScheduledDemand{Count: int32(count), Participants: int32(d.Participants)}
	st.Meetings = d.Meetings[:min(len(d.Meetings), maxScheduledListed)]
	if !d.Next.IsZero() {
		st.NextChange = ptr.To(metav1.NewTime(d.Next.Truncate(time.Second)))
	}
	return st
}
