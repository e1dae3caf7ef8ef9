package jibri

import "testing"

func TestSessionDir(t *testing.T) {
	for id, want := range map[string]string{
		"standup-4f7b8e3c":     "standup-4f7b8e3c",
		"q4.review-4f7b8e3c":   "q4_review-4f7b8e3c",
		"a b/c:d_é":            "a_b_c_d__",
		"Board_Review-2026.v2": "Board_Review-2026_v2",
	} {
		if got := SessionDir(id); got != want {
			t.Errorf("SessionDir(%q) = %q, want %q", id, got, want)
		}
	}
}
