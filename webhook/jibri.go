package webhook

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
	"unicode"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/events"
	"github.com/jitsi-operator/jitsi-operator/internal/jibri"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// Bounds of a recording report: what a Meeting's status may be asked to hold.
const (
	// maxReportFiles is status.recording.files' MaxItems: a longer list could never be stored.
	maxReportFiles = 50
	maxFileName    = 255 // a file name on Linux
	maxSession     = 255 // a directory name
	maxReportRoom  = 256
	maxReportPath  = 1024
	maxReportURL   = 2048
	maxFileSize    = 1 << 40 // 1 TiB
)

// recordingReport is what the finalize script (render.FinalizeRecordingScript) posts.
type recordingReport struct {
	Timestamp int64 `json:"timestamp"`
	// Recorder is the recorder's Pod (its JIBRI_INSTANCE_ID).
	Recorder string `json:"recorder"`
	// Session is the session's directory name: Jibri's session id with every character outside
	// [a-zA-Z0-9_-] turned into "_" (jibri.SessionDir).
	Session    string `json:"session"`
	Room       string `json:"room"`
	MeetingURL string `json:"meeting_url"`
	// Error: the recording could not be delivered (the upload failed); files are the local copies.
	Error string       `json:"error"`
	Files []reportFile `json:"files"`
}

type reportFile struct {
	Name      string `json:"name"`
	Path      string `json:"path"`
	URL       string `json:"url"`
	SizeBytes int64  `json:"sizeBytes"`
	SHA256    string `json:"sha256"`
}

// recordingComplete takes a finished recording: POST /v1/jibri/recording-complete?pool=
// <namespace>/<pool>, X-Jitsi-Signature the hex HMAC-SHA256 of the body under the pool's
// render.RecordingReportKey. The report is applied only to the session and room its recorder, a
// Pod of that pool, was given (boundSession).
func (s *Server) recordingComplete(w http.ResponseWriter, r *http.Request) {
	result, err := s.handleRecordingComplete(r)
	s.answer(w, r, "jibri", result, err)
}

func (s *Server) handleRecordingComplete(r *http.Request) (map[string]any, error) {
	// Every authentication failure is the receiver's one Unauthorized answer (refuse): it tells
	// a sender nothing about which pools exist, nor which check failed.
	signature := r.Header.Get("X-Jitsi-Signature")
	if !wellFormedHMAC(signature) {
		return nil, refuse("NoSignature")
	}
	ctx := r.Context()
	pool, d, key, err := s.reportKey(ctx, r.URL.Query().Get("pool"))
	if err != nil {
		return nil, err
	}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if !validHMAC(key, body, signature) {
		return nil, refuse("BadSignature")
	}
	var rep recordingReport
	if err := json.Unmarshal(body, &rep); err != nil {
		return nil, fail(http.StatusBadRequest, "BadJSON", "the body is not the expected JSON: %v", err)
	}
	if err := s.fresh(time.UnixMilli(rep.Timestamp)); err != nil {
		return nil, err
	}
	ev, err := rep.toEvent()
	if err != nil {
		return nil, err
	}
	pod, err := s.poolRecorder(ctx, pool, rep.Recorder)
	if err != nil {
		return nil, err
	}
	dir := recordingsDir(pod)
	for _, f := range ev.Recording.Files {
		if f.Path != "" && !strings.HasPrefix(f.Path, dir+"/") {
			return nil, fail(http.StatusBadRequest, "BadFilePath", "file %q: path %q is not under the recorder's recordings directory %s", f.Name, f.Path, dir)
		}
	}
	if _, tenant := parseRoom(ev.Room); tenant {
		return tenantRoom, nil
	}
	m, err := s.meetingForRoom(ctx, d, ev.Room)
	if err != nil {
		return nil, err
	}
	if m == nil {
		// A recording of an ad-hoc room: nothing to store, and nothing a report could change.
		return map[string]any{"applied": false, "reason": "no Meeting for room " + ev.Room}, nil
	}
	sid, err := s.boundSession(ctx, pool, pod, m, rep.Session)
	if err != nil {
		return nil, err
	}
	// Taken once (a retry whose answer was lost is AlreadyReceived); forgotten again when it
	// cannot be stored, so that the script's retry is taken.
	k, first := s.replays.take("pool "+pool.Namespace+"/"+pool.Name, signature, s.now())
	if !first {
		return nil, errAlreadyReceived
	}
	s.pending.Store(r, k)
	// The Meeting keeps Jibri's session id, not its directory's name; the stop time is no
	// earlier than the Meeting and no later than now allows (as apply clamps every event).
	ev.Recording.SessionID = sid
	ev.Time = clampTime(ev.Time, m.CreationTimestamp.Add(-ReplayWindow), s.now().Add(MaxClockAhead))
	changed, err := s.store(ctx, "jibri", m, []events.Event{ev})
	if err != nil {
		return nil, err
	}
	return map[string]any{"applied": true, "changed": changed, "meeting": m.Name}, nil
}

