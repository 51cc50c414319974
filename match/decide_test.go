package match

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/store"
)

// pdqCalibration is a calibration in which a PDQ distance d among
// negatives has share 1e-6 * 2^(d-20) at or below it, measured from 20 to
// 31 over 1e9 pairs, and every other method is unmeasured.
func pdqCalibration(t *testing.T) *Calibration {
	t.Helper()
	const pairs = 1e9
	counts := make([]int64, 32)
	prev := int64(0)
	for d := 20; d <= 31; d++ {
		surv := int64(1000 * math.Pow(2, float64(d-20))) // 1000 pairs (1e-6) at 20
		counts[d] = surv - prev
		prev = surv
	}
	cal, err := Calibrate("test", pairs, map[Method][]int64{MethodPDQ: counts})
	if err != nil {
		t.Fatal(err)
	}
	return cal
}

func TestCalibrationTail(t *testing.T) {
	cal := pdqCalibration(t)
	p := func(d int) float64 { return cal.Probability(&Evidence{Method: MethodPDQ, Distance: d}) }
	// Measured: the share of pairs at or below d.
	for _, d := range []int{20, 25, 31} {
		want := 1e-6 * math.Pow(2, float64(d-20))
		if got := p(d); math.Abs(got-want)/want > 1e-9 {
			t.Errorf("P(%d) = %.3g, want %.3g (measured)", d, got, want)
		}
	}
	// Past the measurements, the fitted slope (a factor 2 per bit) goes on.
	if got, want := p(10), 1e-6*math.Pow(2, -10); math.Abs(got-want)/want > 1e-6 {
		t.Errorf("P(10) = %.3g, want %.3g (extrapolated)", got, want)
	}
	// Beyond the measured range the weakest value holds, and stronger is
	// never likelier.
	if p(200) != p(31) {
		t.Errorf("P(200) = %g, want P(31) = %g", p(200), p(31))
	}
	for d := 1; d < 40; d++ {
		if p(d) < p(d-1) {
			t.Fatalf("P(%d) = %g < P(%d) = %g", d, p(d), d-1, p(d-1))
		}
	}
	if got := p(0); got < math.Pow(10, minLog10) {
		t.Errorf("P(0) = %g, under the floor", got)
	}
	// Unmeasured methods cannot match on their own; digests always do.
	if got := cal.Probability(&Evidence{Method: MethodPHash, Distance: 0}); got != 1 {
		t.Errorf("unmeasured method: %g, want 1", got)
	}
	if got := cal.Probability(&Evidence{Method: MethodDigest}); got > 1e-15 {
		t.Errorf("digest: %g", got)
	}
}

