package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	jsonpatch "github.com/evanphx/json-patch/v5"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/jibri"
	"github.com/jitsi-operator/jitsi-operator/internal/meeting"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// The seed corpora are in testdata/fuzz/<target>/ and run with every `go test`; `make fuzz`
// fuzzes each target in turn. They are data, copied once: the wire-format vectors of event_sync
// and Jibri (and the cases their README describes without a file: a tenant's room, a breakout
// room, all_occupants as {}), the Prosody module's bodies with their X-Jitsi-Signature as Debian's
// Prosody posted them in test/prosody's run (signed with fuzzSecret), the finalize script's
// reports as the script posted them (run with a curl that kept the body), and mod_jitsi_webhooks'
// bodies. Files named by a hash are inputs the fuzzer found failing, kept as regressions.

// fuzzSecret is the events secret the module's and the finalize script's seeds were signed with.
const fuzzSecret = "test-events-secret"

// FuzzModuleEvent feeds arbitrary bodies to the module's decoder and event mapping: no panic,
// nothing but a well-formed event gets through, and the decoded body encodes back to the same
// event.
func FuzzModuleEvent(f *testing.F) {
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
		if ev.Room == "" || ev.Room != strings.ToLower(ev.Room) || (ev.Occupant == nil) != roomEvent || (ev.Kind == "recording-status") != (ev.Status != nil) {
			t.Fatalf("accepted a malformed event: %+v from %s", ev, body)
		}
		var again moduleEvent
		if b, err := json.Marshal(e); err != nil || json.Unmarshal(b, &again) != nil {
			t.Fatalf("the decoded body does not encode: %v", err)
		}
		if ev2, err := again.toEvent(time.UnixMilli(again.Timestamp)); err != nil || !reflect.DeepEqual(ev, ev2) {
			t.Fatalf("round trip: %+v became %+v (%v)", ev, ev2, err)
		}
	})
}

// FuzzEventSync feeds arbitrary bodies, and the real payloads, to event_sync's decoding: the
// occupant is keyed by their bare JID.
func FuzzEventSync(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		var e syncEvent
		if json.Unmarshal(body, &e) != nil {
			return
		}
		// A tenant's room is never an untenanted room's (no Meeting names one).
		if room, tenant := parseRoom(e.RoomName); tenant != strings.HasPrefix(room, "[") || strings.HasPrefix(strings.ToLower(strings.TrimSpace(e.RoomName)), "[") && !tenant {
			t.Fatalf("room %q parsed as %q (tenant %v)", e.RoomName, room, tenant)
		}
		occupants := []syncOccupant{}
		if e.Occupant != nil {
			occupants = append(occupants, *e.Occupant)
		}
		if len(e.AllRaw) > 0 && e.AllRaw[0] == '[' {
			var all []syncOccupant
			if json.Unmarshal(e.AllRaw, &all) == nil {
				occupants = append(occupants, all...)
			}
		}
		for i := range occupants {
			o := syncToOccupant(&occupants[i])
			if o.Key == "" && occupants[i].OccupantJID != "" && occupants[i].OccupantJID[0] != '/' || strings.Contains(o.Key, "/") {
				t.Fatalf("occupant %+v keyed as %q", occupants[i], o.Key)
			}
		}
	})
}

func fuzzMAC(body []byte) []byte {
	mac := hmac.New(sha256.New, []byte(fuzzSecret))
	mac.Write(body)
	return mac.Sum(nil)
}

// FuzzSignature: only the HMAC of the exact body passes, and no other body passes with it.
func FuzzSignature(f *testing.F) {
	key := []byte(fuzzSecret)
	f.Fuzz(func(t *testing.T, body []byte, signature string) {
		right := fuzzMAC(body)
		got, err := hex.DecodeString(strings.TrimSpace(signature))
		if want := err == nil && hmac.Equal(got, right); validHMAC(key, body, signature) != want {
			t.Fatalf("signature %q for %q: accepted %v, want %v", signature, body, !want, want)
		}
		if !validHMAC(key, body, hex.EncodeToString(right)) || !validHMAC(key, body, strings.ToUpper(hex.EncodeToString(right))) {
			t.Fatal("the right signature was refused")
		}
		other := append([]byte{}, body...)
		if len(other) > 0 {
			other[len(other)/2] ^= 0x20
		} else {
			other = []byte{'{'}
		}
		if validHMAC(key, other, signature) || validHMAC(key, other, hex.EncodeToString(right)) || validHMAC(key, append(body, ' '), hex.EncodeToString(right)) {
			t.Fatalf("a signature of %q accepted for another body", body)
		}
	})
}

