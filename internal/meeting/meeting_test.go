package meeting

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

var (
	start = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	iss   = &Issuer{AppID: "app", Audience: "jitsi", XMPPDomain: "meet.jitsi", Secret: []byte("0123456789abcdef0123456789abcdef")}
)

func meeting(mutate ...func(*jitsiv1alpha1.Meeting)) *jitsiv1alpha1.Meeting {
	m := &jitsiv1alpha1.Meeting{
		ObjectMeta: metav1.ObjectMeta{Name: "standup", Namespace: "team"},
		Spec: jitsiv1alpha1.MeetingSpec{
			JitsiDeploymentRef: jitsiv1alpha1.LocalObjectReference{Name: "meet"},
			StartTime:          &metav1.Time{Time: start},
			EndTime:            &metav1.Time{Time: start.Add(30 * time.Minute)},
		},
	}
	for _, f := range mutate {
		f(m)
	}
	return m
}

func parse(t *testing.T, token string) *Claims {
	t.Helper()
	c := &Claims{}
	parsed, err := jwt.ParseWithClaims(token, c, func(*jwt.Token) (any, error) { return iss.Secret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithoutClaimsValidation())
	if err != nil {
		t.Fatalf("token does not verify: %v", err)
	}
	if parsed.Header["typ"] != "JWT" || parsed.Header["alg"] != "HS256" {
		t.Errorf("header %v: Prosody wants alg HS256 and typ JWT", parsed.Header)
	}
	return c
}

func TestTokensCarryWhatProsodyChecks(t *testing.T) {
	m := meeting(func(m *jitsiv1alpha1.Meeting) {
		m.Spec.RoomName = "daily-standup"
		m.Spec.Recording.Mode = jitsiv1alpha1.RecordingManual
	})
	a, err := Issue(m, "https://meet.example.com", iss, start.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if a.RoomURL != "https://meet.example.com/daily-standup" || strings.Contains(a.RoomURL, "jwt") {
		t.Errorf("room URL %q", a.RoomURL)
	}
	if a.ModeratorURL != a.RoomURL+"?jwt="+a.ModeratorToken || a.GuestURL != a.RoomURL+"?jwt="+a.GuestToken {
		t.Error("URLs do not carry their tokens")
	}
	mod, guest := parse(t, a.ModeratorToken), parse(t, a.GuestToken)
	for _, c := range []*Claims{mod, guest} {
		if c.Issuer != "app" || c.Aud != "jitsi" || c.Subject != "meet.jitsi" || c.Room != "daily-standup" {
			t.Errorf("claims iss=%q aud=%q sub=%q room=%q", c.Issuer, c.Aud, c.Subject, c.Room)
		}
		if !c.ExpiresAt.Time.Equal(start.Add(30*time.Minute)) || !c.NotBefore.Time.Equal(start.Add(-10*time.Minute)) {
			t.Errorf("valid %v to %v, want from 10 minutes before the start to the end", c.NotBefore, c.ExpiresAt)
		}
	}
	if !mod.Context.User.Moderator || guest.Context.User.Moderator {
		t.Error("moderator flags swapped")
	}
	if !mod.Context.Features["recording"] || mod.Context.Features["livestreaming"] {
		t.Errorf("moderator features %v: recording only, as the modes allow", mod.Context.Features)
	}
	for k, v := range guest.Context.Features {
		if v {
			t.Errorf("guest may %s", k)
		}
	}
	if _, err := jwt.ParseWithClaims(a.ModeratorToken, &Claims{}, func(*jwt.Token) (any, error) { return []byte("other"), nil }); err == nil {
		t.Error("token verifies with another secret")
	}
}

func TestTokensAreDeterministicAndFollowTheTimes(t *testing.T) {
	m := meeting()
	a1, _ := Issue(m, "https://meet.example.com", iss, start.Add(-time.Hour))
	a2, _ := Issue(m, "https://meet.example.com", iss, start.Add(-time.Minute))
	if a1.ModeratorToken != a2.ModeratorToken {
		t.Error("same meeting, different tokens: every reconcile would rewrite the Secret")
	}
	later := meeting(func(m *jitsiv1alpha1.Meeting) { m.Spec.EndTime = &metav1.Time{Time: start.Add(time.Hour)} })
	a3, _ := Issue(later, "https://meet.example.com", iss, start.Add(-time.Minute))
	if a3.ModeratorToken == a1.ModeratorToken || !parse(t, a3.ModeratorToken).ExpiresAt.Time.Equal(start.Add(time.Hour)) {
		t.Error("a new end time did not re-issue the tokens")
	}
}

func TestOpenEndedMeetingsAreReissuedDaily(t *testing.T) {
	m := meeting(func(m *jitsiv1alpha1.Meeting) { m.Spec.StartTime, m.Spec.EndTime = nil, nil })
	now := time.Date(2026, 12, 3, 15, 4, 5, 0, time.UTC)
	a, _ := Issue(m, "https://meet.example.com", iss, now)
	if want := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC); !a.Expires.Equal(want) {
		t.Errorf("expires %v, want %v", a.Expires, want)
	}
	if want := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC); !a.ReissueAt.Equal(want) {
		t.Errorf("re-issue at %v, want %v", a.ReissueAt, want)
	}
	if parse(t, a.ModeratorToken).NotBefore != nil {
		t.Error("a meeting without a start has no not-before")
	}
}

