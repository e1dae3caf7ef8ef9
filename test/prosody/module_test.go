// Package prosody_test runs the operator's Prosody module (internal/render/prosody) in a real
// Prosody with real XMPP clients, and checks what reaches the receiver (every event, signed,
// retried with the same body after a 5xx) and how joins are decided, also while the receiver
// cannot be asked.
package prosody_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

const secret = "test-events-secret"

type received struct {
	body      []byte
	signature string
}

type event struct {
	ID        string `json:"id"`
	Event     string `json:"event"`
	Timestamp int64  `json:"timestamp"`
	Room      struct {
		JID  string `json:"jid"`
		Name string `json:"name"`
	} `json:"room"`
	Occupant *struct {
		JID       string `json:"jid"`
		Nick      string `json:"nick"`
		Moderator bool   `json:"moderator"`
		Recorder  bool   `json:"recorder"`
	} `json:"occupant"`
	Occupants int `json:"occupants"`
}

func TestModuleInRealProsody(t *testing.T) {
	var mu sync.Mutex
	var got []received
	failedOnce := false
	asked := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path == "/v1/prosody/validate-access" {
			// Every join is checked first; this stand-in admits everyone.
			if !validSignature(body, r.Header.Get("X-Jitsi-Signature")) {
				t.Errorf("unsigned access request: %s", body)
			}
			asked++
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"allowed": true}`))
			return
		}
		if r.URL.Path != "/v1/prosody/events" || r.Method != http.MethodPost {
			t.Errorf("request to %s %s", r.Method, r.URL.Path)
		}
		got = append(got, received{body: body, signature: r.Header.Get("X-Jitsi-Signature")})
		if !failedOnce {
			// The first delivery fails: the module must retry it, unchanged.
			failedOnce = true
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	runProsodyAndClients(t, srv.URL, secret, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 8
	})

	// room-created, Alice made owner, 2 joins, 2 leaves, room-destroyed, and one retry of the first.
	mu.Lock()
	defer mu.Unlock()
	if asked != 2 {
		t.Errorf("%d joins were checked with the receiver, want 2", asked)
	}
	if len(got) != 8 {
		t.Fatalf("receiver got %d requests, want 8 (7 events and one retry)", len(got))
	}
	// Prosody posts each event on its own, so they arrive in any order (room-created after the
	// first join, room-destroyed before the last leave): the receiver orders them, not the wire.
	retried := false
	for _, r := range got[1:] {
		retried = retried || string(r.body) == string(got[0].body)
	}
	if !retried {
		t.Errorf("the event refused with 503 was not delivered again unchanged: %s", got[0].body)
	}
	byKind := map[string][]event{}
	ids := map[string]bool{}
	for i, r := range got {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(r.body)
		if want := hex.EncodeToString(mac.Sum(nil)); r.signature != want {
			t.Errorf("request %d: signature %q, want %q", i, r.signature, want)
		}
		if i == 0 {
			continue // delivered again later
		}
		var e event
		if err := json.Unmarshal(r.body, &e); err != nil {
			t.Fatalf("request %d: %v: %s", i, err, r.body)
		}
		if ids[e.ID] {
			t.Errorf("event id %s delivered twice after a success", e.ID)
		}
		ids[e.ID] = true
		byKind[e.Event] = append(byKind[e.Event], e)
		if e.Room.Name != "standup" || e.Room.JID != "standup@muc.meet.jitsi" {
			t.Errorf("%s: room %+v", e.Event, e.Room)
		}
		if e.Timestamp < time.Now().Add(-time.Minute).UnixMilli() || e.Timestamp > time.Now().UnixMilli() {
			t.Errorf("%s: timestamp %d is not Unix milliseconds of now", e.Event, e.Timestamp)
		}
	}
	for kind, n := range map[string]int{"room-created": 1, "occupant-joined": 2, "occupant-left": 2, "room-destroyed": 1, "role-changed": 1} {
		if len(byKind[kind]) != n {
			t.Fatalf("%d %s events, want %d: %v", len(byKind[kind]), kind, n, byKind)
		}
	}
	find := func(kind string, recorder bool) event {
		for _, e := range byKind[kind] {
			if e.Occupant != nil && e.Occupant.Recorder == recorder {
				return e
			}
		}
		t.Fatalf("no %s event with recorder=%v: %+v", kind, recorder, byKind[kind])
		return event{}
	}
	aliceJoin, recJoin := find("occupant-joined", false), find("occupant-joined", true)
	recLeave, aliceLeave := find("occupant-left", true), find("occupant-left", false)
	if o := aliceJoin.Occupant; o.JID != "alice@meet.jitsi" || o.Nick != "Alice" || !o.Moderator || aliceJoin.Occupants != 1 {
		t.Errorf("alice's join: %+v, occupants %d", o, aliceJoin.Occupants)
	}
	if o := recJoin.Occupant; o.JID != "recorder@hidden.meet.jitsi" || o.Nick != "Recorder" || recJoin.Occupants != 2 {
		t.Errorf("recorder's join: %+v, occupants %d", o, recJoin.Occupants)
	}
	if recLeave.Occupants != 1 || aliceLeave.Occupants != 0 {
		t.Errorf("occupants after the leaves: %d then %d, want 1 then 0", recLeave.Occupants, aliceLeave.Occupants)
	}
	// The room's creator becomes its owner, which the module reports as a role change.
	if o := byKind["role-changed"][0].Occupant; o == nil || o.JID != "alice@meet.jitsi" || !o.Moderator {
		t.Errorf("role change %+v", o)
	}
	if aliceJoin.Timestamp > recJoin.Timestamp || recLeave.Timestamp > aliceLeave.Timestamp {
		t.Error("timestamps do not follow what happened")
	}
}

// runProsodyAndClients starts Debian's Prosody with the module and the settings the operator
// renders for deployment ns/meet (startProsody), posting to the receiver at receiverURL, signed
// with eventsSecret; lets the XMPP clients of clients.py join and leave room "standup", waits
// (at most 30 s) until done says everything arrived, and stops Prosody again. It returns
// Prosody's log (debug level), which the test logs if it fails.
func runProsodyAndClients(t *testing.T, receiverURL, eventsSecret string, done func() bool, clientArgs ...string) (prosodyLog string) {
	t.Helper()
	p := startProsody(t, receiverURL, eventsSecret, nil, "")
	defer func() { prosodyLog = p.stop() }()
	clients, _ := filepath.Abs("clients.py")
	args := append([]string{"60", "/usr/bin/python3", clients, fmt.Sprint(p.port), "standup@muc.meet.jitsi"}, clientArgs...)
	out, err := exec.Command("timeout", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("XMPP clients: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !done() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	return // the deferred stop fills in prosodyLog
}

// prosody is a running Prosody of startProsody.
type prosody struct {
	port    int
	logFile string
	stop    func() (log string)
}

// startProsody starts Debian's Prosody with the module and the settings the operator renders for
// deployment ns/meet (its Prosody ConfigMap, both files as the pod mounts them; spec changes the
// deployment's spec first when not nil), posting to the receiver at receiverURL, signed with
// eventsSecret, and extra appended to the global section. Accounts: alice and bob on
// meet.jitsi, the recorder on the hidden domain, Jicofo's focus. It waits until Prosody listens;
// stop (also run at the test's end) stops it and returns its log, which the test logs if it
// fails.
func startProsody(t *testing.T, receiverURL, eventsSecret string, spec func(*jitsiv1alpha1.JitsiDeploymentSpec), extra string) *prosody {
	t.Helper()
	for _, bin := range []string{"prosody", "prosodyctl", "/usr/bin/python3"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not installed: run make test-deps (Debian: prosody, lua5.4, python3-slixmpp)", bin)
		}
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import slixmpp").Run(); err != nil {
		t.Fatal("python3-slixmpp not installed: run make test-deps")
	}
	dir := t.TempDir()
	plugins := filepath.Join(dir, "plugins")
	must(t, os.MkdirAll(plugins, 0o755))
	d := &jitsiv1alpha1.JitsiDeployment{
		ObjectMeta: metav1.ObjectMeta{Name: "meet", Namespace: ns}, Spec: jitsiv1alpha1.JitsiDeploymentSpec{Domain: "meet.example.com"}}
	if spec != nil {
		spec(&d.Spec)
	}
	rendered := render.ProsodyConfigMap(render.Input{ReceiverURL: receiverURL, Deployment: d}).Data
	moduleFile, confFile := "mod_"+render.EventsModuleName+".lua", "jitsi-operator.cfg.lua"
	if rendered[moduleFile] == "" || rendered[confFile] == "" {
		t.Fatalf("the Prosody ConfigMap lacks %s or %s: %v", moduleFile, confFile, rendered)
	}
	must(t, os.WriteFile(filepath.Join(plugins, moduleFile), []byte(rendered[moduleFile]), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, confFile), []byte(rendered[confFile]), 0o644))
	port := freePort(t)
	cfg := filepath.Join(dir, "prosody.cfg.lua")
	must(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`
pidfile = %[1]q .. "/prosody.pid"
data_path = %[1]q .. "/data"
plugin_paths = { %[2]q }
run_as_root = true
daemonize = false
log = { { levels = { min = "debug" }, to = "file", filename = %[1]q .. "/prosody.log" } }
interfaces = { "127.0.0.1" }
c2s_ports = { %[3]d }
s2s_ports = { }
http_ports = { }
https_ports = { }
component_ports = { }
modules_enabled = { "roster", "saslauth", "disco", "ping" }
modules_disabled = { "s2s", "tls" }
authentication = "internal_hashed"
c2s_require_encryption = false
-- What the operator renders into conf.d (the image's prosody.cfg.lua includes conf.d/*.cfg.lua),
-- with the secret from the environment; fewer retries than in production.
Include %[4]q
jitsi_operator_events_retries = 3
%[6]s

VirtualHost "meet.jitsi"
VirtualHost "hidden.meet.jitsi"
VirtualHost "auth.meet.jitsi"
Component "muc.meet.jitsi" "muc"
    modules_enabled = { %[5]q }
    muc_room_locking = false
`, dir, plugins, port, filepath.Join(dir, confFile), render.EventsModuleName, extra)), 0o644))
	must(t, os.MkdirAll(filepath.Join(dir, "data"), 0o755))
	for _, u := range [][3]string{{"alice", "meet.jitsi", "alice-pw"}, {"bob", "meet.jitsi", "bob-pw"},
		{"recorder", "hidden.meet.jitsi", "recorder-pw"}, {"focus", "auth.meet.jitsi", "focus-pw"}} {
		out, err := exec.Command("timeout", "30", "prosodyctl", "--config", cfg, "register", u[0], u[1], u[2]).CombinedOutput()
		if err != nil {
			t.Fatalf("prosodyctl register %s@%s: %v\n%s", u[0], u[1], err, out)
		}
	}

	cmd := exec.Command("timeout", "120", "prosody", "--config", cfg, "-F")
	cmd.Env = append(os.Environ(), "JITSI_OPERATOR_EVENTS_SECRET="+eventsSecret)
	stdout, err := os.Create(filepath.Join(dir, "stdout.log"))
	must(t, err)
	cmd.Stdout, cmd.Stderr = stdout, stdout
	must(t, cmd.Start())
	p := &prosody{port: port, logFile: filepath.Join(dir, "prosody.log")}
	var once sync.Once
	var prosodyLog string
	p.stop = func() string {
		once.Do(func() {
			_ = cmd.Process.Signal(os.Interrupt)
			_ = cmd.Wait()
			b, _ := os.ReadFile(p.logFile)
			prosodyLog = string(b)
		})
		return prosodyLog
	}
	t.Cleanup(func() {
		if log := p.stop(); t.Failed() {
			t.Logf("prosody.log:\n%s", log)
		}
	})
	waitListening(t, port)
	return p
}

func validSignature(body []byte, signature string) bool {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal([]byte(hex.EncodeToString(mac.Sum(nil))), []byte(signature))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitListening(t *testing.T, port int) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("prosody does not listen on %d", port)
}
