// Package finalize runs the shipped Jibri finalize script (render.FinalizeRecordingScript)
// as Jibri runs it, `sh finalize-recording.sh <session dir>`, against a real S3 server on loopback
// (`rclone serve s3`, bin/rclone from make rclone) and a stand-in receiver that checks the
// report's signature with the pool's report key, as the operator's receiver does. Objects are
// read back with a request signed here (SigV4), independently of the rclone client the script
// uses.
package finalize

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitsi-operator/jitsi-operator/internal/render"
	"github.com/jitsi-operator/jitsi-operator/internal/testproc"
)

const (
	eventsSecret = "events-secret-for-the-test"
	recorder     = "recorders-0"
	accessKey    = "AKIAFINALIZETEST"
	secretKey    = "finalize-secret-key-never-printed"
	room         = "standup-7f3a"
	session      = "0b6f3c1e-2a9d-4f7b-8e3c-5d4a1b2c3d4e"
	media        = room + "_2026-12-01-09-00-00.mp4"
)

// root is the repository's top directory (go test runs in the package's directory).
func root(t testing.TB) string {
	t.Helper()
	r, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// rcloneBin is bin/rclone, built by make rclone.
func rcloneBin(t testing.TB) string {
	t.Helper()
	p := filepath.Join(root(t), "bin", "rclone")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s missing: run make test (make rclone builds it)", p)
	}
	return p
}

// baseEnv is a clean environment without the caller's AWS_* or RCLONE_* variables.
func baseEnv(t testing.TB, pathFirst ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "RCLONE_") || strings.HasPrefix(kv, "JITSI_OPERATOR_") ||
			strings.HasPrefix(kv, "PATH=") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	path := strings.Join(append(pathFirst, os.Getenv("PATH")), string(os.PathListSeparator))
	return append(env, "PATH="+path, "HOME="+t.TempDir())
}

// s3Server is `rclone serve s3` on loopback; each top-level folder of dir is a bucket.
type s3Server struct {
	t      testing.TB
	rclone string
	dir    string
	port   int
	g      *testproc.Group
}

