package render

import (
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

// deployment is a JitsiDeployment with the schema's defaults filled in, as the API server
// would hand it to the reconciler.
func deployment(mutate ...func(*jitsiv1alpha1.JitsiDeployment)) *jitsiv1alpha1.JitsiDeployment {
	two := int32(2)
	grace := int64(3600)
	d := &jitsiv1alpha1.JitsiDeployment{
		ObjectMeta: metav1.ObjectMeta{Name: "meet", Namespace: "video", UID: "uid-1"},
		Spec: jitsiv1alpha1.JitsiDeploymentSpec{
			Domain: "meet.example.com",
			Image:  jitsiv1alpha1.ImageSpec{Registry: "ghcr.io/jitsi", Tag: "stable-11146-2", PullPolicy: "IfNotPresent"},
			Auth:   jitsiv1alpha1.AuthSpec{Type: jitsiv1alpha1.AuthJWT, JWT: &jitsiv1alpha1.JWTAuthSpec{AppID: "app", Audience: "jitsi"}},
			JVB: jitsiv1alpha1.JVBSpec{
				Replicas:                      &two,
				Media:                         jitsiv1alpha1.MediaSpec{Type: jitsiv1alpha1.MediaLoadBalancer, Port: 10000},
				TerminationGracePeriodSeconds: &grace,
			},
			Web: jitsiv1alpha1.WebSpec{Replicas: &two},
		},
	}
	for _, m := range mutate {
		m(d)
	}
	return d
}

func input(d *jitsiv1alpha1.JitsiDeployment) Input {
	return Input{Deployment: d, Secrets: SecretsFor(d), ReceiverURL: "http://receiver.ops.svc:9090"}
}

func envOf(t *testing.T, c corev1.Container) map[string]corev1.EnvVar {
	t.Helper()
	m := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		if _, dup := m[e.Name]; dup {
			t.Errorf("%s: variable %s set twice", c.Name, e.Name)
		}
		m[e.Name] = e
	}
	return m
}

func value(t *testing.T, env map[string]corev1.EnvVar, name string) string {
	t.Helper()
	e, ok := env[name]
	if !ok {
		t.Fatalf("variable %s not set", name)
	}
	return e.Value
}

func TestEveryChildIsLabelledAndOwned(t *testing.T) {
	d := deployment()
	in := input(d)
	in.Bridges = []Bridge{{Index: 0, AdvertiseIP: "203.0.113.7"}}
	children := map[string]metav1.Object{
		"prosody-config": ProsodyConfigMap(in), "prosody-svc": ProsodyService(in), "prosody": ProsodyDeployment(in),
		"jicofo-svc": JicofoService(in), "jicofo": JicofoDeployment(in),
		"web-svc": WebService(in), "web": WebDeployment(in),
		"jvb-scripts": JVBScriptsConfigMap(in), "jibri-scripts": JibriScriptsConfigMap(in), "jvb": JVBDeployment(in, in.Bridges[0]), "jvb-svc": JVBMediaService(in, 0),
	}
	for name, c := range children {
		l := c.GetLabels()
		if l[LabelName] != "jitsi" || l[LabelInstance] != "meet" || l[LabelManagedBy] != "jitsi-operator" || l[LabelComponent] == "" {
			t.Errorf("%s: labels %v lack API.md's", name, l)
		}
		if c.GetNamespace() != "video" {
			t.Errorf("%s: namespace %q", name, c.GetNamespace())
		}
		refs := c.GetOwnerReferences()
		if len(refs) != 1 || refs[0].UID != "uid-1" || refs[0].Controller == nil || !*refs[0].Controller {
			t.Errorf("%s: owner references %v", name, refs)
		}
	}
}

