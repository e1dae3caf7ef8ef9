package webhook

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/jibri"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

type jibriHealthEvent struct {
	JibriID string `json:"jibriId"`
	Status  *struct {
		BusyStatus string `json:"busyStatus"`
		Health     struct {
			HealthStatus string `json:"healthStatus"`
		} `json:"health"`
	} `json:"status"`
	Session *struct {
		SessionID string `json:"sessionId"`
		Status    string `json:"status"`
		// Failure is set when the session ended with an error (status OFF): Jibri's
		// JibriFailure, a reason (ERROR, BUSY) and the JibriError (scope, detail).
		Failure *struct {
			Reason string `json:"reason"`
			Error  *struct {
				Scope  string `json:"scope"`
				Detail string `json:"detail"`
			} `json:"error"`
		} `json:"failure"`
	} `json:"session"`
}

// jibriStatus takes Jibri's webhook subscriber calls: POST /v1/jibri/pools/<namespace>/<pool>/
// <token>/v1/status (and /v1/session/status). The token is render.JibriWebhookToken of the pool's
// deployment, and jibriId must name a Pod of that pool. Jibri expects exactly 200.
func (s *Server) jibriStatus(w http.ResponseWriter, r *http.Request) {
	result, err := s.handleJibriStatus(w, r)
	s.answer(w, r, "jibri", result, err)
}

func (s *Server) handleJibriStatus(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	// Authenticated from the path alone, before the body is read.
	ns, name := r.PathValue("namespace"), r.PathValue("pool")
	pool := &jitsiv1alpha1.JibriPool{}
	if err := s.Client.Get(r.Context(), types.NamespacedName{Namespace: ns, Name: name}, pool); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, refuse("UnknownPool")
		}
		return nil, err
	}
	_, key, err := s.deploymentSecret(r.Context(), ns, pool.Spec.JitsiDeploymentRef.Name)
	if err != nil {
		return nil, err
	}
	want := render.JibriWebhookToken(key, ns, name)
	if subtle.ConstantTimeCompare([]byte(r.PathValue("token")), []byte(want)) != 1 {
		return nil, refuse("BadToken")
	}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	var e jibriHealthEvent
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, fail(http.StatusBadRequest, "BadJSON", "the body is not Jibri's JSON: %v", err)
	}
	pod := &corev1.Pod{}
	err = s.Client.Get(r.Context(), types.NamespacedName{Namespace: ns, Name: e.JibriID}, pod)
	if apierrors.IsNotFound(err) || err == nil && !recorderOf(pod, name) {
		return nil, fail(http.StatusForbidden, "UnknownRecorder", "jibriId %q is not a recorder of pool %s", e.JibriID, name)
	}
	if err != nil {
		return nil, err
	}
	annotations := map[string]string{}
	switch {
	case e.Status != nil:
		annotations[render.AnnotationJibriBusy] = strings.ToUpper(e.Status.BusyStatus)
		annotations[render.AnnotationJibriHealth] = strings.ToUpper(e.Status.Health.HealthStatus)
	case e.Session != nil:
		annotations[render.AnnotationJibriSession] = e.Session.SessionID + " " + strings.ToUpper(e.Session.Status)
		if f := e.Session.Failure; f != nil {
			why := strings.ToUpper(f.Reason)
			if f.Error != nil && f.Error.Detail != "" {
				why = strings.TrimSpace(why + " " + f.Error.Detail)
			}
			annotations[render.AnnotationJibriFailure] = e.Session.SessionID + " " + jibri.FailureText(why)
		}
	default:
		return nil, fail(http.StatusBadRequest, "NoStatus", "neither status nor session in the body")
	}
	changed := false
	for k, v := range annotations {
		changed = changed || pod.Annotations[k] != v
	}
	if changed {
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
		if err := s.Client.Patch(r.Context(), pod, client.RawPatch(types.MergePatchType, patch)); err != nil {
			return nil, err
		}
	}
	return map[string]any{"applied": true, "changed": changed, "recorder": pod.Name}, nil
}

// recorderOf is whether pod is a recorder the operator runs for pool: the labels the JibriPool
// controller sets, and that the operator's Pod cache selects (a pod read from the API server,
// when the cache has not seen it, must pass the same test).
func recorderOf(pod *corev1.Pod, pool string) bool {
	l := pod.Labels
	return l[render.LabelPool] == pool && l[render.LabelComponent] == render.ComponentJibri && l[render.LabelManagedBy] == render.ManagedBy
}
