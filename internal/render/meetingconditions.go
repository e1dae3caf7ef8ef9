package render

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

// MeetingFacts is what a Meeting's AccessIssued and Ready conditions are derived from.
type MeetingFacts struct {
	// Issued: the access Secret SecretName holds Held (e.g. "moderator and guest URLs"), and
	// people join at RoomURL. Otherwise Reason and Message say why not.
	Issued                    bool
	SecretName, Held, RoomURL string
	Reason, Message           string
	// Phase is the meeting's phase; Ended says it is over.
	Phase jitsiv1alpha1.MeetingPhase
	Ended bool
	// Refused are the streaming destinations the policy refuses.
	Refused []RefusedDestination
}

// RefusedDestination is a streaming destination the policy refuses, and why.
type RefusedDestination struct{ Name, Why string }

// MeetingConditions derives a Meeting's AccessIssued and Ready conditions from facts; it never
// reads the cluster. stepErr is the error of the reconcile step that failed, if any.
func MeetingConditions(generation int64, f MeetingFacts, stepErr error) (issued, ready metav1.Condition) {
	at := conditionAt(generation)
	switch {
	case stepErr != nil:
		return at(jitsiv1alpha1.ConditionAccessIssued, false, jitsiv1alpha1.ReasonReconcileError, stepErr.Error()),
			at(jitsiv1alpha1.ConditionReady, false, jitsiv1alpha1.ReasonReconcileError, stepErr.Error())
	case !f.Issued:
		return at(jitsiv1alpha1.ConditionAccessIssued, false, f.Reason, f.Message),
			at(jitsiv1alpha1.ConditionReady, false, f.Reason, f.Message)
	}
	issued = at(jitsiv1alpha1.ConditionAccessIssued, true, jitsiv1alpha1.ReasonIssued, fmt.Sprintf("Secret %s holds the %s", f.SecretName, f.Held))
	switch {
	case f.Ended:
		ready = at(jitsiv1alpha1.ConditionReady, false, jitsiv1alpha1.ReasonEnded, fmt.Sprintf("the meeting is %s", f.Phase))
	case len(f.Refused) == 1:
		ready = at(jitsiv1alpha1.ConditionReady, false, jitsiv1alpha1.ReasonDestinationRefused,
			fmt.Sprintf("people can join at %s, but streaming destination %s is refused: %s", f.RoomURL, f.Refused[0].Name, f.Refused[0].Why))
	case len(f.Refused) > 1:
		parts := make([]string, len(f.Refused))
		for i, d := range f.Refused {
			parts[i] = d.Name + ": " + d.Why
		}
		ready = at(jitsiv1alpha1.ConditionReady, false, jitsiv1alpha1.ReasonDestinationRefused,
			fmt.Sprintf("people can join at %s, but %d streaming destinations are refused: %s", f.RoomURL, len(f.Refused), strings.Join(parts, "; ")))
	default:
		ready = at(jitsiv1alpha1.ConditionReady, true, jitsiv1alpha1.ReasonIssued, "people can join at "+f.RoomURL)
	}
	return issued, ready
}
