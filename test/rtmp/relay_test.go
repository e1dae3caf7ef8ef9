// Package rtmp runs the pool's RTMP relay for real on loopback: Debian's nginx with the RTMP
// module and the config RelayNginxConf renders, the embedded push.sh, ffmpeg publishing a test
// stream as a recorder would, a second nginx standing in for two streaming platforms, and a
// stand-in for the operator's receiver.
package rtmp

import (
	"context"
	"encoding/json"
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

const (
	goodKey  = "video.keynote.s3cr3t" // the one live meeting's stream key
	wrongKey = "video.keynote.wr0ng"  // a guess
	endedKey = "video.ended.s3cr3t"   // a meeting that has ended
	relayAt  = "/v1/rtmp/pools/video/recorders/tok"
)

type status struct{ stream, destination, state, err string }

// receiver stands in for the operator's receiver, and records what it was told.
type receiver struct {
	mu         sync.Mutex
	callbacks  []string // "<call> <name> <answer>"
	asked      []string // streams whose destinations were asked for
	statuses   []status
	platforms  []string // "<app>/<name>" published on the platforms
	dests      string
	badRequest []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	bad := func(why string) {
		rc.badRequest = append(rc.badRequest, r.Method+" "+r.URL.Path+": "+why)
		http.Error(w, why, http.StatusBadRequest)
	}
	form := func() bool {
		if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			bad("want a form-encoded POST")
			return false
		}
		if err := r.ParseForm(); err != nil {
			bad(err.Error())
			return false
		}
		return true
	}
	switch r.URL.Path {
	case "/v1/rtmp/publish", "/v1/rtmp/publish-done":
		if !form() {
			return
		}
		name, code := r.PostForm.Get("name"), http.StatusOK
		if r.URL.Path == "/v1/rtmp/publish" && name != goodKey {
			code = http.StatusForbidden
		}
		rc.callbacks = append(rc.callbacks, fmt.Sprintf("%s %s %d", r.PostForm.Get("call"), name, code))
		w.WriteHeader(code)
	case relayAt + "/destinations":
		stream := r.URL.Query().Get("stream")
		rc.asked = append(rc.asked, stream)
		if r.Method != http.MethodGet || stream != goodKey {
			http.Error(w, "the stream is not a Meeting of this pool", http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, rc.dests)
	case relayAt + "/destination-status":
		if !form() {
			return
		}
		f := r.PostForm
		rc.statuses = append(rc.statuses, status{f.Get("stream"), f.Get("destination"), f.Get("state"), f.Get("error")})
	case "/platform/publish":
		if !form() {
			return
		}
		rc.platforms = append(rc.platforms, r.PostForm.Get("app")+"/"+r.PostForm.Get("name"))
	default:
		bad("unexpected path")
	}
}

// state is each destination's last reported state, and its last error.
func (rc *receiver) state() (map[string]string, map[string]string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	states, errs := map[string]string{}, map[string]string{}
	for _, s := range rc.statuses {
		states[s.destination] = s.state
		errs[s.destination] = s.err
	}
	return states, errs
}

func (rc *receiver) snapshot() (callbacks, asked, platforms, bad []string, statuses []status) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string{}, rc.callbacks...), append([]string{}, rc.asked...), append([]string{}, rc.platforms...),
		append([]string{}, rc.badRequest...), append([]status{}, rc.statuses...)
}

