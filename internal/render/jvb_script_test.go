package render

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// TestDrainScriptWaitsForTheLastConference runs the preStop script against a stand-in bridge:
// it must ask for a graceful shutdown, then return only once no conference is left.
func TestDrainScriptWaitsForTheLastConference(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	conferences := 3
	bridge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		calls = append(calls, r.Method+" "+r.URL.Path+" "+string(body))
		switch r.URL.Path {
		case "/colibri/shutdown":
			w.WriteHeader(http.StatusOK)
		case "/colibri/stats":
			// Shaped like the real stats: pretty-printed, with other *conferences* keys.
			fmt.Fprintf(w, "{\n  \"total_conferences_created\": 41,\n  \"conferences\": %d,\n  \"largest_conference\": 7\n}\n", conferences)
			conferences--
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer bridge.Close()

	script := strings.Replace(jvbGracefulShutdownScript, "http://127.0.0.1:8080", bridge.URL, 1)
	script = strings.Replace(script, "sleep 5", "sleep 0.05", 1)
	out, err := exec.Command("sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("script failed: %v\n%s", err, out)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{
		`POST /colibri/shutdown {"graceful-shutdown": true}`,
		"GET /colibri/stats ", "GET /colibri/stats ", "GET /colibri/stats ", "GET /colibri/stats ",
	}
	if strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
}
