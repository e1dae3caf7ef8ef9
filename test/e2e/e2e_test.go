//go:build e2e

// Package e2e runs the user's story on the local control plane: the chart installed with helm, the
// operator run as a process with exactly the chart's ServiceAccount permissions, then a
// JitsiDeployment, a JibriPool and a Meeting from creation to deletion. Midway the chart is
// upgraded to run the receiver as its own Deployment, and a second Meeting goes through the
// controllers and the receiver run as two processes, each with its own ServiceAccount's
// permissions. Recorders are stand-ins (jibritest) that run the shipped finalize script, which
// uploads each recording to an S3 server on loopback (`rclone serve s3`). Run it with
// `make test-e2e`.
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
	"sync"
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
	t       *testing.T
	ctx     context.Context
	dir     string
	cluster *localcluster.Cluster
	admin   client.Client
	bin     string
	// receiverPort is where the receiver listens (whichever process runs it), receiver its URL.
	receiverPort int
	receiver     string
	// logs are the operator processes' logs; stop stops the running ones.
	logs  []string
	stop  func()
	fakes *jibritest.Pods
	// s3 is where the pool uploads recordings.
	s3 *s3Server
	// room is the Meeting (and its room) the steps play.
	room string
	// sessions is, per room, the session directory a stand-in recorder finalized last.
	mu       sync.Mutex
	sessions map[string]string
}

func TestUserStory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	s := &story{t: t, ctx: ctx, dir: t.TempDir(), room: "standup", sessions: map[string]string{}}
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
	s.build()
	s.receiverPort = freePort(t)
	s.receiver = fmt.Sprintf("http://127.0.0.1:%d", s.receiverPort)
	// The chart's default: one process runs the controllers and the receiver.
	s.stop = s.runOperator("operator", release, "--leader-elect", "--leader-election-namespace", operatorNS,
		fmt.Sprintf("--receiver-bind-address=127.0.0.1:%d", s.receiverPort), "--receiver-url="+s.receiver)
	defer func() { s.stop() }()

	// One story, in order: each step needs the one before, so the first failure ends it.
	for _, step := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"the stack runs", s.stackRuns},
		{"events make the meeting InProgress with its participants", s.meetingStarts},
		{"recording demand scales the pool up and the meeting is recorded", s.recordingRuns},
		{"the meeting ends, the recording completes, the pool scales down", s.meetingEnds},
		{"with receiver.separateDeployment, the controllers and the receiver run apart", s.separateReceiver},
		{"a second meeting goes through both, each with its own permissions", s.secondMeeting},
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

// build builds the operator binary.
func (s *story) build() {
	s.bin = filepath.Join(s.dir, "jitsi-operator")
	build := exec.CommandContext(s.ctx, "go", "build", "-o", s.bin, ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		s.t.Fatalf("go build: %v\n%s", err, out)
	}
}

