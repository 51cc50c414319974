package match

import (
	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/pdq"
	"github.com/mediamatch/mediamatch/store"
)

// Method names one way of finding that a query and an entry show the same
// thing. Each yields Evidence; the decision weighs an entry's evidence by
// its Calibration.
type Method string

// The methods.
const (
	// MethodPDQ: the whole-image PDQ hashes (any of the query's eight
	// rotations and mirrors), or a video frame's against an image's.
	MethodPDQ Method = "pdq"
	// MethodRegion: a PDQ hash of a part of one image (a trimmed or
	// content region, a framed picture, a window, a quarter) against the
	// other's whole image or region, under Rules.RegionThresholds.
	MethodRegion Method = "pdq-region"
	// MethodPHash and MethodDHash: the 64-bit hashes, corroborated by PDQ
	// (Rules.CorroborateDistance); pHash also against an entry's central
	// windows.
	MethodPHash Method = "phash"
	MethodDHash Method = "dhash"
	// MethodKeypoints: local features of the query agreeing on one scale
	// and shift into the entry (a crop), verified by keypoint.Verify.
	MethodKeypoints Method = "keypoints"
	// MethodPixels: the similarity keypoints found, checked against the
	// entry's stored thumbnail: the share of the overlap's textured blocks
	// that correlate (package pixels). Its Distance is
	// PixelSteps*(1 - pixels.Result.Assured()), rounded: a lower bound of
	// that share, so that few blocks say less than many.
	MethodPixels Method = "pixels"
	// MethodDigest: the same bytes (an exact digest such as MD5 or
	// SHA-256).
	MethodDigest Method = "digest"
	// MethodVideo: a video query against a video entry by the vPDQ rule.
	MethodVideo Method = "vpdq"
	// MethodSegment: a video query against a video entry by the aligned
	// stretch of both (segment.go): a clip inside other footage, a trim, a
	// re-edit played faster or slower.
	MethodSegment Method = "segment"
)

// KeypointType is the hash type reported for keypoint evidence: the name
// of the index's keypoint structure.
const KeypointType = "keypoints"

// PixelsType is the type reported for pixel evidence.
const PixelsType = "pixels"

// PixelSteps is the scale of pixel evidence's Distance: 0 when every
// one of very many textured blocks of the overlap agrees (2 for all 64 of
// a stored thumbnail's), PixelSteps when none does.
const PixelSteps = 40

// methodOf is the method a hit of hash type typ is evidence for.
func methodOf(typ string, region bool) Method {
	switch {
	case typ == hashing.PDQ && region:
		return MethodRegion
	case typ == hashing.PDQ:
		return MethodPDQ
	case typ == hashing.PHash:
		return MethodPHash
	case typ == hashing.DHash:
		return MethodDHash
	case typ == KeypointType:
		return MethodKeypoints
	}
	return MethodDigest
}

// Range is a span of a video in seconds from its start.
type Range struct {
	Start, End float64
}

// Region is a part of an image that matched.
type Region struct {
	Kind hashing.RegionKind
	Box  hashing.Box
}

// Evidence is what one method found between the query and an entry: the
// strongest it found, with what supports it.
type Evidence struct {
	Method Method
	// Type is the hash type compared (KeypointType for keypoints).
	Type string
	// Distance is the Hamming distance of the hashes (0 for a digest); for
	// a video-to-video match, the largest distance among the matched
	// frames; for keypoints, the mean descriptor distance of the inliers.
	Distance int
	// Dihedral is the variant of the query that matched; pdq.Original
	// when the query matched as given or the type has no variants.
	Dihedral pdq.Dihedral
	// QueryRegion and EntryRegion say which parts of the two images
	// matched; the zero values mean the whole image. For keypoints,
	// EntryRegion is the part of the entry the query shows.
	QueryRegion, EntryRegion Region
	// Inliers, for keypoints and pixels, is the number of agreeing
	// keypoints.
	Inliers int
	// QueryRanges, for a video query, are the spans of the query whose
	// frames matched; EntryRanges, for a video entry, the spans of the
	// entry the query matched.
	QueryRanges, EntryRanges []Range
	// QueryPercent and EntryPercent are set, with HasPercent, for a video
	// query against a video entry: the vPDQ shares (0 to 100) of distinct
	// usable frame hashes found in the other video.
	QueryPercent, EntryPercent float64
	HasPercent                 bool
	// Frames and Speed are set for a segment: its distinct frames (the
	// fewer of the two sides'), and the entry's seconds per query second
	// (1.25 for a re-edit played 25% faster).
	Frames int
	Speed  float64
	// Probability is the calibrated share of unrelated pairs in which this
	// method finds evidence at least this strong.
	Probability float64

	// bestDistance, for a video against a video (either rule), is the smallest distance
	// among the matched frames: what the provisional calibration of the
	// vPDQ rule weighs (Calibration.Probability).
	bestDistance int
}

// stronger reports whether a is stronger evidence than b of one method.
func (a *Evidence) stronger(b *Evidence) bool {
	if a.Method == MethodKeypoints && a.Inliers != b.Inliers {
		return a.Inliers > b.Inliers
	}
	if a.Distance != b.Distance {
		return a.Distance < b.Distance
	}
	return a.Dihedral < b.Dihedral
}

// Tier is what a result is good for.
type Tier int

const (
	// TierMatch: within the false-match budget, for automatic action.
	TierMatch Tier = iota + 1
	// TierReview: beyond the budget but within Rules.ReviewFactor times
	// it, for a person to look at; returned only when a query asks.
	TierReview
)

func (t Tier) String() string {
	switch t {
	case TierMatch:
		return "match"
	case TierReview:
		return "review"
	}
	return "unknown"
}

// Match is one entry that a query matched: one result per entry.
type Match struct {
	EntryID uint64
	Bank    string
	Labels  map[string]string
	Kind    store.MediaKind
	// Score is the estimated probability that an unrelated pair shows
	// evidence this strong: the smaller, the surer (Calibration.Score).
	Score float64
	Tier  Tier
	// Evidence holds the strongest evidence of each method that found the
	// entry, strongest (smallest Probability) first.
	Evidence []Evidence
}

// Best is the match's strongest evidence.
func (m *Match) Best() *Evidence { return &m.Evidence[0] }
