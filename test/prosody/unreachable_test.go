package prosody_test

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// The ways a receiver fails to answer a join, in the order the test goes through them (stopped
// last: the stand-in does not come back).
var failures = []string{"slow", "401", "503", "undecided", "stopped"}

// How the module words why it could not ask, per failure (jitsi_operator_validate_timeout = 1 here).
var couldNotAsk = map[string]string{
	"slow":      regexp.QuoteMeta("no answer within 1s"),
	"401":       regexp.QuoteMeta("it answered 401"),
	"503":       regexp.QuoteMeta("it answered 503"),
	"undecided": regexp.QuoteMeta("it answered 200 without a decision"),
	"stopped":   `cannot connect: [^)]+`,
}

// What the stand-in says about a room while it answers, by the room's kind (the part of its name
// before the failure): the "room" object of its answers to the room's access checks and to its
// room-created event; "" for a room without a Meeting. Rooms of kind "unknown" are first opened
// while the receiver fails, so the module knows nothing about them.
var descriptions = map[string]struct{ validate, created string }{
	"private": {`{"access": "Private"}`, `{"access": "Private"}`},
	"public":  {`{"access": "Public"}`, `{"access": "Public"}`},
	"legacy":  {`{}`, `{}`}, // a receiver from before access: a Meeting, and Public
	"adhoc":   {"", ""},
	// The meeting became private after Alice joined: the later answer (to room-created) counts.
	"madeprivate": {`{"access": "Public"}`, `{"access": "Private"}`},
	// The meeting's end is set after its room opened (so the answer to room-created has none and
	// the room stays open), and is reached: the recorder's join is answered with 0 seconds left.
	"ended": {`{"access": "Public"}`, `{"access": "Public"}`},
}

// TestJoinsWithoutTheReceiver: while the receiver cannot be asked, for each way it can fail, the
// module refuses joins to private rooms, to rooms whose meeting has ended and to rooms it knows
// nothing about, and admits joins to public rooms (and rooms without a Meeting) only when
// spec.webhooks.admitPublicRoomsWhenReceiverDown allows it; the recorder is still admitted. It
// learnt each room from the receiver's earlier answers, and never from an answer it refused.
func TestJoinsWithoutTheReceiver(t *testing.T) {
	for _, admitPublic := range []bool{true, false} {
		t.Run(fmt.Sprintf("admitPublicRoomsWhenReceiverDown=%t", admitPublic), func(t *testing.T) {
			t.Parallel()
			joinsWithoutTheReceiver(t, admitPublic)
		})
	}
}

