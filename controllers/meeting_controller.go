package controllers

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/destination"
	"github.com/jitsi-operator/jitsi-operator/internal/meeting"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// The access Secret is applied (get, server-side apply patch, create when missing); the JWT
// signing secret a deployment names is read by name and watched through its metadata; status is
// merge-patched.
// +kubebuilder:rbac:groups=jitsi.operator.dev,resources=meetings;jitsideployments,verbs=list;watch
// +kubebuilder:rbac:groups=jitsi.operator.dev,resources=meetings/status,verbs=patch
// +kubebuilder:rbac:groups=jitsi.operator.dev,resources=meetings/finalizers,verbs=update
// +kubebuilder:rbac:groups=core,resources=secrets,verbs=get;list;watch;create;patch

// MeetingReconciler issues a Meeting's access (room URL, tokens) and keeps its phase. What
// happens in the room (participants, recording) is written by the webhook receiver.
type MeetingReconciler struct {
	client.Client
	// APIReader reads the JWT signing secret a deployment names (the cache holds only the
	// operator's own Secrets), and an access Secret the cache lacks (is it a user's?). Default:
	// the manager's.
	APIReader client.Reader
	// SecretMetadata watches every Secret's metadata, so that a rotated signing secret re-issues
	// the tokens. Default: one of its own, of every namespace.
	SecretMetadata *SecretMetadataCache
	Recorder       recorder.EventRecorder
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Destinations decides which streaming destinations are accepted (nil: the safe default,
	// which knows no cluster networks).
	Destinations *destination.Policy

	// userSecrets are the signing secrets the deployments name, as last read.
	userSecrets userSecrets
}

const indexDeploymentRef = "spec.jitsiDeploymentRef.name"

// SetupWithManager registers the reconciler: it owns the access Secret and wakes when the
// referenced JitsiDeployment changes (its domain, its auth, its existence).
func (r *MeetingReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.SecretMetadata == nil {
		var err error
		if r.SecretMetadata, err = NewSecretMetadataCache(mgr); err != nil {
			return err
		}
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &jitsiv1alpha1.Meeting{}, indexDeploymentRef,
		func(o client.Object) []string {
			return []string{o.(*jitsiv1alpha1.Meeting).Spec.JitsiDeploymentRef.Name}
		}); err != nil {
		return err
	}
	if err := IndexMeetingRooms(context.Background(), mgr.GetFieldIndexer()); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&jitsiv1alpha1.Meeting{}).
		Owns(&corev1.Secret{}).
		Watches(&jitsiv1alpha1.Meeting{}, handler.EnqueueRequestsFromMapFunc(r.sameRoom)).
		Watches(&jitsiv1alpha1.JitsiDeployment{}, handler.EnqueueRequestsFromMapFunc(r.meetingsOf)).
		// A signing secret is the user's (its metadata) or the deployment's generated one (the cache).
		WatchesRawSource(r.SecretMetadata.source(handler.EnqueueRequestsFromMapFunc(r.meetingsSignedWith))).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.meetingsSignedWith)).
		Complete(r)
}

func (r *MeetingReconciler) meetingsOf(ctx context.Context, o client.Object) []reconcile.Request {
	var list jitsiv1alpha1.MeetingList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexDeploymentRef: o.GetName()}); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, m := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: m.Namespace, Name: m.Name}})
	}
	return reqs
}

// meetingsSignedWith wakes the meetings whose tokens are signed with secret (a rotated JWT
// secret re-issues them).
func (r *MeetingReconciler) meetingsSignedWith(ctx context.Context, secret client.Object) []reconcile.Request {
	var list jitsiv1alpha1.JitsiDeploymentList
	if err := r.List(ctx, &list, client.InNamespace(secret.GetNamespace())); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		if d := &list.Items[i]; d.Spec.Auth.Type == jitsiv1alpha1.AuthJWT && render.SecretsFor(d).JWT.Name == secret.GetName() {
			reqs = append(reqs, r.meetingsOf(ctx, d)...)
		}
	}
	return reqs
}

// meetingObservation is what the steps learn: the access issued and why it could not be.
type meetingObservation struct {
	now     time.Time
	access  *meeting.Access
	reason  string // a condition reason when access could not be issued
	message string
	requeue time.Time
	// refusedDestinations are the streaming destinations the policy refuses (checkDestinations).
	refusedDestinations []refusedDestination
}