// reportKey is the pool that ?pool=<namespace>/<pool> names, its deployment and the key its
// recorders sign reports with, derived from the deployment's events secret (all from the cache:
// they exist long before a recorder reports).
func (s *Server) reportKey(ctx context.Context, q string) (*jitsiv1alpha1.JibriPool, *jitsiv1alpha1.JitsiDeployment, []byte, error) {
	ns, name, _ := strings.Cut(q, "/")
	if ns == "" || name == "" || strings.Contains(name, "/") {
		return nil, nil, nil, refuse("NoPool")
	}
	pool := &jitsiv1alpha1.JibriPool{}
	if err := s.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, pool); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, nil, refuse("UnknownPool")
		}
		return nil, nil, nil, err
	}
	d, secret, err := s.deploymentSecret(ctx, ns, pool.Spec.JitsiDeploymentRef.Name)
	if err != nil {
		return nil, nil, nil, err
	}
	return pool, d, []byte(render.RecordingReportKey(secret, ns, name)), nil
}

// poolRecorder is the Pod named name if it is a recorder that pool runs: in the receiver's
// cache (which holds only the operator's recorders), labelled for the pool and controlled by it.
func (s *Server) poolRecorder(ctx context.Context, pool *jitsiv1alpha1.JibriPool, name string) (*corev1.Pod, error) {
	pod := &corev1.Pod{}
	err := s.Client.Get(ctx, types.NamespacedName{Namespace: pool.Namespace, Name: name}, pod)
	if apierrors.IsNotFound(err) || err == nil && (!recorderOf(pod, pool.Name) || !metav1.IsControlledBy(pod, pool)) {
		return nil, fail(http.StatusForbidden, "UnknownRecorder", "recorder %q is not a recorder of pool %s", name, pool.Name)
	}
	if err != nil {
		return nil, err
	}
	return pod, nil
}

// recordingsDir is where recorder pod's Jibri writes: its JIBRI_RECORDING_DIR, as the operator
// set it on the pod.
func recordingsDir(pod *corev1.Pod) string {
	for _, c := range pod.Spec.Containers {
		if c.Name != render.ComponentJibri {
			continue
		}
		for _, e := range c.Env {
			if e.Name == "JIBRI_RECORDING_DIR" && path.IsAbs(e.Value) && path.Clean(e.Value) == e.Value && e.Value != "/" {
				return e.Value
			}
		}
	}
	return render.JibriRecordingsDir
}

// boundSession is the Jibri session id that a report of session (a session directory's name)
// for Meeting m's room binds to on recorder pod, or a 403 saying why it binds to none:
//
//   - the session the JibriPool controller started on the recorder (its assignment annotation,
//     "<meeting> <session id>") binds to that Meeting's room only;
//   - otherwise the session m's status records (set by the controller, or by Jicofo's
//     announcement in the room for a recording started from the meeting) binds when the recorder
//     says it is on it: Jibri reported that session through its webhook, or (Jibri never reports
//     a session Jicofo started) the recorder last reported BUSY and m names no other recorder of
//     the pool.
func (s *Server) boundSession(ctx context.Context, pool *jitsiv1alpha1.JibriPool, pod *corev1.Pod, m *jitsiv1alpha1.Meeting, session string) (string, error) {
	if assigned, sid, ok := strings.Cut(pod.Annotations[render.AnnotationJibriAssignment], " "); ok && jibri.SessionDir(sid) == session {
		if assigned != m.Name {
			return "", fail(http.StatusForbidden, "RoomNotAssigned",
				"session %s of recorder %s records Meeting %s, not room %s", session, pod.Name, assigned, m.RoomName())
		}
		return sid, nil
	}
	reported, _, _ := strings.Cut(pod.Annotations[render.AnnotationJibriSession], " ")
	if rec := m.Status.Recording; rec != nil && rec.SessionID != "" && jibri.SessionDir(rec.SessionID) == session {
		if reported == rec.SessionID {
			return rec.SessionID, nil
		}
		other, err := s.otherRecorder(ctx, pool, pod, rec.Recorder)
		if err != nil {
			return "", err
		}
		if strings.EqualFold(pod.Annotations[render.AnnotationJibriBusy], "BUSY") && !other {
			return rec.SessionID, nil
		}
	}
	if reported != "" && jibri.SessionDir(reported) == session {
		return "", fail(http.StatusForbidden, "RoomNotAssigned",
			"session %s of recorder %s is not the recording of room %s", session, pod.Name, m.RoomName())
	}
	return "", fail(http.StatusForbidden, "SessionNotAssigned",
		"session %s is not one recorder %s was given for room %s", session, pod.Name, m.RoomName())
}