func TestPodsAreRestrictedAndProbed(t *testing.T) {
	in := input(deployment())
	b := Bridge{Index: 0, AdvertiseIP: "203.0.113.7"}
	for _, dep := range []*appsv1.Deployment{ProsodyDeployment(in), JicofoDeployment(in), WebDeployment(in), JVBDeployment(in, b)} {
		pod := dep.Spec.Template.Spec
		if sc := pod.SecurityContext; sc == nil || *sc.RunAsUser != 1000 || !*sc.RunAsNonRoot {
			t.Errorf("%s: pod security context %+v", dep.Name, sc)
		}
		if *pod.AutomountServiceAccountToken {
			t.Errorf("%s mounts a service account token", dep.Name)
		}
		c := pod.Containers[0]
		if sc := c.SecurityContext; !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || sc.Capabilities.Drop[0] != "ALL" {
			t.Errorf("%s: container security context %+v", dep.Name, sc)
		}
		if c.ReadinessProbe == nil || c.LivenessProbe == nil {
			t.Errorf("%s: missing probes", dep.Name)
		}
		if c.Image != "ghcr.io/jitsi/"+c.Name+":stable-11146-2" {
			t.Errorf("%s: image %s", dep.Name, c.Image)
		}
	}
	// Prosody's /health refuses everyone but localhost, so it is probed from inside.
	if p := ProsodyDeployment(in).Spec.Template.Spec.Containers[0].ReadinessProbe; p.Exec == nil {
		t.Errorf("prosody readiness probe is not an exec probe: %+v", p)
	}
	j := JicofoDeployment(in).Spec.Template.Spec.Containers[0]
	if j.ReadinessProbe.HTTPGet == nil || j.ReadinessProbe.HTTPGet.Path != "/about/health" {
		t.Errorf("jicofo probe %+v", j.ReadinessProbe)
	}
	env := envOf(t, j)
	if value(t, env, "JICOFO_ENABLE_REST") != "1" || value(t, env, "JICOFO_ENABLE_HEALTH_CHECKS") != "1" {
		t.Error("jicofo's REST health endpoint is not enabled, so its probe would fail")
	}
}

func TestAuthTypes(t *testing.T) {
	cases := []struct {
		name       string
		auth       jitsiv1alpha1.AuthSpec
		enableAuth string
		authType   string
		jwtSecret  *corev1.SecretKeySelector
		generated  []string
	}{
		{
			name: "JWT with a generated secret", auth: jitsiv1alpha1.AuthSpec{Type: jitsiv1alpha1.AuthJWT},
			enableAuth: "1", authType: "jwt",
			jwtSecret: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "meet-generated"}, Key: KeyJWTSecret},
			generated: []string{KeyJicofoPassword, KeyJVBPassword, KeyJibriPassword, KeyRecorderPassword, KeyJWTSecret, KeyWebhookSecret},
		},
		{
			name: "JWT with the user's secret",
			auth: jitsiv1alpha1.AuthSpec{Type: jitsiv1alpha1.AuthJWT, JWT: &jitsiv1alpha1.JWTAuthSpec{
				AppID: "app", Issuer: "backend", Audience: "meet", SecretRef: &jitsiv1alpha1.SecretKeyReference{Name: "jwt", Key: "secret"}}},
			enableAuth: "1", authType: "jwt",
			jwtSecret: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "jwt"}, Key: "secret"},
			generated: []string{KeyJicofoPassword, KeyJVBPassword, KeyJibriPassword, KeyRecorderPassword, KeyWebhookSecret},
		},
		{
			name: "Anonymous", auth: jitsiv1alpha1.AuthSpec{Type: jitsiv1alpha1.AuthAnonymous}, enableAuth: "0",
			generated: []string{KeyJicofoPassword, KeyJVBPassword, KeyJibriPassword, KeyRecorderPassword, KeyWebhookSecret},
		},
		{
			name: "Internal", auth: jitsiv1alpha1.AuthSpec{Type: jitsiv1alpha1.AuthInternal, AllowGuests: true}, enableAuth: "1", authType: "internal",
			generated: []string{KeyJicofoPassword, KeyJVBPassword, KeyJibriPassword, KeyRecorderPassword, KeyWebhookSecret},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := deployment(func(d *jitsiv1alpha1.JitsiDeployment) { d.Spec.Auth = tc.auth })
			in := input(d)
			if got := GeneratedKeys(d); strings.Join(got, ",") != strings.Join(tc.generated, ",") {
				t.Errorf("generated keys %v, want %v", got, tc.generated)
			}
			for _, dep := range []*appsv1.Deployment{ProsodyDeployment(in), JicofoDeployment(in), WebDeployment(in)} {
				env := envOf(t, dep.Spec.Template.Spec.Containers[0])
				if got := value(t, env, "ENABLE_AUTH"); got != tc.enableAuth {
					t.Errorf("%s: ENABLE_AUTH=%s, want %s", dep.Name, got, tc.enableAuth)
				}
				if tc.authType != "" && env["AUTH_TYPE"].Value != tc.authType {
					t.Errorf("%s: AUTH_TYPE=%s, want %s", dep.Name, env["AUTH_TYPE"].Value, tc.authType)
				}
			}
			env := envOf(t, ProsodyDeployment(in).Spec.Template.Spec.Containers[0])
			secret, hasJWT := env["JWT_APP_SECRET"]
			if tc.jwtSecret == nil {
				if hasJWT {
					t.Error("JWT secret configured without JWT auth")
				}
				return
			}
			if !hasJWT || secret.Value != "" || *secret.ValueFrom.SecretKeyRef != *tc.jwtSecret {
				t.Errorf("JWT_APP_SECRET %+v, want a reference to %+v (never a value)", secret, tc.jwtSecret)
			}
			if value(t, env, "JWT_SIGN_TYPE") != "HS256" || value(t, env, "JWT_ACCEPTED_AUDIENCES") == "" {
				t.Error("JWT verification settings missing")
			}
		})
	}
}

