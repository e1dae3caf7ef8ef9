package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// JibriPoolSpec is a pool of Jibri recorders for one JitsiDeployment.
// +kubebuilder:validation:XValidation:rule="!has(self.minReplicas) || !has(self.maxReplicas) || self.maxReplicas >= self.minReplicas",message="maxReplicas must be greater than or equal to minReplicas"
// +kubebuilder:validation:XValidation:rule="!has(self.minIdle) || !has(self.maxReplicas) || self.minIdle <= self.maxReplicas",message="minIdle cannot be more than maxReplicas"
// +kubebuilder:validation:XValidation:rule="!has(self.audio) || self.audio != 'SndAloop' || (has(self.sndAloop) && (has(self.sndAloop.deviceResource) != (has(self.sndAloop.privileged) && self.sndAloop.privileged)))",message="audio SndAloop needs exactly one way for the recorder to reach the node's loopback cards: sndAloop.deviceResource (a device plugin's resource; no privilege) or sndAloop.privileged: true (a privileged recorder)"
type JibriPoolSpec struct {
	// jitsiDeploymentRef names the JitsiDeployment (same namespace) whose meetings this pool
	// records. It cannot be changed: recorders hold that stack's accounts.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="jitsiDeploymentRef cannot be changed; create a new JibriPool"
	// +required
	JitsiDeploymentRef LocalObjectReference `json:"jitsiDeploymentRef"`

	// minReplicas is the fewest recorders kept, busy or idle. Default: 1.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=200
	// +optional
	MinReplicas *int32 `json:"minReplicas,omitempty"`

	// maxReplicas is the most recorders ever run; recordings beyond it wait in the queue.
	// Default: 5.
	// +kubebuilder:default=5
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=200
	// +optional
	MaxReplicas *int32 `json:"maxReplicas,omitempty"`

	// minIdle is how many idle recorders are kept ready so a recording starts without waiting
	// for a new pod. Default: 1.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=200
	// +optional
	MinIdle *int32 `json:"minIdle,omitempty"`

	// scaleDownDelaySeconds is how long a recorder must stay idle beyond minIdle before it is
	// removed. A busy recorder is never removed. Default: 300.
	// +kubebuilder:default=300
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=86400
	// +optional
	ScaleDownDelaySeconds *int32 `json:"scaleDownDelaySeconds,omitempty"`

	// sessionTimeouts bound how long a recording or live stream may stay starting, and a
	// recording finalizing, before it ends Failed with the reason.
	// +optional
	SessionTimeouts SessionTimeouts `json:"sessionTimeouts,omitempty"`

	// prewarm has idle recorders ready for scheduled meetings before they start. Default: off.
	// +optional
	Prewarm *RecorderPrewarm `json:"prewarm,omitempty"`

	// audio is how the recorder captures the meeting's sound. PulseAudio: the jibri image's own
	// PulseAudio server in the pod (no host device, no privilege, Pod Security "restricted").
	// SndAloop: an ALSA loopback card of the node's snd-aloop module per recorder; the browser
	// plays into the card's device 0 (PulseAudio's default sink) and ffmpeg captures its device
	// 1. The container reaches the card through a device plugin (sndAloop.deviceResource) or,
	// by explicit opt-in, as a privileged container (sndAloop.privileged). Default: PulseAudio.
	// +kubebuilder:default=PulseAudio
	// +optional
	Audio AudioType `json:"audio,omitempty"`

	// sndAloop tunes SndAloop audio.
	// +optional
	SndAloop *SndAloopSpec `json:"sndAloop,omitempty"`

	// recordings says where finished recordings go.
	// +kubebuilder:default={}
	// +optional
	Recordings RecordingsSpec `json:"recordings,omitempty"`

	Placement `json:",inline"`

	// streaming configures live streaming over RTMP.
	// +kubebuilder:default={}
	// +optional
	Streaming PoolStreamingSpec `json:"streaming,omitempty"`
}

