// Package webhook is the operator's HTTP receiver: it turns the events of Prosody (the
// operator's own module, event_sync and mod_jitsi_webhooks), Jibri and the RTMP relay into
// Meeting status. The receiver's endpoints and formats are in API.md; it lands with the Meeting
// controller. Until then Prosody's module posts to an address nothing answers, and retries.
package webhook
