package meeting

import (
	"strings"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

// IndexRoom is the field index of Meetings by deployment and room (RoomKey): the receiver finds
// a room's Meeting by it, and the Meeting controller finds Meetings claiming the same room.
const IndexRoom = "jitsi.operator.dev/room"

// FieldRoomName and FieldDeployment are the Meeting's selectable fields (the CRD's
// selectableFields): the API server filters a List of Meetings by them.
const (
	FieldRoomName   = "spec.roomName"
	FieldDeployment = "spec.jitsiDeploymentRef.name"
)

// RoomKey is m's value of IndexRoom: its deployment and its room, in lower case.
func RoomKey(m *jitsiv1alpha1.Meeting) string {
	return RoomKeyOf(m.Spec.JitsiDeploymentRef.Name, m.RoomName())
}

// RoomKeyOf is the IndexRoom value of room on deployment.
func RoomKeyOf(deployment, room string) string {
	return deployment + "/" + strings.ToLower(room)
}

// OlderFirst orders Meetings by creation, then name: the first of several claiming one room
// receives its events.
func OlderFirst(a, b jitsiv1alpha1.Meeting) int {
	if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}