// AudioType is how a recorder captures sound.
// +kubebuilder:validation:Enum=SndAloop;PulseAudio
type AudioType string

const (
	// AudioSndAloop captures from an ALSA loopback card of the node's snd-aloop module.
	AudioSndAloop AudioType = "SndAloop"
	// AudioPulseAudio captures from a PulseAudio server inside the pod.
	AudioPulseAudio AudioType = "PulseAudio"
)

// SndAloopSpec tunes ALSA loopback audio: how a recorder reaches the node's loopback cards
// (deviceResource or privileged, exactly one), and how many cards a node has.
type SndAloopSpec struct {
	// deviceResource is the extended resource of a device plugin that gives a container the
	// node's /dev/snd (every loopback card: the operator picks the card of each recorder),
	// e.g. a generic device plugin's "squat.ai/snd". Each recorder requests one. The nodes
	// load snd-aloop themselves, and the recorder needs no privilege (Pod Security
	// "restricted").
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$`
	// +optional
	DeviceResource string `json:"deviceResource,omitempty"`

	// privileged runs each recorder as a privileged container, which sees every device of its
	// node: the way to SndAloop without a device plugin, at the cost of the isolation Pod
	// Security "restricted" gives (a privileged container is root-equivalent on its node; the
	// namespace must allow the "privileged" profile). Default: false.
	// +optional
	Privileged bool `json:"privileged,omitempty"`

	// nodesPrepared says the nodes already load snd-aloop. Only with privileged: when false, a
	// privileged init container (the operator's --snd-aloop-loader-image) loads the module with
	// the node's /lib/modules first. Default: false.
	// +optional
	NodesPrepared bool `json:"nodesPrepared,omitempty"`

	// cardsPerNode is how many loopback cards each node offers (snd-aloop's enable= and index=
	// parameters); no node runs more recorders than it has cards. Default: 8.
	// +kubebuilder:default=8
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=32
	// +optional
	CardsPerNode int32 `json:"cardsPerNode,omitempty"`
}

// RecordingsSpec says where finished recordings go.
type RecordingsSpec struct {
	// volume holds recordings while they are written and finalized. Default: an emptyDir.
	// +optional
	Volume *RecordingsVolume `json:"volume,omitempty"`

	// upload copies each finished recording to object storage.
	// +optional
	Upload *UploadSpec `json:"upload,omitempty"`

	// keepLocal keeps the local copy after a verified upload. Default: false.
	// +optional
	KeepLocal bool `json:"keepLocal,omitempty"`
}

// RecordingsVolume is the volume recordings are written to: exactly one of emptyDir or
// persistentVolumeClaim.
// +kubebuilder:validation:XValidation:rule="has(self.emptyDir) != has(self.persistentVolumeClaim)",message="set exactly one of emptyDir or persistentVolumeClaim"
type RecordingsVolume struct {
	// emptyDir keeps recordings on the node, lost with the pod (use an upload).
	// +optional
	EmptyDir *corev1.EmptyDirVolumeSource `json:"emptyDir,omitempty"`

	// persistentVolumeClaim is a template for a claim made per recorder, kept until the
	// recorder is removed.
	// +optional
	PersistentVolumeClaim *corev1.PersistentVolumeClaimSpec `json:"persistentVolumeClaim,omitempty"`
}

// SessionTimeouts are the deadlines of a pool's sessions.
type SessionTimeouts struct {
	// startSeconds is how long a session a recorder accepted may stay Pending before it is
	// given up (Jibri joins the meeting and starts ffmpeg in well under a minute). Default: 180.
	// +kubebuilder:default=180
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=3600
	// +optional
	StartSeconds *int32 `json:"startSeconds,omitempty"`

	// finalizeSeconds is how long a recording may stay Finalizing (the finalize script
	// uploading its files) before it ends Failed. Default: 10800 (3 hours: a 2-hour
	// recording's upload over a slow link).
	// +kubebuilder:default=10800
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=172800
	// +optional
	FinalizeSeconds *int32 `json:"finalizeSeconds,omitempty"`
}

// RecorderPrewarm counts meetings of the calendar as demand for recorders ahead of their start.
type RecorderPrewarm struct {
	// leadSeconds: every Meeting of the pool's deployment that will be recorded or streamed
	// through this pool without anyone asking (recording Automatic or AutomaticOnSecondParticipant,
	// streaming Automatic) and starts within this many seconds counts as one recorder wanted
	// idle, so that one is Ready at its start. 0 turns prewarming off. A real recorder needs a
	// minute or more from pod creation to Ready (image pull, Chrome, joining the brewery).
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=86400
	// +required
	LeadSeconds int32 `json:"leadSeconds"`

	// graceSeconds: a meeting whose room has not opened this long after its start no longer
	// counts. Default: 600.
	// +kubebuilder:default=600
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=86400
	// +optional
	GraceSeconds *int32 `json:"graceSeconds,omitempty"`

	// includeManual counts meetings whose recording or streaming is Manual too (a moderator
	// will likely press record). Default: false.
	// +optional
	IncludeManual bool `json:"includeManual,omitempty"`
}

// UploadSpec says where recordings are uploaded.
type UploadSpec struct {
	// s3 uploads to an S3 or S3-compatible store (AWS, GCS interoperability, MinIO).
	// +required
	S3 *S3UploadSpec `json:"s3"`
}

// S3UploadSpec is an S3 bucket recordings are uploaded to, as
// s3://<bucket>/<prefix>/<namespace>/<meeting>/<session>/.
type S3UploadSpec struct {
	// endpoint is the S3 API URL. Default: AWS for the region.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://`
	// +optional
	Endpoint string `json:"endpoint,omitempty"`

	// region of the bucket. Default: us-east-1.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	Region string `json:"region,omitempty"`

	// bucket is the bucket's name.
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9][a-z0-9.-]*[a-z0-9]$`
	// +required
	Bucket string `json:"bucket"`

	// prefix is prepended to every object key, without leading or trailing slash.
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^[^/](.*[^/])?$`
	// +optional
	Prefix string `json:"prefix,omitempty"`

	// credentialsSecretRef names a Secret with the keys AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY. It is mounted only into the recorder's finalize step.
	// +required
	CredentialsSecretRef SecretReference `json:"credentialsSecretRef"`

	// forcePathStyle addresses the bucket in the path (endpoint/bucket/key), as most
	// S3-compatible stores need. Default: false.
	// +optional
	ForcePathStyle bool `json:"forcePathStyle,omitempty"`
}

