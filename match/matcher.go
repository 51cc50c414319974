package match

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/index"
	"github.com/mediamatch/mediamatch/internal/yield"
	"github.com/mediamatch/mediamatch/keypoint"
	"github.com/mediamatch/mediamatch/pdq"
	"github.com/mediamatch/mediamatch/pixels"
	"github.com/mediamatch/mediamatch/store"
)

// Query is one match request.
type Query struct {
	// Hashes are the query's hashes, at most one per type. A PDQ hash
	// carries its quality.
	Hashes []hashing.Hash
	// Dihedral, when set, holds the query image's eight PDQ variants in
	// pdq.Dihedral order; each is tried and the best reported.
	Dihedral []pdq.Hash
	// Regions are PDQ hashes of parts of an image query (region.Hashes
	// with region.Query), matched by Rules.RegionThresholds.
	Regions []hashing.RegionHash
	// Keypoints are an image query's local features (keypoint.Detect),
	// matched against image entries' keypoints when Types is empty or
	// names KeypointType; Width
	// and Height are the query image's size, for the part of the entry a
	// keypoint match reports.
	Keypoints     []keypoint.Point
	Width, Height int
	// MirroredKeypoints, when set, are the local features of the query's
	// mirror image (left to right), matched as Keypoints are: a mirrored
	// crop is found by them, reported with the variant pdq.FlipY.
	MirroredKeypoints []keypoint.Point
	// Thumb, when valid, is the image query's grey thumbnail
	// (pixels.QuerySide): a keypoint match is checked against an entry's
	// stored thumbnail with it (MethodPixels).
	Thumb pixels.Thumb
	// Frames, for a video query, are its sampled frames in time order. PDQ
	// matching then goes frame by frame: against image entries (a known
	// still shown in the video) and, by the vPDQ rule, against video
	// entries.
	Frames []store.Frame
	// Duration is the query video's length in seconds, when known; it ends
	// the span of the last frame.
	Duration float64
	// Mirrored, when set, holds the PDQ hashes of the video query's frames
	// mirrored left to right, one per frame of Frames: a mirrored re-upload
	// of a video entry is found by them (the vPDQ rule and segments),
	// reported with the variant pdq.FlipY.
	Mirrored []pdq.Hash
	// Banks limits the search; empty means every enabled bank.
	Banks []string
	// Within, when not empty, bounds the search to these banks whatever
	// Banks says: a bank named in Banks but not here is not found, and
	// with Banks empty the search covers the enabled banks among these.
	// The server sets it from a token limited to banks.
	Within []string
	// Thresholds override the largest matching distance per type.
	Thresholds map[string]int
	// MinQuality is the lowest PDQ quality a query hash or frame needs to be
	// used; negative means the type's default (50 for PDQ).
	MinQuality int
	// Types limits matching to these hash types; empty means all.
	Types []string
	// Limit caps the number of matches returned; 0 means DefaultLimit.
	Limit int
	// VideoQueryPercent and VideoEntryPercent are the vPDQ thresholds for a
	// video query against a video entry: the share (0 to 100) of the
	// query's distinct usable frame hashes found in the entry, and of the
	// entry's found in the query. Negative means the vpdq defaults.
	VideoQueryPercent, VideoEntryPercent float64
	// Budget is the false-match budget of this query: the largest Score of
	// a TierMatch result, in (0, 1]. 0 means each bank's own budget, or
	// else Rules.Budget.
	Budget float64
	// Review asks for TierReview results too.
	Review bool
}

// Match limits.
const (
	// DefaultLimit is the number of matches returned when a query sets none.
	DefaultLimit = 100
	// MaxLimit caps what a query may ask for: a near-blank query image can
	// match a large share of a bank, and the answer must stay small.
	MaxLimit = 1000
)

// Result is the answer to a Query.
type Result struct {
	// Matches are sorted best first: TierMatch before TierReview, then by
	// Score, then by entry id. One per entry.
	Matches []Match
	// LowQuality is set when the query's PDQ hash (for a video: every
	// frame) was below the minimum quality and so was not used.
	LowQuality bool
	// Truncated is set when more matches were found than the limit.
	Truncated bool
}

// Viewer gives the index's current state; *index.Index is one.
type Viewer interface {
	View() index.View
}

// Matcher matches queries against an index under one set of rules. It
// holds no state of its own: any number of goroutines may call Match.
type Matcher struct {
	idx   Viewer
	rules Rules
}

