package render

import (
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

// ComponentFacts is what was observed of one component's pods.
type ComponentFacts struct {
	Desired, Ready, Updated int32
}

// MediaFacts is what is known of one bridge's media address.
type MediaFacts struct {
	Bridge string
	// Address is the advertised address, empty while unknown.
	Address string
	// Reason and Message say why the address is unknown (a condition reason and a sentence).
	Reason, Message string
}

// DeploymentFacts is everything the JitsiDeployment's conditions are derived from.
type DeploymentFacts struct {
	// Components by name (prosody, jicofo, jvb, web).
	Components map[string]ComponentFacts
	// Media has one entry per bridge.
	Media []MediaFacts
	// MissingSecrets lists referenced Secret keys that do not exist ("name/key").
	MissingSecrets []string
	// Web is what is known of the web front end's Ingress; nil without one.
	Web *WebFacts
	// Bridges is the autoscaler's view; nil without jvb.autoscaling.
	Bridges *BridgeFacts
}

// BridgeFacts is what the videobridge autoscaler saw and wants.
type BridgeFacts struct {
	Desired, Max      int
	AvgStress, Target float64
}

// WebFacts is the Ingress's state.
type WebFacts struct {
	// URL is the public URL it serves.
	URL string
	// Address is the Ingress's load balancer address, empty while it has none.
	Address string
	// CertSecret names the certificate's Secret ("" without TLS); CertReady says it holds one.
	CertSecret string
	CertReady  bool
	// Route: an HTTPRoute, not an Ingress. Address is then the Gateway that accepted it, and
	// RouteMessage what the Gateway said last.
	Route        bool
	RouteMessage string
}

// conditionAt makes conditions computed for generation: True when ok, False otherwise.
func conditionAt(generation int64) func(t string, ok bool, reason, msg string) metav1.Condition {
	return func(t string, ok bool, reason, msg string) metav1.Condition {
		s := metav1.ConditionFalse
		if ok {
			s = metav1.ConditionTrue
		}
		return metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: generation}
	}
}