func TestMediaModes(t *testing.T) {
	t.Run("LoadBalancer", func(t *testing.T) {
		in := input(deployment())
		svc := JVBMediaService(in, 1)
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
			t.Errorf("service %+v", svc.Spec)
		}
		if p := svc.Spec.Ports[0]; p.Protocol != corev1.ProtocolUDP || p.Port != 10000 {
			t.Errorf("port %+v", p)
		}
		if svc.Spec.Selector[LabelBridge] != "meet-jvb-1" {
			t.Errorf("selector %v does not pick exactly bridge 1", svc.Spec.Selector)
		}
		pending := JVBDeployment(in, Bridge{Index: 1})
		if *pending.Spec.Replicas != 0 {
			t.Error("a bridge without an address runs")
		}
		ready := JVBDeployment(in, Bridge{Index: 1, AdvertiseIP: "203.0.113.9"})
		env := envOf(t, ready.Spec.Template.Spec.Containers[0])
		if *ready.Spec.Replicas != 1 || value(t, env, "JVB_ADVERTISE_IPS") != "203.0.113.9" {
			t.Errorf("replicas %d, JVB_ADVERTISE_IPS %q", *ready.Spec.Replicas, env["JVB_ADVERTISE_IPS"].Value)
		}
		if ready.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
			t.Error("a bridge must never run twice")
		}
	})
	t.Run("NodePort", func(t *testing.T) {
		d := deployment(func(d *jitsiv1alpha1.JitsiDeployment) { d.Spec.JVB.Media.Type = jitsiv1alpha1.MediaNodePort })
		in := input(d)
		if svc := JVBMediaService(in, 0); svc.Spec.Type != corev1.ServiceTypeNodePort {
			t.Errorf("service type %s", svc.Spec.Type)
		}
		dep := JVBDeployment(in, Bridge{Index: 0, AdvertiseIP: "198.51.100.4", AdvertisePort: 31234})
		if got := value(t, envOf(t, dep.Spec.Template.Spec.Containers[0]), "JVB_ADVERTISE_IPS"); got != "198.51.100.4#31234" {
			t.Errorf("JVB_ADVERTISE_IPS %q, want the node port mapped", got)
		}
	})
	t.Run("HostPort", func(t *testing.T) {
		d := deployment(func(d *jitsiv1alpha1.JitsiDeployment) { d.Spec.JVB.Media.Type = jitsiv1alpha1.MediaHostPort })
		in := input(d)
		if JVBMediaService(in, 0) != nil {
			t.Error("HostPort bridges need no Service")
		}
		dep := JVBDeployment(in, Bridge{Index: 0, AdvertiseIP: "198.51.100.4", NodeName: "node-a"})
		pod := dep.Spec.Template.Spec
		if pod.Containers[0].Ports[0].HostPort != 10000 {
			t.Error("media port not bound on the host")
		}
		if pod.NodeSelector[LabelHostname] != "node-a" {
			t.Errorf("bridge not pinned to its node: %v", pod.NodeSelector)
		}
		terms := pod.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
		if len(terms) != 1 || terms[0].TopologyKey != LabelHostname {
			t.Errorf("anti-affinity %+v", terms)
		}
		if value(t, envOf(t, pod.Containers[0]), "JVB_ADVERTISE_IPS") != "198.51.100.4" {
			t.Error("node address not advertised")
		}
	})
}

