package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/destination"
	"github.com/jitsi-operator/jitsi-operator/internal/jibri"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
	"github.com/jitsi-operator/jitsi-operator/internal/scaling"
	"github.com/jitsi-operator/jitsi-operator/internal/schedule"
)

// The pool's recorders are pods of its own; placing SndAloop recorders lists the recorder pods of
// every namespace (a node's loopback cards are shared by all pools), and the nodes. Secrets: the
// pool's own (created and applied), its deployment's events secret, and the upload credentials
// (read by name). Status is merge-patched.
// +kubebuilder:rbac:groups=jitsi.operator.dev,resources=jibripools;jitsideployments;meetings,verbs=list;watch
// +kubebuilder:rbac:groups=jitsi.operator.dev,resources=jibripools/status;meetings/status,verbs=patch
// +kubebuilder:rbac:groups=jitsi.operator.dev,resources=jibripools/finalizers,verbs=update
// +kubebuilder:rbac:groups=core,resources=pods,verbs=get;list;watch;create;delete;patch
// +kubebuilder:rbac:groups=core,resources=secrets,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=core,resources=persistentvolumeclaims,verbs=create
// +kubebuilder:rbac:groups=core,resources=nodes,verbs=list;watch

// JibriPoolReconciler runs a pool's recorders as pods of its own, starts and stops recordings on
// them through Jibri's HTTP API, and scales the pool with the recordings waiting for a recorder.
// It never deletes a busy recorder.
type JibriPoolReconciler struct {
	client.Client
	// Sessions writes what the pool decides about a Meeting's recording and stream (required).
	Sessions SessionWriter
	// APIReader reads the Secrets users name (which the cache does not hold), the loopback cards
	// in use, and a recorder pod whose create failed without saying whether it was stored.
	// Default: the manager's.
	APIReader client.Reader
	// SecretMetadata holds every Secret's metadata: a Secret a user names (the deployment's
	// webhook secret, upload credentials, stream keys) is read again only when its
	// resourceVersion there moves. Default: one of its own, of every namespace.
	SecretMetadata *SecretMetadataCache
	Recorder       recorder.EventRecorder
	// ReceiverURL is the operator's webhook receiver as recorders in namespace ns reach it,
	// without a trailing slash.
	ReceiverURL func(ns string) string
	// ClusterDomain is the cluster's DNS domain, which qualifies every Service name handed to a
	// pod (render.DefaultClusterDomain when empty).
	ClusterDomain string
	// Jibri calls the recorders' HTTP API (port 2222 by default).
	Jibri *jibri.Client
	// Destinations checks the URL a recorder streams to directly (one destination, no relay);
	// nil is destination's safe default.
	Destinations *destination.Policy
	// RelayImage is the RTMP relay's image when a pool does not name one.
	RelayImage string
	// SndAloopLoaderImage loads snd-aloop for privileged SndAloop pools on unprepared nodes
	// (render.DefaultSndAloopLoaderImage when empty).
	SndAloopLoaderImage string
	// OperatorNamespace and OperatorPodLabels say which pods are the operator's (its namespace,
	// render.DefaultOperatorNamespace when empty, and labels its pods carry): only they may
	// reach the recorders' HTTP API. Without labels, every pod of that namespace may.
	OperatorNamespace string
	OperatorPodLabels map[string]string
	// FinalizeGrace is how long a recording's report may take once its recorder is done with
	// the session; after it, a recording without one ended with no media (default 2 minutes).
	FinalizeGrace time.Duration
	// HealthPeriod is how often each recorder's health is polled (default 10 s).
	HealthPeriod time.Duration
	// Workers is the number of pools reconciled at once (default 16: a reconcile mostly waits on
	// the API server and the recorders' health API, and a burst of meetings wakes many pools).
	Workers int
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	// surplus remembers, per pool, since when it has had more recorders than it needs (the
	// scale-down delay runs from there). A restart forgets it, which only delays a scale-down.
	// scaledAt is when a pool added recorders whose status is not written yet (lastScaleTime).
	surplusMu sync.Mutex
	surplus   map[types.NamespacedName]time.Time
	scaledAt  map[types.NamespacedName]time.Time
	// cards serializes loopback card assignment across pools (cards are per node, not per pool).
	cards sync.Mutex
	// userSecrets are the users' Secrets the pool read last.
	userSecrets userSecrets
	// health remembers polls, so that a burst of reconciles polls each recorder once.
	health healthCache
	// stopping holds the sessions whose stopService call is under way.
	stopping sync.Map
	// pendingSince holds when each session a recorder accepted was first seen Pending, for a
	// recorder without its assignment time (assignedAt).
	pendingSince sync.Map
	// expectations are the recorder pods created and deleted that the cache does not show yet;
	// poolStatus and meetingQueued the status writes (the pools', the Meetings' queue marks).
	expectations  podExpectations
	poolStatus    statusWrites[poolWrite]
	meetingQueued statusWrites[struct{}]
}

