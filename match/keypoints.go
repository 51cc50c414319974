package match

import (
	"cmp"
	"image"
	"slices"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/index"
	"github.com/mediamatch/mediamatch/keypoint"
	"github.com/mediamatch/mediamatch/pdq"
	"github.com/mediamatch/mediamatch/store"
)

// Keypoint matching: each query keypoint's 64-bit key (a quarter of its
// descriptor) is searched within Rules.KeypointKeyRadius; an entry whose
// keypoints answer at least Rules.KeypointMinVotes of the query's is a
// candidate, and the candidates with the most votes (at most
// Rules.MaxKeypointCandidates) are read from the store and verified by
// keypoint.Verify.

// matchKeypoints matches an image query's keypoints, and those of its
// mirror image when the query has them.
func (m *matcher) matchKeypoints() {
	m.matchPoints(m.q.Keypoints, pdq.Original)
	if len(m.q.MirroredKeypoints) > 0 {
		m.matchPoints(m.q.MirroredKeypoints, pdq.FlipY)
	}
}

// matchPoints matches one set of query keypoints: the query's own, or its
// mirror image's (variant says which).
func (m *matcher) matchPoints(points []keypoint.Point, variant pdq.Dihedral) {
	votes := map[uint64]int{}
	voted := map[uint64]bool{}
	for i := range points {
		clear(voted) // an entry votes once per query keypoint
		m.v.Search(index.KeypointIndex, index.Hash{points[i].Key()}, m.rules.KeypointKeyRadius, func(r index.Ref, _ int) bool {
			if !voted[r.Entry] {
				voted[r.Entry] = true
				votes[r.Entry]++
			}
			return true
		})
	}
	type candidate struct {
		id    uint64
		votes int
	}
	var cs []candidate
	for id, v := range votes {
		if v < m.rules.KeypointMinVotes {
			continue
		}
		info, ok := m.v.Entry(id)
		if !ok || info.Kind == store.KindVideo {
			continue
		}
		if _, ok := m.banks[info.Bank]; ok {
			cs = append(cs, candidate{id, v})
		}
	}
	slices.SortFunc(cs, func(a, b candidate) int { return cmp.Or(cmp.Compare(b.votes, a.votes), cmp.Compare(a.id, b.id)) })
	if len(cs) > m.rules.MaxKeypointCandidates {
		cs = cs[:m.rules.MaxKeypointCandidates]
	}
	for _, c := range cs {
		if m.ctx.Err() != nil {
			return
		}
		info, ok := m.v.Entry(c.id)
		e := m.readImage(c.id)
		if e == nil || !ok {
			continue // removed since the search
		}
		res := keypoint.Verify(points, Points(e.Keypoints), image.Pt(m.q.Width, m.q.Height), image.Pt(e.Width, e.Height))
		m.checkPixels(info, e, res, variant)
		if !res.Matched(m.rules.KeypointMinInliers, m.rules.KeypointMinSpread) || res.Coverage < m.rules.KeypointMinCoverage {
			continue
		}
		m.consider(info, Evidence{Method: MethodKeypoints, Type: KeypointType, Distance: res.MeanDistance, Inliers: res.Inliers, Dihedral: variant,
			EntryRegion: entryBox(res, m.q.Width, m.q.Height, e.Width, e.Height)})
	}
}

// entryBox returns the part of the entry that the query shows, from the
// transform Verify found, clipped to the entry; the zero Region (the whole
// entry) when either size is unknown or the query covers the entry.
func entryBox(r keypoint.Result, qw, qh, ew, eh int) Region {
	if qw <= 0 || qh <= 0 || ew <= 0 || eh <= 0 {
		return Region{}
	}
	el := float64(max(ew, eh))
	// The query's footprint in the entry's long-side units, then as
	// fractions of the entry's sides.
	x0, y0, x1, y1 := r.Footprint(image.Pt(qw, qh))
	fx, fy := el/float64(ew), el/float64(eh)
	x0, x1 = clip01(x0*fx), clip01(x1*fx)
	y0, y1 = clip01(y0*fy), clip01(y1*fy)
	if x0 <= 0.005 && y0 <= 0.005 && x1 >= 0.995 && y1 >= 0.995 {
		return Region{}
	}
	return Region{Kind: hashing.RegionWindow, Box: hashing.Box{Left: float32(x0), Top: float32(y0), Width: float32(x1 - x0), Height: float32(y1 - y0)}}
}

func clip01(v float64) float64 { return min(1, max(0, v)) }

// Points converts stored keypoints to the keypoint package's.
func Points(ks []store.Keypoint) []keypoint.Point {
	out := make([]keypoint.Point, len(ks))
	for i, k := range ks {
		out[i] = keypoint.Point{X: k.X, Y: k.Y, Level: k.Level, D: k.Descriptor}
	}
	return out
}

// StoredKeypoints is the inverse of Points, for storing an entry's points.
func StoredKeypoints(ps []keypoint.Point) []store.Keypoint {
	out := make([]store.Keypoint, len(ps))
	for i, p := range ps {
		out[i] = store.Keypoint{X: p.X, Y: p.Y, Level: p.Level, Descriptor: p.D}
	}
	return out
}
