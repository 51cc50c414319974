package server

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/codes"

	"github.com/mediamatch/mediamatch/index"
)

// Metrics holds the server's Prometheus measurements, in a registry of its
// own so that tests and embedders do not share global state.
type Metrics struct {
	registry       *prometheus.Registry
	rpcDuration    *prometheus.HistogramVec
	decodeFailures *prometheus.CounterVec
}

// NewMetrics creates the server's metrics, with the Go runtime's and the
// process's beside them.
func NewMetrics() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		rpcDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mediamatch_rpc_duration_seconds",
			Help: "Latency of gRPC calls, by method and status code.",
			// From a cached hash lookup (~50us) to a large decode (~seconds).
			Buckets: prometheus.ExponentialBuckets(50e-6, 2.5, 14),
		}, []string{"method", "code"}),
		decodeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediamatch_decode_failures_total",
			Help: "Uploaded media that could not be decoded or hashed, by reason.",
		}, []string{"reason"}),
	}
	m.registry.MustRegister(m.rpcDuration, m.decodeFailures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

func (m *Metrics) observeRPC(method string, code codes.Code, d time.Duration) {
	m.rpcDuration.WithLabelValues(method, code.String()).Observe(d.Seconds())
}

func (m *Metrics) decodeFailure(err error) {
	if m != nil {
		m.decodeFailures.WithLabelValues(classify(err)).Inc()
	}
}

// indexCollector reports the index's size when scraped.
type indexCollector struct {
	idx  *index.Index
	desc *prometheus.Desc
}

func (c indexCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c indexCollector) Collect(ch chan<- prometheus.Metric) {
	for typ, n := range c.idx.Stats() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), typ)
	}
}

func (m *Metrics) watchIndex(idx *index.Index) {
	m.registry.MustRegister(indexCollector{idx: idx, desc: prometheus.NewDesc(
		"mediamatch_index_hashes", "Hashes held in the in-memory index, by hash type.", []string{"type"}, nil)})
}
