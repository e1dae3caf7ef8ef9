package render

import (
	"errors"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

func TestMeetingConditions(t *testing.T) {
	issued := MeetingFacts{Issued: true, SecretName: "standup-access", Held: "moderator and guest URLs",
		RoomURL: "https://meet.example.com/standup", Phase: jitsiv1alpha1.MeetingInProgress}
	for _, c := range []struct {
		name          string
		facts         MeetingFacts
		err           error
		issued, ready metav1.ConditionStatus
		reason, msg   string
	}{
		{"issued", issued, nil, metav1.ConditionTrue, metav1.ConditionTrue, jitsiv1alpha1.ReasonIssued,
			"people can join at https://meet.example.com/standup"},
		{"not issued", MeetingFacts{Reason: jitsiv1alpha1.ReasonSecretNotFound, Message: "no signing secret"}, nil,
			metav1.ConditionFalse, metav1.ConditionFalse, jitsiv1alpha1.ReasonSecretNotFound, "no signing secret"},
		{"a step failed", issued, errors.New("the API server is gone"), metav1.ConditionFalse, metav1.ConditionFalse,
			jitsiv1alpha1.ReasonReconcileError, "the API server is gone"},
		{"ended", func() MeetingFacts { f := issued; f.Ended, f.Phase = true, jitsiv1alpha1.MeetingCompleted; return f }(), nil,
			metav1.ConditionTrue, metav1.ConditionFalse, jitsiv1alpha1.ReasonEnded, "the meeting is Completed"},
		{"a refused destination", func() MeetingFacts {
			f := issued
			f.Refused = []RefusedDestination{{Name: "youtube", Why: "a private address"}}
			return f
		}(), nil, metav1.ConditionTrue, metav1.ConditionFalse, jitsiv1alpha1.ReasonDestinationRefused,
			"people can join at https://meet.example.com/standup, but streaming destination youtube is refused: a private address"},
		{"two refused", func() MeetingFacts {
			f := issued
			f.Refused = []RefusedDestination{{Name: "a", Why: "x"}, {Name: "b", Why: "y"}}
			return f
		}(), nil, metav1.ConditionTrue, metav1.ConditionFalse, jitsiv1alpha1.ReasonDestinationRefused,
			"people can join at https://meet.example.com/standup, but 2 streaming destinations are refused: a: x; b: y"},
	} {
		i, r := MeetingConditions(7, c.facts, c.err)
		if i.Status != c.issued || r.Status != c.ready || r.Reason != c.reason || r.Message != c.msg ||
			i.ObservedGeneration != 7 || r.ObservedGeneration != 7 {
			t.Errorf("%s: issued %+v\nready %+v", c.name, i, r)
		}
	}
}
