package render

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/scaling"
)

const testEventsSecret = "the-deployment-events-secret"

// shells are the shells the scripts are run with: /bin/sh (dash in the image, and here) and bash.
func shells(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, sh := range []string{"/bin/sh", "bash"} {
		if p, err := exec.LookPath(sh); err == nil {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		t.Skip("no shell")
	}
	return out
}

func goHMAC(key string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

func TestRecordersHoldOnlyTheirPoolsKeys(t *testing.T) {
	d := deployment()
	in := input(d)
	events := in.Secrets.Webhook
	pools := map[string]*jitsiv1alpha1.JibriPool{}
	relayed := jibriPool(jitsiv1alpha1.AudioPulseAudio)
	relayed.Spec.Streaming.Relay = &jitsiv1alpha1.RelaySpec{Enabled: true}
	pools["relay"] = relayed
	uploading := jibriPool(jitsiv1alpha1.AudioPulseAudio)
	uploading.Spec.Recordings.Upload = &jitsiv1alpha1.UploadSpec{S3: &jitsiv1alpha1.S3UploadSpec{Bucket: "rec"}}
	pools["upload"] = uploading
	pools["pulse"] = jibriPool(jitsiv1alpha1.AudioPulseAudio)
	for name, pool := range pools {
		for _, card := range []*scaling.Card{nil, {Node: "n1", Index: 3}} {
			pod := JibriPod(in, pool, "recorders-a", card)
			for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
				for _, e := range c.Env {
					if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil && ref.SecretKeyRef.Name == events.Name && ref.SecretKeyRef.Key == events.Key {
						t.Errorf("%s: recorder variable %s is the deployment's events secret", name, e.Name)
					}
					if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil && ref.SecretKeyRef.Name != JibriPoolSecret(pool) &&
						ref.SecretKeyRef.Name != in.Secrets.Generated {
						t.Errorf("%s: recorder variable %s comes from Secret %s", name, e.Name, ref.SecretKeyRef.Name)
					}
				}
			}
			env := envOf(t, pod.Spec.Containers[0])
			if ref := env[KeyRecordingReportKey].ValueFrom; ref == nil || ref.SecretKeyRef.Name != JibriPoolSecret(pool) || ref.SecretKeyRef.Key != KeyRecordingReportKey {
				t.Errorf("%s: the report key does not come from the pool's Secret: %+v", name, env[KeyRecordingReportKey])
			}
		}
	}
	for _, c := range RelayDeployment(relayInput()).Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil && ref.SecretKeyRef.Name == events.Name {
				t.Errorf("relay variable %s is the deployment's events secret", e.Name)
			}
		}
	}

	pool := jibriPool(jitsiv1alpha1.AudioPulseAudio)
	s := JibriPoolSecretObject(d, pool, "http://op:9090", []byte(testEventsSecret))
	key := string(s.Data[KeyRecordingReportKey])
	if key != RecordingReportKey([]byte(testEventsSecret), pool.Namespace, pool.Name) || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(key) {
		t.Errorf("report key %q: want the pool's derived key, 64 hex digits", key)
	}
	if url := string(s.Data[KeyRecordingURL]); url != "http://op:9090/v1/jibri/recording-complete?pool=video/recorders" {
		t.Errorf("report URL %q", url)
	}
	for k, v := range s.Data {
		if strings.Contains(string(v), testEventsSecret) {
			t.Errorf("the pool Secret's %s holds the events secret", k)
		}
	}
	others := []string{
		RecordingReportKey([]byte(testEventsSecret), pool.Namespace, "other"),
		RecordingReportKey([]byte(testEventsSecret), "elsewhere", pool.Name),
		RecordingReportKey([]byte("another-secret"), pool.Namespace, pool.Name),
		RelayUIKey([]byte(testEventsSecret), pool.Namespace, pool.Name),
		JibriWebhookToken([]byte(testEventsSecret), pool.Namespace, pool.Name),
	}
	for _, o := range others {
		if strings.HasPrefix(key, o) || strings.HasPrefix(o, key[:40]) {
			t.Errorf("the report key is not the pool's own for its purpose: %s ~ %s", key, o)
		}
	}
}

// hmacFunction is the hmac_sha256 shell function of script.
func hmacFunction(t *testing.T, script string) string {
	t.Helper()
	start := strings.Index(script, "\nhmac_sha256() {\n")
	end := strings.Index(script[start+1:], "\n}\n")
	if start < 0 || end < 0 {
		t.Fatal("no hmac_sha256 function in the script")
	}
	return script[start+1 : start+1+end+3]
}

