// Package chart tests the Helm chart with a real helm (built by make helm): lint, templates
// with default and non-default values, values the schema refuses, and that the chart's CRDs and
// RBAC are config/'s.
package chart

import (
	"bytes"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

const chartDir = "../../charts/jitsi-operator"

func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin, err := filepath.Abs("../../bin/helm")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("bin/helm is missing: run the tests with `make test`, which builds it (make helm)")
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return out.String(), &helmError{err: err, stderr: stderr.String()}
	}
	return out.String(), nil
}

type helmError struct {
	err    error
	stderr string
}

func (e *helmError) Error() string { return e.err.Error() + ": " + e.stderr }

// releaseNS is the namespace the tests install in.
const releaseNS = "jitsi-operator"

// objects are the rendered documents by "Kind/name", or "Kind/namespace/name" outside the
// release's namespace.
type objects map[string][]byte

func template(t *testing.T, values ...string) objects {
	t.Helper()
	args := []string{"template", "ops", chartDir, "--namespace", releaseNS}
	for _, v := range values {
		args = append(args, "--set", v)
	}
	out, err := helm(t, args...)
	if err != nil {
		t.Fatalf("helm template %v: %v", values, err)
	}
	objs := objects{}
	for _, doc := range strings.Split(out, "\n---") {
		var head struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("a rendered document is not YAML: %v\n%s", err, doc)
		}
		if head.Kind == "" {
			continue
		}
		key := head.Kind + "/" + head.Metadata.Name
		if ns := head.Metadata.Namespace; ns != "" && ns != releaseNS {
			key = head.Kind + "/" + ns + "/" + head.Metadata.Name
		}
		if _, dup := objs[key]; dup {
			t.Fatalf("%s rendered twice", key)
		}
		objs[key] = []byte(doc)
	}
	return objs
}

func (o objects) decode(t *testing.T, key string, into any) {
	t.Helper()
	doc, ok := o[key]
	if !ok {
		t.Fatalf("no %s among %v", key, o.keys())
	}
	if err := yaml.UnmarshalStrict(doc, into); err != nil {
		t.Fatalf("%s: %v", key, err)
	}
}

func (o objects) keys() []string {
	var k []string
	for key := range o {
		k = append(k, key)
	}
	slices.Sort(k)
	return k
}

func TestLint(t *testing.T) {
	if out, err := helm(t, "lint", chartDir); err != nil {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
	if out, err := helm(t, "lint", chartDir, "--set", "metrics.serviceMonitor.enabled=true,replicaCount=1,leaderElection.enabled=false"); err != nil {
		t.Fatalf("helm lint with other values: %v\n%s", err, out)
	}
	if out, err := helm(t, "lint", chartDir, "--set", "receiver.separateDeployment=true,receiver.podDisruptionBudget.enabled=true,watchNamespaces={video,talks},networkPolicy.enabled=false"); err != nil {
		t.Fatalf("helm lint with a separate receiver and watched namespaces: %v\n%s", err, out)
	}
}

func TestDefaults(t *testing.T) {
	objs := template(t)
	want := []string{
		"ClusterRole/ops-jitsi-operator", "ClusterRoleBinding/ops-jitsi-operator", "Deployment/ops-jitsi-operator",
		"NetworkPolicy/ops-jitsi-operator-receiver",
		"Role/ops-jitsi-operator-leader-election", "RoleBinding/ops-jitsi-operator-leader-election",
		"Service/ops-jitsi-operator-metrics", "Service/ops-jitsi-operator-receiver", "ServiceAccount/ops-jitsi-operator",
	}
	if got := objs.keys(); !reflect.DeepEqual(got, want) {
		t.Fatalf("objects %v, want %v", got, want)
	}
	var dep appsv1.Deployment
	objs.decode(t, "Deployment/ops-jitsi-operator", &dep)
	c := dep.Spec.Template.Spec.Containers[0]
	for _, arg := range []string{"--leader-elect=true", "--local-cluster=never",
		"--receiver-url=http://ops-jitsi-operator-receiver.jitsi-operator.svc.cluster.local:9090", "--receiver-bind-address=:9090",
		"--receiver-max-connections=2048", "--cluster-domain=cluster.local", "--snd-aloop-loader-image=docker.io/library/busybox:1.38.0",
		"--operator-namespace=jitsi-operator",
		"--operator-pod-labels=app.kubernetes.io/instance=ops,app.kubernetes.io/name=jitsi-operator"} {
		if !slices.Contains(c.Args, arg) {
			t.Errorf("args %v lack %s", c.Args, arg)
		}
	}
	// The recorders' NetworkPolicy admits pods with these labels: the operator's pods carry them.
	if !maps.Equal(dep.Spec.Selector.MatchLabels, map[string]string{"app.kubernetes.io/instance": "ops", "app.kubernetes.io/name": "jitsi-operator"}) {
		t.Errorf("selector %v", dep.Spec.Selector.MatchLabels)
	}
	for k, v := range dep.Spec.Selector.MatchLabels {
		if dep.Spec.Template.Labels[k] != v {
			t.Errorf("pod labels %v lack %s=%s", dep.Spec.Template.Labels, k, v)
		}
	}
	sc, psc := c.SecurityContext, dep.Spec.Template.Spec.SecurityContext
	if sc == nil || psc == nil || !*psc.RunAsNonRoot || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation ||
		!slices.Contains(sc.Capabilities.Drop, "ALL") || psc.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("not a restricted pod: %+v %+v", psc, sc)
	}
	if c.LivenessProbe == nil || c.ReadinessProbe == nil || *dep.Spec.Replicas != 2 || dep.Spec.Template.Spec.ServiceAccountName != "ops-jitsi-operator" {
		t.Errorf("probes %v %v, replicas %d, service account %q", c.LivenessProbe, c.ReadinessProbe, *dep.Spec.Replicas, dep.Spec.Template.Spec.ServiceAccountName)
	}
}

