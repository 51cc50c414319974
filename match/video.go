package match

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/index"
	"github.com/mediamatch/mediamatch/internal/yield"
	"github.com/mediamatch/mediamatch/pdq"
	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/vpdq"
)

// resolveFrameHits turns an image query's hits on video frames into
// evidence per video entry, with the spans of the entry that matched.
// Each entry is read whole, so at most Rules.MaxVideoCandidates are, those
// with the most frames hit first: a still that many stored videos show
// costs no more than a video query.
func (m *matcher) resolveFrameHits() {
	ids := make([]uint64, 0, len(m.frameHits))
	for id := range m.frameHits {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b uint64) int {
		return cmp.Or(cmp.Compare(len(m.frameHits[b]), len(m.frameHits[a])), cmp.Compare(a, b))
	})
	if len(ids) > m.rules.MaxVideoCandidates {
		ids = ids[:m.rules.MaxVideoCandidates]
	}
	for _, id := range ids {
		hits := m.frameHits[id]
		if m.ctx.Err() != nil {
			return
		}
		e := m.read(id)
		if e == nil {
			continue // removed since the search
		}
		info, ok := m.v.Entry(id)
		if !ok {
			continue
		}
		frames := spans(e.Frames, e.Duration)
		best := frameHit{dist: math.MaxInt}
		for _, h := range hits {
			if h.dist < best.dist || (h.dist == best.dist && h.dihedral < best.dihedral) {
				best = h
			}
		}
		method := MethodPDQ
		if best.region {
			method = MethodRegion
		}
		m.consider(info, Evidence{Method: method, Type: hashing.PDQ, Distance: best.dist, Dihedral: best.dihedral,
			EntryRanges: m.ranges(frames, func(i int) bool { _, ok := hits[i]; return ok })})
	}
}

// vframe is a video frame as matching sees it: its span and its hashes
// (the whole frame's, then the content region's when it has one).
type vframe struct {
	index      int // in the video's frame list
	start, end float64
	quality    int
	hashes     [2]index.Hash
	n          int
}

// spans gives each frame the span until the next sampled frame (or the end
// of the video; one second for a last frame of unknown length).
func spans(frames []store.Frame, duration float64) []vframe {
	out := make([]vframe, len(frames))
	for i, f := range frames {
		v := vframe{index: i, start: f.Seconds, quality: f.Quality, n: 1}
		v.hashes[0] = index.HashOf(f.Hash[:])
		if f.HasContent {
			v.hashes[1] = index.HashOf(f.Content[:])
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
			d = min(d, index.Distance(&a.hashes[i], &b.hashes[j]))
		}
	}
	return d
}

// ranges merges the spans of the frames for which matched(index) holds.
func (m *matcher) ranges(frames []vframe, matched func(i int) bool) []Range {
	var out []Range
	for _, f := range frames {
		if !matched(f.index) {
			continue
		}
		if n := len(out); n > 0 && f.start-out[n-1].End <= m.rules.RangeGap {
			out[n-1].End = max(out[n-1].End, f.end)
			continue
		}
		out = append(out, Range{f.start, f.end})
	}
	return out
}

