package match

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/pdq"
	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/vpdq"
)

func randPDQ(r *rand.Rand) [32]byte {
	var h [32]byte
	for i := range h {
		h[i] = byte(r.Uint32())
	}
	return h
}

// flipBits flips n distinct bits of h.
func flipBits(r *rand.Rand, h [32]byte, n int) [32]byte {
	for _, p := range r.Perm(256)[:n] {
		h[p/8] ^= 1 << (p % 8)
	}
	return h
}

// randomVideo returns n frames one second apart with unrelated hashes.
func randomVideo(r *rand.Rand, n int) []store.Frame {
	out := make([]store.Frame, n)
	for i := range out {
		out[i] = store.Frame{Seconds: float64(i), Hash: randPDQ(r), Quality: 100}
	}
	return out
}

func videoQuery(frames []store.Frame) Query {
	return Query{Frames: frames, MinQuality: -1, VideoQueryPercent: -1, VideoEntryPercent: -1}
}

// onlyMatch checks that res is one match, of entry id, and returns its
// row of the vPDQ rule when it has one (a video query against a video
// entry also has a segment's), else its only row.
func onlyMatch(t *testing.T, res flatResult, id uint64) flatMatch {
	t.Helper()
	if res.Entries != 1 || len(res.Matches) == 0 || res.Matches[0].EntryID != id {
		t.Fatalf("matches %+v, want one of entry %d", res.Matches, id)
	}
	if len(res.Matches) == 1 {
		return res.Matches[0]
	}
	return methodRow(t, res, MethodVideo)
}

// methodRow returns res's row of method m.
func methodRow(t *testing.T, res flatResult, m Method) flatMatch {
	t.Helper()
	for _, r := range res.Matches {
		if r.Method == m {
			return r
		}
	}
	t.Fatalf("matches %+v, want one by %s", res.Matches, m)
	return flatMatch{}
}

func TestMatchVideoToVideo(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	x, _ := openTestIndex(t)
	entry := randomVideo(r, 20)
	id := addOne(t, x, &store.Entry{Bank: "b", Kind: store.KindVideo, Frames: entry, Duration: 20})
	addOne(t, x, &store.Entry{Bank: "b", Kind: store.KindVideo, Frames: randomVideo(r, 20), Duration: 20})

	// A re-encoded middle segment: seconds 5 to 12 of the entry, re-timed
	// from 0, each hash 10 bits off.
	var clip []store.Frame
	for i := 5; i <= 12; i++ {
		clip = append(clip, store.Frame{Seconds: float64(i - 5), Hash: flipBits(r, entry[i].Hash, 10), Quality: 90})
	}
	res, err := x.Match(videoQuery(clip))
	if err != nil {
		t.Fatal(err)
	}
	m := onlyMatch(t, res, id)
	if !m.HasPercent || m.QueryPercent != 100 || math.Abs(m.EntryPercent-40) > 1e-9 || m.Distance != 10 || m.Kind != store.KindVideo || m.Type != hashing.PDQ {
		t.Errorf("match %+v", m)
	}
	if !reflect.DeepEqual(m.QueryRanges, []Range{{0, 8}}) || !reflect.DeepEqual(m.EntryRanges, []Range{{5, 13}}) {
		t.Errorf("ranges: query %v entry %v", m.QueryRanges, m.EntryRanges)
	}

	// Unrelated frames match nothing, at any percentage.
	q := videoQuery(randomVideo(r, 10))
	q.VideoQueryPercent, q.VideoEntryPercent = 0, 0
	if res, _ := x.Match(q); len(res.Matches) != 0 {
		t.Errorf("unrelated video matched: %+v", res.Matches)
	}

	// Half the query unrelated: 50% of the query is found, under vPDQ's 80.
	half := append(append([]store.Frame{}, clip[:4]...), randomVideo(r, 4)...)
	for i := range half {
		half[i].Seconds = float64(i)
	}
	if res, _ := x.Match(videoQuery(half)); len(res.Matches) != 0 {
		t.Errorf("half-related video matched at the default threshold: %+v", res.Matches)
	}
	q = videoQuery(half)
	q.VideoQueryPercent = 50
	m = onlyMatch(t, mustMatch(t, x, q), id)
	if m.QueryPercent != 50 || !reflect.DeepEqual(m.QueryRanges, []Range{{0, 4}}) {
		t.Errorf("half match %+v", m)
	}
	// Asking for most of the entry too: 20% of it is not enough.
	q.VideoEntryPercent = 25
	if res, _ := x.Match(q); len(res.Matches) != 0 {
		t.Errorf("matched with an entry percentage over what is shared: %+v", res.Matches)
	}

	// A threshold per request applies to frames.
	q = videoQuery(clip)
	q.Thresholds = map[string]int{hashing.PDQ: 9}
	if res, _ := x.Match(q); len(res.Matches) != 0 {
		t.Errorf("frames 10 bits off matched at threshold 9: %+v", res.Matches)
	}

	// Still there after a reopen, and gone after a remove.
	x2 := x.reopen(t)
	onlyMatch(t, mustMatch(t, x2, videoQuery(clip)), id)
	x2.remove(t, id)
	if res := mustMatch(t, x2, videoQuery(clip)); len(res.Matches) != 0 {
		t.Errorf("removed entry matched: %+v", res.Matches)
	}
}

