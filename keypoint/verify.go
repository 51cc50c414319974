package keypoint

import (
	"image"
	"math"
)

// The matching rule (see the package comment). On the robustness corpus
// (BENCHMARKS.md), of 400,000 unrelated pairs 8,393 agreed on one pair,
// 567 on two, 14 on three, 1 on four, 1 on six and none on more, before
// the spread and overlap rules; crops of 15% agree on tens. MinInliers is
// above the most seen among unrelated images, and below what a window of
// half a photo keeps of its 32 stored keypoints (8 to 10).
var (
	// MaxDistance is the largest descriptor distance of a pair.
	MaxDistance = 40
	// RatioTest: a pair is kept only when its distance is under RatioTest
	// times the query point's distance to the next nearest entry point.
	RatioTest = 0.8
	// InlierRadius is how far, as a share of the entry's long side, a
	// pair's entry point may be from where the scale and shift put it.
	InlierRadius = 0.01
	// MinInliers is the least number of agreeing pairs for a match.
	MinInliers = 8
	// MinSpread is the least share of the matched part of the entry (the
	// query's extent mapped into it) that the agreeing entry points must
	// span, across and down. A shared logo, a strip of an app's interface
	// or a stock sprite gathers its pairs in a corner or a band; a crop
	// spreads them over the picture (on the robustness corpus a tenth of
	// crops of 15% span under 0.16; pairs of different images sharing a
	// sprite or an app's toolbar 0.07 to 0.11).
	MinSpread = 0.125
)

// Result is what Verify found: the pairs that agree on one scale and
// shift, and that transform, which takes a query position (fractions of
// the query's long side) to the entry's (fractions of its long side).
type Result struct {
	Inliers int
	// MeanDistance is the mean descriptor distance of the inlier pairs.
	MeanDistance int
	Scale        float64
	ShiftX       float64
	ShiftY       float64
	// Span is the box of the inliers' entry points, as fractions of the
	// entry's long side: Min and Max corners.
	Span [4]float64
	// Spread is the smaller of the Span's width and height as shares of
	// those of the matched part of the entry; 0 when either image's size
	// was not given.
	Spread float64
}

// Matched reports whether the result is a match: MinInliers agreeing pairs
// that spread over MinSpread of the matched part.
func (r Result) Matched() bool { return r.Inliers >= MinInliers && r.Spread >= MinSpread }

// minOverlap is the least share of the query or of the entry that the
// other must cover under the transform found.
const minOverlap = 0.5

// minPairSpan is the least distance between two pairs' points (on both
// sides) for their scale to be trusted.
const minPairSpan = 0.05

// pair is a query point, the entry point it was paired with, and their
// descriptor distance.
type pair struct {
	q, e *Point
	d    int
}

// Verify matches a query's points against an entry's; querySize and
// entrySize are the two images' sizes in pixels (any scale: only their
// aspect is used).
func Verify(query, entry []Point, querySize, entrySize image.Point) Result {
	var ps []pair
	taken := make([]bool, len(entry))
	for i := range query {
		best, bd, second := -1, math.MaxInt, math.MaxInt
		for j := range entry {
			d := Distance(&query[i], &entry[j])
			if d < bd {
				best, bd, second = j, d, bd
			} else if d < second {
				second = d
			}
		}
		if best >= 0 && bd <= MaxDistance && !taken[best] && float64(bd) < RatioTest*float64(second) {
			taken[best] = true
			ps = append(ps, pair{&query[i], &entry[best], bd})
		}
	}
	var res Result
	r2 := InlierRadius * InlierRadius
	for i := range ps {
		for j := i + 1; j < len(ps); j++ {
			dq := math.Hypot(float64(ps[i].q.X-ps[j].q.X), float64(ps[i].q.Y-ps[j].q.Y))
			de := math.Hypot(float64(ps[i].e.X-ps[j].e.X), float64(ps[i].e.Y-ps[j].e.Y))
			if dq < minPairSpan || de < minPairSpan {
				continue
			}
			s := de / dq
			if s < 0.5 || s > 2 {
				continue
			}
			tx := float64(ps[i].e.X) - s*float64(ps[i].q.X)
			ty := float64(ps[i].e.Y) - s*float64(ps[i].q.Y)
			n, sum := 0, 0
			for _, p := range ps {
				dx := s*float64(p.q.X) + tx - float64(p.e.X)
				dy := s*float64(p.q.Y) + ty - float64(p.e.Y)
				if dx*dx+dy*dy < r2 {
					n++
					sum += p.d
				}
			}
			if n > res.Inliers {
				res = Result{Inliers: n, MeanDistance: (sum + n/2) / n, Scale: s, ShiftX: tx, ShiftY: ty}
			}
		}
	}
	if res.Inliers >= 3 {
		res.Scale, res.ShiftX, res.ShiftY, res.Span = refit(ps, res, r2)
		res.Spread = spread(res, querySize, entrySize)
	}
	return res
}

