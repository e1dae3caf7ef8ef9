package webhook

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"reflect"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/events"
)

// applyPatch applies a status patch to a Meeting as the API server would.
func applyPatch(t *testing.T, m *jitsiv1alpha1.Meeting, patch []byte) *jitsiv1alpha1.Meeting {
	t.Helper()
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		t.Fatalf("not a JSON patch: %v\n%s", err, patch)
	}
	before, _ := json.Marshal(m)
	after, err := p.Apply(before)
	if err != nil {
		t.Fatalf("the patch does not apply: %v\n%s", err, patch)
	}
	out := &jitsiv1alpha1.Meeting{}
	if err := json.Unmarshal(after, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// Random event sequences: the patch from each status to the next, applied to the stored
// Meeting, gives exactly the next status, and a patch against another resourceVersion fails.
func TestStatusPatchTurnsOneStatusIntoTheNext(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	kinds := []events.Kind{events.OccupantJoined, events.OccupantJoined, events.OccupantLeft, events.RoleChanged,
		events.RoomCreated, events.RoomDestroyed, events.RecordingStatus}
	for run := 0; run < 40; run++ {
		m := &jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Name: "standup", Namespace: "video", ResourceVersion: "1"}}
		for step := 0; step < 60; step++ {
			var evs []events.Event
			for n := 1 + rng.Intn(4); n > 0; n-- {
				e := events.Event{Kind: kinds[rng.Intn(len(kinds))], Room: "standup", Time: start.Add(time.Duration(run*60+step) * time.Second)}
				who := rng.Intn(260) // more people than the status keeps
				e.Occupant = &events.Occupant{Key: fmt.Sprintf("p%03d@meet.jitsi", who), Name: fmt.Sprintf("P%03d", who), Moderator: rng.Intn(5) == 0}
				if e.Kind == events.RecordingStatus {
					e.Occupant = nil
					e.Status = &events.JibriStatus{Status: []string{"pending", "on", "off"}[rng.Intn(3)], Mode: "file", SessionID: "s1"}
				}
				evs = append(evs, e)
			}
			st := *m.Status.DeepCopy()
			for _, e := range evs {
				st = events.Apply(st, e)
			}
			patch, err := statusPatch(m.Status, st, m.ResourceVersion)
			if err != nil {
				t.Fatal(err)
			}
			got := applyPatch(t, m, patch)
			if !reflect.DeepEqual(jsonOf(got.Status), jsonOf(st)) {
				t.Fatalf("run %d step %d: the patch gave\n%s\nwant\n%s\npatch %s", run, step, jsonOf(got.Status), jsonOf(st), patch)
			}
			if got.ResourceVersion != m.ResourceVersion {
				t.Fatalf("the patch changed the resourceVersion to %q", got.ResourceVersion)
			}
			stale := m.DeepCopy()
			stale.ResourceVersion = "0"
			if p, _ := jsonpatch.DecodePatch(patch); p != nil {
				before, _ := json.Marshal(stale)
				if _, err := p.Apply(before); err == nil {
					t.Fatalf("a patch for resourceVersion %s applied to %s", m.ResourceVersion, stale.ResourceVersion)
				}
			}
			m = got
		}
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// The bytes of one join and one leave at 200 participants, and of a join that drops the one who
// left longest ago from a full list: a patch against the whole status.
func TestStatusPatchIsSmallAt200Participants(t *testing.T) {
	full, join, leave := patchSizes(200)
	t.Logf("200 participants: status %d bytes; a join's patch %d bytes, a leave's %d", full, join, leave)
	if join*10 > full || leave*10 > full {
		t.Fatalf("a join's patch is %d bytes and a leave's %d, of a %d-byte status: not a tenth", join, leave, full)
	}
	full, join, _ = patchSizes(events.MaxParticipants + 1)
	t.Logf("a full list: status %d bytes; a join that drops someone %d bytes", full, join)
	if join*10 > full {
		t.Fatalf("a join to a full list is %d bytes of a %d-byte status", join, full)
	}
}

// patchSizes is the size of a status of n participants (n-1 in, one of them leaving) and of
// the patches of one more join and of one leave.
func patchSizes(n int) (full, join, leave int) {
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var st jitsiv1alpha1.MeetingStatus
	st = events.Apply(st, events.Event{Kind: events.RoomCreated, Room: "r", Time: start})
	occupant := func(i int) *events.Occupant {
		return &events.Occupant{Key: fmt.Sprintf("person-%03d@meet.jitsi", i), Name: fmt.Sprintf("Person %03d", i)}
	}
	for i := 0; i < n-1; i++ {
		st = events.Apply(st, events.Event{Kind: events.OccupantJoined, Room: "r", Time: start.Add(time.Duration(i) * time.Second), Occupant: occupant(i)})
	}
	joined := events.Apply(st, events.Event{Kind: events.OccupantJoined, Room: "r", Time: start.Add(time.Hour), Occupant: occupant(n - 1)})
	left := events.Apply(joined, events.Event{Kind: events.OccupantLeft, Room: "r", Time: start.Add(2 * time.Hour), Occupant: occupant(7)})
	j, _ := statusPatch(st, joined, "12345")
	l, _ := statusPatch(joined, left, "12346")
	whole, _ := json.Marshal(joined)
	return len(whole), len(j), len(l)
}