// New returns a matcher over idx with rules (see DefaultRules).
func New(idx Viewer, rules Rules) (*Matcher, error) {
	if rules.Calibration == nil {
		return nil, fmt.Errorf("%w: rules without a calibration", ErrInvalid)
	}
	if !(rules.Budget > 0 && rules.Budget <= 1) || !(rules.ReviewFactor >= 1) {
		return nil, fmt.Errorf("%w: budget %v and review factor %v, want a budget in (0, 1] and a factor of at least 1", ErrInvalid, rules.Budget, rules.ReviewFactor)
	}
	if rules.MaxVideoWork <= 0 {
		return nil, fmt.Errorf("%w: video work budget %d, want at least 1", ErrInvalid, rules.MaxVideoWork)
	}
	if !(rules.SegmentMinSpeed > 0 && rules.SegmentMinSpeed <= rules.SegmentMaxSpeed) || rules.SegmentPairsPerFrame < 1 || !(rules.SegmentTolerance >= 0) {
		return nil, fmt.Errorf("%w: segment speeds %v to %v, %d pairs per frame and tolerance %v, want speeds 0 < min <= max, at least 1 pair and a tolerance of at least 0",
			ErrInvalid, rules.SegmentMinSpeed, rules.SegmentMaxSpeed, rules.SegmentPairsPerFrame, rules.SegmentTolerance)
	}
	return &Matcher{idx: idx, rules: rules}, nil
}

// Rules returns the matcher's rules.
func (mt *Matcher) Rules() Rules { return mt.rules }

// pdqMinQuality is the quality below which stored frames are not searched.
var pdqMinQuality = func() int {
	t, err := hashing.Lookup(hashing.PDQ)
	if err != nil {
		panic(err)
	}
	return t.MinQuality
}()

// candidate is one entry's evidence so far, strongest per method.
type candidate struct {
	info     *index.EntryInfo
	evidence map[Method]Evidence
}

// matcher holds one Match call's state.
type matcher struct {
	ctx   context.Context
	rules *Rules
	v     index.View
	q     Query
	banks map[string]*store.Bank
	found map[uint64]*candidate
	// frameHits are image-query hits on video entries' frames: entry id
	// -> frame index -> best hit.
	frameHits map[uint64]map[int]frameHit
	// pdq is the query's whole PDQ hash, when of matchable quality.
	pdq    index.Hash
	hasPDQ bool
	// yield lets a long (video) match share the cores.
	yield yield.Counter
	// work is the video work done so far, against Rules.MaxVideoWork.
	work int64
	// entries are the image entries read in full so far (readImage; nil:
	// unreadable).
	entries map[uint64]*store.Entry
}

type frameHit struct {
	dist     int
	dihedral pdq.Dihedral
	region   bool
}

// threshold is the largest distance of type t that matches in bank b.
func (m *matcher) threshold(t hashing.Type, b *store.Bank) int {
	if v, ok := m.q.Thresholds[t.Name]; ok {
		return v
	}
	if v, ok := b.Thresholds[t.Name]; ok {
		return v
	}
	return t.Threshold
}

// radius is the search radius for type t: the largest threshold of any bank
// searched, or -1 when no bank is. Each candidate is then held to its own
// bank's threshold.
func (m *matcher) radius(t hashing.Type) int {
	r := -1
	for _, b := range m.banks {
		r = max(r, m.threshold(t, b))
	}
	return r
}

// accept returns the entry behind a search hit when it is in a searched
// bank and within that bank's threshold.
func (m *matcher) accept(t hashing.Type, id uint64, dist int) (*index.EntryInfo, bool) {
	info, ok := m.v.Entry(id)
	if !ok {
		return nil, false
	}
	b, ok := m.banks[info.Bank]
	if !ok || dist > m.threshold(t, b) {
		return nil, false
	}
	return info, true
}

// consider keeps e when it is the strongest evidence of its method for the
// entry.
func (m *matcher) consider(info *index.EntryInfo, e Evidence) {
	c := m.found[info.ID]
	if c == nil {
		c = &candidate{info: info, evidence: map[Method]Evidence{}}
		m.found[info.ID] = c
	}
	if old, ok := c.evidence[e.Method]; !ok || e.stronger(&old) {
		c.evidence[e.Method] = e
	}
}

// read reads an entry from the store for a full comparison; nil when it
// is gone (removed since the search) or unreadable.
func (m *matcher) read(id uint64) *store.Entry {
	e, err := m.v.Read(m.ctx, id)
	if err != nil {
		return nil
	}
	return e
}