// Reconcile issues the access Secret, derives the phase and writes the status once.
func (r *MeetingReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	m := &jitsiv1alpha1.Meeting{}
	if err := r.Get(ctx, req.NamespacedName, m); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !m.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	now := time.Now()
	if r.Now != nil {
		now = r.Now()
	}
	obs := &meetingObservation{now: now}
	err := runSteps(ctx, m, obs, step[*jitsiv1alpha1.Meeting, *meetingObservation]{"access", r.ensureAccess},
		step[*jitsiv1alpha1.Meeting, *meetingObservation]{"destinations", r.checkDestinations})
	statusErr := r.writeMeetingStatus(ctx, m, obs, err)
	res := ctrl.Result{}
	if !obs.requeue.IsZero() {
		res.RequeueAfter = max(obs.requeue.Sub(now), time.Second)
	}
	return retryOnConflict(res, statusErr, err)
}

// ensureAccess renders the room URL and tokens and applies the access Secret. A missing
// deployment or signing secret is reported in the conditions, not returned as an error: the
// watches wake the meeting when they appear.
func (r *MeetingReconciler) ensureAccess(ctx context.Context, m *jitsiv1alpha1.Meeting, obs *meetingObservation) error {
	d := &jitsiv1alpha1.JitsiDeployment{}
	err := r.Get(ctx, types.NamespacedName{Namespace: m.Namespace, Name: m.Spec.JitsiDeploymentRef.Name}, d)
	if apierrors.IsNotFound(err) {
		obs.reason = jitsiv1alpha1.ReasonDeploymentNotFound
		obs.message = fmt.Sprintf("JitsiDeployment %s does not exist in namespace %s", m.Spec.JitsiDeploymentRef.Name, m.Namespace)
		return nil
	}
	if err != nil {
		return err
	}
	var iss *meeting.Issuer
	if d.Spec.Auth.Type == jitsiv1alpha1.AuthJWT {
		ref := render.SecretsFor(d).JWT
		key, err := secretValue(ctx, r.userSecrets.reader(secretReader{cached: r.Client, uncached: r.APIReader}, r.SecretMetadata), m.Namespace, ref)
		if apierrors.IsNotFound(err) || errors.Is(err, errMissingKey) || (err == nil && len(key) == 0) {
			obs.reason = jitsiv1alpha1.ReasonSecretNotFound
			obs.message = fmt.Sprintf("the JWT signing secret %s/%s of JitsiDeployment %s does not exist yet", ref.Name, ref.Key, d.Name)
			return nil
		}
		if err != nil {
			return err
		}
		appID, issuer, audience := render.JWTSettings(d)
		iss = &meeting.Issuer{AppID: appID, Issuer: issuer, Audience: audience, XMPPDomain: render.XMPPDomain, Secret: key}
	}
	access, err := meeting.Issue(m, render.PublicURL(d), iss, obs.now)
	if err != nil {
		return err
	}
	obs.access = &access
	obs.requeue = access.ReissueAt

	secret := &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      AccessSecretName(m),
			Namespace: m.Namespace,
			Labels: map[string]string{
				render.LabelName:      render.AppName,
				render.LabelInstance:  d.Name,
				render.LabelManagedBy: render.ManagedBy,
				LabelMeeting:          m.Name,
			},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{
			meeting.KeyModeratorURL:   []byte(access.ModeratorURL),
			meeting.KeyModeratorToken: []byte(access.ModeratorToken),
		},
	}
	if access.GuestURL != "" {
		// Not for a Private meeting, which admits only its invitees.
		secret.Data[meeting.KeyGuestURL] = []byte(access.GuestURL)
		secret.Data[meeting.KeyGuestToken] = []byte(access.GuestToken)
	}
	if m.Spec.Streaming.Mode != "" && m.Spec.Streaming.Mode != jitsiv1alpha1.StreamingNone {
		key, err := r.streamKey(ctx, m)
		if err != nil {
			return err
		}
		secret.Data[meeting.KeyStreamKey] = []byte(key)
	}
	for _, inv := range access.Invitations {
		secret.Data[inv.Key+".url"] = []byte(inv.URL)
		secret.Data[inv.Key+".token"] = []byte(inv.Token)
	}
	if err := ctrl.SetControllerReference(m, secret, r.Scheme()); err != nil {
		return err
	}
	wrote, err := r.applier().apply(ctx, m, secret)
	if err != nil {
		return err
	}
	if wrote {
		r.Recorder.Eventf(m, nil, corev1.EventTypeNormal, "AccessIssued", "Issue",
			"Secret %s holds the %s, valid until %s", secret.Name, accessHeld(m), access.Expires.UTC().Format(time.RFC3339))
	}
	return nil
}

