package turn

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// runStartScript runs start.sh with a stand-in turnserver that prints its arguments and
// environment, and returns start.sh's output and the directory it wrote to.
func runStartScript(t *testing.T, secret string) (string, string, error) {
	t.Helper()
	dir := t.TempDir()
	bin, run := filepath.Join(dir, "bin"), filepath.Join(dir, "run")
	for _, d := range []string{bin, run} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		filepath.Join(dir, render.TURNConfFile):   "realm=meet.test\n",
		filepath.Join(dir, render.TURNScriptFile): render.TURNStartScript,
		filepath.Join(bin, "turnserver"):          "#!/bin/sh\necho \"args: $*\"\nenv\n",
	}
	for path, body := range files {
		if err := os.WriteFile(path, []byte(body), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("/bin/sh", filepath.Join(dir, render.TURNScriptFile))
	cmd.Env = []string{
		"PATH=" + bin + ":/usr/bin:/bin",
		"TURN_SECRET=" + secret,
		"TURN_CONFIG=" + filepath.Join(dir, render.TURNConfFile),
		"TURN_RUN_DIR=" + run,
	}
	out, err := cmd.CombinedOutput()
	return string(out), run, err
}

func TestStartScript(t *testing.T) {
	out, run, err := runStartScript(t, "c2VjcmV0_-")
	if err != nil {
		t.Fatalf("start.sh: %v\n%s", err, out)
	}
	conf := filepath.Join(run, render.TURNConfFile)
	if !strings.Contains(out, "args: -c "+conf+"\n") {
		t.Errorf("turnserver was not started on the complete config:\n%s", out)
	}
	if strings.Contains(out, "c2VjcmV0_-") || strings.Contains(out, "TURN_SECRET") {
		t.Errorf("turnserver's environment carries the secret:\n%s", out)
	}
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b); !strings.HasPrefix(got, "realm=meet.test\n") || !strings.HasSuffix(got, "\nstatic-auth-secret=c2VjcmV0_-\n") ||
		strings.Count(got, "static-auth-secret") != 1 {
		t.Errorf("complete config:\n%s", got)
	}
	if fi, err := os.Stat(conf); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("complete config: %v %v, want mode 0600", fi, err)
	}

	for name, bad := range map[string]string{
		"empty":           "",
		"two lines":       "s3cret\nallow-loopback-peers",
		"carriage return": "s3cret\rverbose",
	} {
		out, run, err := runStartScript(t, bad)
		if err == nil || strings.Contains(out, "args:") {
			t.Errorf("%s secret: start.sh started turnserver:\n%s", name, out)
		}
		if _, err := os.Stat(filepath.Join(run, render.TURNConfFile)); err == nil {
			t.Errorf("%s secret: start.sh wrote a config", name)
		}
	}
}