// readImage is read for an image entry, kept for the rest of the call: the
// keypoint and pixel checks both read the few they compare (a video's
// frames are not kept so).
func (m *matcher) readImage(id uint64) *store.Entry {
	if e, ok := m.entries[id]; ok {
		return e
	}
	e := m.read(id)
	if m.entries == nil {
		m.entries = map[uint64]*store.Entry{}
	}
	m.entries[id] = e
	return e
}

// Match finds the entries that a query matches, one result per entry.
// Unknown banks or hash types, and hashes of the wrong length, are errors.
// It reads the index's current view without locking, and the store only
// for the few candidates it compares in full; it stops with ctx.
func (mt *Matcher) Match(ctx context.Context, q Query) (Result, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	v := mt.idx.View()

	m := &matcher{ctx: ctx, rules: &mt.rules, v: v, q: q, banks: map[string]*store.Bank{}, found: map[uint64]*candidate{}, frameHits: map[uint64]map[int]frameHit{}}
	if err := m.check(); err != nil {
		return Result{}, err
	}
	types := map[string]bool{}
	for _, name := range q.Types {
		types[name] = true
	}
	for _, h := range q.Hashes {
		if h.Type == hashing.PDQ && len(h.Bytes) == 32 {
			t, _ := hashing.Lookup(hashing.PDQ)
			if h.Quality >= m.minQuality(t) {
				m.pdq, m.hasPDQ = index.HashOf(h.Bytes), true
			}
		}
	}
	var res Result
	for _, h := range q.Hashes {
		if len(types) > 0 && !types[h.Type] {
			continue
		}
		low, err := m.matchHash(h)
		if err != nil {
			return Result{}, err
		}
		res.LowQuality = res.LowQuality || low
	}
	if len(q.Regions) > 0 && (len(types) == 0 || types[hashing.PDQ]) && m.rules.Seeks(MethodRegion) {
		m.matchRegions()
	}
	if len(q.Frames) > 0 && (len(types) == 0 || types[hashing.PDQ]) {
		low, err := m.matchFrames()
		if err != nil {
			return Result{}, err
		}
		res.LowQuality = low || res.LowQuality
	}
	if (len(q.Keypoints) > 0 || len(q.MirroredKeypoints) > 0) && (len(types) == 0 || types[KeypointType]) && m.rules.Seeks(MethodKeypoints) {
		m.matchKeypoints()
	}
	m.verifyPixels()
	m.resolveFrameHits()
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	res.Matches = m.decide()
	if len(res.Matches) > limit {
		res.Matches, res.Truncated = res.Matches[:limit], true
	}
	return res, nil
}

// check validates the query and resolves its banks.
func (m *matcher) check() error {
	q := m.q
	banks := m.v.Banks()
	within := func(name string) bool { return len(q.Within) == 0 || slices.Contains(q.Within, name) }
	if len(q.Banks) == 0 {
		for name, b := range banks {
			if !b.Disabled && within(name) {
				m.banks[name] = b
			}
		}
	} else {
		for _, name := range q.Banks {
			b, ok := banks[name]
			if !ok || !within(name) {
				return fmt.Errorf("%w: %q", store.ErrBankNotFound, store.Clip(name))
			}
			m.banks[name] = b
		}
	}
	for _, name := range q.Types {
		if name == KeypointType {
			continue
		}
		if _, err := hashing.Lookup(name); err != nil {
			return fmt.Errorf("%w: %v, or %s", ErrInvalid, err, KeypointType)
		}
	}
	for name, v := range q.Thresholds {
		t, err := hashing.Lookup(name)
		if err != nil {
			return fmt.Errorf("%w: threshold for %v", ErrInvalid, err)
		}
		if v < 0 || v > t.Bits {
			return fmt.Errorf("%w: %s threshold %d outside 0..%d", ErrInvalid, name, v, t.Bits)
		}
	}
	for _, p := range []float64{q.VideoQueryPercent, q.VideoEntryPercent} {
		if math.IsNaN(p) || p > 100 {
			return fmt.Errorf("%w: video match percentage %v outside 0..100", ErrInvalid, p)
		}
	}
	if !(q.Budget >= 0 && q.Budget <= 1) {
		return fmt.Errorf("%w: false-match budget %v outside (0, 1]", ErrInvalid, q.Budget)
	}
	return nil
}

// budget is the false-match budget for entries of bank b.
func (m *matcher) budget(b *store.Bank) float64 {
	switch {
	case m.q.Budget > 0:
		return m.q.Budget
	case b != nil && b.FalseMatchBudget > 0:
		return b.FalseMatchBudget
	}
	return m.rules.Budget
}