func TestScriptsSignAsGoDoes(t *testing.T) {
	fn := hmacFunction(t, FinalizeRecordingScript)
	if hmacFunction(t, FFmpegRelayScript) != fn {
		t.Fatal("the finalize script and the ffmpeg wrapper sign with different functions")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var bodies [][]byte
	for _, s := range []string{"", "a", "%s%d%%\\n\\t", `back\slash \\ "quoted"`, "new\nlines\n\n", "\n", "tab\there",
		"ünïcødé ✓ 日本語 🎥", `{"timestamp":1,"files":[]}`, "-n", "--", "\\0101", strings.Repeat("x", 64), strings.Repeat("y", 5000)} {
		bodies = append(bodies, []byte(s))
	}
	for i := 0; i < 60; i++ {
		b := make([]byte, rng.IntN(300))
		for j := range b {
			b[j] = byte(1 + rng.IntN(255)) // a shell string holds no NUL
		}
		bodies = append(bodies, b)
	}
	hexDigits := "0123456789abcdefABCDEF"
	keys := []string{
		RecordingReportKey([]byte(testEventsSecret), "video", "recorders"),
		RelayUIKey([]byte(testEventsSecret), "video", "recorders"),
		"0", strings.Repeat("F", 64),
	}
	for i := 0; i < 2; i++ {
		k := make([]byte, 1+rng.IntN(64))
		for j := range k {
			k[j] = hexDigits[rng.IntN(len(hexDigits))]
		}
		keys = append(keys, string(k))
	}
	dir := t.TempDir()
	for i, b := range bodies {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%03d", i)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Each body is read back whole (the x keeps trailing newlines) and signed in one shell; the
	// operator's two key shapes sign every body, the other keys the first few.
	loop := fn + `i=0; for f in "$BODIES"/*; do [ "$i" -lt "$N" ] || break; i=$((i + 1)); b=$(cat "$f"; printf x); hmac_sha256 "$K" "${b%x}" || echo FAILED; done`
	for _, sh := range shells(t) {
		for k, key := range keys {
			n := len(bodies)
			if k >= 2 {
				n = 24
			}
			t.Run(filepath.Base(sh)+"/"+key, func(t *testing.T) {
				t.Parallel()
				cmd := exec.Command(sh, "-c", loop)
				cmd.Env = append(os.Environ(), "K="+key, "BODIES="+dir, fmt.Sprintf("N=%d", n))
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("%v\n%s", err, out)
				}
				got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
				if len(got) != n {
					t.Fatalf("%d signatures for %d bodies:\n%s", len(got), n, out)
				}
				for i, b := range bodies[:n] {
					if want := goHMAC(key, b); got[i] != want {
						t.Errorf("body %q: %s, Go says %s", b, got[i], want)
					}
				}
			})
		}
		for _, bad := range []string{"", "xyz", "0123 4567", strings.Repeat("a", 65)} {
			cmd := exec.Command(sh, "-c", fn+`hmac_sha256 "$K" body`)
			cmd.Env = append(os.Environ(), "K="+bad)
			if out, err := cmd.Output(); err == nil {
				t.Errorf("%s: key %q signed (%s), want a failure", sh, bad, out)
			}
		}
	}
}

// spy puts programs named names first in PATH that log their arguments and environment to log
// and then run the real ones.
func spy(t *testing.T, names ...string) (dir, log string) {
	t.Helper()
	dir = t.TempDir()
	log = filepath.Join(dir, "calls.log")
	for _, name := range names {
		real, err := exec.LookPath(name)
		if err != nil {
			t.Skipf("%s: %v", name, err)
		}
		// Only builtins and env: the spy must not run the programs it stands in for.
		script := "#!/bin/sh\n{ printf 'ARGV %s' '" + name + "'; for a in \"$@\"; do printf ' %s' \"$a\"; done; printf '\\nENV\\n'; env; } >>'" +
			log + "'\nexec '" + real + "' \"$@\"\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir, log
}

func TestFinalizeScriptSignsWhatItSends(t *testing.T) {
	key := RecordingReportKey([]byte(testEventsSecret), "video", "recorders")
	type received struct {
		query, signature string
		body             []byte
	}
	var mu sync.Mutex
	var got []received
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, received{r.URL.RawQuery, r.Header.Get("X-Jitsi-Signature"), body})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"applied":true}`))
	}))
	defer rcv.Close()

	// Names as a file system allows them: what the script sends must still be signed right.
	names := []string{"room_2026-12-01-09-00-00.mp4", `100% \done\ "quoted".mp4`, "ünïcødé ✓ 🎥.mp4", "tab\tand\nnewline.mp4", "$(echo no).mp4"}
	rooms := []string{"100%-room", "räum-ü"}
	for _, sh := range shells(t) {
		for i, room := range rooms {
			session := fmt.Sprintf("0b6f3c1e-2a9d-4f7b-8e3c-5d4a1b2c3d4%d", i)
			dir := filepath.Join(t.TempDir(), "recordings", session)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, n := range names {
				if err := os.WriteFile(filepath.Join(dir, n), []byte("media of "+n), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			meta, _ := json.Marshal(map[string]any{"meeting_url": "https://meet.example.com/" + room, "participants": []any{}})
			if err := os.WriteFile(filepath.Join(dir, "metadata.json"), meta, 0o644); err != nil {
				t.Fatal(err)
			}
			script := filepath.Join(t.TempDir(), FinalizeRecordingFile)
			if err := os.WriteFile(script, []byte(FinalizeRecordingScript), 0o755); err != nil {
				t.Fatal(err)
			}
			spies, log := spy(t, "curl", "sha256sum", "stat")
			cmd := exec.Command(sh, script, dir)
			cmd.Env = []string{"PATH=" + spies + string(os.PathListSeparator) + os.Getenv("PATH"), "HOME=" + t.TempDir(),
				"JITSI_OPERATOR_RECORDING_URL=" + rcv.URL + "/v1/jibri/recording-complete?pool=video/recorders",
				"JITSI_OPERATOR_REPORT_KEY=" + key, "JIBRI_INSTANCE_ID=recorders-a"}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s room %q: %v\n%s", sh, room, err, out)
			}
			mu.Lock()
			last := got[len(got)-1]
			mu.Unlock()
			if want := goHMAC(key, last.body); last.signature != want {
				t.Errorf("%s room %q: signature %s, Go says %s over %q", sh, room, last.signature, want, last.body)
			}
			var rep struct {
				Recorder, Session, Room string
				Files                   []struct{ Name, Path, SHA256 string }
			}
			if err := json.Unmarshal(last.body, &rep); err != nil {
				t.Fatalf("%s: the report is not JSON: %v\n%s", sh, err, last.body)
			}
			if rep.Recorder != "recorders-a" || rep.Session != session || rep.Room != room || last.query != "pool=video/recorders" {
				t.Errorf("%s: report %s to ?%s", sh, last.body, last.query)
			}
			var files []string
			for _, f := range rep.Files {
				files = append(files, f.Name)
				if f.Path != filepath.Join(dir, f.Name) {
					t.Errorf("%s: file %q has path %q", sh, f.Name, f.Path)
				}
			}
			want := append(slices.Clone(names), "metadata.json")
			slices.Sort(want)
			slices.Sort(files)
			if !slices.Equal(files, want) {
				t.Errorf("%s: files %q, want %q", sh, files, want)
			}
			calls, _ := os.ReadFile(log)
			if !strings.Contains(string(calls), "ARGV curl") || !strings.Contains(string(calls), "ARGV sha256sum") {
				t.Fatalf("the spies saw nothing:\n%s", calls)
			}
			if strings.Contains(string(calls), key) || strings.Contains(string(out), key) || strings.Contains(last.query, key) {
				t.Errorf("%s: the report key shows in a program's arguments or environment, the output or the URL", sh)
			}
		}
	}
}

func TestFFmpegWrapperKeepsItsKey(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "ffmpeg")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nfor a do printf 'ARG %s\\n' \"$a\"; done\nenv | sed 's/^/ENV /'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, FFmpegRelayFile)
	if err := os.WriteFile(script, []byte(FFmpegRelayScript), 0o755); err != nil {
		t.Fatal(err)
	}
	key := RelayUIKey([]byte(testEventsSecret), "video", "recorders")
	const relay = "rtmp://recorders-relay.video.svc:1935/live"
	for _, sh := range shells(t) {
		for _, typed := range []string{"rtmp://a.rtmp.youtube.com/live2/abcd-efgh", "rtmps://live.example.com:443/app/ke%y\\x\"y ü"} {
			spies, log := spy(t, "sha256sum", "base64", "tr", "cut")
			cmd := exec.Command(sh, script, "-f", "flv", typed)
			cmd.Env = []string{"PATH=" + spies + string(os.PathListSeparator) + os.Getenv("PATH"),
				"JITSI_OPERATOR_FFMPEG=" + fake, "JITSI_OPERATOR_RELAY_PUBLISH=" + relay,
				"JITSI_OPERATOR_RELAY_UI_PREFIX=" + RelayUIPrefix("video", "recorders"), "JITSI_OPERATOR_RELAY_UI_KEY=" + key}
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: %v\n%s", sh, err, out)
			}
			if want := "ARG " + relay + "/" + RelayUIName(key, "video", "recorders", typed) + "\n"; !strings.Contains(string(out), want) {
				t.Errorf("%s: ffmpeg got\n%s\nwant the argument %q", sh, out, want)
			}
			calls, _ := os.ReadFile(log)
			if strings.Contains(string(out), key) || strings.Contains(string(calls), key) {
				t.Errorf("%s: the relay key reached ffmpeg or another program:\n%s\n%s", sh, out, calls)
			}
		}
	}
}

func TestScriptsNeverTrace(t *testing.T) {
	for name, s := range map[string]string{FinalizeRecordingFile: FinalizeRecordingScript, FFmpegRelayFile: FFmpegRelayScript} {
		for _, line := range strings.Split(s, "\n") {
			code := strings.TrimSpace(line)
			if strings.HasPrefix(code, "#") {
				continue
			}
			if regexp.MustCompile(`\bset\s+-[a-z]*x`).MatchString(code) || strings.Contains(code, "openssl") {
				t.Errorf("%s: %q (tracing would print the key; openssl takes it on its command line)", name, code)
			}
		}
		if !strings.Contains(s, "\nset +x\n") {
			t.Errorf("%s does not turn tracing off before it reads its key", name)
		}
	}
}
