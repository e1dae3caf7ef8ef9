package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/jibri"
	"github.com/jitsi-operator/jitsi-operator/internal/meeting"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
	"github.com/jitsi-operator/jitsi-operator/internal/scaling"
	"github.com/jitsi-operator/jitsi-operator/internal/session"
)

// stopTimeout bounds a stopService call, which returns only after the finalize script.
const stopTimeout = 2 * time.Hour

// ensureRecordings matches the pool's demand (recordings and live streams) with its recorders:
// it starts wanted sessions on idle recorders (the rest wait in the queue, and their Meetings say
// Pending), follows started ones through Jibri's session status, and stops them when the meeting
// ends or a backend asks. The Meeting's status.recording and status.streaming are kept true.
func (r *JibriPoolReconciler) ensureRecordings(ctx context.Context, pool *jitsiv1alpha1.JibriPool, obs *poolObservation) error {
	if obs.deployment == nil {
		return nil
	}
	var list jitsiv1alpha1.MeetingList
	if err := r.List(ctx, &list, client.InNamespace(pool.Namespace), client.MatchingFields{indexMeetingPools: pool.Name}); err != nil {
		return err
	}
	byName := map[string]*recorderObs{}
	for _, o := range obs.recorders {
		byName[o.pod.Name] = o
	}
	meetings := map[string]bool{}
	var waiting []demand
	var errs []error
	for i := range list.Items {
		m := &list.Items[i]
		meetings[m.Name] = true
		if ref := m.Spec.Recording.JibriPoolRef; ref != nil && ref.Name == pool.Name && m.Spec.Recording.Mode != jitsiv1alpha1.RecordingNone {
			wait, err := r.followRecording(ctx, pool, m, byName, obs.now)
			if err != nil {
				errs = append(errs, fmt.Errorf("meeting %s: %w", m.Name, err))
			}
			if wait {
				waiting = append(waiting, demand{m, jibri.SinkFile})
			}
		}
		if ref := m.Spec.Streaming.JibriPoolRef; ref != nil && ref.Name == pool.Name && m.Spec.Streaming.Mode != jitsiv1alpha1.StreamingNone {
			wait, err := r.followStream(ctx, pool, m, byName, obs.now)
			if err != nil {
				errs = append(errs, fmt.Errorf("meeting %s: %w", m.Name, err))
			}
			if wait {
				waiting = append(waiting, demand{m, jibri.SinkStream})
			}
		}
	}
	// A recorder busy for a Meeting that was deleted: stop it (the finalize script still runs).
	for _, o := range obs.recorders {
		if o.meeting != "" && !meetings[o.meeting] && o.state == scaling.Busy {
			r.stop(pool, nil, o, "its Meeting was deleted")
		}
	}

	// Oldest demand first, onto the idle recorders in name order.
	slices.SortStableFunc(waiting, func(a, b demand) int {
		return startedAt(a.m).Compare(startedAt(b.m))
	})
	var idle []*recorderObs
	for _, o := range obs.recorders {
		if o.idle() {
			idle = append(idle, o)
		}
	}
	for _, w := range waiting {
		started := false
		for !started && len(idle) > 0 {
			o := idle[0]
			idle = idle[1:]
			var err error
			if w.sink == jibri.SinkStream {
				started, err = r.startStream(ctx, pool, obs.deployment, w.m, o)
			} else {
				started, err = r.startRecording(ctx, pool, obs.deployment, w.m, o)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("meeting %s: %w", w.m.Name, err))
			}
		}
		if started {
			continue
		}
		obs.queue = append(obs.queue, w.m.Name)
		obs.queued = append(obs.queued, w)
	}
	return errors.Join(errs...)
}

// maxParallelMeetingWrites bounds the Meeting statuses markQueued writes at once.
const maxParallelMeetingWrites = 8

