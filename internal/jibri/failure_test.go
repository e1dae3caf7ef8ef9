package jibri

import (
	"strings"
	"testing"
)

func TestFailureText(t *testing.T) {
	for in, want := range map[string]string{
		"ERROR Failed to join the call": "ERROR Failed to join the call",
		"ERROR rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl-mnop: Input/output error": "ERROR <address> Input/output error",
		"ERROR rtmps://live.example.com:443/app/s3cr3t?x=1 broken pipe":                 "ERROR <address> broken pipe",
		"ERROR line one\nline\ttwo\x00":                                                 "ERROR line one line two",
		"":                                                                              "",
	} {
		if got := FailureText(in); got != want {
			t.Errorf("FailureText(%q) = %q, want %q", in, got, want)
		}
	}
	long := FailureText("ERROR " + strings.Repeat("x", 500))
	if n := len([]rune(long)); n != maxFailureText || !strings.HasSuffix(long, "…") {
		t.Errorf("a long text is %d characters (%q...), want %d ending in an ellipsis", n, long[:20], maxFailureText)
	}
	if got := FailureText("ERROR rtmp://host/app/key-1234"); strings.Contains(got, "key-1234") {
		t.Errorf("the stream key is in %q", got)
	}
}
