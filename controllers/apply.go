package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"

	corev1 "k8s.io/api/core/v1"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
)

// FieldOwner is the server-side apply field manager of everything the operator writes.
const FieldOwner = "jitsi-operator"

// applier is the only write path for child objects.
type applier struct {
	client.Client
	Recorder recorder.EventRecorder
	// APIReader reads from the API server what the cache cannot answer: an object of a kind the
	// cache holds only some of (CacheOptions: labelled Pods and Secrets) that the cache lacks.
	// Without it, applying such an object the cache lacks is an error.
	APIReader client.Reader
}

// AnnotationApplied on a child holds a hash of what the operator last applied to it. A changed
// hash means the desired object changed (a field may have been removed, which the live object
// cannot show); an equal hash and a live object carrying every desired field mean there is
// nothing to write.
const AnnotationApplied = "jitsi.operator.dev/applied"

// apply makes the live object carry every field of desired. It reads the live object from the
// cache, refuses one the owner does not control (an error and a Warning event: a user's object
// of the same name is never taken over), and sends nothing when the live object was applied from
// the same desired object and still carries every field of it (so a steady state makes no
// writes); otherwise it server-side applies desired as FieldOwner, which also drops fields the
// operator set before and no longer wants, and keeps labels and annotations others set. It
// reports whether it wrote.
func (a *applier) apply(ctx context.Context, owner client.Object, desired client.Object) (bool, error) {
	gvk, err := apiutil.GVKForObject(desired, a.Scheme())
	if err != nil {
		return false, err
	}
	want, err := runtime.DefaultUnstructuredConverter.ToUnstructured(desired)
	if err != nil {
		return false, err
	}
	prune(want)
	delete(want, "status")
	hash, err := hashOf(want)
	if err != nil {
		return false, err
	}
	meta, _ := want["metadata"].(map[string]any)
	annotations, _ := meta["annotations"].(map[string]any)
	if annotations == nil {
		annotations = map[string]any{}
		meta["annotations"] = annotations
	}
	annotations[AnnotationApplied] = hash

	why := "created"
	live, err := a.live(ctx, gvk, client.ObjectKeyFromObject(desired))
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return false, err
	default:
		if ref := metav1.GetControllerOf(live); ref == nil || ref.UID != owner.GetUID() {
			a.Recorder.Eventf(owner, nil, "Warning", "ChildConflict", "Apply",
				"%s %s exists and is not controlled by this object; rename or delete it", gvk.Kind, desired.GetName())
			return false, fmt.Errorf("%s %s exists and is not controlled by %s; rename or delete it", gvk.Kind, desired.GetName(), owner.GetName())
		}
		have, err := runtime.DefaultUnstructuredConverter.ToUnstructured(live)
		if err != nil {
			return false, err
		}
		// A typed object from the cache carries no apiVersion and kind; desired may.
		have["apiVersion"], have["kind"] = gvk.GroupVersion().String(), gvk.Kind
		why = difference(have, withoutCachedData(live, desired, want), "")
		if why == "" {
			return false, nil
		}
	}

	u := &unstructured.Unstructured{Object: want}
	u.SetGroupVersionKind(gvk)
	if err := a.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return false, fmt.Errorf("apply %s %s: %w", gvk.Kind, desired.GetName(), err)
	}
	log.FromContext(ctx).V(1).Info("applied", "kind", gvk.Kind, "name", desired.GetName(), "differed", why)
	return true, nil
}

// live reads the object of kind gvk at key, typed, from the manager's cache (the controllers
// watch every kind they apply, so the cache holds them). Of the kinds the cache holds only some
// of, a miss is asked again of the API server: an object of that name without the operator's
// labels is someone else's, to be refused, not taken over. That read happens only before the
// object is created (what the operator applies carries the selectors' labels), or when someone
// took those labels off.
func (a *applier) live(ctx context.Context, gvk schema.GroupVersionKind, key client.ObjectKey) (client.Object, error) {
	o, err := a.Scheme().New(gvk)
	if err != nil {
		return nil, err
	}
	live, ok := o.(client.Object)
	if !ok {
		return nil, fmt.Errorf("%s is not an object", gvk)
	}
	err = a.Get(ctx, key, live)
	if !apierrors.IsNotFound(err) || !partlyCached[reflect.TypeOf(live)] {
		return live, err
	}
	if a.APIReader == nil {
		return nil, fmt.Errorf("%s %s is not in the cache, which holds only some %ss, and there is no API reader to ask", gvk.Kind, key.Name, gvk.Kind)
	}
	return live, a.APIReader.Get(ctx, key, live)
}

// withoutCachedData is want to compare with live: for a Secret whose data the cache dropped
// (accessSecretTransform), want without its data when that data's digest is the one the cache
// kept, and want itself (which then differs at .data) when it is not.
func withoutCachedData(live, desired client.Object, want map[string]any) map[string]any {
	s, ok := desired.(*corev1.Secret)
	digest, cached := live.GetAnnotations()[annotationCachedData]
	if !ok || !cached || dataDigest(s.Data) != digest {
		return want
	}
	out := maps.Clone(want)
	delete(out, "data")
	return out
}

// partlyCached are the kinds the manager's cache holds only some of, by label (CacheOptions): a
// cache miss of one of them does not say that it does not exist.
var partlyCached = func() map[reflect.Type]bool {
	out := map[reflect.Type]bool{}
	for o := range CacheOptions().ByObject {
		out[reflect.TypeOf(o)] = true
	}
	return out
}()

// difference is the path of the first field of want that live does not carry, or "" when live
// carries every field. Maps may hold more keys (defaults, others' fields); lists must have the
// same length and contain want's elements in order, so a removed element is noticed.
func difference(live, want any, path string) string {
	switch w := want.(type) {
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok {
			if len(w) == 0 && live == nil {
				return ""
			}
			return path
		}
		for k, wv := range w {
			lv, present := l[k]
			if !present {
				if isEmpty(wv) {
					continue
				}
				return path + "." + k
			}
			if d := difference(lv, wv, path+"."+k); d != "" {
				return d
			}
		}
		return ""
	case []any:
		l, ok := live.([]any)
		if !ok {
			if len(w) == 0 && live == nil {
				return ""
			}
			return path
		}
		if len(l) != len(w) {
			return path
		}
		for i := range w {
			if d := difference(l[i], w[i], fmt.Sprintf("%s[%d]", path, i)); d != "" {
				return d
			}
		}
		return ""
	default:
		if fmt.Sprint(live) != fmt.Sprint(want) {
			return path
		}
		return ""
	}
}

func isEmpty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(t) == 0
	case []any:
		return len(t) == 0
	}
	return false
}

// prune drops nil values (creationTimestamp: null and the like) that typed objects carry, so
// they are neither compared nor applied.
func prune(m map[string]any) {
	for k, v := range m {
		switch t := v.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			prune(t)
		case []any:
			for _, e := range t {
				if em, ok := e.(map[string]any); ok {
					prune(em)
				}
			}
		}
	}
}

// hashOf is a short hash of an object's desired content (JSON encodes map keys in order).
func hashOf(obj map[string]any) (string, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8]), nil
}

// removeControlled deletes obj's namesake when owner controls it; a missing one, or one that
// someone else controls, is left alone.
func removeControlled(ctx context.Context, c client.Client, owner, obj client.Object) error {
	live := obj.DeepCopyObject().(client.Object)
	err := c.Get(ctx, client.ObjectKeyFromObject(obj), live)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ref := metav1.GetControllerOf(live); ref == nil || ref.UID != owner.GetUID() {
		return nil
	}
	if err := c.Delete(ctx, live); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}
