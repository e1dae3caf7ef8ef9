package render

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// WebDeployment runs the web front end: the Jitsi Meet app, and the proxy to Prosody's BOSH
// and websocket. TLS ends in front of it (an Ingress), so it serves plain HTTP on 8000.
func WebDeployment(in Input) *appsv1.Deployment {
	d := in.Deployment
	// DISABLE_HTTPS (in the contract): TLS ends at the Ingress.
	managed := append(contractEnv(ComponentWeb), xmppEnv(in)...)
	managed = append(managed, authEnv(d)...)
	managed = append(managed,
		env("XMPP_BOSH_URL_BASE", fmt.Sprintf("http://%s:%d", XMPPServer(in), ProsodyHTTPPort)),
		env("ENABLE_HTTP_REDIRECT", "0"),
		env("ENABLE_LETSENCRYPT", "0"),
		env("ENABLE_XMPP_WEBSOCKET", "1"),
	)
	// The recording and live-streaming buttons.
	managed = append(managed, recordingEnv(in)...)
	pod := corev1.PodSpec{
		Containers: []corev1.Container{{
			Name:           ComponentWeb,
			Image:          image(d, ComponentWeb),
			Env:            withUserEnv(managed, d.Spec.Web.Env),
			Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: WebHTTPPort, Protocol: corev1.ProtocolTCP}},
			ReadinessProbe: httpProbe("/", "http", 10, 3),
			LivenessProbe:  httpProbe("/", "http", 30, 5),
		}},
	}
	placement(&pod, d.Spec.Web.Placement)
	restrictedPod(&pod, d, ComponentWeb)
	return componentDeployment(in, ComponentWeb, Web(d), d.Spec.Web.Replicas, appsv1.RollingUpdateDeploymentStrategyType, pod)
}

// WebService is the web front end's address for an Ingress or a LoadBalancer in front of it.
func WebService(in Input) *corev1.Service {
	return componentService(in, ComponentWeb, Web(in.Deployment), corev1.ServicePort{Name: "http", Port: 80})
}
