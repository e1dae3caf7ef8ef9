package rtmp

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitsi-operator/jitsi-operator/internal/render"
	"github.com/jitsi-operator/jitsi-operator/internal/testproc"
)

// TestPushScriptOnItsOwn runs push.sh without nginx, as nginx would (one stream name), against a
// stand-in receiver: what it does when the receiver refuses, and with destinations it must skip
// or cannot reach; never printing the receiver's token or a stream key.
func TestPushScriptOnItsOwn(t *testing.T) {
	tl := findTools(t)
	const token, stream = "t0ken-secret", "video.keynote.s3cr3t"
	deadPort := testproc.FreePort(t)
	cases := []struct {
		name       string
		answer     int
		body       string
		wantExit   bool // exits non-zero
		wantStates []string
	}{
		{name: "refused", answer: http.StatusForbidden, body: "the meeting has ended", wantExit: true},
		{name: "no destinations", answer: http.StatusOK, body: "\n"},
		{
			name: "skips what it cannot push, reports what fails", answer: http.StatusOK,
			body: "Bad_Name rtmp://127.0.0.1:1/app/k1\n" +
				"web http://127.0.0.1:1/k2\n" +
				fmt.Sprintf("broken rtmp://127.0.0.1:%d/app/key-secret\n", deadPort),
			wantExit:   true,
			wantStates: []string{"broken Live", "broken Failed"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc := &receiver{}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/v1/rtmp/pools/video/recorders/" + token + "/destinations":
					if r.URL.Query().Get("stream") != stream {
						t.Errorf("destinations asked for %q", r.URL.Query().Get("stream"))
					}
					w.WriteHeader(tc.answer)
					fmt.Fprint(w, tc.body)
				case "/v1/rtmp/pools/video/recorders/" + token + "/destination-status":
					if err := r.ParseForm(); err != nil {
						t.Error(err)
					}
					f := r.PostForm
					rc.mu.Lock()
					rc.statuses = append(rc.statuses, status{f.Get("stream"), f.Get("destination"), f.Get("state"), f.Get("error")})
					rc.mu.Unlock()
				default:
					t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
				}
			}))
			defer srv.Close()
			dir := t.TempDir()
			push := filepath.Join(dir, render.RelayPushFile)
			if err := os.WriteFile(push, []byte(render.RelayPushScript), 0o755); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "/bin/sh", push, stream)
			cmd.Env = []string{
				"PATH=" + filepath.Dir(tl.ffmpeg) + ":" + os.Getenv("PATH"),
				render.KeyRelayURL + "=" + srv.URL + "/v1/rtmp/pools/video/recorders/" + token,
				// Nothing serves the stream either: ffmpeg fails on its input first.
				fmt.Sprintf("JITSI_OPERATOR_RELAY_SOURCE=rtmp://127.0.0.1:%d/live", deadPort),
				"TMPDIR=" + dir,
			}
			out, err := cmd.CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("push.sh did not end: %s", out)
			}
			if (err != nil) != tc.wantExit {
				t.Errorf("exit %v, want failure=%v\n%s", err, tc.wantExit, out)
			}
			for _, secret := range []string{token, "key-secret", "s3cr3t", "k1", "k2"} {
				if strings.Contains(string(out), secret) {
					t.Errorf("push.sh printed %q:\n%s", secret, out)
				}
			}
			var states []string
			for _, s := range rc.statuses {
				states = append(states, s.destination+" "+s.state)
				if s.stream != stream {
					t.Errorf("status for stream %q", s.stream)
				}
				if s.state == "Failed" {
					if s.err == "" || strings.Contains(s.err, "s3cr3t") || strings.Contains(s.err, "key-secret") {
						t.Errorf("the reported error is empty or shows a secret: %q", s.err)
					}
					t.Logf("reported error: %q", s.err)
				}
			}
			if strings.Join(states, ",") != strings.Join(tc.wantStates, ",") {
				t.Errorf("states %q, want %q", states, tc.wantStates)
			}
			t.Logf("push.sh said: %s", out)
		})
	}
}
