package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// JitsiDeploymentSpec is the Jitsi Meet stack of one public domain.
type JitsiDeploymentSpec struct {
	// domain is the public host name people open in their browser, for example meet.example.com.
	// Meeting URLs are built from it. The XMPP domains inside the stack are internal and fixed.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +required
	Domain string `json:"domain"`

	// image selects the docker-jitsi-meet images (web, prosody, jicofo, jvb, jibri).
	// +kubebuilder:default={}
	// +optional
	Image ImageSpec `json:"image,omitempty"`

	// imagePullSecrets are used to pull every image of the stack and of its JibriPools.
	// +listType=atomic
	// +optional
	ImagePullSecrets []LocalObjectReference `json:"imagePullSecrets,omitempty"`

	// auth decides who may open a meeting room. Default: JWT with a generated signing secret.
	// +kubebuilder:default={}
	// +optional
	Auth AuthSpec `json:"auth,omitempty"`

	// jvb configures the videobridges, which carry the audio and video of every call.
	// +kubebuilder:default={}
	// +optional
	JVB JVBSpec `json:"jvb,omitempty"`

	// web configures the web front end (the Jitsi Meet app, served over HTTPS).
	// +kubebuilder:default={}
	// +optional
	Web WebSpec `json:"web,omitempty"`

	// prosody configures the XMPP server that signals every meeting.
	// +optional
	Prosody ComponentSpec `json:"prosody,omitempty"`

	// jicofo configures the conference focus, which assigns conferences to bridges and recorders.
	// +optional
	Jicofo ComponentSpec `json:"jicofo,omitempty"`

	// webhooks says where Prosody sends meeting events (room created, people joining and leaving).
	// Default: the operator's own receiver, which turns them into Meeting status.
	// +kubebuilder:default={}
	// +optional
	Webhooks WebhooksSpec `json:"webhooks,omitempty"`

	// turn gives clients behind networks that block UDP a TURN relay.
	// +optional
	TURN *TURNSpec `json:"turn,omitempty"`
}

// ImageSpec selects the docker-jitsi-meet images.
type ImageSpec struct {
	// registry is the repository prefix of the images; the component name is appended
	// (ghcr.io/jitsi/web, ghcr.io/jitsi/prosody, ...). Default: ghcr.io/jitsi.
	// +kubebuilder:default="ghcr.io/jitsi"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=200
	// +optional
	Registry string `json:"registry,omitempty"`

	// tag is the image tag used for every component, so that they always match.
	// Default: stable-11146-2.
	// +kubebuilder:default="stable-11146-2"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`
	// +optional
	Tag string `json:"tag,omitempty"`

	// pullPolicy is the image pull policy of every container. Default: IfNotPresent.
	// +kubebuilder:default=IfNotPresent
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	// +optional
	PullPolicy string `json:"pullPolicy,omitempty"`
}

// AuthType says how people are let into rooms.
// +kubebuilder:validation:Enum=JWT;Anonymous;Internal
type AuthType string

const (
	// AuthJWT: a signed token in the room URL lets a person in (Prosody's token auth).
	AuthJWT AuthType = "JWT"
	// AuthAnonymous: anyone with the URL may open and join any room.
	AuthAnonymous AuthType = "Anonymous"
	// AuthInternal: Prosody accounts with passwords open rooms.
	AuthInternal AuthType = "Internal"
)

// AuthSpec decides who may open and join rooms.
// +kubebuilder:validation:XValidation:rule="!has(self.jwt) || self.type == 'JWT'",message="auth.jwt is only used when auth.type is JWT"
type AuthSpec struct {
	// type of authentication: JWT (tokens issued by the operator for each Meeting, or by your
	// backend), Anonymous (anyone) or Internal (Prosody accounts). Default: JWT.
	// +kubebuilder:default=JWT
	// +optional
	Type AuthType `json:"type,omitempty"`

	// jwt configures token authentication when type is JWT.
	// +optional
	JWT *JWTAuthSpec `json:"jwt,omitempty"`

	// allowGuests lets people without a token or account join a room once a moderator has opened
	// it. Default: false.
	// +optional
	AllowGuests bool `json:"allowGuests,omitempty"`
}

