package render

import _ "embed"

// FinalizeRecordingScript is Jibri's finalize script: it reports a finished recording's files
// to the receiver (POST /v1/jibri/recording-complete), signed like the Prosody module's events.
// The JibriPool's recorders mount it with mode 0755.
//
//go:embed jibri/finalize-recording.sh
var FinalizeRecordingScript string
