package main

import (
	"strings"
	"testing"
)

func TestRunRefusesReceiverConnectionsOutOfRange(t *testing.T) {
	for _, n := range []int{0, -1, maxReceiverConns + 1} {
		err := run(options{receiverConns: n, run: runAll})
		if err == nil || !strings.Contains(err.Error(), "--receiver-max-connections") {
			t.Errorf("%d connections: %v, want the flag named in the error", n, err)
		}
	}
}
