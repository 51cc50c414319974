package vpdq

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mediamatch/mediamatch/pdq"
)

// flip returns h with the first n of the given bit positions inverted.
func flip(h pdq.Hash, positions []int, n int) pdq.Hash {
	for _, k := range positions[:n] {
		h[k/8] ^= 1 << (k % 8)
	}
	return h
}

// video returns n frames of random hashes at one frame a second, all of
// full quality. Random hashes are about 128 bits apart, so none of them
// match each other.
func randomVideo(r *rand.Rand, n int) []Frame {
	frames := make([]Frame, n)
	for i := range frames {
		frames[i] = Frame{Index: 30 * i, Hash: randomHash(r), Quality: 100, Seconds: float64(i)}
	}
	return frames
}

// perturb returns frames with each hash moved by a few bits, as a
// re-encoded copy of a video would be.
func perturb(r *rand.Rand, frames []Frame, bits int) []Frame {
	out := slices.Clone(frames)
	for i := range out {
		out[i].Hash = flip(out[i].Hash, r.Perm(pdq.Bits), bits)
	}
	return out
}

func TestCompareIdentical(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	v := randomVideo(r, 60)
	for name, q := range map[string][]Frame{"identical": v, "re-encoded": perturb(r, v, 10)} {
		res := Compare(q, v, Options{})
		if res.QueryPercent != 100 || res.EntryPercent != 100 || !res.Matched {
			t.Errorf("%s: %+v", name, res)
		}
		want := []Range{{0, 59}}
		if !slices.Equal(res.QueryRanges, want) || !slices.Equal(res.EntryRanges, want) {
			t.Errorf("%s: ranges %v, %v", name, res.QueryRanges, res.EntryRanges)
		}
	}
	if res := Compare(v, v, Options{}); res.MaxDistance != 0 {
		t.Errorf("identical: MaxDistance %d", res.MaxDistance)
	}
	if res := Compare(perturb(r, v, 10), v, Options{}); res.MaxDistance != 10 {
		t.Errorf("re-encoded: MaxDistance %d, want 10", res.MaxDistance)
	}
}

// TestCompareClip cuts seconds 20..39 out of a 60 s video and looks for the
// clip, re-based to start at 0 s, in the whole video.
func TestCompareClip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	full := randomVideo(r, 60)
	clip := perturb(r, full[20:40], 5)
	for i := range clip {
		clip[i].Seconds -= 20
		clip[i].Index = i
	}

	res := Compare(clip, full, Options{})
	if res.QueryPercent != 100 || res.EntryPercent != float64(20*100)/60 || !res.Matched {
		t.Errorf("clip in video: %+v", res)
	}
	if !slices.Equal(res.QueryRanges, []Range{{0, 19}}) || !slices.Equal(res.EntryRanges, []Range{{20, 39}}) {
		t.Errorf("clip in video: ranges %v, %v", res.QueryRanges, res.EntryRanges)
	}
	if res.MaxDistance != 5 {
		t.Errorf("clip in video: MaxDistance %d, want 5", res.MaxDistance)
	}

	// The other way round only a third of the query is found: no match
	// under the 80% query threshold, as in python-threatexchange.
	res = Compare(full, clip, Options{})
	if res.QueryPercent != float64(20*100)/60 || res.EntryPercent != 100 || res.Matched {
		t.Errorf("video in clip: %+v", res)
	}
	if !slices.Equal(res.QueryRanges, []Range{{20, 39}}) || !slices.Equal(res.EntryRanges, []Range{{0, 19}}) {
		t.Errorf("video in clip: ranges %v, %v", res.QueryRanges, res.EntryRanges)
	}
}

func TestCompareUnrelated(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	a, b := randomVideo(r, 300), randomVideo(r, 200)
	res := Compare(a, b, Options{})
	want := Result{MaxDistance: -1}
	if res.QueryPercent != 0 || res.EntryPercent != 0 || res.Matched || res.MaxDistance != -1 ||
		res.QueryRanges != nil || res.EntryRanges != nil {
		t.Errorf("got %+v, want %+v", res, want)
	}
}

// TestCompareThresholdDistance builds hashes at exactly the distance
// threshold and one bit beyond.
func TestCompareThresholdDistance(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, d := range []int{DefaultDistance, 1, 10, 100} {
		base := randomHash(r)
		perm := r.Perm(pdq.Bits)
		at, beyond := flip(base, perm, d), flip(base, perm, d+1)
		if pdq.Distance(base, at) != d || pdq.Distance(base, beyond) != d+1 {
			t.Fatal("flip does not give the intended distance")
		}
		o := Options{Distance: d}
		if d == DefaultDistance {
			o = Options{} // the default itself
		}
		q := []Frame{{Hash: base, Quality: 100}}
		res := Compare(q, []Frame{{Hash: at, Quality: 100}}, o)
		if res.QueryPercent != 100 || res.EntryPercent != 100 || !res.Matched || res.MaxDistance != d {
			t.Errorf("distance %d: %+v", d, res)
		}
		res = Compare(q, []Frame{{Hash: beyond, Quality: 100}}, o)
		if res.QueryPercent != 0 || res.EntryPercent != 0 || res.Matched || res.MaxDistance != -1 {
			t.Errorf("distance %d+1: %+v", d, res)
		}
	}
}

