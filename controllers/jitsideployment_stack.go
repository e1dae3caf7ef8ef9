package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// ensureStack renders and applies every child. The media Services of LoadBalancer and NodePort
// bridges were applied by ensureMedia, which reads the addresses from them.
func (r *JitsiDeploymentReconciler) ensureStack(ctx context.Context, d *jitsiv1alpha1.JitsiDeployment, obs *deploymentObservation) error {
	in := obs.in
	a := r.applier()
	obs.deployments = stackDeployments(in)
	children := []client.Object{
		render.ProsodyConfigMap(in),
		render.ProsodyService(in),
		render.JicofoService(in),
		render.WebService(in),
		render.JVBScriptsConfigMap(in),
		render.JibriScriptsConfigMap(in),
	}
	for _, dep := range obs.deployments {
		children = append(children, dep)
	}
	for _, c := range children {
		if _, err := a.apply(ctx, d, c); err != nil {
			return err
		}
	}
	var news []string
	for _, b := range in.Bridges {
		if b.AdvertiseIP == "" {
			continue
		}
		want := render.JVBAdvertise(d, b)
		inStatus := slices.ContainsFunc(d.Status.MediaEndpoints, func(e jitsiv1alpha1.MediaEndpoint) bool {
			return e.Bridge == render.JVB(d, b.Index) && endpointString(d, e) == want
		})
		// The status in the cache can lag behind this reconcile's own status write, so a second
		// reconcile a moment later would announce the address again: announced remembers it.
		key := string(d.UID) + "/" + render.JVB(d, b.Index)
		if was, _ := r.announced.Swap(key, want); !inStatus && was != want {
			news = append(news, fmt.Sprintf("videobridge %s advertises %s", render.JVB(d, b.Index), want))
		}
	}
	// One event for all of them: events of one reason on one object version are one series to
	// the events library (it ignores the message), written as a create and a racing patch.
	if len(news) > 0 {
		r.Recorder.Eventf(d, nil, corev1.EventTypeNormal, "MediaAddressAssigned", "Advertise", "%s", strings.Join(news, "; "))
	}
	return nil
}

func endpointString(d *jitsiv1alpha1.JitsiDeployment, e jitsiv1alpha1.MediaEndpoint) string {
	return render.JVBAdvertise(d, render.Bridge{AdvertiseIP: e.Address, AdvertisePort: e.Port})
}

// stackDeployments are the Deployments of the stack as rendered from in.
func stackDeployments(in render.Input) []*appsv1.Deployment {
	deps := []*appsv1.Deployment{render.ProsodyDeployment(in), render.JicofoDeployment(in), render.WebDeployment(in)}
	for _, b := range in.Bridges {
		deps = append(deps, render.JVBDeployment(in, b))
	}
	return deps
}
