package render

import (
	"maps"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

func relayInput(mutate ...func(*jitsiv1alpha1.RelaySpec)) RelayInput {
	spec := &jitsiv1alpha1.RelaySpec{Enabled: true}
	for _, m := range mutate {
		m(spec)
	}
	pool := &jitsiv1alpha1.JibriPool{
		ObjectMeta: metav1.ObjectMeta{Name: "recorders", Namespace: "video", UID: "pool-uid"},
		Spec: jitsiv1alpha1.JibriPoolSpec{
			JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"},
			Streaming:          jitsiv1alpha1.PoolStreamingSpec{Relay: spec},
		},
	}
	return RelayInput{Deployment: deployment(), Pool: pool, Image: "ghcr.io/jitsi-operator/relay:v1", ReceiverURL: "http://receiver.ops.svc:9090/"}
}

func TestRelayNginxConf(t *testing.T) {
	base := RelayConf{
		ModulePath: RelayModulePath, Listen: "127.0.0.1:19350",
		PublishURL: "http://127.0.0.1:8080/v1/rtmp/publish", PublishDoneURL: "http://127.0.0.1:8080/v1/rtmp/publish-done",
		PushScript: "/etc/relay/push.sh", RecordPath: "/recordings", PidFile: "/tmp/nginx.pid", ErrorLog: "stderr",
	}
	always := []string{
		`load_module "` + RelayModulePath + `";`,
		"daemon off;",
		"worker_processes 1;",
		`pid "/tmp/nginx.pid";`,
		`error_log "stderr" notice;`,
		// push.sh, a child of a worker, sees only the variables nginx is told to keep.
		"env JITSI_OPERATOR_RELAY_URL;",
		"env JITSI_OPERATOR_RELAY_SOURCE;",
		"env PATH;",
		"env TMPDIR;",
		"access_log off;",
		"exec_kill_signal term;",
		"listen 127.0.0.1:19350;",
		"application live {",
		"live on;",
		"idle_streams off;",
		"deny play all;",
		`on_publish "http://127.0.0.1:8080/v1/rtmp/publish";`,
		`on_publish_done "http://127.0.0.1:8080/v1/rtmp/publish-done";`,
		"notify_method post;",
		`exec_push "/etc/relay/push.sh" $name;`,
		"respawn off;",
	}
	recording := []string{"record all;", `record_path "/recordings";`, "record_unique on;"}
	for _, record := range []bool{false, true} {
		c := base
		c.Record = record
		conf := RelayNginxConf(c)
		for _, want := range always {
			if !strings.Contains(conf, want) {
				t.Errorf("record=%v: the config lacks %q:\n%s", record, want, conf)
			}
		}
		for _, want := range recording {
			if strings.Contains(conf, want) != record {
				t.Errorf("record=%v: %q present=%v", record, want, !record)
			}
		}
		if record == strings.Contains(conf, "record off;") {
			t.Errorf("record=%v: record off present=%v", record, !record)
		}
		if strings.Count(conf, "{") != strings.Count(conf, "}") {
			t.Errorf("unbalanced braces:\n%s", conf)
		}
		// Nothing but RTMP listens: no HTTP server, no fixed port besides Listen, no push target.
		for _, banned := range []string{"http {", "server_name", "push rtmp", "user "} {
			if strings.Contains(conf, banned) {
				t.Errorf("the config has %q:\n%s", banned, conf)
			}
		}
		// load_module comes before any block.
		if strings.Index(conf, "load_module") > strings.Index(conf, "{") {
			t.Error("load_module must come first")
		}
	}
}

func TestRelayNginxConfQuotesItsArguments(t *testing.T) {
	conf := RelayNginxConf(RelayConf{PushScript: `/odd dir/"push".sh`, PublishURL: `http://r/a;b`})
	if !strings.Contains(conf, `exec_push "/odd dir/\"push\".sh" $name;`) || !strings.Contains(conf, `on_publish "http://r/a;b";`) {
		t.Errorf("arguments not quoted:\n%s", conf)
	}
}

func TestRelayConfigMap(t *testing.T) {
	in := relayInput()
	cm := RelayConfigMap(in)
	if cm.Name != "recorders-relay" || JibriRelay(in.Pool) != cm.Name {
		t.Errorf("name %q", cm.Name)
	}
	conf := cm.Data[RelayNginxConfFile]
	for _, want := range []string{
		`on_publish "http://receiver.ops.svc:9090/v1/rtmp/publish";`,
		`on_publish_done "http://receiver.ops.svc:9090/v1/rtmp/publish-done";`,
		`exec_push "` + relayConfigDir + `/push.sh" $name;`,
		"listen 1935;",
		`pid "/tmp/nginx.pid";`,
		"record off;",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("the pod's config lacks %q:\n%s", want, conf)
		}
	}
	if cm.Data[RelayPushFile] != RelayPushScript || !strings.HasPrefix(RelayPushScript, "#!/bin/sh\n") {
		t.Error("push.sh is not the embedded script")
	}
	if strings.Contains(conf, "pools/") {
		t.Error("the pool's token must stay in its Secret, not in the ConfigMap")
	}
	recording := RelayConfigMap(relayInput(func(s *jitsiv1alpha1.RelaySpec) { s.Record = true }))
	if !strings.Contains(recording.Data[RelayNginxConfFile], `record_path "`+relayRecordingsDir+`";`) {
		t.Error("record: the config does not record to the recordings volume")
	}
}

