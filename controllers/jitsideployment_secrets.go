package controllers

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// ensureSecrets creates the generated Secret (or adds keys it lacks) and checks the Secrets the
// spec references. Pods read user Secrets through secretKeyRef, which does not restart them on
// a change, so their values are hashed into the pod templates of the components that read them.
func (r *JitsiDeploymentReconciler) ensureSecrets(ctx context.Context, d *jitsiv1alpha1.JitsiDeployment, obs *deploymentObservation) error {
	if err := r.ensureGeneratedSecret(ctx, d); err != nil {
		return fmt.Errorf("generated Secret: %w", err)
	}
	in := &obs.in
	// Prosody reads these through its environment, which a changed Secret does not reach: their
	// hash in the pod template rolls Prosody when one changes (the generated ones never do).
	var refs []corev1.SecretKeySelector
	for _, ref := range []corev1.SecretKeySelector{in.Secrets.JWT, in.Secrets.Webhook, in.Secrets.TURN} {
		if ref.Name != "" && ref.Name != in.Secrets.Generated {
			refs = append(refs, ref)
		}
	}
	hash, err := r.hashSecrets(ctx, d, obs, refs)
	if err != nil {
		return err
	}
	if hash != "" {
		in.ConfigHashes[render.ComponentProsody] = hash
	}
	return nil
}

// hashSecrets is a hash of the values refs name, "" without refs; a missing Secret or key is
// noted in the facts (once) and left out.
func (r *JitsiDeploymentReconciler) hashSecrets(ctx context.Context, d *jitsiv1alpha1.JitsiDeployment, obs *deploymentObservation,
	refs []corev1.SecretKeySelector) (string, error) {
	if len(refs) == 0 {
		return "", nil
	}
	values := map[string][]byte{}
	for _, ref := range refs {
		v, err := secretValue(ctx, r.secrets(), d.Namespace, ref)
		if err != nil {
			if apierrors.IsNotFound(err) || errors.Is(err, errMissingKey) {
				if missing := ref.Name + "/" + ref.Key; !slices.Contains(obs.facts.MissingSecrets, missing) {
					obs.facts.MissingSecrets = append(obs.facts.MissingSecrets, missing)
				}
				continue
			}
			return "", err
		}
		values[ref.Name+"/"+ref.Key] = v
	}
	return render.Hash(values), nil
}

var errMissingKey = errors.New("key not in secret")

// secretGetter reads one object by name: a client, or a secretReader for Secrets users name.
type secretGetter interface {
	Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error
}

// secretValue reads the key ref names; errMissingKey when the Secret lacks it.
func secretValue(ctx context.Context, r secretGetter, ns string, ref corev1.SecretKeySelector) ([]byte, error) {
	s := &corev1.Secret{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: ns, Name: ref.Name}, s); err != nil {
		return nil, err
	}
	v, ok := s.Data[ref.Key]
	if !ok {
		return nil, errMissingKey
	}
	return v, nil
}

