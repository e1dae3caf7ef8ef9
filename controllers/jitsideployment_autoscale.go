package controllers

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/bridgescaling"
	"github.com/jitsi-operator/jitsi-operator/internal/jvb"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// AnnotationDrainingSince marks a bridge's Deployment while the operator drains it (RFC 3339).
const AnnotationDrainingSince = "jitsi.operator.dev/draining-since"

// unreachablePolls is how many stats polls in a row a ready bridge may miss before it counts as
// unhealthy (and is replaced): one missed poll must not cost a bridge and its calls.
const unreachablePolls = 3

var (
	bridgeStress = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "jitsi_operator_jvb_stress",
		Help: "Each videobridge's stress_level, as its stats report it."}, []string{"namespace", "deployment", "bridge"})
	bridgesDesired = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "jitsi_operator_jvb_desired_replicas",
		Help: "Videobridges the autoscaler wants for a JitsiDeployment."}, []string{"namespace", "deployment"})
)

func init() { metrics.Registry.MustRegister(bridgeStress, bridgesDesired) }

// bridgeMemory is what the autoscaler keeps between reconciles of one deployment.
type bridgeMemory struct {
	lowSince time.Time
	missed   map[int]int
}

// autoscaler holds the memory of every deployment.
type autoscaler struct {
	mu   sync.Mutex
	byDJ map[types.NamespacedName]*bridgeMemory
}

func (a *autoscaler) of(key types.NamespacedName) *bridgeMemory {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.byDJ == nil {
		a.byDJ = map[types.NamespacedName]*bridgeMemory{}
	}
	m := a.byDJ[key]
	if m == nil {
		m = &bridgeMemory{missed: map[int]int{}}
		a.byDJ[key] = m
	}
	return m
}