func TestOtherValues(t *testing.T) {
	objs := template(t, "metrics.serviceMonitor.enabled=true", "receiver.url=http://hooks.example.net:9090",
		"leaderElection.enabled=false", "serviceAccount.create=false", "serviceAccount.name=jitsi",
		"image.tag=v9", "replicaCount=1", "logLevel=debug", "podLabels.team=video", "receiver.maxConnections=4096")
	if _, ok := objs["ServiceMonitor/ops-jitsi-operator"]; !ok {
		t.Error("no ServiceMonitor")
	}
	for _, gone := range []string{"Role/ops-jitsi-operator-leader-election", "ServiceAccount/ops-jitsi-operator"} {
		if _, ok := objs[gone]; ok {
			t.Errorf("%s rendered", gone)
		}
	}
	var dep appsv1.Deployment
	objs.decode(t, "Deployment/ops-jitsi-operator", &dep)
	c := dep.Spec.Template.Spec.Containers[0]
	if !strings.HasSuffix(c.Image, ":v9") || !slices.Contains(c.Args, "--receiver-url=http://hooks.example.net:9090") ||
		!slices.Contains(c.Args, "--leader-elect=false") || !slices.Contains(c.Args, "--zap-log-level=debug") ||
		!slices.Contains(c.Args, "--receiver-max-connections=4096") || dep.Spec.Template.Spec.ServiceAccountName != "jitsi" {
		t.Errorf("image %s args %v account %s", c.Image, c.Args, dep.Spec.Template.Spec.ServiceAccountName)
	}
	// User pod labels reach neither the selector nor the operator pods' labels the recorders'
	// NetworkPolicy admits.
	if dep.Spec.Template.Labels["team"] != "video" || len(dep.Spec.Selector.MatchLabels) != 2 ||
		!slices.Contains(c.Args, "--operator-pod-labels=app.kubernetes.io/instance=ops,app.kubernetes.io/name=jitsi-operator") {
		t.Errorf("pod labels %v selector %v args %v", dep.Spec.Template.Labels, dep.Spec.Selector.MatchLabels, c.Args)
	}
	var binding rbacv1.ClusterRoleBinding
	objs.decode(t, "ClusterRoleBinding/ops-jitsi-operator", &binding)
	if binding.Subjects[0].Name != "jitsi" {
		t.Errorf("binding subjects %+v", binding.Subjects)
	}
}

func TestTheSchemaRefusesBadValues(t *testing.T) {
	for _, bad := range []string{"replicaCount=two", "logLevel=verbose", "receiver.port=80", "colour=blue",
		"image.pullPolicy=Sometimes", "receiver.url=hooks.example.net/path",
		"watchNamespaces={Video}", "watchNamespaces=video", "receiver.separateDeployment=yes", "receiver.replicaCount=0",
		"receiver.maxConnections=0", "receiver.maxConnections=100000", "receiver.maxConnections=many",
		"receiver.podDisruptionBudget.minAvailable=half", "networkPolicy.enabled=sometimes",
		"networkPolicy.receiverFrom.prosody.podSelector.matchNames.a=b", "jibri.sndAloopClusterWide=1",
		// The operator pods' selector labels, which the recorders' NetworkPolicy relies on.
		`podLabels.app\.kubernetes\.io/name=other`, `podLabels.app\.kubernetes\.io/instance=other`} {
		if _, err := helm(t, "template", "ops", chartDir, "--set", bad); err == nil || !strings.Contains(err.Error(), "schema") {
			t.Errorf("%s: %v, want a schema error", bad, err)
		}
	}
}

// TestCRDsAndRBACAreConfigs keeps the chart in step with config/ (make manifests copies them).
func TestCRDsAndRBACAreConfigs(t *testing.T) {
	crds, err := filepath.Glob("../../config/crd/bases/*.yaml")
	if err != nil || len(crds) == 0 {
		t.Fatalf("no CRDs in config/: %v", err)
	}
	inChart, _ := filepath.Glob(chartDir + "/crds/*.yaml")
	if len(inChart) != len(crds) {
		t.Fatalf("the chart has %d CRDs, config/ %d: run make manifests", len(inChart), len(crds))
	}
	for _, f := range crds {
		a, _ := os.ReadFile(f)
		b, err := os.ReadFile(filepath.Join(chartDir, "crds", filepath.Base(f)))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("the chart's %s differs from config/'s: run make manifests", filepath.Base(f))
		}
	}
	var want rbacv1.ClusterRole
	raw, err := os.ReadFile("../../config/rbac/role.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	var got rbacv1.ClusterRole
	template(t).decode(t, "ClusterRole/ops-jitsi-operator", &got)
	if !reflect.DeepEqual(got.Rules, want.Rules) || len(want.Rules) == 0 {
		t.Errorf("the chart's ClusterRole rules differ from config/rbac/role.yaml: run make manifests\n got %+v\nwant %+v", got.Rules, want.Rules)
	}
}
