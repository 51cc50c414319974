package match

import (
	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/keypoint"
)

// Rules are every setting of matching, in one value: how far each method
// searches, what it takes for evidence, and the decision's operating
// point. DefaultRules gives the documented defaults; a zero field is not a
// default, so start from DefaultRules and change what you need.
type Rules struct {
	// Budget is the default operating point: the largest estimated
	// false-match probability per comparison (Match.Score) of a result
	// in TierMatch, when neither the query nor the bank sets one.
	// Default DefaultBudget.
	Budget float64
	// ReviewFactor widens the budget for TierReview: results with a score
	// up to Budget*ReviewFactor are returned for a person to look at when
	// a query asks for them. Default 100.
	ReviewFactor float64
	// Calibration turns evidence into probabilities. Default
	// DefaultCalibration (measured on the calibration half of the negative
	// corpus, BENCHMARKS.md).
	Calibration *Calibration
	// Methods are the methods whose evidence is sought and decides; one
	// left out is not searched, whatever a bank's thresholds say. Default
	// every method but MethodDHash: on the calibration half of the
	// negative corpus dHash was the strongest evidence of nearly half the
	// unrelated pairs with any evidence, for re-edits pHash and PDQ found
	// anyway, and leaving it out let the same false-match count through
	// more re-edits (BENCHMARKS.md). An image against a video's frames
	// goes with MethodPDQ; a video against a video (MethodVideo, the vPDQ
	// rule) is not governed by it. MethodPixels is left out: sought
	// too, it raised Combine and cost the open benchmark more recall than
	// it gave, the negatives holding crops of one another (BENCHMARKS.md,
	// "Pixel evidence"). Ask Seeks.
	Methods map[Method]bool

	// RegionThresholds are the largest PDQ distances at which a region hash
	// of the query (first) and a hash of an entry (second) are evidence;
	// pairs not listed are not compared, and whole against whole uses the
	// type's threshold. Each is also capped by that threshold.
	RegionThresholds map[[2]hashing.RegionKind]int
	// CorroborateDistance: a pHash or dHash hit is evidence only when the
	// query's and the entry's whole-image PDQ hashes (or the entry region's
	// whose pHash was hit) are within it; unrelated images sit about 128
	// apart. Default 96.
	CorroborateDistance int
	// UncorroboratedThreshold: when either side has no PDQ hash of
	// matchable quality, a pHash or dHash hit must be within it instead.
	// Default 4.
	UncorroboratedThreshold int
	// MinDistinctRows: a PDQ hash, whole or of a region, of the query or
	// of an entry, whose 16 rows of 16 bits take fewer distinct values
	// than this is no evidence. Periodic textures (a grate, a tiled
	// floor) and near-flat windows with a gradient hash to a few
	// repeating rows, whatever their quality, and land on one another at
	// distances near 0; a photograph's or a poster's rows are all but
	// always distinct. Default 11 (BENCHMARKS.md).
	MinDistinctRows int

	// KeypointKeyRadius is the search radius of a query keypoint's 64-bit
	// key. A true pair's descriptors differ by about 12 of 256 bits, so
	// their keys by about 3 of 64 (unrelated keys by 32). Within 3 bits one
	// of a key's four 16-bit parts is exact, which multi-index hashing
	// finds with one probe per part. Default 3.
	KeypointKeyRadius int
	// KeypointMinVotes is the least number of query keypoints an entry's
	// keypoints must answer to be verified. Default 2.
	KeypointMinVotes int
	// MaxKeypointCandidates bounds the entries verified for one query,
	// those with the most votes first. Default 64.
	MaxKeypointCandidates int
	// KeypointMinInliers and KeypointMinSpread are the least agreement
	// keypoint.Verify must find to be evidence. Defaults keypoint.MinInliers
	// and keypoint.MinSpread.
	KeypointMinInliers int
	KeypointMinSpread  float64
	// KeypointMinCoverage is the least share of the entry's keypoints
	// inside the part of the entry the query shows that must be inliers
	// (keypoint.Result.Coverage): what the query shows of the entry must
	// agree throughout, so that shared chrome alone (the same sidebar and
	// buttons on two pages of one dialog, a logo, a frame) is no evidence.
	// Among unrelated screenshots of one application agreeing on 8 to 15
	// keypoints, coverage was 0.25 to 0.45 (all 32 stored points lie in
	// the part shown, and only the chrome's agree); crops of 15% had a
	// median of 0.7. Default 0.5.
	KeypointMinCoverage float64
	// PixelMinInliers is the least number of agreeing keypoints whose
	// similarity is checked against an entry's thumbnail (MethodPixels):
	// fewer than KeypointMinInliers, since the check, not the count,
	// carries the evidence; a wrong similarity finds the pictures apart.
	// Default 5.
	PixelMinInliers int
	// PixelMinBlocks is the least number of textured blocks of the overlap
	// (pixels.Result.Blocks) for pixel evidence: near-blank pictures and
	// slivers of overlap say nothing. Default 8 (of at most 64 in a square
	// entry's thumbnail).
	PixelMinBlocks int
	// MaxPixelCandidates bounds the image entries whose PDQ, region or
	// pHash evidence is checked against their thumbnails, those with the
	// strongest such evidence first (keypoint candidates are checked as
	// they are verified). Default 32.
	MaxPixelCandidates int

	// MaxVideoCandidates caps the video entries compared frame by frame
	// with one video query, and those read for an image query found in
	// their frames, the ones with the most frame hits first. Default 1000.
	MaxVideoCandidates int
	// MaxVideoWork bounds the work of one video query, in frame pairs
	// compared: the query's frames times each candidate's frames, summed
	// over the candidates, plus the frame hashes its searches return. A
	// query over it fails with ErrOverBudget, before the comparison when
	// the candidates' frame counts already say so. Default
	// DefaultMaxVideoWork.
	MaxVideoWork int64
	// SegmentMinFrames is the least number of distinct frames of an
	// aligned stretch of a video query and a video entry for it to be
	// evidence (MethodSegment): frames of non-degenerate hashes
	// (MinDistinctRows) more than SegmentDistinctDistance from one
	// another, counted on each side, the smaller count deciding. A title
	// card, black frames, a fade, a test pattern or a still count once
	// however long they last. Default 4 (BENCHMARKS.md, issue 14).
	SegmentMinFrames int
	// SegmentDistinctDistance: frames of a stretch within it of a frame
	// counted already are not counted again. Default 24: a slow pan moves
	// a frame's hash by 5 to 15 bits a second, so a still panned for 6
	// seconds counts about twice.
	SegmentDistinctDistance int
	// SegmentMinSeconds is the shortest segment, in seconds of the query.
	// Default 5.
	SegmentMinSeconds float64
	// SegmentMinSpeed and SegmentMaxSpeed bound the speed of an alignment,
	// in seconds of the entry per second of the query (a re-edit played
	// 25% faster shows 1.25 s of the entry a second). Defaults 0.7 and
	// 1.43: 30% slower or faster, and a little more.
	SegmentMinSpeed, SegmentMaxSpeed float64
	// SegmentTolerance is how far, in seconds of the entry, a frame pair
	// may be from the alignment's line and still be on it: frames are
	// sampled once a second on each side, and a still's frames are
	// collapsed into its first. Default 1.5.
	SegmentTolerance float64
	// SegmentMaxGap is the longest stretch of the query, in seconds,
	// without an aligned frame inside one segment (frames lost to an
	// overlay or a low-quality second). Default 5.
	SegmentMaxGap float64
	// SegmentRangeDistance is the largest distance of a frame pair on a
	// segment's line, next to it, that widens the segment's ranges (never
	// its evidence): at a changed speed the two videos' samples fall at
	// different moments of moving footage, and the frames at the ends of a
	// copy land just past the threshold (32 to 38 bits) where unrelated
	// frames are 128 apart. Default 40.
	SegmentRangeDistance int
	// SegmentPairsPerFrame bounds the entry frames each query frame is
	// paired with for alignment, the nearest first: the alignment's memory
	// and time stay linear in the query's frames when a video repeats
	// itself. Default 16.
	SegmentPairsPerFrame int
	// RangeGap is the longest gap, in seconds, between two matched spans
	// of a video that are reported as one range: one missed sample at one
	// frame per second. Default 1.
	RangeGap float64
}