// TestCompareQuality checks that frames below MinQuality take no part on
// either side, and that MinQuality itself is usable.
func TestCompareQuality(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	a, b, c := randomHash(r), randomHash(r), randomHash(r)
	query := []Frame{
		{Hash: a, Quality: 50, Seconds: 0},
		{Hash: b, Quality: 49, Seconds: 1}, // below quality: its match does not count
		{Hash: c, Quality: 100, Seconds: 2},
	}
	entry := []Frame{
		{Hash: a, Quality: 100, Seconds: 10},
		{Hash: b, Quality: 100, Seconds: 11},
		{Hash: c, Quality: 10, Seconds: 12}, // below quality on the entry side
	}
	res := Compare(query, entry, Options{})
	// Usable query {a, c}: a matches. Usable entry {a, b}: a matches.
	if res.QueryPercent != 50 || res.EntryPercent != 50 || res.Matched {
		t.Errorf("default quality: %+v", res)
	}
	if !slices.Equal(res.QueryRanges, []Range{{0, 0}}) || !slices.Equal(res.EntryRanges, []Range{{10, 10}}) {
		t.Errorf("default quality: ranges %v, %v", res.QueryRanges, res.EntryRanges)
	}

	res = Compare(query, entry, Options{MinQuality: -1}) // every frame usable
	if res.QueryPercent != 100 || res.EntryPercent != 100 || !res.Matched {
		t.Errorf("all frames: %+v", res)
	}

	// Nothing usable on one side: 0 and no match, whatever the thresholds.
	low := []Frame{{Hash: a, Quality: 0}}
	for _, o := range []Options{{}, {QueryPercent: -1, EntryPercent: -1}} {
		for _, res := range []Result{Compare(low, entry, o), Compare(query, low, o), Compare(nil, nil, o)} {
			if res.QueryPercent != 0 || res.EntryPercent != 0 || res.Matched || res.MaxDistance != -1 ||
				res.QueryRanges != nil || res.EntryRanges != nil {
				t.Errorf("no usable frames, %+v: %+v", o, res)
			}
		}
	}
}

// TestCompareDuplicates checks that repeated hashes count once in the
// percentages and every time in the ranges.
func TestCompareDuplicates(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	still, other, gone := randomHash(r), randomHash(r), randomHash(r)
	query := []Frame{
		{Hash: still, Quality: 100, Seconds: 0},
		{Hash: still, Quality: 100, Seconds: 1},
		{Hash: still, Quality: 100, Seconds: 2},
		{Hash: still, Quality: 100, Seconds: 3},
		{Hash: gone, Quality: 100, Seconds: 4},
	}
	entry := []Frame{
		{Hash: other, Quality: 100, Seconds: 0},
		{Hash: still, Quality: 100, Seconds: 5},
		{Hash: other, Quality: 100, Seconds: 6},
	}
	res := Compare(query, entry, Options{})
	// Distinct query {still, gone}: 1 of 2. Distinct entry {other, still}: 1 of 2.
	// Counting frames instead would give 80% and 33%.
	if res.QueryPercent != 50 || res.EntryPercent != 50 || res.Matched {
		t.Errorf("got %+v", res)
	}
	if !slices.Equal(res.QueryRanges, []Range{{0, 3}}) || !slices.Equal(res.EntryRanges, []Range{{5, 5}}) {
		t.Errorf("ranges %v, %v", res.QueryRanges, res.EntryRanges)
	}

	// Quality is filtered before de-duplication: a hash first seen at low
	// quality still counts when it recurs at high quality.
	q2 := []Frame{{Hash: still, Quality: 10, Seconds: 0}, {Hash: still, Quality: 90, Seconds: 1}}
	res = Compare(q2, entry, Options{})
	if res.QueryPercent != 100 || !slices.Equal(res.QueryRanges, []Range{{1, 1}}) {
		t.Errorf("low then high quality: %+v", res)
	}
}

