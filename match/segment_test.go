package match

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mediamatch/mediamatch/internal/benchlat"
	"github.com/mediamatch/mediamatch/pdq"
	"github.com/mediamatch/mediamatch/store"
)

// retimed is the entry's frames as a re-edit shows them: query second k
// (from offset on, for seconds) shows entry second from + speed*k, each
// hash flipped by bits; drop leaves out every drop-th frame (0: none).
func retimed(r *rand.Rand, entry []store.Frame, from, speed float64, seconds, offset float64, bits, drop int) []store.Frame {
	var out []store.Frame
	for k := 0; float64(k) < seconds; k++ {
		if drop > 0 && k%drop == drop-1 {
			continue
		}
		i := int(math.Floor(from + speed*float64(k)))
		if i >= len(entry) {
			break
		}
		out = append(out, store.Frame{Seconds: offset + float64(k), Hash: flipBits(r, entry[i].Hash, bits), Quality: 90})
	}
	return out
}

// compilation puts clip between lead and tail seconds of unrelated frames.
func compilation(r *rand.Rand, lead float64, clip []store.Frame, tail int) []store.Frame {
	out := randomVideo(r, int(lead))
	out = append(out, clip...)
	end := out[len(out)-1].Seconds + 1
	for _, f := range randomVideo(r, tail) {
		f.Seconds += end
		out = append(out, f)
	}
	return out
}

// near reports whether got is within tol of want at both ends.
func near(got []Range, want Range, tol float64) bool {
	return len(got) == 1 && math.Abs(got[0].Start-want.Start) <= tol && math.Abs(got[0].End-want.End) <= tol
}

func TestSegmentClipInCompilation(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 1))
	x, _ := openTestIndex(t)
	const long = 1200 // a 20-minute video, a frame a second
	entry := randomVideo(r, long)
	id := addOne(t, x, &store.Entry{Bank: "b", Kind: store.KindVideo, Frames: entry, Duration: long})
	addOne(t, x, &store.Entry{Bank: "b", Kind: store.KindVideo, Frames: randomVideo(r, 300), Duration: 300})

	cases := []struct {
		name         string
		speed        float64
		drop         int
		query, eWant Range
	}{
		{"as is", 1, 0, Range{60, 70}, Range{600, 610}},
		{"dropped frames", 1, 4, Range{60, 70}, Range{600, 610}},
		{"30% faster", 1.3, 0, Range{60, 70}, Range{600, 613}},
		{"25% slower", 0.75, 0, Range{60, 70}, Range{600, 607.5}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clip := retimed(r, entry, 600, c.speed, 10, 60, 8, c.drop)
			q := videoQuery(compilation(r, 60, clip, 600))
			res := mustMatch(t, x, q)
			// Far under the vPDQ rule's 80% of the query: only the segment
			// finds it.
			if res.Entries != 1 || len(res.Matches) != 1 || res.Matches[0].EntryID != id {
				t.Fatalf("matches %+v, want the segment of entry %d alone", res.Matches, id)
			}
			m := methodRow(t, res, MethodSegment)
			if m.Tier != TierMatch || m.Dihedral != pdq.Original {
				t.Errorf("segment %+v", m)
			}
			if !near(m.QueryRanges, c.query, 1.01) || !near(m.EntryRanges, c.eWant, 1.51) {
				t.Errorf("ranges: query %v, want %v; entry %v, want %v", m.QueryRanges, c.query, m.EntryRanges, c.eWant)
			}
			if math.Abs(m.Speed-c.speed) > 0.05 {
				t.Errorf("speed %v, want %v", m.Speed, c.speed)
			}
		})
	}

	// The other way round: the 20-minute video as the query finds a
	// stored 10-second excerpt of it.
	t.Run("excerpt stored", func(t *testing.T) {
		y, _ := openTestIndex(t)
		excerpt := retimed(r, entry, 300, 1, 10, 0, 8, 0)
		eid := addOne(t, y, &store.Entry{Bank: "b", Kind: store.KindVideo, Frames: excerpt, Duration: 10})
		res := mustMatch(t, y, videoQuery(entry))
		m := methodRow(t, res, MethodSegment)
		if m.EntryID != eid || !near(m.QueryRanges, Range{300, 310}, 1.01) || !near(m.EntryRanges, Range{0, 10}, 1.01) {
			t.Errorf("excerpt: %+v", m)
		}
	})

	// Far faster than the rules allow is no segment (twice as fast still
	// holds six frames within the tolerance of 1.43).
	t.Run("three times as fast", func(t *testing.T) {
		clip := retimed(r, entry, 600, 3, 10, 60, 8, 0)
		if res := mustMatch(t, x, videoQuery(compilation(r, 60, clip, 600))); res.Entries != 0 {
			t.Errorf("a clip at three times the speed matched: %+v", res.Matches)
		}
	})
}

