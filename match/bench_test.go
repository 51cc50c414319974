package match

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/index"
	"github.com/mediamatch/mediamatch/internal/benchlat"
	"github.com/mediamatch/mediamatch/keypoint"
	"github.com/mediamatch/mediamatch/pdq"
	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/bolt"
)

// benchEntries makes n hash-list entries (PDQ only, as partners share them).
func benchEntries(r *rand.Rand, bank string, n int) []*store.Entry {
	out := make([]*store.Entry, n)
	for i := range out {
		b := randomPDQ(r)
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

// BenchmarkMatch measures Index.Match for an image query as the server
// sends it: a PDQ hash with its 8 dihedral variants (so 8 searches at
// radius 31), over N PDQ entries, per search structure. Half the queries
// are near-duplicates of stored hashes, half unrelated.
func BenchmarkMatch(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		for _, st := range []index.Structure{index.Linear, index.BKTree, index.MIH} {
			b.Run(fmt.Sprintf("n%d/%s", n, st), func(b *testing.B) {
				if n > 100_000 && testing.Short() {
					b.Skip("1M entries in -short mode")
				}
				x := openIndexAt(b, filepath.Join(b.TempDir(), "bench.db"), DefaultRules(), map[string]index.Structure{hashing.PDQ: st})
				x.commit(b, store.CreateBank(store.Bank{Name: "bench"}))
				r := rand.New(rand.NewPCG(3, uint64(n)))
				var stored []index.Hash
				for done := 0; done < n; done += 50_000 {
					entries := benchEntries(r, "bench", 50_000)
					x.addAll(b, entries)
					for _, e := range entries {
						stored = append(stored, index.HashOf(e.Hashes[0].Bytes))
					}
				}
				x.settle(b)
				queries := benchQueries(r, stored, 1000)
				b.ResetTimer()
				measureMatch(b, x, func(i int) Query { return dihedralQuery(r, queries[i%len(queries)]) })
				b.ReportMetric(float64(x.Segments()), "segments")
			})
		}
	}
}

// settle waits until the index has no merge to do, so that a benchmark
// measures the segments a steady state keeps.
func (x *testIndex) settle(b testing.TB) {
	b.Helper()
	quiet := 0
	for range 6000 {
		if x.Merging() == 0 {
			quiet++
		} else {
			quiet = 0
		}
		if quiet == 5 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Fatal("merges did not settle in ten minutes")
}

// dihedralQuery is an image query as the server sends one: a PDQ hash and
// its 8 dihedral variants (the 7 others unrelated here, as a real query's
// usually are to a bank).
func dihedralQuery(r *rand.Rand, q index.Hash) Query {
	variants := make([]pdq.Hash, pdq.NumDihedral)
	variants[0] = pdqOf(q)
	for v := 1; v < len(variants); v++ {
		variants[v] = randomPDQ(r)
	}
	return Query{Hashes: []hashing.Hash{{Type: hashing.PDQ, Bytes: variants[0][:], Quality: 100}}, Dihedral: variants, MinQuality: -1}
}

// measureMatch runs Match on query(i) for the benchmark's iterations and
// reports queries/s and the median and 99th-percentile latency.
func measureMatch(b *testing.B, x *testIndex, query func(i int) Query) {
	lat := make([]time.Duration, 0, 1024)
	for i := 0; b.Loop(); i++ {
		q := query(i)
		t0 := time.Now()
		if _, err := x.Match(q); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	benchlat.Report(b, lat)
}

// entryHeap names the heap profiles BenchmarkMatchRegions writes of each
// loaded index (the variant's name is appended), for seeing where the
// bytes per entry go; none when empty.
var entryHeap = flag.String("entryheap", "", "write a heap profile of each loaded index of BenchmarkMatchRegions to this path plus the variant's name")

// BenchmarkMatchRegions measures what region hashes cost at 1M image
// entries (MIH): "whole" stores each entry's PDQ hash only and queries with
// the hash and its 8 dihedral variants, as before region hashes; "regions"
// stores, as AddContent does, the three central windows of every entry and
// a trimmed region for one in five, and queries with the four quarters and a
// content region besides. It reports the heap and file bytes per entry and
// the query latency.
func BenchmarkMatchRegions(b *testing.B) {
	// "whole": an entry with its PDQ hash only. "regions": what AddContent
	// stores for an image besides (three central windows with their pHash,
	// a trimmed region for one in three and a content region for one in
	// two, 3.8 regions per entry as on the robustness corpus), queried with
	// four quarters, a content region and, one in two, a trimmed region.
	// "keypoints": regions, and 32 keypoints per entry, queried with 48.
	// Keys and descriptors are random: real ones collide more often, so a
	// real query verifies more candidates than these (none).
	for _, variant := range []string{"whole", "regions", "keypoints"} {
		withRegions, withKeypoints := variant != "whole", variant == "keypoints"
		b.Run(fmt.Sprintf("n1000000/%s", variant), func(b *testing.B) {
			const n = 1_000_000
			path := filepath.Join(b.TempDir(), "bench.db")
			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			x := openIndexAt(b, path, DefaultRules(), nil)
			x.commit(b, store.CreateBank(store.Bank{Name: "bench"}))
			r := rand.New(rand.NewPCG(5, 6))
			var stored []index.Hash
			for done := 0; done < n; done += 50_000 {
				entries := benchEntries(r, "bench", 50_000)
				for i, e := range entries {
					stored = append(stored, index.HashOf(e.Hashes[0].Bytes))
					if !withRegions {
						continue
					}
					for range 3 {
						e.Regions = append(e.Regions, hashing.RegionHash{Kind: hashing.RegionWindow, Hash: randomPDQ(r), Quality: 100, PHash: r.Uint64(), HasPHash: true})
					}
					if i%3 == 0 {
						e.Regions = append(e.Regions, hashing.RegionHash{Kind: hashing.RegionTrimmed, Hash: randomPDQ(r), Quality: 100})
					}
					if i%2 == 0 {
						e.Regions = append(e.Regions, hashing.RegionHash{Kind: hashing.RegionContent, Hash: randomPDQ(r), Quality: 100})
					}
					if withKeypoints {
						e.Keypoints = randomKeypoints(r, keypoint.StoredPoints)
					}
				}
				x.addAll(b, entries)
			}
			x.settle(b)
			runtime.GC()
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if *entryHeap != "" {
				writeHeapProfile(b, *entryHeap+"."+variant)
			}
			st, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			queries := benchQueries(r, stored, 1000)
			b.ResetTimer()
			measureMatch(b, x, func(i int) Query {
				query := dihedralQuery(r, queries[i%len(queries)])
				if withRegions {
					for range 4 {
						query.Regions = append(query.Regions, hashing.RegionHash{Kind: hashing.RegionWindow, Hash: randomPDQ(r), Quality: 100})
					}
					query.Regions = append(query.Regions, hashing.RegionHash{Kind: hashing.RegionContent, Hash: randomPDQ(r), Quality: 100})
					if i%2 == 0 {
						query.Regions = append(query.Regions, hashing.RegionHash{Kind: hashing.RegionTrimmed, Hash: randomPDQ(r), Quality: 100})
					}
				}
				if withKeypoints {
					query.Keypoints, query.Width, query.Height = Points(randomKeypoints(r, keypoint.QueryPoints)), 640, 480
				}
				return query
			})
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/entry")
			b.ReportMetric(float64(st.Size())/n, "file-B/entry")
			b.ReportMetric(float64(x.Stats()[hashing.PDQ])/n, "pdq-hashes/entry")
			b.ReportMetric(float64(x.Stats()[hashing.PHash])/n, "phash-hashes/entry")
			b.ReportMetric(float64(x.Stats()[index.KeypointIndex])/n, "keypoints/entry")
		})
	}
}

// writeHeapProfile writes the live heap's profile to path.
func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

// randomKeypoints returns n keypoints at random places with random
// descriptors.
func randomKeypoints(r *rand.Rand, n int) []store.Keypoint {
	ps := make([]store.Keypoint, n)
	for i := range ps {
		ps[i] = store.Keypoint{X: r.Float32(), Y: r.Float32(), Level: uint8(r.IntN(6)), Descriptor: [4]uint64{r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64()}}
	}
	return ps
}

// BenchmarkMatchUnderLoad measures an image match at 100k image entries
// (each with its regions and keypoints, as an added image holds), with the
// query an image query is (8 dihedral variants, regions, keypoints): idle,
// and again while one long video match runs without pause (10,000 query
// frames against a 10,000-frame entry) and adds stream in (one writer
// committing one image entry after another, each awaited through the
// feed). A match reads an immutable view, so neither the video match nor
// the writer can hold it up; what is left is sharing 2 cores.
func BenchmarkMatchUnderLoad(b *testing.B) {
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	x := openIndexAt(b, filepath.Join(b.TempDir(), "bench.db"), DefaultRules(), nil)
	x.commit(b, store.CreateBank(store.Bank{Name: "bench"}))
	r := rand.New(rand.NewPCG(8, 8))
	imageEntry := func() *store.Entry {
		e := benchEntries(r, "bench", 1)[0]
		for range 3 {
			e.Regions = append(e.Regions, hashing.RegionHash{Kind: hashing.RegionWindow, Hash: randomPDQ(r), Quality: 100, PHash: r.Uint64(), HasPHash: true})
		}
		e.Regions = append(e.Regions, hashing.RegionHash{Kind: hashing.RegionContent, Hash: randomPDQ(r), Quality: 100})
		e.Keypoints = randomKeypoints(r, keypoint.StoredPoints)
		return e
	}
	var stored []index.Hash
	for done := 0; done < n; done += 10_000 {
		batch := make([]*store.Entry, 10_000)
		for i := range batch {
			batch[i] = imageEntry()
			stored = append(stored, index.HashOf(batch[i].Hashes[0].Bytes))
		}
		x.addAll(b, batch)
	}
	const frames = 10_000
	video := make([]store.Frame, frames)
	for i := range video {
		video[i] = store.Frame{Seconds: float64(i), Hash: randomPDQ(r), Quality: 100}
	}
	md5 := make([]byte, 16)
	x.commit(b, store.AddEntry(&store.Entry{Bank: "bench", Kind: store.KindVideo, Frames: video, Duration: frames, Hashes: []hashing.Hash{{Type: hashing.MD5, Bytes: md5}}}))
	videoQuery := make([]store.Frame, frames)
	for i := range videoQuery {
		videoQuery[i] = video[i]
		videoQuery[i].Hash = flipBits(r, video[i].Hash, 8)
	}
	x.settle(b)
	queries := benchQueries(r, stored, 1000)
	imageQuery := func(i int) Query {
		q := dihedralQuery(r, queries[i%len(queries)])
		for range 4 {
			q.Regions = append(q.Regions, hashing.RegionHash{Kind: hashing.RegionWindow, Hash: randomPDQ(r), Quality: 100})
		}
		q.Regions = append(q.Regions, hashing.RegionHash{Kind: hashing.RegionContent, Hash: randomPDQ(r), Quality: 100})
		q.Keypoints, q.Width, q.Height = Points(randomKeypoints(r, keypoint.QueryPoints)), 640, 480
		return q
	}
	// Loads: none; one long video match without pause and adds paced at
	// 200/s (four times what the service took before this index, from one
	// writer); and the same with adds as fast as one writer commits them,
	// which with the video match keeps both cores busy.
	for _, load := range []struct {
		name  string
		video bool
		every time.Duration // between adds; 0: none; -1: no pause
	}{{"idle", false, 0}, {"video+adds200", true, 5 * time.Millisecond}, {"video+adds-unpaced", true, -1}} {
		b.Run(fmt.Sprintf("n%d/%s", n, load.name), func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			var videoMatches, adds atomic.Int64
			if load.video {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for ctx.Err() == nil {
						if _, err := x.m.Match(ctx, Query{Frames: videoQuery, Duration: frames, MinQuality: -1, VideoQueryPercent: -1, VideoEntryPercent: -1}); err == nil {
							videoMatches.Add(1)
						}
					}
				}()
			}
			if load.every != 0 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					wr := rand.New(rand.NewPCG(9, 9))
					next := time.Now()
					for ctx.Err() == nil {
						if load.every > 0 {
							next = next.Add(load.every)
							time.Sleep(time.Until(next))
						}
						e := benchEntries(wr, "bench", 1)[0]
						e.Keypoints = randomKeypoints(wr, keypoint.StoredPoints)
						res, err := x.st.Commit(ctx, "w", store.AddEntry(e))
						if err != nil {
							return
						}
						if x.WaitFor(ctx, res.Revision) == nil {
							adds.Add(1)
						}
					}
				}()
			}
			if load.video {
				time.Sleep(time.Second) // let the video match get going
			}
			start := time.Now()
			b.ResetTimer()
			measureMatch(b, x, imageQuery)
			elapsed := time.Since(start).Seconds()
			cancel()
			wg.Wait()
			if load.video {
				b.ReportMetric(float64(videoMatches.Load())/elapsed, "video-matches/s")
			}
			if load.every != 0 {
				b.ReportMetric(float64(adds.Load())/elapsed, "adds/s")
			}
			b.ReportMetric(float64(x.Segments()), "segments")
		})
	}
}

