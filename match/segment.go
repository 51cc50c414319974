package match

import (
	"cmp"
	"math"
	"slices"

	"github.com/mediamatch/mediamatch/index"
)

// Segment matching: the aligned stretch of a video query and a video
// entry. Each query frame is paired with the entry frames within the
// threshold; pairs of the same stretch lie on a line in the time-time
// plane, entry time = speed * query time + offset, whatever was cut around
// the stretch, and with the speed of a re-edit played faster or slower. The
// line with the most pairs is found by trying speeds between
// Rules.SegmentMinSpeed and SegmentMaxSpeed and, for each, the densest
// window of offsets; its pairs, one per query frame, are split where the
// query has no pair for longer than Rules.SegmentMaxGap; the stretch with
// the most distinct frames is the segment. Frames flat or repeating give
// no evidence: a segment must have Rules.SegmentMinFrames frames of
// non-degenerate hashes that differ from one another, on both sides, and
// last Rules.SegmentMinSeconds, so that a shared title card, black frames
// or a fade never make one.

// speedStep is the ratio between consecutive speeds tried: a speed off by
// at most 1% drifts 0.4 s over a 40-second stretch, well within the
// tolerance, and the best line is then fitted to its pairs.
const speedStep = 1.02

// maxDistinctCounted bounds the frames a stretch's distinct count
// compares each frame with: past it the stretch is evidence anyway.
const maxDistinctCounted = 64

// framePair is a query frame and an entry frame within the threshold, by
// their positions in the usable frames compared, with their distance.
type framePair struct {
	q, e int
	dist int
}

// segment is an aligned stretch.
type segment struct {
	pairs            []framePair // one per query frame, in query order
	distinct         int         // the smaller of the two sides' distinct frames
	qStart, qEnd     float64
	eStart, eEnd     float64
	maxDist, minDist int
	speed, offset    float64
	resid            float64 // the pairs' mean distance from the line, in seconds
}

// seconds is the segment's length in the query.
func (s *segment) seconds() float64 { return s.qEnd - s.qStart }

// better reports whether s is a stronger segment than o: more distinct
// frames, then longer, then closer.
func (s *segment) better(o *segment) bool {
	if s.distinct != o.distinct {
		return s.distinct > o.distinct
	}
	if s.seconds() != o.seconds() {
		return s.seconds() > o.seconds()
	}
	if s.maxDist != o.maxDist {
		return s.maxDist < o.maxDist
	}
	return s.resid < o.resid
}

// pairDistance is the smallest distance between a hash of a and one of
// b neither of which is degenerate (flat says which are), MaxInt for
// none.
func pairDistance(a, b *vframe, aFlat, bFlat [2]bool) int {
	d := math.MaxInt
	for i := range a.n {
		if aFlat[i] {
			continue
		}
		for j := range b.n {
			if !bFlat[j] {
				d = min(d, index.Distance(&a.hashes[i], &b.hashes[j]))
			}
		}
	}
	return d
}

// nearestPairs keeps the limit nearest of one query frame's pairs.
func nearestPairs(row []framePair, limit int) []framePair {
	if len(row) > limit {
		slices.SortFunc(row, func(a, b framePair) int { return cmp.Or(cmp.Compare(a.dist, b.dist), cmp.Compare(a.e, b.e)) })
		row = row[:limit]
	}
	return row
}

// flatness says, per frame and hash, whether the hash is degenerate
// (Rules.MinDistinctRows).
func (m *matcher) flatness(frames []vframe) [][2]bool {
	out := make([][2]bool, len(frames))
	for i := range frames {
		for k := range frames[i].n {
			out[i][k] = m.degenerate(&frames[i].hashes[k])
		}
	}
	return out
}

// align finds the best segment among the pairs; ok reports whether it is
// evidence under the rules.
func (m *matcher) align(query, entry []vframe, pairs, loose []framePair) (best segment, ok bool) {
	r := m.rules
	if len(pairs) < r.SegmentMinFrames {
		return segment{}, false
	}
	offs := make([]float64, len(pairs))
	order := make([]int, len(pairs))
	for speed := r.SegmentMinSpeed; speed <= r.SegmentMaxSpeed*1.0001; speed *= speedStep {
		for k, p := range pairs {
			offs[k] = entry[p.e].start - speed*query[p.q].start
			order[k] = k
		}
		slices.SortFunc(order, func(a, b int) int { return cmp.Compare(offs[a], offs[b]) })
		// The densest window of offsets 2*tolerance wide.
		bi, bj := 0, 0
		for i, j := 0, 0; j < len(order); j++ {
			for offs[order[j]]-offs[order[i]] > 2*r.SegmentTolerance {
				i++
			}
			if j-i > bj-bi {
				bi, bj = i, j
			}
		}
		if bj-bi+1 < r.SegmentMinFrames {
			continue
		}
		offset := (offs[order[bi]] + offs[order[bj]]) / 2
		if s := m.segmentOn(query, entry, pairs, speed, offset); s.better(&best) {
			best = s
		}
	}
	if len(best.pairs) == 0 {
		return segment{}, false
	}
	// The speeds tried are a grid, and over a short stretch many of them
	// hold the same pairs within the tolerance: fit the line to the best
	// one's pairs, and keep it unless it holds fewer.
	if speed, offset, fitted := fitLine(query, entry, best.pairs); fitted && speed >= r.SegmentMinSpeed && speed <= r.SegmentMaxSpeed {
		if s := m.segmentOn(query, entry, pairs, speed, offset); s.distinct >= best.distinct && s.seconds() >= best.seconds() {
			best = s
		}
	}
	if best.distinct < r.SegmentMinFrames || best.seconds() < r.SegmentMinSeconds {
		return best, false
	}
	m.extend(&best, query, entry, loose)
	return best, true
}

