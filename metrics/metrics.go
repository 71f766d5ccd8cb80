// Package metrics is cricket's own Prometheus endpoint: how its CRI calls
// fare (latency and errors per RPC), how many pods and containers it runs
// by state, and what image pulls cost. Off unless metrics.address is set.
package metrics

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds cricket's operation metrics. A nil *Metrics records
// nothing, so callers need no checks when metrics are off.
type Metrics struct {
	registry     *prometheus.Registry
	rpcDuration  *prometheus.HistogramVec
	rpcTotal     *prometheus.CounterVec
	pulls        *prometheus.CounterVec
	pullBytes    prometheus.Counter
	pullDuration prometheus.Histogram
}

// StateCounts reports how many objects are in each state.
type StateCounts func() map[string]int

// New registers cricket's metrics; pods and containers count objects by
// state at scrape time.
func New(pods, containers StateCounts) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		rpcDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cricket_cri_request_duration_seconds",
			Help:    "Duration of CRI calls by RPC.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18), // 0.5ms .. ~65s
		}, []string{"rpc"}),
		rpcTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cricket_cri_requests_total",
			Help: "CRI calls by RPC and gRPC status code.",
		}, []string{"rpc", "code"}),
		pulls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cricket_image_pulls_total",
			Help: "Image pulls by result (success or error).",
		}, []string{"result"}),
		pullBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cricket_image_pull_bytes_total",
			Help: "Bytes downloaded by image pulls.",
		}),
		pullDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "cricket_image_pull_duration_seconds",
			Help:    "Duration of image pulls.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14), // 50ms .. ~7min
		}),
	}
	m.registry.MustRegister(m.rpcDuration, m.rpcTotal, m.pulls, m.pullBytes, m.pullDuration,
		stateCollector("cricket_pods", "Pod sandboxes by state.", pods),
		stateCollector("cricket_containers", "Containers by state.", containers),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveRPC records one CRI call.
func (m *Metrics) ObserveRPC(rpc, code string, d time.Duration) {
	if m == nil {
		return
	}
	m.rpcDuration.WithLabelValues(rpc).Observe(d.Seconds())
	m.rpcTotal.WithLabelValues(rpc, code).Inc()
}

// ObservePull records one image pull.
func (m *Metrics) ObservePull(bytes int64, d time.Duration, err error) {
	if m == nil {
		return
	}
	result := "success"
	if err != nil {
		result = "error"
	}
	m.pulls.WithLabelValues(result).Inc()
	m.pullBytes.Add(float64(bytes))
	m.pullDuration.Observe(d.Seconds())
}

// Serve exposes /metrics on addr until the returned server is closed.
func (m *Metrics) Serve(addr string, log *slog.Logger) (*http.Server, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics endpoint stopped", "error", err)
		}
	}()
	log.Info("serving metrics", "address", lis.Addr().String())
	return srv, nil
}

// stateCollector reports counts by state as a gauge with a state label.
type stateGauge struct {
	desc  *prometheus.Desc
	count StateCounts
}

func stateCollector(name, help string, count StateCounts) prometheus.Collector {
	return &stateGauge{desc: prometheus.NewDesc(name, help, []string{"state"}, nil), count: count}
}

func (s *stateGauge) Describe(ch chan<- *prometheus.Desc) { ch <- s.desc }

func (s *stateGauge) Collect(ch chan<- prometheus.Metric) {
	for state, n := range s.count() {
		ch <- prometheus.MustNewConstMetric(s.desc, prometheus.GaugeValue, float64(n), state)
	}
}
