package v1alpha1_test

import (
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/manifests"
)

// object decodes one YAML document written in the test.
func object(yaml string) *unstructured.Unstructured {
	objs, err := manifests.Decode([]byte(strings.TrimSpace(yaml)))
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	ExpectWithOffset(1, objs).To(HaveLen(1))
	return objs[0]
}

// expectRejected creates obj and expects the API server to refuse it as invalid, with a message
// containing want.
func expectRejected(err error, want string) {
	ExpectWithOffset(1, err).To(HaveOccurred(), "the API server accepted an object it should refuse")
	ExpectWithOffset(1, apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got: %v", err)
	ExpectWithOffset(1, err.Error()).To(ContainSubstring(want))
}

const deployment = `
apiVersion: jitsi.operator.dev/v1alpha1
kind: JitsiDeployment
metadata: {name: meet}
spec:
  domain: meet.example.com
`

var _ = Describe("Validation of new objects", func() {
	DescribeTable("refuses objects a person got wrong, saying what is wrong",
		func(yaml, want string) {
			ns := newNamespace()
			obj := object(yaml)
			obj.SetNamespace(ns)
			expectRejected(k8sClient.Create(ctx, obj), want)
		},
		// JitsiDeployment
		Entry("a deployment without a domain", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: JitsiDeployment
metadata: {name: meet}
spec: {}`, "spec.domain: Required value"),
		Entry("a domain that is no host name", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: JitsiDeployment
metadata: {name: meet}
spec: {domain: "https://Meet.Example.com/"}`, "spec.domain: Invalid value"),
		Entry("an unknown auth type", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: JitsiDeployment
metadata: {name: meet}
spec: {domain: meet.example.com, auth: {type: OAuth}}`, `spec.auth.type: Unsupported value: "OAuth"`),
		Entry("JWT settings with anonymous auth", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: JitsiDeployment
metadata: {name: meet}
spec: {domain: meet.example.com, auth: {type: Anonymous, jwt: {appID: x}}}`, "auth.jwt is only used when auth.type is JWT"),
		Entry("a negative number of bridges", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: JitsiDeployment
metadata: {name: meet}
spec: {domain: meet.example.com, jvb: {replicas: -1}}`, "spec.jvb.replicas: Invalid value: -1: spec.jvb.replicas in body should be greater than or equal to 0"),
		Entry("an unknown media type", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: JitsiDeployment
metadata: {name: meet}
spec: {domain: meet.example.com, jvb: {media: {type: ClusterIP}}}`, `spec.jvb.media.type: Unsupported value: "ClusterIP"`),
		Entry("a media port out of range", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: JitsiDeployment
metadata: {name: meet}
spec: {domain: meet.example.com, jvb: {media: {port: 70000}}}`, "spec.jvb.media.port in body should be less than or equal to 65535"),
		Entry("an advertised address that is no IP", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: JitsiDeployment
metadata: {name: meet}
spec: {domain: meet.example.com, jvb: {media: {advertiseIPs: [meet.example.com]}}}`, "advertiseIPs must be IP addresses"),
		Entry("swapped bridge autoscaling bounds", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: JitsiDeployment
metadata: {name: meet}
spec: {domain: meet.example.com, jvb: {autoscaling: {enabled: true, minReplicas: 5, maxReplicas: 2}}}`, "maxReplicas must be greater than or equal to minReplicas"),
		Entry("a target stress above what Jicofo tolerates", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: JitsiDeployment
metadata: {name: meet}
spec: {domain: meet.example.com, jvb: {autoscaling: {enabled: true, targetStress: 1.5}}}`, "targetStress in body should be less than or equal to 0.95"),
		Entry("a TURN section with no server and not managed", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: JitsiDeployment
metadata: {name: meet}
spec: {domain: meet.example.com, turn: {}}`, "turn needs at least one server, or managed: true"),
		Entry("external TURN servers without their secret", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: JitsiDeployment
metadata: {name: meet}
spec: {domain: meet.example.com, turn: {servers: [{host: turn.example.com}]}}`, "turn.credentialsSecretRef is required unless managed"),
		Entry("a TURN transport that does not exist", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: JitsiDeployment
metadata: {name: meet}
spec: {domain: meet.example.com, turn: {servers: [{host: turn.example.com, transport: sctp}]}}`, `Unsupported value: "sctp"`),
		Entry("TLS without a certificate source", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: JitsiDeployment
metadata: {name: meet}
spec: {domain: meet.example.com, web: {ingress: {enabled: true, tls: {}}}}`, "tls needs a secretName, a clusterIssuer, or both"),
		// JibriPool
		Entry("a pool without a deployment", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: JibriPool
metadata: {name: rec}
spec: {}`, "spec.jitsiDeploymentRef: Required value"),
		Entry("swapped pool bounds", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: JibriPool
metadata: {name: rec}
spec: {jitsiDeploymentRef: {name: meet}, minReplicas: 3, maxReplicas: 1, minIdle: 0}`, "maxReplicas must be greater than or equal to minReplicas"),
		Entry("a negative minimum", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: JibriPool
metadata: {name: rec}
spec: {jitsiDeploymentRef: {name: meet}, minReplicas: -1}`, "spec.minReplicas in body should be greater than or equal to 0"),
		Entry("more idle spares than the pool may hold", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: JibriPool
metadata: {name: rec}
spec: {jitsiDeploymentRef: {name: meet}, maxReplicas: 2, minIdle: 3}`, "minIdle cannot be more than maxReplicas"),
		Entry("an unknown audio mode", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: JibriPool
metadata: {name: rec}
spec: {jitsiDeploymentRef: {name: meet}, audio: ALSA}`, `spec.audio: Unsupported value: "ALSA"`),
		Entry("SndAloop with no way to the cards", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: JibriPool
metadata: {name: rec}
spec: {jitsiDeploymentRef: {name: meet}, audio: SndAloop, sndAloop: {nodesPrepared: true}}`, "audio SndAloop needs exactly one way for the recorder to reach the node's loopback cards"),
		Entry("SndAloop with both a device plugin and privilege", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: JibriPool
metadata: {name: rec}
spec: {jitsiDeploymentRef: {name: meet}, audio: SndAloop, sndAloop: {deviceResource: squat.ai/snd, privileged: true}}`, "audio SndAloop needs exactly one way"),
		Entry("a device resource that is no resource name", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: JibriPool
metadata: {name: rec}
spec: {jitsiDeploymentRef: {name: meet}, audio: SndAloop, sndAloop: {deviceResource: "snd devices"}}`, "spec.sndAloop.deviceResource"),
		Entry("two recording volumes at once", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: JibriPool
metadata: {name: rec}
spec:
  jitsiDeploymentRef: {name: meet}
  recordings:
    volume:
      emptyDir: {}
      persistentVolumeClaim: {resources: {requests: {storage: 10Gi}}}`, "set exactly one of emptyDir or persistentVolumeClaim"),
		Entry("a bucket name S3 refuses", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: JibriPool
metadata: {name: rec}
spec:
  jitsiDeploymentRef: {name: meet}
  recordings: {upload: {s3: {bucket: Bad_Bucket, credentialsSecretRef: {name: s3}}}}`, "spec.recordings.upload.s3.bucket: Invalid value"),
		Entry("an upload without credentials", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: JibriPool
metadata: {name: rec}
spec:
  jitsiDeploymentRef: {name: meet}
  recordings: {upload: {s3: {bucket: recordings}}}`, "spec.recordings.upload.s3.credentialsSecretRef: Required value"),
		// Meeting
		Entry("a meeting without a deployment", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: Meeting
metadata: {name: standup}
spec: {}`, "spec.jitsiDeploymentRef: Required value"),
		Entry("a room name with spaces and capitals", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: Meeting
metadata: {name: standup}
spec: {jitsiDeploymentRef: {name: meet}, roomName: Daily Standup}`, "spec.roomName: Invalid value"),
		Entry("an object name that cannot be a room name", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: Meeting
metadata: {name: team.sync}
spec: {jitsiDeploymentRef: {name: meet}}`, "metadata.name becomes the room name when spec.roomName is unset"),
		Entry("an end before the start", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: Meeting
metadata: {name: standup}
spec: {jitsiDeploymentRef: {name: meet}, startTime: "2026-12-01T10:00:00Z", endTime: "2026-12-01T09:00:00Z"}`, "endTime must be after startTime"),
		Entry("an unknown recording mode", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: Meeting
metadata: {name: standup}
spec: {jitsiDeploymentRef: {name: meet}, recording: {mode: Always, jibriPoolRef: {name: rec}}}`, `spec.recording.mode: Unsupported value: "Always"`),
		Entry("automatic recording without a pool", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: Meeting
metadata: {name: standup}
spec: {jitsiDeploymentRef: {name: meet}, recording: {mode: Automatic}}`, "recording.jibriPoolRef is required unless recording.mode is None"),
		Entry("an unknown access mode", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: Meeting
metadata: {name: standup}
spec: {jitsiDeploymentRef: {name: meet}, access: Secret}`, `spec.access: Unsupported value: "Secret"`),
		Entry("a maximum duration of zero", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: Meeting
metadata: {name: standup}
spec: {jitsiDeploymentRef: {name: meet}, maxDurationMinutes: 0}`, "spec.maxDurationMinutes in body should be greater than or equal to 1"),
		Entry("invited participants on a public meeting", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: Meeting
metadata: {name: standup}
spec: {jitsiDeploymentRef: {name: meet}, participants: [{id: bob}]}`, "participants are only used by Private meetings"),
		Entry("the same moderator twice", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: Meeting
metadata: {name: standup}
spec: {jitsiDeploymentRef: {name: meet}, moderators: [{id: alice}, {id: alice}]}`, "Duplicate value"),
		Entry("automatic streaming without a destination", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: Meeting
metadata: {name: standup}
spec: {jitsiDeploymentRef: {name: meet}, streaming: {mode: Automatic, jibriPoolRef: {name: rec}}}`, "streaming needs at least one destination unless streaming.mode is None"),
		Entry("a streaming destination that is not RTMP", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: Meeting
metadata: {name: standup}
spec:
  jitsiDeploymentRef: {name: meet}
  streaming:
    mode: Manual
    jibriPoolRef: {name: rec}
    destinations: [{name: youtube, url: "https://youtube.com/live", streamKeySecretRef: {name: yt, key: key}}]`, "spec.streaming.destinations[0].url: Invalid value"),
	)

	It("accepts the smallest valid objects", func() {
		ns := newNamespace()
		for _, yaml := range []string{deployment, `
apiVersion: jitsi.operator.dev/v1alpha1
kind: JibriPool
metadata: {name: rec}
spec: {jitsiDeploymentRef: {name: meet}}`, `
apiVersion: jitsi.operator.dev/v1alpha1
kind: JibriPool
metadata: {name: rec-aloop-plugin}
spec: {jitsiDeploymentRef: {name: meet}, audio: SndAloop, sndAloop: {deviceResource: squat.ai/snd}}`, `
apiVersion: jitsi.operator.dev/v1alpha1
kind: JibriPool
metadata: {name: rec-aloop-privileged}
spec: {jitsiDeploymentRef: {name: meet}, audio: SndAloop, sndAloop: {privileged: true}}`, `
apiVersion: jitsi.operator.dev/v1alpha1
kind: Meeting
metadata: {name: standup}
spec: {jitsiDeploymentRef: {name: meet}}`} {
			obj := object(yaml)
			obj.SetNamespace(ns)
			Expect(k8sClient.Create(ctx, obj)).To(Succeed())
		}
	})
})

var _ = Describe("Validation of changes", func() {
	DescribeTable("refuses changes that make no sense on a live object",
		func(yaml string, change func(obj *unstructured.Unstructured), want string) {
			ns := newNamespace()
			obj := object(yaml)
			obj.SetNamespace(ns)
			Expect(k8sClient.Create(ctx, obj)).To(Succeed())
			change(obj)
			expectRejected(k8sClient.Update(ctx, obj), want)
		},
		Entry("moving a meeting to another deployment", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: Meeting
metadata: {name: standup}
spec: {jitsiDeploymentRef: {name: meet}}`, func(obj *unstructured.Unstructured) {
			Expect(unstructured.SetNestedField(obj.Object, "other", "spec", "jitsiDeploymentRef", "name")).To(Succeed())
		}, "jitsiDeploymentRef cannot be changed; create a new Meeting"),
		Entry("renaming a meeting's room", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: Meeting
metadata: {name: standup}
spec: {jitsiDeploymentRef: {name: meet}, roomName: standup-a}`, func(obj *unstructured.Unstructured) {
			Expect(unstructured.SetNestedField(obj.Object, "standup-b", "spec", "roomName")).To(Succeed())
		}, "cannot be changed"),
		Entry("giving a meeting a room other than its name", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: Meeting
metadata: {name: standup}
spec: {jitsiDeploymentRef: {name: meet}}`, func(obj *unstructured.Unstructured) {
			Expect(unstructured.SetNestedField(obj.Object, "elsewhere", "spec", "roomName")).To(Succeed())
		}, "cannot be changed"),
		Entry("moving a pool to another deployment", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: JibriPool
metadata: {name: rec}
spec: {jitsiDeploymentRef: {name: meet}}`, func(obj *unstructured.Unstructured) {
			Expect(unstructured.SetNestedField(obj.Object, "other", "spec", "jitsiDeploymentRef", "name")).To(Succeed())
		}, "jitsiDeploymentRef cannot be changed; create a new JibriPool"),
		Entry("lowering a pool's maximum below its minimum", `
apiVersion: jitsi.operator.dev/v1alpha1
kind: JibriPool
metadata: {name: rec}
spec: {jitsiDeploymentRef: {name: meet}, minReplicas: 2, maxReplicas: 4}`, func(obj *unstructured.Unstructured) {
			Expect(unstructured.SetNestedField(obj.Object, int64(1), "spec", "maxReplicas")).To(Succeed())
		}, "maxReplicas must be greater than or equal to minReplicas"),
	)

	It("lets a meeting spell out the room name it already has", func() {
		ns := newNamespace()
		obj := object(`
apiVersion: jitsi.operator.dev/v1alpha1
kind: Meeting
metadata: {name: standup}
spec: {jitsiDeploymentRef: {name: meet}}`)
		obj.SetNamespace(ns)
		Expect(k8sClient.Create(ctx, obj)).To(Succeed())
		Expect(unstructured.SetNestedField(obj.Object, "standup", "spec", "roomName")).To(Succeed())
		Expect(unstructured.SetNestedField(obj.Object, "Stand-up", "spec", "title")).To(Succeed())
		Expect(k8sClient.Update(ctx, obj)).To(Succeed())
	})
})

var _ = Describe("Component env", func() {
	It("refuses every variable the operator manages, on every component", func() {
		ns := newNamespace()
		for i, name := range jitsiv1alpha1.ManagedEnv {
			component := []string{"prosody", "jicofo", "web"}[i%3]
			obj := object(fmt.Sprintf(`
apiVersion: jitsi.operator.dev/v1alpha1
kind: JitsiDeployment
metadata: {name: meet-%d}
spec:
  domain: meet.example.com
  %s:
    env: [{name: ENABLE_LOBBY, value: "1"}, {name: %s, value: "x"}]
`, i, component, name))
			obj.SetNamespace(ns)
			expectRejected(k8sClient.Create(ctx, obj), "env cannot set the variables the operator manages")
		}
	})
})
