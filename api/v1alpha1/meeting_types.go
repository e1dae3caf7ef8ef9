package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MeetingSpec is one conference.
// +kubebuilder:validation:XValidation:rule="!has(self.startTime) || !has(self.endTime) || timestamp(self.endTime) > timestamp(self.startTime)",message="endTime must be after startTime"
// +kubebuilder:validation:XValidation:rule="(has(self.access) && self.access == 'Private') || !has(self.participants) || size(self.participants) == 0",message="participants are only used by Private meetings; Public meetings let anyone with the guest URL in"
type MeetingSpec struct {
	// jitsiDeploymentRef names the JitsiDeployment (same namespace) that hosts the meeting.
	// It cannot be changed.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="jitsiDeploymentRef cannot be changed; create a new Meeting"
	// +required
	JitsiDeploymentRef LocalObjectReference `json:"jitsiDeploymentRef"`

	// roomName is the Jitsi room, the last part of the meeting URL: lower-case letters, digits and
	// '-', at most 63 characters. Default: the Meeting's metadata.name. It cannot be changed.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	RoomName string `json:"roomName,omitempty"`

	// title is shown to people as the meeting's subject.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Title string `json:"title,omitempty"`

	// startTime is when the meeting opens; tokens are not valid before it. Default: when the
	// Meeting is created.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// endTime is when the meeting is over: tokens expire, the room is closed and the Meeting
	// turns Expired if it was never held. Default: startTime plus maxDurationMinutes, or 24 hours.
	// +optional
	EndTime *metav1.Time `json:"endTime,omitempty"`

	// maxDurationMinutes is the longest the room stays open once the first person joins; after
	// it the room is closed and joins are refused. Default: no limit besides endTime.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10080
	// +optional
	MaxDurationMinutes *int32 `json:"maxDurationMinutes,omitempty"`

	// expectedParticipants is how many people the backend expects. With prewarming
	// (JitsiDeployment spec.jvb.autoscaling.prewarm) the bridges for them are ready by
	// startTime. Optional.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	// +optional
	ExpectedParticipants *int32 `json:"expectedParticipants,omitempty"`

	// access is Public (anyone with the guest URL joins) or Private (only the listed moderators
	// and participants, each with their own token). Default: Public.
	// +kubebuilder:default=Public
	// +optional
	Access MeetingAccess `json:"access,omitempty"`

	// moderators may mute, remove people and start recordings. Each gets a moderator token.
	// +listType=map
	// +listMapKey=id
	// +kubebuilder:validation:MaxItems=100
	// +optional
	Moderators []Person `json:"moderators,omitempty"`

	// participants are the people invited to a Private meeting.
	// +listType=map
	// +listMapKey=id
	// +kubebuilder:validation:MaxItems=1000
	// +optional
	Participants []Person `json:"participants,omitempty"`

	// recording says whether and when the meeting is recorded.
	// +kubebuilder:default={}
	// +optional
	Recording MeetingRecordingSpec `json:"recording,omitempty"`

	// streaming says whether and where the meeting is streamed live.
	// +kubebuilder:default={}
	// +optional
	Streaming MeetingStreamingSpec `json:"streaming,omitempty"`
}

// MeetingAccess says who may join.
// +kubebuilder:validation:Enum=Public;Private
type MeetingAccess string

const (
	// AccessPublic lets anyone with the guest URL join.
	AccessPublic MeetingAccess = "Public"
	// AccessPrivate lets only the listed people join, each with a valid token.
	AccessPrivate MeetingAccess = "Private"
)

// Person is someone invited to a meeting.
type Person struct {
	// id identifies the person in your system; it becomes the token's context.user.id.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +required
	ID string `json:"id"`

	// name is shown to the other participants.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	Name string `json:"name,omitempty"`

	// email of the person (used for the avatar and in recording metadata).
	// +kubebuilder:validation:MaxLength=254
	// +kubebuilder:validation:Pattern=`^[^@\s]+@[^@\s]+$`
	// +optional
	Email string `json:"email,omitempty"`
}

// RecordingMode says when a meeting is recorded.
// +kubebuilder:validation:Enum=None;Manual;Automatic;AutomaticOnSecondParticipant
type RecordingMode string

const (
	// RecordingNone: never recorded; moderator tokens do not allow recording.
	RecordingNone RecordingMode = "None"
	// RecordingManual: a moderator starts the recording.
	RecordingManual RecordingMode = "Manual"
	// RecordingAutomatic: recorded as soon as the meeting is in progress.
	RecordingAutomatic RecordingMode = "Automatic"
	// RecordingAutomaticOnSecondParticipant: recorded once two people are in.
	RecordingAutomaticOnSecondParticipant RecordingMode = "AutomaticOnSecondParticipant"
)

