package index

import (
	"cmp"
	"image"
	"slices"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/keypoint"
	"github.com/mediamatch/mediamatch/pdq"
	"github.com/mediamatch/mediamatch/store"
)

// Keypoint matching: each query keypoint's 64-bit key (a quarter of its
// descriptor) is searched within KeypointKeyRadius; an entry whose
// keypoints answer at least KeypointMinVotes of the query's is a
// candidate, and the candidates with the most votes (at most
// maxKeypointCandidates) are read from the store and verified by
// keypoint.Verify. A true pair's descriptors differ by about 12 of 256
// bits, so their keys by about 3 of 64 (unrelated keys by 32). Within 3
// bits one of a key's four 16-bit parts is exact, which multi-index
// hashing finds with one probe per part; at 6 it takes 17 per part, 2.4
// times the Match time at 1M entries for the same recall on the
// robustness corpus (BENCHMARKS.md).
const (
	KeypointKeyRadius = 3
	KeypointMinVotes  = 2
)

// maxKeypointCandidates bounds the entries verified for one query.
const maxKeypointCandidates = 64

// matchKeypoints matches an image query's keypoints.
func (m *matcher) matchKeypoints() {
	votes := map[uint64]int{}
	voted := map[uint64]bool{}
	for i := range m.q.Keypoints {
		clear(voted) // an entry votes once per query keypoint
		m.search(KeypointIndex, Hash{m.q.Keypoints[i].Key()}, KeypointKeyRadius, func(r uint64, _ int) bool {
			if id, _ := splitRef(r); !voted[id] {
				voted[id] = true
				votes[id]++
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
		if v < KeypointMinVotes {
			continue
		}
		info := m.entry(id)
		if info == nil || info.kind == store.KindVideo {
			continue
		}
		if _, ok := m.banks[info.bank]; ok {
			cs = append(cs, candidate{id, v})
		}
	}
	slices.SortFunc(cs, func(a, b candidate) int { return cmp.Or(cmp.Compare(b.votes, a.votes), cmp.Compare(a.id, b.id)) })
	if len(cs) > maxKeypointCandidates {
		cs = cs[:maxKeypointCandidates]
	}
	for _, c := range cs {
		if m.ctx.Err() != nil {
			return
		}
		info := m.entry(c.id)
		e := m.read(c.id)
		if e == nil || info == nil {
			continue // removed since the search
		}
		res := keypoint.Verify(m.q.Keypoints, Points(e.Keypoints), image.Pt(m.q.Width, m.q.Height), image.Pt(e.Width, e.Height))
		if !res.Matched() {
			continue
		}
		match := m.x.match(c.id, info, KeypointIndex, res.MeanDistance, pdq.Original)
		match.Inliers = res.Inliers
		match.EntryRegion = entryBox(res, m.q.Width, m.q.Height, e.Width, e.Height)
		m.consider(match)
	}
}

// entryBox returns the part of the entry that the query shows, from the
// transform Verify found, clipped to the entry; the zero Region (the whole
// entry) when either size is unknown or the query covers the entry.
func entryBox(r keypoint.Result, qw, qh, ew, eh int) Region {
	if qw <= 0 || qh <= 0 || ew <= 0 || eh <= 0 {
		return Region{}
	}
	ql, el := float64(max(qw, qh)), float64(max(ew, eh))
	// Query extents in its long-side units, mapped into the entry's, then
	// as fractions of the entry's sides.
	x0, y0 := r.ShiftX, r.ShiftY
	x1, y1 := x0+r.Scale*float64(qw)/ql, y0+r.Scale*float64(qh)/ql
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