// segmentOn is the best stretch of the pairs on the line entry time =
// speed * query time + offset, within Rules.SegmentTolerance.
func (m *matcher) segmentOn(query, entry []vframe, pairs []framePair, speed, offset float64) segment {
	tol := m.rules.SegmentTolerance
	resid := func(p framePair) float64 {
		return math.Abs(entry[p.e].start - speed*query[p.q].start - offset)
	}
	var on []framePair
	for _, p := range pairs {
		if resid(p) <= tol {
			on = append(on, p)
		}
	}
	// One pair per query frame, the nearest the line.
	slices.SortFunc(on, func(a, b framePair) int {
		return cmp.Or(cmp.Compare(a.q, b.q), cmp.Compare(resid(a), resid(b)), cmp.Compare(a.dist, b.dist))
	})
	on = slices.CompactFunc(on, func(a, b framePair) bool { return a.q == b.q })
	var best segment
	start := 0
	for k := 1; k <= len(on); k++ {
		if k < len(on) && query[on[k].q].start-query[on[k-1].q].end <= m.rules.SegmentMaxGap {
			continue
		}
		if s := m.stretch(query, entry, on[start:k], speed, offset); s.better(&best) {
			best = s
		}
		start = k
	}
	return best
}

// stretch describes the run of pairs as a segment.
func (m *matcher) stretch(query, entry []vframe, run []framePair, speed, offset float64) segment {
	first, last := run[0], run[len(run)-1]
	s := segment{pairs: slices.Clone(run), speed: speed, offset: offset, minDist: math.MaxInt,
		qStart: query[first.q].start, qEnd: query[last.q].end,
		eStart: entry[first.e].start,
	}
	s.eEnd = entryEnd(query, entry, last, speed)
	qs, es := make([]int, len(run)), make([]int, len(run))
	for k, p := range run {
		s.maxDist, s.minDist = max(s.maxDist, p.dist), min(s.minDist, p.dist)
		qs[k], es[k] = p.q, p.e
		s.resid += math.Abs(entry[p.e].start - speed*query[p.q].start - offset)
	}
	s.resid /= float64(len(run))
	d := m.rules.SegmentDistinctDistance
	s.distinct = min(distinctFrames(query, qs, d), distinctFrames(entry, es, d))
	return s
}

// distinctFrames counts the frames at positions at of frames whose whole
// hash is more than d from every frame counted before it (at most
// maxDistinctCounted are counted): a stretch of one still, or of frames
// that repeat, counts once.
func distinctFrames(frames []vframe, at []int, d int) int {
	var kept []*index.Hash
	for _, i := range at {
		h := &frames[i].hashes[0]
		if !slices.ContainsFunc(kept, func(k *index.Hash) bool { return index.Distance(k, h) <= d }) {
			kept = append(kept, h)
			if len(kept) == maxDistinctCounted {
				break
			}
		}
	}
	return len(kept)
}

// fitLine fits entry time = speed * query time + offset to the pairs by
// least squares; fitted is false when the query times do not vary.
func fitLine(query, entry []vframe, pairs []framePair) (speed, offset float64, fitted bool) {
	var n, sx, sy, sxx, sxy float64
	for _, p := range pairs {
		x, y := query[p.q].start, entry[p.e].start
		n++
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	den := n*sxx - sx*sx
	if n < 2 || den <= 1e-9 {
		return 0, 0, false
	}
	speed = (n*sxy - sx*sy) / den
	return speed, (sy - speed*sx) / n, true
}

// entryEnd is where the entry's side of a segment ending on pair p ends:
// the entry frame's span, no longer than the query frame's at the
// segment's speed (a still's frame spans until the next cut).
func entryEnd(query, entry []vframe, p framePair, speed float64) float64 {
	e := min(entry[p.e].end, entry[p.e].start+speed*(query[p.q].end-query[p.q].start))
	return max(e, entry[p.e].start)
}

// extend widens the segment's ranges over the frame pairs on its line
// that are not evidence (a title card, a fade, a test pattern, whose
// hashes are degenerate, or frames up to Rules.SegmentRangeDistance apart)
// but lie next to it, within Rules.SegmentMaxGap:
// they are part of the copy, and the ranges say where the copy is. The
// evidence (distinct frames, distances) stays the segment's own. loose
// are in query order.
func (m *matcher) extend(s *segment, query, entry []vframe, loose []framePair) {
	tol, gap := m.rules.SegmentTolerance, m.rules.SegmentMaxGap
	var on []framePair
	for _, p := range loose {
		if math.Abs(entry[p.e].start-s.speed*query[p.q].start-s.offset) <= tol {
			on = append(on, p)
		}
	}
	for k := len(on) - 1; k >= 0; k-- {
		p := on[k]
		if query[p.q].start >= s.qStart {
			continue
		}
		if s.qStart-query[p.q].end > gap {
			break
		}
		s.qStart, s.eStart = query[p.q].start, min(s.eStart, entry[p.e].start)
	}
	for _, p := range on {
		if query[p.q].start <= s.qEnd-1e-9 && query[p.q].end <= s.qEnd {
			continue
		}
		if query[p.q].start-s.qEnd > gap {
			break
		}
		s.qEnd, s.eEnd = max(s.qEnd, query[p.q].end), max(s.eEnd, entryEnd(query, entry, p, s.speed))
	}
}
