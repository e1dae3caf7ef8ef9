package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/events"
	"github.com/jitsi-operator/jitsi-operator/internal/jibri"
	"github.com/jitsi-operator/jitsi-operator/internal/meeting"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
	"github.com/jitsi-operator/jitsi-operator/internal/scaling"
	"github.com/jitsi-operator/jitsi-operator/internal/session"
)

// followRecording brings m's recording status up to date with its recorder, stops a recording
// that is no longer wanted, and reports whether m waits for a recorder.
func (r *JibriPoolReconciler) followRecording(ctx context.Context, pool *jitsiv1alpha1.JibriPool, m *jitsiv1alpha1.Meeting,
	recorders map[string]*recorderObs, now time.Time) (bool, error) {
	wanted := meeting.RecordingWanted(m, now)
	rec := m.Status.Recording
	state := jitsiv1alpha1.RecordingStateNone
	if rec != nil && rec.State != "" {
		state = rec.State
	}
	var o *recorderObs
	if rec != nil && rec.Recorder != "" {
		o = recorders[rec.Recorder]
	}
	ours := o != nil && rec.SessionID != "" && o.session == rec.SessionID && o.meeting == m.Name
	// A recorder of this pool (by its name) that no longer exists.
	gone := rec != nil && rec.Recorder != "" && o == nil && strings.HasPrefix(rec.Recorder, pool.Name+"-")
	onRecorder, sessionStatus := "", ""
	if o != nil {
		onRecorder, sessionStatus, _ = strings.Cut(o.pod.Annotations[render.AnnotationJibriSession], " ")
	}
	sessionSays := func(s string) bool { return ours && onRecorder == rec.SessionID && strings.EqualFold(sessionStatus, s) }
	failure := ""
	if rec != nil {
		failure = sessionFailure(o, rec.SessionID)
	}
	fail := func(why string) error { return r.failRecording(ctx, pool, m, why, now) }
	if state != jitsiv1alpha1.RecordingStatePending && rec != nil {
		r.pendingSince.Delete(rec.SessionID)
	}

	switch state {
	case jitsiv1alpha1.RecordingStateNone:
		return wanted, nil
	case jitsiv1alpha1.RecordingStatePending:
		at, deadline, timed := session.Deadline(*rec, r.assignedAt(o, rec.SessionID, now), timeoutsOf(pool))
		switch {
		case rec.Recorder == "" || gone:
			// Queued (or its recorder went away before it started).
			if !wanted && meeting.Ended(phaseOf(m, now)) {
				return false, r.decide(ctx, m, events.Decision{Signal: session.Signal{Kind: session.Failed, At: now,
					Reason: fmt.Sprintf("the meeting ended before a recorder of pool %s was free", pool.Name)},
					ClearRecorder: true}) // one that went away before it started
			}
			return wanted, nil
		case !ours:
			// Started by Jicofo (a moderator's button): Jicofo and Prosody report it.
			return false, nil
		case failure != "":
			return false, fail(fmt.Sprintf("recorder %s could not start the recording: Jibri reported %s", o.pod.Name, failure))
		case timed && now.After(at):
			r.stop(pool, m, o, "it did not start in time")
			return false, fail(deadline.Reason)
		case sessionSays("ON") && o.state == scaling.Busy:
			return false, r.recordingSignal(ctx, m, session.Signal{Kind: session.Started, Session: rec.SessionID, At: now})
		case sessionSays("OFF") || o.state != scaling.Busy && o.state != scaling.Starting:
			why := fmt.Sprintf("recorder %s stopped before the recording started", o.pod.Name)
			if ours && onRecorder == rec.SessionID {
				why += " (Jibri session " + strings.ToUpper(sessionStatus) + "); see the recorder's log"
			}
			return false, fail(why)
		}
		if !wanted {
			r.stop(pool, m, o, "the meeting no longer wants it")
		}
		return false, nil
	case jitsiv1alpha1.RecordingStateRecording:
		switch {
		case gone:
			return false, fail(fmt.Sprintf("recorder %s was removed while recording", rec.Recorder))
		case ours && failure != "":
			// Jibri still finalizes what it wrote; the recording ends with the report, or as
			// Failed with this reason when none comes.
			why := fmt.Sprintf("recorder %s stopped recording: Jibri reported %s", o.pod.Name, failure)
			r.Recorder.Eventf(m, pool, corev1.EventTypeWarning, "RecordingFailed", "Record", "%s", why)
			return false, r.recordingSignal(ctx, m, session.Signal{Kind: session.Stopped, Session: rec.SessionID, At: now, Reason: why})
		case sessionSays("OFF"):
			return false, r.recordingSignal(ctx, m, session.Signal{Kind: session.Stopped, Session: rec.SessionID, At: now})
		}
		if ours && !wanted && o.state == scaling.Busy {
			r.stop(pool, m, o, "the meeting no longer wants it")
		}
	case jitsiv1alpha1.RecordingStateFinalizing:
		// The recorder stays busy while its finalize script runs. Should the meeting have ended
		// without its recorder leaving, stop it.
		if ours && !wanted && o.state == scaling.Busy && !sessionSays("OFF") {
			r.stop(pool, m, o, "the meeting ended")
		}
		return false, r.endFinalizing(ctx, pool, m, o, gone, now)
	}
	return false, nil
}