// decide turns each entry's evidence into one result: its score, its tier,
// its evidence strongest first; entries beyond the budget (or the review
// budget, when asked) are left out.
func (m *matcher) decide() []Match {
	cal := m.rules.Calibration
	var out []Match
	for id, c := range m.found {
		es := slices.Collect(maps.Values(c.evidence))
		for i := range es {
			es[i].Probability = cal.Probability(&es[i])
		}
		slices.SortFunc(es, func(a, b Evidence) int {
			return cmp.Or(cmp.Compare(a.Probability, b.Probability), cmp.Compare(a.Method, b.Method))
		})
		score := cal.Score(es)
		budget := m.budget(m.banks[c.info.Bank])
		var tier Tier
		switch {
		case score <= budget:
			tier = TierMatch
		case m.q.Review && score <= budget*m.rules.ReviewFactor:
			tier = TierReview
		default:
			continue
		}
		out = append(out, Match{EntryID: id, Bank: c.info.Bank, Labels: maps.Clone(c.info.Labels), Kind: c.info.Kind, Score: score, Tier: tier, Evidence: es})
	}
	slices.SortFunc(out, func(a, b Match) int {
		return cmp.Or(cmp.Compare(a.Tier, b.Tier), cmp.Compare(a.Score, b.Score), cmp.Compare(a.EntryID, b.EntryID))
	})
	return out
}

// matchHash matches one whole-media hash of the query, reporting whether
// it was skipped for low quality.
func (m *matcher) matchHash(h hashing.Hash) (lowQuality bool, err error) {
	t, err := hashing.Lookup(h.Type)
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(h.Bytes)*8 != t.Bits {
		return false, fmt.Errorf("%w: %s query hash of %d bytes, want %d", ErrInvalid, h.Type, len(h.Bytes), t.Bits/8)
	}
	if !m.rules.Seeks(methodOf(t.Name, false)) {
		return false, nil
	}
	if t.Exact {
		m.v.Exact(t.Name, h.Bytes, func(id uint64) {
			if info, ok := m.accept(t, id, 0); ok {
				m.consider(info, Evidence{Method: MethodDigest, Type: t.Name})
			}
		})
		return false, nil
	}
	if t.HasQuality && h.Quality < m.minQuality(t) {
		return true, nil
	}
	radius := m.radius(t)
	if radius < 0 {
		return false, nil
	}
	variants := []index.Hash{index.HashOf(h.Bytes)}
	if t.Name == hashing.PDQ && len(m.q.Dihedral) == pdq.NumDihedral {
		variants = variants[:0]
		for _, v := range m.q.Dihedral {
			variants = append(variants, index.HashOf(v[:]))
		}
	}
	for vi, v := range variants {
		if t.Name == hashing.PDQ && m.degenerate(&v) {
			continue
		}
		m.v.Search(t.Name, v, radius, func(r index.Ref, dist int) bool {
			info, ok := m.accept(t, r.Entry, dist)
			if !ok || !m.corroborated(t, info, r, dist) {
				return true
			}
			if t.Name == hashing.PDQ && m.degenerateHit(info, r) {
				return true
			}
			if r.Slot > 0 && info.Kind != store.KindVideo {
				// A region of a stored image: only the image as given is
				// tried against those.
				if vi == int(pdq.Original) {
					m.regionHit(t, info, Region{}, r, dist)
				}
				return true
			}
			if f := r.Frame(); f >= 0 {
				m.addFrameHit(r.Entry, f, frameHit{dist, pdq.Dihedral(vi), r.Slot%2 == 0})
				return true
			}
			m.consider(info, Evidence{Method: methodOf(t.Name, false), Type: t.Name, Distance: dist, Dihedral: pdq.Dihedral(vi)})
			return true
		})
	}
	return false, nil
}

// addFrameHit records an image query's hit on frame f of video entry id,
// keeping the closest per frame.
func (m *matcher) addFrameHit(id uint64, f int, h frameHit) {
	hits := m.frameHits[id]
	if hits == nil {
		hits = map[int]frameHit{}
		m.frameHits[id] = hits
	}
	if old, ok := hits[f]; !ok || h.dist < old.dist {
		hits[f] = h
	}
}

