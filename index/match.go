package index

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/keypoint"
	"github.com/mediamatch/mediamatch/pdq"
	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/vpdq"
)

// Query is one match request.
type Query struct {
	// Hashes are the query's hashes, at most one per type. A PDQ hash
	// carries its quality.
	Hashes []hashing.Hash
	// Dihedral, when set, holds the query image's eight PDQ variants in
	// pdq.Dihedral order; each is tried and the best reported.
	Dihedral []pdq.Hash
	// Regions are PDQ hashes of parts of an image query (hashing.Regions
	// with QueryRegions), matched by RegionThresholds.
	Regions []hashing.RegionHash
	// Keypoints are an image query's local features (keypoint.Detect),
	// matched against image entries' keypoints when Types is empty; Width
	// and Height are the query image's size, for the part of the entry a
	// keypoint match reports.
	Keypoints     []keypoint.Point
	Width, Height int
	// Frames, for a video query, are its sampled frames in time order. PDQ
	// matching then goes frame by frame: against image entries (a known
	// still shown in the video) and, by the vPDQ rule, against video
	// entries.
	Frames []store.Frame
	// Duration is the query video's length in seconds, when known; it ends
	// the span of the last frame.
	Duration float64
	// Banks limits the search; empty means every enabled bank.
	Banks []string
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
}

// Match limits.
const (
	// DefaultLimit is the number of matches returned when a query sets none.
	DefaultLimit = 100
	// MaxLimit caps what a query may ask for: a near-blank query image can
	// match a large share of a bank, and the answer must stay small.
	MaxLimit = 1000
	// maxVideoCandidates caps the video entries compared frame by frame
	// with one video query, those with the most frame hits first.
	maxVideoCandidates = 1000
	// rangeGap is the longest gap, in seconds, between two matched spans
	// of a video that are reported as one range: one missed sample at one
	// frame per second.
	rangeGap = 1.0
)

// Range is a span of a video in seconds from its start.
type Range struct {
	Start, End float64
}

// Match is one entry that a query matched with one hash type.
type Match struct {
	EntryID  uint64
	Bank     string
	Labels   map[string]string
	Kind     store.MediaKind
	Type     string
	Distance int
	// Dihedral is the variant of the query that matched; pdq.Original
	// when the query matched as given or the type has no variants.
	Dihedral pdq.Dihedral
	// QueryRanges, for a video query, are the spans of the query whose
	// frames matched the entry.
	QueryRanges []Range
	// EntryRanges, for a video entry, are the spans of the entry whose
	// frames the query matched.
	EntryRanges []Range
	// QueryPercent and EntryPercent are set, with HasPercent, for a video
	// query matched to a video entry: the vPDQ shares of distinct usable
	// frame hashes found in the other video.
	QueryPercent, EntryPercent float64
	HasPercent                 bool
	// QueryRegion and EntryRegion say which parts of the two images
	// matched; the zero values mean the whole image.
	QueryRegion, EntryRegion Region
	// Inliers, for a match of Type KeypointIndex, is the number of query
	// keypoints that agree on where the query lies in the entry
	// (EntryRegion); Distance is then their mean descriptor distance.
	Inliers int
}

// Region is a part of an image that matched.
type Region struct {
	Kind hashing.RegionKind
	Box  hashing.Box
}

// Corroboration: the rule for the 64-bit hashes (pHash, dHash). On their
// own they collide far more often than PDQ (on the robustness corpus, dHash
// at distance 10 matched 0.13% of unrelated pairs, PDQ at 31 none), so a
// pHash or dHash match is reported only when PDQ agrees loosely: the
// query's and the entry's whole-image PDQ hashes within CorroborateDistance
// (unrelated images are about 128 apart; a crop of 5% moves PDQ about 66
// while pHash stays close).
// When either side has no PDQ hash of matchable quality, the 64-bit hash
// must instead be within UncorroboratedThreshold.
var (
	CorroborateDistance     = 96
	UncorroboratedThreshold = 4
)