// benchQueries returns n PDQ queries: half near-duplicates of stored hashes
// (up to 16 bits flipped, so they match), half fresh random hashes (which
// match nothing), as an upload pipeline sees mostly unknown media.
func benchQueries(r *rand.Rand, stored []index.Hash, n int) []index.Hash {
	qs := make([]index.Hash, n)
	for i := range qs {
		if i%2 == 0 {
			h := stored[r.IntN(len(stored))]
			for range r.IntN(17) {
				b := r.IntN(256)
				h[b/64] ^= 1 << (b % 64)
			}
			qs[i] = h
		} else {
			qs[i] = index.Hash{r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64()}
		}
	}
	return qs
}

var scaleEntries = flag.Int("scale-entries", 10_000_000, "how many PDQ entries BenchmarkScale loads (100,000 with -short)")

// BenchmarkScale is a bank at platform scale in one process: N PDQ-only
// entries (10M by default, -scale-entries), as partners' hash lists hold
// them, imported into a new bbolt file through the store's import path;
// then, with the file closed, a cold start (opening and checking the file,
// reading every entry, building the index) and the live heap the index
// holds per entry; then Match, one query at a time on one goroutine, of an
// image query with its 8 dihedral variants ("dihedral") and of the hash
// alone ("original"). Half the queries are near-duplicates of stored
// hashes, half unrelated.
func BenchmarkScale(b *testing.B) {
	n := *scaleEntries
	if testing.Short() {
		n = min(n, 100_000)
	}
	path := filepath.Join(b.TempDir(), "scale.db")
	st, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := st.Commit(ctx, "bench", store.CreateBank(store.Bank{Name: "bench"})); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, uint64(n)))
	var stored []index.Hash // one in every n/1000, for the near-duplicate queries
	every := max(n/1000, 1)
	i := 0
	next := func() (store.ImportItem, error) {
		if i == n {
			return store.ImportItem{}, io.EOF
		}
		i++
		h := randomPDQ(r)
		if i%every == 0 {
			stored = append(stored, index.HashOf(h[:]))
		}
		return store.ImportItem{Entry: &store.Entry{Kind: store.KindImage, Hashes: []hashing.Hash{{Type: hashing.PDQ, Bytes: h[:], Quality: 100}}}, Line: i}, nil
	}
	start := time.Now()
	if _, err := st.Commit(ctx, "bench", store.ImportEntries(&store.Import{Bank: "bench", Next: next})); err != nil {
		b.Fatal(err)
	}
	loaded := time.Since(start)
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	before := liveHeap()
	start = time.Now()
	x := openIndexAt(b, path, DefaultRules(), nil)
	cold := time.Since(start)
	defer x.Close()
	heap := liveHeap() - before
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	queries := benchQueries(r, stored, 1000)
	for _, variant := range []string{"dihedral", "original"} {
		b.Run(variant, func(b *testing.B) {
			measureMatch(b, x, func(i int) Query {
				if variant == "dihedral" {
					return dihedralQuery(r, queries[i%len(queries)])
				}
				h := pdqOf(queries[i%len(queries)])
				return Query{Hashes: []hashing.Hash{{Type: hashing.PDQ, Bytes: h[:], Quality: 100}}, MinQuality: -1}
			})
			b.ReportMetric(float64(n), "entries")
			b.ReportMetric(float64(n)/loaded.Seconds(), "import-hashes/s")
			b.ReportMetric(cold.Seconds(), "cold-start-s")
			b.ReportMetric(float64(heap)/float64(n), "heap-B/entry")
			b.ReportMetric(float64(heap)/(1<<30), "heap-GiB")
			b.ReportMetric(float64(fi.Size())/float64(n), "file-B/entry")
			b.ReportMetric(float64(x.Segments()), "segments")
		})
	}
}

// liveHeap is the heap a collection finds live, in bytes.
func liveHeap() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