func TestBridgeDrainsBeforeItStops(t *testing.T) {
	in := input(deployment())
	dep := JVBDeployment(in, Bridge{Index: 0, AdvertiseIP: "203.0.113.7"})
	pod := dep.Spec.Template.Spec
	if *pod.TerminationGracePeriodSeconds != 3600 {
		t.Errorf("grace period %d", *pod.TerminationGracePeriodSeconds)
	}
	hook := pod.Containers[0].Lifecycle.PreStop.Exec.Command
	if !strings.Contains(strings.Join(hook, " "), jvbGracefulShutdown) {
		t.Errorf("preStop %v", hook)
	}
	script := JVBScriptsConfigMap(in).Data[jvbGracefulShutdown]
	for _, want := range []string{"/colibri/shutdown", "graceful-shutdown", "/colibri/stats", "conferences"} {
		if !strings.Contains(script, want) {
			t.Errorf("drain script lacks %q", want)
		}
	}
	env := envOf(t, pod.Containers[0])
	if value(t, env, "SHUTDOWN_REST_ENABLED") != "true" || value(t, env, "COLIBRI_REST_ENABLED") != "true" {
		t.Error("the bridge's shutdown and stats endpoints are off, so it cannot drain")
	}
}

func TestProsodyEventsModule(t *testing.T) {
	in := input(deployment())
	cm := ProsodyConfigMap(in)
	conf := cm.Data[prosodyConfFile]
	if !strings.Contains(conf, `"http://receiver.ops.svc:9090/v1/prosody/events?deployment=video/meet"`) {
		t.Errorf("module not pointed at the receiver:\n%s", conf)
	}
	if !strings.Contains(conf, "ENV_"+EnvEventsSecret) {
		t.Error("secret not read from the environment")
	}
	if !strings.Contains(cm.Data[prosodyModuleFile], `module:hook("muc-occupant-joined"`) {
		t.Error("module file missing from the ConfigMap")
	}
	pod := ProsodyDeployment(in).Spec.Template.Spec
	env := envOf(t, pod.Containers[0])
	if value(t, env, "XMPP_MUC_MODULES") != EventsModuleName+","+TokenAffiliationModule {
		t.Error("module not enabled on the MUC")
	}
	if ref := env[EnvEventsSecret].ValueFrom.SecretKeyRef; ref.Name != "meet-generated" || ref.Key != KeyWebhookSecret {
		t.Errorf("events secret from %+v", ref)
	}
	mounted := map[string]bool{}
	for _, m := range pod.Containers[0].VolumeMounts {
		mounted[m.MountPath] = true
	}
	if !mounted["/prosody-plugins-custom/"+prosodyModuleFile] || !mounted["/config/conf.d/"+prosodyConfFile] {
		t.Errorf("mounts %v", mounted)
	}
	// Events sent elsewhere go to that URL.
	other := input(deployment(func(d *jitsiv1alpha1.JitsiDeployment) { d.Spec.Webhooks.URL = "https://hooks.example.com" }))
	if !strings.Contains(ProsodyConfigMap(other).Data[prosodyConfFile], `"https://hooks.example.com/v1/prosody/events?deployment=video/meet"`) {
		t.Error("spec.webhooks.url ignored")
	}
}