func TestMatchVideoQuality(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	x, _ := openTestIndex(t)
	entry := randomVideo(r, 10)
	for i := range entry[:5] {
		entry[i].Quality = 20 // kept, but not matched
	}
	id := addOne(t, x, &store.Entry{Bank: "b", Kind: store.KindVideo, Frames: entry})
	stored, err := x.st.Entry(context.Background(), id, store.ViewFull)
	if err != nil || !reflect.DeepEqual(stored.Frames, entry) {
		t.Fatalf("stored frames %v, %v", stored, err)
	}
	// Querying with the low-quality frames finds nothing.
	if res := mustMatch(t, x, videoQuery(entry[:5])); len(res.Matches) != 0 || !res.LowQuality {
		t.Errorf("low-quality frames: %+v", res)
	}
	// The good half matches, and only the good half counts on the entry's
	// side: 100%.
	m := onlyMatch(t, mustMatch(t, x, videoQuery(entry[5:])), id)
	if m.QueryPercent != 100 || m.EntryPercent != 100 {
		t.Errorf("match %+v", m)
	}
	// Duplicates count once: a query of one good frame repeated is 100%
	// of the query and 20% of the entry.
	dup := []store.Frame{entry[7], entry[7], entry[7]}
	dup[1].Seconds, dup[2].Seconds = 8, 9
	m = onlyMatch(t, mustMatch(t, x, videoQuery(dup)), id)
	if m.QueryPercent != 100 || m.EntryPercent != 20 {
		t.Errorf("duplicate frames: %+v", m)
	}
}

