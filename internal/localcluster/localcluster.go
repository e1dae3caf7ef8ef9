// Package localcluster runs a small but real Kubernetes control plane on loopback: etcd and
// kube-apiserver (started through controller-runtime's envtest), kube-controller-manager,
// kube-scheduler and kwok with fake nodes, so that Deployments get ReplicaSets, pods get
// scheduled and report Running, and garbage collection follows owner references.
//
// Every address it uses is in 127.0.0.0/8: Service cluster IPs come from 127.3.0.0/16, pod IPs
// from a /16 of the process's own (PodCIDR) and every node's InternalIP is 127.0.0.1.
package localcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

const (
	// ServiceCIDR is where Service cluster IPs come from.
	ServiceCIDR = "127.3.0.0/16"
	// NodeIP is the InternalIP of every kwok node.
	NodeIP = "127.0.0.1"

	// KwokNodeAnnotation marks the nodes kwok manages.
	KwokNodeAnnotation = "kwok.x-k8s.io/node"

	stopGrace = 10 * time.Second
)

// podOctet is the second octet of this process's pod addresses: local clusters of different
// processes (a test suite and a bench on one machine) get different pod ranges, so that one's
// stand-in recorders and bridges, listening on their pods' addresses, never answer the other's
// operator. 127.3 is the Services'.
var podOctet = 10 + os.Getpid()%200

// PodCIDR is where pod IPs come from, 127.<n>.0.0/16 with n of this process; node i gets
// 127.<n>.i.0/24.
func PodCIDR() string { return fmt.Sprintf("127.%d.0.0/16", podOctet) }

// PodPrefix is the common prefix of this process's pod addresses, "127.<n>.".
func PodPrefix() string { return fmt.Sprintf("127.%d.", podOctet) }

// Options configure Start.
type Options struct {
	// AssetsDir holds kube-apiserver, etcd, kube-controller-manager, kube-scheduler, kwok and
	// kwok-stages.yaml, as linked by hack/controlplane.sh.
	AssetsDir string
	// Dir receives the data, certificates, logs and kubeconfig. It is created if missing.
	Dir string
	// Nodes is the number of kwok nodes; 0 means none.
	Nodes int
	// Log, when set, receives one line per step.
	Log io.Writer
}

// Cluster is a running local control plane.
type Cluster struct {
	// Config is an admin (system:masters) client config.
	Config *rest.Config
	// KubeconfigPath is a kubeconfig file with the same admin credentials.
	KubeconfigPath string
	// Dir is the working directory; each component logs to <Dir>/<component>.log.
	Dir string

	env   *envtest.Environment
	procs []*process
	log   io.Writer

	stopKeeper, keeperDone chan struct{}
}