// Seeks reports whether the rules seek evidence of method m
// (Rules.Methods; MethodVideo and MethodSegment always).
func (r *Rules) Seeks(m Method) bool { return m == MethodVideo || m == MethodSegment || r.Methods[m] }

// DefaultBudget is the default operating point (Rules.Budget): the largest
// budget at which the false matches on the calibration half of the
// negatives were no more than plain PDQ's at 31 with its 8 dihedral
// variants on the same pairs (111 against 112 of 60.8 million pairs; at
// 3.5e-6 140). BENCHMARKS.md gives the rate measured for it on the held-out
// half (135 against plain PDQ's 176 of 62.4 million pairs).
const DefaultBudget = 3e-6

// DefaultMaxVideoWork is the default Rules.MaxVideoWork: a 10,000-frame
// query (the most hashing samples by default) against ten 10,000-frame
// candidates. A core compares about 1.1e8 frame pairs a second
// with segment matching (BenchmarkVideoCompare, on a shared machine;
// 1.35e8 before it), so this is about nine seconds of one core; without a bound, one 20,000-frame query against a
// thousand 20,000-frame entries (anyone allowed to add can add them) would
// hold a core for most of a day.
const DefaultMaxVideoWork = 1_000_000_000

// DefaultRules returns the default rules.
func DefaultRules() Rules {
	return Rules{
		Budget:       DefaultBudget,
		ReviewFactor: 100,
		Calibration:  DefaultCalibration(),
		Methods: map[Method]bool{
			MethodPDQ: true, MethodRegion: true, MethodPHash: true,
			MethodKeypoints: true, MethodDigest: true,
		},
		// Every extra pair tried is another chance of a false match: the
		// collage quarters and crop windows, the likeliest to collide, are
		// held to 28.
		RegionThresholds: map[[2]hashing.RegionKind]int{
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
		},
		CorroborateDistance:     96,
		UncorroboratedThreshold: 4,
		MinDistinctRows:         11,
		KeypointKeyRadius:       3,
		KeypointMinVotes:        2,
		MaxKeypointCandidates:   64,
		KeypointMinInliers:      keypoint.MinInliers,
		KeypointMinSpread:       keypoint.MinSpread,
		KeypointMinCoverage:     0.5,
		PixelMinInliers:         5,
		PixelMinBlocks:          8,
		MaxPixelCandidates:      32,
		MaxVideoCandidates:      1000,
		MaxVideoWork:            DefaultMaxVideoWork,
		RangeGap:                1.0,
		SegmentMinFrames:        4,
		SegmentDistinctDistance: 24,
		SegmentMinSeconds:       5,
		SegmentMinSpeed:         0.7,
		SegmentMaxSpeed:         1.43,
		SegmentTolerance:        1.5,
		SegmentMaxGap:           5,
		SegmentPairsPerFrame:    16,
		SegmentRangeDistance:    40,
	}
}
