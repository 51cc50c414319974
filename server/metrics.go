package server

import (
	"context"
	"net/http"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/codes"

	"github.com/mediamatch/mediamatch/index"
	"github.com/mediamatch/mediamatch/store"
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
	// Besides the Go collector's defaults, go_gc_heap_live_bytes (the heap
	// the last collection marked live) and go_gc_cycles_total_gc_cycles_total:
	// the figures `mediamatch loadtest` compares before and after a run.
	liveHeap := collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/(heap/live|cycles/total):`)}
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
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(liveHeap)), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
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

// stateCollector reports the index's size and the store's and index's
// revisions when scraped.
type stateCollector struct {
	st                 store.Store
	idx                *index.Index
	hashes, revs, segs *prometheus.Desc
	lagSecs            *prometheus.Desc
}

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.hashes
	ch <- c.revs
	ch <- c.lagSecs
	ch <- c.segs
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	for typ, n := range c.idx.Stats() {
		ch <- prometheus.MustNewConstMetric(c.hashes, prometheus.GaugeValue, float64(n), typ)
	}
	if revs, err := c.st.Revisions(context.Background()); err == nil {
		ch <- prometheus.MustNewConstMetric(c.revs, prometheus.GaugeValue, float64(revs.Current), "store")
		ch <- prometheus.MustNewConstMetric(c.revs, prometheus.GaugeValue, float64(revs.Compacted), "compacted")
	}
	ch <- prometheus.MustNewConstMetric(c.revs, prometheus.GaugeValue, float64(c.idx.Revision()), "index")
	ch <- prometheus.MustNewConstMetric(c.segs, prometheus.GaugeValue, float64(c.idx.Segments()))
	if lag, ok := c.lag(); ok {
		ch <- prometheus.MustNewConstMetric(c.lagSecs, prometheus.GaugeValue, lag.Seconds())
	}
}

// lag is how long the oldest change the index has not applied has been
// committed: 0 when the index shows the store's current revision; not ok
// when the store cannot say (unreachable, or that change compacted).
func (c stateCollector) lag() (time.Duration, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	shown := c.idx.Revision()
	revs, err := c.st.Revisions(ctx)
	if err != nil {
		return 0, false
	}
	if shown >= revs.Current {
		return 0, true
	}
	cs, err := c.st.Changes(ctx, shown, 1, store.ViewNone)
	if err != nil || len(cs) == 0 {
		return 0, false
	}
	return max(0, time.Since(cs[0].Time)), true
}

func (m *Metrics) watch(st store.Store, idx *index.Index) {
	m.registry.MustRegister(stateCollector{st: st, idx: idx,
		hashes: prometheus.NewDesc("mediamatch_index_hashes", "Hashes held in the in-memory index, by hash type.", []string{"type"}, nil),
		revs: prometheus.NewDesc("mediamatch_revision", "Revisions of the change log: the store's current and compacted ones, and the one the index shows (the index lags the store by their difference).",
			[]string{"of"}, nil),
		segs: prometheus.NewDesc("mediamatch_index_segments", "Segments of the in-memory index a match searches.", nil, nil),
		lagSecs: prometheus.NewDesc("mediamatch_index_lag_seconds", "How long ago the oldest change the index has not yet applied was committed; 0 when the index shows the store's current revision.",
			nil, nil),
	})
}