func TestRelayDeployment(t *testing.T) {
	in := relayInput()
	dep := RelayDeployment(in)
	if *dep.Spec.Replicas != 1 {
		t.Errorf("replicas default %d", *dep.Spec.Replicas)
	}
	pod := dep.Spec.Template.Spec
	c := pod.Containers[0]
	if c.Image != in.Image {
		t.Errorf("image %q, want the operator's default %q", c.Image, in.Image)
	}
	if strings.Join(c.Command, " ") != "nginx -c "+relayConfigDir+"/nginx.conf -e stderr" {
		t.Errorf("command %q", c.Command)
	}
	env := envOf(t, c)
	url := env[KeyRelayURL]
	if url.Value != "" || url.ValueFrom == nil || url.ValueFrom.SecretKeyRef == nil ||
		url.ValueFrom.SecretKeyRef.Name != JibriPoolSecret(in.Pool) || url.ValueFrom.SecretKeyRef.Key != KeyRelayURL {
		t.Errorf("%s must come from the pool's Secret: %+v", KeyRelayURL, url)
	}
	sc, psc := c.SecurityContext, pod.SecurityContext
	if !*psc.RunAsNonRoot || *psc.RunAsUser == 0 || !*sc.RunAsNonRoot || !*sc.ReadOnlyRootFilesystem ||
		*sc.AllowPrivilegeEscalation || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || sc.Privileged != nil {
		t.Errorf("the relay must run unprivileged as non-root on a read-only root: %+v %+v", psc, sc)
	}
	if *pod.AutomountServiceAccountToken {
		t.Error("the relay needs no API access")
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	if v := volumes[mounts["/tmp"].Name]; v.EmptyDir == nil {
		t.Errorf("/tmp (pid file, push.sh's files) must be a writable emptyDir: %+v", v)
	}
	cfg := volumes[mounts[relayConfigDir].Name]
	if cfg.ConfigMap == nil || cfg.ConfigMap.Name != JibriRelay(in.Pool) || *cfg.ConfigMap.DefaultMode != 0o755 || !mounts[relayConfigDir].ReadOnly {
		t.Errorf("the config must be the relay's ConfigMap, push.sh executable: %+v", cfg)
	}
	if _, ok := mounts[relayRecordingsDir]; ok {
		t.Error("a recordings volume without record")
	}
	for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
		if p == nil || p.TCPSocket == nil || p.TCPSocket.Port.StrVal != "rtmp" {
			t.Errorf("want TCP probes on rtmp: %+v", p)
		}
	}
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != RelayPort || c.Ports[0].Name != "rtmp" {
		t.Errorf("ports %+v", c.Ports)
	}

	three := int32(3)
	custom := RelayDeployment(relayInput(func(s *jitsiv1alpha1.RelaySpec) {
		s.Replicas, s.Record, s.Image = &three, true, "registry.example/relay:2"
		s.Resources = corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}
	}))
	cc := custom.Spec.Template.Spec.Containers[0]
	if *custom.Spec.Replicas != 3 || cc.Image != "registry.example/relay:2" || cc.Resources.Limits.Cpu().String() != "2" {
		t.Errorf("replicas %d image %q resources %+v", *custom.Spec.Replicas, cc.Image, cc.Resources)
	}
	var rec *corev1.VolumeMount
	for i, m := range cc.VolumeMounts {
		if m.MountPath == relayRecordingsDir {
			rec = &cc.VolumeMounts[i]
		}
	}
	if rec == nil || rec.ReadOnly {
		t.Fatal("record: no writable recordings volume")
	}
	for _, v := range custom.Spec.Template.Spec.Volumes {
		if v.Name == rec.Name && v.EmptyDir == nil {
			t.Errorf("recordings volume %+v", v)
		}
	}
	if !maps.Equal(custom.Spec.Selector.MatchLabels, dep.Spec.Selector.MatchLabels) {
		t.Error("the selector changed with the spec; it is immutable")
	}
	if custom.Spec.Template.Annotations[AnnotationConfigHash] == dep.Spec.Template.Annotations[AnnotationConfigHash] {
		t.Error("a config change (record) must roll the relay's pods")
	}
	if RelayDeployment(in).Spec.Template.Annotations[AnnotationConfigHash] != dep.Spec.Template.Annotations[AnnotationConfigHash] {
		t.Error("same input, different hash")
	}
}