// RegionThresholds are the largest PDQ distances at which a region hash of
// the query (first) matches a hash of an entry (second); pairs not listed
// do not match, and whole against whole uses the bank's threshold. Each is
// also capped by that threshold. Every extra pair tried is another chance of
// a false match; these values kept the false-match rate on the robustness
// corpus at plain PDQ's (BENCHMARKS.md gives the calibration), and the
// collage quarters and crop windows, the likeliest to collide, are held to 28.
var RegionThresholds = map[[2]hashing.RegionKind]int{
	{hashing.RegionWhole, hashing.RegionTrimmed}:   31,
	{hashing.RegionWhole, hashing.RegionContent}:   31,
	{hashing.RegionWhole, hashing.RegionWindow}:    31,
	{hashing.RegionTrimmed, hashing.RegionWhole}:   31,
	{hashing.RegionContent, hashing.RegionWhole}:   31,
	{hashing.RegionTrimmed, hashing.RegionTrimmed}: 31,
	{hashing.RegionTrimmed, hashing.RegionContent}: 31,
	{hashing.RegionContent, hashing.RegionTrimmed}: 31,
	{hashing.RegionContent, hashing.RegionContent}: 31,
	{hashing.RegionTrimmed, hashing.RegionWindow}:  28,
	{hashing.RegionContent, hashing.RegionWindow}:  28,
	{hashing.RegionWindow, hashing.RegionWhole}:    28,
}

// Result is the answer to a Query.
type Result struct {
	// Matches are sorted best first: by distance, then hash type order,
	// then entry id. At most one per entry and hash type.
	Matches []Match
	// LowQuality is set when the query's PDQ hash (for a video: every
	// frame) was below the minimum quality and so was not used.
	LowQuality bool
	// Truncated is set when more matches were found than the limit.
	Truncated bool
}

// pdqMinQuality is the quality below which stored frames are not searched.
var pdqMinQuality = func() int {
	t, err := hashing.Lookup(hashing.PDQ)
	if err != nil {
		panic(err)
	}
	return t.MinQuality
}()

// matcher holds one Match call's state.
type matcher struct {
	ctx   context.Context
	x     *Index
	v     *view
	q     Query
	banks map[string]*store.Bank
	best  map[matchKey]Match
	// frameHits are image-query hits on video entries' frames: entry id
	// -> frame index -> best hit.
	frameHits map[uint64]map[int]frameHit
	// pdq is the query's whole PDQ hash, when of matchable quality.
	pdq    Hash
	hasPDQ bool
	// yield lets a long (video) match share the cores.
	yield yielder
}

