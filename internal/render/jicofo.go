package render

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

// JicofoDeployment runs the conference focus. One replica: two would both claim every room.
func JicofoDeployment(in Input) *appsv1.Deployment {
	d := in.Deployment
	one := int32(1)
	// The REST API (JICOFO_ENABLE_REST, in the contract) binds to 127.0.0.1 unless enabled, and
	// /about/health answers 404 unless health checks are on: both are needed for the probes.
	managed := append(contractEnv(ComponentJicofo), xmppEnv(in)...)
	managed = append(managed, authEnv(d)...)
	managed = append(managed,
		secretEnv("JICOFO_AUTH_PASSWORD", selector(in.Secrets.Generated, KeyJicofoPassword)),
		env("JVB_BREWERY_MUC", JVBBreweryMUC),
		env("JICOFO_ENABLE_HEALTH_CHECKS", "1"),
		// Recording and live streaming through the recorders' brewery. An accepted request waits
		// this long for the recorder to start. jicofo/rootfs/defaults/jicofo.conf pastes the value
		// into HOCON as a duration (pending-timeout = "..."; default "90 seconds"): a bare number
		// is milliseconds, which Jicofo rounds to 0 s and so never times out.
		env("JIBRI_BREWERY_MUC", JibriBreweryMUC),
		env("JIBRI_PENDING_TIMEOUT", JibriPendingTimeout),
	)
	managed = append(managed, recordingEnv(in)...)
	managed = append(managed, jicofoRolesEnv(d)...)
	pod := corev1.PodSpec{
		Containers: []corev1.Container{{
			Name:  ComponentJicofo,
			Image: image(d, ComponentJicofo),
			Env:   withUserEnv(managed, d.Spec.Jicofo.Env),
			Ports: []corev1.ContainerPort{{Name: "rest", ContainerPort: JicofoRESTPort, Protocol: corev1.ProtocolTCP}},
			// /about/health fails hard while no bridge is registered (jicofo
			// JicofoHealthChecker.kt, "No operational bridges"), as while a bridge's load
			// balancer address is pending: it decides readiness only. Liveness and start-up ask
			// whether the REST API answers at all, as jitsi-helm 3.4.0 does (values.yaml,
			// jicofo.livenessProbe: tcpSocket on 8888).
			ReadinessProbe: httpProbe("/about/health", "rest", 10, 3),
			LivenessProbe:  tcpProbe("rest", 30, 5),
			StartupProbe:   tcpProbe("rest", 5, 60),
		}},
	}
	placement(&pod, d.Spec.Jicofo.Placement)
	restrictedPod(&pod, d, ComponentJicofo)
	// One replica: two would both claim every room.
	return componentDeployment(in, ComponentJicofo, Jicofo(d), &one, appsv1.RecreateDeploymentStrategyType, pod)
}

// JibriPendingTimeout is Jicofo's JIBRI_PENDING_TIMEOUT, a HOCON duration with its unit.
const JibriPendingTimeout = "90 seconds"

// jicofoRolesEnv makes moderators come from tokens only (JWT auth; moderatorRolesEnv is
// Prosody's half). Jicofo with authentication on grants owner to every authenticated member
// (AuthenticationRoleManager, jicofo JitsiMeetConferenceImpl.java), and every token holder,
// guests included, is authenticated; with auto-owner on it makes the first member owner
// (AutoOwnerRoleManager). Both off, Prosody's token_affiliation decides alone. Prosody still
// verifies every token; guests (allowGuests) may then open a room before its moderator.
// Source: jicofo/rootfs/defaults/jicofo.conf (JICOFO_ENABLE_AUTH defaults to ENABLE_AUTH;
// ENABLE_AUTO_OWNER sets conference.enable-auto-owner).
func jicofoRolesEnv(d *jitsiv1alpha1.JitsiDeployment) []corev1.EnvVar {
	if d.Spec.Auth.Type != jitsiv1alpha1.AuthJWT {
		return nil
	}
	return []corev1.EnvVar{env("JICOFO_ENABLE_AUTH", "0"), env("ENABLE_AUTO_OWNER", "false")}
}

// JicofoService exposes Jicofo's REST API (health, stats) to the operator.
func JicofoService(in Input) *corev1.Service {
	return componentService(in, ComponentJicofo, Jicofo(in.Deployment), corev1.ServicePort{Name: "rest", Port: JicofoRESTPort})
}