// regionHit considers a hit of a query hash (whole or region q) on hash r
// of an image entry, under Rules.RegionThresholds.
func (m *matcher) regionHit(t hashing.Type, info *index.EntryInfo, q Region, r index.Ref, dist int) {
	var e Region
	if k := r.Region(); k >= 0 {
		if k >= len(info.Regions) {
			return
		}
		e = Region{info.Regions[k].Kind, info.Regions[k].Box}
	}
	if t.Name != hashing.PDQ {
		// A 64-bit hash of an entry's window, corroborated already.
		m.consider(info, Evidence{Method: methodOf(t.Name, false), Type: t.Name, Distance: dist, QueryRegion: q, EntryRegion: e})
		return
	}
	limit, ok := m.rules.RegionThresholds[[2]hashing.RegionKind{q.Kind, e.Kind}]
	if !ok || dist > min(limit, m.threshold(t, m.banks[info.Bank])) {
		return
	}
	m.consider(info, Evidence{Method: MethodRegion, Type: t.Name, Distance: dist, QueryRegion: q, EntryRegion: e})
}

// matchRegions matches an image query's region hashes.
func (m *matcher) matchRegions() {
	t, _ := hashing.Lookup(hashing.PDQ)
	radius := m.radius(t)
	for _, qr := range m.q.Regions {
		if qr.Quality < m.minQuality(t) || qr.Kind == hashing.RegionWhole {
			continue
		}
		r := -1
		for pair, v := range m.rules.RegionThresholds {
			if pair[0] == qr.Kind {
				r = max(r, v)
			}
		}
		r = min(r, radius)
		if r < 0 {
			continue
		}
		q := Region{qr.Kind, qr.Box}
		h := index.HashOf(qr.Hash[:])
		if m.degenerate(&h) {
			continue
		}
		m.v.Search(t.Name, h, r, func(ref index.Ref, dist int) bool {
			info, ok := m.accept(t, ref.Entry, dist)
			if !ok || m.degenerateHit(info, ref) {
				return true
			}
			if info.Kind == store.KindVideo {
				// The picture inside a re-edited still, against a video's
				// frames: as the content regions of frames are.
				if limit, ok := m.rules.RegionThresholds[[2]hashing.RegionKind{qr.Kind, hashing.RegionWhole}]; ok && qr.Kind != hashing.RegionWindow && dist <= limit {
					if f := ref.Frame(); f >= 0 {
						m.addFrameHit(ref.Entry, f, frameHit{dist, pdq.Original, true})
					}
				}
				return true
			}
			m.regionHit(t, info, q, ref, dist)
			return true
		})
	}
}

// degenerate reports whether a PDQ hash has too few distinct rows to be
// evidence (Rules.MinDistinctRows).
func (m *matcher) degenerate(h *index.Hash) bool {
	return DistinctRows(h) < m.rules.MinDistinctRows
}

// degenerateHit reports whether the PDQ hash of an image entry that a
// search hit, its whole or one of its regions, is degenerate. A video's
// frames are left to the vPDQ rule.
func (m *matcher) degenerateHit(info *index.EntryInfo, r index.Ref) bool {
	if info.Kind == store.KindVideo {
		return false
	}
	if k := r.Region(); k >= 0 {
		return k < len(info.Regions) && m.degenerate(&info.Regions[k].PDQ)
	}
	return info.HasPDQ && m.degenerate(&info.PDQ)
}

// DistinctRows is the number of distinct values among a 256-bit PDQ
// hash's 16 rows of 16 bits (the signs of one row of its 16x16 block of
// DCT coefficients each).
func DistinctRows(h *index.Hash) int {
	var rows [16]uint16
	for i, w := range h {
		for j := range 4 {
			rows[4*i+j] = uint16(w >> (48 - 16*j))
		}
	}
	slices.Sort(rows[:])
	return len(slices.Compact(rows[:]))
}

// corroborated applies the corroboration rule to a hit of a 64-bit hash
// on hash r of an entry. A hit on a region of an image (a central window)
// is corroborated by the region's PDQ hash as well as the whole image's.
func (m *matcher) corroborated(t hashing.Type, info *index.EntryInfo, r index.Ref, dist int) bool {
	if t.Name == hashing.PDQ || t.Exact {
		return true
	}
	if m.hasPDQ && info.HasPDQ {
		d := index.Distance(&m.pdq, &info.PDQ)
		if k := r.Region(); info.Kind != store.KindVideo && k >= 0 && k < len(info.Regions) {
			d = min(d, index.Distance(&m.pdq, &info.Regions[k].PDQ))
		}
		return d <= m.rules.CorroborateDistance
	}
	return dist <= m.rules.UncorroboratedThreshold
}

func (m *matcher) minQuality(t hashing.Type) int {
	if m.q.MinQuality >= 0 {
		return m.q.MinQuality
	}
	return t.MinQuality
}