// PoolStreamingSpec configures live streaming for a pool.
type PoolStreamingSpec struct {
	// enabled lets Meetings stream through this pool. Default: true.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// relay runs an RTMP relay next to the recorders.
	// +optional
	Relay *RelaySpec `json:"relay,omitempty"`
}

// RelaySpec configures the pool's RTMP relay (nginx with the RTMP module): recorders publish to
// it, it admits only streams of live Meetings, and pushes each to all of its destinations.
type RelaySpec struct {
	// enabled runs the relay. Default: false.
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// replicas is the number of relay pods. Default: 1.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// record keeps a copy of every relayed stream on the relay's volume. Default: false.
	// +optional
	Record bool `json:"record,omitempty"`

	// image is the relay's image: nginx with the RTMP module, ffmpeg, curl and a POSIX shell.
	// Default: the operator's relay image (relay/Dockerfile: Debian's nginx-light,
	// libnginx-mod-rtmp and ffmpeg).
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Image string `json:"image,omitempty"`

	// resources of each relay pod.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
}

// RecorderState is the state a recorder reports.
// +kubebuilder:validation:Enum=Starting;Idle;Busy;Expired;Unhealthy;Unknown
type RecorderState string

const (
	RecorderStarting  RecorderState = "Starting"
	RecorderIdle      RecorderState = "Idle"
	RecorderBusy      RecorderState = "Busy"
	RecorderExpired   RecorderState = "Expired"
	RecorderUnhealthy RecorderState = "Unhealthy"
	RecorderUnknown   RecorderState = "Unknown"
)

