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
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/events"
	"github.com/jitsi-operator/jitsi-operator/internal/jibri"
	"github.com/jitsi-operator/jitsi-operator/internal/meeting"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
	"github.com/jitsi-operator/jitsi-operator/internal/scaling"
	"github.com/jitsi-operator/jitsi-operator/internal/session"
)

// The pool's side of a recorder's session, recording or live stream alike: starting it on a
// recorder, stopping it, the deadlines and failures its recorder reports, and the Meeting status
// write that carries a session signal. jibripool_recordings.go and jibripool_streams.go each
// follow their kind of session with these and the session package, and nothing of each other.

// stopTimeout bounds a stopService call, which returns only after the finalize script.
const stopTimeout = 2 * time.Hour

// ensureSessions matches the pool's demand (recordings and live streams) with its recorders:
// it starts wanted sessions on idle recorders (the rest wait in the queue, and their Meetings say
// Pending), follows started ones through Jibri's session status, and stops them when the meeting
// ends or a backend asks. The Meeting's status.recording and status.streaming are kept true.
func (r *JibriPoolReconciler) ensureSessions(ctx context.Context, pool *jitsiv1alpha1.JibriPool, obs *poolObservation) error {
	if obs.deployment == nil {
		return nil
	}
	var list jitsiv1alpha1.MeetingList
	if err := r.List(ctx, &list, client.InNamespace(pool.Namespace), client.MatchingFields{indexMeetingPools: pool.Name}); err != nil {
		return err
	}
	obs.meetings = list.Items
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
// few at a time, each meeting's one after the other. A conflict is no error: the Meeting's session
// changed meanwhile, and that change wakes the pool again to decide anew.
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

// assignedAt is when recorder o accepted session sid: its AnnotationJibriAssignedAt, or, on a
// recorder without one, when this process first saw the session Pending on it. Zero without a
// recorder.
func (r *JibriPoolReconciler) assignedAt(o *recorderObs, sid string, now time.Time) time.Time {
	if o == nil {
		return time.Time{}
	}
	if o.session == sid {
		if at, err := time.Parse(time.RFC3339, o.pod.Annotations[render.AnnotationJibriAssignedAt]); err == nil {
			return at
		}
	}
	first, _ := r.pendingSince.LoadOrStore(sid, now)
	return first.(time.Time)
}

// timeoutsOf is the pool's session deadlines (spec.sessionTimeouts, defaults 180 s to start and
// 3 h to finalize).
func timeoutsOf(pool *jitsiv1alpha1.JibriPool) session.Timeouts {
	t := session.Timeouts{Start: 180 * time.Second, Finalize: 3 * time.Hour}
	if s := pool.Spec.SessionTimeouts.StartSeconds; s != nil && *s > 0 {
		t.Start = time.Duration(*s) * time.Second
	}
	if s := pool.Spec.SessionTimeouts.FinalizeSeconds; s != nil && *s > 0 {
		t.Finalize = time.Duration(*s) * time.Second
	}
	return t
}

func phaseOf(m *jitsiv1alpha1.Meeting, now time.Time) jitsiv1alpha1.MeetingPhase {
	p, _ := meeting.Phase(m, now)
	return p
}

// launch starts session s for m on recorder o. The assignment is stored first (by assign, in the
// Meeting's status through decide, only over the status it was decided from, and on the pod) so
// that no other reconcile starts it elsewhere; a refused start puts the meeting back in the queue
// (requeue).
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

// SessionWriter writes the pool's signals about a Meeting's recording and live stream: the
// receiver's per-Meeting writer (webhook.Server.Decide), which writes the receiver's events too,
// so that status.recording and status.streaming have one writer. It answers the Meeting as
// written, and false when the Meeting's recording (stream) had moved on from the status the
// signal was decided from (Decision.Seen), in which case it wrote nothing of it.
type SessionWriter interface {
	Decide(ctx context.Context, m *jitsiv1alpha1.Meeting, d events.Decision) (*jitsiv1alpha1.Meeting, bool, error)
}

// decide writes the pool's signal d about m's recording (or stream) through Sessions, decided
// from m as the pool sees it; a signal that changes nothing there is not sent. When m's recording
// had moved on meanwhile, nothing is written and a conflict is returned: the pool decides again
// from the newer Meeting, which the change wakes it for. m becomes the Meeting as written.
func (r *JibriPoolReconciler) decide(ctx context.Context, m *jitsiv1alpha1.Meeting, d events.Decision) error {
	d.Seen = events.Seen(m.Status, d.Stream)
	next := events.Apply(m.Status, events.Event{Kind: events.PoolDecided, Time: d.Signal.At, Decision: &d})
	if sameStatus(m.Status, next, func(s *jitsiv1alpha1.MeetingStatus) *[]metav1.Condition { return &s.Conditions }) {
		return nil
	}
	written, applied, err := r.Sessions.Decide(ctx, m, d)
	if err != nil {
		return err
	}
	if !applied {
		return apierrors.NewConflict(jitsiv1alpha1.GroupVersion.WithResource("meetings").GroupResource(), m.Name,
			errors.New("its recording or stream changed since the pool decided"))
	}
	if written != nil {
		*m = *written
	}
	return nil
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
