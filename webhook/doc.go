// Package webhook is the operator's HTTP receiver: it turns room events into Meeting status
// through internal/events. One file per source format, plus server.go:
//
//   - prosody.go: the operator's own Prosody module, POST /v1/prosody/events?deployment=<ns>/<name>,
//     signed with that deployment's events secret (HMAC-SHA256, hex, X-Jitsi-Signature), with a
//     replay window on the event's timestamp;
//   - eventsync.go: jitsi-contrib's event_sync module, POST /v1/event-sync/<ns>/<name>/events/...,
//     with the static "Authorization: Bearer <events secret>" its api_headers set;
//   - jitsiwebhooks.go: meeting-service-style modules (mod_jitsi_webhooks), POST
//     /webhooks/jitsi/<event>, camelCase bodies, X-Webhook-Secret naming the deployment;
//   - rtmp.go: the RTMP relay's on_publish and on_publish_done, the stream key in the name;
//   - jibristatus.go: Jibri's webhook subscriber calls, a per-pool token in the path, the
//     recorder's state kept on its Pod;
//   - jibri.go: the finalize script's report of a finished recording,
//     POST /v1/jibri/recording-complete?pool=<ns>/<pool>, signed with the pool's own report key,
//     taken only for the session and room the pool gave the reporting recorder.
//
// Every request is authenticated, from its headers and path before its body is read wherever the
// source allows; every authentication failure gets the same 401 (server.go). Each endpoint has
// its own body limit, the server caps connections, requests in flight and header size, and has
// short timeouts (limits.go). Signed bodies are taken once (replay.go); event times are clamped
// to the Meeting's life; "[tenant]room" rooms are never a Meeting's, and a room several Meetings
// claim follows the most restrictive of them (rooms.go). Users' Secrets are read by name, not
// cached (secrets.go). Answers are JSON with a reason, and 2xx means the change is stored.
// Events for one Meeting that arrive together are written together (batch.go).
package webhook

// The receiver reads deployments, pools, Secrets and Meetings, writes Meeting status, and keeps
// its recorders' Jibri state on their Pods.
// +kubebuilder:rbac:groups=jitsi.operator.dev,resources=jitsideployments;jibripools;meetings,verbs=get;list;watch
// +kubebuilder:rbac:groups=jitsi.operator.dev,resources=meetings/status,verbs=patch
// +kubebuilder:rbac:groups=core,resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=core,resources=pods,verbs=get;list;watch;patch
