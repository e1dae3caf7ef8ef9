// Package meeting holds the pure logic of a Meeting: the tokens and URLs that let people in, and
// the phase the meeting is in at a given time. It reads no cluster, clock or environment: the
// reconciler passes the time and every input.
package meeting

import (
	"fmt"
	"net/url"
	"time"

	"github.com/golang-jwt/jwt/v5"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

// Keys of the access Secret.
const (
	KeyModeratorURL   = "moderatorURL"
	KeyGuestURL       = "guestURL"
	KeyModeratorToken = "moderatorToken"
	KeyGuestToken     = "guestToken"
	// KeyStreamKey is the RTMP stream name recorders publish the meeting's live stream under.
	KeyStreamKey = "streamKey"
)

// notBeforeSlack lets people in a little before the start, and absorbs clock skew.
const notBeforeSlack = 10 * time.Minute

// openEndedValidity is how long tokens of a meeting without an end are valid. They are issued
// per day (valid until the end of the next day), so that re-issuing them is deterministic.
const openEndedValidity = 48 * time.Hour

// Issuer is what the tokens are signed as: the deployment's JWT settings.
type Issuer struct {
	// AppID, Issuer and Audience as Prosody's token_verification accepts them.
	AppID, Issuer, Audience string
	// XMPPDomain is the sub claim.
	XMPPDomain string
	// Secret is the HS256 signing key.
	Secret []byte
}

// Access is what a person needs to join.
type Access struct {
	RoomURL                          string
	ModeratorURL, GuestURL           string
	ModeratorToken, GuestToken       string
	NotBefore, Expires               time.Time
	ReissueAt                        time.Time // zero when the tokens never need re-issuing
	ModeratorFeatures, GuestFeatures map[string]bool
	// Invitations are the personal URLs and tokens of the Meeting's moderators and participants.
	Invitations []Invitation
}

// Invitation is one invited person's way in: a token with their id, name and email.
type Invitation struct {
	// Key names the person in the access Secret: <Key>.url and <Key>.token.
	Key       string
	Person    jitsiv1alpha1.Person
	Moderator bool
	URL       string
	Token     string
}

// Window is when a meeting's tokens are valid: from a little before the start to the end (the
// end time, or the start plus the maximum duration). A meeting without an end gets tokens valid
// until the end of the next day, re-issued every day.
func Window(m *jitsiv1alpha1.Meeting, now time.Time) (notBefore, expires, reissue time.Time) {
	if s := m.Spec.StartTime; s != nil {
		notBefore = s.Add(-notBeforeSlack)
	}
	if end, ok := End(m); ok {
		return notBefore, end, time.Time{}
	}
	day := now.UTC().Truncate(24 * time.Hour)
	return notBefore, day.Add(openEndedValidity), day.Add(24 * time.Hour)
}

// End is when the meeting ends: its end time, else its start plus its maximum duration.
func End(m *jitsiv1alpha1.Meeting) (time.Time, bool) {
	if e := m.Spec.EndTime; e != nil {
		return e.Time, true
	}
	if s, d := m.Spec.StartTime, m.Spec.MaxDurationMinutes; s != nil && d != nil {
		return s.Add(time.Duration(*d) * time.Minute), true
	}
	return time.Time{}, false
}

// Features are the context.features of a token: a moderator may record and stream only as the
// Meeting's modes allow; a guest never may.
func Features(m *jitsiv1alpha1.Meeting, moderator bool) map[string]bool {
	rec := m.Spec.Recording.Mode != "" && m.Spec.Recording.Mode != jitsiv1alpha1.RecordingNone
	stream := m.Spec.Streaming.Mode != "" && m.Spec.Streaming.Mode != jitsiv1alpha1.StreamingNone
	return map[string]bool{
		"recording":     moderator && rec,
		"livestreaming": moderator && stream,
		"transcription": false,
		"outbound-call": false,
	}
}

// Issue renders the room URL and, with an issuer, the moderator and guest tokens and URLs (no
// guest token or URL for a Private meeting) and each invitee's.
// publicURL is the deployment's https URL. Without an issuer (no JWT auth), the URLs carry no
// token.
func Issue(m *jitsiv1alpha1.Meeting, publicURL string, iss *Issuer, now time.Time) (Access, error) {
	room := m.RoomName()
	a := Access{RoomURL: publicURL + "/" + url.PathEscape(room)}
	a.NotBefore, a.Expires, a.ReissueAt = Window(m, now)
	a.ModeratorURL, a.GuestURL = a.RoomURL, a.RoomURL
	if m.Spec.Access == jitsiv1alpha1.AccessPrivate {
		// A Private meeting admits only its invitees: there is no shared guest link.
		a.GuestURL = ""
	}
	a.ModeratorFeatures, a.GuestFeatures = Features(m, true), Features(m, false)
	if iss == nil {
		return a, nil
	}
	var err error
	a.ModeratorToken, err = sign(iss, room, a.NotBefore, a.Expires, user{
		ID: ModeratorID(m), Name: "Moderator", Moderator: true,
	}, a.ModeratorFeatures)
	if err != nil {
		return a, err
	}
	a.ModeratorURL = a.RoomURL + "?jwt=" + a.ModeratorToken
	if m.Spec.Access != jitsiv1alpha1.AccessPrivate {
		a.GuestToken, err = sign(iss, room, a.NotBefore, a.Expires, user{
			ID: GuestID(m), Name: "Guest", Moderator: false,
		}, a.GuestFeatures)
		if err != nil {
			return a, err
		}
		a.GuestURL = a.RoomURL + "?jwt=" + a.GuestToken
	}

	taken := map[string]bool{}
	invite := func(p jitsiv1alpha1.Person, moderator bool) error {
		if taken[p.ID] {
			return nil // listed as moderator and participant: the moderator invitation stands
		}
		taken[p.ID] = true
		features := a.GuestFeatures
		if moderator {
			features = a.ModeratorFeatures
		}
		token, err := sign(iss, room, a.NotBefore, a.Expires, user{ID: p.ID, Name: p.Name, Email: p.Email, Moderator: moderator}, features)
		if err != nil {
			return err
		}
		a.Invitations = append(a.Invitations, Invitation{
			Key: InvitationKey(p.ID), Person: p, Moderator: moderator, Token: token, URL: a.RoomURL + "?jwt=" + token,
		})
		return nil
	}
	for _, p := range m.Spec.Moderators {
		if err := invite(p, true); err != nil {
			return a, err
		}
	}
	for _, p := range m.Spec.Participants {
		if err := invite(p, false); err != nil {
			return a, err
		}
	}
	return a, nil
}

// ModeratorID is the context.user id of the Meeting's moderator token.
func ModeratorID(m *jitsiv1alpha1.Meeting) string { return m.Name + "-moderator" }

// GuestID is the context.user id of the Meeting's guest token.
func GuestID(m *jitsiv1alpha1.Meeting) string { return m.Name + "-guest" }

type user struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Email     string `json:"email,omitempty"`
	Moderator bool   `json:"moderator"`
}

