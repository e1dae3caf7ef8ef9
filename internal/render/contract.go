package render

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// The image contract: what each upstream image needs of the pod it runs in. Nothing in the
// tests runs these images (kwok pods run nothing), so every value here is a claim about an
// image, and each names the upstream file it was read from: docker-jitsi-meet at stable-11146-2
// (the default tag) unless a comment says otherwise. The renderers take these values from here,
// and TestImageContract checks every pod they render, for a matrix of specs, against them.

// Contract is what one image needs of its container and pod.
type Contract struct {
	// Image is the image's name (the last part of its repository).
	Image string
	// Env are variables the image needs, with these exact values.
	Env map[string]string
	// EnvSet are variables the image refuses to start without (any value, usually a Secret's).
	EnvSet []string
	// Writable are the paths the image writes: with a read-only root filesystem each must be a
	// writable mount.
	Writable []string
	// Ports are the ports the image listens on.
	Ports []corev1.ContainerPort
	// User is the uid the image runs as, and the pod's fsGroup (so emptyDirs and claims are
	// writable by it).
	User int64
	// NoPrivilegeEscalation: allowPrivilegeEscalation must be false.
	NoPrivilegeEscalation bool
	// Capabilities must stay in the container's bounding set (added after dropping ALL).
	Capabilities []corev1.Capability
	// Shm is the least size of a memory-backed /dev/shm; zero: none needed.
	Shm resource.Quantity
	// LivenessNot is an HTTP path the liveness probe must not use (one that fails for reasons a
	// restart does not mend).
	LivenessNot string
}

// EnvS6KubernetesRun lets s6-overlay's preinit accept a /run it does not own. Without it every
// docker-jitsi-meet container exits 100 before Jitsi starts: as uid 1000 under no_new_privs
// (allowPrivilegeEscalation: false) the setgid s6-overlay-suexec gains nothing, and preinit
// refuses the root-owned, world-writable emptyDir at /run.
// Source: s6-overlay v3.2.3.0 (base/Dockerfile's S6_OVERLAY_VERSION)
// layout/rootfs-overlay/package/admin/s6-overlay-*/libexec/preinit; jitsi-helm 3.4.0
// templates/configmap.yaml sets it for every component.
const EnvS6KubernetesRun = "S6_YES_I_WANT_A_WORLD_WRITABLE_RUN_BECAUSE_KUBERNETES"

// jitsiImageUser is the images' s6 user. Source: base/Dockerfile (adduser s6; USER s6), uid and
// gid 1000 as jitsi-helm 3.4.0 docs/guides/security.md states.
const jitsiImageUser = 1000

// jitsiBase is what every docker-jitsi-meet image (base/Dockerfile) needs: s6-overlay with
// S6_READ_ONLY_ROOT=1 keeps its state under /run, and the config steps write /tmp; both must be
// writable mounts. allowPrivilegeEscalation must stay false: with it true the setgid helper
// tries setgid(0) and the container dies (jitsi-helm 3.4.0 docs/guides/security.md, "One thing
// worth knowing").
func jitsiBase(image string, writable []string, env map[string]string, envSet []string, ports ...corev1.ContainerPort) Contract {
	e := map[string]string{EnvS6KubernetesRun: "1"}
	for k, v := range env {
		e[k] = v
	}
	return Contract{
		Image: image, Env: e, EnvSet: envSet,
		Writable: append([]string{"/run", "/tmp"}, writable...),
		Ports:    ports, User: jitsiImageUser, NoPrivilegeEscalation: true,
	}
}

func tcpPort(name string, port int32) corev1.ContainerPort {
	return corev1.ContainerPort{Name: name, ContainerPort: port, Protocol: corev1.ProtocolTCP}
}

