package render

import (
	"regexp"
	"strings"
	"testing"
)

// The relay's token is in JITSI_OPERATOR_RELAY_URL: it must reach curl on its standard input,
// never as an argument another process on the node could read.
func TestPushScriptKeepsTheRelayTokenOffCommandLines(t *testing.T) {
	script := strings.ReplaceAll(RelayPushScript, "\\\n", " ") // one line per command
	uses := regexp.MustCompile(`\$\{?base\b`)
	curls := 0
	for i, line := range strings.Split(script, "\n") {
		code, _, _ := strings.Cut(line, "#")
		if strings.Contains(code, "curl ") {
			curls++
			if !strings.Contains(code, "-K -") || uses.MatchString(code) {
				t.Errorf("push.sh command %d does not give curl its URL on stdin: %s", i+1, strings.TrimSpace(code))
			}
		}
		if uses.MatchString(code) && !strings.Contains(code, "printf") && !strings.Contains(code, "base=${JITSI_OPERATOR_RELAY_URL") {
			t.Errorf("push.sh command %d hands the receiver URL to a command: %s", i+1, strings.TrimSpace(code))
		}
	}
	if curls < 3 {
		t.Fatalf("found %d curl commands in push.sh, want its 3 (the check would pass on nothing)", curls)
	}
}