// runOperator runs the operator with a token of the chart's ServiceAccount account, so every
// call it makes is checked against the chart's RBAC, and waits until it is ready.
func (s *story) runOperator(name, account string, args ...string) (stop func()) {
	cs := kubernetes.NewForConfigOrDie(s.cluster.Config)
	tok, err := cs.CoreV1().ServiceAccounts(operatorNS).CreateToken(s.ctx, account,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		s.t.Fatalf("a token of the chart's ServiceAccount %s: %v", account, err)
	}
	kubeconfig := filepath.Join(s.dir, name+".kubeconfig")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: s.cluster.Config.Host, CertificateAuthorityData: s.cluster.Config.CAData}
	cfg.AuthInfos["operator"] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
	cfg.Contexts["operator"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "operator"}
	cfg.CurrentContext = "operator"
	if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
		s.t.Fatal(err)
	}

	metrics, probes := freePort(s.t), freePort(s.t)
	log := filepath.Join(s.dir, name+".log")
	s.logs = append(s.logs, log)
	logFile, err := os.Create(log)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(s.bin, append([]string{"--kubeconfig", kubeconfig, "--local-cluster=never",
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metrics), fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probes),
		"--jibri-health-period=1s"}, args...)...)
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
			tail, _ := os.ReadFile(log)
			if len(tail) > 8000 {
				tail = tail[len(tail)-8000:]
			}
			s.t.Logf("%s log (end):\n%s", name, tail)
		}
	}
	s.eventually(name+" is ready", func() error {
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
	s.s3 = startS3(t, filepath.Join(s.dir, "s3"))
	s.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: s3Secret, Namespace: ns},
		Data: map[string][]byte{"AWS_ACCESS_KEY_ID": []byte(s3AccessKey), "AWS_SECRET_ACCESS_KEY": []byte(s3SecretKey)}})
	s.create(&jitsiv1alpha1.JitsiDeployment{ObjectMeta: metav1.ObjectMeta{Name: "meet", Namespace: ns},
		Spec: jitsiv1alpha1.JitsiDeploymentSpec{Domain: "meet.example.com",
			JVB: jitsiv1alpha1.JVBSpec{Replicas: ptr(int32(2)), Media: jitsiv1alpha1.MediaSpec{Type: jitsiv1alpha1.MediaNodePort}}}})
	s.create(&jitsiv1alpha1.JibriPool{ObjectMeta: metav1.ObjectMeta{Name: "recorders", Namespace: ns},
		Spec: jitsiv1alpha1.JibriPoolSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"},
			MinReplicas: ptr(int32(0)), MaxReplicas: ptr(int32(2)), MinIdle: ptr(int32(0)), ScaleDownDelaySeconds: ptr(int32(1)),
			Audio: jitsiv1alpha1.AudioPulseAudio,
			Recordings: jitsiv1alpha1.RecordingsSpec{Upload: &jitsiv1alpha1.UploadSpec{S3: &jitsiv1alpha1.S3UploadSpec{
				Endpoint: s.s3.endpoint(), Bucket: bucket, Prefix: prefix, ForcePathStyle: true,
				CredentialsSecretRef: jitsiv1alpha1.SecretReference{Name: s3Secret}}}}}})
	s.createMeeting()

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
	s.accessIssued()
	s.eventually("the JibriPool is Ready with no recorder", func() error {
		p := s.pool()
		if c := meta.FindStatusCondition(p.Status.Conditions, jitsiv1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue || p.Status.Replicas != 0 {
			return fmt.Errorf("pool %+v", p.Status)
		}
		return nil
	})
}

// createMeeting creates the Meeting of s.room, recorded by the pool as soon as it starts.
func (s *story) createMeeting() {
	s.create(&jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Name: s.room, Namespace: ns},
		Spec: jitsiv1alpha1.MeetingSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"},
			Recording: jitsiv1alpha1.MeetingRecordingSpec{Mode: jitsiv1alpha1.RecordingAutomatic,
				JibriPoolRef: &jitsiv1alpha1.LocalObjectReference{Name: "recorders"}}}})
}