const (
	indexPoolDeploymentRef = "spec.jitsiDeploymentRef.name"
	indexMeetingPools      = "spec.jibriPoolRefs"
)

// SetupWithManager registers the reconciler: it owns the recorder pods, the pool's Secret and
// NetworkPolicies, and the relay's Deployment, and wakes when a Meeting that names the pool changes (that is
// how demand arrives) and when the pool's JitsiDeployment changes.
func (r *JibriPoolReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Sessions == nil {
		return errors.New("the JibriPool controller needs a writer of Meetings' sessions (Sessions)")
	}
	if r.surplus == nil {
		r.surplus = map[types.NamespacedName]time.Time{}
	}
	if r.scaledAt == nil {
		r.scaledAt = map[types.NamespacedName]time.Time{}
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.SecretMetadata == nil {
		var err error
		if r.SecretMetadata, err = NewSecretMetadataCache(mgr); err != nil {
			return err
		}
	}
	indexer := mgr.GetFieldIndexer()
	if err := indexer.IndexField(context.Background(), &jitsiv1alpha1.JibriPool{}, indexPoolDeploymentRef,
		func(o client.Object) []string {
			return []string{o.(*jitsiv1alpha1.JibriPool).Spec.JitsiDeploymentRef.Name}
		}); err != nil {
		return err
	}
	if err := indexer.IndexField(context.Background(), &jitsiv1alpha1.Meeting{}, indexMeetingPools, poolsOf); err != nil {
		return err
	}
	workers := r.Workers
	if workers <= 0 {
		workers = 16
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&jitsiv1alpha1.JibriPool{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Owns(&corev1.Pod{}).
		Owns(&corev1.Secret{}).
		Owns(&appsv1.Deployment{}).
		Owns(&networkingv1.NetworkPolicy{}).
		Watches(&jitsiv1alpha1.Meeting{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			var reqs []reconcile.Request
			for _, p := range poolsOf(o) {
				reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: p}})
			}
			return reqs
		})).
		Watches(&jitsiv1alpha1.JitsiDeployment{}, handler.EnqueueRequestsFromMapFunc(r.poolsOfDeployment)).
		Complete(r)
}

// poolsOf names the pools a Meeting records or streams with.
func poolsOf(o client.Object) []string {
	m := o.(*jitsiv1alpha1.Meeting)
	var out []string
	if ref := m.Spec.Recording.JibriPoolRef; ref != nil && m.Spec.Recording.Mode != jitsiv1alpha1.RecordingNone {
		out = append(out, ref.Name)
	}
	if ref := m.Spec.Streaming.JibriPoolRef; ref != nil && m.Spec.Streaming.Mode != jitsiv1alpha1.StreamingNone &&
		(len(out) == 0 || out[0] != ref.Name) {
		out = append(out, ref.Name)
	}
	return out
}

func (r *JibriPoolReconciler) poolsOfDeployment(ctx context.Context, o client.Object) []reconcile.Request {
	var list jitsiv1alpha1.JibriPoolList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexPoolDeploymentRef: o.GetName()}); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, p := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: p.Namespace, Name: p.Name}})
	}
	return reqs
}