// JibriPoolStatus is what the operator observed of the pool.
type JibriPoolStatus struct {
	// observedGeneration is the generation this status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, RecordersAvailable.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// replicas is the number of recorder pods.
	// +optional
	Replicas int32 `json:"replicas"`
	// readyReplicas is the number of recorder pods ready.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas"`
	// busy is the number of recorders recording, streaming or finalizing.
	// +optional
	Busy int32 `json:"busy"`
	// idle is the number of recorders ready for a new recording.
	// +optional
	Idle int32 `json:"idle"`
	// queueDepth is the number of recordings and streams waiting for a recorder.
	// +optional
	QueueDepth int32 `json:"queueDepth"`
	// desiredReplicas is the number of recorders the pool is scaling to.
	// +optional
	DesiredReplicas int32 `json:"desiredReplicas"`
	// lastScaleTime is when the pool last added or removed a recorder.
	// +optional
	LastScaleTime *metav1.Time `json:"lastScaleTime,omitempty"`

	// recorders lists each recorder's state (at most maxReplicas entries).
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=200
	// +optional
	Recorders []RecorderStatus `json:"recorders,omitempty"`

	// scheduled is the demand the calendar makes now (spec.prewarm).
	// +optional
	Scheduled *ScheduledDemand `json:"scheduled,omitempty"`
}

// ScheduledDemand is what scheduled meetings ask of the capacity before (and, for bridges,
// while) they run.
type ScheduledDemand struct {
	// recorders (a pool's) or bridges (a deployment's) kept for scheduled meetings.
	// +optional
	Count int32 `json:"count"`
	// participants expected in those meetings (bridges only).
	// +optional
	Participants int32 `json:"participants,omitempty"`
	// meetings are the Meetings counted (at most 20 listed, soonest first).
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	// +optional
	Meetings []string `json:"meetings,omitempty"`
	// nextChange is when the scheduled demand changes next without any event (a meeting's lead
	// time begins, its grace period lapses, or it ends).
	// +optional
	NextChange *metav1.Time `json:"nextChange,omitempty"`
}

// RecorderStatus is one recorder as the operator knows it.
type RecorderStatus struct {
	// name of the recorder's pod.
	Name string `json:"name"`
	// state reported by the recorder (webhook or health poll).
	State RecorderState `json:"state"`
	// meeting the recorder is busy with, when known.
	// +optional
	Meeting string `json:"meeting,omitempty"`
	// since is when the recorder entered this state.
	// +optional
	Since *metav1.Time `json:"since,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=jibri,categories=jitsi-operator
// +kubebuilder:printcolumn:name="Deployment",type=string,JSONPath=`.spec.jitsiDeploymentRef.name`,priority=1
// +kubebuilder:printcolumn:name="Min",type=integer,JSONPath=`.spec.minReplicas`
// +kubebuilder:printcolumn:name="Max",type=integer,JSONPath=`.spec.maxReplicas`
// +kubebuilder:printcolumn:name="Busy",type=integer,JSONPath=`.status.busy`
// +kubebuilder:printcolumn:name="Idle",type=integer,JSONPath=`.status.idle`
// +kubebuilder:printcolumn:name="Queue",type=integer,JSONPath=`.status.queueDepth`
// +kubebuilder:printcolumn:name="Desired",type=integer,JSONPath=`.status.desiredReplicas`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// JibriPool is a pool of Jibri recorders for one JitsiDeployment that grows when recordings
// wait for a recorder and shrinks without ever stopping a recording.
type JibriPool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired pool.
	// +required
	Spec JibriPoolSpec `json:"spec"`

	// status is what the operator observed.
	// +optional
	Status JibriPoolStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// JibriPoolList is a list of JibriPools.
type JibriPoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []JibriPool `json:"items"`
}

func init() {
	SchemeBuilder.Register(&JibriPool{}, &JibriPoolList{})
}