func TestMaxDurationEndsTheMeeting(t *testing.T) {
	m := meeting(func(m *jitsiv1alpha1.Meeting) { m.Spec.EndTime = nil; m.Spec.MaxDurationMinutes = ptr(int32(45)) })
	end, ok := End(m)
	if !ok || !end.Equal(start.Add(45*time.Minute)) {
		t.Errorf("end %v %v", end, ok)
	}
}

func TestNoTokensWithoutJWT(t *testing.T) {
	a, err := Issue(meeting(), "https://meet.example.com", nil, start)
	if err != nil || a.ModeratorToken != "" || a.ModeratorURL != a.RoomURL {
		t.Errorf("%+v %v", a, err)
	}
	if _, err := Issue(meeting(), "https://meet.example.com", &Issuer{AppID: "app"}, start); err == nil {
		t.Error("signed with an empty secret")
	}
}

func TestPhase(t *testing.T) {
	at := func(d time.Duration) *metav1.Time { return &metav1.Time{Time: start.Add(d)} }
	end := start.Add(30 * time.Minute)
	cases := []struct {
		name     string
		status   jitsiv1alpha1.MeetingStatus
		now      time.Time
		want     jitsiv1alpha1.MeetingPhase
		wantNext time.Time
	}{
		{name: "before the start", now: start.Add(-time.Hour), want: jitsiv1alpha1.MeetingScheduled, wantNext: end},
		{name: "started", status: jitsiv1alpha1.MeetingStatus{StartedAt: at(time.Minute)}, now: start.Add(5 * time.Minute), want: jitsiv1alpha1.MeetingInProgress, wantNext: end},
		{name: "closed", status: jitsiv1alpha1.MeetingStatus{StartedAt: at(time.Minute), EndedAt: at(20 * time.Minute)}, now: start.Add(25 * time.Minute), want: jitsiv1alpha1.MeetingCompleted},
		{name: "never opened, end passed", now: end, want: jitsiv1alpha1.MeetingExpired},
		{name: "open past its end", status: jitsiv1alpha1.MeetingStatus{StartedAt: at(time.Minute)}, now: end.Add(time.Minute), want: jitsiv1alpha1.MeetingInProgress},
		{name: "reopened after closing", status: jitsiv1alpha1.MeetingStatus{StartedAt: at(22 * time.Minute), EndedAt: at(20 * time.Minute)}, now: start.Add(25 * time.Minute), want: jitsiv1alpha1.MeetingInProgress, wantNext: end},
		{name: "failed stays failed", status: jitsiv1alpha1.MeetingStatus{Phase: jitsiv1alpha1.MeetingFailed}, now: start, want: jitsiv1alpha1.MeetingFailed},
	}
	for _, tc := range cases {
		m := meeting()
		m.Status = tc.status
		got, next := Phase(m, tc.now)
		if got != tc.want || !next.Equal(tc.wantNext) {
			t.Errorf("%s: %s next %v, want %s next %v", tc.name, got, next, tc.want, tc.wantNext)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestInviteesGetTheirOwnTokens(t *testing.T) {
	m := meeting(func(m *jitsiv1alpha1.Meeting) {
		m.Spec.Access = jitsiv1alpha1.AccessPrivate
		m.Spec.Recording.Mode = jitsiv1alpha1.RecordingManual
		m.Spec.Moderators = []jitsiv1alpha1.Person{{ID: "alice@example.com", Name: "Alice", Email: "alice@example.com"}}
		m.Spec.Participants = []jitsiv1alpha1.Person{{ID: "bob", Name: "Bob"}, {ID: "alice@example.com"}}
	})
	a, err := Issue(m, "https://meet.example.com", iss, start)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Invitations) != 2 {
		t.Fatalf("%d invitations, want one per person", len(a.Invitations))
	}
	alice, bob := a.Invitations[0], a.Invitations[1]
	if alice.Key != "invite-alice_example.com" || bob.Key != "invite-bob" {
		t.Errorf("keys %q %q", alice.Key, bob.Key)
	}
	c := parse(t, alice.Token)
	if c.Context.User.ID != "alice@example.com" || !c.Context.User.Moderator || c.Context.User.Name != "Alice" || !c.Context.Features["recording"] {
		t.Errorf("alice's claims %+v", c.Context)
	}
	if c := parse(t, bob.Token); c.Context.User.ID != "bob" || c.Context.User.Moderator || c.Context.Features["recording"] {
		t.Errorf("bob's claims %+v", c.Context)
	}
	if bob.URL != a.RoomURL+"?jwt="+bob.Token {
		t.Error("bob's URL")
	}
}

func TestEnded(t *testing.T) {
	for phase, want := range map[jitsiv1alpha1.MeetingPhase]bool{
		jitsiv1alpha1.MeetingScheduled: false, jitsiv1alpha1.MeetingInProgress: false,
		jitsiv1alpha1.MeetingCompleted: true, jitsiv1alpha1.MeetingExpired: true, jitsiv1alpha1.MeetingFailed: true,
	} {
		if Ended(phase) != want {
			t.Errorf("Ended(%s) = %v", phase, !want)
		}
	}
}

func TestRecordingWanted(t *testing.T) {
	open := jitsiv1alpha1.MeetingStatus{StartedAt: &metav1.Time{Time: start.Add(time.Minute)}, ParticipantCount: 1, PeakParticipants: 1}
	closed := open
	closed.EndedAt = &metav1.Time{Time: start.Add(10 * time.Minute)}
	two := open
	two.ParticipantCount, two.PeakParticipants = 2, 2
	wentDownToOne := open
	wentDownToOne.PeakParticipants = 2
	recording := open
	recording.Recording = &jitsiv1alpha1.RecordingStatus{State: jitsiv1alpha1.RecordingStateRecording}
	now := start.Add(15 * time.Minute)
	cases := []struct {
		name   string
		mode   jitsiv1alpha1.RecordingMode
		ask    string
		status jitsiv1alpha1.MeetingStatus
		want   bool
	}{
		{"automatic, not started", jitsiv1alpha1.RecordingAutomatic, "", jitsiv1alpha1.MeetingStatus{}, false},
		{"automatic, in progress", jitsiv1alpha1.RecordingAutomatic, "", open, true},
		{"automatic, ended", jitsiv1alpha1.RecordingAutomatic, "", closed, false},
		{"second participant, one in", jitsiv1alpha1.RecordingAutomaticOnSecondParticipant, "", open, false},
		{"second participant, two in", jitsiv1alpha1.RecordingAutomaticOnSecondParticipant, "", two, true},
		{"second participant, back to one", jitsiv1alpha1.RecordingAutomaticOnSecondParticipant, "", wentDownToOne, true},
		{"second participant, recording", jitsiv1alpha1.RecordingAutomaticOnSecondParticipant, "", recording, true},
		{"manual, not asked", jitsiv1alpha1.RecordingManual, "", open, false},
		{"manual, asked", jitsiv1alpha1.RecordingManual, "on", open, true},
		{"manual, asked to stop", jitsiv1alpha1.RecordingManual, "off", recording, false},
		{"manual, asked, ended", jitsiv1alpha1.RecordingManual, "on", closed, false},
		{"none", jitsiv1alpha1.RecordingNone, "on", open, false},
	}
	for _, tc := range cases {
		m := meeting(func(m *jitsiv1alpha1.Meeting) {
			m.Spec.Recording.Mode = tc.mode
			if tc.ask != "" {
				m.Annotations = map[string]string{AnnotationRecording: tc.ask}
			}
		})
		m.Status = tc.status
		if got := RecordingWanted(m, now); got != tc.want {
			t.Errorf("%s: wanted %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestStreamingWanted(t *testing.T) {
	open := jitsiv1alpha1.MeetingStatus{StartedAt: &metav1.Time{Time: start.Add(time.Minute)}}
	closed := open
	closed.EndedAt = &metav1.Time{Time: start.Add(10 * time.Minute)}
	now := start.Add(15 * time.Minute)
	cases := []struct {
		name   string
		mode   jitsiv1alpha1.StreamingMode
		ask    string
		status jitsiv1alpha1.MeetingStatus
		want   bool
	}{
		{"automatic, not started", jitsiv1alpha1.StreamingAutomatic, "", jitsiv1alpha1.MeetingStatus{}, false},
		{"automatic, in progress", jitsiv1alpha1.StreamingAutomatic, "", open, true},
		{"automatic, ended", jitsiv1alpha1.StreamingAutomatic, "", closed, false},
		{"manual, not asked", jitsiv1alpha1.StreamingManual, "", open, false},
		{"manual, asked", jitsiv1alpha1.StreamingManual, "on", open, true},
		{"manual, asked to stop", jitsiv1alpha1.StreamingManual, "off", open, false},
		{"none, asked", jitsiv1alpha1.StreamingNone, "on", open, false},
	}
	for _, tc := range cases {
		m := meeting(func(m *jitsiv1alpha1.Meeting) {
			m.Spec.Streaming.Mode = tc.mode
			if tc.ask != "" {
				m.Annotations = map[string]string{AnnotationStreaming: tc.ask}
			}
		})
		m.Status = tc.status
		if got := StreamingWanted(m, now); got != tc.want {
			t.Errorf("%s: wanted %v, want %v", tc.name, got, tc.want)
		}
	}
}
