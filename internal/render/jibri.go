package render

import (
	"crypto/hmac"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FinalizeRecordingScript is Jibri's finalize script: it reports a finished recording's files
// to the receiver (POST /v1/jibri/recording-complete), signed like the Prosody module's events.
// The JibriPool's recorders mount it with mode 0755.
//
//go:embed jibri/finalize-recording.sh
var FinalizeRecordingScript string

// JibriWebhookToken is the secret part of a pool's Jibri webhook subscriber URL
// (<receiver>/v1/jibri/pools/<namespace>/<pool>/<token>): derived from the deployment's events
// secret and the pool's name, so it needs no storage, differs per pool, and changes with the
// events secret. Jibri's own webhook JWT cannot be relied on (it is never refreshed).
func JibriWebhookToken(eventsSecret []byte, namespace, pool string) string {
	mac := hmac.New(sha256.New, eventsSecret)
	mac.Write([]byte("jibri-webhook/" + namespace + "/" + pool))
	return hex.EncodeToString(mac.Sum(nil))[:40]
}

// RelayToken is the secret part of a pool's relay URL at the receiver
// (<receiver>/v1/rtmp/pools/<namespace>/<pool>/<token>), derived like JibriWebhookToken.
func RelayToken(eventsSecret []byte, namespace, pool string) string {
	mac := hmac.New(sha256.New, eventsSecret)
	mac.Write([]byte("rtmp-relay/" + namespace + "/" + pool))
	return hex.EncodeToString(mac.Sum(nil))[:40]
}

// Files of the Jibri scripts ConfigMap.
const FinalizeRecordingFile = "finalize-recording.sh"

// JibriScriptsConfigMap holds the recorders' scripts (the finalize script) for d's pools; their
// pods mount it with mode 0755 and point JIBRI_FINALIZE_RECORDING_SCRIPT_PATH at it.
func JibriScriptsConfigMap(in Input) *corev1.ConfigMap {
	d := in.Deployment
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: objectMeta(d, JibriScripts(d), Labels(d, ComponentJibri)),
		Data:       map[string]string{FinalizeRecordingFile: FinalizeRecordingScript, CustomJibriConf: customJibriConf},
	}
}
