package webhook

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

// oldAPIServer answers Lists of Meetings as an API server before Kubernetes 1.31 does: a field
// selector on a custom resource's fields is a bad request.
type oldAPIServer struct {
	client.Reader
	meetings []jitsiv1alpha1.Meeting
	lists    int
}

func (o *oldAPIServer) List(_ context.Context, list client.ObjectList, opts ...client.ListOption) error {
	o.lists++
	if lo := (&client.ListOptions{}).ApplyOptions(opts); lo.FieldSelector != nil && !lo.FieldSelector.Empty() {
		return apierrors.NewBadRequest(`field label not supported: "spec.roomName"`)
	}
	list.(*jitsiv1alpha1.MeetingList).Items = append([]jitsiv1alpha1.Meeting(nil), o.meetings...)
	return nil
}

func TestClaimantsOnAnAPIServerWithoutSelectableFields(t *testing.T) {
	meeting := func(name, room, deployment string) jitsiv1alpha1.Meeting {
		return jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "video"},
			Spec: jitsiv1alpha1.MeetingSpec{RoomName: room, JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: deployment}}}
	}
	old := &oldAPIServer{meetings: []jitsiv1alpha1.Meeting{
		meeting("weekly", "standup", "meet"), meeting("standup", "", "other"), meeting("retro", "", "meet")}}
	s := &Server{Reader: old}
	d := &jitsiv1alpha1.JitsiDeployment{ObjectMeta: metav1.ObjectMeta{Name: "meet", Namespace: "video"}}
	ms, err := s.claimantsOnServer(context.Background(), d, "standup")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].Name != "weekly" {
		t.Errorf("the claimants of room standup on deployment meet: %v, want weekly only", ms)
	}
	if old.lists != 4 {
		t.Errorf("%d Lists, want each filtered one refused and asked again unfiltered (4)", old.lists)
	}
}
