package keypoint

import "math"

// The matching rule (see the package comment). Calibrated on the
// robustness corpus (BENCHMARKS.md): unrelated images agree on at most a
// few pairs, crops of 15% on tens.
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
	MinInliers = 6
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
}

// Matched reports whether the result is a match under MinInliers.
func (r Result) Matched() bool { return r.Inliers >= MinInliers }

// minPairSpan is the least distance between two pairs' points (on both
// sides) for their scale to be trusted.
const minPairSpan = 0.05

// pair is a query point and the entry point it was paired with.
type pair struct{ q, e *Point }

// Verify matches a query's points against an entry's.
func Verify(query, entry []Point) Result {
	var ps []pair
	taken := make([]bool, len(entry))
	for i := range query {
		best, bd, second := -1, MaxDistance+1, math.MaxInt
		for j := range entry {
			d := Distance(&query[i], &entry[j])
			if d < bd {
				best, bd, second = j, d, min(second, bd)
			} else if d < second {
				second = d
			}
		}
		if best >= 0 && !taken[best] && float64(bd) < RatioTest*float64(second) {
			taken[best] = true
			ps = append(ps, pair{&query[i], &entry[best]})
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
					sum += Distance(p.q, p.e)
				}
			}
			if n > res.Inliers {
				res = Result{Inliers: n, MeanDistance: (sum + n/2) / n, Scale: s, ShiftX: tx, ShiftY: ty}
			}
		}
	}
	if res.Inliers >= 3 {
		res.Scale, res.ShiftX, res.ShiftY = refit(ps, res, r2)
	}
	return res
}

// refit returns the scale and shift that fit the inliers of res best, by
// least squares.
func refit(ps []pair, res Result, r2 float64) (s, tx, ty float64) {
	var qs, es [][2]float64
	for _, p := range ps {
		q, e := p.q, p.e
		dx := res.Scale*float64(q.X) + res.ShiftX - float64(e.X)
		dy := res.Scale*float64(q.Y) + res.ShiftY - float64(e.Y)
		if dx*dx+dy*dy < r2 {
			qs = append(qs, [2]float64{float64(q.X), float64(q.Y)})
			es = append(es, [2]float64{float64(e.X), float64(e.Y)})
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
		return res.Scale, res.ShiftX, res.ShiftY
	}
	s = num / den
	return s, me[0] - s*mq[0], me[1] - s*mq[1]
}