// spread returns Result.Spread.
func spread(r Result, q, e image.Point) float64 {
	if q.X <= 0 || q.Y <= 0 || e.X <= 0 || e.Y <= 0 {
		return 0
	}
	ql, el := float64(max(q.X, q.Y)), float64(max(e.X, e.Y))
	// The query's extent in the entry, in the entry's long-side units,
	// clipped to the entry.
	x0, y0 := max(0, r.ShiftX), max(0, r.ShiftY)
	qx1, qy1 := r.ShiftX+r.Scale*float64(q.X)/ql, r.ShiftY+r.Scale*float64(q.Y)/ql
	ex1, ey1 := float64(e.X)/el, float64(e.Y)/el
	x1, y1 := min(ex1, qx1), min(ey1, qy1)
	if x1 <= x0 || y1 <= y0 {
		return 0
	}
	// The two images must overlap in earnest: the overlap is at least
	// minOverlap of the query (a crop lies inside the entry) or of the
	// entry (a framed entry lies inside the query). A watermark in the
	// query's corner and in the entry's opposite one overlaps in a sliver.
	overlap := (x1 - x0) * (y1 - y0)
	if overlap < minOverlap*(qx1-r.ShiftX)*(qy1-r.ShiftY) && overlap < minOverlap*ex1*ey1 {
		return 0
	}
	return min((r.Span[2]-r.Span[0])/(x1-x0), (r.Span[3]-r.Span[1])/(y1-y0))
}

// refit returns the scale and shift that fit the inliers of res best, by
// least squares.
func refit(ps []pair, res Result, r2 float64) (s, tx, ty float64, span [4]float64) {
	span = [4]float64{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}
	var qs, es [][2]float64
	for _, p := range ps {
		q, e := p.q, p.e
		dx := res.Scale*float64(q.X) + res.ShiftX - float64(e.X)
		dy := res.Scale*float64(q.Y) + res.ShiftY - float64(e.Y)
		if dx*dx+dy*dy < r2 {
			qs = append(qs, [2]float64{float64(q.X), float64(q.Y)})
			es = append(es, [2]float64{float64(e.X), float64(e.Y)})
			span = [4]float64{min(span[0], float64(e.X)), min(span[1], float64(e.Y)), max(span[2], float64(e.X)), max(span[3], float64(e.Y))}
		}
	}
	var mq, me [2]float64
	for i := range qs {
		for k := range 2 {
			mq[k] += qs[i][k] / float64(len(qs))
			me[k] += es[i][k] / float64(len(qs))
		}
	}
	var num, den float64
	for i := range qs {
		for k := range 2 {
			num += (qs[i][k] - mq[k]) * (es[i][k] - me[k])
			den += (qs[i][k] - mq[k]) * (qs[i][k] - mq[k])
		}
	}
	if den == 0 {
		return res.Scale, res.ShiftX, res.ShiftY, span
	}
	s = num / den
	return s, me[0] - s*mq[0], me[1] - s*mq[1], span
}