// JWTAuthSpec configures the tokens Prosody accepts.
type JWTAuthSpec struct {
	// appID is Prosody's app_id, and the issuer tokens must carry unless issuer says otherwise.
	// Default: jitsi.
	// +kubebuilder:default=jitsi
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +optional
	AppID string `json:"appID,omitempty"`

	// issuer is the iss claim of issued tokens, and the only issuer Prosody accepts.
	// Default: the appID.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Issuer string `json:"issuer,omitempty"`

	// audience is the aud claim of issued tokens, and the only audience Prosody accepts.
	// Default: jitsi.
	// +kubebuilder:default=jitsi
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Audience string `json:"audience,omitempty"`

	// secretRef names the key of a Secret holding the HS256 signing secret, for backends that
	// sign their own tokens. Default: the operator generates a secret once, keeps it across
	// upgrades and restarts, and never prints it.
	// +optional
	SecretRef *SecretKeyReference `json:"secretRef,omitempty"`
}

// JVBSpec configures the videobridges.
type JVBSpec struct {
	// replicas is the number of videobridges when autoscaling is off. Default: 1.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	Placement `json:",inline"`

	// media says how each bridge's UDP media port is reached from the internet.
	// +kubebuilder:default={}
	// +optional
	Media MediaSpec `json:"media,omitempty"`

	// terminationGracePeriodSeconds bounds how long a bridge being removed or upgraded waits for
	// its conferences to end (it takes no new ones meanwhile) before it is stopped. Make it as
	// long as your longest meeting. Default: 3600.
	// +kubebuilder:default=3600
	// +kubebuilder:validation:Minimum=30
	// +kubebuilder:validation:Maximum=86400
	// +optional
	TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds,omitempty"`

	// autoscaling sets the number of bridges from their own load instead of replicas.
	// +optional
	Autoscaling *JVBAutoscalingSpec `json:"autoscaling,omitempty"`
}

// MediaType says how a videobridge's media port is exposed.
// +kubebuilder:validation:Enum=LoadBalancer;NodePort;HostPort
type MediaType string

const (
	// MediaLoadBalancer: one UDP LoadBalancer Service per bridge; its address is advertised.
	MediaLoadBalancer MediaType = "LoadBalancer"
	// MediaNodePort: one UDP node port per bridge; the node's or advertiseIPs' address is advertised.
	MediaNodePort MediaType = "NodePort"
	// MediaHostPort: the bridge binds the port on its node, one bridge per node (outside Pod
	// Security "baseline" and "restricted").
	MediaHostPort MediaType = "HostPort"
)

// MediaSpec says how each videobridge's UDP media port is reached. Every bridge gets its own
// address: a call with three or more people goes silent when the bridge advertises an address
// clients cannot reach.
type MediaSpec struct {
	// type of exposure: LoadBalancer (a UDP load balancer per bridge; the operator reads the
	// assigned address and advertises it), NodePort (a node port per bridge) or HostPort (the
	// bridge binds the port on its node; one bridge per node). HostPort bridges need a namespace
	// whose Pod Security level is "privileged": host ports are outside "baseline" and
	// "restricted". Default: LoadBalancer.
	// +kubebuilder:default=LoadBalancer
	// +optional
	Type MediaType `json:"type,omitempty"`

	// port is the UDP media port, inside the pod and, for LoadBalancer and HostPort, outside.
	// Default: 10000.
	// +kubebuilder:default=10000
	// +kubebuilder:validation:Minimum=1024
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port int32 `json:"port,omitempty"`

	// advertiseIPs are public addresses to advertise instead of the observed ones, one per
	// bridge in order (a NAT in front of the cluster, static load balancer addresses).
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MaxLength=45
	// +kubebuilder:validation:XValidation:rule="self.all(ip, isIP(ip))",message="advertiseIPs must be IP addresses"
	// +optional
	AdvertiseIPs []string `json:"advertiseIPs,omitempty"`
}