// TestCompareThresholds checks that the percentage thresholds are
// inclusive, as python-threatexchange's ">=".
func TestCompareThresholds(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	entry := randomVideo(r, 5)
	query := slices.Clone(entry)
	query[4].Hash = randomHash(r) // 4 of 5 query hashes match: exactly 80%
	res := Compare(query, entry, Options{})
	if res.QueryPercent != 80 || res.EntryPercent != 80 || !res.Matched {
		t.Errorf("80%% of the query: %+v", res)
	}
	query[3].Hash = randomHash(r) // 60%
	if res := Compare(query, entry, Options{}); res.Matched {
		t.Errorf("60%% of the query: %+v", res)
	}
	if res := Compare(query, entry, Options{QueryPercent: 60}); !res.Matched {
		t.Errorf("60%% with QueryPercent 60: %+v", res)
	}
	if res := Compare(query, entry, Options{QueryPercent: 60, EntryPercent: 60.1}); res.Matched {
		t.Errorf("EntryPercent 60.1: %+v", res)
	}
	// A zero threshold still needs one matched frame.
	if res := Compare(randomVideo(r, 3), entry, Options{QueryPercent: -1}); res.Matched {
		t.Errorf("nothing matched: %+v", res)
	}
}

// TestCompareRanges checks the merging of matched timestamps into spans.
func TestCompareRanges(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	entry := randomVideo(r, 30)
	// The query shows seconds 0-4, 6-8 (one sample missing: bridged),
	// 12 (three missing: a new range) and 20-21, given out of order.
	var query []Frame
	for _, s := range []int{21, 0, 1, 2, 3, 4, 6, 7, 8, 12, 20} {
		query = append(query, entry[s])
	}
	res := Compare(query, entry, Options{})
	want := []Range{{0, 8}, {12, 12}, {20, 21}}
	if !slices.Equal(res.EntryRanges, want) || !slices.Equal(res.QueryRanges, want) {
		t.Errorf("default gap: %v, %v; want %v", res.EntryRanges, res.QueryRanges, want)
	}
	res = Compare(query, entry, Options{MaxGap: 5})
	if want := []Range{{0, 12}, {20, 21}}; !slices.Equal(res.EntryRanges, want) {
		t.Errorf("gap 5: %v, want %v", res.EntryRanges, want)
	}
	res = Compare(query, entry, Options{MaxGap: 0.5})
	if want := []Range{{0, 0}, {1, 1}, {2, 2}}; !slices.Equal(res.EntryRanges[:3], want) || len(res.EntryRanges) != 11 {
		t.Errorf("gap 0.5: %v", res.EntryRanges)
	}
}

func TestDefaults(t *testing.T) {
	if got := (Options{}).withDefaults(); got != Defaults() {
		t.Errorf("zero Options = %+v, Defaults() = %+v", got, Defaults())
	}
	want := Options{Distance: 31, MinQuality: 50, QueryPercent: 80, EntryPercent: 0, MaxGap: 2}
	if Defaults() != want {
		t.Errorf("Defaults() = %+v, want %+v", Defaults(), want)
	}
	custom := Options{Distance: 5, MinQuality: 1, QueryPercent: 50, EntryPercent: 10, MaxGap: 1}
	if custom.withDefaults() != custom {
		t.Errorf("non-zero options changed: %+v", custom.withDefaults())
	}
}

// TestNearest checks the word-wise distance of Compare's inner loop
// against pdq.Distance.
func TestNearest(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 20))
	for range 1000 {
		a, b := randomHash(r), randomHash(r)
		if r.IntN(2) == 0 {
			b = flip(a, r.Perm(pdq.Bits), r.IntN(pdq.Bits+1))
		}
		want := pdq.Distance(a, b)
		wa, wb := toWords(a), toWords(b)
		hit := []bool{false}
		if got := nearest(&wa, []words{wb}, pdq.Bits, hit); got != want || !hit[0] {
			t.Fatalf("nearest(%v, %v) = %d, %v; want %d", a, b, got, hit[0], want)
		}
		hit[0] = false
		if got := nearest(&wa, []words{wb}, want-1, hit); got != -1 || hit[0] {
			t.Fatalf("nearest within %d of a hash at %d = %d, %v", want-1, want, got, hit[0])
		}
	}
}

// BenchmarkCompare compares two 10-minute videos at one frame a second.
func BenchmarkCompare(b *testing.B) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, c := range []struct {
		name         string
		query, entry []Frame
	}{
		{"unrelated", randomVideo(r, 600), randomVideo(r, 600)},
		{"same", randomVideo(r, 600), nil},
	} {
		if c.entry == nil {
			c.entry = perturb(r, c.query, 8)
		}
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				Compare(c.query, c.entry, Options{})
			}
			pairs := float64(len(c.query)*len(c.entry)) * float64(b.N)
			b.ReportMetric(pairs/b.Elapsed().Seconds(), "pairs/s")
		})
	}
}