func TestMatchVideoAndImages(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	x, _ := openTestIndex(t)
	poster := randPDQ(r)
	imageID := addOne(t, x, &store.Entry{Bank: "b", Kind: store.KindImage, Hashes: []hashing.Hash{{Type: hashing.PDQ, Bytes: poster[:], Quality: 100}}})
	entry := randomVideo(r, 12)
	videoID := addOne(t, x, &store.Entry{Bank: "b", Kind: store.KindVideo, Frames: entry, Duration: 12})

	// A video showing the poster from second 3 to 6, framed differently:
	// the whole frames are far, their content regions close.
	query := randomVideo(r, 10)
	for i := 3; i < 6; i++ {
		query[i].Content, query[i].HasContent = flipBits(r, poster, 6), true
	}
	m := onlyMatch(t, mustMatch(t, x, videoQuery(query)), imageID)
	if m.Kind != store.KindImage || m.HasPercent || m.Distance != 6 || !reflect.DeepEqual(m.QueryRanges, []Range{{3, 6}}) {
		t.Errorf("poster match %+v", m)
	}

	// An image query close to the video's frame 7: the entry's span of it.
	still := flipBits(r, entry[7].Hash, 5)
	q := Query{Hashes: []hashing.Hash{{Type: hashing.PDQ, Bytes: still[:], Quality: 100}}, MinQuality: -1}
	m = onlyMatch(t, mustMatch(t, x, q), videoID)
	if m.Kind != store.KindVideo || m.Distance != 5 || !reflect.DeepEqual(m.EntryRanges, []Range{{7, 8}}) || len(m.QueryRanges) != 0 {
		t.Errorf("still match %+v", m)
	}
	// Its dihedral variants are tried too: the still mirrored.
	d := make([]pdq.Hash, pdq.NumDihedral)
	for i := range d {
		d[i] = randPDQ(r)
	}
	d[pdq.FlipX] = still
	q = Query{Hashes: []hashing.Hash{{Type: hashing.PDQ, Bytes: d[0][:], Quality: 100}}, Dihedral: d, MinQuality: -1}
	m = onlyMatch(t, mustMatch(t, x, q), videoID)
	if m.Dihedral != pdq.FlipX {
		t.Errorf("mirrored still: %+v", m)
	}
	// Hash types other than PDQ leave the frames alone.
	q.Types = []string{hashing.PHash}
	if res := mustMatch(t, x, q); len(res.Matches) != 0 {
		t.Errorf("phash-only query matched frames: %+v", res.Matches)
	}
}

// TestMatchVideoAgreesWithVPDQ checks the index's video-to-video rule
// against the vpdq package's reference implementation of it, on random
// videos that share some frames (some near, some duplicated, some of low
// quality): the same percentages and the same largest distance.
func TestMatchVideoAgreesWithVPDQ(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for trial := range 40 {
		x, _ := openTestIndex(t)
		entry := randomVideo(r, 5+r.IntN(30))
		for i := range entry {
			switch r.IntN(6) {
			case 0:
				entry[i].Quality = r.IntN(50)
			case 1:
				if i > 0 {
					entry[i].Hash = entry[i-1].Hash
				}
			}
		}
		query := randomVideo(r, 3+r.IntN(20))
		for i := range query {
			if r.IntN(3) > 0 {
				query[i].Hash = flipBits(r, entry[r.IntN(len(entry))].Hash, r.IntN(40))
				query[i].Quality = 40 + r.IntN(61)
			}
		}
		id := addOne(t, x, &store.Entry{Bank: "b", Kind: store.KindVideo, Frames: entry})
		q := videoQuery(query)
		q.VideoQueryPercent, q.VideoEntryPercent = 0, 0
		res := mustMatch(t, x, q)

		toVPDQ := func(fs []store.Frame) []vpdq.Frame {
			out := make([]vpdq.Frame, len(fs))
			for i, f := range fs {
				out[i] = vpdq.Frame{Index: i, Hash: f.Hash, Quality: f.Quality, Seconds: f.Seconds}
			}
			return out
		}
		want := vpdq.Compare(toVPDQ(query), toVPDQ(entry), vpdq.Options{QueryPercent: -1, EntryPercent: -1})
		var got *flatMatch
		for i := range res.Matches {
			if res.Matches[i].EntryID == id && res.Matches[i].HasPercent {
				got = &res.Matches[i]
			}
		}
		if want.MaxDistance < 0 {
			if got != nil {
				t.Errorf("trial %d: index matched %+v, vpdq finds no frame in common", trial, *got)
			}
			continue
		}
		if got == nil {
			t.Errorf("trial %d: no match, vpdq says %.1f%% / %.1f%%", trial, want.QueryPercent, want.EntryPercent)
			continue
		}
		if math.Abs(got.QueryPercent-want.QueryPercent) > 1e-9 || math.Abs(got.EntryPercent-want.EntryPercent) > 1e-9 || got.Distance != want.MaxDistance {
			t.Errorf("trial %d: index %.2f%% / %.2f%% at %d, vpdq %.2f%% / %.2f%% at %d", trial,
				got.QueryPercent, got.EntryPercent, got.Distance, want.QueryPercent, want.EntryPercent, want.MaxDistance)
		}
	}
}

