package controllers

import (
	"context"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/bridgescaling"
	"github.com/jitsi-operator/jitsi-operator/internal/jvb"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// Children are read from the cache (list, watch) and written by apply: a get of the live
// object, then a server-side apply patch, which creates a missing one; delete removes what is no
// longer wanted. Nothing is updated, and status is merge-patched. Secrets: the generated one
// (created once, then patched), and those the spec names, read by name and watched through
// their metadata. Nodes give bridges their addresses and TURN the pod networks.
// +kubebuilder:rbac:groups=jitsi.operator.dev,resources=jitsideployments;jibripools,verbs=list;watch
// +kubebuilder:rbac:groups=jitsi.operator.dev,resources=jitsideployments/status,verbs=patch
// Owner references that block deletion need update on the owner's finalizers where the
// OwnerReferencesPermissionEnforcement admission plugin runs.
// +kubebuilder:rbac:groups=jitsi.operator.dev,resources=jitsideployments/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=core,resources=services;configmaps,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=core,resources=secrets,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=core,resources=pods,verbs=list;watch
// +kubebuilder:rbac:groups=core,resources=nodes,verbs=list;watch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=httproutes,verbs=get;list;watch;create;patch;delete

// JitsiDeploymentReconciler turns a JitsiDeployment into Prosody, Jicofo, the videobridges and
// the web front end, and finds each bridge a media address people can reach.
type JitsiDeploymentReconciler struct {
	client.Client
	// APIReader reads the Secrets the spec names (the cache holds only the operator's own).
	// Default: the manager's.
	APIReader client.Reader
	// SecretMetadata watches every Secret's metadata, so that a change of one the spec names
	// wakes the deployment. Default: one of its own, of every namespace.
	SecretMetadata *SecretMetadataCache
	Recorder       recorder.EventRecorder
	// Workers is the number of JitsiDeployments reconciled at once (default 4).
	Workers int
	// ReceiverURL is the operator's webhook receiver as Prosody in namespace ns reaches it,
	// without a trailing slash.
	ReceiverURL func(ns string) string
	// ClusterDomain is the cluster's DNS domain, which qualifies every Service name handed to a
	// pod (render.DefaultClusterDomain when empty).
	ClusterDomain string

	// Bridges reads the videobridges' stats and drains them (jvb.autoscaling).
	Bridges *jvb.Client
	// StatsPeriod is how often autoscaled bridges' stats are read (default 10 s).
	StatsPeriod time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	// gatewayServed: the cluster serves HTTPRoutes (and the scheme knows them), found at setup.
	gatewayServed bool
	autoscale     autoscaler
	// announced is the address each bridge was last announced with (MediaAddressAssigned), by
	// deployment UID and bridge name.
	announced sync.Map
	// userSecrets are the Secrets the specs name, as last read.
	userSecrets userSecrets
}

func (r *JitsiDeploymentReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// servesHTTPRoutes reports whether the API server serves gateway.networking.k8s.io/v1 HTTPRoutes
// and the manager's scheme knows them.
func servesHTTPRoutes(mgr ctrl.Manager) bool {
	gvk := gatewayv1.SchemeGroupVersion.WithKind("HTTPRoute")
	if !mgr.GetScheme().Recognizes(gvk) {
		return false
	}
	_, err := mgr.GetRESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version)
	return err == nil
}

// SetupWithManager registers the reconciler: it owns every child, and wakes on node changes
// (node addresses are bridge addresses) and on changes of Secrets a deployment references.
func (r *JitsiDeploymentReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &jitsiv1alpha1.JitsiDeployment{}, indexSecretRefs, secretRefsOf); err != nil {
		return err
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
	workers := r.Workers
	if workers <= 0 {
		workers = 4
	}
	r.gatewayServed = servesHTTPRoutes(mgr)
	b := ctrl.NewControllerManagedBy(mgr)
	if r.gatewayServed {
		b = b.Owns(&gatewayv1.HTTPRoute{})
	}
	return b.
		For(&jitsiv1alpha1.JitsiDeployment{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ConfigMap{}).
		Owns(&networkingv1.Ingress{}).
		Owns(&networkingv1.NetworkPolicy{}).
		Owns(&corev1.Secret{}).
		// A Secret the spec names: a user's (its metadata), or one of the operator's (the cache).
		WatchesRawSource(r.SecretMetadata.source(handler.EnqueueRequestsFromMapFunc(r.referencingSecret))).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.referencingSecret)).
		// A pool's existence switches the stack's recording and live streaming on.
		Watches(&jitsiv1alpha1.Meeting{}, handler.EnqueueRequestsFromMapFunc(r.prewarmingDeployment),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&jitsiv1alpha1.JibriPool{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: o.(*jitsiv1alpha1.JibriPool).Spec.JitsiDeploymentRef.Name}}}
		})).
		Watches(&corev1.Node{}, handler.EnqueueRequestsFromMapFunc(r.usingNodes),
			builder.WithPredicates(nodeAddressChanged())).
		Complete(r)
}