// matchFrames matches a video query frame by frame, reporting whether no
// frame was of matchable quality. It fails with ErrOverBudget when the
// work is over Rules.MaxVideoWork.
func (m *matcher) matchFrames() (lowQuality bool, err error) {
	t, _ := hashing.Lookup(hashing.PDQ)
	minQ := m.minQuality(t)
	query := usable(spans(m.q.Frames, m.q.Duration), minQ)
	if len(query) == 0 {
		return true, nil
	}
	radius := m.radius(t)
	if radius < 0 {
		return false, nil
	}
	sides := []orientation{{query, m.flatness(query), pdq.Original}}
	if mirrored := m.mirrored(minQ); len(mirrored) > 0 {
		sides = append(sides, orientation{mirrored, m.flatness(mirrored), pdq.FlipY})
	}
	// Each distinct hash is searched once, for all the frames that have it.
	// A mirrored frame's hash is searched for video entries only: an image
	// entry is matched by the image's own rules, which try its mirror.
	byHash := map[index.Hash][]int{} // hash -> positions in query (none for a mirrored frame's)
	for qi, f := range query {
		for k := range f.n {
			byHash[f.hashes[k]] = append(byHash[f.hashes[k]], qi)
		}
	}
	if len(sides) > 1 {
		for _, f := range sides[1].frames {
			if _, ok := byHash[f.hashes[0]]; !ok {
				byHash[f.hashes[0]] = nil
			}
		}
	}
	imageHits := map[uint64]map[int]int{} // image entry -> query position -> best distance
	videoHits := map[uint64]int{}         // video entry -> hits
	over := false
	for h, qis := range byHash {
		if err := m.ctx.Err(); err != nil {
			return false, err
		}
		m.yield.Did(yield.Every / 64) // a search costs about as many comparisons as it verifies, often fewer
		m.v.Search(t.Name, h, radius, func(r index.Ref, dist int) bool {
			// Every hash found is work: a query whose frames each find
			// thousands of stored frames costs as much as comparing them.
			if m.work++; m.work > m.rules.MaxVideoWork {
				over = true
				return false
			}
			info, ok := m.accept(t, r.Entry, dist)
			if !ok {
				return true
			}
			if info.Kind == store.KindVideo {
				if r.Slot > 0 {
					videoHits[r.Entry]++
				}
				return true
			}
			if r.Slot > 0 || len(qis) == 0 {
				return true // an image's region, or a mirrored frame: matched by the image's own rules, not frame by frame
			}
			hits := imageHits[r.Entry]
			if hits == nil {
				hits = map[int]int{}
				imageHits[r.Entry] = hits
			}
			for _, qi := range qis {
				if old, ok := hits[qi]; !ok || dist < old {
					hits[qi] = dist
				}
			}
			return true
		})
		if over {
			return false, fmt.Errorf("%w: the query's %d frames found over %d stored frame hashes (the budget of frame pairs per video match)", ErrOverBudget, len(query), m.rules.MaxVideoWork)
		}
	}
	for id, hits := range imageHits {
		info, ok := m.v.Entry(id)
		if !ok {
			continue
		}
		e := Evidence{Method: MethodPDQ, Type: t.Name, Distance: math.MaxInt}
		matched := map[int]bool{}
		for qi, d := range hits {
			e.Distance = min(e.Distance, d)
			matched[query[qi].index] = true
		}
		e.QueryRanges = m.ranges(query, func(i int) bool { return matched[i] })
		m.consider(info, e)
	}
	return false, m.compareVideos(t, sides, videoHits, minQ)
}

// mirrored is the query's usable frames mirrored left to right
// (Query.Mirrored), none when the query has no mirrored hashes. Only the
// whole frame is mirrored: a content region's hash has no mirror.
func (m *matcher) mirrored(minQ int) []vframe {
	if len(m.q.Mirrored) != len(m.q.Frames) {
		return nil
	}
	frames := slices.Clone(m.q.Frames)
	for i := range frames {
		frames[i].Hash, frames[i].HasContent = m.q.Mirrored[i], false
	}
	return usable(spans(frames, m.q.Duration), minQ)
}

// orientation is the query's frames as given, or mirrored.
type orientation struct {
	frames   []vframe
	flat     [][2]bool // which of the frames' hashes are degenerate
	dihedral pdq.Dihedral
}

// compareVideos applies the vPDQ rule and segment matching to the video
// entries that some query frame hit, for the query's frames as given and,
// when the query has them, mirrored. Before it compares any, it prices the
// comparison (query frames times each candidate's frames, per
// orientation) and refuses one over Rules.MaxVideoWork with
// ErrOverBudget; it stops with the context.
func (m *matcher) compareVideos(t hashing.Type, sides []orientation, hits map[uint64]int, minQ int) error {
	ids := make([]uint64, 0, len(hits))
	for id := range hits {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b uint64) int { return cmp.Or(cmp.Compare(hits[b], hits[a]), cmp.Compare(a, b)) })
	if len(ids) > m.rules.MaxVideoCandidates {
		ids = ids[:m.rules.MaxVideoCandidates]
	}
	frames := 0
	for _, side := range sides {
		frames += len(side.frames)
	}
	cost := m.work
	for _, id := range ids {
		if info, ok := m.v.Entry(id); ok {
			cost += int64(frames) * int64(info.Frames)
		}
	}
	if cost > m.rules.MaxVideoWork {
		return fmt.Errorf("%w: comparing the query's %d frames with %d candidate videos is %d frame pairs, over the budget of %d per video match; send fewer frames or name fewer banks",
			ErrOverBudget, frames, len(ids), cost, m.rules.MaxVideoWork)
	}
	for _, id := range ids {
		if err := m.ctx.Err(); err != nil {
			return err
		}
		info, ok := m.v.Entry(id)
		if !ok {
			continue
		}
		e := m.read(id)
		if e == nil {
			continue // removed since the search
		}
		entry := usable(spans(e.Frames, e.Duration), minQ)
		// The entry read may hold more frames than the catalog said (an
		// update since the search): count what is compared.
		if m.work += int64(frames) * int64(len(entry)); m.work > m.rules.MaxVideoWork {
			return fmt.Errorf("%w: the comparison grew over the budget of %d frame pairs per video match", ErrOverBudget, m.rules.MaxVideoWork)
		}
		threshold := m.threshold(t, m.banks[info.Bank])
		eFlat := m.flatness(entry)
		for _, side := range sides {
			if err := m.compareVideo(t, info, side, entry, eFlat, threshold); err != nil {
				return err
			}
		}
	}
	return nil
}

