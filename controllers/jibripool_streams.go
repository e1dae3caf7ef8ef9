package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/destination"
	"github.com/jitsi-operator/jitsi-operator/internal/events"
	"github.com/jitsi-operator/jitsi-operator/internal/jibri"
	"github.com/jitsi-operator/jitsi-operator/internal/meeting"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
	"github.com/jitsi-operator/jitsi-operator/internal/scaling"
	"github.com/jitsi-operator/jitsi-operator/internal/session"
)

// liveSession marks the session ids of live streams: "<meeting>-live-<random>".
const liveSession = "-live-"

// maxStreamRestarts bounds how many times a stream the recorder reported failed is started again.
const maxStreamRestarts = 3

// followStream brings m's live stream status up to date with its recorder, stops a stream that
// is no longer wanted, and reports whether m waits for a recorder to stream. A stream that
// stopped while still wanted (a Manual meeting asked again, a dropped Automatic one) starts again;
// a failed one does not (its error needs a person).
func (r *JibriPoolReconciler) followStream(ctx context.Context, pool *jitsiv1alpha1.JibriPool, m *jitsiv1alpha1.Meeting,
	recorders map[string]*recorderObs, now time.Time) (bool, error) {
	wanted := meeting.StreamingWanted(m, now)
	st := m.Status.Streaming
	state := jitsiv1alpha1.StreamingStateNone
	if st != nil && st.State != "" {
		state = st.State
	}
	var o *recorderObs
	if st != nil && st.Recorder != "" {
		o = recorders[st.Recorder]
	}
	ours := o != nil && o.meeting == m.Name && strings.HasPrefix(o.session, m.Name+liveSession)
	gone := st != nil && st.Recorder != "" && o == nil && strings.HasPrefix(st.Recorder, pool.Name+"-")
	onRecorder, sessionStatus := "", ""
	if o != nil {
		onRecorder, sessionStatus, _ = strings.Cut(o.pod.Annotations[render.AnnotationJibriSession], " ")
	}
	says := func(s string) bool { return ours && onRecorder == o.session && strings.EqualFold(sessionStatus, s) }
	failure := ""
	if ours {
		failure = sessionFailure(o, o.session)
	}
	if state != jitsiv1alpha1.StreamingStatePending && o != nil {
		r.pendingSince.Delete(o.session)
	}
	// failWith ends the stream Failed for why; its event adds told.
	failWith := func(why, told string) error {
		r.Recorder.Eventf(m, pool, corev1.EventTypeWarning, "StreamFailed", "Stream", "%s%s", why, told)
		return r.streamSignal(ctx, m, session.Signal{Kind: session.Failed, At: now, Reason: why},
			destinationsOf(m, pool, jitsiv1alpha1.StreamingStateFailed, why))
	}
	fail := func(why string) error { return failWith(why, "") }
	// failed restarts a stream the recorder reported failed, up to maxStreamRestarts times, and
	// then leaves it Failed: a bad key or a refused destination fails again at once.
	failed := func(why string) (bool, error) {
		if st.Restarts >= maxStreamRestarts || !wanted {
			return false, failWith(why, fmt.Sprintf(" (restarted %d times)", st.Restarts))
		}
		r.Recorder.Eventf(m, pool, corev1.EventTypeWarning, "StreamRestarting", "Stream", "%s; starting it again (%d of %d)",
			why, st.Restarts+1, maxStreamRestarts)
		return true, r.streamSignal(ctx, m, session.Signal{Kind: session.Restarting, At: now, Reason: why}, nil)
	}

	switch state {
	case jitsiv1alpha1.StreamingStateNone, jitsiv1alpha1.StreamingStateStopped:
		return wanted, nil
	case jitsiv1alpha1.StreamingStatePending:
		var assigned time.Time
		if o != nil {
			assigned = r.assignedAt(o, o.session, now)
		}
		at, deadline, timed := session.StreamDeadline(*st, assigned, timeoutsOf(pool))
		switch {
		case st.Recorder == "" || gone:
			if !wanted && meeting.Ended(phaseOf(m, now)) {
				return false, fail(fmt.Sprintf("the meeting ended before a recorder of pool %s was free", pool.Name))
			}
			return wanted, nil
		case !ours:
			return false, nil // started by Jicofo (the live-stream button): Jicofo and Prosody report it
		case failure != "":
			return failed(fmt.Sprintf("recorder %s could not start the stream: Jibri reported %s", o.pod.Name, failure))
		case timed && now.After(at):
			r.stop(pool, m, o, "it did not start in time")
			return failed(deadline.Reason)
		case says("ON") && o.state == scaling.Busy:
			var dests []jitsiv1alpha1.DestinationStatus
			if !relayEnabled(pool) {
				dests = destinationsOf(m, pool, jitsiv1alpha1.StreamingStateLive, "")
			}
			return false, r.streamSignal(ctx, m, session.Signal{Kind: session.Started, At: now}, dests)
		case says("OFF") || o.state != scaling.Busy && o.state != scaling.Starting:
			return false, fail(fmt.Sprintf("recorder %s stopped before the stream went live (Jibri session %s); see the recorder's log",
				o.pod.Name, strings.ToUpper(sessionStatus)))
		}
		if !wanted {
			r.stop(pool, m, o, "the meeting no longer wants the stream")
		}
	case jitsiv1alpha1.StreamingStateLive:
		switch {
		case gone:
			return false, fail(fmt.Sprintf("recorder %s was removed while streaming", st.Recorder))
		case failure != "":
			return failed(fmt.Sprintf("recorder %s stopped the stream: Jibri reported %s", o.pod.Name, failure))
		case says("OFF") || ours && o.state == scaling.Idle:
			var dests []jitsiv1alpha1.DestinationStatus
			if !relayEnabled(pool) {
				dests = destinationsOf(m, pool, jitsiv1alpha1.StreamingStateStopped, "")
			}
			return wanted, r.streamSignal(ctx, m, session.Signal{Kind: session.Stopped, At: now}, dests)
		}
		if ours && !wanted && o.state == scaling.Busy {
			r.stop(pool, m, o, "the meeting no longer wants the stream")
		}
	}
	return false, nil
}

