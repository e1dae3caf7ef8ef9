package render

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

func withIngress(i jitsiv1alpha1.IngressSpec) func(*jitsiv1alpha1.JitsiDeployment) {
	return func(d *jitsiv1alpha1.JitsiDeployment) { d.Spec.Web.Ingress = &i }
}

func TestIngress(t *testing.T) {
	if WebIngress(input(deployment())) != nil || WebIngress(input(deployment(withIngress(jitsiv1alpha1.IngressSpec{})))) != nil {
		t.Fatal("an Ingress nobody enabled")
	}

	// cert-manager: the issuer annotation and a default Secret for it to fill.
	d := deployment(withIngress(jitsiv1alpha1.IngressSpec{Enabled: true, TLS: &jitsiv1alpha1.IngressTLSSpec{ClusterIssuer: "letsencrypt"}}))
	ing := WebIngress(input(d))
	if ing.Annotations[AnnotationClusterIssuer] != "letsencrypt" || ing.Annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] != "3600" {
		t.Errorf("annotations %v", ing.Annotations)
	}
	if ing.Spec.IngressClassName != nil || len(ing.Spec.TLS) != 1 || ing.Spec.TLS[0].SecretName != "meet-web-tls" ||
		ing.Spec.TLS[0].Hosts[0] != "meet.example.com" || ing.Spec.Rules[0].Host != "meet.example.com" {
		t.Errorf("spec %+v", ing.Spec)
	}
	paths := map[string]bool{}
	for _, p := range ing.Spec.Rules[0].HTTP.Paths {
		paths[p.Path] = p.Backend.Service.Name == "meet-web" && p.Backend.Service.Port.Name == "http"
	}
	for _, p := range []string{"/", "/http-bind", "/xmpp-websocket"} {
		if !paths[p] {
			t.Errorf("path %s missing or not to the web Service: %v", p, paths)
		}
	}
	if _, ok := paths["/colibri-ws"]; ok {
		t.Error("the web image no longer serves /colibri-ws (stable-11146)")
	}
	if ref := metav1.GetControllerOf(ing); ref == nil || ref.Kind != "JitsiDeployment" {
		t.Errorf("owner %v", ref)
	}

	// A Secret of one's own, a class, another host, annotations that win over the defaults.
	d = deployment(withIngress(jitsiv1alpha1.IngressSpec{Enabled: true, ClassName: "traefik", Host: "video.example.org",
		Annotations: map[string]string{"nginx.ingress.kubernetes.io/proxy-read-timeout": "7200", "team": "video"},
		TLS:         &jitsiv1alpha1.IngressTLSSpec{SecretName: "wildcard"}}))
	ing = WebIngress(input(d))
	if *ing.Spec.IngressClassName != "traefik" || ing.Spec.TLS[0].SecretName != "wildcard" || ing.Spec.Rules[0].Host != "video.example.org" ||
		ing.Annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] != "7200" || ing.Annotations["team"] != "video" ||
		ing.Annotations[AnnotationClusterIssuer] != "" {
		t.Errorf("custom %+v %v", ing.Spec, ing.Annotations)
	}
	if PublicURL(d) != "https://video.example.org" {
		t.Errorf("public URL %s", PublicURL(d))
	}
}