func TestSegmentNeedsDistinctFrames(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 2))
	x, _ := openTestIndex(t)
	rules := DefaultRules()
	// A title card, a test pattern (16 equal rows) and a near-still (each
	// second 6 bits from the first) open an entry; unrelated frames follow.
	card := randPDQ(r)
	var bars [32]byte
	for i := range bars {
		bars[i] = 0xf0
	}
	still := randPDQ(r)
	var entry []store.Frame
	add := func(h [32]byte, q int) {
		entry = append(entry, store.Frame{Seconds: float64(len(entry)), Hash: h, Quality: q})
	}
	for range 6 {
		add(card, 90)
	}
	for range 6 {
		add(bars, 90)
	}
	for range 6 {
		add(flipBits(r, still, 6), 90)
	}
	for range 6 {
		add([32]byte{}, 0) // black
	}
	for _, f := range randomVideo(r, 20) {
		add(f.Hash, 90)
	}
	id := addOne(t, x, &store.Entry{Bank: "b", Kind: store.KindVideo, Frames: entry, Duration: float64(len(entry))})

	// Another video sharing the first 24 seconds exactly, then its own.
	shared := append(append([]store.Frame{}, entry[:24]...), randomVideo(r, 40)...)
	for i := range shared {
		shared[i].Seconds = float64(i)
	}
	if res := mustMatch(t, x, videoQuery(shared)); res.Entries != 0 {
		t.Errorf("title card, test pattern, still and black frames made a match: %+v", res.Matches)
	}
	// Four distinct frames of the entry's own are enough.
	own := append(append([]store.Frame{}, entry[:24+rules.SegmentMinFrames+2]...), randomVideo(r, 40)...)
	for i := range own {
		own[i].Seconds = float64(i)
	}
	m := methodRow(t, mustMatch(t, x, videoQuery(own)), MethodSegment)
	if m.EntryID != id || m.Frames < rules.SegmentMinFrames {
		t.Errorf("segment %+v", m)
	}
}

func TestSegmentMirrored(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 3))
	x, _ := openTestIndex(t)
	entry := randomVideo(r, 30)
	id := addOne(t, x, &store.Entry{Bank: "b", Kind: store.KindVideo, Frames: entry, Duration: 30})
	// The query's frames are unrelated as given; mirrored, they are the
	// entry's.
	q := videoQuery(randomVideo(r, 30))
	for _, f := range entry {
		q.Mirrored = append(q.Mirrored, flipBits(r, f.Hash, 6))
	}
	res := mustMatch(t, x, q)
	m := methodRow(t, res, MethodSegment)
	if m.EntryID != id || m.Dihedral != pdq.FlipY || !near(m.EntryRanges, Range{0, 30}, 1.01) {
		t.Errorf("mirrored: %+v", m)
	}
	if v := methodRow(t, res, MethodVideo); v.Dihedral != pdq.FlipY {
		t.Errorf("mirrored by the vPDQ rule: %+v", v)
	}
	// Without the mirrored hashes, nothing.
	q.Mirrored = nil
	if res := mustMatch(t, x, q); res.Entries != 0 {
		t.Errorf("unrelated frames matched: %+v", res.Matches)
	}
}

func TestSegmentRulesChecked(t *testing.T) {
	x, _ := openTestIndex(t)
	for _, bad := range []func(*Rules){
		func(r *Rules) { r.SegmentMinSpeed = 0 },
		func(r *Rules) { r.SegmentMinSpeed, r.SegmentMaxSpeed = 1.5, 1.2 },
		func(r *Rules) { r.SegmentPairsPerFrame = 0 },
		func(r *Rules) { r.SegmentTolerance = math.NaN() },
	} {
		rules := DefaultRules()
		bad(&rules)
		if _, err := New(x.Index, rules); err == nil {
			t.Errorf("rules %+v accepted", rules)
		}
	}
}

// BenchmarkSegment measures a video query with segment matching: a 10 s
// clip inside other footage against a 20-minute entry, the 20-minute
// video against its stored 10 s excerpt, and the 20-minute video against
// itself re-encoded, each with unrelated entries beside it.
func BenchmarkSegment(b *testing.B) {
	r := rand.New(rand.NewPCG(14, 4))
	const long = 1200
	entry := randomVideo(r, long)
	clip := compilation(r, 60, retimed(r, entry, 600, 1, 10, 60, 8, 0), 60)
	excerpt := retimed(r, entry, 300, 1, 10, 0, 8, 0)
	for _, c := range []struct {
		name   string
		stored [][]store.Frame
		query  []store.Frame
	}{
		{"clip-in-130s/20min-entry", [][]store.Frame{entry}, clip},
		{"20min/10s-excerpt", [][]store.Frame{excerpt}, entry},
		{"20min/20min", [][]store.Frame{entry}, retimed(r, entry, 0, 1, long, 0, 8, 0)},
	} {
		b.Run(c.name, func(b *testing.B) {
			x, _ := openTestIndex(b)
			for _, f := range c.stored {
				addOne(b, x, &store.Entry{Bank: "b", Kind: store.KindVideo, Frames: f, Duration: float64(len(f))})
			}
			for range 20 {
				addOne(b, x, &store.Entry{Bank: "b", Kind: store.KindVideo, Frames: randomVideo(r, 300), Duration: 300})
			}
			q := videoQuery(c.query)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := benchlat.CPUTime()
			for b.Loop() {
				res, err := x.m.Match(context.Background(), q)
				if err != nil || len(res.Matches) != 1 {
					b.Fatal(fmt.Sprint(err, res.Matches))
				}
			}
			benchlat.ReportCPU(b, cpu)
		})
	}
}