func TestRelayAdmitsPushesAndRecords(t *testing.T) {
	tl := findTools(t)
	acct := nginxAccount(t)
	tmp := t.TempDir()
	relayPort, platformPort, refusingPort := testproc.FreePort(t), testproc.FreePort(t), testproc.FreePort(t)

	rc := &receiver{dests: fmt.Sprintf("youtube rtmp://127.0.0.1:%d/platA/key-a\n"+
		"twitch rtmp://127.0.0.1:%d/platB/key-b\n"+
		"broken rtmp://127.0.0.1:%d/app/key-refused\n", platformPort, platformPort, refusingPort)}
	srv := httptest.NewServer(rc) // 127.0.0.1
	t.Cleanup(srv.Close)

	// The platforms: two applications on a second nginx, which tells the stand-in who published.
	platforms := filepath.Join(tmp, "platforms")
	mustMkdir(t, platforms)
	startNginx(t, tl, acct, "platforms", platforms, platformConf(platforms, platformPort, srv.URL), platformPort,
		[]string{"PATH=" + os.Getenv("PATH")})

	relay := filepath.Join(tmp, "relay")
	recordings, scratch := filepath.Join(relay, "recordings"), filepath.Join(relay, "tmp")
	relayNginx := startRelay(t, tl, acct, relay, relayPort, srv.URL, true)
	t.Cleanup(func() {
		if t.Failed() {
			callbacks, asked, plat, bad, statuses := rc.snapshot()
			t.Logf("stand-in receiver: callbacks %q, destinations asked for %q, platform publishes %q, bad requests %q, statuses %+v",
				callbacks, asked, plat, bad, statuses)
		}
	})

	// Refused: a wrong key and an ended meeting's key. ffmpeg fails; nothing is pushed.
	for _, key := range []string{wrongKey, endedKey} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, err := publisher(ctx, tl, relayPort, key, "5").CombinedOutput()
		timedOut := ctx.Err() != nil
		cancel()
		if err == nil || timedOut {
			t.Fatalf("publishing %s: want ffmpeg refused at once, got %v\n%s", key, err, out)
		}
	}
	callbacks, asked, plat, _, _ := rc.snapshot()
	for _, want := range []string{"publish " + wrongKey + " 403", "publish " + endedKey + " 403"} {
		if !slices.Contains(callbacks, want) {
			t.Errorf("the relay did not ask the receiver before admitting: want %q in %q", want, callbacks)
		}
	}
	if len(asked) != 0 || len(plat) != 0 {
		t.Fatalf("a refused stream was pushed: destinations asked for %q, platform publishes %q", asked, plat)
	}

	// Admitted: the recorder's stream reaches both platforms; the refusing one is reported.
	pub := startGroup(t, "publisher", publisher(context.Background(), tl, relayPort, goodKey, "60"), nil)
	eventually(t, 20*time.Second, "youtube and twitch Live, broken Failed", func() (bool, string) {
		if pub.Exited() {
			t.Fatalf("the publisher stopped: %v\n%s", pub.Err(), pub.Out.String())
		}
		states, errs := rc.state()
		return states["youtube"] == "Live" && states["twitch"] == "Live" && states["broken"] == "Failed" && errs["broken"] != "",
			fmt.Sprintf("states %v errors %q", states, errs)
	})
	_, errs := rc.state()
	if e := errs["broken"]; strings.Contains(e, "key-refused") || strings.Contains(e, "rtmp://") {
		t.Errorf("the error reported for broken shows its URL or key: %q", e)
	}
	t.Logf("broken's error as reported: %q", errs["broken"])
	var wg sync.WaitGroup
	for _, app := range []string{"platA/key-a", "platB/key-b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			probe(t, tl, fmt.Sprintf("rtmp://127.0.0.1:%d/%s", platformPort, app))
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// The recorder stops: publish-done, both pushes stopped and reported, no push left running.
	if err := pub.Cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "publish-done, youtube and twitch Stopped", func() (bool, string) {
		callbacks, _, _, _, _ := rc.snapshot()
		states, _ := rc.state()
		return slices.Contains(callbacks, "publish_done "+goodKey+" 200") && states["youtube"] == "Stopped" && states["twitch"] == "Stopped",
			fmt.Sprintf("callbacks %q states %v", callbacks, states)
	})
	eventually(t, 10*time.Second, "push.sh and its ffmpegs gone", func() (bool, string) {
		var others []string
		for _, m := range testproc.Members(relayNginx.Cmd.Process.Pid) {
			if !strings.HasSuffix(m, " nginx") {
				others = append(others, m)
			}
		}
		return len(others) == 0, fmt.Sprintf("still running in the relay's process group: %v", others)
	})
	if left, _ := os.ReadDir(scratch); len(left) != 0 {
		t.Errorf("push.sh left its files behind: %v", left)
	}
	callbacks, asked, plat, bad, statuses := rc.snapshot()
	if !slices.Contains(callbacks, "publish "+goodKey+" 200") {
		t.Errorf("no on_publish for the admitted stream: %q", callbacks)
	}
	if len(asked) != 1 || asked[0] != goodKey {
		t.Errorf("destinations asked for %q, want once for the admitted stream", asked)
	}
	if len(plat) != 2 || !slices.Contains(plat, "platA/key-a") || !slices.Contains(plat, "platB/key-b") {
		t.Errorf("platform publishes %q", plat)
	}
	for _, s := range statuses {
		if s.stream != goodKey {
			t.Errorf("status for stream %q", s.stream)
		}
	}
	if len(bad) != 0 {
		t.Errorf("the stand-in got malformed requests: %q", bad)
	}

	// record all: the stream is on the relay's volume.
	eventually(t, 10*time.Second, "a recording in the record path", func() (bool, string) {
		files, _ := filepath.Glob(filepath.Join(recordings, goodKey+"-*.flv"))
		for _, f := range files {
			if st, err := os.Stat(f); err == nil && st.Size() > 100_000 {
				return true, ""
			}
		}
		return false, fmt.Sprintf("files %v", files)
	})
}

