package rtmp

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitsi-operator/jitsi-operator/internal/render"
	"github.com/jitsi-operator/jitsi-operator/internal/testproc"
)

// The pool's key and names for streams started from the meeting, as the pool's Secret and the
// recorder's environment carry them.
const (
	uiKey    = "0123456789abcdef0123456789abcdef01234567"
	uiPrefix = "ui.video.recorders"
)

// wrapper runs the recorders' ffmpeg wrapper with args, in front of realFFmpeg.
func wrapper(t *testing.T, ctx context.Context, realFFmpeg, relay string, args ...string) *exec.Cmd {
	script := filepath.Join(t.TempDir(), render.FFmpegRelayFile)
	if err := os.WriteFile(script, []byte(render.FFmpegRelayScript), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "sh", append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(), "JITSI_OPERATOR_FFMPEG="+realFFmpeg)
	if relay != "" {
		cmd.Env = append(cmd.Env, "JITSI_OPERATOR_RELAY_PUBLISH="+relay, "JITSI_OPERATOR_RELAY_UI_PREFIX="+uiPrefix,
			"JITSI_OPERATOR_RELAY_UI_KEY="+uiKey)
	}
	return cmd
}

func TestTheFFmpegWrapperSendsOnlyPlatformStreamsToTheRelay(t *testing.T) {
	dir := t.TempDir()
	// A stand-in ffmpeg that writes its arguments, one per line.
	fake := filepath.Join(dir, "ffmpeg")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nfor a do printf '%s\\n' \"$a\"; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	const relay = "rtmp://recorders-relay.video.svc:1935/live"
	typed := "rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl-mnop"
	run := func(relay string, args ...string) []string {
		out, err := wrapper(t, context.Background(), fake, relay, args...).Output()
		if err != nil {
			t.Fatalf("wrapper %q: %v", args, err)
		}
		return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	}
	head := []string{"-y", "-f", "x11grab", "-i", ":0.0+0,0", "-metadata", "title=a b  c", "-f", "flv"}

	got := run(relay, append(head, typed)...)
	want := append(slices.Clone(head), relay+"/"+render.RelayUIName(uiKey, "video", "recorders", typed))
	if !slices.Equal(got, want) {
		t.Fatalf("a platform stream:\n got %q\nwant %q", got, want)
	}
	ns, pool, target, ok := render.ParseRelayUIName(uiKey, strings.TrimPrefix(got[len(got)-1], relay+"/"))
	if !ok || ns != "video" || pool != "recorders" || target != typed {
		t.Errorf("the relay name does not carry the typed URL back: %s %s %q %v", ns, pool, target, ok)
	}
	for _, args := range [][]string{
		append(slices.Clone(head), relay+"/video.keynote.s3cr3t"),        // the operator's own stream to the relay
		append(slices.Clone(head), "/storage/recordings/s1/standup.mp4"), // a recording
		{"-version"},
	} {
		if got := run(relay, args...); !slices.Equal(got, args) {
			t.Errorf("changed %q into %q", args, got)
		}
	}
	if got := run("", append(head, typed)...); !slices.Equal(got, append(slices.Clone(head), typed)) {
		t.Errorf("without a relay: %q", got)
	}
}

// uiReceiver stands in for the receiver's part in streams started from the meeting: it admits and
// routes names signed with the pool's key, and refuses the rest.
type uiReceiver struct {
	mu        sync.Mutex
	callbacks []string
}

func (u *uiReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	defer u.mu.Unlock()
	_ = r.ParseForm()
	name := r.Form.Get("name")
	u.callbacks = append(u.callbacks, r.Method+" "+r.URL.String())
	switch r.URL.Path {
	case "/v1/rtmp/publish":
		code := http.StatusOK
		if _, _, _, ok := render.ParseRelayUIName(uiKey, name); !ok {
			code = http.StatusForbidden
		}
		u.callbacks = append(u.callbacks, fmt.Sprintf("publish %d", code))
		w.WriteHeader(code)
	case "/v1/rtmp/publish-done", relayAt + "/destination-status", "/platform/publish":
	case relayAt + "/destinations":
		_, _, target, ok := render.ParseRelayUIName(uiKey, r.URL.Query().Get("stream"))
		if !ok {
			http.Error(w, "not signed", http.StatusForbidden)
			return
		}
		fmt.Fprintf(w, "ui %s\n", target)
	default:
		http.Error(w, "unexpected", http.StatusBadRequest)
	}
}

func TestAStreamStartedFromTheMeetingReachesTheTypedURLThroughTheRelay(t *testing.T) {
	tl := findTools(t)
	acct := nginxAccount(t)
	tmp := t.TempDir()
	relayPort, platformPort := testproc.FreePort(t), testproc.FreePort(t)
	u := &uiReceiver{}
	srv := httptest.NewServer(u)
	t.Cleanup(srv.Close)
	platforms := filepath.Join(tmp, "platforms")
	mustMkdir(t, platforms)
	startNginx(t, tl, acct, "platforms", platforms, platformConf(platforms, platformPort, srv.URL), platformPort,
		[]string{"PATH=" + os.Getenv("PATH")})
	startRelay(t, tl, acct, filepath.Join(tmp, "relay"), relayPort, srv.URL, false)

	// Jibri's ffmpeg, as it streams to the URL the person typed; the wrapper sends it to the relay.
	typed := fmt.Sprintf("rtmp://127.0.0.1:%d/platA/typed-key", platformPort)
	relay := fmt.Sprintf("rtmp://127.0.0.1:%d/live", relayPort)
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc=size=640x360:rate=25", "-f", "lavfi", "-i", "sine=frequency=440",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "50", "-c:a", "aac",
		"-t", "30", "-f", "flv", typed}
	pub := startGroup(t, "jibri-ffmpeg", wrapper(t, context.Background(), tl.ffmpeg, relay, args...), nil)
	probe(t, tl, typed)
	if pub.Exited() {
		t.Fatalf("the wrapped ffmpeg stopped: %v\n%s", pub.Err(), pub.Out.String())
	}
	u.mu.Lock()
	callbacks := slices.Clone(u.callbacks)
	u.mu.Unlock()
	if !slices.Contains(callbacks, "publish 200") {
		t.Errorf("the relay did not ask before admitting: %q", callbacks)
	}

	// A name that is not signed with the pool's key is refused.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	forged := render.RelayUIName("not-the-pool-key", "video", "recorders", typed)
	out, err := exec.CommandContext(ctx, tl.ffmpeg, append(args[:len(args)-1], relay+"/"+forged)...).CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("a forged name: want refused at once, got %v\n%s", err, out)
	}
}
