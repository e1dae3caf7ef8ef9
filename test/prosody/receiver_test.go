package prosody_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/controllers"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
	"github.com/jitsi-operator/jitsi-operator/webhook"
)

// TestJoinsReachTheMeeting is the whole path: real XMPP clients join and leave a room of a real
// Prosody running the operator's module, which posts to the operator's receiver, which writes the
// Meeting's status on a real API server.
// operator is a real API server with a JitsiDeployment "meet" (its events secret as the
// controller generates it) and a Meeting "standup", and the receiver in front of it.
type operator struct {
	cl       client.Client
	cached   client.Client // the receiver's view, from the manager's cache
	receiver *httptest.Server

	mu sync.Mutex
	// accessAnswers are the receiver's answers to the module's validate-access requests, in order.
	accessAnswers []accessAnswer
	// roomCreated, when set, runs as a room-created event of the module arrives, before the
	// receiver handles it.
	roomCreated func()
}

type accessAnswer struct {
	Code    int
	Allowed bool   `json:"allowed"`
	Reason  string `json:"reason"`
}

// observe passes each request on to the receiver, noting what the tests need to know happened.
func (o *operator) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		switch r.URL.Path {
		case "/v1/prosody/events":
			var e struct {
				Event string `json:"event"`
			}
			o.mu.Lock()
			hook := o.roomCreated
			o.mu.Unlock()
			if json.Unmarshal(body, &e) == nil && e.Event == "room-created" && hook != nil {
				hook()
			}
			next.ServeHTTP(w, r)
		case "/v1/prosody/validate-access":
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			a := accessAnswer{Code: rec.Code}
			_ = json.Unmarshal(rec.Body.Bytes(), &a)
			o.mu.Lock()
			o.accessAnswers = append(o.accessAnswers, a)
			o.mu.Unlock()
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// onRoomCreated sets what runs as a room-created event arrives, before the receiver handles it.
func (o *operator) onRoomCreated(f func()) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.roomCreated = f
}

// answers are the receiver's answers to the module's access checks so far.
func (o *operator) answers() []accessAnswer {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]accessAnswer(nil), o.accessAnswers...)
}

const ns, key = "default", "a-generated-events-secret"

func startOperator(t *testing.T, meeting func(*jitsiv1alpha1.Meeting)) *operator {
	t.Helper()
	log.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run the tests with `make test`")
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	cfg, err := env.Start()
	must(t, err)
	t.Cleanup(func() { _ = env.Stop() })
	scheme := runtime.NewScheme()
	must(t, clientgoscheme.AddToScheme(scheme))
	must(t, jitsiv1alpha1.AddToScheme(scheme))
	cl, err := client.New(cfg, client.Options{Scheme: scheme})
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())

	// The receiver reads from a manager's cache, with the operator's cache options and room
	// index, as in the operator.
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  controllers.CacheOptions(),
	})
	must(t, err)
	must(t, controllers.IndexMeetingRooms(ctx, mgr.GetFieldIndexer()))
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-stopped })

	must(t, cl.Create(ctx, &jitsiv1alpha1.JitsiDeployment{
		ObjectMeta: metav1.ObjectMeta{Name: "meet", Namespace: ns},
		Spec:       jitsiv1alpha1.JitsiDeploymentSpec{Domain: "meet.example.com"},
	}))
	// Labelled as the operator labels the Secrets it makes: its cache holds only those.
	must(t, cl.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "meet-generated", Namespace: ns, Labels: map[string]string{render.LabelManagedBy: render.ManagedBy}},
		Data:       map[string][]byte{"WEBHOOK_SECRET": []byte(key)},
	}))
	m := &jitsiv1alpha1.Meeting{
		ObjectMeta: metav1.ObjectMeta{Name: "standup", Namespace: ns},
		Spec:       jitsiv1alpha1.MeetingSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"}},
	}
	if meeting != nil {
		meeting(m)
	}
	must(t, cl.Create(ctx, m))
	// Prosody signs with the events secret only once the operator has made it: the receiver's
	// cache has the deployment, the secret and the Meeting before the first event.
	cached := mgr.GetClient()
	deadline := time.Now().Add(30 * time.Second)
	for obj, name := range map[client.Object]string{&jitsiv1alpha1.JitsiDeployment{}: "meet", &corev1.Secret{}: "meet-generated", &jitsiv1alpha1.Meeting{}: "standup"} {
		for cached.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj) != nil {
			if time.Now().After(deadline) {
				t.Fatalf("the receiver's cache never held %T %s", obj, name)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	o := &operator{cl: cl, cached: cached}
	o.receiver = httptest.NewServer(o.observe((&webhook.Server{Client: cached, Reader: mgr.GetAPIReader()}).Handler()))
	t.Cleanup(o.receiver.Close)
	return o
}

func (o *operator) status(t *testing.T) jitsiv1alpha1.MeetingStatus {
	m := &jitsiv1alpha1.Meeting{}
	must(t, o.cl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "standup"}, m))
	return m.Status
}

