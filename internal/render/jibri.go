package render

import (
	"crypto/hmac"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FinalizeRecordingScript is Jibri's finalize script: it reports a finished recording's files
// to the receiver (POST /v1/jibri/recording-complete?pool=<namespace>/<pool>), signed with the
// pool's RecordingReportKey (HMAC-SHA256 of the body, hex, in X-Jitsi-Signature). The JibriPool's
// recorders mount it with mode 0755.
var FinalizeRecordingScript = withHMAC(finalizeRecordingSource)

//go:embed jibri/finalize-recording.sh
var finalizeRecordingSource string

// hmacSHA256Function is the shell function both recorder scripts sign with (hmac_sha256 KEY
// MESSAGE); each has the line hmacMarker where it goes.
//
//go:embed jibri/hmac-sha256.sh
var hmacSHA256Function string

const hmacMarker = "# @hmac_sha256@ (the renderer puts hmac-sha256.sh here)\n"

// withHMAC is script with hmacSHA256Function at its marker.
func withHMAC(script string) string {
	if strings.Count(script, hmacMarker) != 1 {
		panic("a recorder script without exactly one hmac_sha256 marker")
	}
	return strings.Replace(script, hmacMarker, hmacSHA256Function, 1)
}

// JibriWebhookToken is the secret part of a pool's Jibri webhook subscriber URL
// (<receiver>/v1/jibri/pools/<namespace>/<pool>/<token>): derived from the deployment's events
// secret and the pool's name, so it needs no storage, differs per pool, and changes with the
// events secret. Jibri's own webhook JWT cannot be relied on (it is never refreshed).
func JibriWebhookToken(eventsSecret []byte, namespace, pool string) string {
	return poolToken(eventsSecret, "jibri-webhook", namespace, pool)
}

// poolToken derives a pool's secret for one purpose from the deployment's events secret: no
// storage, one per pool and purpose, and a new one with a new events secret. It is the first 40
// hex digits of poolKey.
func poolToken(eventsSecret []byte, purpose, namespace, pool string) string {
	return poolKey(eventsSecret, purpose, namespace, pool)[:40]
}

// poolKey is HMAC-SHA256(events secret, "<purpose>/<namespace>/<pool>") in 64 hex digits. A
// recorder holds only keys derived for its own pool, never the events secret itself.
func poolKey(eventsSecret []byte, purpose, namespace, pool string) string {
	mac := hmac.New(sha256.New, eventsSecret)
	mac.Write([]byte(purpose + "/" + namespace + "/" + pool))
	return hex.EncodeToString(mac.Sum(nil))
}

// RecordingReportKey is the key a pool's recorders sign their finalize reports with, and the one
// the receiver checks them against. All 64 hex digits of poolKey: as text they are exactly one
// SHA-256 block, so the script's HMAC needs neither to hash nor to pad the key.
func RecordingReportKey(eventsSecret []byte, namespace, pool string) string {
	return poolKey(eventsSecret, "recording-report", namespace, pool)
}

// RelayToken is the secret part of a pool's relay URL at the receiver
// (<receiver>/v1/rtmp/pools/<namespace>/<pool>/<token>), derived like JibriWebhookToken.
func RelayToken(eventsSecret []byte, namespace, pool string) string {
	return poolToken(eventsSecret, "rtmp-relay", namespace, pool)
}

// FFmpegRelayScript stands in front of the recorders' ffmpeg and sends live streams started from
// the meeting (with a platform's URL) through the pool's relay when it has one.
var FFmpegRelayScript = withHMAC(ffmpegRelaySource)

//go:embed jibri/ffmpeg-relay.sh
var ffmpegRelaySource string

// RelayUIKey is the key a pool's recorders sign the relay names of streams started from the
// meeting with (see FFmpegRelayScript), derived from the events secret like the other pool tokens.
func RelayUIKey(eventsSecret []byte, namespace, pool string) string {
	return poolToken(eventsSecret, "rtmp-ui", namespace, pool)
}

// RelayUIPrefix starts the relay names of pool's streams started from the meeting.
func RelayUIPrefix(namespace, pool string) string { return "ui." + namespace + "." + pool }

// RelayUIName is the relay name FFmpegRelayScript publishes target under:
// "ui.<namespace>.<pool>.<base64url(target)>.<signature>".
func RelayUIName(key, namespace, pool, target string) string {
	name := RelayUIPrefix(namespace, pool) + "." + base64.RawURLEncoding.EncodeToString([]byte(target))
	return name + "." + relayUISignature(key, name)
}

// ParseRelayUIName checks a relay name made by FFmpegRelayScript against key and returns its
// namespace, pool and target URL.
func ParseRelayUIName(key, name string) (namespace, pool, target string, ok bool) {
	parts := strings.Split(name, ".")
	if len(parts) != 5 || parts[0] != "ui" {
		return "", "", "", false
	}
	signed := strings.Join(parts[:4], ".")
	if !hmac.Equal([]byte(parts[4]), []byte(relayUISignature(key, signed))) {
		return "", "", "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[3])
	if err != nil {
		return "", "", "", false
	}
	return parts[1], parts[2], string(raw), true
}

// SplitRelayUIName returns the namespace and pool a relay name of a stream started from the
// meeting claims, before its signature is checked.
func SplitRelayUIName(name string) (namespace, pool string, ok bool) {
	parts := strings.Split(name, ".")
	if len(parts) != 5 || parts[0] != "ui" {
		return "", "", false
	}
	return parts[1], parts[2], true
}

func relayUISignature(key, name string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(name))
	return hex.EncodeToString(mac.Sum(nil))[:32]
}

// Files of the Jibri scripts ConfigMap.
const (
	FinalizeRecordingFile = "finalize-recording.sh"
	FFmpegRelayFile       = "ffmpeg-relay.sh"
)

// JibriScriptsConfigMap holds the recorders' scripts (the finalize script) for d's pools; their
// pods mount it with mode 0755 and point JIBRI_FINALIZE_RECORDING_SCRIPT_PATH at it.
func JibriScriptsConfigMap(in Input) *corev1.ConfigMap {
	d := in.Deployment
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: objectMeta(d, JibriScripts(d), Labels(d, ComponentJibri)),
		Data:       jibriScripts(),
	}
}

// jibriScripts are the scripts ConfigMap's files: the finalize script, the ffmpeg wrapper,
// custom-jibri.conf, and a PulseAudio startup script per loopback card index (SndAloop).
func jibriScripts() map[string]string {
	files := map[string]string{FinalizeRecordingFile: FinalizeRecordingScript, FFmpegRelayFile: FFmpegRelayScript, CustomJibriConf: customJibriConf}
	for i := range MaxLoopbackCards {
		files[PulseSndAloopFile(i)] = PulseSndAloopConfig(i)
	}
	return files
}
