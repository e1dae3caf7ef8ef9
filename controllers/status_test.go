package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

func TestSameStatus(t *testing.T) {
	conds := func(s *jitsiv1alpha1.JibriPoolStatus) *[]metav1.Condition { return &s.Conditions }
	ready := metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue, Reason: "RecordersReady", Message: "1 of 1", ObservedGeneration: 2,
		LastTransitionTime: metav1.NewTime(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))}
	a := jitsiv1alpha1.JibriPoolStatus{Busy: 1, Conditions: []metav1.Condition{ready}}
	b := *a.DeepCopy()
	b.Conditions[0].LastTransitionTime = metav1.NewTime(ready.LastTransitionTime.Add(time.Hour))
	if !sameStatus(a, b, conds) {
		t.Error("statuses that differ only in a transition time differ")
	}
	if !a.Conditions[0].LastTransitionTime.Equal(&ready.LastTransitionTime) || b.Conditions[0].LastTransitionTime.Equal(&ready.LastTransitionTime) {
		t.Error("comparing changed the statuses' conditions")
	}
	for name, change := range map[string]func(*jitsiv1alpha1.JibriPoolStatus){
		"a field":                  func(s *jitsiv1alpha1.JibriPoolStatus) { s.Busy = 2 },
		"a condition's message":    func(s *jitsiv1alpha1.JibriPoolStatus) { s.Conditions[0].Message = "0 of 1" },
		"a condition's generation": func(s *jitsiv1alpha1.JibriPoolStatus) { s.Conditions[0].ObservedGeneration = 3 },
		"one more condition": func(s *jitsiv1alpha1.JibriPoolStatus) {
			s.Conditions = append(s.Conditions, metav1.Condition{Type: "RecordersAvailable", Status: metav1.ConditionTrue})
		},
	} {
		c := *a.DeepCopy()
		change(&c)
		if sameStatus(a, c, conds) {
			t.Errorf("statuses that differ in %s are the same", name)
		}
	}
}

func TestStatusChanges(t *testing.T) {
	before := &jitsiv1alpha1.JibriPool{}
	before.Status = jitsiv1alpha1.JibriPoolStatus{Replicas: 2, Busy: 1, Idle: 1, DesiredReplicas: 2,
		Recorders: []jitsiv1alpha1.RecorderStatus{{Name: "rec-0"}, {Name: "rec-1"}}}
	after := before.DeepCopy()
	after.Status.Busy, after.Status.Idle, after.Status.Recorders = 0, 2, nil
	changes, err := statusChanges(before, after)
	if err != nil {
		t.Fatal(err)
	}
	// A count that went to zero is written as 0; a list emptied (omitted from the JSON) is
	// removed; what did not change is not sent.
	want := map[string]any{"busy": float64(0), "idle": float64(2), "recorders": nil}
	if len(changes) != len(want) {
		t.Fatalf("changes %v, want %v", changes, want)
	}
	for k, v := range want {
		if got, ok := changes[k]; !ok || got != v {
			t.Errorf("changes[%q] = %v (present %v), want %v", k, got, ok, v)
		}
	}
	same, err := statusChanges(before, before.DeepCopy())
	if err != nil || len(same) != 0 {
		t.Errorf("no change: %v, %v", same, err)
	}
}
