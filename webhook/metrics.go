package webhook

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// The receiver's metrics, served with the manager's on its metrics endpoint.
var (
	received = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jitsi_operator_receiver_requests_total",
		Help: "Requests the webhook receiver got, by source.",
	}, []string{"source"})
	rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jitsi_operator_receiver_rejected_total",
		Help: "Requests the webhook receiver refused or could not store, by source and reason.",
	}, []string{"source", "reason"})
	applied = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jitsi_operator_receiver_events_applied_total",
		Help: "Events applied to a Meeting's status, by source and event type.",
	}, []string{"source", "type"})
	busy = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "jitsi_operator_receiver_busy_total",
		Help: "Requests answered 503 because the receiver was handling as many requests as it may at once.",
	})
	replayed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "jitsi_operator_receiver_replays_total",
		Help: "Signed requests received again within the replay window (answered without applying them).",
	})
	connections = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "jitsi_operator_receiver_connections",
		Help: "Connections the webhook receiver holds now; at its --receiver-max-connections, more wait in the kernel's backlog.",
	})
	latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "jitsi_operator_receiver_event_to_status_seconds",
		Help:    "From the time an event says it happened to its Meeting status being stored.",
		Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	}, []string{"source"})
)

func init() {
	metrics.Registry.MustRegister(received, rejected, applied, busy, replayed, connections, latency)
}