func TestWebReachable(t *testing.T) {
	find := func(conds []metav1.Condition, typ string) *metav1.Condition {
		for i := range conds {
			if conds[i].Type == typ {
				return &conds[i]
			}
		}
		return nil
	}
	ok := DeploymentFacts{Components: map[string]ComponentFacts{"web": {Desired: 1, Ready: 1, Updated: 1}}}
	if c := find(DeploymentConditions(1, ok, nil), jitsiv1alpha1.ConditionWebReachable); c != nil {
		t.Errorf("WebReachable without an Ingress: %+v", c)
	}
	cases := []struct {
		web    WebFacts
		status metav1.ConditionStatus
		reason string
	}{
		{WebFacts{URL: "https://m", CertSecret: "tls"}, metav1.ConditionFalse, jitsiv1alpha1.ReasonIngressPending},
		{WebFacts{URL: "https://m", Address: "203.0.113.7", CertSecret: "tls"}, metav1.ConditionFalse, jitsiv1alpha1.ReasonCertificatePending},
		{WebFacts{URL: "https://m", Address: "203.0.113.7"}, metav1.ConditionFalse, jitsiv1alpha1.ReasonCertificatePending},
		{WebFacts{URL: "https://m", Address: "203.0.113.7", CertSecret: "tls", CertReady: true}, metav1.ConditionTrue, jitsiv1alpha1.ReasonAvailable},
	}
	for _, tc := range cases {
		f := ok
		f.Web = &tc.web
		conds := DeploymentConditions(1, f, nil)
		web, ready := find(conds, jitsiv1alpha1.ConditionWebReachable), find(conds, jitsiv1alpha1.ConditionReady)
		if web == nil || web.Status != tc.status || web.Reason != tc.reason {
			t.Errorf("%+v: WebReachable %+v", tc.web, web)
			continue
		}
		if (ready.Status == metav1.ConditionTrue) != (tc.status == metav1.ConditionTrue) || tc.status != metav1.ConditionTrue && ready.Reason != tc.reason {
			t.Errorf("%+v: Ready %+v", tc.web, ready)
		}
	}
}

func TestHTTPRoute(t *testing.T) {
	d := deployment(withIngress(jitsiv1alpha1.IngressSpec{Enabled: true, Host: "video.example.org",
		TLS:     &jitsiv1alpha1.IngressTLSSpec{ClusterIssuer: "letsencrypt"},
		Gateway: &jitsiv1alpha1.GatewayRef{Name: "public", Namespace: "gateways", SectionName: "https"}}))
	if WebIngress(input(d)) != nil || WebTLSSecret(d) != "" {
		t.Fatal("an Ingress or a certificate of our own next to a Gateway's route")
	}
	r := WebHTTPRoute(input(d))
	p := r.Spec.ParentRefs[0]
	if p.Name != "public" || *p.Namespace != "gateways" || *p.SectionName != "https" || r.Spec.Hostnames[0] != "video.example.org" {
		t.Errorf("parent %+v hostnames %v", p, r.Spec.Hostnames)
	}
	b := r.Spec.Rules[0].BackendRefs[0]
	if b.Name != "meet-web" || *b.Port != 80 || len(r.Spec.Rules[0].Matches) != len(ingressPaths) {
		t.Errorf("rule %+v", r.Spec.Rules[0])
	}
	if WebHTTPRoute(input(deployment(withIngress(jitsiv1alpha1.IngressSpec{Enabled: true})))) != nil {
		t.Error("a route without a gateway")
	}
}

func TestBridgesAtCapacity(t *testing.T) {
	for _, tc := range []struct {
		facts BridgeFacts
		want  metav1.ConditionStatus
	}{
		{BridgeFacts{Desired: 3, Max: 3, AvgStress: 0.7, Target: 0.6}, metav1.ConditionTrue},
		{BridgeFacts{Desired: 3, Max: 3, AvgStress: 0.5, Target: 0.6}, metav1.ConditionFalse},
		{BridgeFacts{Desired: 2, Max: 3, AvgStress: 0.9, Target: 0.6}, metav1.ConditionFalse},
	} {
		f := DeploymentFacts{Bridges: &tc.facts}
		var got *metav1.Condition
		for _, c := range DeploymentConditions(1, f, nil) {
			if c.Type == jitsiv1alpha1.ConditionBridgesAtCapacity {
				got = &c
			}
		}
		if got == nil || got.Status != tc.want {
			t.Errorf("%+v: %+v", tc.facts, got)
		}
	}
	if conds := DeploymentConditions(1, DeploymentFacts{}, nil); len(conds) != 4 {
		t.Errorf("without autoscaling: %d conditions", len(conds))
	}
}
