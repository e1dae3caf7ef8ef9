package jibri

import (
	"regexp"
	"strings"
	"unicode"
)

// maxFailureText bounds a failure's text as the status and events carry it.
const maxFailureText = 200

// address is a URL in a failure's text: ffmpeg's error lines quote the RTMP URL it was given,
// stream key included.
var address = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://\S*`)

// FailureText is why Jibri says a session failed (its failure reason and error detail) as the
// operator shows it: every address replaced by "<address>" (a stream URL carries its key), other
// than printable characters dropped, at most maxFailureText characters.
func FailureText(why string) string {
	why = address.ReplaceAllString(why, "<address>")
	why = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		if unicode.IsSpace(r) {
			return ' '
		}
		return -1
	}, why)
	why = strings.Join(strings.Fields(why), " ")
	if r := []rune(why); len(r) > maxFailureText {
		why = string(r[:maxFailureText-1]) + "…"
	}
	return why
}
