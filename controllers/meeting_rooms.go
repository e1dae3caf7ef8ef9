package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/meeting"
)

// IndexMeetingRooms registers the index of Meetings by deployment and room (meeting.IndexRoom):
// the Meeting controller finds Meetings claiming one room by it, and the receiver finds a room's
// Meeting. Register it once per manager, before it starts (SetupWithManager does; a manager
// running only the receiver calls it itself).
func IndexMeetingRooms(ctx context.Context, indexer client.FieldIndexer) error {
	return indexer.IndexField(ctx, &jitsiv1alpha1.Meeting{}, meeting.IndexRoom, func(o client.Object) []string {
		return []string{meeting.RoomKey(o.(*jitsiv1alpha1.Meeting))}
	})
}

// sameRoom wakes the other Meetings claiming o's room (on a change of o, and for an update also
// of its old room): a conflict appears or resolves on each of them.
func (r *MeetingReconciler) sameRoom(ctx context.Context, o client.Object) []reconcile.Request {
	m := o.(*jitsiv1alpha1.Meeting)
	var list jitsiv1alpha1.MeetingList
	if err := r.List(ctx, &list, client.InNamespace(m.Namespace), client.MatchingFields{meeting.IndexRoom: meeting.RoomKey(m)}); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for _, other := range list.Items {
		if other.Name != m.Name {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: other.Namespace, Name: other.Name}})
		}
	}
	return reqs
}

// roomCondition is ConditionRoomConflict of m: True while other Meetings of its deployment claim
// its room. The receiver then gives the room's events to the oldest of them and admits only
// whom every one of them admits.
func (r *MeetingReconciler) roomCondition(ctx context.Context, m *jitsiv1alpha1.Meeting) (metav1.Condition, error) {
	c := metav1.Condition{Type: jitsiv1alpha1.ConditionRoomConflict, ObservedGeneration: m.Generation,
		Status: metav1.ConditionFalse, Reason: jitsiv1alpha1.ReasonRoomUnique, Message: "no other Meeting claims room " + m.RoomName()}
	var list jitsiv1alpha1.MeetingList
	if err := r.List(ctx, &list, client.InNamespace(m.Namespace), client.MatchingFields{meeting.IndexRoom: meeting.RoomKey(m)}); err != nil {
		return c, err
	}
	claimants := slices.DeleteFunc(list.Items, func(o jitsiv1alpha1.Meeting) bool { return !o.DeletionTimestamp.IsZero() && o.Name != m.Name })
	if len(claimants) < 2 {
		return c, nil
	}
	slices.SortFunc(claimants, meeting.OlderFirst)
	names := make([]string, len(claimants))
	for i := range claimants {
		names[i] = claimants[i].Name
	}
	c.Status, c.Reason = metav1.ConditionTrue, jitsiv1alpha1.ReasonRoomClaimedTwice
	c.Message = fmt.Sprintf("Meetings %s all claim room %s of JitsiDeployment %s: its events go to %s (the oldest), and "+
		"only people every one of them admits may join, until all but one are deleted or given another roomName",
		strings.Join(names, ", "), m.RoomName(), m.Spec.JitsiDeploymentRef.Name, names[0])
	return c, nil
}

// announceRoom records an Event when m's room conflict appears or ends.
func (r *MeetingReconciler) announceRoom(m *jitsiv1alpha1.Meeting, before *metav1.Condition, now metav1.Condition) {
	wasConflict := before != nil && before.Status == metav1.ConditionTrue
	switch {
	case now.Status == metav1.ConditionTrue && !wasConflict:
		r.Recorder.Eventf(m, nil, corev1.EventTypeWarning, "RoomConflict", "Reconcile", "%s", now.Message)
	case now.Status != metav1.ConditionTrue && wasConflict:
		r.Recorder.Eventf(m, nil, corev1.EventTypeNormal, "RoomConflictResolved", "Reconcile", "%s", now.Message)
	}
}