// MeetingRecordingSpec says whether and when a meeting is recorded.
// +kubebuilder:validation:XValidation:rule="!has(self.mode) || self.mode == 'None' || has(self.jibriPoolRef)",message="recording.jibriPoolRef is required unless recording.mode is None"
type MeetingRecordingSpec struct {
	// mode: None, Manual (a moderator starts it), Automatic (once the meeting is in progress)
	// or AutomaticOnSecondParticipant (once two people are in). Default: None.
	// +kubebuilder:default=None
	// +optional
	Mode RecordingMode `json:"mode,omitempty"`

	// jibriPoolRef names the JibriPool (same namespace) that records the meeting.
	// +optional
	JibriPoolRef *LocalObjectReference `json:"jibriPoolRef,omitempty"`
}

// StreamingMode says when a meeting is streamed.
// +kubebuilder:validation:Enum=None;Manual;Automatic
type StreamingMode string

const (
	// StreamingNone: never streamed; moderator tokens do not allow live streaming.
	StreamingNone StreamingMode = "None"
	// StreamingManual: a moderator starts the stream.
	StreamingManual StreamingMode = "Manual"
	// StreamingAutomatic: streaming starts when the meeting goes in progress.
	StreamingAutomatic StreamingMode = "Automatic"
)

// MeetingStreamingSpec says whether and where a meeting is streamed live.
// +kubebuilder:validation:XValidation:rule="!has(self.mode) || self.mode == 'None' || has(self.jibriPoolRef)",message="streaming.jibriPoolRef is required unless streaming.mode is None"
// +kubebuilder:validation:XValidation:rule="!has(self.mode) || self.mode == 'None' || (has(self.destinations) && size(self.destinations) > 0)",message="streaming needs at least one destination unless streaming.mode is None"
type MeetingStreamingSpec struct {
	// mode: None, Manual (a moderator starts it) or Automatic (when the meeting goes in
	// progress, until it ends). Default: None.
	// +kubebuilder:default=None
	// +optional
	Mode StreamingMode `json:"mode,omitempty"`

	// jibriPoolRef names the JibriPool (same namespace) whose recorders stream the meeting.
	// +optional
	JibriPoolRef *LocalObjectReference `json:"jibriPoolRef,omitempty"`

	// destinations are the RTMP endpoints the stream goes to. One destination without a relay:
	// the recorder streams straight to it; several: through the pool's relay.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=10
	// +optional
	Destinations []StreamDestination `json:"destinations,omitempty"`
}

// StreamDestination is one RTMP endpoint of a live stream.
type StreamDestination struct {
	// name identifies the destination in status, for example youtube.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +required
	Name string `json:"name"`

	// url is the RTMP or RTMPS ingest URL without the stream key, for example
	// rtmp://a.rtmp.youtube.com/live2. It holds only letters, digits and !%&()*+,-./:=?@[]_~
	// (no spaces, quotes, ';', '{', '}', '#' or '$') and no user:password@. The operator also
	// refuses a host that resolves to loopback, link-local (the cloud metadata endpoint),
	// multicast or the cluster's own networks unless its allow-list admits it; a refused
	// destination is reported in the Ready condition and is never pushed to.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.startsWith('rtmp://') || self.startsWith('rtmps://')",message="url must start with rtmp:// or rtmps://"
	// +kubebuilder:validation:XValidation:rule="self.matches('^[]A-Za-z0-9!%&()*+,./:=?@_~[-]+$')",message="url may hold only letters, digits and !%&()*+,-./:=?@[]_~: no spaces, quotes, ';', '{', '}', '#', '$' or other characters"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^rtmps?://[^/?]*@')",message="url may not carry a user name or password (user:password@host); the secret goes in the stream key"
	// +required
	URL string `json:"url"`

	// streamKeySecretRef names the Secret key holding the stream key. Stream keys live only in
	// Secrets and never appear in status, events or logs.
	// +required
	StreamKeySecretRef SecretKeyReference `json:"streamKeySecretRef"`
}

// MeetingPhase is where a meeting is in its life.
// +kubebuilder:validation:Enum=Scheduled;InProgress;Completed;Expired;Failed
type MeetingPhase string