func startS3(t testing.TB, buckets ...string) *s3Server {
	t.Helper()
	s := &s3Server{t: t, rclone: rcloneBin(t), dir: t.TempDir(), port: testproc.FreePort(t)}
	for _, b := range buckets {
		if err := os.MkdirAll(filepath.Join(s.dir, b), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s.start()
	return s
}

func (s *s3Server) endpoint() string { return "http://127.0.0.1:" + strconv.Itoa(s.port) }

func (s *s3Server) start() {
	s.t.Helper()
	cmd := exec.Command(s.rclone, "serve", "s3", s.dir, "--addr", "127.0.0.1:"+strconv.Itoa(s.port),
		"--auth-key", accessKey+","+secretKey)
	cmd.Env = baseEnv(s.t)
	s.g = testproc.Start(s.t, "rclone serve s3", cmd, nil)
	// A wait for readiness, not a timed assertion: under a full test run on two cores rclone
	// once took over 15 s to listen.
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if s.g.Exited() || time.Now().After(deadline) {
			s.t.Fatalf("rclone serve s3 does not listen on %d: %v\n%s", s.port, err, s.g.Out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *s3Server) stop() { s.g.Stop(s.t) }

// objects lists the keys the server stores in bucket (from its directory).
func (s *s3Server) objects(bucket string) []string {
	s.t.Helper()
	var keys []string
	base := filepath.Join(s.dir, bucket)
	_ = filepath.Walk(base, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			rel, _ := filepath.Rel(base, p)
			keys = append(keys, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(keys)
	return keys
}

// get reads an object back through the server's S3 API, path-style, signed with SigV4.
func (s *s3Server) get(bucket, key string) []byte {
	s.t.Helper()
	var segs []string
	for _, p := range strings.Split(bucket+"/"+key, "/") {
		segs = append(segs, url.PathEscape(p))
	}
	path := "/" + strings.Join(segs, "/")
	host := "127.0.0.1:" + strconv.Itoa(s.port)
	now := time.Now().UTC()
	amzDate, day := now.Format("20060102T150405Z"), now.Format("20060102")
	const payload = "UNSIGNED-PAYLOAD"
	signed := "host;x-amz-content-sha256;x-amz-date"
	canonical := strings.Join([]string{"GET", path, "",
		"host:" + host, "x-amz-content-sha256:" + payload, "x-amz-date:" + amzDate, "",
		signed, payload}, "\n")
	scope := day + "/us-east-1/s3/aws4_request"
	crh := sha256.Sum256([]byte(canonical))
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(crh[:])
	mac := func(k []byte, m string) []byte { h := hmac.New(sha256.New, k); h.Write([]byte(m)); return h.Sum(nil) }
	k := mac(mac(mac(mac([]byte("AWS4"+secretKey), day), "us-east-1"), "s3"), "aws4_request")
	req, _ := http.NewRequest(http.MethodGet, "http://"+host+path, nil)
	req.Header.Set("x-amz-date", amzDate)
	req.Header.Set("x-amz-content-sha256", payload)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+accessKey+"/"+scope+
		", SignedHeaders="+signed+", Signature="+hex.EncodeToString(mac(k, toSign)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET %s: %s %s", path, resp.Status, body)
	}
	return body
}

type reportFile struct {
	Name      string `json:"name"`
	Path      string `json:"path"`
	URL       string `json:"url"`
	SizeBytes int64  `json:"sizeBytes"`
	SHA256    string `json:"sha256"`
}

// reportKey is the key pool team-a/recorders' finalize scripts sign with: derived from the
// events secret, which recorders never hold.
var reportKey = render.RecordingReportKey([]byte(eventsSecret), "team-a", "recorders")

type report struct {
	Timestamp  int64        `json:"timestamp"`
	Recorder   string       `json:"recorder"`
	Session    string       `json:"session"`
	Room       string       `json:"room"`
	MeetingURL string       `json:"meeting_url"`
	Files      []reportFile `json:"files"`
	Error      string       `json:"error"`
	raw        string
}

// receiver stands in for the operator's: it checks the signature and records the reports.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	reports []report
}

func startReceiver(t testing.TB) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		h := hmac.New(sha256.New, []byte(reportKey))
		h.Write(body)
		if !hmac.Equal([]byte(req.Header.Get("X-Jitsi-Signature")), []byte(hex.EncodeToString(h.Sum(nil)))) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var rep report
		if err := json.Unmarshal(body, &rep); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rep.raw = string(body)
		r.mu.Lock()
		r.reports = append(r.reports, rep)
		r.mu.Unlock()
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) only(t testing.TB) report {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reports) != 1 {
		t.Fatalf("the receiver got %d reports, want 1: %+v", len(r.reports), r.reports)
	}
	return r.reports[0]
}

// recording is a session directory as Jibri leaves it.
type recording struct {
	dir  string
	sums map[string]string // file name -> sha256
	size map[string]int64
}

func newRecording(t testing.TB, mediaBytes int64) recording {
	t.Helper()
	rec := recording{dir: filepath.Join(t.TempDir(), "recordings", session), sums: map[string]string{}, size: map[string]int64{}}
	if err := os.MkdirAll(rec.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Random bytes, streamed to disk (the benchmark's file is large).
	f, err := os.Create(filepath.Join(rec.dir, media))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	src := rand.NewChaCha8([32]byte{byte(time.Now().UnixNano())})
	buf := make([]byte, 1<<20)
	for left := mediaBytes; left > 0; {
		n := min(left, int64(len(buf)))
		_, _ = src.Read(buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			t.Fatal(err)
		}
		h.Write(buf[:n])
		left -= n
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	rec.sums[media], rec.size[media] = hex.EncodeToString(h.Sum(nil)), mediaBytes
	meta := []byte(`{"meeting_url":"https://meet.example.com/` + room + `","participants":[]}`)
	if err := os.WriteFile(filepath.Join(rec.dir, "metadata.json"), meta, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(meta)
	rec.sums["metadata.json"], rec.size["metadata.json"] = hex.EncodeToString(sum[:]), int64(len(meta))
	return rec
}

// credentials is a directory like the mounted Secret.
func credentials(t testing.TB, key, secret string) string {
	d := t.TempDir()
	for name, v := range map[string]string{"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret + "\n"} {
		if err := os.WriteFile(filepath.Join(d, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// poison are caller variables the script must keep away from rclone: a CA bundle that does not
// exist, other credentials, and a dry run that would upload nothing.
var poison = []string{
	"AWS_CA_BUNDLE=/nonexistent/ca-bundle.pem",
	"AWS_ACCESS_KEY_ID=AKIAPOISON",
	"AWS_SECRET_ACCESS_KEY=poison",
	"AWS_PROFILE=poison",
	"RCLONE_DRY_RUN=true",
}

// finalize runs the shipped script as Jibri does, with one argument; it returns the script's
// group (already started) so a test can act while it runs.
func finalize(t testing.TB, dir string, env []string, pathFirst ...string) *testproc.Group {
	t.Helper()
	// As the operator renders it into the recorders' scripts ConfigMap.
	script := filepath.Join(t.TempDir(), "finalize-recording.sh")
	if err := os.WriteFile(script, []byte(render.FinalizeRecordingScript), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", script, dir)
	cmd.Env = append(append(baseEnv(t, pathFirst...), poison...), env...)
	return testproc.Start(t, "finalize-recording.sh", cmd, nil)
}

// wait waits for the script and returns its exit code.
func wait(t testing.TB, g *testproc.Group, within time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(within)
	for !g.Exited() {
		if time.Now().After(deadline) {
			t.Fatalf("the finalize script still runs after %s:\n%s", within, g.Out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if g.Cmd.ProcessState == nil {
		return -1
	}
	return g.Cmd.ProcessState.ExitCode()
}

func s3Env(rcv *receiver, s *s3Server, bucket, prefix, creds string, extra ...string) []string {
	return append([]string{
		"JITSI_OPERATOR_RECORDING_URL=" + rcv.URL + "/v1/jibri/recording-complete?pool=team-a/recorders",
		"JITSI_OPERATOR_REPORT_KEY=" + reportKey,
		"JIBRI_INSTANCE_ID=" + recorder,
		"JITSI_OPERATOR_S3_BUCKET=" + bucket,
		"JITSI_OPERATOR_S3_PREFIX=" + prefix,
		"JITSI_OPERATOR_NAMESPACE=team-a",
		"JITSI_OPERATOR_S3_ENDPOINT=" + s.endpoint(),
		"JITSI_OPERATOR_S3_REGION=us-east-1",
		"JITSI_OPERATOR_S3_PATH_STYLE=true",
		"JITSI_OPERATOR_S3_CREDENTIALS_DIR=" + creds,
		"JITSI_OPERATOR_UPLOAD_ATTEMPTS=6",
		"JITSI_OPERATOR_UPLOAD_BACKOFF=1",
	}, extra...)
}

// checkUploaded checks the bucket holds exactly the recording under keyPrefix, byte for byte
// (read back through the server), and that the report says so.
func checkUploaded(t *testing.T, s *s3Server, bucket, keyPrefix string, rec recording, rep report, keepLocal bool) {
	t.Helper()
	want := []string{keyPrefix + "/" + media, keyPrefix + "/metadata.json"}
	sort.Strings(want)
	if got := s.objects(bucket); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("bucket %s holds %v, want %v", bucket, got, want)
	}
	for name, sum := range rec.sums {
		got := sha256.Sum256(s.get(bucket, keyPrefix+"/"+name))
		if hex.EncodeToString(got[:]) != sum {
			t.Errorf("%s/%s reads back with sha256 %x, want %s", keyPrefix, name, got, sum)
		}
	}
	if rep.Error != "" || strings.Contains(rep.raw, `"error"`) {
		t.Errorf("report has an error: %s", rep.raw)
	}
	if rep.Session != session || rep.Room != room || rep.MeetingURL != "https://meet.example.com/"+room || rep.Recorder != recorder {
		t.Errorf("report session/room: %s", rep.raw)
	}
	if len(rep.Files) != 2 {
		t.Fatalf("report lists %d files, want 2: %s", len(rep.Files), rep.raw)
	}
	for _, f := range rep.Files {
		if f.URL != "s3://"+bucket+"/"+keyPrefix+"/"+f.Name || f.SizeBytes != rec.size[f.Name] || f.SHA256 != rec.sums[f.Name] {
			t.Errorf("report file %+v, want url s3://%s/%s/%s, size %d, sha256 %s", f, bucket, keyPrefix, f.Name, rec.size[f.Name], rec.sums[f.Name])
		}
		if keepLocal != (f.Path == filepath.Join(rec.dir, f.Name)) {
			t.Errorf("report file %s has path %q with keep-local %v", f.Name, f.Path, keepLocal)
		}
	}
	_, err := os.Stat(rec.dir)
	if keepLocal && err != nil {
		t.Errorf("keep-local: the session directory is gone: %v", err)
	}
	if !keepLocal && !os.IsNotExist(err) {
		t.Errorf("the session directory is still there after a verified upload (err %v)", err)
	}
}

// checkKeptLocal checks a failed upload's report: the error, the local paths, and the files kept.
func checkKeptLocal(t *testing.T, rec recording, rep report, words ...string) {
	t.Helper()
	lower := strings.ToLower(rep.Error)
	for _, w := range words {
		if !strings.Contains(lower, w) {
			t.Errorf("report error %q does not mention %q", rep.Error, w)
		}
	}
	if len(rep.Files) != 2 {
		t.Fatalf("report lists %d files, want the 2 local ones: %s", len(rep.Files), rep.raw)
	}
	for _, f := range rep.Files {
		if f.URL != "" || f.Path != filepath.Join(rec.dir, f.Name) || f.SHA256 != rec.sums[f.Name] || f.SizeBytes != rec.size[f.Name] {
			t.Errorf("report file %+v, want the local copy", f)
		}
		if _, err := os.Stat(f.Path); err != nil {
			t.Errorf("local file not kept: %v", err)
		}
	}
}

func noSecrets(t *testing.T, out string, rep report) {
	t.Helper()
	for _, s := range []string{secretKey, eventsSecret, reportKey} {
		if strings.Contains(out, s) || strings.Contains(rep.raw, s) {
			t.Errorf("a secret shows in the script's output or report:\n%s\n%s", out, rep.raw)
		}
	}
}

// shim wraps bin/rclone to record each invocation's arguments and environment.
func shim(t *testing.T, rclone string) (dir, log string) {
	dir = t.TempDir()
	log = filepath.Join(dir, "calls.log")
	script := "#!/bin/sh\n{ printf 'ARGV'; for a in \"$@\"; do printf ' %s' \"$a\"; done; printf '\\n'; env | sed 's/^/ENV /'; } >>'" +
		log + "'\nexec '" + rclone + "' \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "rclone"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, log
}

// spy puts programs named names first in PATH that record their arguments and environment in
// log (with builtins and env only), then run the real ones.
func spy(t *testing.T, names ...string) (dir, log string) {
	dir = t.TempDir()
	log = filepath.Join(dir, "calls.log")
	for _, name := range names {
		real, err := exec.LookPath(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		script := "#!/bin/sh\n{ printf 'CALL %s' '" + name + "'; for a in \"$@\"; do printf ' %s' \"$a\"; done; printf '\\n'; env; } >>'" +
			log + "'\nexec '" + real + "' \"$@\"\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir, log
}

func TestUploadVerifiedThenDeleted(t *testing.T) {
	rclone := rcloneBin(t)
	s := startS3(t, "jitsi-recordings")
	rcv := startReceiver(t)
	rec := newRecording(t, 3<<20)
	shimDir, log := shim(t, rclone)
	spyDir, spied := spy(t, "curl", "sha256sum")

	// A prefix with stray slashes: the key has single slashes and no leading one.
	g := finalize(t, rec.dir, s3Env(rcv, s, "jitsi-recordings", "/recordings//2026/", credentials(t, accessKey, secretKey)),
		shimDir, spyDir, filepath.Dir(rclone))
	if code := wait(t, g, 40*time.Second); code != 0 {
		t.Fatalf("finalize exited %d:\n%s", code, g.Out)
	}
	rep := rcv.only(t)
	checkUploaded(t, s, "jitsi-recordings", "recordings/2026/team-a/"+room+"/"+session, rec, rep, false)
	noSecrets(t, g.Out.String(), rep)

	calls, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(calls), "\n") {
		switch {
		case strings.HasPrefix(line, "ARGV"):
			n++
			if strings.Contains(line, secretKey) || strings.Contains(line, accessKey) {
				t.Errorf("rclone's command line shows a credential: %s", line)
			}
		case strings.HasPrefix(line, "ENV AWS_"), strings.HasPrefix(line, "ENV RCLONE_DRY_RUN"):
			t.Errorf("the caller's variable reached rclone: %s", line)
		case strings.HasPrefix(line, "ENV ") && (strings.Contains(line, eventsSecret) || strings.Contains(line, reportKey)):
			t.Errorf("the report key reached rclone: %s", line)
		}
	}
	if n == 0 {
		t.Errorf("rclone never ran through the shim:\n%s", g.Out)
	}
	// The report is signed by the shell: the key is in neither curl's nor sha256sum's arguments
	// or environment.
	others, err := os.ReadFile(spied)
	if err != nil || !strings.Contains(string(others), "CALL curl") || !strings.Contains(string(others), "CALL sha256sum") {
		t.Fatalf("curl and sha256sum did not run through the spies (%v)", err)
	}
	for _, secret := range []string{reportKey, eventsSecret, secretKey} {
		if strings.Contains(string(others), secret) {
			t.Errorf("a secret reached curl's or sha256sum's command line or environment")
		}
	}
	t.Logf("%d rclone calls; script output:\n%s", n, g.Out)
}

func TestKeepLocalAndEmptyPrefix(t *testing.T) {
	rclone := rcloneBin(t)
	s := startS3(t, "rec")
	rcv := startReceiver(t)
	rec := newRecording(t, 2<<20)
	g := finalize(t, rec.dir, s3Env(rcv, s, "rec", "", credentials(t, accessKey, secretKey), "JITSI_OPERATOR_KEEP_LOCAL=true"),
		filepath.Dir(rclone))
	if code := wait(t, g, 40*time.Second); code != 0 {
		t.Fatalf("finalize exited %d:\n%s", code, g.Out)
	}
	checkUploaded(t, s, "rec", "team-a/"+room+"/"+session, rec, rcv.only(t), true)
}

func TestWrongCredentials(t *testing.T) {
	rclone := rcloneBin(t)
	s := startS3(t, "jitsi-recordings")
	rcv := startReceiver(t)
	rec := newRecording(t, 1<<20)
	g := finalize(t, rec.dir, s3Env(rcv, s, "jitsi-recordings", "rec", credentials(t, accessKey, "not-the-secret")),
		filepath.Dir(rclone))
	if code := wait(t, g, 40*time.Second); code != 0 {
		t.Fatalf("finalize exited %d (want 0: reported):\n%s", code, g.Out)
	}
	rep := rcv.only(t)
	checkKeptLocal(t, rec, rep, "credentials", "access")
	if objs := s.objects("jitsi-recordings"); len(objs) != 0 {
		t.Errorf("objects uploaded with wrong credentials: %v", objs)
	}
	if strings.Contains(g.Out.String(), "attempt 2 of") {
		t.Errorf("retried a permanent error:\n%s", g.Out)
	}
	noSecrets(t, g.Out.String(), rep)
	t.Logf("error: %s", rep.Error)
}

func TestMissingBucket(t *testing.T) {
	rclone := rcloneBin(t)
	s := startS3(t, "jitsi-recordings")
	rcv := startReceiver(t)
	rec := newRecording(t, 1<<20)
	g := finalize(t, rec.dir, s3Env(rcv, s, "no-such-bucket", "rec", credentials(t, accessKey, secretKey)), filepath.Dir(rclone))
	if code := wait(t, g, 40*time.Second); code != 0 {
		t.Fatalf("finalize exited %d (want 0: reported):\n%s", code, g.Out)
	}
	rep := rcv.only(t)
	checkKeptLocal(t, rec, rep, "bucket", "no-such-bucket")
	if _, err := os.Stat(filepath.Join(s.dir, "no-such-bucket")); err == nil {
		t.Errorf("the script created the bucket")
	}
	t.Logf("error: %s", rep.Error)
}

func TestUnreachableGivesUp(t *testing.T) {
	rclone := rcloneBin(t)
	s := startS3(t, "jitsi-recordings")
	s.stop()
	rcv := startReceiver(t)
	rec := newRecording(t, 1<<20)
	g := finalize(t, rec.dir, s3Env(rcv, s, "jitsi-recordings", "rec", credentials(t, accessKey, secretKey),
		"JITSI_OPERATOR_UPLOAD_ATTEMPTS=2"), filepath.Dir(rclone))
	if code := wait(t, g, 40*time.Second); code != 0 {
		t.Fatalf("finalize exited %d (want 0: reported):\n%s", code, g.Out)
	}
	rep := rcv.only(t)
	checkKeptLocal(t, rec, rep, "unreachable", "2 attempt")
	t.Logf("error: %s", rep.Error)
}

func TestServerBackDuringRetries(t *testing.T) {
	rclone := rcloneBin(t)
	s := startS3(t, "jitsi-recordings")
	s.stop()
	rcv := startReceiver(t)
	rec := newRecording(t, 4<<20)
	g := finalize(t, rec.dir, s3Env(rcv, s, "jitsi-recordings", "rec", credentials(t, accessKey, secretKey)), filepath.Dir(rclone))
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(g.Out.String(), "retrying the upload") {
		if g.Exited() || time.Now().After(deadline) {
			t.Fatalf("the script did not retry:\n%s", g.Out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.start() // same port, same directory
	if code := wait(t, g, 40*time.Second); code != 0 {
		t.Fatalf("finalize exited %d:\n%s", code, g.Out)
	}
	if !strings.Contains(g.Out.String(), "attempt 2 of") {
		t.Errorf("no second attempt:\n%s", g.Out)
	}
	checkUploaded(t, s, "jitsi-recordings", "rec/team-a/"+room+"/"+session, rec, rcv.only(t), false)
}

// TestServerStoppedMidUpload stops the server once rclone's copy has started (so during the
// upload or, at the latest, its verification), then starts it again on the same port.
func TestServerStoppedMidUpload(t *testing.T) {
	rclone := rcloneBin(t)
	s := startS3(t, "jitsi-recordings")
	rcv := startReceiver(t)
	rec := newRecording(t, 96<<20)
	shimDir, log := shim(t, rclone)
	g := finalize(t, rec.dir, s3Env(rcv, s, "jitsi-recordings", "rec", credentials(t, accessKey, secretKey)), shimDir)
	deadline := time.Now().Add(30 * time.Second)
	for {
		calls, _ := os.ReadFile(log)
		if strings.Contains(string(calls), " copy ") {
			break
		}
		if g.Exited() || time.Now().After(deadline) {
			t.Fatalf("rclone copy never started:\n%s", g.Out)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	s.stop()
	for !strings.Contains(g.Out.String(), "retrying the upload") {
		if g.Exited() || time.Now().After(deadline) {
			t.Fatalf("the script did not retry after the server stopped:\n%s", g.Out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.start()
	if code := wait(t, g, 40*time.Second); code != 0 {
		t.Fatalf("finalize exited %d:\n%s", code, g.Out)
	}
	checkUploaded(t, s, "jitsi-recordings", "rec/team-a/"+room+"/"+session, rec, rcv.only(t), false)
	t.Logf("script output:\n%s", g.Out)
}

func TestWithoutBucketUnchanged(t *testing.T) {
	rcv := startReceiver(t)
	rec := newRecording(t, 1<<20)
	g := finalize(t, rec.dir, []string{
		"JITSI_OPERATOR_RECORDING_URL=" + rcv.URL + "/v1/jibri/recording-complete?pool=team-a/recorders",
		"JITSI_OPERATOR_REPORT_KEY=" + reportKey,
		"JIBRI_INSTANCE_ID=" + recorder,
	})
	if code := wait(t, g, 20*time.Second); code != 0 {
		t.Fatalf("finalize exited %d:\n%s", code, g.Out)
	}
	rep := rcv.only(t)
	if rep.Error != "" {
		t.Errorf("error without S3: %s", rep.raw)
	}
	checkKeptLocal(t, rec, rep)
	if strings.Contains(g.Out.String(), "upload") {
		t.Errorf("the script uploaded without a bucket:\n%s", g.Out)
	}
}

// BenchmarkUpload500MB uploads a 500 MB generated recording to the loopback server with the
// shipped script (upload, read-back verification, delete, report) and reports MB/s.
// Run: go test ./test/finalize/ -run '^$' -bench Upload500MB -benchtime 1x
func BenchmarkUpload500MB(b *testing.B) {
	const size = 500 << 20
	rclone := rcloneBin(b)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := startS3(b, "bench")
		rcv := startReceiver(b)
		rec := newRecording(b, size)
		b.StartTimer()
		start := time.Now()
		g := finalize(b, rec.dir, s3Env(rcv, s, "bench", "", credentials(b, accessKey, secretKey)), filepath.Dir(rclone))
		if code := wait(b, g, 10*time.Minute); code != 0 {
			b.Fatalf("finalize exited %d:\n%s", code, g.Out)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		rep := rcv.only(b)
		if rep.Error != "" || len(rep.Files) != 2 {
			b.Fatalf("report: %s", rep.raw)
		}
		mbps := float64(size) / (1 << 20) / elapsed.Seconds()
		b.ReportMetric(mbps, "MB/s")
		var line string
		for _, l := range strings.Split(g.Out.String(), "\n") {
			if strings.Contains(l, "uploaded and verified") {
				line = l
			}
		}
		b.Logf("500 MB: %s end to end, %.1f MB/s (upload + read-back + delete + report); %s", elapsed.Round(time.Millisecond), mbps, line)
		s.stop()
	}
}
