package index

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/internal/benchlat"
	"github.com/mediamatch/mediamatch/store"
)

// benchQueries returns n queries: half near-duplicates of stored hashes
// (up to bits/16 bits flipped, so they match), half fresh random hashes
// (which match nothing), as an upload pipeline sees mostly unknown media.
func benchQueries(r *rand.Rand, stored []Hash, words, n int) []Hash {
	qs := make([]Hash, n)
	for i := range qs {
		if i%2 == 0 {
			qs[i] = flip(r, stored[r.IntN(len(stored))], words, r.IntN(words*64/16+1))
		} else {
			qs[i] = randomHash(r, words)
		}
	}
	return qs
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkSearch measures each structure on clustered hashes at the
// service's default radii (PDQ 31, 64-bit 10), reporting queries/s, p50 and
// p99 latency, build time and bytes per hash.
func BenchmarkSearch(b *testing.B) {
	for _, c := range []struct{ bits, radius int }{{256, 31}, {64, 10}} {
		words := c.bits / 64
		for _, n := range []int{100_000, 1_000_000} {
			r := rand.New(rand.NewPCG(uint64(n), uint64(c.bits)))
			hashes := testData(r, words, n, true)
			ids := make([]uint64, n)
			for i := range ids {
				ids[i] = uint64(i + 1)
			}
			queries := benchQueries(r, hashes, words, 2000)
			for _, st := range []Structure{Linear, BKTree, MIH} {
				b.Run(fmt.Sprintf("%dbit/r%d/n%d/%s", c.bits, c.radius, n, st), func(b *testing.B) {
					if n > 100_000 && testing.Short() {
						b.Skip("1M hashes in -short mode")
					}
					before := heapAlloc()
					start := time.Now()
					s, err := Build(st, c.bits, ids, hashes)
					if err != nil {
						b.Fatal(err)
					}
					build := time.Since(start)
					mem := heapAlloc() - before
					lat := make([]time.Duration, 0, b.N)
					hits := 0
					b.ResetTimer()
					for i := 0; b.Loop(); i++ {
						t0 := time.Now()
						s.Search(queries[i%len(queries)], c.radius, func(uint64, int) bool { hits++; return true })
						lat = append(lat, time.Since(t0))
					}
					b.StopTimer()
					benchlat.Report(b, lat)
					b.ReportMetric(float64(mem)/float64(n), "B/hash")
					b.ReportMetric(build.Seconds(), "build-s")
					runtime.KeepAlive(s)
				})
			}
		}
	}
}

// benchEntries makes n hash-list entries (PDQ only, as partners share them).
func benchEntries(r *rand.Rand, bank string, n int) []*store.Entry {
	out := make([]*store.Entry, n)
	for i := range out {
		b := fromHash(randomHash(r, 4))
		out[i] = &store.Entry{Bank: bank, Kind: store.KindImage, Hashes: []hashing.Hash{{Type: hashing.PDQ, Bytes: b[:], Quality: 100}}}
	}
	return out
}

// addAll commits entries in batches of 10k.
func (x *testIndex) addAll(b testing.TB, entries []*store.Entry) {
	b.Helper()
	for len(entries) > 0 {
		n := min(len(entries), 10_000)
		ops := make([]store.Op, n)
		for i, e := range entries[:n] {
			ops[i] = store.AddEntry(e)
		}
		x.commit(b, ops...)
		entries = entries[n:]
	}
}

// BenchmarkColdStart measures New on a store of 1M PDQ entries: reading
// every entry from a snapshot and building the in-memory index. It also
// reports the heap the index holds per entry.
func BenchmarkColdStart(b *testing.B) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	x, _ := openTestIndex(b)
	r := rand.New(rand.NewPCG(2, 2))
	for done := 0; done < n; done += 50_000 {
		x.addAll(b, benchEntries(r, "b", 50_000))
	}
	x.Index.Close()
	var mem uint64
	for b.Loop() {
		before := heapAlloc()
		idx, err := New(context.Background(), x.st, Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		mem = heapAlloc() - before
		idx.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n), "entries")
	b.ReportMetric(float64(mem)/float64(n), "B/entry")
}

func fromHash(h Hash) [32]byte {
	var b [32]byte
	for w := range 4 {
		for k := range 8 {
			b[8*w+k] = byte(h[w] >> (56 - 8*k))
		}
	}
	return b
}