const (
	// MeetingScheduled: the URLs are issued; nobody has joined yet.
	MeetingScheduled MeetingPhase = "Scheduled"
	// MeetingInProgress: the room is open and people are in it.
	MeetingInProgress MeetingPhase = "InProgress"
	// MeetingCompleted: the meeting was held and is over.
	MeetingCompleted MeetingPhase = "Completed"
	// MeetingExpired: the end time passed before anyone joined, or the room was closed at its
	// maximum duration.
	MeetingExpired MeetingPhase = "Expired"
	// MeetingFailed: the meeting cannot be held (see the Ready condition).
	MeetingFailed MeetingPhase = "Failed"
)

// RecordingState is where a meeting's recording is.
// +kubebuilder:validation:Enum=None;Pending;Recording;Finalizing;Completed;Failed
type RecordingState string

const (
	RecordingStateNone       RecordingState = "None"
	RecordingStatePending    RecordingState = "Pending"
	RecordingStateRecording  RecordingState = "Recording"
	RecordingStateFinalizing RecordingState = "Finalizing"
	RecordingStateCompleted  RecordingState = "Completed"
	RecordingStateFailed     RecordingState = "Failed"
)

// StreamingState is where a meeting's live stream (or one destination of it) is.
// +kubebuilder:validation:Enum=None;Pending;Live;Stopped;Failed
type StreamingState string

const (
	StreamingStateNone    StreamingState = "None"
	StreamingStatePending StreamingState = "Pending"
	StreamingStateLive    StreamingState = "Live"
	StreamingStateStopped StreamingState = "Stopped"
	StreamingStateFailed  StreamingState = "Failed"
)

// MeetingStatus is what the operator observed of the meeting.
type MeetingStatus struct {
	// observedGeneration is the generation this status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, AccessIssued.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// phase: Scheduled, InProgress, Completed, Expired or Failed.
	// +optional
	Phase MeetingPhase `json:"phase,omitempty"`

	// roomURL is the meeting's URL without any token.
	// +optional
	RoomURL string `json:"roomURL,omitempty"`

	// accessSecretName names the Secret holding moderatorURL, guestURL, moderatorToken and
	// guestToken (and, for Private meetings, a URL per invited person).
	// +optional
	AccessSecretName string `json:"accessSecretName,omitempty"`

	// participantCount is the number of people in the room now (recorders not counted).
	// +optional
	ParticipantCount int32 `json:"participantCount"`

	// peakParticipants is the most people that were in the room at once.
	// +optional
	PeakParticipants int32 `json:"peakParticipants"`

	// participants who joined, newest last; bounded to the most recent 200.
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=200
	// +optional
	Participants []ParticipantStatus `json:"participants,omitempty"`

	// recording is the state of the meeting's recording.
	// +optional
	Recording *RecordingStatus `json:"recording,omitempty"`

	// streaming is the state of the meeting's live stream.
	// +optional
	Streaming *StreamingStatus `json:"streaming,omitempty"`

	// startedAt is when the first person joined.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`

	// endedAt is when the room was closed.
	// +optional
	EndedAt *metav1.Time `json:"endedAt,omitempty"`
}

// ParticipantStatus is one person who joined the meeting.
type ParticipantStatus struct {
	// id is the person's id from their token, or an opaque id for guests.
	ID string `json:"id"`
	// name shown in the meeting.
	// +optional
	Name string `json:"name,omitempty"`
	// moderator is true for people who joined with a moderator token.
	// +optional
	Moderator bool `json:"moderator,omitempty"`
	// joinedAt is when the person first joined.
	// +optional
	JoinedAt *metav1.Time `json:"joinedAt,omitempty"`
	// lastJoinedAt is when the person last joined (after leaving and coming back, it is later
	// than joinedAt). A leave before it belongs to an earlier visit.
	// +optional
	LastJoinedAt *metav1.Time `json:"lastJoinedAt,omitempty"`
	// leftAt is when the person left; empty while they are in.
	// +optional
	LeftAt *metav1.Time `json:"leftAt,omitempty"`
	// speakingSeconds is how long the person was the dominant speaker.
	// +optional
	SpeakingSeconds int64 `json:"speakingSeconds,omitempty"`
}

