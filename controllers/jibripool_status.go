package controllers

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
	"github.com/jitsi-operator/jitsi-operator/internal/scaling"
)

// The pool's figures as Prometheus gauges, for people who scale with HPA or KEDA instead.
var poolGauges = map[string]*prometheus.GaugeVec{}

func init() {
	for name, help := range map[string]string{
		"queue_depth":      "Recordings waiting for a recorder of the pool.",
		"busy":             "Recorders of the pool recording, streaming or finalizing.",
		"idle":             "Recorders of the pool ready for a new recording.",
		"desired_replicas": "Recorders the pool is scaling to (busy + queued + minIdle, within min and max).",
		"replicas":         "Recorder pods of the pool.",
	} {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "jitsi_operator_jibripool_" + name, Help: help}, []string{"namespace", "pool"})
		poolGauges[name] = g
		metrics.Registry.MustRegister(g)
	}
}

func poolMetricsDelete(key types.NamespacedName) {
	for _, g := range poolGauges {
		g.DeleteLabelValues(key.Namespace, key.Name)
	}
}

// poolWrite is a status the pool controller wrote and the resourceVersion the write made.
type poolWrite struct {
	status          jitsiv1alpha1.JibriPoolStatus
	resourceVersion string
}

// writePoolStatus writes what the reconcile observed and decided, once, and only when it changed
// (from what the pool's last write stored, when the cache does not show that write yet).
func (r *JibriPoolReconciler) writePoolStatus(ctx context.Context, pool *jitsiv1alpha1.JibriPool, obs *poolObservation, stepErr error) error {
	// The status is compared with, and written over, the last one written when the cache does not
	// show that write yet; the write is then guarded by the resourceVersion that write made.
	prev, lock := pool.Status, pool.ResourceVersion
	if written, ok := r.poolStatus.pending(pool.UID, pool.ResourceVersion); ok {
		prev, lock = written.status, written.resourceVersion
	}
	st := jitsiv1alpha1.JibriPoolStatus{ObservedGeneration: pool.Generation, LastScaleTime: prev.LastScaleTime,
		Conditions: append([]metav1.Condition(nil), prev.Conditions...)}
	facts := render.PoolFacts{DeploymentFound: obs.deployment != nil, Unplaced: obs.unplaced, MissingSecret: obs.missingSecret}
	if obs.relayWanted && !obs.relayReady {
		facts.RelayNotReady = obs.relayMessage
	}
	for _, o := range obs.recorders {
		if o.terminating() {
			continue
		}
		st.Replicas++
		if podReady(o.pod) {
			st.ReadyReplicas++
		}
		switch o.state {
		case scaling.Busy:
			st.Busy++
		case scaling.Idle:
			st.Idle++
		}
		if len(st.Recorders) < 200 {
			rs := jitsiv1alpha1.RecorderStatus{Name: o.pod.Name, State: jitsiv1alpha1.RecorderState(o.state)}
			was := previousRecorder(prev.Recorders, o.pod.Name)
			if o.unreachable != "" {
				rs.State = jitsiv1alpha1.RecorderUnknown
				facts.Unknown++
				if was == nil || was.State != jitsiv1alpha1.RecorderUnknown {
					r.Recorder.Eventf(pool, o.pod, corev1.EventTypeWarning, "RecorderUnreachable", "Observe",
						"recorder %s: %s (a NetworkPolicy between the operator and port %d?)", o.pod.Name, o.unreachable, render.JibriAPIPort)
				}
			}
			if o.state == scaling.Busy {
				rs.Meeting = o.meeting
			}
			// since stays while the state does.
			rs.Since = &metav1.Time{Time: obs.now}
			if was != nil && was.State == rs.State && was.Since != nil {
				rs.Since = was.Since
			}
			st.Recorders = append(st.Recorders, rs)
		}
	}
	st.QueueDepth = int32(len(obs.queue))
	st.DesiredReplicas = int32(obs.decision.Desired)
	key := client.ObjectKeyFromObject(pool)
	scaled := r.scaledSince(key)
	if obs.scaled {
		scaled = obs.now
	}
	if !scaled.IsZero() {
		st.LastScaleTime = &metav1.Time{Time: scaled}
	}
	if obs.prewarm {
		st.Scheduled = scheduledStatus(obs.scheduled, len(obs.scheduled.Meetings))
	}
	facts.Replicas, facts.Ready, facts.Busy, facts.Idle = st.Replicas, st.ReadyReplicas, st.Busy, st.Idle
	facts.Queue, facts.Desired, facts.MaxReplicas = st.QueueDepth, st.DesiredReplicas, int32(specOf(pool).max)
	for _, c := range render.PoolConditions(pool.Generation, facts, stepErr) {
		meta.SetStatusCondition(&st.Conditions, c)
	}

	labels := []string{pool.Namespace, pool.Name}
	poolGauges["queue_depth"].WithLabelValues(labels...).Set(float64(st.QueueDepth))
	poolGauges["busy"].WithLabelValues(labels...).Set(float64(st.Busy))
	poolGauges["idle"].WithLabelValues(labels...).Set(float64(st.Idle))
	poolGauges["desired_replicas"].WithLabelValues(labels...).Set(float64(st.DesiredReplicas))
	poolGauges["replicas"].WithLabelValues(labels...).Set(float64(st.Replicas))

	if sameStatus(prev, st, func(s *jitsiv1alpha1.JibriPoolStatus) *[]metav1.Condition { return &s.Conditions }) {
		r.statusWritten(key, scaled)
		return nil
	}
	before := pool.DeepCopy()
	before.Status = prev
	pool.Status = st
	changes, err := statusChanges(before, pool)
	if err != nil {
		return err
	}
	base := pool.ResourceVersion
	pool.ResourceVersion = lock
	if err := writeStatus(ctx, r.Client, pool, changes); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	r.poolStatus.wrote(pool.UID, base, poolWrite{st, pool.ResourceVersion}, obs.now)
	r.statusWritten(key, scaled)
	return nil
}

// previousRecorder is recorder name as the last status listed it, nil when it did not.
func previousRecorder(previous []jitsiv1alpha1.RecorderStatus, name string) *jitsiv1alpha1.RecorderStatus {
	for i := range previous {
		if previous[i].Name == name {
			return &previous[i]
		}
	}
	return nil
}