// ensureGeneratedSecret creates the Secret of generated passwords and keys once, and later only
// adds keys that are missing: an existing value is never rewritten, so accounts and tokens keep
// working across upgrades and restarts. Values never leave the Secret.
func (r *JitsiDeploymentReconciler) ensureGeneratedSecret(ctx context.Context, d *jitsiv1alpha1.JitsiDeployment) error {
	name := render.GeneratedSecret(d)
	s := &corev1.Secret{}
	// Through to the API server when the cache lacks it: a Secret of that name without the
	// operator's label is a user's, refused below, not one to create.
	err := r.secrets().Get(ctx, types.NamespacedName{Namespace: d.Namespace, Name: name}, s)
	if apierrors.IsNotFound(err) {
		s = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: d.Namespace, Labels: render.Labels(d, render.ComponentProsody)},
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{},
		}
		if err := ctrl.SetControllerReference(d, s, r.Scheme()); err != nil {
			return err
		}
		for _, k := range render.GeneratedKeys(d) {
			if s.Data[k], err = randomSecret(); err != nil {
				return err
			}
		}
		if err := r.Create(ctx, s); err != nil {
			return err
		}
		r.Recorder.Eventf(d, s, corev1.EventTypeNormal, "SecretGenerated", "Create",
			"generated Secret %s with %d keys", name, len(s.Data))
		return nil
	}
	if err != nil {
		return err
	}
	if ref := metav1.GetControllerOf(s); ref == nil || ref.UID != d.UID {
		r.Recorder.Eventf(d, nil, corev1.EventTypeWarning, "ChildConflict", "Apply",
			"Secret %s exists and is not controlled by this object; rename or delete it", name)
		return fmt.Errorf("Secret %s exists and is not controlled by %s", name, d.Name)
	}
	var added []string
	patch := client.MergeFrom(s.DeepCopy())
	for _, k := range render.GeneratedKeys(d) {
		if _, ok := s.Data[k]; ok {
			continue
		}
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		if s.Data[k], err = randomSecret(); err != nil {
			return err
		}
		added = append(added, k)
	}
	if len(added) == 0 {
		return nil
	}
	if err := r.Patch(ctx, s, patch); err != nil {
		return err
	}
	r.Recorder.Eventf(d, s, corev1.EventTypeNormal, "SecretGenerated", "Update",
		"added keys %s to Secret %s", strings.Join(added, ", "), name)
	return nil
}

// secrets reads the operator's own Secrets from the cache and those users name from the API
// server, again only once they changed.
func (r *JitsiDeploymentReconciler) secrets() secretGetter {
	return r.userSecrets.reader(secretReader{cached: r.Client, uncached: r.APIReader}, r.SecretMetadata)
}

// userSecrets are the users' Secrets a reconciler read from the API server last, by name. While
// the SecretMetadataCache shows a Secret at the resourceVersion read, it has not changed, and is
// not read again: a reconcile at rest reads nothing from the API server. The values stay in
// memory while they are named (the receiver keeps users' Secrets for a while too).
type userSecrets struct {
	mu   sync.Mutex
	last map[client.ObjectKey]*corev1.Secret
}

// reader is r answering users' Secrets from u while metadata shows them unchanged; r itself
// without metadata.
func (u *userSecrets) reader(r secretReader, metadata *SecretMetadataCache) secretGetter {
	if metadata == nil || r.uncached == nil {
		return r
	}
	return userSecretReader{secretReader: r, metadata: metadata, known: u}
}

type userSecretReader struct {
	secretReader
	metadata *SecretMetadataCache
	known    *userSecrets
}

func (r userSecretReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return r.secretReader.Get(ctx, key, obj, opts...)
	}
	if err := r.cached.Get(ctx, key, s, opts...); !apierrors.IsNotFound(err) {
		return err
	}
	m := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}}
	if r.metadata.Get(ctx, key, m) == nil && r.known.copyIfAt(key, m.ResourceVersion, s) {
		return nil
	}
	err := r.uncached.Get(ctx, key, s, opts...)
	r.known.remember(key, s, err)
	return err
}

// copyIfAt copies the Secret read last at key into s when it was at resourceVersion rv.
func (u *userSecrets) copyIfAt(key client.ObjectKey, rv string, s *corev1.Secret) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	last := u.last[key]
	if last == nil || rv == "" || last.ResourceVersion != rv {
		return false
	}
	last.DeepCopyInto(s)
	return true
}

// remember keeps s as read at key (err nil), or forgets key.
func (u *userSecrets) remember(key client.ObjectKey, s *corev1.Secret, err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err != nil {
		delete(u.last, key)
		return
	}
	if u.last == nil {
		u.last = map[client.ObjectKey]*corev1.Secret{}
	}
	u.last[key] = s.DeepCopy()
}

func randomSecret() ([]byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return []byte(base64.RawURLEncoding.EncodeToString(b)), nil
}