func TestUserEnvCannotBreakTheWiring(t *testing.T) {
	d := deployment(func(d *jitsiv1alpha1.JitsiDeployment) {
		d.Spec.Prosody.Env = []corev1.EnvVar{{Name: "XMPP_DOMAIN", Value: "evil"}, {Name: "ENABLE_LOBBY", Value: "1"}}
	})
	env := envOf(t, ProsodyDeployment(input(d)).Spec.Template.Spec.Containers[0])
	if value(t, env, "XMPP_DOMAIN") != XMPPDomain || value(t, env, "ENABLE_LOBBY") != "1" {
		t.Error("user env not merged under the managed variables")
	}
}

func TestConfigHashRollsOnlyItsComponent(t *testing.T) {
	in := input(deployment())
	in.ConfigHashes = map[string]string{ComponentProsody: Hash(map[string][]byte{"jwt/secret": []byte("a")})}
	if ProsodyDeployment(in).Spec.Template.Annotations[AnnotationConfigHash] == "" {
		t.Error("prosody template lacks the hash")
	}
	if JicofoDeployment(in).Spec.Template.Annotations[AnnotationConfigHash] != "" {
		t.Error("jicofo would roll for prosody's input")
	}
	a := Hash(map[string][]byte{"k": []byte("a")})
	if a != Hash(map[string][]byte{"k": []byte("a")}) || a == Hash(map[string][]byte{"k": []byte("b")}) {
		t.Error("hash not stable or not sensitive")
	}
	if Hash(map[string][]byte{"ab": []byte("c")}) == Hash(map[string][]byte{"a": []byte("bc")}) {
		t.Error("hash confuses key and value boundaries")
	}
}

func TestBridgeCount(t *testing.T) {
	three, five := int32(3), int32(5)
	cases := map[string]struct {
		d    *jitsiv1alpha1.JitsiDeployment
		want int
	}{
		"replicas": {deployment(), 2},
		"unset":    {deployment(func(d *jitsiv1alpha1.JitsiDeployment) { d.Spec.JVB.Replicas = nil }), 1},
		"autoscaling starts at min": {deployment(func(d *jitsiv1alpha1.JitsiDeployment) {
			d.Spec.JVB.Autoscaling = &jitsiv1alpha1.JVBAutoscalingSpec{Enabled: true, MinReplicas: &three, MaxReplicas: &five}
		}), 3},
	}
	for name, tc := range cases {
		if got := BridgeCount(tc.d); got != tc.want {
			t.Errorf("%s: %d bridges, want %d", name, got, tc.want)
		}
	}
}

