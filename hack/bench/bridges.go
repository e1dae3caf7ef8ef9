package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/jvb"
	"github.com/jitsi-operator/jitsi-operator/internal/jvb/jvbtest"
)

// runBridges measures bridge autoscaling: n JitsiDeployments with autoscaled bridges (one running,
// stand-in bridges on the kwok pods' addresses); one after the other, a bridge's stress goes above
// the target, and the clock stops when the new bridge's Deployment and media Service both exist.
// The stats period is period: the goal is one period plus under 100 ms.
func runBridges(n int, period time.Duration, assets string) error {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	cluster, scheme, cl, err := startCluster(ctx, assets, 2)
	if err != nil {
		return err
	}
	defer os.RemoveAll(cluster.Dir)
	defer cluster.Stop()
	if err := startOperator(ctx, cluster, scheme, period); err != nil {
		return err
	}
	const ns = "default"
	fakes := jvbtest.RunPods(cl, ns, jvb.DefaultPort)
	defer fakes.Stop()
	one, two, zero := int32(1), int32(2), int32(0)
	target := 0.5
	for i := 0; i < n; i++ {
		if err := cl.Create(ctx, &jitsiv1alpha1.JitsiDeployment{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("m%02d", i), Namespace: ns},
			Spec: jitsiv1alpha1.JitsiDeploymentSpec{Domain: fmt.Sprintf("m%02d.example.com", i), JVB: jitsiv1alpha1.JVBSpec{
				Media:       jitsiv1alpha1.MediaSpec{Type: jitsiv1alpha1.MediaNodePort},
				Autoscaling: &jitsiv1alpha1.JVBAutoscalingSpec{Enabled: true, MinReplicas: &one, MaxReplicas: &two, TargetStress: &target, ScaleDownDelaySeconds: &zero},
			}}}); err != nil {
			return err
		}
	}
	// Every deployment's first bridge runs and reports.
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		var list jitsiv1alpha1.JitsiDeploymentList
		if err := cl.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return err
		}
		ready := 0
		for _, d := range list.Items {
			if len(d.Status.Bridges) == 1 && d.Status.Bridges[0].State == "Ready" {
				ready++
			}
		}
		if ready == n {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d deployments have a ready bridge", ready, n)
		}
	}
	var took []time.Duration
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("m%02d", i)
		b := fakes.Bridge(name + "-jvb-0")
		if b == nil {
			return fmt.Errorf("%s: no stand-in bridge", name)
		}
		start := time.Now()
		b.SetLoad(0.9, 40, 4)
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(2 * time.Millisecond) {
			dep, svc := &appsv1.Deployment{}, &corev1.Service{}
			key := client.ObjectKey{Namespace: ns, Name: name + "-jvb-1"}
			if cl.Get(ctx, key, dep) == nil && cl.Get(ctx, key, svc) == nil {
				took = append(took, time.Since(start))
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: no second bridge within a minute", name)
			}
		}
	}
	fmt.Printf("stress above target to the new bridge's Deployment and media Service (stats period %s):\n", period)
	report("  one deployment at a time", took)
	return nil
}