// TestMatchVideoWorkBudget: a video query priced over Rules.MaxVideoWork
// fails with ErrOverBudget, one within it matches.
func TestMatchVideoWorkBudget(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 12))
	rules := thresholdRules(t)
	rules.MaxVideoWork = 3 * 100 * 100
	path := filepath.Join(t.TempDir(), "mediamatch.db")
	x := openIndexAt(t, path, rules, nil)
	x.commit(t, store.CreateBank(store.Bank{Name: "b"}))
	entry := randomVideo(r, 100)
	id := addOne(t, x, &store.Entry{Bank: "b", Kind: store.KindVideo, Frames: entry, Duration: 100})
	query := videoQuery(entry)
	onlyMatch(t, mustMatch(t, x, query), id) // 100 x 100 pairs, and 100 hashes found
	for i := range 2 {
		more := slices.Clone(entry)
		more[0].Seconds = 0.1 * float64(i+1)
		addOne(t, x, &store.Entry{Bank: "b", Kind: store.KindVideo, Frames: more, Duration: 100})
	}
	if _, err := x.Match(query); !errors.Is(err, ErrOverBudget) {
		t.Fatalf("100 frames against three of 100, with a budget of 30,000 pairs: %v, want ErrOverBudget", err)
	}
	if _, err := New(x.Index, func() Rules { r := rules; r.MaxVideoWork = 0; return r }()); !errors.Is(err, ErrInvalid) {
		t.Errorf("rules without a video work budget: %v, want ErrInvalid", err)
	}
}

// BenchmarkVideoCompare measures the frame-by-frame comparison that
// Rules.MaxVideoWork budgets: a query of n frames against one entry of n
// frames that all match, in frame pairs a second.
func BenchmarkVideoCompare(b *testing.B) {
	const n = 4000
	r := rand.New(rand.NewPCG(7, 13))
	x, _ := openTestIndex(b)
	entry := randomVideo(r, n)
	addOne(b, x, &store.Entry{Bank: "b", Kind: store.KindVideo, Frames: entry, Duration: n})
	query := videoQuery(entry)
	b.ResetTimer()
	for b.Loop() {
		if _, err := x.Match(query); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*n)*float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
}

// TestMatchStillInManyVideos: an image query found in the frames of more
// videos than Rules.MaxVideoCandidates reads only that many, those showing
// it most.
func TestMatchStillInManyVideos(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 14))
	rules := thresholdRules(t)
	rules.MaxVideoCandidates = 2
	x := openIndexAt(t, filepath.Join(t.TempDir(), "mediamatch.db"), rules, nil)
	x.commit(t, store.CreateBank(store.Bank{Name: "b"}))
	still := randPDQ(r)
	var most []uint64
	for shown := 1; shown <= 4; shown++ { // videos showing the still in 1 to 4 frames
		frames := randomVideo(r, 8)
		for i := range shown {
			frames[i].Hash = still
		}
		if id := addOne(t, x, &store.Entry{Bank: "b", Kind: store.KindVideo, Frames: frames, Duration: 8}); shown > 2 {
			most = append(most, id)
		}
	}
	res := mustMatch(t, x, Query{Hashes: []hashing.Hash{{Type: hashing.PDQ, Bytes: still[:], Quality: 100}}, MinQuality: -1})
	var got []uint64
	for _, m := range res.Matches {
		got = append(got, m.EntryID)
	}
	slices.Sort(got)
	if !slices.Equal(got, most) {
		t.Errorf("matched %v, want the two videos showing the still most, %v", got, most)
	}
}
