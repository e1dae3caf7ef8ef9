package controllers

import (
	"context"
	"encoding/json"
	"errors"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// sameStatus reports whether statuses a and b say the same: every field equal, and their
// conditions (conditions points at a status's) compared without their transition times, which
// meta.SetStatusCondition keeps while a condition holds. It is how every controller decides that
// there is nothing to write.
func sameStatus[T any](a, b T, conditions func(*T) *[]metav1.Condition) bool {
	for _, s := range []*T{&a, &b} {
		c := conditions(s)
		*c = withoutTransitionTimes(*c)
	}
	return equality.Semantic.DeepEqual(a, b)
}

func withoutTransitionTimes(conds []metav1.Condition) []metav1.Condition {
	if conds == nil {
		return nil
	}
	out := make([]metav1.Condition, len(conds))
	for i, c := range conds {
		c.LastTransitionTime = metav1.Time{}
		out[i] = c
	}
	return out
}

// writeStatus is every controller's status write: status (the part of the object's status the
// writer owns, zero values included, as merge-patch JSON) in one merge patch guarded by the
// resourceVersion obj was read at. A write computed from an object older than the server's (a
// cache that has not seen the last write yet, or another writer in between) is refused with a
// conflict instead of undoing the newer status; the reconcilers take that as a reason to
// reconcile again from the newer object (retryOnConflict), and announce nothing for it.
func writeStatus(ctx context.Context, c client.Client, obj client.Object, status any) error {
	body, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": obj.GetResourceVersion()},
		"status":   status,
	})
	if err != nil {
		return err
	}
	return c.Status().Patch(ctx, obj, client.RawPatch(types.MergePatchType, body))
}

// statusChanges is the merge patch of a status from before to after: only what changed (a
// field set to its zero value and omitted from the JSON is removed).
func statusChanges(before, after client.Object) (map[string]any, error) {
	data, err := client.MergeFrom(before).Data(after)
	if err != nil {
		return nil, err
	}
	var patch struct {
		Status map[string]any `json:"status"`
	}
	if err := json.Unmarshal(data, &patch); err != nil {
		return nil, err
	}
	return patch.Status, nil
}

// retryOnConflict turns a reconcile whose status write was refused as stale into a prompt
// reconcile of the newer object, with err (the steps' own error) still reported.
func retryOnConflict(res ctrl.Result, statusErr, err error) (ctrl.Result, error) {
	if apierrors.IsConflict(statusErr) {
		return ctrl.Result{Requeue: true}, err
	}
	return res, errors.Join(err, statusErr)
}
