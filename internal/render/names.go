package render

import (
	"fmt"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

// Names of child objects. Every name is derived from the JitsiDeployment's name here, and only
// here.

// Prosody names the Prosody Deployment and its Service (which is also the XMPP server's host).
func Prosody(d *jitsiv1alpha1.JitsiDeployment) string { return d.Name + "-prosody" }

// ProsodyConfig names the ConfigMap of Prosody's extra config files and the operator's module.
func ProsodyConfig(d *jitsiv1alpha1.JitsiDeployment) string { return d.Name + "-prosody-config" }

// Jicofo names the Jicofo Deployment and its Service.
func Jicofo(d *jitsiv1alpha1.JitsiDeployment) string { return d.Name + "-jicofo" }

// Web names the web front end's Deployment and Service.
func Web(d *jitsiv1alpha1.JitsiDeployment) string { return d.Name + "-web" }

// JVB names videobridge i's Deployment and its media Service.
func JVB(d *jitsiv1alpha1.JitsiDeployment, i int) string { return fmt.Sprintf("%s-jvb-%d", d.Name, i) }

// JVBScripts names the ConfigMap of the videobridge's lifecycle scripts (graceful shutdown).
func JVBScripts(d *jitsiv1alpha1.JitsiDeployment) string { return d.Name + "-jvb-scripts" }

// JibriScripts names the ConfigMap of the recorders' scripts (the finalize script).
func JibriScripts(d *jitsiv1alpha1.JitsiDeployment) string { return d.Name + "-jibri-scripts" }

// GeneratedSecret names the Secret of passwords and keys the operator generates once.
func GeneratedSecret(d *jitsiv1alpha1.JitsiDeployment) string { return d.Name + "-generated" }