func TestDeploymentConditions(t *testing.T) {
	ready := map[string]ComponentFacts{"prosody": {1, 1, 1}, "jicofo": {1, 1, 1}, "web": {2, 2, 2}, "jvb": {2, 2, 2}}
	byType := func(cs []metav1.Condition) map[string]metav1.Condition {
		m := map[string]metav1.Condition{}
		for _, c := range cs {
			m[c.Type] = c
		}
		return m
	}
	t.Run("all good", func(t *testing.T) {
		c := byType(DeploymentConditions(4, DeploymentFacts{Components: ready, Media: []MediaFacts{{Bridge: "b", Address: "203.0.113.1"}}}, nil))
		if c["Ready"].Status != metav1.ConditionTrue || c["Degraded"].Status != metav1.ConditionFalse ||
			c["Progressing"].Status != metav1.ConditionFalse || c["MediaReachable"].Status != metav1.ConditionTrue {
			t.Errorf("%+v", c)
		}
		if c["Ready"].ObservedGeneration != 4 {
			t.Error("observedGeneration not set")
		}
	})
	t.Run("address pending", func(t *testing.T) {
		c := byType(DeploymentConditions(1, DeploymentFacts{Components: ready, Media: []MediaFacts{
			{Bridge: "b0", Address: "203.0.113.1"},
			{Bridge: "b1", Reason: jitsiv1alpha1.ReasonAddressPending, Message: "waiting for the cloud"}}}, nil))
		if c["Ready"].Status != metav1.ConditionFalse || c["Ready"].Reason != jitsiv1alpha1.ReasonAddressPending ||
			!strings.Contains(c["Ready"].Message, "1 of 2 bridges") || !strings.Contains(c["Ready"].Message, "waiting for the cloud") {
			t.Errorf("Ready %+v", c["Ready"])
		}
		if c["Degraded"].Status != metav1.ConditionFalse {
			t.Error("a pending address is not a fault")
		}
	})
	t.Run("hostname only needs a person", func(t *testing.T) {
		c := byType(DeploymentConditions(1, DeploymentFacts{Components: ready, Media: []MediaFacts{
			{Bridge: "b0", Reason: jitsiv1alpha1.ReasonHostnameOnly, Message: "set advertiseIPs"}}}, nil))
		if c["Degraded"].Status != metav1.ConditionTrue || c["Degraded"].Reason != jitsiv1alpha1.ReasonHostnameOnly {
			t.Errorf("Degraded %+v", c["Degraded"])
		}
	})
	t.Run("missing secret", func(t *testing.T) {
		c := byType(DeploymentConditions(1, DeploymentFacts{Components: ready, MissingSecrets: []string{"jwt/secret"}}, nil))
		if c["Ready"].Reason != jitsiv1alpha1.ReasonSecretNotFound || !strings.Contains(c["Degraded"].Message, "jwt/secret") {
			t.Errorf("%+v", c)
		}
	})
	t.Run("rolling out", func(t *testing.T) {
		rolling := map[string]ComponentFacts{"prosody": {1, 0, 1}, "web": {2, 2, 1}}
		c := byType(DeploymentConditions(1, DeploymentFacts{Components: rolling}, nil))
		if c["Progressing"].Status != metav1.ConditionTrue || !strings.Contains(c["Progressing"].Message, "prosody") ||
			c["Ready"].Reason != jitsiv1alpha1.ReasonComponentsNotReady || !strings.Contains(c["Ready"].Message, "prosody 0/1") {
			t.Errorf("%+v", c)
		}
	})
	t.Run("step error", func(t *testing.T) {
		c := byType(DeploymentConditions(1, DeploymentFacts{Components: ready}, errors.New("apply Deployment meet-web: boom")))
		if c["Ready"].Reason != jitsiv1alpha1.ReasonReconcileError || c["Degraded"].Status != metav1.ConditionTrue ||
			!strings.Contains(c["Degraded"].Message, "meet-web") {
			t.Errorf("%+v", c)
		}
	})
}

// TestManagedEnvIsWhatTheRenderersSet keeps the API's list of managed variables (and so its CEL
// rule) equal to what the renderers set on Prosody, Jicofo and web.
func TestManagedEnvIsWhatTheRenderersSet(t *testing.T) {
	set := map[string]bool{}
	for _, auth := range []jitsiv1alpha1.AuthType{jitsiv1alpha1.AuthJWT, jitsiv1alpha1.AuthInternal, jitsiv1alpha1.AuthAnonymous} {
		in := input(deployment(func(d *jitsiv1alpha1.JitsiDeployment) {
			d.Spec.Auth.Type = auth
			// Every TURN variable: a managed server with TLS, and servers of each transport.
			tcp, tls := jitsiv1alpha1.TURNTransport("tcp"), jitsiv1alpha1.TURNTransport("tls")
			d.Spec.TURN = &jitsiv1alpha1.TURNSpec{Managed: true, TLSSecretName: "turn-tls", Servers: []jitsiv1alpha1.TURNServer{
				{Host: "turn.example.net", Transport: tcp}, {Host: "turns.example.net", Transport: tls}}}
		}))
		in.TURN = TURNInput{TLSSecret: "turn-tls"}
		for _, dep := range []*appsv1.Deployment{ProsodyDeployment(in), JicofoDeployment(in), WebDeployment(in)} {
			for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
				set[e.Name] = true
			}
		}
	}
	listed := map[string]bool{}
	for _, n := range jitsiv1alpha1.ManagedEnv {
		listed[n] = true
		if !set[n] {
			t.Errorf("ManagedEnv lists %s, which no renderer sets", n)
		}
	}
	for n := range set {
		if !listed[n] {
			t.Errorf("the renderers set %s, which ManagedEnv (and the CEL rule) does not list", n)
		}
	}
}
