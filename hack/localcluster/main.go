// Command localcluster starts the local control plane alone (kube-apiserver, etcd,
// kube-controller-manager, kube-scheduler and kwok nodes, all on loopback), prints the
// kubeconfig to use, and stops it all on Ctrl-C. For trying kubectl or helm against it, or
// running the operator from a debugger with KUBECONFIG set.
//
//	go run ./hack/localcluster [-dir .local-cluster] [-nodes 2] [-assets bin/k8s] [-crds]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/jitsi-operator/jitsi-operator/internal/localcluster"
	"github.com/jitsi-operator/jitsi-operator/internal/manifests"
)

func main() {
	dir := flag.String("dir", ".local-cluster", "working directory (data, logs, kubeconfig); wiped at start")
	nodes := flag.Int("nodes", 2, "kwok nodes")
	assets := flag.String("assets", "bin/k8s", "control plane binaries (hack/controlplane.sh)")
	crds := flag.Bool("crds", true, "install the operator's CRDs")
	flag.Parse()
	if err := run(*dir, *assets, *nodes, *crds); err != nil {
		fmt.Fprintln(os.Stderr, "localcluster:", err)
		os.Exit(1)
	}
}

func run(dir, assets string, nodes int, crds bool) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	assets, err = filepath.Abs(assets)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	c, err := localcluster.Start(ctx, localcluster.Options{AssetsDir: assets, Dir: dir, Nodes: nodes, Log: os.Stderr})
	if err != nil {
		return err
	}
	defer func() {
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "localcluster: stop:", err)
		}
	}()
	if crds {
		scheme := runtime.NewScheme()
		if err := apiextensionsv1.AddToScheme(scheme); err != nil {
			return err
		}
		cl, err := client.New(c.Config, client.Options{Scheme: scheme})
		if err != nil {
			return err
		}
		if _, err := manifests.InstallCRDs(ctx, cl); err != nil {
			return err
		}
	}
	fmt.Printf("local control plane up in %.1fs; Ctrl-C stops it\n\n    export KUBECONFIG=%s\n    %s get nodes\n\n",
		time.Since(start).Seconds(), c.KubeconfigPath, filepath.Join(assets, "kubectl"))
	<-ctx.Done()
	return nil
}