// defaultFinalizeGrace is how long a report may take to arrive once the recorder is done with
// a session (idle again, or on another one): the finalize script posts it before it exits, and
// retries.
const defaultFinalizeGrace = 2 * time.Minute

func (r *JibriPoolReconciler) finalizeGrace() time.Duration {
	if r.FinalizeGrace > 0 {
		return r.FinalizeGrace
	}
	return defaultFinalizeGrace
}

// endFinalizing ends m's recording when no finalize report will come: the recorder went away;
// it is done with the session and no report came within FinalizeGrace (Jibri wrote no media, so
// it deleted the session's directory and ran no finalize script: Completed without files, or
// Failed with the failure Jibri reported); or the pool's finalize timeout passed.
func (r *JibriPoolReconciler) endFinalizing(ctx context.Context, pool *jitsiv1alpha1.JibriPool, m *jitsiv1alpha1.Meeting,
	o *recorderObs, gone bool, now time.Time) error {
	rec := m.Status.Recording
	stopped := now
	if rec.StoppedAt != nil {
		stopped = rec.StoppedAt.Time
	}
	at, deadline, timed := session.Deadline(*rec, time.Time{}, timeoutsOf(pool))
	// Done with the session: idle, or given another one by the operator (only an idle recorder
	// is). A session Jicofo started is not the operator's to compare (its id is Jicofo's).
	operators := strings.HasPrefix(rec.SessionID, m.Name+"-")
	done := o != nil && (o.state == scaling.Idle || operators && o.session != "" && o.session != rec.SessionID)
	switch {
	case gone:
		return r.failRecording(ctx, pool, m,
			fmt.Sprintf("recorder %s went away before its finalize script reported; the files were on its volume", rec.Recorder), now)
	case timed && now.After(at):
		return r.failRecording(ctx, pool, m, deadline.Reason, now)
	case done && now.Sub(stopped) > r.finalizeGrace() && rec.Error != "":
		r.Recorder.Eventf(m, pool, corev1.EventTypeWarning, "RecordingFailed", "Record", "%s; no files were reported", rec.Error)
		return r.recordingSignal(ctx, m, session.Signal{Kind: session.NoMedia, Session: rec.SessionID, At: now})
	case done && now.Sub(stopped) > r.finalizeGrace():
		r.Recorder.Eventf(m, pool, corev1.EventTypeNormal, "RecordingEmpty", "Record",
			"recorder %s wrote no media for session %s (it stopped before any was recorded): no files", rec.Recorder, rec.SessionID)
		return r.recordingSignal(ctx, m, session.Signal{Kind: session.NoMedia, Session: rec.SessionID, At: now})
	}
	return nil
}

// startRecording starts m's recording on recorder o.
func (r *JibriPoolReconciler) startRecording(ctx context.Context, pool *jitsiv1alpha1.JibriPool, d *jitsiv1alpha1.JitsiDeployment,
	m *jitsiv1alpha1.Meeting, o *recorderObs) (bool, error) {
	sid := m.Name + "-" + utilrand.String(8)
	return r.launch(ctx, pool, d, m, o, jibri.Session{ID: sid, Sink: jibri.SinkFile, DisplayName: "Recorder"}, "recording",
		func() error {
			return r.recordingSignal(ctx, m, session.Signal{Kind: session.Assigned, Session: sid, Recorder: o.pod.Name, At: r.now()})
		},
		func(why string) error { return r.requeueRecording(ctx, m, why) })
}

// queueRecording says in m's status that its recording waits for a recorder.
func (r *JibriPoolReconciler) queueRecording(ctx context.Context, pool *jitsiv1alpha1.JibriPool, m *jitsiv1alpha1.Meeting) error {
	if rec := m.Status.Recording; rec != nil && rec.State == jitsiv1alpha1.RecordingStatePending && rec.Recorder == "" {
		return nil
	}
	r.Recorder.Eventf(m, pool, corev1.EventTypeNormal, "RecordingQueued", "Record",
		"waiting for a free recorder of pool %s", pool.Name)
	return r.requeueRecording(ctx, m, "")
}

// requeueRecording puts m's recording back in the queue (Pending without a recorder).
func (r *JibriPoolReconciler) requeueRecording(ctx context.Context, m *jitsiv1alpha1.Meeting, why string) error {
	return r.recordingSignal(ctx, m, session.Signal{Kind: session.Queued, Reason: why, At: r.now()})
}

// recordingSignal applies sig to m's status.recording (session.Recording) through the one writer
// of that field (decide), only to the recording the pool decided from.
func (r *JibriPoolReconciler) recordingSignal(ctx context.Context, m *jitsiv1alpha1.Meeting, sig session.Signal) error {
	return r.decide(ctx, m, events.Decision{Signal: sig})
}

// failRecording says with a Warning event why m's recording failed, and records it failed.
func (r *JibriPoolReconciler) failRecording(ctx context.Context, pool *jitsiv1alpha1.JibriPool, m *jitsiv1alpha1.Meeting, why string, now time.Time) error {
	r.Recorder.Eventf(m, pool, corev1.EventTypeWarning, "RecordingFailed", "Record", "%s", why)
	sid := ""
	if m.Status.Recording != nil {
		sid = m.Status.Recording.SessionID
	}
	return r.recordingSignal(ctx, m, session.Signal{Kind: session.Failed, Session: sid, At: now, Reason: why})
}