// destinationsOf is every destination of m in state, with why when it failed. With a relay the
// relay reports each destination itself; this is for the recorder's own stream and for failures.
func destinationsOf(m *jitsiv1alpha1.Meeting, pool *jitsiv1alpha1.JibriPool, state jitsiv1alpha1.StreamingState, why string) []jitsiv1alpha1.DestinationStatus {
	var out []jitsiv1alpha1.DestinationStatus
	for _, d := range m.Spec.Streaming.Destinations {
		ds := jitsiv1alpha1.DestinationStatus{Name: d.Name, State: state}
		if state == jitsiv1alpha1.StreamingStateFailed {
			ds.Error = why
		}
		out = append(out, ds)
	}
	return out
}

func relayEnabled(pool *jitsiv1alpha1.JibriPool) bool {
	return pool.Spec.Streaming.Relay != nil && pool.Spec.Streaming.Relay.Enabled
}

// startStream starts m's live stream on recorder o: to the pool's relay when it has one (which
// pushes it to every destination), else straight to the one destination.
func (r *JibriPoolReconciler) startStream(ctx context.Context, pool *jitsiv1alpha1.JibriPool, d *jitsiv1alpha1.JitsiDeployment,
	m *jitsiv1alpha1.Meeting, o *recorderObs) (bool, error) {
	target, why, err := r.streamTarget(ctx, pool, m)
	if err != nil {
		return false, err
	}
	if why != "" {
		r.Recorder.Eventf(m, pool, corev1.EventTypeWarning, "StreamFailed", "Stream", "%s", why)
		return false, r.streamSignal(ctx, m, session.Signal{Kind: session.Failed, At: r.now(), Reason: why},
			destinationsOf(m, pool, jitsiv1alpha1.StreamingStateFailed, why))
	}
	sid := m.Name + liveSession + utilrand.String(8)
	return r.launch(ctx, pool, d, m, o, jibri.Session{ID: sid, Sink: jibri.SinkStream, StreamURL: target, DisplayName: "Live stream"}, "live stream",
		func() error {
			return r.streamSignal(ctx, m, session.Signal{Kind: session.Assigned, Recorder: o.pod.Name, At: r.now()}, nil)
		},
		func(why string) error { return r.requeueStream(ctx, m, why) })
}