// InvitationKey is the access Secret's key prefix for a person: "invite-" and their id, with
// every character a Secret key cannot hold replaced by "_".
func InvitationKey(id string) string {
	b := []byte(id)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	return "invite-" + string(b)
}

// Claims are the claims Prosody's token_verification reads (PROTOCOLS.md section 5). The
// audience is one string, not a list: Prosody compares it as a string.
type Claims struct {
	jwt.RegisteredClaims
	Aud     string `json:"aud"`
	Room    string `json:"room"`
	Context struct {
		User     user            `json:"user"`
		Features map[string]bool `json:"features"`
	} `json:"context"`
}

// GetAudience is the audience as jwt's validation reads it.
func (c Claims) GetAudience() (jwt.ClaimStrings, error) { return jwt.ClaimStrings{c.Aud}, nil }

func sign(iss *Issuer, room string, notBefore, expires time.Time, u user, features map[string]bool) (string, error) {
	if len(iss.Secret) == 0 {
		return "", fmt.Errorf("the JWT signing secret is empty")
	}
	issuer := iss.Issuer
	if issuer == "" {
		issuer = iss.AppID
	}
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Subject:   iss.XMPPDomain,
			ExpiresAt: jwt.NewNumericDate(expires),
		},
		Aud:  iss.Audience,
		Room: room,
	}
	if !notBefore.IsZero() {
		c.NotBefore = jwt.NewNumericDate(notBefore)
	}
	c.Context.User = u
	c.Context.Features = features
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(iss.Secret)
}