// compareVideo compares one orientation of the query with one video
// entry's usable frames, by the vPDQ rule and by segment.
func (m *matcher) compareVideo(t hashing.Type, info *index.EntryInfo, side orientation, entry []vframe, eFlat [][2]bool, threshold int) error {
	qThreshold, eThreshold := m.q.VideoQueryPercent, m.q.VideoEntryPercent
	if qThreshold < 0 {
		qThreshold = vpdq.DefaultQueryPercent
	}
	if eThreshold < 0 {
		eThreshold = vpdq.DefaultEntryPercent
	}
	query, qFlat := side.frames, side.flat
	reach := max(threshold, m.rules.SegmentRangeDistance)
	qMatched, eMatched := map[int]bool{}, map[int]bool{}
	maxDist := -1 // the largest of the matched query frames' best distances
	minDist := math.MaxInt
	var pairs, row, loose, looseRow []framePair // pairs of hashes not degenerate; loose, of any
	for qi := range query {
		m.yield.Did(len(entry))
		if qi%256 == 255 {
			if err := m.ctx.Err(); err != nil {
				return err
			}
		}
		best := -1
		row, looseRow = row[:0], looseRow[:0]
		for ei := range entry {
			d := frameDistance(&query[qi], &entry[ei])
			if d <= reach {
				looseRow = append(looseRow, framePair{qi, ei, d})
			}
			if d > threshold {
				continue
			}
			eMatched[entry[ei].index] = true
			if best < 0 || d < best {
				best = d
			}
			if ds := pairDistance(&query[qi], &entry[ei], qFlat[qi], eFlat[ei]); ds <= threshold {
				row = append(row, framePair{qi, ei, ds})
			}
		}
		pairs = append(pairs, nearestPairs(row, m.rules.SegmentPairsPerFrame)...)
		loose = append(loose, nearestPairs(looseRow, m.rules.SegmentPairsPerFrame)...)
		if best >= 0 {
			qMatched[query[qi].index] = true
			maxDist, minDist = max(maxDist, best), min(minDist, best)
		}
	}
	if maxDist < 0 {
		return nil
	}
	if seg, ok := m.align(query, entry, pairs, loose); ok {
		m.consider(info, Evidence{Method: MethodSegment, Type: t.Name, Distance: seg.maxDist, Dihedral: side.dihedral,
			QueryRanges: []Range{{seg.qStart, seg.qEnd}}, EntryRanges: []Range{{seg.eStart, seg.eEnd}},
			Frames: seg.distinct, Speed: seg.speed, bestDistance: seg.minDist})
	}
	qp := distinctShare(query, qMatched)
	ep := distinctShare(entry, eMatched)
	if qp < qThreshold || ep < eThreshold {
		return nil
	}
	m.consider(info, Evidence{Method: MethodVideo, Type: t.Name, Distance: maxDist, Dihedral: side.dihedral,
		QueryRanges:  m.ranges(query, func(i int) bool { return qMatched[i] }),
		EntryRanges:  m.ranges(entry, func(i int) bool { return eMatched[i] }),
		QueryPercent: qp, EntryPercent: ep, HasPercent: true, bestDistance: minDist})
	return nil
}

// distinctShare is the vPDQ percentage: of the distinct whole-frame hashes
// among frames, the share (0 to 100) held by a matched frame.
func distinctShare(frames []vframe, matched map[int]bool) float64 {
	distinct := map[index.Hash]bool{}
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
