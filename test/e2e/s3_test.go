//go:build e2e

package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jitsi-operator/jitsi-operator/internal/testproc"
)

// The pool's upload target: a bucket of the loopback S3 server, and the Secret with its keys.
const (
	bucket      = "recordings"
	prefix      = "e2e"
	s3Secret    = "recordings-s3"
	s3AccessKey = "AKIAE2ETEST"
	s3SecretKey = "e2e-secret-key-never-printed"
)

// s3Server is `rclone serve s3` (bin/rclone, from make rclone) on loopback: each top-level
// folder of dir is a bucket, each file below it an object, so what it stores can be read
// straight from dir.
type s3Server struct {
	rclone string
	dir    string
	port   int
}

// rcloneBin is bin/rclone: the S3 server here, and the client the finalize script calls.
func rcloneBin(t *testing.T) string {
	t.Helper()
	p, _ := filepath.Abs(filepath.Join(root, "bin", "rclone"))
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s missing: run `make test-e2e`, which builds it", p)
	}
	return p
}

// startS3 starts the server with bucket in dir, and stops it at the end of the test.
func startS3(t *testing.T, dir string) *s3Server {
	t.Helper()
	s := &s3Server{rclone: rcloneBin(t), dir: dir, port: testproc.FreePort(t)}
	if err := os.MkdirAll(filepath.Join(dir, bucket), 0o755); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(s.port)
	cmd := exec.Command(s.rclone, "serve", "s3", dir, "--addr", addr, "--auth-key", s3AccessKey+","+s3SecretKey)
	// Without the caller's rclone or AWS settings, and with a home of its own.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RCLONE_") && !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "HOME=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "HOME="+t.TempDir())
	g := testproc.Start(t, "rclone serve s3", cmd, nil)
	// A wait for readiness, not a timed assertion (test/finalize's rclone once took over 15 s
	// under a full test run on two cores).
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return s
		}
		if g.Exited() || time.Now().After(deadline) {
			t.Fatalf("rclone serve s3 does not listen on %s: %v\n%s", addr, err, g.Out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *s3Server) endpoint() string { return "http://127.0.0.1:" + strconv.Itoa(s.port) }

// object is the content of the object key in the bucket, as the server stores it.
func (s *s3Server) object(key string) ([]byte, error) {
	return os.ReadFile(filepath.Join(s.dir, bucket, filepath.FromSlash(key)))
}