// autoscaleBridges sets which bridges run (obs.bridgeIndices) from their own load when
// jvb.autoscaling is on: it reads each bridge's stats, asks the planner, and puts bridges in
// drain or takes them back. Removed bridges leave obs.bridgeIndices; removeExtraBridges deletes them
// (their preStop hook shuts them down gracefully).
func (r *JitsiDeploymentReconciler) autoscaleBridges(ctx context.Context, d *jitsiv1alpha1.JitsiDeployment, obs *deploymentObservation) error {
	as := d.Spec.JVB.Autoscaling
	if as == nil || !as.Enabled {
		return nil
	}
	if r.Bridges == nil {
		r.Bridges = &jvb.Client{}
	}
	key := types.NamespacedName{Namespace: d.Namespace, Name: d.Name}
	mem := r.autoscale.of(key)
	now := r.now()
	var deps appsv1.DeploymentList
	if err := r.List(ctx, &deps, client.InNamespace(d.Namespace), client.MatchingLabels(render.SelectorLabels(d, render.ComponentJVB))); err != nil {
		return err
	}
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(d.Namespace), client.MatchingLabels(render.SelectorLabels(d, render.ComponentJVB))); err != nil {
		return err
	}
	type live struct {
		dep  *appsv1.Deployment
		addr string
	}
	bridges := map[int]live{}
	for i := range deps.Items {
		dep := &deps.Items[i]
		idx, ok := bridgeIndex(d, dep.Name)
		if !ok {
			continue
		}
		l := live{dep: dep}
		for _, p := range pods.Items {
			if p.Labels[render.LabelBridge] == dep.Name && p.DeletionTimestamp.IsZero() && podReady(&p) && p.Status.PodIP != "" {
				l.addr = p.Status.PodIP
			}
		}
		bridges[idx] = l
	}
	indices := make([]int, 0, len(bridges))
	for i := range bridges {
		indices = append(indices, i)
	}
	slices.Sort(indices)

	// Every bridge's stats at once.
	stats := make(map[int]jvb.Stats, len(indices))
	errs := map[int]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, i := range indices {
		if bridges[i].addr == "" || !bridges[i].dep.DeletionTimestamp.IsZero() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := r.Bridges.Stats(ctx, bridges[i].addr)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[i] = err
				return
			}
			stats[i] = s
		}()
	}
	wg.Wait()

	spec := bridgescaling.Spec{Min: 1, Max: 10, TargetStress: bridgescaling.DefaultTargetStress, ScaleDownDelay: 300 * time.Second,
		DrainTimeout: time.Duration(ptr.Deref(d.Spec.JVB.TerminationGracePeriodSeconds, 3600)) * time.Second}
	if as.MinReplicas != nil {
		spec.Min = int(*as.MinReplicas)
	}
	if as.MaxReplicas != nil {
		spec.Max = int(*as.MaxReplicas)
	}
	if as.TargetStress != nil {
		spec.TargetStress = *as.TargetStress
	}
	if as.ScaleDownDelaySeconds != nil {
		spec.ScaleDownDelay = time.Duration(*as.ScaleDownDelaySeconds) * time.Second
	}
	o := bridgescaling.Observation{Spec: spec, LowSince: mem.lowSince, Now: now}
	sched, schedStatus, prewarm, err := r.scheduledBridges(ctx, d, now)
	if err != nil {
		return err
	}
	if prewarm {
		o.Schedule, obs.scheduledBridges = sched, schedStatus
		if n := schedStatus.NextChange; n != nil && n.Sub(now) > 0 && n.Sub(now) < obs.requeue {
			obs.requeue = n.Sub(now)
		}
	}
	for _, i := range indices {
		l := bridges[i]
		b := bridgescaling.Bridge{Index: i, State: bridgescaling.Starting, Since: l.dep.CreationTimestamp.Time}
		s, ok := stats[i]
		switch {
		case !l.dep.DeletionTimestamp.IsZero():
			b.State = bridgescaling.Gone
		case ok && !s.Healthy:
			b.State = bridgescaling.Unhealthy
		case ok:
			mem.missed[i] = 0
			b.State, b.Stress, b.Participants, b.Conferences = bridgescaling.Ready, s.Stress, s.Participants, s.Conferences
			if s.Drain || l.dep.Annotations[AnnotationDrainingSince] != "" {
				b.State = bridgescaling.Draining
				if t, err := time.Parse(time.RFC3339, l.dep.Annotations[AnnotationDrainingSince]); err == nil {
					b.Since = t
				} else {
					b.Since = now
				}
			}
		case errs[i] != nil:
			mem.missed[i]++
			if mem.missed[i] >= unreachablePolls {
				b.State = bridgescaling.Unhealthy
			}
		}
		o.Bridges = append(o.Bridges, b)
	}
	dec := bridgescaling.Plan(o)
	mem.lowSince = dec.LowSince
	facts := &render.BridgeFacts{Desired: dec.Desired, Max: spec.Max, Target: spec.TargetStress}
	ready := 0
	for _, b := range o.Bridges {
		if b.State == bridgescaling.Ready {
			facts.AvgStress += b.Stress
			ready++
		}
	}
	if ready > 0 {
		facts.AvgStress /= float64(ready)
	}
	obs.facts.Bridges = facts
	obs.autoscaled = &dec
	obs.bridgeObs = o.Bridges
	if dec.RequeueAfter > 0 && dec.RequeueAfter < obs.requeue {
		obs.requeue = dec.RequeueAfter
	}
	bridgesDesired.WithLabelValues(d.Namespace, d.Name).Set(float64(dec.Desired))
	for _, b := range o.Bridges {
		bridgeStress.WithLabelValues(d.Namespace, d.Name, render.JVB(d, b.Index)).Set(b.Stress)
	}

	for _, i := range dec.Drain {
		if err := r.Bridges.SetDrain(ctx, bridges[i].addr, true); err != nil {
			return err
		}
		if err := r.annotateBridge(ctx, bridges[i].dep, now.UTC().Format(time.RFC3339)); err != nil {
			return err
		}
		r.Recorder.Eventf(d, bridges[i].dep, corev1.EventTypeNormal, "BridgeDraining", "Scale",
			"videobridge %s takes no new conferences and goes when its last one ends: %s", bridges[i].dep.Name, dec.Reason)
	}
	for _, i := range dec.Undrain {
		if err := r.Bridges.SetDrain(ctx, bridges[i].addr, false); err != nil {
			return err
		}
		if err := r.annotateBridge(ctx, bridges[i].dep, ""); err != nil {
			return err
		}
		r.Recorder.Eventf(d, bridges[i].dep, corev1.EventTypeNormal, "BridgeTakenBack", "Scale",
			"videobridge %s takes conferences again: %s", bridges[i].dep.Name, dec.Reason)
	}
	for _, i := range dec.Add {
		why := dec.Reason
		if prewarm && len(schedStatus.Meetings) > 0 {
			why += "; scheduled: " + strings.Join(schedStatus.Meetings, ", ")
		}
		r.Recorder.Eventf(d, nil, corev1.EventTypeNormal, "BridgeAdded", "Scale", "adding videobridge %s: %s", render.JVB(d, i), why)
	}
	want := map[int]bool{}
	for _, i := range indices {
		want[i] = bridges[i].dep.DeletionTimestamp.IsZero()
	}
	for _, i := range dec.Remove {
		want[i] = false
		delete(mem.missed, i)
	}
	for _, i := range dec.Add {
		want[i] = true
	}
	obs.bridgeIndices = []int{}
	for i, ok := range want {
		if ok {
			obs.bridgeIndices = append(obs.bridgeIndices, i)
		}
	}
	slices.Sort(obs.bridgeIndices)
	return nil
}

// annotateBridge sets (or, with "", removes) the draining mark on a bridge's Deployment.
func (r *JitsiDeploymentReconciler) annotateBridge(ctx context.Context, dep *appsv1.Deployment, since string) error {
	patch := client.MergeFrom(dep.DeepCopy())
	if dep.Annotations == nil {
		dep.Annotations = map[string]string{}
	}
	if since == "" {
		delete(dep.Annotations, AnnotationDrainingSince)
	} else {
		dep.Annotations[AnnotationDrainingSince] = since
	}
	return r.Patch(ctx, dep, patch)
}

// bridgeIndex is i of a bridge's name "<deployment>-jvb-<i>".
func bridgeIndex(d *jitsiv1alpha1.JitsiDeployment, name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, d.Name+"-jvb-")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(rest)
	return i, err == nil && i >= 0
}