type frameHit struct {
	dist     int
	dihedral pdq.Dihedral
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
func (m *matcher) accept(t hashing.Type, id uint64, dist int) (*entryInfo, bool) {
	info := m.entry(id)
	if info == nil {
		return nil, false
	}
	b, ok := m.banks[info.bank]
	if !ok || dist > m.threshold(t, b) {
		return nil, false
	}
	return info, true
}

func (m *matcher) consider(c Match) {
	k := matchKey{c.EntryID, c.Type}
	if old, ok := m.best[k]; !ok || c.Distance < old.Distance || (c.Distance == old.Distance && c.Dihedral < old.Dihedral) {
		m.best[k] = c
	}
}

// entry returns the info of an entry the view shows, or nil.
func (m *matcher) entry(id uint64) *entryInfo {
	info := m.v.cat.get(id)
	if !info.visibleAt(m.v.rev) {
		return nil
	}
	return info
}

// search calls fn for every hash of type typ within radius of q, in every
// segment of the view.
func (m *matcher) search(typ string, q Hash, radius int, fn func(ref uint64, dist int) bool) {
	for _, s := range m.v.segments {
		if srch := s.search[typ]; srch != nil {
			stop := false
			srch.Search(q, radius, func(r uint64, d int) bool {
				if !fn(r, d) {
					stop = true
					return false
				}
				return true
			})
			if stop {
				return
			}
		}
	}
}

// read reads an entry from the store for a full comparison; nil when it
// is gone (removed since the search) or unreadable.
func (m *matcher) read(id uint64) *store.Entry {
	e, err := m.x.src.Entry(m.ctx, id, store.ViewFull)
	if err != nil {
		return nil
	}
	return e
}

// Match finds the entries that a query matches. Unknown banks or hash types,
// and hashes of the wrong length, are errors. It reads the index's current
// view without locking, and the store only for the few candidates it
// compares in full; it stops with ctx.
func (x *Index) Match(ctx context.Context, q Query) (Result, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	v := x.view.Load()

	m := &matcher{ctx: ctx, x: x, v: v, q: q, banks: map[string]*store.Bank{}, best: map[matchKey]Match{}, frameHits: map[uint64]map[int]frameHit{}}
	if len(q.Banks) == 0 {
		for name, b := range v.banks {
			if !b.Disabled {
				m.banks[name] = b
			}
		}
	} else {
		for _, name := range q.Banks {
			b, ok := v.banks[name]
			if !ok {
				return Result{}, fmt.Errorf("%w: %q", store.ErrBankNotFound, store.Clip(name))
			}
			m.banks[name] = b
		}
	}
	types := map[string]bool{}
	for _, name := range q.Types {
		if _, err := hashing.Lookup(name); err != nil {
			return Result{}, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		types[name] = true
	}
	for name, v := range q.Thresholds {
		t, err := hashing.Lookup(name)
		if err != nil {
			return Result{}, fmt.Errorf("%w: threshold for %v", ErrInvalid, err)
		}
		if v < 0 || v > t.Bits {
			return Result{}, fmt.Errorf("%w: %s threshold %d outside 0..%d", ErrInvalid, name, v, t.Bits)
		}
	}
	for _, p := range []float64{q.VideoQueryPercent, q.VideoEntryPercent} {
		if math.IsNaN(p) || p > 100 {
			return Result{}, fmt.Errorf("%w: video match percentage %v outside 0..100", ErrInvalid, p)
		}
	}

	for _, h := range q.Hashes {
		if h.Type == hashing.PDQ && len(h.Bytes) == 32 {
			t, _ := hashing.Lookup(hashing.PDQ)
			if h.Quality >= m.minQuality(t) {
				m.pdq, m.hasPDQ = toHash(h.Bytes), true
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
	if len(q.Regions) > 0 && (len(types) == 0 || types[hashing.PDQ]) {
		m.matchRegions()
	}
	if len(q.Frames) > 0 && (len(types) == 0 || types[hashing.PDQ]) {
		res.LowQuality = m.matchFrames() || res.LowQuality
	}
	if len(q.Keypoints) > 0 && len(types) == 0 {
		m.matchKeypoints()
	}
	m.resolveFrameHits()
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}

	order := map[string]int{}
	for i, t := range hashing.Types() {
		order[t.Name] = i
	}
	order[KeypointIndex] = len(order)
	for _, c := range m.best {
		res.Matches = append(res.Matches, c)
	}
	slices.SortFunc(res.Matches, func(a, b Match) int {
		return cmp.Or(cmp.Compare(a.Distance, b.Distance), cmp.Compare(order[a.Type], order[b.Type]), cmp.Compare(a.EntryID, b.EntryID))
	})
	if len(res.Matches) > limit {
		res.Matches, res.Truncated = res.Matches[:limit], true
	}
	return res, nil
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
	if t.Exact {
		key := digestKey(h.Bytes)
		for _, s := range m.v.segments {
			s.exactIDs(t.Name, key, func(id uint64) {
				if info, ok := m.accept(t, id, 0); ok {
					m.consider(m.x.match(id, info, t.Name, 0, pdq.Original))
				}
			})
		}
		return false, nil
	}
	if t.HasQuality && h.Quality < m.minQuality(t) {
		return true, nil
	}
	radius := m.radius(t)
	if radius < 0 {
		return false, nil
	}
	variants := []Hash{toHash(h.Bytes)}
	if t.Name == hashing.PDQ && len(m.q.Dihedral) == pdq.NumDihedral {
		variants = variants[:0]
		for _, v := range m.q.Dihedral {
			variants = append(variants, toHash(v[:]))
		}
	}
	for vi, v := range variants {
		m.search(t.Name, v, radius, func(r uint64, dist int) bool {
			id, slot := splitRef(r)
			info, ok := m.accept(t, id, dist)
			if !ok || !m.corroborated(t, info, slot, dist) {
				return true
			}
			if slot > 0 && info.kind != store.KindVideo {
				// A region of a stored image: only the image as given is
				// tried against those.
				if vi == int(pdq.Original) {
					m.regionHit(t, id, info, Region{}, slot, dist)
				}
				return true
			}
			if f := frameOfSlot(slot); f >= 0 {
				m.addFrameHit(id, f, frameHit{dist, pdq.Dihedral(vi)})
				return true
			}
			m.consider(m.x.match(id, info, t.Name, dist, pdq.Dihedral(vi)))
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

// regionHit considers a hit of a query hash (whole or region q) on slot of
// an image entry, under RegionThresholds.
func (m *matcher) regionHit(t hashing.Type, id uint64, info *entryInfo, q Region, slot, dist int) {
	var e Region
	if slot > 0 {
		if slot-1 >= len(info.regions) {
			return
		}
		e = Region{info.regions[slot-1].kind, info.regions[slot-1].box}
	}
	limit, ok := RegionThresholds[[2]hashing.RegionKind{q.Kind, e.Kind}]
	if !ok || dist > min(limit, m.threshold(t, m.banks[info.bank])) {
		return
	}
	c := m.x.match(id, info, t.Name, dist, pdq.Original)
	c.QueryRegion, c.EntryRegion = q, e
	m.consider(c)
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
		for pair, v := range RegionThresholds {
			if pair[0] == qr.Kind {
				r = max(r, v)
			}
		}
		r = min(r, radius)
		if r < 0 {
			continue
		}
		q := Region{qr.Kind, qr.Box}
		m.search(t.Name, toHash(qr.Hash[:]), r, func(ref uint64, dist int) bool {
			id, slot := splitRef(ref)
			info, ok := m.accept(t, id, dist)
			if !ok {
				return true
			}
			if info.kind == store.KindVideo {
				// The picture inside a re-edited still, against a video's
				// frames: as the content regions of frames are.
				if limit, ok := RegionThresholds[[2]hashing.RegionKind{qr.Kind, hashing.RegionWhole}]; ok && qr.Kind != hashing.RegionWindow && dist <= limit {
					if f := frameOfSlot(slot); f >= 0 {
						m.addFrameHit(id, f, frameHit{dist, pdq.Original})
					}
				}
				return true
			}
			m.regionHit(t, id, info, q, slot, dist)
			return true
		})
	}
}

// corroborated applies the corroboration rule to a hit of a 64-bit hash
// on slot of an entry. A hit on a region of an image (a central window) is
// corroborated by the region's PDQ hash as well as the whole image's.
func (m *matcher) corroborated(t hashing.Type, info *entryInfo, slot, dist int) bool {
	if t.Name == hashing.PDQ || t.Exact {
		return true
	}
	if m.hasPDQ && info.hasPDQ {
		d := distance(&m.pdq, &info.pdq, 4)
		if info.kind != store.KindVideo && slot > 0 && slot-1 < len(info.regions) {
			d = min(d, distance(&m.pdq, &info.regions[slot-1].pdq, 4))
		}
		return d <= CorroborateDistance
	}
	return dist <= UncorroboratedThreshold
}

func (m *matcher) minQuality(t hashing.Type) int {
	if m.q.MinQuality >= 0 {
		return m.q.MinQuality
	}
	return t.MinQuality
}

// resolveFrameHits turns an image query's hits on video frames into one
// match per video entry, with the spans of the entry that matched.
func (m *matcher) resolveFrameHits() {
	for id, hits := range m.frameHits {
		if m.ctx.Err() != nil {
			return
		}
		e := m.read(id)
		if e == nil {
			continue // removed since the search
		}
		frames := spans(e.Frames, e.Duration)
		best := frameHit{dist: math.MaxInt}
		for _, h := range hits {
			if h.dist < best.dist || (h.dist == best.dist && h.dihedral < best.dihedral) {
				best = h
			}
		}
		info := m.entry(id)
		if info == nil {
			continue
		}
		c := m.x.match(id, info, hashing.PDQ, best.dist, best.dihedral)
		c.EntryRanges = ranges(frames, func(i int) bool { _, ok := hits[i]; return ok })
		m.consider(c)
	}
}

// vframe is a video frame as matching sees it: its span and its hashes
// (the whole frame's, then the content region's when it has one).
type vframe struct {
	index      int // in the video's frame list
	start, end float64
	quality    int
	hashes     [2]Hash
	n          int
}

// spans gives each frame the span until the next sampled frame (or the end
// of the video; one second for a last frame of unknown length).
func spans(frames []store.Frame, duration float64) []vframe {
	out := make([]vframe, len(frames))
	for i, f := range frames {
		v := vframe{index: i, start: f.Seconds, quality: f.Quality, n: 1}
		v.hashes[0] = toHash(f.Hash[:])
		if f.HasContent {
			v.hashes[1] = toHash(f.Content[:])
			v.n = 2
		}
		switch {
		case i+1 < len(frames):
			v.end = max(frames[i+1].Seconds, f.Seconds)
		case duration > f.Seconds:
			v.end = duration
		default:
			v.end = f.Seconds + 1
		}
		out[i] = v
	}
	return out
}

// usable keeps the frames of matchable quality.
func usable(frames []vframe, minQ int) []vframe {
	return slices.DeleteFunc(frames, func(f vframe) bool { return f.quality < minQ })
}

// frameDistance is the smallest distance between any hash of a and any of b.
func frameDistance(a, b *vframe) int {
	d := math.MaxInt
	for i := range a.n {
		for j := range b.n {
			d = min(d, distance(&a.hashes[i], &b.hashes[j], 4))
		}
	}
	return d
}

// ranges merges the spans of the frames for which matched(index) holds.
func ranges(frames []vframe, matched func(i int) bool) []Range {
	var out []Range
	for _, f := range frames {
		if !matched(f.index) {
			continue
		}
		if n := len(out); n > 0 && f.start-out[n-1].End <= rangeGap {
			out[n-1].End = max(out[n-1].End, f.end)
			continue
		}
		out = append(out, Range{f.start, f.end})
	}
	return out
}

// matchFrames matches a video query frame by frame, reporting whether no
// frame was of matchable quality.
func (m *matcher) matchFrames() (lowQuality bool) {
	t, _ := hashing.Lookup(hashing.PDQ)
	minQ := m.minQuality(t)
	query := usable(spans(m.q.Frames, m.q.Duration), minQ)
	if len(query) == 0 {
		return true
	}
	radius := m.radius(t)
	if radius < 0 {
		return false
	}
	// Each distinct hash is searched once, for all the frames that have it.
	byHash := map[Hash][]int{} // hash -> positions in query
	for qi, f := range query {
		for k := range f.n {
			byHash[f.hashes[k]] = append(byHash[f.hashes[k]], qi)
		}
	}
	imageHits := map[uint64]map[int]int{} // image entry -> query position -> best distance
	videoHits := map[uint64]int{}         // video entry -> hits
	for h, qis := range byHash {
		if m.ctx.Err() != nil {
			return false
		}
		m.yield.did(yieldEvery / 64) // a search costs about as many comparisons as it verifies, often fewer
		m.search(t.Name, h, radius, func(r uint64, dist int) bool {
			id, slot := splitRef(r)
			info, ok := m.accept(t, id, dist)
			if !ok {
				return true
			}
			if info.kind == store.KindVideo {
				if slot > 0 {
					videoHits[id]++
				}
				return true
			}
			if slot > 0 {
				return true // an image's region: matched by the image's own rules, not frame by frame
			}
			hits := imageHits[id]
			if hits == nil {
				hits = map[int]int{}
				imageHits[id] = hits
			}
			for _, qi := range qis {
				if old, ok := hits[qi]; !ok || dist < old {
					hits[qi] = dist
				}
			}
			return true
		})
	}
	for id, hits := range imageHits {
		info := m.entry(id)
		if info == nil {
			continue
		}
		c := m.x.match(id, info, t.Name, math.MaxInt, pdq.Original)
		matched := map[int]bool{}
		for qi, d := range hits {
			c.Distance = min(c.Distance, d)
			matched[query[qi].index] = true
		}
		c.QueryRanges = ranges(query, func(i int) bool { return matched[i] })
		m.consider(c)
	}
	m.compareVideos(t, query, videoHits, minQ)
	return false
}

// compareVideos applies the vPDQ rule to the video entries that some query
// frame hit.
func (m *matcher) compareVideos(t hashing.Type, query []vframe, hits map[uint64]int, minQ int) {
	ids := make([]uint64, 0, len(hits))
	for id := range hits {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b uint64) int { return cmp.Or(cmp.Compare(hits[b], hits[a]), cmp.Compare(a, b)) })
	if len(ids) > maxVideoCandidates {
		ids = ids[:maxVideoCandidates]
	}
	qThreshold, eThreshold := m.q.VideoQueryPercent, m.q.VideoEntryPercent
	if qThreshold < 0 {
		qThreshold = vpdq.DefaultQueryPercent
	}
	if eThreshold < 0 {
		eThreshold = vpdq.DefaultEntryPercent
	}
	for _, id := range ids {
		if m.ctx.Err() != nil {
			return
		}
		info := m.entry(id)
		if info == nil {
			continue
		}
		e := m.read(id)
		if e == nil {
			continue // removed since the search
		}
		threshold := m.threshold(t, m.banks[info.bank])
		entry := usable(spans(e.Frames, e.Duration), minQ)
		qMatched, eMatched := map[int]bool{}, map[int]bool{}
		maxDist := -1 // the largest of the matched query frames' best distances
		for qi := range query {
			m.yield.did(len(entry))
			if qi%256 == 255 && m.ctx.Err() != nil {
				return
			}
			best := -1
			for ei := range entry {
				d := frameDistance(&query[qi], &entry[ei])
				if d > threshold {
					continue
				}
				eMatched[entry[ei].index] = true
				if best < 0 || d < best {
					best = d
				}
			}
			if best >= 0 {
				qMatched[query[qi].index] = true
				maxDist = max(maxDist, best)
			}
		}
		if maxDist < 0 {
			continue
		}
		qp := distinctShare(query, qMatched)
		ep := distinctShare(entry, eMatched)
		if qp < qThreshold || ep < eThreshold {
			continue
		}
		c := m.x.match(id, info, t.Name, maxDist, pdq.Original)
		c.QueryRanges = ranges(query, func(i int) bool { return qMatched[i] })
		c.EntryRanges = ranges(entry, func(i int) bool { return eMatched[i] })
		c.QueryPercent, c.EntryPercent, c.HasPercent = qp, ep, true
		m.consider(c)
	}
}

// distinctShare is the vPDQ percentage: of the distinct whole-frame hashes
// among frames, the share (0 to 100) held by a matched frame.
func distinctShare(frames []vframe, matched map[int]bool) float64 {
	distinct := map[Hash]bool{}
	for _, f := range frames {
		distinct[f.hashes[0]] = distinct[f.hashes[0]] || matched[f.index]
	}
	if len(distinct) == 0 {
		return 0
	}
	n := 0
	for _, ok := range distinct {
		if ok {
			n++
		}
	}
	return 100 * float64(n) / float64(len(distinct))
}

type matchKey struct {
	id  uint64
	typ string
}

// match starts a result for an entry; its labels are the caller's own copy.
func (x *Index) match(id uint64, info *entryInfo, typ string, dist int, d pdq.Dihedral) Match {
	return Match{EntryID: id, Bank: info.bank, Labels: maps.Clone(info.labels), Kind: info.kind, Type: typ, Distance: dist, Dihedral: d}
}