func (r *JibriPoolReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pool := &jitsiv1alpha1.JibriPool{}
	if err := r.Get(ctx, req.NamespacedName, pool); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !pool.DeletionTimestamp.IsZero() {
		// Owner references remove the recorders and the Secret.
		return ctrl.Result{}, nil
	}
	obs := &poolObservation{now: r.now(), requeue: r.healthPeriod()}
	err := runSteps(ctx, pool, obs,
		step[*jitsiv1alpha1.JibriPool, *poolObservation]{"deployment", r.findDeployment},
		step[*jitsiv1alpha1.JibriPool, *poolObservation]{"config", r.ensureConfig},
		step[*jitsiv1alpha1.JibriPool, *poolObservation]{"relay", r.ensureRelay},
		step[*jitsiv1alpha1.JibriPool, *poolObservation]{"recorders", r.observeRecorders},
		step[*jitsiv1alpha1.JibriPool, *poolObservation]{"sessions", r.ensureSessions},
		step[*jitsiv1alpha1.JibriPool, *poolObservation]{"scale", r.ensureScale},
	)
	if err == nil && obs.created > 0 {
		// Recorders were just asked for. The meetings' queue marks and the status wait for the
		// reconcile that the new pods' watch events bring at once (it counts the pods from this
		// one's record until the cache has them), so that in a burst of demand every pool's
		// recorders are asked for before any of that is written.
		r.noteScaled(req.NamespacedName, obs.now)
		return ctrl.Result{RequeueAfter: obs.requeue, Priority: ptr.To(handler.LowPriority)}, nil
	}
	// Meetings are told that they wait only once the recorders they wait for were asked for
	// (their status writes would delay them), and even when that failed.
	err = errors.Join(err, runSteps(ctx, pool, obs, step[*jitsiv1alpha1.JibriPool, *poolObservation]{"queue", r.markQueued}))
	statusErr := r.writePoolStatus(ctx, pool, obs, err)
	if apierrors.IsConflict(statusErr) {
		return retryOnConflict(ctrl.Result{}, statusErr, err)
	}
	if err = errors.Join(err, statusErr); err != nil || obs.deployment == nil {
		// Woken by the deployment's creation.
		return ctrl.Result{}, err
	}
	// Looking again for time (health polls, a scale-down delay) waits behind demand: a Meeting's
	// change enqueues the pool at the normal priority, ahead of every pool's periodic poll.
	return ctrl.Result{RequeueAfter: obs.requeue, Priority: ptr.To(handler.LowPriority)}, nil
}

// poolObservation is what the steps learn on the way.
type poolObservation struct {
	now        time.Time
	deployment *jitsiv1alpha1.JitsiDeployment
	// recorders are the pool's pods with their states.
	recorders []*recorderObs
	// queue are the meetings waiting for a recorder, oldest first; queued are their demands,
	// which markQueued writes to their statuses.
	queue  []string
	queued []demand
	// decision is the scaling plan of this reconcile.
	decision scaling.Decision
	// meetings are the Meetings that name the pool; scheduled is what the calendar asks of it
	// (spec.prewarm), prewarm whether it asks anything.
	meetings  []jitsiv1alpha1.Meeting
	scheduled schedule.Demand
	prewarm   bool
	// scaled: recorders were added or removed; created is how many were added.
	scaled  bool
	created int
	// unplaced says why wanted SndAloop recorders have no node.
	unplaced string
	// missingSecret says which Secret the pool needs and lacks.
	missingSecret string
	// relayWanted, relayReady and relayMessage are the RTMP relay's state.
	relayWanted, relayReady bool
	relayMessage            string
	// requeue is when to look again (health polls, a pending scale-down).
	requeue time.Duration
}

func (o *poolObservation) requeueWithin(d time.Duration) {
	if d > 0 && d < o.requeue {
		o.requeue = d
	}
}

// findDeployment reads the pool's JitsiDeployment; without it the remaining steps do nothing and
// Ready says so.
func (r *JibriPoolReconciler) findDeployment(ctx context.Context, pool *jitsiv1alpha1.JibriPool, obs *poolObservation) error {
	d := &jitsiv1alpha1.JitsiDeployment{}
	err := r.Get(ctx, types.NamespacedName{Namespace: pool.Namespace, Name: pool.Spec.JitsiDeploymentRef.Name}, d)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	obs.deployment = d
	return nil
}

// ensureConfig keeps what the recorders need before they run: the NetworkPolicy that fences
// their HTTP API (first, so that no recorder is ever unfenced), and the pool's Secret.
func (r *JibriPoolReconciler) ensureConfig(ctx context.Context, pool *jitsiv1alpha1.JibriPool, obs *poolObservation) error {
	if obs.deployment == nil {
		return nil
	}
	policy := render.JibriAPINetworkPolicy(r.renderInput(obs.deployment), pool)
	if _, err := (&applier{Client: r.Client, Recorder: r.Recorder}).apply(ctx, pool, policy); err != nil {
		return err
	}
	return r.ensurePoolSecret(ctx, pool, obs)
}

