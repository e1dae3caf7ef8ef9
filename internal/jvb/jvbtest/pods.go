package jvbtest

import (
	"context"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/jitsi-operator/jitsi-operator/internal/podplay"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// Pods plays the videobridges of a namespace on a cluster whose pods run nowhere (kwok): a
// Bridge on each running bridge pod's address at the bridges' REST port, closed when the pod goes.
type Pods struct {
	*podplay.Player[*Bridge]
}

// RunPods starts playing the bridges of ns (REST API on port) until Stop.
func RunPods(c client.Client, ns string, port int) *Pods {
	return &Pods{podplay.Run(podplay.Options[*Bridge]{
		Client: c, Namespace: ns, Labels: map[string]string{render.LabelComponent: render.ComponentJVB},
		Key: func(p *corev1.Pod) string { return p.Labels[render.LabelBridge] },
		Start: func(_ context.Context, _ string, p *corev1.Pod) (*Bridge, error) {
			return Start(net.JoinHostPort(p.Status.PodIP, strconv.Itoa(port)))
		},
	})}
}

// Bridge is the stand-in of bridge name (its Deployment's name), nil while there is none.
func (p *Pods) Bridge(name string) *Bridge {
	b, _ := p.Get(name)
	return b
}