// streamKey is the Meeting's RTMP stream name: generated once, then kept in the access Secret.
// It is "<namespace>.<meeting>.<random>", so the receiver finds the Meeting and then compares the
// whole key.
func (r *MeetingReconciler) streamKey(ctx context.Context, m *jitsiv1alpha1.Meeting) (string, error) {
	existing := &corev1.Secret{}
	err := r.Get(ctx, types.NamespacedName{Namespace: m.Namespace, Name: AccessSecretName(m)}, existing)
	if err != nil && !apierrors.IsNotFound(err) {
		return "", err
	}
	if k := string(existing.Data[meeting.KeyStreamKey]); k != "" {
		return k, nil
	}
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return m.Namespace + "." + m.Name + "." + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)), nil
}

func (r *MeetingReconciler) applier() *applier {
	return &applier{Client: r.Client, Recorder: r.Recorder, APIReader: r.APIReader}
}

// accessHeld says what m's access Secret holds.
func accessHeld(m *jitsiv1alpha1.Meeting) string {
	if m.Spec.Access == jitsiv1alpha1.AccessPrivate {
		return "moderator URL and each invitee's (a Private meeting has no guest URL)"
	}
	return "moderator and guest URLs"
}

// LabelMeeting on a Meeting's access Secret names the Meeting.
const LabelMeeting = "jitsi.operator.dev/meeting"

// meetingOwnStatus is the part of a Meeting's status the Meeting controller writes.
type meetingOwnStatus struct {
	Phase                     jitsiv1alpha1.MeetingPhase
	RoomURL, AccessSecretName string
	ObservedGeneration        int64
	Conditions                []metav1.Condition
}

// AccessSecretName names the Secret of a Meeting's URLs and tokens.
func AccessSecretName(m *jitsiv1alpha1.Meeting) string { return m.Name + "-access" }

// writeMeetingStatus writes the fields the controller owns (phase, URL, access Secret,
// conditions) in one merge patch, and only when they changed. The fields the receiver writes
// (participants, recording, startedAt, endedAt) are not in the patch, so neither writer undoes
// the other.
func (r *MeetingReconciler) writeMeetingStatus(ctx context.Context, m *jitsiv1alpha1.Meeting, obs *meetingObservation, stepErr error) error {
	phase, next := meeting.Phase(m, obs.now)
	if !next.IsZero() && (obs.requeue.IsZero() || next.Before(obs.requeue)) {
		obs.requeue = next
	}
	conds := append([]metav1.Condition(nil), m.Status.Conditions...)
	roomURL, secretName := m.Status.RoomURL, m.Status.AccessSecretName
	facts := render.MeetingFacts{Reason: obs.reason, Message: obs.message, Phase: phase, Ended: meeting.Ended(phase)}
	if obs.access != nil && stepErr == nil {
		roomURL, secretName = obs.access.RoomURL, AccessSecretName(m)
		facts.Issued, facts.SecretName, facts.Held, facts.RoomURL = true, secretName, accessHeld(m), roomURL
		for _, d := range obs.refusedDestinations {
			facts.Refused = append(facts.Refused, render.RefusedDestination{Name: d.name, Why: d.why})
		}
	}
	issued, ready := render.MeetingConditions(m.Generation, facts, stepErr)
	meta.SetStatusCondition(&conds, issued)
	r.announceRefused(m, ready, obs)
	meta.SetStatusCondition(&conds, ready)
	room, err := r.roomCondition(ctx, m)
	if err != nil {
		return fmt.Errorf("room: %w", err)
	}
	meta.SetStatusCondition(&conds, room)

	// Only the controller's part of the status is compared (the rest, participants included, is
	// the receiver's and the pool's, and every receiver write wakes this reconcile).
	have := meetingOwnStatus{m.Status.Phase, m.Status.RoomURL, m.Status.AccessSecretName, m.Status.ObservedGeneration, m.Status.Conditions}
	want := meetingOwnStatus{phase, roomURL, secretName, m.Generation, conds}
	if sameStatus(have, want, func(s *meetingOwnStatus) *[]metav1.Condition { return &s.Conditions }) {
		return nil
	}
	before := m.Status.Phase
	roomBefore := meta.FindStatusCondition(m.Status.Conditions, jitsiv1alpha1.ConditionRoomConflict).DeepCopy()
	if err := writeStatus(ctx, r.Client, m, map[string]any{
		"phase":              phase,
		"roomURL":            roomURL,
		"accessSecretName":   secretName,
		"observedGeneration": m.Generation,
		"conditions":         conds,
	}); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	r.announceRoom(m, roomBefore, room)
	if before != phase {
		r.Recorder.Eventf(m, nil, corev1.EventTypeNormal, "Phase"+string(phase), "Reconcile", "the meeting is %s", phase)
	}
	return nil
}
