package render

import (
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

// AnnotationClusterIssuer asks cert-manager for the Ingress's certificate.
const AnnotationClusterIssuer = "cert-manager.io/cluster-issuer"

// websocketAnnotations keep the XMPP websocket and BOSH's long polls open behind the common ingress
// controllers (ingress-nginx: an hour instead of 60 s). Traefik, HAProxy and the cloud load
// balancers keep websockets open without annotations; set yours in web.ingress.annotations, which
// win over these.
var websocketAnnotations = map[string]string{
	"nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
	"nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
	"nginx.ingress.kubernetes.io/proxy-body-size":    "0",
}

// ingressPaths are what people's browsers ask the web front end for: the app, BOSH and the XMPP
// websocket (the web image proxies the last two to Prosody, web/rootfs/defaults/meet.conf). One
// Service serves them all; the explicit paths let a controller treat them apart. The bridges'
// websocket proxy (/colibri-ws) is gone from the web image since stable-11146 (docker-jitsi-meet
// commit 9ea0cbba): bridge channels go over SCTP data channels.
var ingressPaths = []string{"/xmpp-websocket", "/http-bind", "/"}

// WebHost is the host people open: web.ingress.host, else spec.domain.
func WebHost(d *jitsiv1alpha1.JitsiDeployment) string {
	if i := d.Spec.Web.Ingress; i != nil && i.Host != "" {
		return i.Host
	}
	return d.Spec.Domain
}

// WebTLSSecret is the Secret holding the web front end's certificate, "" without TLS (or with a
// gateway, whose listener holds it).
func WebTLSSecret(d *jitsiv1alpha1.JitsiDeployment) string {
	i := d.Spec.Web.Ingress
	switch {
	case i == nil || i.TLS == nil || i.Gateway != nil:
		return ""
	case i.TLS.SecretName != "":
		return i.TLS.SecretName
	case i.TLS.ClusterIssuer != "":
		return d.Name + "-web-tls"
	}
	return ""
}

// WebIngress publishes the web front end over HTTPS; nil when web.ingress is not enabled, or
// names a gateway (WebHTTPRoute then).
func WebIngress(in Input) *networkingv1.Ingress {
	d := in.Deployment
	spec := d.Spec.Web.Ingress
	if spec == nil || !spec.Enabled || spec.Gateway != nil {
		return nil
	}
	annotations := map[string]string{}
	for k, v := range websocketAnnotations {
		annotations[k] = v
	}
	if spec.TLS != nil && spec.TLS.ClusterIssuer != "" {
		annotations[AnnotationClusterIssuer] = spec.TLS.ClusterIssuer
	}
	for k, v := range spec.Annotations {
		annotations[k] = v
	}
	host := WebHost(d)
	prefix := networkingv1.PathTypePrefix
	var paths []networkingv1.HTTPIngressPath
	for _, p := range ingressPaths {
		paths = append(paths, networkingv1.HTTPIngressPath{Path: p, PathType: &prefix, Backend: networkingv1.IngressBackend{
			Service: &networkingv1.IngressServiceBackend{Name: Web(d), Port: networkingv1.ServiceBackendPort{Name: "http"}},
		}})
	}
	meta := objectMeta(d, Web(d), Labels(d, ComponentWeb))
	meta.Annotations = annotations
	ing := &networkingv1.Ingress{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
		ObjectMeta: meta,
		Spec: networkingv1.IngressSpec{
			Rules: []networkingv1.IngressRule{{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{
				HTTP: &networkingv1.HTTPIngressRuleValue{Paths: paths},
			}}},
		},
	}
	if spec.ClassName != "" {
		class := spec.ClassName
		ing.Spec.IngressClassName = &class
	}
	if secret := WebTLSSecret(d); secret != "" {
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{host}, SecretName: secret}}
	}
	return ing
}

// WebHTTPRoute attaches the web front end to web.ingress.gateway with an HTTPRoute; nil unless the
// ingress is enabled with a gateway (WebIngress is nil then).
func WebHTTPRoute(in Input) *gatewayv1.HTTPRoute {
	d := in.Deployment
	spec := d.Spec.Web.Ingress
	if spec == nil || !spec.Enabled || spec.Gateway == nil {
		return nil
	}
	parent := gatewayv1.ParentReference{Name: gatewayv1.ObjectName(spec.Gateway.Name)}
	if spec.Gateway.Namespace != "" {
		ns := gatewayv1.Namespace(spec.Gateway.Namespace)
		parent.Namespace = &ns
	}
	if spec.Gateway.SectionName != "" {
		section := gatewayv1.SectionName(spec.Gateway.SectionName)
		parent.SectionName = &section
	}
	port := gatewayv1.PortNumber(80)
	prefix := gatewayv1.PathMatchPathPrefix
	var matches []gatewayv1.HTTPRouteMatch
	for _, p := range ingressPaths {
		matches = append(matches, gatewayv1.HTTPRouteMatch{Path: &gatewayv1.HTTPPathMatch{Type: &prefix, Value: ptrString(p)}})
	}
	meta := objectMeta(d, Web(d), Labels(d, ComponentWeb))
	if len(spec.Annotations) > 0 {
		meta.Annotations = map[string]string{}
		for k, v := range spec.Annotations {
			meta.Annotations[k] = v
		}
	}
	return &gatewayv1.HTTPRoute{
		TypeMeta:   metav1.TypeMeta{APIVersion: gatewayv1.GroupVersion.String(), Kind: "HTTPRoute"},
		ObjectMeta: meta,
		Spec: gatewayv1.HTTPRouteSpec{
			CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{parent}},
			Hostnames:       []gatewayv1.Hostname{gatewayv1.Hostname(WebHost(d))},
			Rules: []gatewayv1.HTTPRouteRule{{
				Matches: matches,
				BackendRefs: []gatewayv1.HTTPBackendRef{{BackendRef: gatewayv1.BackendRef{
					BackendObjectReference: gatewayv1.BackendObjectReference{Name: gatewayv1.ObjectName(Web(d)), Port: &port},
				}}},
			}},
		},
	}
}

func ptrString(s string) *string { return &s }
