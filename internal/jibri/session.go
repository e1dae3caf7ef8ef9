package jibri

import "strings"

// SessionDir is the name of the directory Jibri records session id into, under its recordings
// directory, and that its finalize script is given: every character outside [a-zA-Z0-9_-]
// becomes "_" (jibri FileRecordingJibriService.kt, sanitizeSessionId).
func SessionDir(id string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, id)
}