// DeploymentConditions derives every condition of a JitsiDeployment from facts; it never reads
// the cluster. stepErr is the error of the reconcile step that failed, if any.
func DeploymentConditions(generation int64, f DeploymentFacts, stepErr error) []metav1.Condition {
	cond := conditionAt(generation)

	// Media.
	var pending []MediaFacts
	for _, m := range f.Media {
		if m.Address == "" {
			pending = append(pending, m)
		}
	}
	media := cond(jitsiv1alpha1.ConditionMediaReachable, true, jitsiv1alpha1.ReasonAvailable,
		fmt.Sprintf("%d of %d bridges advertise a media address", len(f.Media), len(f.Media)))
	if len(pending) > 0 {
		media = cond(jitsiv1alpha1.ConditionMediaReachable, false, pending[0].Reason,
			fmt.Sprintf("%d of %d bridges have no media address: %s", len(pending), len(f.Media), pending[0].Message))
	}

	// Components.
	names := make([]string, 0, len(f.Components))
	for n := range f.Components {
		names = append(names, n)
	}
	sort.Strings(names)
	var notReady, rolling []string
	for _, n := range names {
		c := f.Components[n]
		if c.Ready < c.Desired {
			notReady = append(notReady, fmt.Sprintf("%s %d/%d ready", n, c.Ready, c.Desired))
		}
		if c.Updated < c.Desired || c.Ready < c.Desired {
			rolling = append(rolling, n)
		}
	}
	progressing := cond(jitsiv1alpha1.ConditionProgressing, false, jitsiv1alpha1.ReasonAvailable, "every component runs the current spec")
	if len(rolling) > 0 {
		progressing = cond(jitsiv1alpha1.ConditionProgressing, true, jitsiv1alpha1.ReasonRollingOut, "rolling out: "+strings.Join(rolling, ", "))
	}

	// Degraded: what needs a person.
	degraded := cond(jitsiv1alpha1.ConditionDegraded, false, jitsiv1alpha1.ReasonAsExpected, "nothing needs attention")
	switch {
	case stepErr != nil:
		degraded = cond(jitsiv1alpha1.ConditionDegraded, true, jitsiv1alpha1.ReasonReconcileError, stepErr.Error())
	case len(f.MissingSecrets) > 0:
		degraded = cond(jitsiv1alpha1.ConditionDegraded, true, jitsiv1alpha1.ReasonSecretNotFound,
			"referenced Secret keys do not exist: "+strings.Join(f.MissingSecrets, ", "))
	case len(pending) > 0 && pending[0].Reason != jitsiv1alpha1.ReasonAddressPending:
		degraded = cond(jitsiv1alpha1.ConditionDegraded, true, pending[0].Reason, media.Message)
	}

	web := webCondition(cond, f.Web)

	// Ready: the summary, naming the first thing in the way.
	var ready metav1.Condition
	switch {
	case stepErr != nil:
		ready = cond(jitsiv1alpha1.ConditionReady, false, jitsiv1alpha1.ReasonReconcileError, stepErr.Error())
	case len(f.MissingSecrets) > 0:
		ready = cond(jitsiv1alpha1.ConditionReady, false, jitsiv1alpha1.ReasonSecretNotFound, degraded.Message)
	case len(pending) > 0:
		ready = cond(jitsiv1alpha1.ConditionReady, false, media.Reason, media.Message)
	case len(notReady) > 0:
		ready = cond(jitsiv1alpha1.ConditionReady, false, jitsiv1alpha1.ReasonComponentsNotReady, "waiting for "+strings.Join(notReady, ", "))
	case web != nil && web.Status != metav1.ConditionTrue:
		ready = cond(jitsiv1alpha1.ConditionReady, false, web.Reason, web.Message)
	default:
		ready = cond(jitsiv1alpha1.ConditionReady, true, jitsiv1alpha1.ReasonAvailable, "the stack serves meetings")
	}
	out := []metav1.Condition{ready, progressing, degraded, media}
	if web != nil {
		out = append(out, *web)
	}
	if b := f.Bridges; b != nil {
		c := cond(jitsiv1alpha1.ConditionBridgesAtCapacity, false, jitsiv1alpha1.ReasonAsExpected,
			fmt.Sprintf("%d bridges wanted (at most %d), average stress %.2f for a target of %.2f", b.Desired, b.Max, b.AvgStress, b.Target))
		if b.Desired >= b.Max && b.AvgStress > b.Target {
			c = cond(jitsiv1alpha1.ConditionBridgesAtCapacity, true, jitsiv1alpha1.ReasonOverloaded,
				fmt.Sprintf("%d bridges (maxReplicas) at an average stress of %.2f, above the target %.2f: raise jvb.autoscaling.maxReplicas", b.Desired, b.AvgStress, b.Target))
		}
		out = append(out, c)
	}
	return out
}

// webCondition is WebReachable for an Ingress, nil without one.
func webCondition(cond func(string, bool, string, string) metav1.Condition, w *WebFacts) *metav1.Condition {
	if w == nil {
		return nil
	}
	var c metav1.Condition
	switch {
	case w.Route && w.Address == "":
		msg := "the Gateway has not accepted the HTTPRoute yet"
		if w.RouteMessage != "" {
			msg += ": " + w.RouteMessage
		}
		c = cond(jitsiv1alpha1.ConditionWebReachable, false, jitsiv1alpha1.ReasonIngressPending, msg)
	case w.Route:
		c = cond(jitsiv1alpha1.ConditionWebReachable, true, jitsiv1alpha1.ReasonAvailable,
			fmt.Sprintf("%s is served through Gateway %s", w.URL, w.Address))
	case w.Address == "":
		c = cond(jitsiv1alpha1.ConditionWebReachable, false, jitsiv1alpha1.ReasonIngressPending,
			"the Ingress has no address yet: is an ingress controller serving its class?")
	case w.CertSecret != "" && !w.CertReady:
		c = cond(jitsiv1alpha1.ConditionWebReachable, false, jitsiv1alpha1.ReasonCertificatePending,
			fmt.Sprintf("the certificate Secret %s does not exist yet (cert-manager writes it once the certificate is issued)", w.CertSecret))
	case w.CertSecret == "":
		c = cond(jitsiv1alpha1.ConditionWebReachable, false, jitsiv1alpha1.ReasonCertificatePending,
			fmt.Sprintf("the Ingress at %s has no TLS: browsers refuse camera and microphone without HTTPS; set web.ingress.tls", w.Address))
	default:
		c = cond(jitsiv1alpha1.ConditionWebReachable, true, jitsiv1alpha1.ReasonAvailable,
			fmt.Sprintf("%s is served at %s with the certificate in Secret %s", w.URL, w.Address, w.CertSecret))
	}
	return &c
}
