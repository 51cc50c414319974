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
// half a photo keeps of its 32 stored keypoints (8 to 10). MinInliers and
// MinSpread are the defaults of package match's rules, which decide.
const (
	// MaxDistance is the largest descriptor distance of a pair.
	MaxDistance = 40
	// RatioTest: a pair is kept only when its distance is under RatioTest
	// times the query point's distance to the next nearest entry point.
	RatioTest = 0.8
	// InlierRadius is how far, as a share of the entry's long side, a
	// pair's entry point may be from where the transform puts it.
	InlierRadius = 0.01
	// MaxAngle bounds the rotation tried, in radians (15 degrees): re-posts
	// turn pictures a little, and the descriptors, sampled upright, stop
	// agreeing beyond about that.
	MaxAngle = 15 * math.Pi / 180
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

// Result is what Verify found: the pairs that agree on one similarity
// (scale, rotation and shift), and that transform, which takes a query
// position (fractions of the query's long side) to the entry's (fractions
// of its long side): e = Scale * R(Angle) * q + (ShiftX, ShiftY).
type Result struct {
	Inliers int
	// MeanDistance is the mean descriptor distance of the inlier pairs.
	MeanDistance int
	Scale        float64
	// Angle is the rotation in radians, within MaxAngle either way.
	Angle  float64
	ShiftX float64
	ShiftY float64
	// Span is the box of the inliers' entry points, as fractions of the
	// entry's long side: Min and Max corners.
	Span [4]float64
	// Spread is the smaller of the Span's width and height as shares of
	// those of the matched part of the entry; 0 when either image's size
	// was not given.
	Spread float64
	// Coverage is the share of the entry's points inside the part of the
	// entry the query shows (under the transform) that are inliers: high
	// when the query is a crop of the entry (what it shows of the entry
	// agrees throughout), low when only a shared part agrees (a sidebar,
	// a logo, a frame) and the rest differs. 0 when either size was not
	// given.
	Coverage float64
}

// Matched reports whether the result holds at least minInliers agreeing
// pairs spread over at least minSpread of the matched part.
func (r Result) Matched(minInliers int, minSpread float64) bool {
	return r.Inliers >= minInliers && r.Spread >= minSpread
}

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
			qx, qy := float64(ps[j].q.X-ps[i].q.X), float64(ps[j].q.Y-ps[i].q.Y)
			ex, ey := float64(ps[j].e.X-ps[i].e.X), float64(ps[j].e.Y-ps[i].e.Y)
			dq, de := math.Hypot(qx, qy), math.Hypot(ex, ey)
			if dq < minPairSpan || de < minPairSpan {
				continue
			}
			s := de / dq
			if s < 0.5 || s > 2 {
				continue
			}
			angle := math.Remainder(math.Atan2(ey, ex)-math.Atan2(qy, qx), 2*math.Pi)
			if math.Abs(angle) > MaxAngle {
				continue
			}
			cand := Result{Scale: s, Angle: angle}
			a, b := cand.matrix()
			cand.ShiftX = float64(ps[i].e.X) - (a*float64(ps[i].q.X) - b*float64(ps[i].q.Y))
			cand.ShiftY = float64(ps[i].e.Y) - (b*float64(ps[i].q.X) + a*float64(ps[i].q.Y))
			n, sum := 0, 0
			for _, p := range ps {
				x, y := cand.Apply(float64(p.q.X), float64(p.q.Y))
				dx, dy := x-float64(p.e.X), y-float64(p.e.Y)
				if dx*dx+dy*dy < r2 {
					n++
					sum += p.d
				}
			}
			if n > res.Inliers {
				cand.Inliers, cand.MeanDistance = n, (sum+n/2)/n
				res = cand
			}
		}
	}
	if res.Inliers >= 3 {
		res.Scale, res.Angle, res.ShiftX, res.ShiftY, res.Span = refit(ps, res, r2)
		res.Spread = spread(res, querySize, entrySize)
		res.Coverage = coverage(res, entry, querySize)
	}
	return res
}

// coverage returns Result.Coverage: inliers over the entry points inside
// the query's footprint in the entry.
func coverage(r Result, entry []Point, q image.Point) float64 {
	if q.X <= 0 || q.Y <= 0 {
		return 0
	}
	ql := float64(max(q.X, q.Y))
	w, h := float64(q.X)/ql, float64(q.Y)/ql
	inside := 0
	for i := range entry {
		if x, y := r.inverse(float64(entry[i].X), float64(entry[i].Y)); x >= 0 && y >= 0 && x <= w && y <= h {
			inside++
		}
	}
	if inside == 0 {
		return 0
	}
	return min(1, float64(r.Inliers)/float64(inside))
}

