package rtmp

import (
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jitsi-operator/jitsi-operator/internal/render"
	"github.com/jitsi-operator/jitsi-operator/internal/testproc"
)

// tools are the programs the test runs: Debian's nginx-light, libnginx-mod-rtmp and ffmpeg.
type tools struct{ nginx, ffmpeg, ffprobe string }

func findTools(t *testing.T) tools {
	t.Helper()
	const hint = "run make test-deps (Debian: nginx-light, libnginx-mod-rtmp, ffmpeg)"
	look := func(name string, fallbacks ...string) string {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		for _, p := range fallbacks {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
		t.Fatalf("%s not installed: %s", name, hint)
		return ""
	}
	tl := tools{nginx: look("nginx", "/usr/sbin/nginx"), ffmpeg: look("ffmpeg"), ffprobe: look("ffprobe")}
	if _, err := os.Stat(render.RelayModulePath); err != nil {
		t.Fatalf("nginx's RTMP module (%s) not installed: %s", render.RelayModulePath, hint)
	}
	return tl
}

// account is who runs nginx: the test's own user, or nobody when the test runs as root, as the
// relay runs in its pod (a non-root user).
type account struct {
	cred     *syscall.Credential
	uid, gid int
}

func nginxAccount(t *testing.T) account {
	if os.Geteuid() != 0 {
		return account{uid: -1, gid: -1}
	}
	uid, gid := 65534, 65534
	if u, err := user.Lookup("nobody"); err == nil {
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	}
	return account{cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid: uid, gid: gid}
}

// ownDir makes dir (and what the test put in it) the account's, and lets it through the test's
// temporary directories.
func (a account) ownDir(t *testing.T, dir string) {
	t.Helper()
	if a.cred == nil {
		return
	}
	for p := filepath.Dir(dir); p != os.TempDir() && p != "/" && p != "."; p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, a.uid, a.gid)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// group is a process the test started in a process group of its own (testproc).
type group = testproc.Group

func startGroup(t *testing.T, name string, cmd *exec.Cmd, cred *syscall.Credential) *group {
	t.Helper()
	return testproc.Start(t, name, cmd, cred)
}

// startNginx runs nginx with conf in prefix (as acct) and waits until it accepts on port.
func startNginx(t *testing.T, tl tools, acct account, name, prefix, conf string, port int, env []string) *group {
	t.Helper()
	confPath := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	acct.ownDir(t, prefix)
	errorLog := filepath.Join(prefix, "error.log")
	cmd := exec.Command(tl.nginx, "-p", prefix, "-c", confPath, "-e", errorLog)
	cmd.Dir = prefix
	cmd.Env = env
	g := startGroup(t, name, cmd, acct.cred)
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(errorLog)
			t.Logf("%s's output:\n%s\n%s's error log:\n%s", name, g.Out.String(), name, log)
		}
	})
	eventually(t, 10*time.Second, name+" listening on 127.0.0.1:"+strconv.Itoa(port), func() (bool, string) {
		if g.Exited() {
			log, _ := os.ReadFile(errorLog)
			t.Fatalf("%s exited: %v\n%s\n%s", name, g.Err(), g.Out.String(), log)
		}
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
		if err != nil {
			return false, err.Error()
		}
		c.Close()
		return true, ""
	})
	return g
}

// eventually polls cond until it holds, failing with its last word after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, why := cond()
		if ok {
			return
		}
		if why != "" {
			last = why
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: gave up after %s; last: %s", what, timeout, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
