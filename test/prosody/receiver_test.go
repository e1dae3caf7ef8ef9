package prosody_test

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/webhook"
)

// TestJoinsReachTheMeeting is the whole path: real XMPP clients join and leave a room of a real
// Prosody running the operator's module, which posts to the operator's receiver, which writes the
// Meeting's status on a real API server.
func TestJoinsReachTheMeeting(t *testing.T) {
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
	defer func() { _ = env.Stop() }()
	scheme := runtime.NewScheme()
	must(t, clientgoscheme.AddToScheme(scheme))
	must(t, jitsiv1alpha1.AddToScheme(scheme))
	cl, err := client.New(cfg, client.Options{Scheme: scheme})
	must(t, err)
	ctx := context.Background()

	const ns, key = "default", "a-generated-events-secret"
	must(t, cl.Create(ctx, &jitsiv1alpha1.JitsiDeployment{
		ObjectMeta: metav1.ObjectMeta{Name: "meet", Namespace: ns},
		Spec:       jitsiv1alpha1.JitsiDeploymentSpec{Domain: "meet.example.com"},
	}))
	must(t, cl.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "meet-generated", Namespace: ns},
		Data:       map[string][]byte{"WEBHOOK_SECRET": []byte(key)},
	}))
	must(t, cl.Create(ctx, &jitsiv1alpha1.Meeting{
		ObjectMeta: metav1.ObjectMeta{Name: "standup", Namespace: ns},
		Spec:       jitsiv1alpha1.MeetingSpec{JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"}},
	}))
	receiver := httptest.NewServer((&webhook.Server{Client: cl, Reader: cl}).Handler())
	defer receiver.Close()

	status := func() jitsiv1alpha1.MeetingStatus {
		m := &jitsiv1alpha1.Meeting{}
		must(t, cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: "standup"}, m))
		return m.Status
	}
	runProsodyAndClients(t, receiver.URL+"/v1/prosody/events?deployment="+ns+"/meet", key, func() bool {
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