// otherRecorder is whether name is a recorder of pool other than pod.
func (s *Server) otherRecorder(ctx context.Context, pool *jitsiv1alpha1.JibriPool, pod *corev1.Pod, name string) (bool, error) {
	if name == "" || name == pod.Name || len(validation.IsDNS1123Subdomain(name)) > 0 {
		return false, nil
	}
	other := &corev1.Pod{}
	err := s.Client.Get(ctx, types.NamespacedName{Namespace: pool.Namespace, Name: name}, other)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return recorderOf(other, pool.Name), nil
}

// toEvent checks the report's fields and returns it as a RecordingCompleted event; a field out
// of bounds is a 400 with a reason.
func (rep recordingReport) toEvent() (events.Event, error) {
	bad := func(reason, format string, args ...any) (events.Event, error) {
		return events.Event{}, fail(http.StatusBadRequest, reason, format, args...)
	}
	if rep.Recorder == "" || len(validation.IsDNS1123Subdomain(rep.Recorder)) > 0 {
		return bad("BadRecorder", "recorder %q is not a Pod's name (JIBRI_INSTANCE_ID)", rep.Recorder)
	}
	if rep.Session == "" || len(rep.Session) > maxSession || jibri.SessionDir(rep.Session) != rep.Session {
		return bad("BadSession", "session %q is not a Jibri session directory's name", rep.Session)
	}
	room := strings.ToLower(rep.Room)
	if room == "" {
		return bad("MissingRoom", "the report names no room (no meeting_url in metadata.json?)")
	}
	if len(room) > maxReportRoom || hasControl(room) {
		return bad("BadRoom", "the room is longer than %d bytes or holds control characters", maxReportRoom)
	}
	if len(rep.Files) > maxReportFiles {
		return bad("TooManyFiles", "the report lists %d files, more than %d", len(rep.Files), maxReportFiles)
	}
	msg := strings.TrimSpace(rep.Error)
	if len(msg) > 300 {
		// Cut at 300 bytes, without the part of a character the cut may leave.
		msg = strings.ToValidUTF8(msg[:300], "")
	}
	result := &events.Recording{SessionID: rep.Session, Error: msg}
	for _, f := range rep.Files {
		if err := f.check(); err != nil {
			return events.Event{}, err
		}
		result.Files = append(result.Files, jitsiv1alpha1.RecordingFile{
			Name: f.Name, Path: f.Path, URL: f.URL, SizeBytes: f.SizeBytes, SHA256: f.SHA256,
		})
	}
	return events.Event{Kind: events.RecordingCompleted, Room: room, Time: time.UnixMilli(rep.Timestamp), Recording: result}, nil
}

// check refuses a file entry that is not what the finalize script reports: a plain file name, a
// clean absolute path, a size, a SHA-256 in hex, an s3:// or https:// URL.
func (f reportFile) check() error {
	bad := func(reason, format string, args ...any) error {
		return fail(http.StatusBadRequest, reason, "file %q: "+format, append([]any{f.Name}, args...)...)
	}
	switch {
	case f.Name == "" || len(f.Name) > maxFileName || f.Name == "." || strings.Contains(f.Name, "..") ||
		strings.ContainsAny(f.Name, `/\`) || hasControl(f.Name):
		return bad("BadFileName", "a file name of at most %d bytes, without a path separator, \"..\" or control characters", maxFileName)
	case f.Path == "" && f.URL == "":
		return bad("BadFile", "neither a path nor a URL")
	case f.Path != "" && (len(f.Path) > maxReportPath || !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || hasControl(f.Path)):
		return bad("BadFilePath", "path %q is not a clean absolute path of at most %d bytes", f.Path, maxReportPath)
	case f.SizeBytes < 0 || f.SizeBytes > maxFileSize:
		return bad("BadFileSize", "size %d is not between 0 and %d bytes", f.SizeBytes, int64(maxFileSize))
	case f.SHA256 != "" && !isSHA256(f.SHA256):
		return bad("BadFileSHA256", "sha256 %q is not 64 hex digits", f.SHA256)
	case f.URL != "" && !validFileURL(f.URL):
		return bad("BadFileURL", "the URL is not an s3:// or https:// URL of at most %d bytes without control characters", maxReportURL)
	}
	return nil
}

func validFileURL(s string) bool {
	if len(s) > maxReportURL || hasControl(s) || !strings.HasPrefix(s, "s3://") && !strings.HasPrefix(s, "https://") {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && u.Host != ""
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}