// BridgePrewarm sizes the bridges for the calendar.
type BridgePrewarm struct {
	// leadSeconds: a Meeting with expectedParticipants that starts within this many seconds
	// counts; its bridges are added on top of what the measured stress asks, and the bridges
	// never fall below what the running scheduled meetings expect until they end. 0: off.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=86400
	// +required
	LeadSeconds int32 `json:"leadSeconds"`

	// participantsPerBridge is how many expected participants one bridge is sized for.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	// +required
	ParticipantsPerBridge int32 `json:"participantsPerBridge"`

	// graceSeconds: a meeting whose room has not opened this long after its start no longer
	// counts. Default: 600.
	// +kubebuilder:default=600
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=86400
	// +optional
	GraceSeconds *int32 `json:"graceSeconds,omitempty"`
}

// JVBAutoscalingSpec scales the bridges on their own stress level.
// +kubebuilder:validation:XValidation:rule="!has(self.minReplicas) || !has(self.maxReplicas) || self.maxReplicas >= self.minReplicas",message="maxReplicas must be greater than or equal to minReplicas"
type JVBAutoscalingSpec struct {
	// enabled turns autoscaling on; jvb.replicas is then ignored. Default: false.
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// minReplicas is the fewest bridges kept running. Default: 1.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	MinReplicas *int32 `json:"minReplicas,omitempty"`

	// maxReplicas is the most bridges ever run. Default: 10.
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	MaxReplicas *int32 `json:"maxReplicas,omitempty"`

	// targetStress is the average bridge stress (0 to 1, from each bridge's stats) the operator
	// aims for. Jicofo avoids bridges above 0.8, so keep it below that. Default: 0.6.
	// +kubebuilder:default=0.6
	// +kubebuilder:validation:Minimum=0.05
	// +kubebuilder:validation:Maximum=0.95
	// +optional
	TargetStress *float64 `json:"targetStress,omitempty"`

	// scaleDownDelaySeconds is how long the load must stay low before a bridge is drained.
	// Default: 300.
	// +kubebuilder:default=300
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=86400
	// +optional
	ScaleDownDelaySeconds *int32 `json:"scaleDownDelaySeconds,omitempty"`

	// prewarm adds bridges for the expected participants of scheduled Meetings
	// (spec.expectedParticipants) ahead of their start, and keeps them while those meetings run.
	// +optional
	Prewarm *BridgePrewarm `json:"prewarm,omitempty"`
}

// WebSpec configures the web front end.
type WebSpec struct {
	// replicas is the number of web front-end pods. Default: 1.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=50
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	ComponentSpec `json:",inline"`

	// ingress publishes the web front end over HTTPS. Browsers allow camera and microphone
	// only on HTTPS pages.
	// +optional
	Ingress *IngressSpec `json:"ingress,omitempty"`
}

// IngressSpec publishes the web front end through an Ingress.
type IngressSpec struct {
	// enabled creates the Ingress. Default: false.
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// className is the IngressClass to use. Default: the cluster's default class.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ClassName string `json:"className,omitempty"`

	// host is the host name the Ingress serves. Default: spec.domain.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +optional
	Host string `json:"host,omitempty"`

	// annotations are added to the Ingress, for example the timeouts of your ingress controller.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`

	// tls says where the certificate comes from.
	// +optional
	TLS *IngressTLSSpec `json:"tls,omitempty"`

	// gateway attaches the web front end to a Gateway API Gateway with an HTTPRoute instead of an
	// Ingress (the cluster must serve gateway.networking.k8s.io/v1). The Gateway's HTTPS listener
	// holds the certificate; tls is then not used.
	// +optional
	Gateway *GatewayRef `json:"gateway,omitempty"`
}

// GatewayRef names the Gateway (and optionally its listener) an HTTPRoute attaches to.
type GatewayRef struct {
	// name of the Gateway.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// namespace of the Gateway. Default: the JitsiDeployment's namespace.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// sectionName is the Gateway listener to attach to, for example https. Default: every listener
	// that admits the route.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	SectionName string `json:"sectionName,omitempty"`
}