func TestJoinsReachTheMeeting(t *testing.T) {
	o := startOperator(t, nil)
	status := func() jitsiv1alpha1.MeetingStatus { return o.status(t) }
	runProsodyAndClients(t, o.receiver.URL, key, func() bool {
		return status().EndedAt != nil
	})

	st := status()
	if st.StartedAt == nil || st.EndedAt == nil {
		t.Fatalf("the room's opening and closing did not reach the Meeting: %+v", st)
	}
	if len(st.Participants) != 1 || st.Participants[0].ID != "alice@meet.jitsi" || st.Participants[0].Name == "" {
		t.Fatalf("participants %+v: want Alice alone (the recorder is not a participant)", st.Participants)
	}
	alice := st.Participants[0]
	if alice.JoinedAt == nil || alice.LeftAt == nil || alice.LeftAt.Before(alice.JoinedAt) {
		t.Errorf("alice joined %v, left %v", alice.JoinedAt, alice.LeftAt)
	}
	if st.PeakParticipants != 1 || st.ParticipantCount != 0 {
		t.Errorf("peak %d, count %d", st.PeakParticipants, st.ParticipantCount)
	}
	if r := st.Recording; r == nil || r.State != jitsiv1alpha1.RecordingStateFinalizing || r.StartedAt == nil || r.StoppedAt == nil {
		t.Errorf("the recorder's visit did not show as a recording: %+v", r)
	}
	if time.Since(st.StartedAt.Time) > time.Minute {
		t.Errorf("startedAt %v is not now", st.StartedAt)
	}
}

// TestRoomsCloseAtTheirEnd: the receiver tells the module when the room's meeting ends, and the
// module closes the room then, with Alice still in it.
func TestRoomsCloseAtTheirEnd(t *testing.T) {
	o := startOperator(t, func(m *jitsiv1alpha1.Meeting) {
		m.Spec.StartTime = &metav1.Time{Time: time.Now().Add(-time.Hour)}
	})
	// The meeting gets its end as Alice opens the room, however long Prosody and the clients took
	// to come up: a few seconds ahead, well before she would leave on her own (stay=12).
	var mu sync.Mutex
	var end time.Time
	o.onRoomCreated(func() {
		mu.Lock()
		defer mu.Unlock()
		if !end.IsZero() {
			return
		}
		end = time.Now().Add(4 * time.Second).Truncate(time.Second)
		patch := []byte(`{"spec":{"endTime":"` + end.UTC().Format(time.RFC3339) + `"}}`)
		m := &jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "standup"}}
		if err := o.cl.Patch(context.Background(), m, client.RawPatch(types.MergePatchType, patch)); err != nil {
			t.Errorf("setting the meeting's end: %v", err)
			return
		}
		// As when a backend sets the end before the room opens: the receiver's cache has it.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			seen := &jitsiv1alpha1.Meeting{}
			if o.cached.Get(context.Background(), client.ObjectKeyFromObject(m), seen) == nil && seen.Spec.EndTime != nil {
				return
			}
		}
		t.Errorf("the receiver's cache never saw the meeting's end")
	})
	runProsodyAndClients(t, o.receiver.URL, key, func() bool { return o.status(t).EndedAt != nil }, "stay=12")
	mu.Lock()
	defer mu.Unlock()
	if end.IsZero() {
		t.Fatal("the module posted no room-created event")
	}
	st := o.status(t)
	if st.EndedAt == nil {
		t.Fatal("the room was not closed")
	}
	if d := st.EndedAt.Sub(end); d < -time.Second || d > 3*time.Second {
		t.Errorf("closed at %v, %v after the meeting's end", st.EndedAt, d)
	}
	if len(st.Participants) != 1 || st.Participants[0].LeftAt == nil || !st.Participants[0].LeftAt.Equal(st.EndedAt) {
		t.Errorf("Alice should have left when the room closed: %+v", st.Participants)
	}
}