type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// Start brings the control plane up and returns once the nodes are Ready and the
// controller-manager has created the default service account. On error everything started so
// far is stopped again.
func Start(ctx context.Context, o Options) (c *Cluster, err error) {
	if o.Dir == "" {
		return nil, errors.New("localcluster: Dir is required")
	}
	for _, name := range []string{"kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler", "kwok", "kwok-stages.yaml"} {
		if _, err := os.Stat(filepath.Join(o.AssetsDir, name)); err != nil {
			return nil, fmt.Errorf("localcluster: %s missing in %s (run hack/controlplane.sh): %w", name, o.AssetsDir, err)
		}
	}
	certDir := filepath.Join(o.Dir, "pki")
	dataDir := filepath.Join(o.Dir, "etcd")
	for _, d := range []string{certDir, dataDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	c = &Cluster{Dir: o.Dir, log: o.Log}
	if c.log == nil {
		c.log = io.Discard
	}
	defer func() {
		if err != nil {
			_ = c.Stop()
			c = nil
		}
	}()

	apiLog, err := os.Create(filepath.Join(o.Dir, "kube-apiserver.log"))
	if err != nil {
		return c, err
	}
	etcdLog, err := os.Create(filepath.Join(o.Dir, "etcd.log"))
	if err != nil {
		return c, err
	}
	api := &envtest.APIServer{CertDir: certDir, Out: apiLog, Err: apiLog}
	api.Configure().
		Set("service-cluster-ip-range", ServiceCIDR).
		Set("advertise-address", "127.0.0.1").
		Set("endpoint-reconciler-type", "none")
	c.env = &envtest.Environment{
		BinaryAssetsDirectory: o.AssetsDir,
		ControlPlane: envtest.ControlPlane{
			APIServer: api,
			Etcd:      &envtest.Etcd{DataDir: dataDir, Out: etcdLog, Err: etcdLog},
		},
		ControlPlaneStartTimeout: time.Minute,
		ControlPlaneStopTimeout:  stopGrace * 2,
	}
	c.step("starting etcd and kube-apiserver")
	if _, err := c.env.Start(); err != nil {
		c.env = nil
		return c, fmt.Errorf("etcd and kube-apiserver (logs in %s): %w", o.Dir, err)
	}
	admin, err := c.env.AddUser(envtest.User{Name: "local-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return c, fmt.Errorf("admin user: %w", err)
	}
	c.Config = admin.Config()
	// client-go's default of 5 requests per second would make the local cluster look slow.
	c.Config.QPS, c.Config.Burst = 100, 200
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return c, err
	}
	c.KubeconfigPath = filepath.Join(o.Dir, "kubeconfig")
	if err := os.WriteFile(c.KubeconfigPath, kubeconfig, 0o600); err != nil {
		return c, err
	}
	rootCA := filepath.Join(certDir, "serving-ca.crt")
	if err := os.WriteFile(rootCA, api.SecureServing.CA, 0o600); err != nil {
		return c, err
	}

	kcmPort, err := freePort()
	if err != nil {
		return c, err
	}
	c.step("starting kube-controller-manager")
	if err := c.run(o.AssetsDir, "kube-controller-manager",
		"--kubeconfig="+c.KubeconfigPath,
		"--authentication-kubeconfig="+c.KubeconfigPath,
		"--authorization-kubeconfig="+c.KubeconfigPath,
		// Nodes get their podCIDR from whoever creates them. kwok's fake nodes are always
		// healthy: no node lifecycle (which marks a node NotReady, and all its pods with it, when
		// kwok renews its lease late on a saturated machine) and no taint eviction.
		"--controllers=*,-node-ipam-controller,-node-lifecycle-controller,-taint-eviction-controller",
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(kcmPort),
		"--cert-dir="+filepath.Join(o.Dir, "kcm-certs"),
		"--service-account-private-key-file="+filepath.Join(certDir, "sa-signer.key"),
		"--root-ca-file="+rootCA,
		"--service-cluster-ip-range="+ServiceCIDR,
		"--use-service-account-credentials=false",
		"--concurrent-gc-syncs=5",
	); err != nil {
		return c, err
	}
	schedPort, err := freePort()
	if err != nil {
		return c, err
	}
	c.step("starting kube-scheduler")
	if err := c.run(o.AssetsDir, "kube-scheduler",
		"--kubeconfig="+c.KubeconfigPath,
		"--authentication-kubeconfig="+c.KubeconfigPath,
		"--authorization-kubeconfig="+c.KubeconfigPath,
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(schedPort),
		"--cert-dir="+filepath.Join(o.Dir, "scheduler-certs"),
	); err != nil {
		return c, err
	}
	kwokPort, err := freePort()
	if err != nil {
		return c, err
	}
	c.step("starting kwok")
	if err := c.run(o.AssetsDir, "kwok",
		"--kubeconfig="+c.KubeconfigPath,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector="+KwokNodeAnnotation+"=fake",
		"--cidr="+PodCIDR(),
		"--node-ip="+NodeIP,
		"--server-address=127.0.0.1:"+strconv.Itoa(kwokPort),
		"-c="+filepath.Join(o.AssetsDir, "kwok-stages.yaml"),
	); err != nil {
		return c, err
	}

	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return c, err
	}
	var names []string
	for i := 0; i < o.Nodes; i++ {
		if err := createNode(ctx, cs, i); err != nil {
			return c, err
		}
		names = append(names, NodeName(i))
	}
	c.stopKeeper = make(chan struct{})
	c.keeperDone = make(chan struct{})
	go func() {
		defer close(c.keeperDone)
		keepAddresses(cs, names, c.stopKeeper)
	}()
	c.step(fmt.Sprintf("waiting for %d nodes and the controller-manager", o.Nodes))
	if err := c.waitReady(ctx, cs, o.Nodes); err != nil {
		return c, err
	}
	return c, nil
}

