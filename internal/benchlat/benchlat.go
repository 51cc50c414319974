// Package benchlat reports the latency of a benchmark's timed calls, the
// same way in every package's benchmarks.
package benchlat

import (
	"slices"
	"testing"
	"time"
)

// Report reports queries/s and the median and 99th-percentile latency of
// a benchmark's timed calls, one duration per call.
func Report(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}
