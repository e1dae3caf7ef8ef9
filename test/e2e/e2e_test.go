//go:build e2e

// Package e2e runs the user's story on the local control plane: the chart installed with helm, the
// operator run as a process with exactly the chart's ServiceAccount permissions, then a
// JitsiDeployment, a JibriPool and a Meeting from creation to deletion. Run it with `make test-e2e`.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/jibri/jibritest"
	"github.com/jitsi-operator/jitsi-operator/internal/localcluster"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

const (
	root       = "../.."
	release    = "jitsi-operator"
	operatorNS = "jitsi-operator"
	ns         = "video"
)

// story is what the steps share.
type story struct {
	t        *testing.T
	ctx      context.Context
	dir      string
	cluster  *localcluster.Cluster
	admin    client.Client
	receiver string
	log      string
	fakes    *jibritest.Pods
}

func TestUserStory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	s := &story{t: t, ctx: ctx, dir: t.TempDir()}
	assets, _ := filepath.Abs(filepath.Join(root, "bin", "k8s"))
	var err error
	s.cluster, err = localcluster.Start(ctx, localcluster.Options{AssetsDir: assets, Dir: filepath.Join(s.dir, "cluster"), Nodes: 2})
	if err != nil {
		t.Fatalf("local control plane (run `make test-e2e`, which builds it): %v", err)
	}
	defer s.cluster.Stop()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, jitsiv1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	if s.admin, err = client.New(s.cluster.Config, client.Options{Scheme: scheme}); err != nil {
		t.Fatal(err)
	}

	s.helm("install", release, filepath.Join(root, "charts", "jitsi-operator"), "--namespace", operatorNS, "--create-namespace")
	s.waitCRDs()
	stop := s.runOperator()
	defer stop()

	// One story, in order: each step needs the one before, so the first failure ends it.
	for _, step := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"the stack runs", s.stackRuns},
		{"events make the meeting InProgress with its participants", s.meetingStarts},
		{"recording demand scales the pool up and the meeting is recorded", s.recordingRuns},
		{"the meeting ends, the recording completes, the pool scales down", s.meetingEnds},
		{"deleting everything leaves nothing behind", s.cleanUp},
	} {
		start := time.Now()
		step.run(t)
		t.Logf("%s: %s", step.name, time.Since(start).Round(time.Millisecond))
	}
	s.noForbidden()
}

// helm runs bin/helm against the local cluster.
func (s *story) helm(args ...string) string {
	s.t.Helper()
	bin, _ := filepath.Abs(filepath.Join(root, "bin", "helm"))
	cmd := exec.CommandContext(s.ctx, bin, append(args, "--kubeconfig", s.cluster.KubeconfigPath)...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+s.dir+"/helm", "HELM_CONFIG_HOME="+s.dir+"/helm", "HELM_DATA_HOME="+s.dir+"/helm")
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (s *story) waitCRDs() {
	for _, name := range []string{"jitsideployments", "jibripools", "meetings"} {
		s.eventually("CRD "+name+" established", func() error {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := s.admin.Get(s.ctx, types.NamespacedName{Name: name + ".jitsi.operator.dev"}, crd); err != nil {
				return err
			}
			for _, c := range crd.Status.Conditions {
				if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
					return nil
				}
			}
			return fmt.Errorf("not established")
		})
	}
}

