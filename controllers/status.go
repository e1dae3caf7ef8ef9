package controllers

import (
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
