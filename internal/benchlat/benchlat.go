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

// ReportCPU reports the process's CPU time per operation since start (a
// CPUTime taken before the loop) as cpu-ms/op. Unlike ns/op it does not
// grow when other processes share the cores, so it stays comparable on a
// busy machine; it counts every goroutine's work, collection included.
func ReportCPU(b *testing.B, start time.Duration) {
	if start == 0 || b.N == 0 {
		return
	}
	b.ReportMetric(float64(CPUTime()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}
