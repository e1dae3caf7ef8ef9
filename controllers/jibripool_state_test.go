package controllers

import (
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/jitsi-operator/jitsi-operator/internal/jibri"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
	"github.com/jitsi-operator/jitsi-operator/internal/scaling"
)

func TestRecorderState(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	pod := func(ready bool, phase corev1.PodPhase, annotations map[string]string) *corev1.Pod {
		status := corev1.ConditionFalse
		if ready {
			status = corev1.ConditionTrue
		}
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: annotations},
			Status: corev1.PodStatus{Phase: phase, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}}}
	}
	answered := func(busy, health string) *poll {
		return &poll{at: t0, health: jibri.Health{BusyStatus: busy, HealthStatus: health}}
	}
	failing := func(since time.Duration) *poll {
		return &poll{at: t0, err: errors.New("connection refused"), failingSince: t0.Add(-since)}
	}
	hookBusy := map[string]string{render.AnnotationJibriBusy: "BUSY", render.AnnotationJibriHealth: "HEALTHY"}
	hookIdle := map[string]string{render.AnnotationJibriBusy: "IDLE", render.AnnotationJibriHealth: "HEALTHY"}
	cases := []struct {
		name string
		pod  *corev1.Pod
		poll *poll
		want scaling.State
	}{
		{"ready and idle", pod(true, corev1.PodRunning, nil), answered("IDLE", "HEALTHY"), scaling.Idle},
		{"idle but not ready yet", pod(false, corev1.PodRunning, nil), answered("IDLE", "HEALTHY"), scaling.Starting},
		{"busy", pod(true, corev1.PodRunning, nil), answered("BUSY", "HEALTHY"), scaling.Busy},
		{"busy and unhealthy stays busy", pod(true, corev1.PodRunning, nil), answered("BUSY", "UNHEALTHY"), scaling.Busy},
		{"idle and unhealthy", pod(true, corev1.PodRunning, nil), answered("IDLE", "UNHEALTHY"), scaling.Unhealthy},
		{"expired", pod(true, corev1.PodRunning, nil), answered("EXPIRED", "HEALTHY"), scaling.Expired},
		{"container exited", pod(false, corev1.PodFailed, hookBusy), nil, scaling.Expired},
		{"unreachable, webhook said busy", pod(true, corev1.PodRunning, hookBusy), failing(time.Hour), scaling.Busy},
		{"unreachable a moment", pod(true, corev1.PodRunning, hookIdle), failing(time.Second), scaling.Starting},
		{"unreachable for long, not replaced for it", pod(true, corev1.PodRunning, hookIdle), failing(2 * time.Hour), scaling.Starting},
		{"not polled, webhook said unhealthy", pod(true, corev1.PodRunning, map[string]string{render.AnnotationJibriHealth: "UNHEALTHY"}), nil, scaling.Unhealthy},
		{"no address yet", pod(false, corev1.PodPending, nil), nil, scaling.Starting},
	}
	for _, tc := range cases {
		if got, _ := recorderState(tc.pod, tc.poll); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}
