package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/jitsi-operator/jitsi-operator/internal/meeting"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// CacheOptions limits the manager's cache, where a kind is everyone's, to the operator's own
// objects: Pods to its recorders and videobridges (the JibriPool controller owns recorder pods;
// the autoscaler reads the bridges' addresses), Secrets to those it creates (each carries
// app.kubernetes.io/managed-by=jitsi-operator). A cluster's other pods and Secrets are none of
// its business: a Secret a user names in a spec (JWT signing secret, TURN credentials, upload
// credentials, stream keys) is read by name from the API server when needed (secretReader), and
// its changes arrive through a SecretMetadataCache, which holds no Secret's data.
//
// Cached objects carry no managed fields: nothing reads them from the cache (apply compares
// fields, and an update without them keeps the server's), and with thousands of Meetings and
// their access Secrets they are a large part of the operator's memory.
//
// A Meeting's access Secret is held without its URLs and tokens (accessSecretTransform): the
// operator writes them and never reads them back, and with thousands of Meetings they are much
// of its memory.
//
// namespaces (--watch-namespaces) limits every kind to those namespaces; none: all of them.
func CacheOptions(namespaces ...string) cache.Options {
	managed, _ := labels.NewRequirement(render.LabelManagedBy, selection.Equals, []string{render.ManagedBy})
	component, _ := labels.NewRequirement(render.LabelComponent, selection.In, []string{render.ComponentJibri, render.ComponentJVB})
	return cache.Options{
		DefaultNamespaces: namespaceConfigs(namespaces),
		DefaultTransform:  cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Pod{}:    {Label: labels.NewSelector().Add(*managed, *component)},
			&corev1.Secret{}: {Label: labels.NewSelector().Add(*managed), Transform: accessSecretTransform},
		},
	}
}

// annotationCachedData is set only in the cache, on an access Secret whose data it dropped: the
// digest of that data (dataDigest), against which apply compares what it would write.
const annotationCachedData = "jitsi.operator.dev/cached-data-sha256"

// accessSecretTransform strips managed fields from a Secret, as the default transform does, and
// drops an access Secret's (LabelMeeting) data but the stream key, which the operator and the
// receiver read back; annotationCachedData keeps the digest of all of it.
func accessSecretTransform(in any) (any, error) {
	s, ok := in.(*corev1.Secret)
	if !ok {
		return cache.TransformStripManagedFields()(in)
	}
	s.ManagedFields = nil
	if s.Labels[LabelMeeting] == "" {
		return s, nil
	}
	// The object is the one just decoded for the cache: changed in place, not copied.
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations[annotationCachedData] = dataDigest(s.Data)
	var kept map[string][]byte
	if k, ok := s.Data[meeting.KeyStreamKey]; ok {
		kept = map[string][]byte{meeting.KeyStreamKey: k}
	}
	s.Data = kept
	return s, nil
}

// dataDigest is the SHA-256 of a Secret's data: each key and value, length-prefixed, in key order.
func dataDigest(data map[string][]byte) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(data)) {
		for _, b := range [][]byte{[]byte(k), data[k]} {
			_ = binary.Write(h, binary.BigEndian, uint32(len(b)))
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// namespaceConfigs is a cache's DefaultNamespaces for namespaces; nil (every namespace) for none.
func namespaceConfigs(namespaces []string) map[string]cache.Config {
	if len(namespaces) == 0 {
		return nil
	}
	out := make(map[string]cache.Config, len(namespaces))
	for _, ns := range namespaces {
		out[ns] = cache.Config{}
	}
	return out
}

// SecretMetadataCache holds the metadata of the Secrets in the watched namespaces that are not
// the operator's own: names, labels and resource versions, never data (annotations and managed
// fields are dropped too: kubectl's last-applied annotation repeats a Secret's data). The
// manager's cache holds the operator's own Secrets (whose changes the controllers watch there);
// this is how a change of a user's Secret still wakes what names it.
type SecretMetadataCache struct {
	cache.Cache
}

// GetCache makes the manager start it with its own caches, before any controller.
func (c *SecretMetadataCache) GetCache() cache.Cache { return c.Cache }

// NewSecretMetadataCache makes a SecretMetadataCache of namespaces (all of them when none; give
// the manager's) and adds it to mgr. One serves every reconciler.
func NewSecretMetadataCache(mgr ctrl.Manager, namespaces ...string) (*SecretMetadataCache, error) {
	notManaged, err := labels.NewRequirement(render.LabelManagedBy, selection.NotEquals, []string{render.ManagedBy})
	if err != nil {
		return nil, err
	}
	c, err := cache.New(mgr.GetConfig(), cache.Options{
		HTTPClient:           mgr.GetHTTPClient(),
		Scheme:               mgr.GetScheme(),
		Mapper:               mgr.GetRESTMapper(),
		DefaultNamespaces:    namespaceConfigs(namespaces),
		DefaultLabelSelector: labels.NewSelector().Add(*notManaged),
		DefaultTransform: func(in any) (any, error) {
			if o, err := meta.Accessor(in); err == nil {
				o.SetAnnotations(nil)
				o.SetManagedFields(nil)
			}
			return in, nil
		},
	})
	if err != nil {
		return nil, err
	}
	sc := &SecretMetadataCache{Cache: c}
	if err := mgr.Add(sc); err != nil {
		return nil, err
	}
	return sc, nil
}

// source is a watch of every Secret's metadata, handled by h.
func (c *SecretMetadataCache) source(h handler.EventHandler) source.Source {
	var secret client.Object = &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}}
	return source.Kind(c.Cache, secret, h)
}

// secretReader reads a Secret from the cache when it is the operator's own (the cache holds
// only those) and otherwise, a Secret a user names, by name from the API server. It never lists.
type secretReader struct {
	cached   client.Reader
	uncached client.Reader
}

func (s secretReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	err := s.cached.Get(ctx, key, obj, opts...)
	if s.uncached == nil || !apierrors.IsNotFound(err) {
		return err
	}
	return s.uncached.Get(ctx, key, obj, opts...)
}