// IngressTLSSpec names the certificate of the web front end.
// +kubebuilder:validation:XValidation:rule="has(self.secretName) || has(self.clusterIssuer)",message="tls needs a secretName, a clusterIssuer, or both"
type IngressTLSSpec struct {
	// secretName is the kubernetes.io/tls Secret holding the certificate. With clusterIssuer,
	// cert-manager writes it. Default with clusterIssuer: <name>-web-tls.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	SecretName string `json:"secretName,omitempty"`

	// clusterIssuer is a cert-manager ClusterIssuer that issues the certificate.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ClusterIssuer string `json:"clusterIssuer,omitempty"`
}

// WebhooksSpec says where Prosody sends meeting events.
type WebhooksSpec struct {
	// url is the base URL events are posted to. Default: the operator's own receiver, which
	// fills Meeting status. Set it to send events to your own service instead; Meetings then get
	// no participant or recording status from this stack.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://`
	// +optional
	URL string `json:"url,omitempty"`

	// secretRef names the Secret key holding the shared secret sent with each event (as a bearer
	// token). Default: a secret the operator generates and shares with its receiver.
	// +optional
	SecretRef *SecretKeyReference `json:"secretRef,omitempty"`

	// admitPublicRoomsWhenReceiverDown says what Prosody does with a join it cannot check
	// because the receiver is unreachable, too slow (3 s), or answers with an error or without a
	// decision. Prosody always refuses such a join when the room's meeting is Private or has
	// ended, or when it knows nothing about the room yet (the recorder is still admitted). When
	// the receiver said earlier that the room is Public or has no Meeting, true admits the join
	// and false refuses it, so that nobody joins unchecked. Default: true.
	// +kubebuilder:default=true
	// +optional
	AdmitPublicRoomsWhenReceiverDown *bool `json:"admitPublicRoomsWhenReceiverDown,omitempty"`
}

// TURNTransport is a TURN server's transport.
// +kubebuilder:validation:Enum=udp;tcp;tls
type TURNTransport string

// TURNSpec gives clients TURN servers with time-limited credentials.
// +kubebuilder:validation:XValidation:rule="(has(self.servers) && size(self.servers) > 0) || (has(self.managed) && self.managed)",message="turn needs at least one server, or managed: true"
// +kubebuilder:validation:XValidation:rule="(has(self.managed) && self.managed) || has(self.credentialsSecretRef)",message="turn.credentialsSecretRef is required unless managed: the operator cannot know your servers' secret"
type TURNSpec struct {
	// servers are the TURN servers handed to clients. With managed, the operator's own server is
	// added to them.
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	// +optional
	Servers []TURNServer `json:"servers,omitempty"`

	// credentialsSecretRef names the Secret key holding the shared secret of the TURN servers
	// (coturn's static-auth-secret); clients get credentials derived from it that expire.
	// Default with managed: a secret the operator generates.
	// +optional
	CredentialsSecretRef *SecretKeyReference `json:"credentialsSecretRef,omitempty"`

	// managed runs a TURN server (coturn) for this stack with the same secret, reachable as
	// turn.<spec.domain> (point that name at its Service's load balancer). Default: false.
	// +optional
	Managed bool `json:"managed,omitempty"`

	// tlsSecretName names a kubernetes.io/tls Secret with a certificate for turn.<spec.domain>:
	// with it the managed server also serves TURN over TLS on 443, which passes the firewalls that
	// let only HTTPS through. A new certificate restarts the server (coturn reads it once).
	// +kubebuilder:validation:MaxLength=253
	// +optional
	TLSSecretName string `json:"tlsSecretName,omitempty"`
}

// TURNServer is one TURN server handed to clients.
type TURNServer struct {
	// host is the server's public host name or address.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Host string `json:"host"`

	// port of the server. Default: 3478 for udp and tcp, 443 for tls.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port *int32 `json:"port,omitempty"`

	// transport is udp, tcp or tls. Clients behind UDP blocks need tcp or tls. Default: udp.
	// +kubebuilder:default=udp
	// +optional
	Transport TURNTransport `json:"transport,omitempty"`
}