func joinsWithoutTheReceiver(t *testing.T, admitPublic bool) {
	s := startStandIn(t)
	p := startProsody(t, s.url, secret, func(spec *jitsiv1alpha1.JitsiDeploymentSpec) {
		spec.Webhooks.AdmitPublicRoomsWhenReceiverDown = &admitPublic
	}, "jitsi_operator_validate_timeout = 1")
	c := startClients(t, p.port)
	room := func(kind, failure string) string { return kind + "-" + failure + "@muc.meet.jitsi" }

	// While the receiver answers, Alice opens a room of each kind for each failure to come, and
	// the module learns them from the answers to her joins and to the rooms' creation.
	var opened []string
	for _, f := range failures {
		for kind := range descriptions {
			opened = append(opened, room(kind, f))
		}
	}
	for r, res := range c.joinAll("alice", "Alice", opened...) {
		if !res.Joined {
			t.Fatalf("Alice could not open %s while the receiver answered: %+v", r, res)
		}
	}
	for _, r := range opened {
		waitLogged(t, p, "room-created: the receiver describes "+r+" as ")
	}
	// The ended rooms' meetings end now; the answers to the recorder's joins say so.
	var ended []string
	for _, f := range failures {
		ended = append(ended, room("ended", f))
		s.describe("ended-"+f, `{"access": "Public", "maxDurationSeconds": 0}`)
	}
	for r, res := range c.joinAll("recorder", "Recorder", ended...) {
		if !res.Joined {
			t.Fatalf("the recorder could not join %s: %+v", r, res)
		}
	}

	type want struct {
		who, kind string
		joined    bool
		reason    string // the module's reason in its log
	}
	open := func(who, kind, what string) want {
		if admitPublic {
			return want{who, kind, true, "admitted: " + what}
		}
		return want{who, kind, false, "refused: " + what + ", but jitsi_operator_admit_public_when_unreachable is off"}
	}
	wants := []want{
		{"bob", "private", false, "refused: it is a private meeting"},
		{"bob", "madeprivate", false, "refused: it is a private meeting"},
		{"bob", "ended", false, "refused: its meeting has ended"},
		{"bob", "unknown", false, "refused: nothing is known about the room"},
		open("bob", "public", "a public meeting"),
		open("bob", "legacy", "a public meeting"),
		open("bob", "adhoc", "a room without a Meeting"),
		{"recorder", "private", true, "admitted: the recorder, whom the receiver admits to every room"},
	}
	nick := map[string]string{"bob": "Bob", "recorder": "Recorder"}
	jid := map[string]string{"bob": "bob@meet.jitsi", "recorder": "recorder@hidden.meet.jitsi"}
	for _, f := range failures {
		s.fail(f)
		results := make([]joinResult, len(wants))
		var wg sync.WaitGroup
		for i, w := range wants {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = c.join(w.who, nick[w.who], room(w.kind, f))
			}()
		}
		wg.Wait()
		for i, w := range wants {
			res, r := results[i], room(w.kind, f)
			if res.Joined != w.joined {
				t.Errorf("%s: %s joining %s: joined %v, want %v (%+v)", f, w.who, r, res.Joined, w.joined, res)
			}
			if !w.joined && res.Condition != "forbidden" {
				t.Errorf("%s: %s joining %s: refused with %q, want forbidden", f, w.who, r, res.Condition)
			}
			if w.kind == "ended" && res.Text != "The meeting has ended." {
				t.Errorf("%s: refused from %s with %q", f, r, res.Text)
			}
			// The module asked: the stand-in saw the request (stopped, it cannot: the module's
			// log says it could not connect, below).
			if f != "stopped" && !s.asked(f, jid[w.who], r) {
				t.Errorf("%s: the module did not ask about %s joining %s", f, w.who, r)
			}
			if f == "slow" && !s.gaveUp(jid[w.who], r) {
				t.Errorf("slow: the module did not give up waiting for the answer about %s joining %s", w.who, r)
			}
		}
	}

	log := p.stop()
	for _, f := range failures {
		for _, w := range wants {
			line := regexp.MustCompile("muc.meet.jitsi:" + render.EventsModuleName + `\twarn\tcould not ask the receiver about ` +
				regexp.QuoteMeta(jid[w.who]+" joining "+room(w.kind, f)) + ` \((` + couldNotAsk[f] + `)\); ` + regexp.QuoteMeta(w.reason) + "\n")
			if !line.MatchString(log) {
				t.Errorf("%s: no warning for %s joining %s in Prosody's log, want one matching %s", f, w.who, room(w.kind, f), line)
			}
		}
	}
	if strings.Contains(log, secret) {
		t.Error("the events secret is in Prosody's log")
	}
}

// waitLogged waits until Prosody's log has a line of the module containing text.
func waitLogged(t *testing.T, p *prosody, text string) {
	t.Helper()
	want := "muc.meet.jitsi:" + render.EventsModuleName + "\t"
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(p.logFile)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, want) && strings.Contains(line, text) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the module did not log %q", text)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestJoinsWithoutASecret: a module that cannot sign (its secret did not reach Prosody's
// environment) asks nothing and admits only the recorder.
func TestJoinsWithoutASecret(t *testing.T) {
	s := startStandIn(t)
	p := startProsody(t, s.url, "", nil, "")
	c := startClients(t, p.port)
	if res := c.join("alice", "Alice", "standup@muc.meet.jitsi"); res.Joined || res.Condition != "forbidden" {
		t.Errorf("Alice joined a room no receiver could be asked about: %+v", res)
	}
	if res := c.join("recorder", "Recorder", "standup@muc.meet.jitsi"); !res.Joined {
		t.Errorf("the recorder was refused: %+v", res)
	}
	log := p.stop()
	for _, want := range []string{
		"\terror\tjitsi_operator_events_secret is not set: no events are sent, and only the recorder may join rooms\n",
		"\twarn\tcould not ask the receiver about alice@meet.jitsi joining standup@muc.meet.jitsi (jitsi_operator_events_secret is not set); refused: nothing is known about the room\n",
	} {
		if !strings.Contains(log, "muc.meet.jitsi:"+render.EventsModuleName+want) {
			t.Errorf("no %q in Prosody's log", want)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.asks) != 0 {
		t.Errorf("the module asked without a secret: %+v", s.asks)
	}
}