// runOperator builds the operator and runs it with a token of the chart's ServiceAccount, so
// every call it makes is checked against the chart's RBAC.
func (s *story) runOperator() (stop func()) {
	bin := filepath.Join(s.dir, "jitsi-operator")
	build := exec.CommandContext(s.ctx, "go", "build", "-o", bin, ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		s.t.Fatalf("go build: %v\n%s", err, out)
	}
	cs := kubernetes.NewForConfigOrDie(s.cluster.Config)
	tok, err := cs.CoreV1().ServiceAccounts(operatorNS).CreateToken(s.ctx, release,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		s.t.Fatalf("a token of the chart's ServiceAccount: %v", err)
	}
	kubeconfig := filepath.Join(s.dir, "operator.kubeconfig")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: s.cluster.Config.Host, CertificateAuthorityData: s.cluster.Config.CAData}
	cfg.AuthInfos["operator"] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
	cfg.Contexts["operator"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "operator"}
	cfg.CurrentContext = "operator"
	if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
		s.t.Fatal(err)
	}

	receiver, metrics, probes := freePort(s.t), freePort(s.t), freePort(s.t)
	s.receiver = fmt.Sprintf("http://127.0.0.1:%d", receiver)
	s.log = filepath.Join(s.dir, "operator.log")
	logFile, err := os.Create(s.log)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(bin, "--kubeconfig", kubeconfig, "--local-cluster=never",
		"--leader-elect", "--leader-election-namespace", operatorNS,
		fmt.Sprintf("--receiver-bind-address=127.0.0.1:%d", receiver), "--receiver-url="+s.receiver,
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metrics), fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probes),
		"--jibri-health-period=1s")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	stop = func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
		}
		logFile.Close()
		if s.t.Failed() {
			tail, _ := os.ReadFile(s.log)
			if len(tail) > 8000 {
				tail = tail[len(tail)-8000:]
			}
			s.t.Logf("operator log (end):\n%s", tail)
		}
	}
	s.eventually("the operator is ready", func() error {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", probes))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz %d", resp.StatusCode)
		}
		return nil
	})
	return stop
}

func (s *story) stackRuns(t *testing.T) {
	s.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	s.create(&jitsiv1alpha1.JitsiDeployment{ObjectMeta: metav1.ObjectMeta{Name: "meet", Namespace: ns},
		Spec: jitsiv1alpha1.JitsiDeploymentSpec{Domain: "meet.example.com",
			JVB: jitsiv1alpha1.JVBSpec{Replicas: ptr(int32(2)), Media: jitsiv1alpha1.MediaSpec{Type: jitsiv1alpha1.MediaNodePort}}}})
	s.create(&jitsiv1alpha1.JibriPool{ObjectMeta: metav1.ObjectMeta{Name: "recorders", Namespace: ns},
		Spec: jitsiv1alpha1.JibriPoolSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"},
			MinReplicas: ptr(int32(0)), MaxReplicas: ptr(int32(2)), MinIdle: ptr(int32(0)), ScaleDownDelaySeconds: ptr(int32(1)),
			Audio: jitsiv1alpha1.AudioPulseAudio}})
	s.create(&jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Name: "standup", Namespace: ns},
		Spec: jitsiv1alpha1.MeetingSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"},
			Recording: jitsiv1alpha1.MeetingRecordingSpec{Mode: jitsiv1alpha1.RecordingAutomatic,
				JibriPoolRef: &jitsiv1alpha1.LocalObjectReference{Name: "recorders"}}}})

	s.eventually("the JitsiDeployment is Ready", func() error {
		d := &jitsiv1alpha1.JitsiDeployment{}
		if err := s.admin.Get(s.ctx, types.NamespacedName{Namespace: ns, Name: "meet"}, d); err != nil {
			return err
		}
		if c := meta.FindStatusCondition(d.Status.Conditions, jitsiv1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Ready: %+v", c)
		}
		return nil
	})
	var pods corev1.PodList
	if err := s.admin.List(s.ctx, &pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	running := 0
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning {
			running++
		}
	}
	if running < 5 { // prosody, jicofo, web, two bridges
		t.Errorf("%d stack pods running, want 5", running)
	}
	s.eventually("the Meeting's access Secret", func() error {
		return s.admin.Get(s.ctx, types.NamespacedName{Namespace: ns, Name: "standup-access"}, &corev1.Secret{})
	})
	s.eventually("the JibriPool is Ready with no recorder", func() error {
		p := s.pool()
		if c := meta.FindStatusCondition(p.Status.Conditions, jitsiv1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue || p.Status.Replicas != 0 {
			return fmt.Errorf("pool %+v", p.Status)
		}
		return nil
	})
}

// events posts events as the operator's Prosody module does, signed with the stack's events secret.
func (s *story) events(evs ...map[string]any) {
	s.t.Helper()
	secret := &corev1.Secret{}
	if err := s.admin.Get(s.ctx, types.NamespacedName{Namespace: ns, Name: "meet-generated"}, secret); err != nil {
		s.t.Fatal(err)
	}
	for _, e := range evs {
		body, _ := json.Marshal(e)
		mac := hmac.New(sha256.New, secret.Data[render.KeyWebhookSecret])
		mac.Write(body)
		req, _ := http.NewRequest(http.MethodPost, s.receiver+"/v1/prosody/events?deployment="+ns+"/meet", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Jitsi-Signature", hex.EncodeToString(mac.Sum(nil)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			s.t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			s.t.Fatalf("the receiver answered %d to %s", resp.StatusCode, body)
		}
	}
}

