package controllers

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

// A live stream Jicofo started (the meeting's own button) names no recorder of the pool: the pool
// leaves it alone, and reads nothing of a recorder it does not have.
func TestFollowStreamLeavesAStreamJicofoStartedAlone(t *testing.T) {
	pool := &jitsiv1alpha1.JibriPool{ObjectMeta: metav1.ObjectMeta{Name: "rec", Namespace: "video"}}
	m := &jitsiv1alpha1.Meeting{ObjectMeta: metav1.ObjectMeta{Name: "launch", Namespace: "video"},
		Spec: jitsiv1alpha1.MeetingSpec{Streaming: jitsiv1alpha1.MeetingStreamingSpec{Mode: jitsiv1alpha1.StreamingManual,
			JibriPoolRef: &jitsiv1alpha1.LocalObjectReference{Name: "rec"}}},
		Status: jitsiv1alpha1.MeetingStatus{Streaming: &jitsiv1alpha1.StreamingStatus{State: jitsiv1alpha1.StreamingStateLive}}}
	for _, recorder := range []string{"", "Live stream"} {
		m.Status.Streaming.Recorder = recorder
		r := &JibriPoolReconciler{} // no client, no recorder: nothing may be written
		wait, err := r.followStream(context.Background(), pool, m, map[string]*recorderObs{}, time.Now())
		if wait || err != nil {
			t.Errorf("recorder %q: wait %v, err %v; want neither", recorder, wait, err)
		}
	}
}
