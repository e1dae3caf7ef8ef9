package render

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// WebDeployment runs the web front end: the Jitsi Meet app, and the proxy to Prosody's BOSH
// and websocket. TLS ends in front of it (an Ingress), so it serves plain HTTP on 8000.
func WebDeployment(in Input) *appsv1.Deployment {
	d := in.Deployment
	managed := append(xmppEnv(d), authEnv(d)...)
	managed = append(managed,
		env("XMPP_BOSH_URL_BASE", fmt.Sprintf("http://%s:%d", XMPPServer(d), ProsodyHTTPPort)),
		env("DISABLE_HTTPS", "1"),
		env("ENABLE_HTTP_REDIRECT", "0"),
		env("ENABLE_LETSENCRYPT", "0"),
		env("ENABLE_XMPP_WEBSOCKET", "1"),
	)
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
	restrictedPod(&pod, d, "/run", "/tmp")
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: objectMeta(d, Web(d), Labels(d, ComponentWeb)),
		Spec: appsv1.DeploymentSpec{
			Replicas: d.Spec.Web.Replicas,
			Selector: &metav1.LabelSelector{MatchLabels: SelectorLabels(d, ComponentWeb)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: podMeta(in, ComponentWeb, Labels(d, ComponentWeb)),
				Spec:       pod,
			},
		},
	}
}

// WebService is the web front end's address for an Ingress or a LoadBalancer in front of it.
func WebService(in Input) *corev1.Service {
	d := in.Deployment
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: objectMeta(d, Web(d), Labels(d, ComponentWeb)),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: SelectorLabels(d, ComponentWeb),
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}},
		},
	}
}