func event(kind string, jid, name string) map[string]any {
	at := time.Now()
	e := map[string]any{"id": fmt.Sprintf("%s-%s-%d", kind, jid, at.UnixNano()), "event": kind, "timestamp": at.UnixMilli(),
		"room": map[string]any{"jid": "standup@muc.meet.jitsi", "name": "standup"}}
	if jid != "" {
		e["occupant"] = map[string]any{"jid": jid, "nick": name, "name": name, "moderator": false, "recorder": false}
	}
	return e
}

func (s *story) meetingStarts(t *testing.T) {
	s.events(event("room-created", "", ""), event("occupant-joined", "alice@meet.jitsi", "Alice"), event("occupant-joined", "bob@meet.jitsi", "Bob"))
	s.eventually("the Meeting is InProgress with two people", func() error {
		m := s.meeting()
		if m.Status.Phase != jitsiv1alpha1.MeetingInProgress || m.Status.ParticipantCount != 2 || len(m.Status.Participants) != 2 {
			return fmt.Errorf("phase %s, %d in, %d listed", m.Status.Phase, m.Status.ParticipantCount, len(m.Status.Participants))
		}
		return nil
	})
}

func (s *story) recordingRuns(t *testing.T) {
	script := filepath.Join(s.dir, "finalize-recording.sh")
	if err := os.WriteFile(script, []byte(render.FinalizeRecordingScript), 0o755); err != nil {
		t.Fatal(err)
	}
	// Where Jibri runs its finalize script, run the operator's, on a session directory as Jibri
	// leaves it, with the pod's environment.
	fakes := jibritest.RunPods(s.admin, ns, "recorders", 0, func(pod, session string) { s.finalize(script, session) })
	s.t.Cleanup(fakes.Stop)
	s.eventually("a recorder records the meeting", func() error {
		if fakes.Recording("standup") == "" {
			return fmt.Errorf("nobody records standup; pool %+v", s.pool().Status)
		}
		return nil
	})
	s.eventually("the Meeting says Recording", func() error {
		if r := s.meeting().Status.Recording; r == nil || r.State != jitsiv1alpha1.RecordingStateRecording {
			return fmt.Errorf("recording %+v", r)
		}
		return nil
	})
	if p := s.pool(); p.Status.Replicas != 1 || p.Status.Busy != 1 {
		t.Errorf("pool %+v, want one busy recorder", p.Status)
	}
	s.fakes = fakes
}

// finalize runs the shipped finalize script as a recorder would.
func (s *story) finalize(script, session string) {
	dir := filepath.Join(s.dir, "recordings", session)
	_ = os.MkdirAll(dir, 0o755)
	_ = os.WriteFile(filepath.Join(dir, "standup_2026-11-25-10-00-00.mp4"), bytes.Repeat([]byte("frame"), 2000), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "metadata.json"), []byte(`{"meeting_url":"https://meet.example.com/standup","participants":[]}`), 0o644)
	poolSecret, events := &corev1.Secret{}, &corev1.Secret{}
	_ = s.admin.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "recorders-jibri"}, poolSecret)
	_ = s.admin.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "meet-generated"}, events)
	cmd := exec.Command("sh", script, dir)
	cmd.Env = append(os.Environ(),
		render.KeyRecordingURL+"="+string(poolSecret.Data[render.KeyRecordingURL]),
		"JITSI_OPERATOR_EVENTS_SECRET="+string(events.Data[render.KeyWebhookSecret]))
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Errorf("finalize script: %v\n%s", err, out)
	}
}