// keepAddresses puts a node's address back when it goes missing. Seen with kwok v0.8.0 here: a
// few minutes after a node starts, a status patch of kwok's leaves it with no address at all,
// whatever the stage template says; the operator reads node addresses (they are bridge
// addresses), so the local cluster restores them. Runs until stop is closed.
func keepAddresses(cs kubernetes.Interface, names []string, stop <-chan struct{}) {
	patch := []byte(fmt.Sprintf(`{"status":{"addresses":[{"type":"InternalIP","address":%q}]}}`, NodeIP))
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		for _, name := range names {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err == nil && len(n.Status.Addresses) == 0 {
				_, _ = cs.CoreV1().Nodes().PatchStatus(ctx, name, patch)
			}
			cancel()
		}
	}
}

// NodeName is the name of kwok node i.
func NodeName(i int) string { return fmt.Sprintf("kwok-node-%d", i) }

func createNode(ctx context.Context, cs kubernetes.Interface, i int) error {
	name := NodeName(i)
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{KwokNodeAnnotation: "fake"},
			Labels: map[string]string{
				"kubernetes.io/hostname": name,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     "amd64",
				"type":                   "kwok",
			},
		},
		Spec: corev1.NodeSpec{PodCIDR: fmt.Sprintf("%s%d.0/24", PodPrefix(), i)},
	}
	_, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("node %s: %w", name, err)
	}
	return nil
}

// untaint removes the node.kubernetes.io/not-ready taint the API server puts on every new node
// from a node that is Ready: the node lifecycle controller would, but it does not run here.
func untaint(ctx context.Context, cs kubernetes.Interface, n *corev1.Node) error {
	kept := slices.DeleteFunc(slices.Clone(n.Spec.Taints), func(t corev1.Taint) bool {
		return t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable
	})
	if len(kept) == len(n.Spec.Taints) {
		return nil
	}
	n.Spec.Taints = kept
	if _, err := cs.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("untaint node %s: %w", n.Name, err)
	}
	return nil
}

func (c *Cluster) waitReady(ctx context.Context, cs kubernetes.Interface, nodes int) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		for _, p := range c.procs {
			select {
			case <-p.done:
				return false, fmt.Errorf("%s exited: %v (log: %s)", p.name, p.cmd.ProcessState, p.log.Name())
			default:
			}
		}
		list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		ready := 0
		for i := range list.Items {
			n := &list.Items[i]
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					if err := untaint(ctx, cs, n); err != nil {
						last = err.Error()
						return false, nil
					}
					ready++
				}
			}
		}
		if ready < nodes {
			last = fmt.Sprintf("%d of %d nodes Ready", ready, nodes)
			return false, nil
		}
		if _, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err != nil {
			last = "no default service account yet (kube-controller-manager): " + err.Error()
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("control plane not ready (%s; logs in %s): %w", last, c.Dir, err)
	}
	return nil
}

func (c *Cluster) run(assets, name string, args ...string) error {
	logFile, err := os.Create(filepath.Join(c.Dir, name+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(assets, name), args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group: a Ctrl-C in the terminal reaches the operator, which then stops
	// the components in order instead of all of them dying at once.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{}), log: logFile}
	go func() { _ = cmd.Wait(); close(p.done) }()
	c.procs = append(c.procs, p)
	return nil
}

// Stop stops kwok, the scheduler and the controller-manager, then kube-apiserver, then etcd.
// Each gets a bounded time to exit before it is killed, so nothing is left running.
func (c *Cluster) Stop() error {
	if c == nil {
		return nil
	}
	var errs []error
	if c.stopKeeper != nil {
		close(c.stopKeeper)
		<-c.keeperDone
		c.stopKeeper = nil
	}
	for i := len(c.procs) - 1; i >= 0; i-- {
		if err := c.procs[i].stop(); err != nil {
			errs = append(errs, err)
		}
	}
	c.procs = nil
	if c.env != nil {
		c.step("stopping kube-apiserver and etcd")
		if err := c.env.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("envtest: %w", err))
		}
		c.env = nil
	}
	return errors.Join(errs...)
}

func (p *process) stop() error {
	defer p.log.Close()
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(stopGrace):
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("%s did not stop within %s and was killed", p.name, stopGrace)
}

func (c *Cluster) step(s string) { fmt.Fprintf(c.log, "[localcluster] %s\n", s) }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
