package match

import (
	"cmp"
	"math"
	"slices"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/index"
	"github.com/mediamatch/mediamatch/keypoint"
	"github.com/mediamatch/mediamatch/pdq"
	"github.com/mediamatch/mediamatch/pixels"
	"github.com/mediamatch/mediamatch/store"
)

// Pixel evidence (MethodPixels): where another method says how the query
// lies over an entry, the query's thumbnail is laid over the entry's
// stored one that way and compared block by block (pixels.Compare). The
// placements come from keypoints (the similarity keypoint.Verify found,
// checked as each candidate is verified), whole-image PDQ (the variant
// that matched, whole over whole) and region and pHash hits (the query's
// part over the entry's). The strongest placement is the evidence.

// checkPixels weighs the keypoints' similarity res between the query (its
// mirror image for pdq.FlipY) and entry e.
func (m *matcher) checkPixels(info *index.EntryInfo, e *store.Entry, res keypoint.Result, variant pdq.Dihedral) {
	if !m.rules.Seeks(MethodPixels) || res.Inliers < m.rules.PixelMinInliers || !m.q.Thumb.Valid() {
		return
	}
	entry := Thumb(e.Thumbnail)
	mp, ok := pixels.Similarity(entry, m.q.Thumb, pixels.Transform{Scale: res.Scale, Angle: res.Angle, ShiftX: res.ShiftX, ShiftY: res.ShiftY, Mirror: variant == pdq.FlipY})
	if !ok {
		return
	}
	m.pixelEvidence(info, entry, m.q.Thumb, mp, Evidence{Inliers: res.Inliers, Dihedral: variant,
		EntryRegion: entryBox(res, m.q.Width, m.q.Height, e.Width, e.Height)})
}

// pixelEvidence compares query over entry by mp and considers the result
// as pixel evidence with what placed it (base's dihedral, regions and
// inliers).
func (m *matcher) pixelEvidence(info *index.EntryInfo, entry, query pixels.Thumb, mp pixels.Map, base Evidence) {
	if !entry.Valid() {
		return
	}
	pr := pixels.Compare(entry, query, mp)
	if pr.Blocks < m.rules.PixelMinBlocks {
		return
	}
	base.Method, base.Type = MethodPixels, PixelsType
	base.Distance = int(math.Round(PixelSteps * (1 - pr.Assured())))
	m.consider(info, base)
}

// placedMethods are the methods whose evidence says where the query lies
// over the entry, checked by pixels after the searches.
var placedMethods = []Method{MethodPDQ, MethodRegion, MethodPHash}

// verifyPixels checks the placements of PDQ, region and pHash evidence
// against the entries' thumbnails, for at most Rules.MaxPixelCandidates
// image entries, those with the strongest such evidence first.
func (m *matcher) verifyPixels() {
	if !m.rules.Seeks(MethodPixels) || !m.q.Thumb.Valid() || m.rules.MaxPixelCandidates <= 0 {
		return
	}
	type placed struct {
		c *candidate
		p float64
	}
	var cs []placed
	for _, c := range m.found {
		if c.info.Kind == store.KindVideo {
			continue
		}
		p, has := 1.0, false
		for _, method := range placedMethods {
			if e, ok := c.evidence[method]; ok {
				has, p = true, min(p, m.rules.Calibration.Probability(&e))
			}
		}
		if has {
			cs = append(cs, placed{c, p})
		}
	}
	slices.SortFunc(cs, func(a, b placed) int { return cmp.Or(cmp.Compare(a.p, b.p), cmp.Compare(a.c.info.ID, b.c.info.ID)) })
	if len(cs) > m.rules.MaxPixelCandidates {
		cs = cs[:m.rules.MaxPixelCandidates]
	}
	var turned [pdq.NumDihedral]pixels.Thumb
	for _, pc := range cs {
		if m.ctx.Err() != nil {
			return
		}
		c := pc.c
		e := m.readImage(c.info.ID)
		if e == nil {
			continue // removed since the search
		}
		entry := Thumb(e.Thumbnail)
		if !entry.Valid() {
			continue
		}
		for _, method := range placedMethods {
			ev, ok := c.evidence[method]
			if !ok {
				continue
			}
			query := m.q.Thumb
			if d := ev.Dihedral; d != pdq.Original && d >= 0 && d < pdq.NumDihedral {
				if turned[d].W == 0 {
					turned[d] = query.Turned(int(d))
				}
				query = turned[d]
			}
			mp, ok := pixels.Boxes(entry, query, pixelBox(ev.EntryRegion), pixelBox(ev.QueryRegion))
			if !ok {
				continue
			}
			m.pixelEvidence(c.info, entry, query, mp, Evidence{Dihedral: ev.Dihedral, QueryRegion: ev.QueryRegion, EntryRegion: ev.EntryRegion})
		}
	}
}

// pixelBox is a region's box for package pixels: the whole image for the
// zero Region.
func pixelBox(r Region) pixels.Box {
	if r.Kind == hashing.RegionWhole && r.Box == (hashing.Box{}) {
		return pixels.Whole
	}
	return pixels.Box{Left: float64(r.Box.Left), Top: float64(r.Box.Top), Width: float64(r.Box.Width), Height: float64(r.Box.Height)}
}

// Thumb converts a stored thumbnail to the pixels package's.
func Thumb(t store.Thumbnail) pixels.Thumb {
	return pixels.Thumb{W: t.Width, H: t.Height, Pix: t.Grey}
}

// StoredThumbnail is the inverse of Thumb, for storing an entry's
// thumbnail (the zero Thumbnail for an invalid one).
func StoredThumbnail(t pixels.Thumb) store.Thumbnail {
	if !t.Valid() || t.W > store.MaxThumbnailSide || t.H > store.MaxThumbnailSide {
		return store.Thumbnail{}
	}
	return store.Thumbnail{Width: t.W, Height: t.H, Grey: t.Pix}
}