func (s *story) meetingEnds(t *testing.T) {
	s.events(event("occupant-left", "bob@meet.jitsi", "Bob"), event("occupant-left", "alice@meet.jitsi", "Alice"), event("room-destroyed", "", ""))
	s.eventually("the recording is Completed with its file", func() error {
		m := s.meeting()
		r := m.Status.Recording
		if m.Status.Phase != jitsiv1alpha1.MeetingCompleted || r == nil || r.State != jitsiv1alpha1.RecordingStateCompleted || len(r.Files) == 0 {
			return fmt.Errorf("phase %s recording %+v", m.Status.Phase, r)
		}
		for _, f := range r.Files {
			if f.Name == "standup_2026-11-25-10-00-00.mp4" && f.SizeBytes == 10000 && len(f.SHA256) == 64 {
				return nil
			}
		}
		return fmt.Errorf("no recording among the files %+v", r.Files)
	})
	s.eventually("the pool is back to no recorder", func() error {
		var pods corev1.PodList
		if err := s.admin.List(s.ctx, &pods, client.InNamespace(ns), client.MatchingLabels{render.LabelPool: "recorders"}); err != nil {
			return err
		}
		if p := s.pool(); len(pods.Items) != 0 || p.Status.Replicas != 0 {
			return fmt.Errorf("%d recorder pods, status %+v", len(pods.Items), p.Status)
		}
		return nil
	})
	if killed := s.fakes.KilledWhileBusy(); len(killed) > 0 {
		t.Errorf("recorders removed while busy: %v", killed)
	}
}

func (s *story) cleanUp(t *testing.T) {
	for _, o := range []client.Object{
		&jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Name: "standup", Namespace: ns}},
		&jitsiv1alpha1.JibriPool{ObjectMeta: metav1.ObjectMeta{Name: "recorders", Namespace: ns}},
		&jitsiv1alpha1.JitsiDeployment{ObjectMeta: metav1.ObjectMeta{Name: "meet", Namespace: ns}},
	} {
		if err := s.admin.Delete(s.ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	s.eventually("nothing left in the namespace", func() error {
		var left []string
		lists := map[string]client.ObjectList{"Pod": &corev1.PodList{}, "Service": &corev1.ServiceList{},
			"ConfigMap": &corev1.ConfigMapList{}, "Secret": &corev1.SecretList{}, "PersistentVolumeClaim": &corev1.PersistentVolumeClaimList{}}
		for kind, list := range lists {
			if err := s.admin.List(s.ctx, list, client.InNamespace(ns)); err != nil {
				return err
			}
			items, _ := meta.ExtractList(list)
			for _, o := range items {
				if name := o.(client.Object).GetName(); name != "kube-root-ca.crt" {
					left = append(left, kind+"/"+name)
				}
			}
		}
		var deps jitsiv1alpha1.JitsiDeploymentList
		if err := s.admin.List(s.ctx, &deps, client.InNamespace(ns)); err != nil {
			return err
		}
		if len(left) > 0 || len(deps.Items) > 0 {
			return fmt.Errorf("left: %v", left)
		}
		return nil
	})
	s.helm("uninstall", release, "--namespace", operatorNS)
	s.eventually("the chart's cluster objects are gone", func() error {
		err := s.admin.Get(s.ctx, types.NamespacedName{Name: release}, &rbacv1.ClusterRole{})
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("ClusterRole %s: %v", release, err)
		}
		return nil
	})
}

// noForbidden fails the test if the operator was refused anything: the chart's RBAC must cover
// every call it makes.
func (s *story) noForbidden() {
	f, err := os.Open(s.log)
	if err != nil {
		s.t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); strings.Contains(line, "forbidden") && !strings.Contains(line, "being terminated") {
			s.t.Errorf("the operator was refused: %s", line)
		}
	}
}

func (s *story) create(o client.Object) {
	s.t.Helper()
	if err := s.admin.Create(s.ctx, o); err != nil {
		s.t.Fatalf("create %T %s: %v", o, o.GetName(), err)
	}
}

func (s *story) pool() *jitsiv1alpha1.JibriPool {
	p := &jitsiv1alpha1.JibriPool{}
	_ = s.admin.Get(s.ctx, types.NamespacedName{Namespace: ns, Name: "recorders"}, p)
	return p
}

func (s *story) meeting() *jitsiv1alpha1.Meeting {
	m := &jitsiv1alpha1.Meeting{}
	_ = s.admin.Get(s.ctx, types.NamespacedName{Namespace: ns, Name: "standup"}, m)
	return m
}

// eventually retries check for a minute, then fails with its last error.
func (s *story) eventually(what string, check func() error) {
	s.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func ptr[T any](v T) *T { return &v }