// matrix is the transform's linear part: [a -b; b a].
func (r Result) matrix() (a, b float64) {
	return r.Scale * math.Cos(r.Angle), r.Scale * math.Sin(r.Angle)
}

// Apply maps a query position to the entry's (both in long-side units).
func (r Result) Apply(x, y float64) (float64, float64) {
	a, b := r.matrix()
	return a*x - b*y + r.ShiftX, b*x + a*y + r.ShiftY
}

// inverse maps an entry position to the query's.
func (r Result) inverse(x, y float64) (float64, float64) {
	a, b := r.matrix()
	s2 := a*a + b*b
	x, y = x-r.ShiftX, y-r.ShiftY
	return (a*x + b*y) / s2, (-b*x + a*y) / s2
}

// Footprint is the box, in the entry's long-side units, that holds the
// query of size q under the transform (its four corners mapped).
func (r Result) Footprint(q image.Point) (x0, y0, x1, y1 float64) {
	ql := float64(max(q.X, q.Y, 1))
	w, h := float64(q.X)/ql, float64(q.Y)/ql
	x0, y0, x1, y1 = math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, c := range [4][2]float64{{0, 0}, {w, 0}, {0, h}, {w, h}} {
		x, y := r.Apply(c[0], c[1])
		x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x), max(y1, y)
	}
	return x0, y0, x1, y1
}

// spread returns Result.Spread.
func spread(r Result, q, e image.Point) float64 {
	if q.X <= 0 || q.Y <= 0 || e.X <= 0 || e.Y <= 0 {
		return 0
	}
	ql, el := float64(max(q.X, q.Y)), float64(max(e.X, e.Y))
	// The query's footprint in the entry, in the entry's long-side units,
	// clipped to the entry.
	fx0, fy0, fx1, fy1 := r.Footprint(q)
	ex1, ey1 := float64(e.X)/el, float64(e.Y)/el
	x0, y0 := max(0, fx0), max(0, fy0)
	x1, y1 := min(ex1, fx1), min(ey1, fy1)
	if x1 <= x0 || y1 <= y0 {
		return 0
	}
	// The two images must overlap in earnest: the overlap is at least
	// minOverlap of the query (a crop lies inside the entry) or of the
	// entry (a framed entry lies inside the query). A watermark in the
	// query's corner and in the entry's opposite one overlaps in a sliver.
	overlap := (x1 - x0) * (y1 - y0)
	queryArea := r.Scale * r.Scale * float64(q.X) / ql * float64(q.Y) / ql
	if overlap < minOverlap*queryArea && overlap < minOverlap*ex1*ey1 {
		return 0
	}
	return min((r.Span[2]-r.Span[0])/(x1-x0), (r.Span[3]-r.Span[1])/(y1-y0))
}

// refit returns the similarity that fits the inliers of res best, by
// least squares, and the box of the inliers' entry points.
func refit(ps []pair, res Result, r2 float64) (s, angle, tx, ty float64, span [4]float64) {
	span = [4]float64{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}
	var qs, es [][2]float64
	for _, p := range ps {
		x, y := res.Apply(float64(p.q.X), float64(p.q.Y))
		dx, dy := x-float64(p.e.X), y-float64(p.e.Y)
		if dx*dx+dy*dy < r2 {
			qs = append(qs, [2]float64{float64(p.q.X), float64(p.q.Y)})
			es = append(es, [2]float64{float64(p.e.X), float64(p.e.Y)})
			span = [4]float64{min(span[0], float64(p.e.X)), min(span[1], float64(p.e.Y)), max(span[2], float64(p.e.X)), max(span[3], float64(p.e.Y))}
		}
	}
	var mq, me [2]float64
	for i := range qs {
		for k := range 2 {
			mq[k] += qs[i][k] / float64(len(qs))
			me[k] += es[i][k] / float64(len(qs))
		}
	}
	var sa, sb, den float64
	for i := range qs {
		qx, qy := qs[i][0]-mq[0], qs[i][1]-mq[1]
		ex, ey := es[i][0]-me[0], es[i][1]-me[1]
		sa += qx*ex + qy*ey
		sb += qx*ey - qy*ex
		den += qx*qx + qy*qy
	}
	if den == 0 {
		return res.Scale, res.Angle, res.ShiftX, res.ShiftY, span
	}
	a, b := sa/den, sb/den
	s, angle = math.Hypot(a, b), math.Atan2(b, a)
	return s, angle, me[0] - (a*mq[0] - b*mq[1]), me[1] - (b*mq[0] + a*mq[1]), span
}