// Contracts are the images' contracts, by component.
var Contracts = map[string]Contract{
	// prosody/rootfs/etc/s6-overlay/scripts/config: check-writable /var/lib/prosody, then
	// mkdir /var/lib/prosody/data (prosody.cfg.lua's data_path); FATAL without the Jicofo or JVB
	// password. prosody/Dockerfile: EXPOSE 5222 5280.
	ComponentProsody: jitsiBase("prosody", []string{ProsodyDataDir}, nil,
		[]string{"JICOFO_AUTH_PASSWORD", "JVB_AUTH_PASSWORD"},
		tcpPort("xmpp-c2s", XMPPPort), tcpPort("http", ProsodyHTTPPort)),
	// jicofo/rootfs/etc/s6-overlay/scripts/config: FATAL without JICOFO_AUTH_PASSWORD.
	// jicofo/rootfs/defaults/jicofo.conf: rest { host = "0.0.0.0" } only with JICOFO_ENABLE_REST
	// (port 8888, jicofo/rootfs/usr/local/bin/healthcheck.sh). jicofo JicofoHealthChecker.kt:
	// /about/health is a hard failure while no bridge is registered, so liveness must not use it.
	ComponentJicofo: withLivenessNot(jitsiBase("jicofo", nil, map[string]string{"JICOFO_ENABLE_REST": "1"},
		[]string{"JICOFO_AUTH_PASSWORD"}, tcpPort("rest", JicofoRESTPort)), "/about/health"),
	// jvb/rootfs/etc/s6-overlay/scripts/config: FATAL without JVB_AUTH_PASSWORD.
	// jvb/rootfs/defaults/jvb.conf: the REST API (8080, host 0.0.0.0) with COLIBRI_REST_ENABLED
	// and the shutdown endpoint with SHUTDOWN_REST_ENABLED, which the preStop hook uses;
	// jvb/Dockerfile installs curl, which the hook runs.
	ComponentJVB: jitsiBase("jvb", nil, map[string]string{"COLIBRI_REST_ENABLED": "true", "SHUTDOWN_REST_ENABLED": "true"},
		[]string{"JVB_AUTH_PASSWORD"}, tcpPort("http", JVBHTTPPort)),
	// web/rootfs/defaults/default: HTTP on 8000, HTTPS on 8443 unless DISABLE_HTTPS; with HTTPS
	// the config step needs a writable /storage (web/rootfs/etc/s6-overlay/scripts/config), so
	// TLS ends at the Ingress instead.
	ComponentWeb: jitsiBase("web", nil, map[string]string{"DISABLE_HTTPS": "1"}, nil, tcpPort("http", WebHTTPPort)),
	// jibri/rootfs/etc/s6-overlay/scripts/config: shm-check (a /dev/shm of at least 2 GB),
	// FATAL without the recorder and XMPP passwords or DISPLAY, check-writable /storage (the
	// recordings and logs); jibri/rootfs/defaults/jibri.conf: the external API on
	// JIBRI_HTTP_API_EXTERNAL_PORT.
	// What the shipped scripts (jibri/*.sh) rely on: jibri/rootfs/etc/s6-overlay/scripts/jibri
	// starts Jibri under with-contenv, so Jibri, its finalize script and its ffmpeg see the
	// container's environment (JIBRI_INSTANCE_ID, the JITSI_OPERATOR_* variables). base/Dockerfile
	// builds on debian:trixie-slim, whose /bin/sh is dash (printf a builtin) and whose essential
	// coreutils and sed give sha256sum, stat, base64, cut, tr, basename and date; it installs curl,
	// and jibri/Dockerfile installs rclone. Neither names openssl or xxd (openssl may come only as
	// a dependency), so the scripts sign with the shell and sha256sum alone. jibri FileRecordingJibriService.kt (PROTOCOLS.md 3.6): the
	// finalize script's one argument is <recordings dir>/<session id, [^a-zA-Z0-9_-] as "_">.
	ComponentJibri: withShm(jitsiBase("jibri", []string{"/storage"}, map[string]string{"DISPLAY": ":0"},
		[]string{"JIBRI_RECORDER_PASSWORD", "JIBRI_XMPP_PASSWORD"}, tcpPort("http-api", JibriAPIPort)), "2Gi"),
	// coturn docker/coturn/debian/Dockerfile (tag docker/4.17.0-r0): setcap
	// CAP_NET_BIND_SERVICE=+ep on /usr/bin/turnserver, so under no_new_privs exec fails unless
	// that capability stays in the bounding set (jitsi-helm 3.4.0 docs/guides/security.md,
	// "Privileged ports"). USER nobody; it runs as the stack's uid here, which needs nothing of
	// the image but readable binaries: its writes go to /run/coturn (TURN_RUN_DIR).
	ComponentTURN: {
		Image: "coturn", Writable: []string{turnRunDir}, User: jitsiImageUser, NoPrivilegeEscalation: true,
		Capabilities: []corev1.Capability{"NET_BIND_SERVICE"},
		Ports:        []corev1.ContainerPort{tcpPort("turn-tcp", TURNPort)},
	},
}

func withLivenessNot(c Contract, path string) Contract { c.LivenessNot = path; return c }
func withShm(c Contract, size string) Contract         { c.Shm = resource.MustParse(size); return c }

// contractEnv is the variables component's image needs, in a stable order.
func contractEnv(component string) []corev1.EnvVar {
	c := Contracts[component]
	keys := make([]string, 0, len(c.Env))
	for k := range c.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]corev1.EnvVar, 0, len(keys))
	for _, k := range keys {
		out = append(out, env(k, c.Env[k]))
	}
	return out
}

