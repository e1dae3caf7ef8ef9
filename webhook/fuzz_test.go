package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzModuleEvent feeds arbitrary bodies to the module's decoder and event mapping: no panic,
// and nothing but a well-formed event gets through.
func FuzzModuleEvent(f *testing.F) {
	f.Add([]byte(`{"id":"1","event":"occupant-joined","timestamp":1795620959335,"room":{"jid":"a@muc.meet.jitsi","name":"a"},"occupant":{"jid":"x@meet.jitsi","nick":"X","recorder":false}}`))
	f.Add([]byte(`{"event":"room-destroyed","room":{"name":""}}`))
	f.Add([]byte(`{"event":"occupant-left"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var e moduleEvent
		if json.Unmarshal(body, &e) != nil {
			return
		}
		ev, err := e.toEvent(time.UnixMilli(e.Timestamp))
		if err != nil {
			return
		}
		roomEvent := ev.Kind == "room-created" || ev.Kind == "room-destroyed" || ev.Kind == "recording-status"
		if ev.Room == "" || (ev.Occupant == nil) != roomEvent || (ev.Kind == "recording-status") != (ev.Status != nil) {
			t.Fatalf("accepted a malformed event: %+v from %s", ev, body)
		}
	})
}

// FuzzEventSync feeds arbitrary bodies, and the real payloads, to event_sync's decoding.
func FuzzEventSync(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "event_sync", "*.json"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"room_name":"[t]r","all_occupants":{}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var e syncEvent
		if json.Unmarshal(body, &e) != nil {
			return
		}
		_ = syncRoomName(e.RoomName)
		if e.Occupant != nil {
			o := syncToOccupant(e.Occupant)
			if o.Key == "" && e.Occupant.OccupantJID != "" {
				t.Fatalf("lost the occupant's identity: %+v", e.Occupant)
			}
		}
		if len(e.AllRaw) > 0 && e.AllRaw[0] == '[' {
			var all []syncOccupant
			_ = json.Unmarshal(e.AllRaw, &all)
		}
	})
}

// FuzzSignature: only the exact HMAC of the exact body passes.
func FuzzSignature(f *testing.F) {
	key := []byte("events-secret")
	f.Add([]byte(`{"event":"room-created"}`), "")
	f.Add([]byte(`{}`), "zz")
	f.Add([]byte(``), "0000")
	f.Fuzz(func(t *testing.T, body []byte, signature string) {
		mac := hmac.New(sha256.New, key)
		mac.Write(body)
		right := hex.EncodeToString(mac.Sum(nil))
		if validHMAC(key, body, signature) && signature != right && hex.EncodeToString(mustHex(signature)) != right {
			t.Fatalf("signature %q accepted for %q", signature, body)
		}
		if !validHMAC(key, body, right) {
			t.Fatal("the right signature was refused")
		}
	})
}

func mustHex(s string) []byte {
	b, _ := hex.DecodeString(s)
	return b
}

// FuzzRecordingReport: any body decodes to a valid event or an error, never a panic.
func FuzzRecordingReport(f *testing.F) {
	f.Add([]byte(`{"timestamp":1,"session":"s","room":"standup","files":[{"name":"a.mp4","sizeBytes":10,"sha256":"ab"}]}`))
	f.Add([]byte(`{"room":"","files":[{}]}`))
	f.Add([]byte(`{"room":"r","files":[{"name":"x","sizeBytes":-1}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var rep recordingReport
		if json.Unmarshal(body, &rep) != nil {
			return
		}
		ev, err := rep.toEvent()
		if err != nil {
			return
		}
		if ev.Room == "" || ev.Recording == nil {
			t.Fatalf("accepted %s as %+v", body, ev)
		}
		for _, f := range ev.Recording.Files {
			if f.Name == "" || f.SizeBytes < 0 {
				t.Fatalf("accepted a bad file %+v", f)
			}
		}
	})
}

// FuzzStreamKey: a stream name is either three non-empty dot-separated parts or refused.
func FuzzStreamKey(f *testing.F) {
	f.Add("default.keynote.abcdef")
	f.Add("..")
	f.Add("a.b")
	f.Fuzz(func(t *testing.T, name string) {
		ns, m, ok := parseStreamKey(name)
		if ok && (ns == "" || m == "" || !strings.HasPrefix(name, ns+"."+m+".") || len(name) <= len(ns)+len(m)+2) {
			t.Fatalf("%q parsed as %q %q", name, ns, m)
		}
	})
}