func TestCalibrationKeypointsAndRare(t *testing.T) {
	// Keypoints: more inliers is stronger. 10 pairs of 1e7 had 5 inliers,
	// 90 had 4, none more: from 6 up, the slope measured from 5 down to 0
	// (a factor 10 over 5 inliers).
	counts := make([]int64, 257)
	counts[4], counts[5] = 90, 10
	cal, err := Calibrate("test", 1e7, map[Method][]int64{MethodKeypoints: counts})
	if err != nil {
		t.Fatal(err)
	}
	p := func(n int) float64 { return cal.Probability(&Evidence{Method: MethodKeypoints, Inliers: n}) }
	if got := p(5); math.Abs(got-1e-6) > 1e-12 {
		t.Errorf("P(5 inliers) = %g, want 1e-6", got)
	}
	if got := p(4); math.Abs(got-1e-5) > 1e-11 {
		t.Errorf("P(4 inliers) = %g, want 1e-5", got)
	}
	if got, want := p(9), 1e-6*math.Pow(10, -4*0.2); math.Abs(got-want)/want > 1e-6 {
		t.Errorf("P(9 inliers) = %g, want %g", got, want)
	}
	// A method never seen among the negatives: fewer than minTailCount
	// pairs at its weakest value, and the shallow default slope beyond.
	cal, err = Calibrate("test", 1e8, map[Method][]int64{MethodDHash: make([]int64, 11)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cal.Probability(&Evidence{Method: MethodDHash, Distance: 10}), float64(minTailCount)/1e8; math.Abs(got-want)/want > 1e-9 {
		t.Errorf("unseen dHash at 10: %g, want %g", got, want)
	}
}

func TestCalibrationParse(t *testing.T) {
	cal := pdqCalibration(t)
	// Negatives whose smallest probabilities p give a share of 2p
	// (beyond minTailCount): factor 2.
	var smallest []float64
	for i := range 100 {
		smallest = append(smallest, float64(i+1)/2e9)
	}
	smallest = append(smallest, 0.1, 0.1, 0.1) // equal values count once, at their last
	cal.SetCombine(smallest)
	if math.Abs(cal.Combine-2) > 1e-6 {
		t.Errorf("combine %g, want 2", cal.Combine)
	}
	cal.SetCombine(smallest[:5]) // too few pairs to measure: 1
	if cal.Combine != 1 {
		t.Errorf("from 5 pairs: combine %g", cal.Combine)
	}
	cal.Combine = 1.1
	data, err := json.Marshal(cal)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseCalibration(data)
	if err != nil {
		t.Fatal(err)
	}
	for d := range 40 {
		e := Evidence{Method: MethodPDQ, Distance: d}
		if back.Probability(&e) != cal.Probability(&e) {
			t.Fatalf("distance %d: %g after a round trip, %g before", d, back.Probability(&e), cal.Probability(&e))
		}
	}
	if got := back.Score([]Evidence{{Probability: 1e-7}, {Probability: 1e-3}}); math.Abs(got-1.1e-7) > 1e-15 {
		t.Errorf("score %g, want 1.1e-7", got)
	}
	if got := back.Score([]Evidence{{Probability: 0.95}}); got != 1 {
		t.Errorf("score %g, want at most 1", got)
	}
	for _, bad := range []string{
		`{"pairs":0,"combine":1}`,
		`{"pairs":10,"combine":0.5}`,
		`{"pairs":10,"combine":1,"counts":{"pdq":[5,-1]}}`,
		`{"pairs":10,"combine":1,"counts":{"pdq":[5,6]}}`,
		`{"pairs":10,"combine":1,"counts":{"pdq":[]}}`,
		`{"pairs":`,
	} {
		if _, err := ParseCalibration([]byte(bad)); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
	if DefaultCalibration().Pairs < 10_000_000 {
		t.Errorf("the embedded calibration rests on %d pairs", DefaultCalibration().Pairs)
	}
}

// TestDecision checks one result per entry, its evidence order, and the
// tiers at the default, bank and request budgets.
func TestDecision(t *testing.T) {
	rules := DefaultRules()
	rules.Calibration = pdqCalibration(t)
	rules.Budget = 1e-6 // PDQ distance 20 and closer
	x := openIndexAt(t, t.TempDir()+"/m.db", rules, nil)
	x.commit(t, store.CreateBank(store.Bank{Name: "b"}), store.CreateBank(store.Bank{Name: "strict", FalseMatchBudget: 1e-10}))
	r := rand.New(rand.NewPCG(1, 2))
	h := randomPDQ(r)
	entry := func(bank string, flip int, more ...hashing.Hash) uint64 {
		return addOne(t, x, &store.Entry{Bank: bank, Kind: store.KindImage, Hashes: append([]hashing.Hash{{Type: hashing.PDQ, Bytes: flipBitsSlice(r, h[:], flip), Quality: 100}}, more...)})
	}
	digest := hashing.Hash{Type: hashing.MD5, Bytes: make([]byte, 16)}
	close := entry("b", 10, digest) // P ~ 1e-9
	edge := entry("b", 25)          // P 3.2e-5: review
	far := entry("b", 31)           // P 2e-3: beyond review
	strict := entry("strict", 10)
	q := Query{Hashes: []hashing.Hash{{Type: hashing.PDQ, Bytes: h[:], Quality: 100}, digest}, MinQuality: -1}
	res, err := x.m.Match(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint64]Match{}
	for _, m := range res.Matches {
		if _, dup := got[m.EntryID]; dup {
			t.Fatalf("entry %d returned twice", m.EntryID)
		}
		got[m.EntryID] = m
	}
	// One result for the entry with the same bytes, its digest first.
	if m, ok := got[close]; !ok || m.Tier != TierMatch || m.Best().Method != MethodDigest || len(m.Evidence) != 2 || m.Evidence[1].Method != MethodPDQ || m.Evidence[1].Distance != 10 {
		t.Fatalf("entry %d: %+v", close, m)
	}
	// Without the digest, PDQ decides.
	q.Hashes = q.Hashes[:1]
	tiers := func(q Query) map[uint64]Tier {
		t.Helper()
		res, err := x.m.Match(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		out := map[uint64]Tier{}
		for i, m := range res.Matches {
			out[m.EntryID] = m.Tier
			if i > 0 && (m.Tier < res.Matches[i-1].Tier || (m.Tier == res.Matches[i-1].Tier && m.Score < res.Matches[i-1].Score)) {
				t.Errorf("results out of order: %+v", res.Matches)
			}
			if m.Score != rules.Calibration.Score(m.Evidence) {
				t.Errorf("score %g, evidence gives %g", m.Score, rules.Calibration.Score(m.Evidence))
			}
		}
		return out
	}
	check := func(name string, q Query, want map[uint64]Tier) {
		t.Helper()
		got := tiers(q)
		for _, id := range []uint64{close, edge, far, strict} {
			if got[id] != want[id] {
				t.Errorf("%s: entry %d tier %v, want %v", name, id, got[id], want[id])
			}
		}
	}
	check("default", q, map[uint64]Tier{close: TierMatch})
	q.Review = true
	check("review", q, map[uint64]Tier{close: TierMatch, edge: TierReview, strict: TierReview})
	q.Review, q.Budget = false, 1e-2
	check("loose request", q, map[uint64]Tier{close: TierMatch, edge: TierMatch, far: TierMatch, strict: TierMatch})
	q.Budget = 1.5
	if _, err := x.m.Match(t.Context(), q); !errors.Is(err, ErrInvalid) {
		t.Errorf("budget 1.5: %v", err)
	}
	if _, err := New(x, Rules{Calibration: rules.Calibration}); !errors.Is(err, ErrInvalid) {
		t.Errorf("rules without a budget: %v", err)
	}
}

// flipBitsSlice returns a copy of b with n distinct bits flipped.
func flipBitsSlice(r *rand.Rand, b []byte, n int) []byte {
	out := append([]byte(nil), b...)
	for _, p := range r.Perm(len(b) * 8)[:n] {
		out[p/8] ^= 1 << (p % 8)
	}
	return out
}
