package render

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// JicofoDeployment runs the conference focus. One replica: two would both claim every room.
func JicofoDeployment(in Input) *appsv1.Deployment {
	d := in.Deployment
	one := int32(1)
	managed := append(xmppEnv(d), authEnv(d)...)
	managed = append(managed,
		secretEnv("JICOFO_AUTH_PASSWORD", selector(in.Secrets.Generated, KeyJicofoPassword)),
		env("JVB_BREWERY_MUC", JVBBreweryMUC),
		// The REST API binds to 127.0.0.1 unless enabled, and /about/health answers 404 unless
		// health checks are on: both are needed for a kubelet probe.
		env("JICOFO_ENABLE_REST", "1"),
		env("JICOFO_ENABLE_HEALTH_CHECKS", "1"),
		// Recording and live streaming through the recorders' brewery; a request waits this long
		// for an idle recorder (the pool adds one when none is).
		env("JIBRI_BREWERY_MUC", JibriBreweryMUC),
		env("JIBRI_PENDING_TIMEOUT", "90"),
	)
	managed = append(managed, recordingEnv(in)...)
	pod := corev1.PodSpec{
		Containers: []corev1.Container{{
			Name:           ComponentJicofo,
			Image:          image(d, ComponentJicofo),
			Env:            withUserEnv(managed, d.Spec.Jicofo.Env),
			Ports:          []corev1.ContainerPort{{Name: "rest", ContainerPort: JicofoRESTPort, Protocol: corev1.ProtocolTCP}},
			ReadinessProbe: httpProbe("/about/health", "rest", 10, 3),
			LivenessProbe:  httpProbe("/about/health", "rest", 30, 5),
			StartupProbe:   httpProbe("/about/health", "rest", 5, 60),
		}},
	}
	placement(&pod, d.Spec.Jicofo.Placement)
	restrictedPod(&pod, d, "/run", "/tmp")
	// One replica: two would both claim every room.
	return componentDeployment(in, ComponentJicofo, Jicofo(d), &one, appsv1.RecreateDeploymentStrategyType, pod)
}

// JicofoService exposes Jicofo's REST API (health, stats) to the operator.
func JicofoService(in Input) *corev1.Service {
	return componentService(in, ComponentJicofo, Jicofo(in.Deployment), corev1.ServicePort{Name: "rest", Port: JicofoRESTPort})
}