// markQueued says in the status of each meeting in the queue that it waits for a recorder (its
// recording or live stream Pending without one). It runs after the scale step, so that these
// writes never delay the recorders the meetings wait for; the meetings' statuses are written a
// few at a time, each meeting's one after the other. A conflict is no error: the receiver wrote
// the Meeting meanwhile, and that change wakes the pool again to decide anew.
func (r *JibriPoolReconciler) markQueued(ctx context.Context, pool *jitsiv1alpha1.JibriPool, obs *poolObservation) error {
	var byMeeting [][]demand
	index := map[string]int{}
	for _, w := range obs.queued {
		i, ok := index[w.m.Name]
		if !ok {
			i = len(byMeeting)
			index[w.m.Name] = i
			byMeeting = append(byMeeting, nil)
		}
		byMeeting[i] = append(byMeeting[i], w)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	limit := make(chan struct{}, maxParallelMeetingWrites)
	for _, ws := range byMeeting {
		wg.Add(1)
		limit <- struct{}{}
		go func() {
			defer func() { <-limit; wg.Done() }()
			m := ws[0].m
			if _, stale := r.meetingQueued.pending(m.UID, m.ResourceVersion); stale {
				return // the cache does not show the last mark yet; its change wakes the pool again
			}
			base := m.ResourceVersion
			defer func() {
				if m.ResourceVersion != base {
					r.meetingQueued.wrote(m.UID, base, struct{}{}, obs.now)
				}
			}()
			for _, w := range ws {
				var err error
				if w.sink == jibri.SinkStream {
					err = r.queueStream(ctx, pool, w.m)
				} else {
					err = r.queueRecording(ctx, pool, w.m)
				}
				if apierrors.IsConflict(err) {
					break
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("meeting %s: %w", w.m.Name, err))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// demand is a meeting waiting for a recorder, to record it (SinkFile) or to stream it.
type demand struct {
	m    *jitsiv1alpha1.Meeting
	sink jibri.Sink
}

func startedAt(m *jitsiv1alpha1.Meeting) time.Time {
	if m.Status.StartedAt != nil {
		return m.Status.StartedAt.Time
	}
	return m.CreationTimestamp.Time
}

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
		switch {
		case rec.Recorder == "" || gone:
			// Queued (or its recorder went away before it started).
			if !wanted && meeting.Ended(phaseOf(m, now)) {
				return false, r.patchMeetingStatus(ctx, m, func(st *jitsiv1alpha1.MeetingStatus) {
					session.ApplyRecording(st, session.Signal{Kind: session.Failed, At: now,
						Reason: fmt.Sprintf("the meeting ended before a recorder of pool %s was free", pool.Name)})
					st.Recording.Recorder = "" // one that went away before it started
				})
			}
			return wanted, nil
		case !ours:
			// Started by Jicofo (a moderator's button): Jicofo and Prosody report it.
			return false, nil
		case failure != "":
			return false, fail(fmt.Sprintf("recorder %s could not start the recording: Jibri reported %s", o.pod.Name, failure))
		case r.pendingTooLong(o, rec.SessionID, startTimeout(pool), now):
			r.stop(pool, m, o, "it did not start in time")
			return false, fail(fmt.Sprintf("recorder %s accepted the recording and had not started it after %s; see the recorder's log",
				o.pod.Name, startTimeout(pool)))
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
	// Done with the session: idle, or given another one by the operator (only an idle recorder
	// is). A session Jicofo started is not the operator's to compare (its id is Jicofo's).
	operators := strings.HasPrefix(rec.SessionID, m.Name+"-")
	done := o != nil && (o.state == scaling.Idle || operators && o.session != "" && o.session != rec.SessionID)
	switch {
	case gone:
		return r.failRecording(ctx, pool, m,
			fmt.Sprintf("recorder %s went away before its finalize script reported; the files were on its volume", rec.Recorder), now)
	case now.Sub(stopped) > finalizeTimeout(pool):
		return r.failRecording(ctx, pool, m, fmt.Sprintf("the finalize script of recorder %s did not report within %s of the stop; the files may still be on its volume",
			rec.Recorder, finalizeTimeout(pool)), now)
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

// sessionFailure is why recorder o's Jibri ended session sid with a failure (from its session
// webhook); "" when it did not.
func sessionFailure(o *recorderObs, sid string) string {
	if o == nil || sid == "" {
		return ""
	}
	failed, why, ok := strings.Cut(o.pod.Annotations[render.AnnotationJibriFailure], " ")
	if !ok || failed != sid {
		return ""
	}
	if why == "" {
		why = "a failure"
	}
	return why
}

// pendingTooLong reports whether session sid, which recorder o accepted, has been Pending for
// longer than timeout: since the recorder's assignment (its AnnotationJibriAssignedAt), or, on a
// recorder without one, since this process first saw it Pending.
func (r *JibriPoolReconciler) pendingTooLong(o *recorderObs, sid string, timeout time.Duration, now time.Time) bool {
	if o.session == sid {
		if at, err := time.Parse(time.RFC3339, o.pod.Annotations[render.AnnotationJibriAssignedAt]); err == nil {
			return now.Sub(at) > timeout
		}
	}
	first, _ := r.pendingSince.LoadOrStore(sid, now)
	return now.Sub(first.(time.Time)) > timeout
}

// startTimeout and finalizeTimeout are the pool's session deadlines (spec.sessionTimeouts).
func startTimeout(pool *jitsiv1alpha1.JibriPool) time.Duration {
	if s := pool.Spec.SessionTimeouts.StartSeconds; s != nil && *s > 0 {
		return time.Duration(*s) * time.Second
	}
	return 180 * time.Second
}

func finalizeTimeout(pool *jitsiv1alpha1.JibriPool) time.Duration {
	if s := pool.Spec.SessionTimeouts.FinalizeSeconds; s != nil && *s > 0 {
		return time.Duration(*s) * time.Second
	}
	return 3 * time.Hour
}

func phaseOf(m *jitsiv1alpha1.Meeting, now time.Time) jitsiv1alpha1.MeetingPhase {
	p, _ := meeting.Phase(m, now)
	return p
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

// launch starts session s for m on recorder o. The assignment is stored first (by assign, in the
// Meeting's status guarded by its resourceVersion, and on the pod) so that no other reconcile
// starts it elsewhere; a refused start puts the meeting back in the queue (requeue).
func (r *JibriPoolReconciler) launch(ctx context.Context, pool *jitsiv1alpha1.JibriPool, d *jitsiv1alpha1.JitsiDeployment,
	m *jitsiv1alpha1.Meeting, o *recorderObs, s jibri.Session, what string, assign func() error, requeue func(why string) error) (bool, error) {
	password, err := secretValue(ctx, r.Client, d.Namespace, corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: render.GeneratedSecret(d)}, Key: render.KeyRecorderPassword})
	if err != nil {
		return false, fmt.Errorf("the recorder account's password: %w", err)
	}
	if err := assign(); err != nil {
		return false, err
	}
	if err := r.annotate(ctx, o.pod, map[string]string{render.AnnotationJibriAssignment: m.Name + " " + s.ID,
		render.AnnotationJibriAssignedAt: r.now().UTC().Format(time.RFC3339)}); err != nil {
		return false, errors.Join(err, requeue(""))
	}
	o.meeting, o.session = m.Name, s.ID
	s.BaseURL, s.Room = render.PublicURL(d), m.RoomName()
	s.Domain, s.Username, s.Password = render.XMPPHiddenDomain, render.JibriRecorderUser, string(password)
	reason := "Recording"
	if s.Sink == jibri.SinkStream {
		reason = "Stream"
	}
	if err := r.Jibri.Start(ctx, o.pod.Status.PodIP, s); err != nil {
		o.state = scaling.Busy // or broken: either way not idle for this reconcile
		if errors.Is(err, jibri.ErrBusy) {
			r.health.forget(o.pod.UID)
		}
		why := fmt.Sprintf("recorder %s refused the %s: %v", o.pod.Name, what, err)
		r.Recorder.Eventf(m, pool, corev1.EventTypeWarning, reason+"StartFailed", "Record", "%s", why)
		log.FromContext(ctx).Info(what+" not started", "meeting", m.Name, "recorder", o.pod.Name, "error", err.Error())
		return false, requeue(why)
	}
	o.state = scaling.Busy
	r.health.markBusy(o.pod.UID, r.now())
	r.Recorder.Eventf(m, pool, corev1.EventTypeNormal, reason+"Starting", "Record",
		"recorder %s accepted the %s (session %s)", o.pod.Name, what, s.ID)
	return true, nil
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

// recordingSignal applies sig to m's status.recording (session.Recording) and writes it, guarded
// by m's resourceVersion: the receiver changes the same field through the same model from
// Prosody's and Jibri's events, and neither may undo the other.
func (r *JibriPoolReconciler) recordingSignal(ctx context.Context, m *jitsiv1alpha1.Meeting, sig session.Signal) error {
	return r.patchMeetingStatus(ctx, m, func(st *jitsiv1alpha1.MeetingStatus) { session.ApplyRecording(st, sig) })
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

// patchMeetingStatus changes m's status in one merge patch guarded by m's resourceVersion; a
// change that changes nothing is not sent.
func (r *JibriPoolReconciler) patchMeetingStatus(ctx context.Context, m *jitsiv1alpha1.Meeting, change func(*jitsiv1alpha1.MeetingStatus)) error {
	before := m.DeepCopy()
	change(&m.Status)
	if sameStatus(before.Status, m.Status, func(s *jitsiv1alpha1.MeetingStatus) *[]metav1.Condition { return &s.Conditions }) {
		return nil
	}
	changes, err := statusChanges(before, m)
	if err != nil {
		return err
	}
	return writeStatus(ctx, r.Client, m, changes)
}

func (r *JibriPoolReconciler) annotate(ctx context.Context, p *corev1.Pod, annotations map[string]string) error {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
	return r.Patch(ctx, p, client.RawPatch(types.MergePatchType, patch))
}

// stop asks recorder o to stop its session, once per session, without waiting: Jibri answers
// only after its finalize script, which may take minutes.
func (r *JibriPoolReconciler) stop(pool *jitsiv1alpha1.JibriPool, m *jitsiv1alpha1.Meeting, o *recorderObs, why string) {
	if _, busy := r.stopping.LoadOrStore(o.pod.UID, o.session); busy {
		return
	}
	// The goroutine outlives the reconcile, which goes on writing m and pool: it keeps copies.
	pool = pool.DeepCopy()
	regarding := client.Object(pool)
	if m != nil {
		regarding = m.DeepCopy()
	}
	r.Recorder.Eventf(regarding, pool, corev1.EventTypeNormal, "RecordingStopping", "Record",
		"stopping the recording on %s: %s", o.pod.Name, why)
	address, name, uid := o.pod.Status.PodIP, o.pod.Name, o.pod.UID
	go func() {
		defer r.stopping.Delete(uid)
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		if err := r.Jibri.Stop(ctx, address); err != nil {
			r.Recorder.Eventf(regarding, pool, corev1.EventTypeWarning, "RecordingStopFailed", "Record",
				"recorder %s did not confirm the stop: %v", name, err)
		}
	}()
}