func TestRelayServiceAndNetworkPolicy(t *testing.T) {
	in := relayInput()
	selector := RelayDeployment(in).Spec.Selector.MatchLabels
	svc := RelayService(in)
	if svc.Spec.Type != corev1.ServiceTypeClusterIP || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 1935 ||
		svc.Spec.Ports[0].Name != "rtmp" || svc.Spec.Ports[0].Protocol != corev1.ProtocolTCP || !maps.Equal(svc.Spec.Selector, selector) {
		t.Errorf("service %+v", svc.Spec)
	}
	if got := RelayStreamURL(in.Pool, "", "video.keynote.s3cr3t"); got != "rtmp://recorders-relay.video.svc.cluster.local:1935/live/video.keynote.s3cr3t" {
		t.Errorf("stream URL %q", got)
	}

	np := RelayNetworkPolicy(in)
	if !maps.Equal(np.Spec.PodSelector.MatchLabels, selector) || len(np.Spec.PolicyTypes) != 1 || np.Spec.PolicyTypes[0] != "Ingress" {
		t.Errorf("policy selects %v types %v", np.Spec.PodSelector.MatchLabels, np.Spec.PolicyTypes)
	}
	if len(np.Spec.Ingress) != 1 || len(np.Spec.Ingress[0].From) != 1 || len(np.Spec.Ingress[0].Ports) != 1 {
		t.Fatalf("ingress %+v", np.Spec.Ingress)
	}
	from, port := np.Spec.Ingress[0].From[0], np.Spec.Ingress[0].Ports[0]
	recorders := map[string]string{LabelPool: "recorders", LabelComponent: ComponentJibri}
	if from.PodSelector == nil || !maps.Equal(from.PodSelector.MatchLabels, recorders) || from.NamespaceSelector != nil || from.IPBlock != nil {
		t.Errorf("ingress from %+v, want only the pool's recorders", from)
	}
	if *port.Protocol != corev1.ProtocolTCP || port.Port.IntValue() != 1935 {
		t.Errorf("ingress port %+v", port)
	}
	// The pool's recorders match the policy.
	recorder := JibriPod(input(in.Deployment), in.Pool, "recorders-x1", nil)
	for k, v := range recorders {
		if recorder.Labels[k] != v {
			t.Errorf("a recorder's labels %v do not match the policy", recorder.Labels)
		}
	}
}

func TestRelayObjectsAreLabelledAndOwned(t *testing.T) {
	in := relayInput()
	dep := RelayDeployment(in)
	objects := map[string]metav1.Object{
		"ConfigMap": RelayConfigMap(in), "Deployment": dep, "Service": RelayService(in), "NetworkPolicy": RelayNetworkPolicy(in),
	}
	for kind, o := range objects {
		if o.GetName() != "recorders-relay" || o.GetNamespace() != "video" {
			t.Errorf("%s %s/%s", kind, o.GetNamespace(), o.GetName())
		}
		l := o.GetLabels()
		if l[LabelComponent] != ComponentRelay || l[LabelPool] != "recorders" || l[LabelInstance] != "meet" || l[LabelManagedBy] != ManagedBy {
			t.Errorf("%s labels %v", kind, l)
		}
		refs := o.GetOwnerReferences()
		if len(refs) != 1 || refs[0].Kind != "JibriPool" || refs[0].Name != "recorders" || refs[0].UID != "pool-uid" ||
			refs[0].APIVersion != jitsiv1alpha1.GroupVersion.String() || !*refs[0].Controller || !*refs[0].BlockOwnerDeletion {
			t.Errorf("%s owners %+v", kind, refs)
		}
	}
	for k, v := range dep.Spec.Selector.MatchLabels {
		if dep.Spec.Template.Labels[k] != v {
			t.Errorf("the template's labels %v do not match the selector", dep.Spec.Template.Labels)
		}
	}
	// Relays of two pools never select each other's pods.
	other := relayInput()
	other.Pool.Name = "other"
	if maps.Equal(RelayDeployment(other).Spec.Selector.MatchLabels, dep.Spec.Selector.MatchLabels) {
		t.Error("two pools' relays share a selector")
	}
	// A pool without relay settings still renders (the caller deletes what it does not want).
	bare := relayInput()
	bare.Pool.Spec.Streaming.Relay = nil
	if d := RelayDeployment(bare); d == nil || *d.Spec.Replicas != 1 {
		t.Error("a pool without relay settings")
	}
}