// FuzzRecordingReport: any body decodes to a valid event or an error, never a panic; an event
// carries what a Meeting's status may hold (bounded lists, plain file names, clean absolute
// paths, s3:// or https:// URLs, hex digests, a recorder's and a session directory's name), and
// the decoded report encodes back to the same event.
func FuzzRecordingReport(f *testing.F) {
	// Reports as the finalize script writes them now (with the recorder), beside the stored seeds.
	f.Add([]byte(`{"timestamp":1796114373000,"recorder":"recorders-0","session":"3f2c9a4e-8d1b-4c7e-a5f0-6b2d9e1c4a77","room":"standup-7f3a","meeting_url":"https://meet.example.com/standup-7f3a","files":[{"name":"standup-7f3a_2026-08-20-09-05-00.mp4","url":"s3://recordings/video/standup-7f3a/3f2c9a4e-8d1b-4c7e-a5f0-6b2d9e1c4a77/standup-7f3a_2026-08-20-09-05-00.mp4","sizeBytes":18,"sha256":"72bd93d97bc35cb853ead2ff8cf097b9bddd2ddec759521ee5c0e6c9352863d6"}]}`))
	f.Add([]byte(`{"timestamp":1796114373000,"recorder":"recorders-0","session":"s_1","room":"standup","files":[{"name":"standup.mp4","path":"/storage/recordings/s_1/standup.mp4","sizeBytes":10}],"error":"S3 credentials missing"}`))
	f.Add([]byte(`{"recorder":"recorders-0","session":"s","room":"r","files":[{"name":"..","path":"/storage/recordings/../x","url":"https://h/\n"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var rep recordingReport
		if json.Unmarshal(body, &rep) != nil {
			return
		}
		ev, err := rep.toEvent()
		if err != nil {
			return
		}
		if ev.Room == "" || ev.Room != strings.ToLower(ev.Room) || ev.Recording == nil {
			t.Fatalf("accepted %s as %+v", body, ev)
		}
		if msg := ev.Recording.Error; len(msg) > 300 || !utf8.ValidString(msg) {
			t.Fatalf("error %q: a status message is valid UTF-8, at most 300 bytes", msg)
		}
		if len(ev.Recording.Files) > maxReportFiles || jibri.SessionDir(ev.Recording.SessionID) != ev.Recording.SessionID ||
			len(validation.IsDNS1123Subdomain(rep.Recorder)) > 0 {
			t.Fatalf("accepted %s", body)
		}
		for _, f := range ev.Recording.Files {
			badName := f.Name == "" || f.Name == "." || strings.Contains(f.Name, "..") || strings.ContainsAny(f.Name, "/\\") || hasControl(f.Name)
			badPath := f.Path != "" && (!path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || hasControl(f.Path))
			badURL := f.URL != "" && (!strings.HasPrefix(f.URL, "s3://") && !strings.HasPrefix(f.URL, "https://") || hasControl(f.URL) || len(f.URL) > maxReportURL)
			if badName || badPath || badURL || f.SizeBytes < 0 || f.SHA256 != "" && !isSHA256(f.SHA256) || f.Path == "" && f.URL == "" {
				t.Fatalf("accepted a bad file %+v", f)
			}
		}
		var again recordingReport
		if b, err := json.Marshal(rep); err != nil || json.Unmarshal(b, &again) != nil {
			t.Fatalf("the decoded report does not encode: %v", err)
		}
		if ev2, err := again.toEvent(); err != nil || !reflect.DeepEqual(ev, ev2) {
			t.Fatalf("round trip: %+v became %+v (%v)", ev, ev2, err)
		}
	})
}

// FuzzStreamKey: a stream name is either three non-empty dot-separated parts or refused, and the
// controller's keys ("<namespace>.<meeting>.<random>", random in lower-case base32) name their
// Meeting, whose name may hold dots.
func FuzzStreamKey(f *testing.F) {
	const random = "mfrggzdfmztwq2lknnwg23tpobyxe43u" // 20 bytes in base32, as the controller draws them
	f.Fuzz(func(t *testing.T, name string) {
		ns, m, ok := parseStreamKey(name)
		if ok && (ns == "" || m == "" || !strings.HasPrefix(name, ns+"."+m+".") || len(name) <= len(ns)+len(m)+2) {
			t.Fatalf("%q parsed as %q %q", name, ns, m)
		}
		if len(validation.IsDNS1123Subdomain(name)) > 0 {
			return
		}
		for _, ns := range []string{"video", "default"} {
			key := ns + "." + name + "." + random
			if gotNS, gotM, ok := parseStreamKey(key); !ok || gotNS != ns || gotM != name {
				t.Fatalf("the key of Meeting %s/%s parsed as %q %q %v", ns, name, gotNS, gotM, ok)
			}
		}
	})
}

// fuzzRoutes are the authenticated endpoints FuzzReceiver posts to, for deployment video/meet,
// pool video/pool-a: "{token}" is where the path carries the credential.
var fuzzRoutes = []string{
	"/v1/prosody/events?deployment=video/meet",
	"/v1/jitsi/events?deployment=video/meet",
	"/v1/jibri/recording-complete?pool=video/pool-a",
	"/v1/prosody/validate-access?deployment=video/meet",
	"/v1/event-sync/video/meet/events/room/created",
	"/v1/event-sync/video/meet/events/room/destroyed",
	"/v1/event-sync/video/meet/events/occupant/joined",
	"/v1/event-sync/video/meet/events/occupant/left",
	"/v1/jibri/pools/video/pool-a/{token}/v1/status",
	"/v1/jibri/pools/video/pool-a/{token}/v1/session/status",
	"/webhooks/jitsi/room-created",
	"/webhooks/jitsi/validate-access",
	"/webhooks/jitsi/user-joined",
	"/webhooks/jitsi/user-left",
	"/webhooks/jitsi/room-destroyed",
	"/webhooks/jitsi/moderator-changed",
	"/webhooks/jitsi/recording",
}

// fuzzRequest is a POST of body to route with credential where that route carries it; right is
// the credential that authenticates body there, valid whether credential does.
func fuzzRequest(route string, body []byte, credential string) (r *http.Request, right string, valid bool) {
	token := render.JibriWebhookToken([]byte(fuzzSecret), "video", "pool-a")
	header := ""
	switch {
	case strings.Contains(route, "?deployment="):
		header, right = "X-Jitsi-Signature", hex.EncodeToString(fuzzMAC(body))
		got, err := hex.DecodeString(strings.TrimSpace(credential))
		valid = err == nil && hmac.Equal(got, fuzzMAC(body))
	case strings.Contains(route, "?pool="):
		// The finalize script signs with its pool's report key, never the events secret.
		mac := hmac.New(sha256.New, []byte(render.RecordingReportKey([]byte(fuzzSecret), "video", "pool-a")))
		mac.Write(body)
		header, right = "X-Jitsi-Signature", hex.EncodeToString(mac.Sum(nil))
		got, err := hex.DecodeString(strings.TrimSpace(credential))
		valid = err == nil && hmac.Equal(got, mac.Sum(nil))
	case strings.HasPrefix(route, "/v1/event-sync/"):
		header, right = "Authorization", "Bearer "+fuzzSecret
		valid = credential == right
	case strings.HasPrefix(route, "/webhooks/"):
		header, right = "X-Webhook-Secret", fuzzSecret
		valid = credential == right
	default:
		route, right = strings.Replace(route, "{token}", url.PathEscape(credential), 1), token
		valid = credential == token
	}
	r = httptest.NewRequest(http.MethodPost, route, strings.NewReader(string(body)))
	r.Header.Set("Content-Type", "application/json")
	if header != "" {
		r.Header.Set(header, credential)
	}
	return r, right, valid
}

// FuzzReceiver posts bodies to every authenticated endpoint, with the right credential
// (authentic) or the fuzzed one, to a receiver on a stub cluster (stubCluster): a request that
// is not authenticated is answered 401 and writes nothing, no refused request writes, nothing is
// a 5xx (the stub never fails), and the same request delivered again writes nothing more.
func FuzzReceiver(f *testing.F) {
	clock := time.UnixMilli(1796114260000) // 2026-12-01T08:37:40Z: the seeds' timestamps are within ReplayWindow
	f.Fuzz(func(t *testing.T, route uint8, body []byte, credential string, authentic bool) {
		path := fuzzRoutes[int(route)%len(fuzzRoutes)]
		if _, right, _ := fuzzRequest(path, body, credential); authentic {
			credential = right
		}
		if strings.Contains(path, "{token}") && (credential == "" || credential == "." || credential == "..") {
			return // the path is not the pool's: ServeMux redirects it before any handler
		}
		cluster := newStubCluster()
		handler := (&Server{Client: cluster, Reader: cluster, Now: func() time.Time { return clock }}).Handler()
		post := func() int {
			r, _, _ := fuzzRequest(path, body, credential)
			w := httptest.NewRecorder()
			handler.ServeHTTP(w, r)
			if !json.Valid(w.Body.Bytes()) {
				t.Fatalf("%s answered %d with %q, not JSON", path, w.Code, w.Body)
			}
			return w.Code
		}
		_, _, valid := fuzzRequest(path, body, credential)
		code := post()
		switch {
		case !valid && code != http.StatusUnauthorized:
			t.Fatalf("%s answered %d to credential %q", path, code, credential)
		case code >= 500:
			t.Fatalf("%s answered %d", path, code)
		case code != http.StatusOK && cluster.writes > 0:
			t.Fatalf("%s answered %d after %d writes", path, code, cluster.writes)
		}
		writes := cluster.writes
		if again := post(); again != code || cluster.writes != writes {
			t.Fatalf("%s delivered again: %d then %d, %d writes then %d", path, code, again, writes, cluster.writes)
		}
	})
}

// stubCluster stands in for the API server behind the receiver, as its Client and its Reader: it
// holds deployment video/meet with its events secret, pool pool-a with one recorder, and the
// Meetings of the seeds' rooms, keeps what is written, and counts the writes. A method not
// defined here panics (the embedded interface is nil): the receiver must not call it.
type stubCluster struct {
	client.Client
	objects map[string]client.Object
	writes  int
	version int // the last resourceVersion given
}

func stubKey(obj runtime.Object, key client.ObjectKey) string { return fmt.Sprintf("%T %s", obj, key) }

func newStubCluster() *stubCluster {
	c := &stubCluster{objects: map[string]client.Object{}}
	meta := func(name string) metav1.ObjectMeta {
		c.version++ // as the API server: every stored object has a resourceVersion
		return metav1.ObjectMeta{Name: name, Namespace: "video", ResourceVersion: strconv.Itoa(c.version)}
	}
	d := &jitsiv1alpha1.JitsiDeployment{ObjectMeta: meta("meet"), Spec: jitsiv1alpha1.JitsiDeploymentSpec{Domain: "meet.example.com"}}
	ref := render.SecretsFor(d).Webhook
	pool := &jitsiv1alpha1.JibriPool{ObjectMeta: meta("pool-a"),
		Spec: jitsiv1alpha1.JibriPoolSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"}}}
	recorder := &corev1.Pod{ObjectMeta: meta("jibri-pool-a-0")}
	recorder.Labels = render.PoolLabels(d, pool)
	objects := []client.Object{d, pool, recorder,
		&corev1.Secret{ObjectMeta: meta(ref.Name), Data: map[string][]byte{ref.Key: []byte(fuzzSecret)}}}
	for _, room := range []string{"standup-7f3a", "standup", "standup-nofocus"} {
		objects = append(objects, &jitsiv1alpha1.Meeting{ObjectMeta: meta(room),
			Spec: jitsiv1alpha1.MeetingSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"}}})
	}
	for _, o := range objects {
		c.objects[stubKey(o, client.ObjectKeyFromObject(o))] = o
	}
	return c
}

func (c *stubCluster) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	o, ok := c.objects[stubKey(obj, key)]
	if !ok {
		return apierrors.NewNotFound(schema.GroupResource{}, key.Name)
	}
	reflect.ValueOf(obj).Elem().Set(reflect.ValueOf(o.DeepCopyObject()).Elem())
	return nil
}

func (c *stubCluster) List(_ context.Context, list client.ObjectList, opts ...client.ListOption) error {
	lo := (&client.ListOptions{}).ApplyOptions(opts)
	ns := lo.Namespace
	for _, o := range c.objects {
		if ns != "" && o.GetNamespace() != ns {
			continue
		}
		switch l := list.(type) {
		case *jitsiv1alpha1.MeetingList:
			m, ok := o.(*jitsiv1alpha1.Meeting)
			if !ok {
				continue
			}
			// The one field index the receiver lists by, as the cache's indexer answers it.
			if lo.FieldSelector != nil {
				if want, found := lo.FieldSelector.RequiresExactMatch(meeting.IndexRoom); found && meeting.RoomKey(m) != want {
					continue
				}
			}
			l.Items = append(l.Items, *m.DeepCopy())
		case *jitsiv1alpha1.JitsiDeploymentList:
			if d, ok := o.(*jitsiv1alpha1.JitsiDeployment); ok {
				l.Items = append(l.Items, *d.DeepCopy())
			}
		default:
			panic(fmt.Sprintf("the receiver lists %T", list))
		}
	}
	return nil
}

// Patch takes the receiver's only patch, a merge patch of a Pod's annotations.
func (c *stubCluster) Patch(_ context.Context, obj client.Object, patch client.Patch, _ ...client.PatchOption) error {
	c.writes++
	data, err := patch.Data(obj)
	var p struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	if err != nil || json.Unmarshal(data, &p) != nil {
		return fmt.Errorf("not a merge patch: %s", data)
	}
	stored, ok := c.objects[stubKey(obj, client.ObjectKeyFromObject(obj))]
	if !ok {
		return apierrors.NewNotFound(schema.GroupResource{}, obj.GetName())
	}
	annotations := stored.GetAnnotations()
	if annotations == nil {
		annotations = map[string]string{}
	}
	for k, v := range p.Metadata.Annotations {
		annotations[k] = v
	}
	stored.SetAnnotations(annotations)
	return nil
}

func (c *stubCluster) Create(context.Context, client.Object, ...client.CreateOption) error {
	c.writes++
	return nil
}

func (c *stubCluster) Update(context.Context, client.Object, ...client.UpdateOption) error {
	c.writes++
	return nil
}

func (c *stubCluster) Delete(context.Context, client.Object, ...client.DeleteOption) error {
	c.writes++
	return nil
}

func (c *stubCluster) Status() client.SubResourceWriter { return stubStatus{c} }

// stubStatus keeps the status the receiver writes, so that a second delivery reads it.
type stubStatus struct{ c *stubCluster }

func (s stubStatus) Update(_ context.Context, obj client.Object, _ ...client.SubResourceUpdateOption) error {
	s.c.writes++
	s.c.objects[stubKey(obj, client.ObjectKeyFromObject(obj))] = obj.DeepCopyObject().(client.Object)
	return nil
}

// Patch takes the receiver's status writes, JSON patches locked to a resourceVersion, as the
// API server does: applied to the stored object, whose resourceVersion then moves on.
func (s stubStatus) Patch(_ context.Context, obj client.Object, patch client.Patch, _ ...client.SubResourcePatchOption) error {
	s.c.writes++
	key := stubKey(obj, client.ObjectKeyFromObject(obj))
	stored, ok := s.c.objects[key]
	if !ok {
		return apierrors.NewNotFound(schema.GroupResource{}, obj.GetName())
	}
	data, err := patch.Data(obj)
	if err != nil || patch.Type() != types.JSONPatchType {
		return fmt.Errorf("not a JSON patch: %s", data)
	}
	p, err := jsonpatch.DecodePatch(data)
	if err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	before, _ := json.Marshal(stored)
	after, err := p.Apply(before)
	if err != nil {
		return apierrors.NewInvalid(schema.GroupKind{}, obj.GetName(), nil)
	}
	if err := json.Unmarshal(after, obj); err != nil {
		return err
	}
	s.c.version++
	obj.SetResourceVersion(strconv.Itoa(s.c.version))
	s.c.objects[key] = obj.DeepCopyObject().(client.Object)
	return nil
}

func (s stubStatus) Create(context.Context, client.Object, client.Object, ...client.SubResourceCreateOption) error {
	s.c.writes++
	return nil
}

func (s stubStatus) Apply(context.Context, runtime.ApplyConfiguration, ...client.SubResourceApplyOption) error {
	s.c.writes++
	return nil
}