// JitsiDeploymentStatus is what the operator observed of the stack.
type JitsiDeploymentStatus struct {
	// observedGeneration is the generation this status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, MediaReachable.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// publicURL is the URL people open, https://<domain>/.
	// +optional
	PublicURL string `json:"publicURL,omitempty"`

	// components has the desired and ready pods of each component.
	// +optional
	Components ComponentsStatus `json:"components,omitempty"`

	// mediaEndpoints are the media addresses the bridges actually advertise.
	// +listType=atomic
	// +optional
	MediaEndpoints []MediaEndpoint `json:"mediaEndpoints,omitempty"`

	// desiredBridges is the number of videobridges the autoscaler wants (jvb.autoscaling).
	// +optional
	DesiredBridges int32 `json:"desiredBridges,omitempty"`

	// bridges is each videobridge's load as the autoscaler last read it (jvb.autoscaling).
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=100
	// +optional
	Bridges []BridgeStatus `json:"bridges,omitempty"`

	// scheduledBridges is the demand scheduled meetings make of the bridges now
	// (spec.jvb.autoscaling.prewarm).
	// +optional
	ScheduledBridges *ScheduledDemand `json:"scheduledBridges,omitempty"`
}

// BridgeStatus is one videobridge as the autoscaler sees it.
type BridgeStatus struct {
	// name of the bridge's Deployment.
	Name string `json:"name"`
	// state: Starting, Ready, Draining, Unhealthy or Gone.
	State string `json:"state"`
	// stress is its stress_level, in hundredths (0 to 100 and above when overloaded).
	// +optional
	StressPercent int32 `json:"stressPercent"`
	// participants and conferences on the bridge.
	// +optional
	Participants int32 `json:"participants"`
	// +optional
	Conferences int32 `json:"conferences"`
}

// ComponentsStatus has the replica counts of each component.
type ComponentsStatus struct {
	// +optional
	Prosody ReplicaStatus `json:"prosody,omitempty"`
	// +optional
	Jicofo ReplicaStatus `json:"jicofo,omitempty"`
	// +optional
	JVB ReplicaStatus `json:"jvb,omitempty"`
	// +optional
	Web ReplicaStatus `json:"web,omitempty"`
}

// ReplicaStatus counts a component's pods.
type ReplicaStatus struct {
	// replicas is the number of pods wanted.
	// +optional
	Replicas int32 `json:"replicas"`
	// readyReplicas is the number of pods ready.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas"`
}

// MediaEndpoint is the media address one bridge advertises.
type MediaEndpoint struct {
	// bridge is the name of the bridge's pod.
	Bridge string `json:"bridge"`
	// address is the advertised IP address; empty while it is not known.
	// +optional
	Address string `json:"address,omitempty"`
	// port is the advertised UDP port.
	Port int32 `json:"port"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.jvb.replicas,statuspath=.status.components.jvb.replicas
// +kubebuilder:resource:shortName=jitsi,categories=jitsi-operator
// +kubebuilder:printcolumn:name="Domain",type=string,JSONPath=`.spec.domain`
// +kubebuilder:printcolumn:name="Auth",type=string,JSONPath=`.spec.auth.type`
// +kubebuilder:printcolumn:name="JVBs",type=integer,JSONPath=`.status.components.jvb.readyReplicas`,description="ready videobridges"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.publicURL`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// JitsiDeployment is a whole Jitsi Meet stack for one domain: Prosody, Jicofo, videobridges and
// the web front end, wired together by the operator.
type JitsiDeployment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired stack.
	// +required
	Spec JitsiDeploymentSpec `json:"spec"`

	// status is what the operator observed.
	// +optional
	Status JitsiDeploymentStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// JitsiDeploymentList is a list of JitsiDeployments.
type JitsiDeploymentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []JitsiDeployment `json:"items"`
}

func init() {
	SchemeBuilder.Register(&JitsiDeployment{}, &JitsiDeploymentList{})
}