// startRelay runs the relay with the config and push script of its pod, on loopback, in dir, with
// the receiver at receiverURL (relayAt for the pool's URL).
func startRelay(t *testing.T, tl tools, acct account, dir string, port int, receiverURL string, record bool) *group {
	recordings, scratch := filepath.Join(dir, "recordings"), filepath.Join(dir, "tmp")
	mustMkdir(t, recordings)
	mustMkdir(t, scratch)
	push := filepath.Join(dir, render.RelayPushFile)
	if err := os.WriteFile(push, []byte(render.RelayPushScript), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := render.RelayNginxConf(render.RelayConf{
		ModulePath:     render.RelayModulePath,
		Listen:         fmt.Sprintf("127.0.0.1:%d", port),
		PublishURL:     receiverURL + "/v1/rtmp/publish",
		PublishDoneURL: receiverURL + "/v1/rtmp/publish-done",
		PushScript:     push,
		Record:         record,
		RecordPath:     recordings,
		PidFile:        filepath.Join(dir, "nginx.pid"),
		ErrorLog:       filepath.Join(dir, "error.log"),
	})
	return startNginx(t, tl, acct, "relay", dir, conf, port, []string{
		"PATH=" + os.Getenv("PATH"),
		render.KeyRelayURL + "=" + receiverURL + relayAt,
		fmt.Sprintf("JITSI_OPERATOR_RELAY_SOURCE=rtmp://127.0.0.1:%d/live", port),
		"TMPDIR=" + scratch, // push.sh's files
	})
}

// publisher is ffmpeg publishing a generated test stream for seconds, as a recorder would.
func publisher(ctx context.Context, tl tools, port int, key, seconds string) *exec.Cmd {
	return exec.CommandContext(ctx, tl.ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc=size=640x360:rate=25", "-f", "lavfi", "-i", "sine=frequency=440",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "50", "-c:a", "aac",
		"-t", seconds, "-f", "flv", fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s", port, key))
}

// probe checks with ffprobe that url serves the test stream: h264 640x360 and aac.
func probe(t *testing.T, tl tools, url string) {
	type stream struct {
		CodecType string `json:"codec_type"`
		CodecName string `json:"codec_name"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
	}
	deadline := time.Now().Add(25 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, tl.ffprobe, "-v", "error", "-show_entries",
			"stream=codec_type,codec_name,width,height", "-of", "json", url).Output()
		cancel()
		var got struct{ Streams []stream }
		if err == nil && json.Unmarshal(out, &got) == nil {
			video, audio := false, false
			for _, s := range got.Streams {
				video = video || s.CodecType == "video" && s.CodecName == "h264" && s.Width == 640 && s.Height == 360
				audio = audio || s.CodecType == "audio" && s.CodecName == "aac"
			}
			if video && audio {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("%s does not serve the stream (h264 640x360 + aac): %v %s", url, err, out)
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// platformConf is the stand-in for two streaming platforms: applications platA and platB.
func platformConf(prefix string, port int, receiver string) string {
	return fmt.Sprintf(`load_module %s;
daemon off;
worker_processes 1;
pid %s;
error_log %s notice;
events { worker_connections 256; }
rtmp {
	access_log off;
	server {
		listen 127.0.0.1:%d;
		application platA { live on; on_publish %s/platform/publish; }
		application platB { live on; on_publish %s/platform/publish; }
	}
}
`, render.RelayModulePath, filepath.Join(prefix, "nginx.pid"), filepath.Join(prefix, "error.log"), port, receiver, receiver)
}

func mustMkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}