// streamTarget is the RTMP URL (stream key included) the recorder publishes m's stream to, or a
// reason a person can act on when there is none. Keys are read here and go only to the recorder.
func (r *JibriPoolReconciler) streamTarget(ctx context.Context, pool *jitsiv1alpha1.JibriPool, m *jitsiv1alpha1.Meeting) (target, why string, err error) {
	if e := pool.Spec.Streaming.Enabled; e != nil && !*e {
		return "", fmt.Sprintf("pool %s does not stream (spec.streaming.enabled is false)", pool.Name), nil
	}
	if relayEnabled(pool) {
		access := &corev1.Secret{}
		if err := r.Get(ctx, types.NamespacedName{Namespace: m.Namespace, Name: AccessSecretName(m)}, access); err != nil {
			return "", "", fmt.Errorf("the meeting's stream key: %w", err)
		}
		key := string(access.Data[meeting.KeyStreamKey])
		if key == "" {
			return "", "", fmt.Errorf("the meeting's access Secret has no stream key yet")
		}
		return render.RelayStreamURL(pool, r.ClusterDomain, key), "", nil
	}
	dests := m.Spec.Streaming.Destinations
	if len(dests) != 1 {
		return "", fmt.Sprintf("%d destinations need the pool's relay (spec.streaming.relay.enabled on pool %s)", len(dests), pool.Name), nil
	}
	ref := dests[0].StreamKeySecretRef
	key, err := secretValue(ctx, r.secrets(), m.Namespace, corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: ref.Name}, Key: ref.Key})
	if apierrors.IsNotFound(err) || err == errMissingKey || err == nil && strings.TrimSpace(string(key)) == "" {
		return "", fmt.Sprintf("the stream key of destination %s (Secret %s, key %s) does not exist", dests[0].Name, ref.Name, ref.Key), nil
	}
	if err != nil {
		return "", "", err
	}
	target = strings.TrimSuffix(dests[0].URL, "/") + "/" + strings.TrimSpace(string(key))
	if err := r.Destinations.Check(ctx, target); err != nil {
		if destination.IsTransient(err) {
			return "", "", fmt.Errorf("destination %s: %w", dests[0].Name, err) // a lookup: again later
		}
		// Refusals never quote the key.
		return "", fmt.Sprintf("destination %s is refused: %v", dests[0].Name, err), nil
	}
	return target, "", nil
}

// queueStream says in m's status that its live stream waits for a recorder.
func (r *JibriPoolReconciler) queueStream(ctx context.Context, pool *jitsiv1alpha1.JibriPool, m *jitsiv1alpha1.Meeting) error {
	if st := m.Status.Streaming; st != nil && st.State == jitsiv1alpha1.StreamingStatePending && st.Recorder == "" {
		return nil
	}
	r.Recorder.Eventf(m, pool, corev1.EventTypeNormal, "StreamQueued", "Stream", "waiting for a free recorder of pool %s", pool.Name)
	return r.requeueStream(ctx, m, "")
}

// requeueStream puts m's live stream back in the queue (Pending without a recorder).
func (r *JibriPoolReconciler) requeueStream(ctx context.Context, m *jitsiv1alpha1.Meeting, _ string) error {
	return r.streamSignal(ctx, m, session.Signal{Kind: session.Queued, At: r.now()}, nil)
}

// streamSignal applies sig to m's status.streaming (session.Stream) through decide, like
// recordingSignal; dests, when not nil, are the destinations' states from now on (with a relay,
// the relay reports them itself).
func (r *JibriPoolReconciler) streamSignal(ctx context.Context, m *jitsiv1alpha1.Meeting, sig session.Signal, dests []jitsiv1alpha1.DestinationStatus) error {
	sig.Destinations = dests
	return r.decide(ctx, m, events.Decision{Stream: true, Signal: sig})
}