// RecordingStatus is the state of a meeting's recording.
type RecordingStatus struct {
	// state: None, Pending (waiting for a recorder), Recording, Finalizing (the file is being
	// delivered), Completed or Failed.
	// +optional
	State RecordingState `json:"state,omitempty"`
	// recorder is the pod recording the meeting.
	// +optional
	Recorder string `json:"recorder,omitempty"`
	// sessionID is the recording session's id, the name of its directory.
	// +optional
	SessionID string `json:"sessionID,omitempty"`
	// startedAt is when the recording started.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// stoppedAt is when the recording stopped.
	// +optional
	StoppedAt *metav1.Time `json:"stoppedAt,omitempty"`
	// files are the recording's files and where they are.
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	// +optional
	Files []RecordingFile `json:"files,omitempty"`
	// error says why the recording failed, in words a person can act on.
	// +optional
	Error string `json:"error,omitempty"`
}

// RecordingFile is one file of a recording.
type RecordingFile struct {
	// name of the file, for example standup_2026-11-24-10-00-00.mp4.
	Name string `json:"name"`
	// url of the uploaded object (s3://bucket/key or the endpoint's URL); empty when not uploaded.
	// +optional
	URL string `json:"url,omitempty"`
	// path of the file on the recorder's volume when it is kept there.
	// +optional
	Path string `json:"path,omitempty"`
	// sizeBytes is the file's size.
	// +optional
	SizeBytes int64 `json:"sizeBytes,omitempty"`
	// sha256 is the hex SHA-256 of the file, verified after upload.
	// +optional
	SHA256 string `json:"sha256,omitempty"`
}

// StreamingStatus is the state of a meeting's live stream.
type StreamingStatus struct {
	// state: None, Pending (waiting for a recorder), Live, Stopped or Failed.
	// +optional
	State StreamingState `json:"state,omitempty"`
	// recorder is the pod streaming the meeting.
	// +optional
	Recorder string `json:"recorder,omitempty"`
	// startedAt is when the stream went live.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// stoppedAt is when the stream stopped.
	// +optional
	StoppedAt *metav1.Time `json:"stoppedAt,omitempty"`
	// restarts is how many times the operator started the stream again after the recorder
	// reported it failed (at most 3; then it stays Failed).
	// +optional
	Restarts int32 `json:"restarts,omitempty"`
	// error is why the stream last failed, in words a person can act on.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Error string `json:"error,omitempty"`
	// destinations is the state of each destination.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=10
	// +optional
	Destinations []DestinationStatus `json:"destinations,omitempty"`
}

// DestinationStatus is the state of one streaming destination.
type DestinationStatus struct {
	// name of the destination in spec.streaming.destinations.
	Name string `json:"name"`
	// state of the stream to this destination.
	// +optional
	State StreamingState `json:"state,omitempty"`
	// error says why the destination failed.
	// +optional
	Error string `json:"error,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=meeting,categories=jitsi-operator
// +kubebuilder:validation:XValidation:rule="has(self.spec.roomName) || self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name becomes the room name when spec.roomName is unset, so it must then be lower-case letters, digits and '-' only; or set spec.roomName"
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63 || has(self.spec.roomName)",message="metadata.name is longer than a room name may be (63); set spec.roomName"
// +kubebuilder:validation:XValidation:rule="(has(oldSelf.spec.roomName) ? oldSelf.spec.roomName : oldSelf.metadata.name) == (has(self.spec.roomName) ? self.spec.roomName : self.metadata.name)",message="the room name (spec.roomName, or metadata.name when unset) cannot be changed"
// +kubebuilder:selectablefield:JSONPath=`.spec.roomName`
// +kubebuilder:selectablefield:JSONPath=`.spec.jitsiDeploymentRef.name`
// +kubebuilder:printcolumn:name="Room",type=string,JSONPath=`.spec.roomName`,priority=1
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Participants",type=integer,JSONPath=`.status.participantCount`
// +kubebuilder:printcolumn:name="Recording",type=string,JSONPath=`.status.recording.state`
// +kubebuilder:printcolumn:name="Start",type=date,JSONPath=`.spec.startTime`,priority=1
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.roomURL`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Meeting is one conference on a JitsiDeployment. The operator issues its URLs and tokens
// (status.accessSecretName) and fills its status from Prosody's and Jibri's events: who is in,
// whether it is recorded, and where the recording is.
type Meeting struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired meeting.
	// +required
	Spec MeetingSpec `json:"spec"`

	// status is what the operator observed.
	// +optional
	Status MeetingStatus `json:"status,omitempty"`
}

// RoomName is the meeting's Jitsi room: spec.roomName, or the object's name when that is unset.
func (m *Meeting) RoomName() string {
	if m.Spec.RoomName != "" {
		return m.Spec.RoomName
	}
	return m.Name
}

// +kubebuilder:object:root=true

// MeetingList is a list of Meetings.
type MeetingList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Meeting `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Meeting{}, &MeetingList{})
}