// Check lists what the container named container of pod does not give c's image; nothing when
// the pod meets the contract.
func (c Contract) Check(pod *corev1.PodSpec, container string) []string {
	var bad []string
	fail := func(format string, a ...any) { bad = append(bad, fmt.Sprintf(format, a...)) }
	var ct *corev1.Container
	for i := range pod.Containers {
		if pod.Containers[i].Name == container {
			ct = &pod.Containers[i]
		}
	}
	if ct == nil {
		return []string{"no container " + container}
	}
	if repo, _, _ := strings.Cut(ct.Image[strings.LastIndex(ct.Image, "/")+1:], ":"); repo != c.Image {
		fail("image %s is not %s", ct.Image, c.Image)
	}
	envs := map[string]corev1.EnvVar{}
	for _, e := range ct.Env {
		envs[e.Name] = e
	}
	for k, v := range c.Env {
		if e, ok := envs[k]; !ok || e.Value != v {
			fail("%s must be %q", k, v)
		}
	}
	for _, k := range c.EnvSet {
		if e, ok := envs[k]; !ok || (e.Value == "" && e.ValueFrom == nil) {
			fail("%s must be set", k)
		}
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range ct.VolumeMounts {
		mounts[m.MountPath] = m
	}
	for _, path := range c.Writable {
		m, ok := mounts[path]
		if !ok || m.ReadOnly || m.SubPath != "" {
			fail("%s must be a writable mount", path)
			continue
		}
		if v := volumes[m.Name]; v.EmptyDir == nil && v.PersistentVolumeClaim == nil && v.Ephemeral == nil {
			fail("%s is mounted from %s, which is not writable storage", path, m.Name)
		}
	}
	if !c.Shm.IsZero() {
		v := volumes[mounts["/dev/shm"].Name]
		if v.EmptyDir == nil || v.EmptyDir.Medium != corev1.StorageMediumMemory || v.EmptyDir.SizeLimit == nil || v.EmptyDir.SizeLimit.Cmp(c.Shm) < 0 {
			fail("/dev/shm must be memory of at least %s", c.Shm.String())
		}
	}
	ports := map[string]corev1.ContainerPort{}
	for _, p := range ct.Ports {
		ports[p.Name] = p
	}
	for _, want := range c.Ports {
		if got, ok := ports[want.Name]; !ok || got.ContainerPort != want.ContainerPort || got.Protocol != want.Protocol {
			fail("port %s must be %d/%s", want.Name, want.ContainerPort, want.Protocol)
		}
	}
	for kind, p := range map[string]*corev1.Probe{"readiness": ct.ReadinessProbe, "liveness": ct.LivenessProbe, "startup": ct.StartupProbe} {
		if p == nil {
			continue
		}
		if h := p.HTTPGet; h != nil {
			if _, ok := ports[h.Port.String()]; !ok {
				fail("%s probe targets port %s, which the container does not declare", kind, h.Port.String())
			}
			if kind == "liveness" && c.LivenessNot != "" && h.Path == c.LivenessNot {
				fail("liveness must not probe %s", c.LivenessNot)
			}
		}
		if t := p.TCPSocket; t != nil {
			if _, ok := ports[t.Port.String()]; !ok {
				fail("%s probe targets port %s, which the container does not declare", kind, t.Port.String())
			}
		}
	}
	c.checkSecurity(pod, ct, fail)
	return bad
}

func (c Contract) checkSecurity(pod *corev1.PodSpec, ct *corev1.Container, fail func(string, ...any)) {
	sc := ct.SecurityContext
	if sc == nil {
		fail("no security context")
		return
	}
	if c.NoPrivilegeEscalation && (sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation) {
		fail("allowPrivilegeEscalation must be false")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		fail("the root filesystem must be read-only (the images support it, S6_READ_ONLY_ROOT)")
	}
	user := sc.RunAsUser
	if user == nil && pod.SecurityContext != nil {
		user = pod.SecurityContext.RunAsUser
	}
	if user == nil || *user != c.User {
		fail("must run as uid %d", c.User)
	}
	if pod.SecurityContext == nil || pod.SecurityContext.FSGroup == nil || *pod.SecurityContext.FSGroup != c.User {
		fail("fsGroup must be %d, or its volumes are not writable", c.User)
	}
	var added []corev1.Capability
	if sc.Capabilities != nil {
		added = sc.Capabilities.Add
	}
	for _, capability := range c.Capabilities {
		if !slices.Contains(added, capability) {
			fail("capability %s must stay in the bounding set", capability)
		}
	}
}