const indexSecretRefs = "spec.secretRefs"

func secretRefsOf(o client.Object) []string {
	d := o.(*jitsiv1alpha1.JitsiDeployment)
	var names []string
	if j := d.Spec.Auth.JWT; j != nil && j.SecretRef != nil {
		names = append(names, j.SecretRef.Name)
	}
	if s := d.Spec.Webhooks.SecretRef; s != nil {
		names = append(names, s.Name)
	}
	if t := d.Spec.TURN; t != nil && t.CredentialsSecretRef != nil {
		names = append(names, t.CredentialsSecretRef.Name)
	}
	if t := d.Spec.TURN; t != nil && t.TLSSecretName != "" {
		names = append(names, t.TLSSecretName)
	}
	// The certificate cert-manager writes: its arrival makes the web reachable.
	if s := render.WebTLSSecret(d); s != "" {
		names = append(names, s)
	}
	return names
}

func (r *JitsiDeploymentReconciler) referencingSecret(ctx context.Context, o client.Object) []reconcile.Request {
	var list jitsiv1alpha1.JitsiDeploymentList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexSecretRefs: o.GetName()}); err != nil {
		return nil
	}
	return requestsFor(list.Items)
}

// usingNodes wakes the deployments whose bridge addresses come from nodes.
func (r *JitsiDeploymentReconciler) usingNodes(ctx context.Context, _ client.Object) []reconcile.Request {
	var list jitsiv1alpha1.JitsiDeploymentList
	if err := r.List(ctx, &list); err != nil {
		return nil
	}
	var out []jitsiv1alpha1.JitsiDeployment
	for _, d := range list.Items {
		if d.Spec.JVB.Media.Type != jitsiv1alpha1.MediaLoadBalancer {
			out = append(out, d)
		}
	}
	return requestsFor(out)
}

func requestsFor(items []jitsiv1alpha1.JitsiDeployment) []reconcile.Request {
	reqs := make([]reconcile.Request, 0, len(items))
	for _, d := range items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: d.Namespace, Name: d.Name}})
	}
	return reqs
}

// nodeAddressChanged passes node events that can change a bridge's address or placement:
// heartbeats, which change nothing of that, are dropped.
func nodeAddressChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			a, b := e.ObjectOld.(*corev1.Node), e.ObjectNew.(*corev1.Node)
			return nodeUsable(a) != nodeUsable(b) || nodeAddress(a) != nodeAddress(b) ||
				!labels.Equals(a.Labels, b.Labels)
		},
	}
}