// renderInput is what the pool's renderers read of deployment d and of the operator.
func (r *JibriPoolReconciler) renderInput(d *jitsiv1alpha1.JitsiDeployment) render.Input {
	return render.Input{
		Deployment:          d,
		Secrets:             render.SecretsFor(d),
		ClusterDomain:       r.ClusterDomain,
		SndAloopLoaderImage: r.SndAloopLoaderImage,
		OperatorNamespace:   r.OperatorNamespace,
		OperatorPodLabels:   r.OperatorPodLabels,
	}
}

// ensurePoolSecret keeps the pool's Secret: the Jibri webhook URL with the pool's token, and the
// finalize script's report URL.
func (r *JibriPoolReconciler) ensurePoolSecret(ctx context.Context, pool *jitsiv1alpha1.JibriPool, obs *poolObservation) error {
	d := obs.deployment
	if d == nil {
		return nil
	}
	key, err := secretValue(ctx, r.secrets(), d.Namespace, render.SecretsFor(d).Webhook)
	if err != nil {
		if apierrors.IsNotFound(err) || errors.Is(err, errMissingKey) {
			return errors.New("the deployment's events secret does not exist yet")
		}
		return err
	}
	receiver := ""
	if r.ReceiverURL != nil {
		receiver = r.ReceiverURL(pool.Namespace)
	}
	secret := render.JibriPoolSecretObject(d, pool, receiver, key)
	if _, err := (&applier{Client: r.Client, Recorder: r.Recorder, APIReader: r.APIReader}).apply(ctx, pool, secret); err != nil {
		return err
	}
	// Uploads need their credentials; recordings still work without (they stay on the volume).
	if u := pool.Spec.Recordings.Upload; u != nil && u.S3 != nil {
		name := u.S3.CredentialsSecretRef.Name
		s := &corev1.Secret{}
		err := r.secrets().Get(ctx, types.NamespacedName{Namespace: pool.Namespace, Name: name}, s)
		switch {
		case apierrors.IsNotFound(err):
			obs.missingSecret = fmt.Sprintf("Secret %s (recordings.upload.s3.credentialsSecretRef) does not exist: recordings stay on the recorders' volumes", name)
		case err != nil:
			return err
		case len(s.Data["AWS_ACCESS_KEY_ID"]) == 0 || len(s.Data["AWS_SECRET_ACCESS_KEY"]) == 0:
			obs.missingSecret = fmt.Sprintf("Secret %s lacks AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY: uploads will fail", name)
		}
	}
	return nil
}

// secrets reads the pool's own Secrets from the cache and those users name from the API server,
// again only when their metadata shows a change.
func (r *JibriPoolReconciler) secrets() secretGetter {
	return r.userSecrets.reader(secretReader{cached: r.Client, uncached: r.APIReader}, r.SecretMetadata)
}

func (r *JibriPoolReconciler) forget(key types.NamespacedName) {
	r.surplusMu.Lock()
	delete(r.surplus, key)
	delete(r.scaledAt, key)
	r.surplusMu.Unlock()
	r.expectations.forget(key)
	poolMetricsDelete(key)
}

// noteScaled remembers that the pool added recorders at t, for the status written later.
func (r *JibriPoolReconciler) noteScaled(key types.NamespacedName, t time.Time) {
	r.surplusMu.Lock()
	defer r.surplusMu.Unlock()
	if r.scaledAt == nil {
		r.scaledAt = map[types.NamespacedName]time.Time{}
	}
	r.scaledAt[key] = t
}

// scaledSince is when the pool added recorders without writing its status since (zero: never).
func (r *JibriPoolReconciler) scaledSince(key types.NamespacedName) time.Time {
	r.surplusMu.Lock()
	defer r.surplusMu.Unlock()
	return r.scaledAt[key]
}

// statusWritten forgets a scale at t once the status carries it.
func (r *JibriPoolReconciler) statusWritten(key types.NamespacedName, t time.Time) {
	r.surplusMu.Lock()
	defer r.surplusMu.Unlock()
	if r.scaledAt[key].Equal(t) {
		delete(r.scaledAt, key)
	}
}

func (r *JibriPoolReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *JibriPoolReconciler) healthPeriod() time.Duration {
	if r.HealthPeriod > 0 {
		return r.HealthPeriod
	}
	return 10 * time.Second
}
