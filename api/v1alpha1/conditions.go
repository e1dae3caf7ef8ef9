package v1alpha1

// Condition types. Every kind has Ready, its summary; the others exist only where a person can
// act on them. Every condition carries the generation it was computed for.
const (
	// ConditionReady summarises the object. True: everything it asks for works (the stack serves
	// meetings, the pool can record, the meeting's URLs are issued). False: something a person can
	// act on is missing; the reason and message say what. Unknown: the operator has not looked yet.
	ConditionReady = "Ready"

	// ConditionProgressing (JitsiDeployment) is True while a component is being created or rolled
	// to a new version, False once every component runs the current spec.
	ConditionProgressing = "Progressing"

	// ConditionDegraded (JitsiDeployment) is True when something needs a person: a step failed,
	// a referenced Secret is missing, a bridge's address cannot be advertised. False otherwise.
	ConditionDegraded = "Degraded"

	// ConditionMediaReachable (JitsiDeployment) is True when every videobridge advertises an address
	// that clients can reach on the media port, False while an address is missing (for example a
	// LoadBalancer still pending), Unknown before the bridges exist.
	ConditionMediaReachable = "MediaReachable"

	// ConditionRecordersAvailable (JibriPool) is True when at least one recorder is idle and
	// healthy, False when every recorder is busy or none is healthy, Unknown before the first
	// recorder reports its state.
	ConditionRecordersAvailable = "RecordersAvailable"

	// ConditionWebReachable (JitsiDeployment, with web.ingress) is True when the Ingress has an
	// address and its certificate exists, False while either is missing.
	ConditionWebReachable = "WebReachable"

	// ConditionBridgesAtCapacity (JitsiDeployment, with jvb.autoscaling) is True when the bridges run
	// at maxReplicas and their average stress is above the target: calls may suffer, and raising
	// maxReplicas (or the nodes for it) is up to a person. False otherwise.
	ConditionBridgesAtCapacity = "BridgesAtCapacity"

	// ConditionAccessIssued (Meeting) is True when the access Secret with the meeting's URLs and
	// tokens exists and matches the meeting's times, False when it cannot be issued (for example
	// the JitsiDeployment is missing), Unknown before the first reconcile.
	ConditionAccessIssued = "AccessIssued"

	// ConditionRoomConflict (Meeting) is True while another Meeting of the same JitsiDeployment
	// claims the same room: the room's events go to the oldest of them, and only people every one
	// of them admits may join. False when the Meeting's room is its own.
	ConditionRoomConflict = "RoomConflict"
)

// Condition reasons, CamelCase as Kubernetes expects.
const (
	// ReasonDestinationRefused (Meeting, on Ready): a streaming destination's URL is refused by
	// the operator's destination policy (its scheme or characters, or a host that leads into the
	// cluster, the node or the cloud's metadata service); nothing is pushed to it.
	ReasonDestinationRefused = "DestinationRefused"
	// ReasonRoomClaimedTwice: several Meetings of one deployment name the same room.
	ReasonRoomClaimedTwice = "RoomClaimedTwice"
	// ReasonRoomUnique: no other Meeting of the deployment names the room.
	ReasonRoomUnique = "RoomUnique"
	// ReasonReconciling: the operator is creating or updating child objects.
	ReasonReconciling = "Reconciling"
	// ReasonAvailable: everything asked for is in place and working.
	ReasonAvailable = "Available"
	// ReasonComponentsNotReady: some pods of the stack or pool are not ready yet.
	ReasonComponentsNotReady = "ComponentsNotReady"
	// ReasonReconcileError: a step failed; the message names the step and the error.
	ReasonReconcileError = "ReconcileError"
	// ReasonDeploymentNotFound: the referenced JitsiDeployment does not exist.
	ReasonDeploymentNotFound = "JitsiDeploymentNotFound"
	// ReasonPoolNotFound: the referenced JibriPool does not exist.
	ReasonPoolNotFound = "JibriPoolNotFound"
	// ReasonSecretNotFound: a referenced Secret, or a key in it, does not exist.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonAddressPending: a videobridge's public address is not known yet.
	ReasonAddressPending = "AddressPending"
	// ReasonAllBusy: every recorder is busy.
	ReasonAllBusy = "AllRecordersBusy"
	// ReasonNoHealthyRecorders: no recorder reports healthy.
	ReasonNoHealthyRecorders = "NoHealthyRecorders"
	// ReasonNoLoopbackCards: SndAloop recorders wanted, and no schedulable node has a free loopback card.
	ReasonNoLoopbackCards = "NoLoopbackCards"
	// ReasonAtMaxReplicas: recordings wait, and the pool runs maxReplicas recorders already.
	ReasonAtMaxReplicas = "AtMaxReplicas"
	// ReasonRollingOut: components are being created or updated.
	ReasonRollingOut = "RollingOut"
	// ReasonAsExpected: nothing needs attention.
	ReasonAsExpected = "AsExpected"
	// ReasonHostnameOnly: a load balancer gave a host name, and a bridge can only advertise IPs.
	ReasonHostnameOnly = "LoadBalancerHostnameOnly"
	// ReasonNoNodeAddress: no node can host a bridge's media (HostPort, NodePort).
	ReasonNoNodeAddress = "NoNodeAddress"
	// ReasonIngressPending: the Ingress has no address yet.
	ReasonIngressPending = "IngressAddressPending"
	// ReasonCertificatePending: the web front end's certificate Secret does not exist yet.
	ReasonCertificatePending = "CertificatePending"
	// ReasonOverloaded: the bridges run at maxReplicas above the target stress.
	ReasonOverloaded = "AtMaxReplicasOverloaded"
	// ReasonIssued: the meeting's URLs and tokens are issued.
	ReasonIssued = "Issued"
	// ReasonEnded: the meeting has ended; nothing more is issued.
	ReasonEnded = "Ended"
)
