package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/jibri/jibritest"
)

// runStream measures live-stream demand to the recorder: n pools with one idle stand-in recorder
// each, and a Meeting each that streams Automatic to one destination; its room opens (the clock
// starts as the room-created event is sent to the receiver), and the clock stops when the
// startService request in stream mode reaches that recorder.
func runStream(n int, assets string) error {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	cl, _, stop, err := stackForPools(ctx, assets, nil)
	if err != nil {
		return err
	}
	defer stop()
	const ns = "default"
	room, err := roomOpener(ctx, cl, ns)
	if err != nil {
		return err
	}
	if err := cl.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "platform", Namespace: ns},
		Data: map[string][]byte{"key": []byte("bench-stream-key")}}); err != nil {
		return err
	}
	var fakes []*jibritest.Pods
	defer func() {
		for _, f := range fakes {
			f.Stop()
		}
	}()
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("pool-%03d", i)
		one := int32(1)
		if err := cl.Create(ctx, &jitsiv1alpha1.JibriPool{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: jitsiv1alpha1.JibriPoolSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"},
				MinReplicas: &one, MaxReplicas: &one, MinIdle: &one, Audio: jitsiv1alpha1.AudioPulseAudio}}); err != nil {
			return err
		}
		if err := cl.Create(ctx, &jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("m-%03d", i), Namespace: ns},
			Spec: jitsiv1alpha1.MeetingSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"},
				Streaming: jitsiv1alpha1.MeetingStreamingSpec{Mode: jitsiv1alpha1.StreamingAutomatic,
					JibriPoolRef: &jitsiv1alpha1.LocalObjectReference{Name: name},
					Destinations: []jitsiv1alpha1.StreamDestination{{Name: "platform", URL: "rtmp://127.0.0.1:1935/live",
						StreamKeySecretRef: jitsiv1alpha1.SecretKeyReference{Name: "platform", Key: "key"}}}}}}); err != nil {
			return err
		}
		fakes = append(fakes, jibritest.RunPods(cl, ns, name, 0, nil))
	}
	// Every pool has its idle recorder.
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		var pools jitsiv1alpha1.JibriPoolList
		if err := cl.List(ctx, &pools, client.InNamespace(ns)); err != nil {
			return err
		}
		idle := 0
		for _, p := range pools.Items {
			if p.Status.Idle == 1 {
				idle++
			}
		}
		if idle == n {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d pools have an idle recorder", idle, n)
		}
	}
	var took []time.Duration
	for i := 0; i < n; i++ {
		opened, err := room(fmt.Sprintf("m-%03d", i))
		if err != nil {
			return err
		}
		at := opened.sent
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(2 * time.Millisecond) {
			if s := started(fakes[i]); !s.IsZero() {
				took = append(took, s.Sub(at))
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("pool-%03d: no stream started within a minute", i)
			}
		}
	}
	fmt.Printf("live-stream demand: room-created event sent to the recorder's startService (stream mode):\n")
	report("  one meeting at a time", took)
	return nil
}

// started is when the first stream session reached any recorder of f, zero before.
func started(f *jibritest.Pods) time.Time {
	for _, name := range f.Names() {
		for _, s := range f.Recorder(name).Sessions() {
			if s.Sink == "stream" {
				return s.At
			}
		}
	}
	return time.Time{}
}