// Reconcile runs the steps in order, stopping at the first that fails, then derives the
// conditions from what the steps observed and writes the status once. A failed step's error
// is in the conditions and is returned, so the request is retried with backoff.
func (r *JitsiDeploymentReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	d := &jitsiv1alpha1.JitsiDeployment{}
	if err := r.Get(ctx, req.NamespacedName, d); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !d.DeletionTimestamp.IsZero() {
		// Owner references remove the children.
		return ctrl.Result{}, nil
	}
	period := r.StatsPeriod
	if period <= 0 {
		period = 10 * time.Second
	}
	obs := &deploymentObservation{
		requeue: period,
		in: render.Input{
			Deployment:    d,
			Secrets:       render.SecretsFor(d),
			ClusterDomain: r.ClusterDomain,
			ConfigHashes:  map[string]string{},
		},
		facts: render.DeploymentFacts{Components: map[string]render.ComponentFacts{}},
	}
	if d.Spec.Webhooks.URL == "" && r.ReceiverURL != nil {
		obs.in.ReceiverURL = r.ReceiverURL(d.Namespace)
	}
	recorders, err := r.recordersOf(ctx, d)
	if err != nil {
		return ctrl.Result{}, err
	}
	obs.in.Recorders = recorders
	err = runSteps(ctx, d, obs,
		step[*jitsiv1alpha1.JitsiDeployment, *deploymentObservation]{"secrets", r.ensureSecrets},
		step[*jitsiv1alpha1.JitsiDeployment, *deploymentObservation]{"turn", r.observeTURN},
		step[*jitsiv1alpha1.JitsiDeployment, *deploymentObservation]{"autoscale", r.autoscaleBridges},
		step[*jitsiv1alpha1.JitsiDeployment, *deploymentObservation]{"media", r.ensureMedia},
		step[*jitsiv1alpha1.JitsiDeployment, *deploymentObservation]{"stack", r.ensureStack},
		step[*jitsiv1alpha1.JitsiDeployment, *deploymentObservation]{"bridges", r.removeExtraBridges},
		step[*jitsiv1alpha1.JitsiDeployment, *deploymentObservation]{"web", r.ensureWeb},
		step[*jitsiv1alpha1.JitsiDeployment, *deploymentObservation]{"turn server", r.ensureTURN},
		step[*jitsiv1alpha1.JitsiDeployment, *deploymentObservation]{"observe", r.observe},
	)
	statusErr := r.writeStatus(ctx, d, obs, err)
	if a := d.Spec.JVB.Autoscaling; a != nil && a.Enabled {
		// The bridges' load is read on a period.
		return retryOnConflict(ctrl.Result{RequeueAfter: obs.requeue}, statusErr, err)
	}
	return retryOnConflict(ctrl.Result{}, statusErr, err)
}

// deploymentObservation is what the steps learn on the way: the renderers' input and the facts
// the conditions are derived from.
type deploymentObservation struct {
	in    render.Input
	facts render.DeploymentFacts
	// deployments are the stack's Deployments as ensureStack rendered and applied them.
	deployments []*appsv1.Deployment
	// bridgeIndices are the bridges wanted (nil: 0..BridgeCount-1); the autoscaler sets them.
	bridgeIndices []int
	// autoscaled and bridgeObs are the autoscaler's decision and what it read.
	autoscaled *bridgescaling.Decision
	bridgeObs  []bridgescaling.Bridge
	// scheduledBridges is the calendar's demand of the bridges (prewarm), nil when off.
	scheduledBridges *jitsiv1alpha1.ScheduledDemand
	// requeue is when to read the bridges' load again.
	requeue time.Duration
}

func (r *JitsiDeploymentReconciler) applier() *applier {
	return &applier{Client: r.Client, Recorder: r.Recorder}
}

// recordersOf says whether JibriPools record and stream d's meetings.
func (r *JitsiDeploymentReconciler) recordersOf(ctx context.Context, d *jitsiv1alpha1.JitsiDeployment) (render.Recorders, error) {
	var pools jitsiv1alpha1.JibriPoolList
	if err := r.List(ctx, &pools, client.InNamespace(d.Namespace)); err != nil {
		return render.Recorders{}, err
	}
	var out render.Recorders
	for _, p := range pools.Items {
		if p.Spec.JitsiDeploymentRef.Name != d.Name || !p.DeletionTimestamp.IsZero() {
			continue
		}
		out.Recording = true
		if p.Spec.Streaming.Enabled == nil || *p.Spec.Streaming.Enabled {
			out.Streaming = true
		}
	}
	return out, nil
}