// TestEndedMeetingsAdmitNobody: the module asks the receiver before each join, and a Meeting
// that has ended admits nobody.
func TestEndedMeetingsAdmitNobody(t *testing.T) {
	ended := time.Now().Add(-time.Hour)
	o := startOperator(t, func(m *jitsiv1alpha1.Meeting) {
		m.Spec.StartTime = &metav1.Time{Time: ended.Add(-time.Hour)}
		m.Spec.EndTime = &metav1.Time{Time: ended}
	})
	prosodyLog := runProsodyAndClients(t, o.receiver.URL, key, func() bool { return len(o.answers()) > 0 }, "stay=3")
	if st := o.status(t); len(st.Participants) != 0 {
		t.Errorf("someone joined a meeting that ended: %+v", st.Participants)
	}
	// The refusal is the module's: it is loaded on the MUC component (the line it logs once
	// configured), asked the receiver about Alice's one join, was told no, and turned her away.
	module := "muc.meet.jitsi:" + render.EventsModuleName + "\tinfo\t"
	if loaded := module + "posting conference events to " + o.receiver.URL; !strings.Contains(prosodyLog, loaded) {
		t.Errorf("Prosody did not load %s on muc.meet.jitsi: no %q in its log", render.EventsModuleName, loaded)
	}
	want := accessAnswer{Code: http.StatusOK, Allowed: false, Reason: "the meeting has ended"}
	if got := o.answers(); len(got) != 1 || got[0] != want {
		t.Errorf("the receiver answered %+v to the module's access checks, want one %+v", got, want)
	}
	if refused := module + "alice@meet.jitsi may not join standup@muc.meet.jitsi: the meeting has ended"; !strings.Contains(prosodyLog, refused) {
		t.Errorf("the module did not turn Alice away: no %q in its log", refused)
	}
}

// TestJicofosRecordingStatusReachesTheMeeting: Jicofo announces a recording in its presence in the
// room; the module posts each change and the Meeting's status follows it. Jicofo's account is not
// a participant.
func TestJicofosRecordingStatusReachesTheMeeting(t *testing.T) {
	o := startOperator(t, nil)
	runProsodyAndClients(t, o.receiver.URL, key, func() bool {
		r := o.status(t).Recording
		return r != nil && r.State == jitsiv1alpha1.RecordingStateFinalizing
	}, "recording")
	st := o.status(t)
	r := st.Recording
	if r == nil || r.State != jitsiv1alpha1.RecordingStateFinalizing || r.SessionID != "0b6f3c1e-2a9d-4f7b-8e3c-5d4a1b2c3d4e" ||
		r.StartedAt == nil || r.StoppedAt == nil || r.StoppedAt.Before(r.StartedAt) {
		t.Fatalf("recording %+v", r)
	}
	if len(st.Participants) != 1 || st.Participants[0].ID != "alice@meet.jitsi" {
		t.Errorf("participants %+v: Jicofo is not one", st.Participants)
	}
}