func (s *story) accessIssued() {
	s.eventually("the Meeting's access Secret", func() error {
		return s.admin.Get(s.ctx, types.NamespacedName{Namespace: ns, Name: s.room + "-access"}, &corev1.Secret{})
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

func (s *story) event(kind string, jid, name string) map[string]any {
	at := time.Now()
	e := map[string]any{"id": fmt.Sprintf("%s-%s-%d", kind, jid, at.UnixNano()), "event": kind, "timestamp": at.UnixMilli(),
		"room": map[string]any{"jid": s.room + "@muc.meet.jitsi", "name": s.room}}
	if jid != "" {
		e["occupant"] = map[string]any{"jid": jid, "nick": name, "name": name, "moderator": false, "recorder": false}
	}
	return e
}

func (s *story) meetingStarts(t *testing.T) {
	s.events(s.event("room-created", "", ""), s.event("occupant-joined", "alice@meet.jitsi", "Alice"), s.event("occupant-joined", "bob@meet.jitsi", "Bob"))
	s.eventually("the Meeting is InProgress with two people", func() error {
		m := s.meeting()
		if m.Status.Phase != jitsiv1alpha1.MeetingInProgress || m.Status.ParticipantCount != 2 || len(m.Status.Participants) != 2 {
			return fmt.Errorf("phase %s, %d in, %d listed", m.Status.Phase, m.Status.ParticipantCount, len(m.Status.Participants))
		}
		return nil
	})
}

func (s *story) recordingRuns(t *testing.T) {
	if s.fakes == nil {
		script := filepath.Join(s.dir, "finalize-recording.sh")
		if err := os.WriteFile(script, []byte(render.FinalizeRecordingScript), 0o755); err != nil {
			t.Fatal(err)
		}
		// Where Jibri runs its finalize script, run the operator's, on a session directory as
		// Jibri leaves it, with the pod's environment and credentials: it uploads to the S3 server.
		s.fakes = jibritest.RunPods(s.admin, ns, "recorders", 0, func(pod, session string) { s.finalize(script, pod, session) })
		s.t.Cleanup(s.fakes.Stop)
	}
	s.eventually("a recorder records the meeting", func() error {
		if s.fakes.Recording(s.room) == "" {
			return fmt.Errorf("nobody records %s; pool %+v", s.room, s.pool().Status)
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
}

func (s *story) meetingEnds(t *testing.T) {
	s.events(s.event("occupant-left", "bob@meet.jitsi", "Bob"), s.event("occupant-left", "alice@meet.jitsi", "Alice"), s.event("room-destroyed", "", ""))
	s.eventually("the recording is Completed with its file, uploaded to S3", func() error {
		m := s.meeting()
		r := m.Status.Recording
		if m.Status.Phase != jitsiv1alpha1.MeetingCompleted || r == nil || r.State != jitsiv1alpha1.RecordingStateCompleted || len(r.Files) == 0 {
			return fmt.Errorf("phase %s recording %+v", m.Status.Phase, r)
		}
		return s.uploaded(r.Files)
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

// separateReceiver upgrades the release to run the receiver as its own Deployment, and replaces
// the operator process with the two the chart then runs: the controllers under the operator's
// ServiceAccount and the receiver, on the same address, under the receiver's own.
func (s *story) separateReceiver(t *testing.T) {
	s.helm("upgrade", release, filepath.Join(root, "charts", "jitsi-operator"), "--namespace", operatorNS,
		"--set", "receiver.separateDeployment=true")
	for _, o := range []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: release + "-receiver", Namespace: operatorNS}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: release + "-receiver"}},
	} {
		if err := s.admin.Get(s.ctx, client.ObjectKeyFromObject(o), o); err != nil {
			t.Fatalf("the chart's %T %s: %v", o, o.GetName(), err)
		}
	}
	s.stop()
	controllers := s.runOperator("controllers", release, "--run=controllers", "--leader-elect", "--leader-election-namespace", operatorNS,
		"--receiver-url="+s.receiver)
	receiver := s.runOperator("receiver", release+"-receiver", "--run=receiver",
		fmt.Sprintf("--receiver-bind-address=127.0.0.1:%d", s.receiverPort))
	s.stop = func() { receiver(); controllers() }
}

// secondMeeting plays a second Meeting from creation to its recording, now through the two
// processes: the controllers issue access and run the recorder, the receiver takes Prosody's
// events, the recorder's webhooks (kept on its Pod) and the finalize script's report.
func (s *story) secondMeeting(t *testing.T) {
	s.room = "retro"
	s.createMeeting()
	s.accessIssued()
	for _, step := range []func(*testing.T){s.meetingStarts, s.recordingRuns, s.meetingEnds} {
		step(t)
	}
}

func (s *story) cleanUp(t *testing.T) {
	for _, o := range []client.Object{
		&jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Name: "standup", Namespace: ns}},
		&jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Name: "retro", Namespace: ns}},
		&jitsiv1alpha1.JibriPool{ObjectMeta: metav1.ObjectMeta{Name: "recorders", Namespace: ns}},
		&jitsiv1alpha1.JitsiDeployment{ObjectMeta: metav1.ObjectMeta{Name: "meet", Namespace: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: s3Secret, Namespace: ns}},
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
		for _, name := range []string{release, release + "-receiver"} {
			err := s.admin.Get(s.ctx, types.NamespacedName{Name: name}, &rbacv1.ClusterRole{})
			if !apierrors.IsNotFound(err) {
				return fmt.Errorf("ClusterRole %s: %v", name, err)
			}
		}
		return nil
	})
}

// noForbidden fails the test if an operator process was refused anything: the chart's RBAC must
// cover every call each makes.
func (s *story) noForbidden() {
	for _, log := range s.logs {
		f, err := os.Open(log)
		if err != nil {
			s.t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if line := sc.Text(); strings.Contains(line, "forbidden") && !strings.Contains(line, "being terminated") {
				s.t.Errorf("%s was refused: %s", filepath.Base(log), line)
			}
		}
		f.Close()
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
	_ = s.admin.Get(s.ctx, types.NamespacedName{Namespace: ns, Name: s.room}, m)
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
