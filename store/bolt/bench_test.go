package bolt

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/storetest"
)

// BenchmarkConcurrentAdds measures adds from many writers at once, each a
// commit of one image entry (hashes, regions and keypoints, as an added
// image holds) that returns only once durable: group commit shares one
// transaction and one fsync among the writers queued meanwhile. It reports
// adds/s and the p50 and p99 of one add's latency.
func BenchmarkConcurrentAdds(b *testing.B) {
	for _, writers := range []int{1, 32} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s, _ := openTemp(b)
			defer s.Close()
			ctx := context.Background()
			if _, err := s.Commit(ctx, "bench", store.CreateBank(store.Bank{Name: "b"})); err != nil {
				b.Fatal(err)
			}
			r := rand.New(rand.NewPCG(1, 1))
			entries := make([]*store.Entry, b.N)
			for i := range entries {
				entries[i] = storetest.RandomImage(r, "b")
			}
			var mu sync.Mutex
			lat := make([]time.Duration, 0, b.N)
			next := make(chan *store.Entry, len(entries))
			for _, e := range entries {
				next <- e
			}
			close(next)
			b.ResetTimer()
			var wg sync.WaitGroup
			for range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var mine []time.Duration
					for e := range next {
						t0 := time.Now()
						if _, err := s.Commit(ctx, "bench", store.AddEntry(e)); err != nil {
							b.Error(err)
							return
						}
						mine = append(mine, time.Since(t0))
					}
					mu.Lock()
					lat = append(lat, mine...)
					mu.Unlock()
				}()
			}
			wg.Wait()
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "adds/s")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// BenchmarkOpen measures opening a store of 1M PDQ entries (100k with
// -short): the whole-file check before bbolt maps it, then bbolt's open and
// the bounds check. It reports the file's size per entry.
func BenchmarkOpen(b *testing.B) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	s, path := openTemp(b)
	ctx := context.Background()
	if _, err := s.Commit(ctx, "bench", store.CreateBank(store.Bank{Name: "b"})); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(2, 2))
	for done := 0; done < n; done += 10_000 {
		ops := make([]store.Op, 10_000)
		for i := range ops {
			h := storetest.RandomHash(r, "pdq")
			ops[i] = store.AddEntry(&store.Entry{Bank: "b", Kind: store.KindImage, Hashes: []hashing.Hash{h}})
		}
		if _, err := s.Commit(ctx, "bench", ops...); err != nil {
			b.Fatal(err)
		}
	}
	s.Close()
	info, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		s, err := Open(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
	b.ReportMetric(float64(info.Size())/float64(n), "file-B/entry")
}

// BenchmarkImport imports a list of PDQ-only image entries (the shape of a
// partner's hash list) into an empty bank: the store's side of an import,
// staged and published. It reports hashes/s and the largest live heap
// (as the last collection found it) seen while the import ran, sampled
// every 10 ms: bounded by the staging chunk, not the list's length. It
// also reports the process's CPU time per hash (making the list included),
// which the load of other work on the machine changes less than hashes/s.
//
//	go test -run '^$' -bench 'BenchmarkImport' -benchtime 1x ./store/bolt/
func BenchmarkImport(b *testing.B) {
	sampleHeap := func() func() uint64 {
		stop, done := make(chan struct{}), make(chan uint64)
		go func() {
			s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
			var peak uint64
			t := time.NewTicker(10 * time.Millisecond)
			defer t.Stop()
			for {
				metrics.Read(s)
				peak = max(peak, s[0].Value.Uint64())
				select {
				case <-stop:
					done <- peak
					return
				case <-t.C:
				}
			}
		}()
		return func() uint64 { close(stop); return <-done }
	}
	cpuTime := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	for _, n := range []int{250_000, 1_000_000, 3_000_000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				s, _ := openTemp(b)
				ctx := context.Background()
				if _, err := s.Commit(ctx, "t", store.CreateBank(store.Bank{Name: "b"})); err != nil {
					b.Fatal(err)
				}
				r := rand.New(rand.NewPCG(9, 9))
				i := 0
				next := func() (store.ImportItem, error) {
					if i == n {
						return store.ImportItem{}, io.EOF
					}
					i++
					return store.ImportItem{Entry: &store.Entry{Kind: store.KindImage, Hashes: []hashing.Hash{storetest.RandomHash(r, hashing.PDQ)}}, Line: i}, nil
				}
				runtime.GC()
				peak := sampleHeap()
				b.StartTimer()
				start, cpu0 := time.Now(), cpuTime()
				res, err := s.Commit(ctx, "importer", store.ImportEntries(&store.Import{Bank: "b", Next: next}))
				if err != nil || res.Results[0].Import.Imported != int64(n) {
					b.Fatal(res, err)
				}
				b.ReportMetric(float64(n)/time.Since(start).Seconds(), "hashes/s")
				b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(n), "cpu-us/hash")
				b.ReportMetric(float64(peak())/(1<<20), "peak-live-heap-MB")
				b.StopTimer()
				s.Close()
			}
		})
	}
}
