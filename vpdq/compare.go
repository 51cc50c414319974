package vpdq

import (
	"encoding/binary"
	"math/bits"
	"slices"

	"github.com/mediamatch/mediamatch/pdq"
)

// The defaults of python-threatexchange's vPDQ signal type and index
// (threatexchange/extensions/vpdq/vpdq_util.py).
const (
	// DefaultDistance is the largest Hamming distance at which two frame
	// hashes match (VPDQ_DISTANCE_THRESHOLD), PDQ's usual threshold.
	DefaultDistance = 31
	// DefaultMinQuality is the lowest PDQ quality of a frame that takes part
	// in matching (VPDQ_QUALITY_THRESHOLD).
	DefaultMinQuality = 50
	// DefaultQueryPercent is the share of the query's distinct frame hashes
	// that must match for a video match (VPDQ_QUERY_MATCH_THRESHOLD_PERCENT).
	DefaultQueryPercent = 80.0
	// DefaultEntryPercent is the share of the compared (indexed) video's
	// distinct frame hashes that must match (VPDQ_INDEX_MATCH_THRESHOLD_PERCENT):
	// zero, so a short clip of a long video matches it.
	DefaultEntryPercent = 0.0
	// DefaultMaxGap is the largest gap, in seconds, between the timestamps
	// of two matched frames that one Range spans: at the usual one sample a
	// second, one unmatched sample between two matched ones is bridged.
	DefaultMaxGap = 2.0
)

// Options tunes Compare. A zero field takes its default; a negative one is
// used as given (a negative MinQuality or percentage admits everything, a
// negative Distance matches nothing, a negative MaxGap never merges).
type Options struct {
	Distance     int     // largest matching Hamming distance; default DefaultDistance
	MinQuality   int     // frames of lower quality are ignored; default DefaultMinQuality
	QueryPercent float64 // match threshold on Result.QueryPercent; default DefaultQueryPercent
	EntryPercent float64 // match threshold on Result.EntryPercent; default DefaultEntryPercent
	MaxGap       float64 // seconds bridged inside one Range; default DefaultMaxGap
}

// Defaults returns the options Compare uses for a zero Options.
func Defaults() Options {
	return Options{
		Distance:     DefaultDistance,
		MinQuality:   DefaultMinQuality,
		QueryPercent: DefaultQueryPercent,
		EntryPercent: DefaultEntryPercent,
		MaxGap:       DefaultMaxGap,
	}
}

// withDefaults replaces the zero fields of o by their defaults.
func (o Options) withDefaults() Options {
	d := Defaults()
	if o.Distance == 0 {
		o.Distance = d.Distance
	}
	if o.MinQuality == 0 {
		o.MinQuality = d.MinQuality
	}
	if o.QueryPercent == 0 {
		o.QueryPercent = d.QueryPercent
	}
	if o.EntryPercent == 0 {
		o.EntryPercent = d.EntryPercent
	}
	if o.MaxGap == 0 {
		o.MaxGap = d.MaxGap
	}
	return o
}

// Range is a span of a video, in seconds. A single matched frame gives
// Start == End.
type Range struct {
	Start, End float64
}

// Result is the outcome of comparing two videos.
type Result struct {
	// QueryPercent is the share, 0..100, of the query's distinct usable
	// frame hashes within the distance of some usable hash of the entry;
	// EntryPercent the same share of the entry's hashes in the query.
	QueryPercent, EntryPercent float64
	// Matched reports QueryPercent >= Options.QueryPercent and
	// EntryPercent >= Options.EntryPercent, with at least one frame matched.
	Matched bool
	// MaxDistance is the largest, over the query's matched hashes, of the
	// distance to the nearest entry hash: how far the worst matched frame
	// is. It is -1 when no frame matched.
	MaxDistance int
	// QueryRanges and EntryRanges are the spans of each video covered by
	// matched frames, in time order: the timestamps of every usable frame
	// (duplicates included) whose hash matched, merged where consecutive
	// ones are at most Options.MaxGap apart. Nil when no frame matched.
	QueryRanges, EntryRanges []Range
}

// Compare matches two videos as python-threatexchange's vPDQ matcher
// does: frames of quality below MinQuality are dropped, the remaining
// hashes are de-duplicated, and each side's percentage is the share of its
// distinct hashes within Distance of some hash of the other side. It also
// reports where the matches are. If either side has no usable frame, both
// percentages are 0 and nothing matches.
//
// Compare computes every distance between the two sets of distinct hashes,
// O(len(query) * len(entry)); it is meant for a few candidate videos, not
// for searching a collection.
func Compare(query, entry []Frame, o Options) Result {
	o = o.withDefaults()
	res := Result{MaxDistance: -1}
	q, e := usable(query, o.MinQuality), usable(entry, o.MinQuality)
	if len(q.hashes) == 0 || len(e.hashes) == 0 {
		return res
	}

	qBest := make([]int, len(q.hashes)) // nearest matching distance, or -1
	eHit := make([]bool, len(e.hashes))
	for i := range q.hashes {
		qBest[i] = nearest(&q.hashes[i], e.hashes, o.Distance, eHit)
	}

	qCount, eCount := 0, 0
	for _, d := range qBest {
		if d >= 0 {
			qCount++
			res.MaxDistance = max(res.MaxDistance, d)
		}
	}
	for _, hit := range eHit {
		if hit {
			eCount++
		}
	}
	res.QueryPercent = float64(qCount*100) / float64(len(q.hashes))
	res.EntryPercent = float64(eCount*100) / float64(len(e.hashes))
	res.Matched = qCount > 0 && res.QueryPercent >= o.QueryPercent && res.EntryPercent >= o.EntryPercent
	res.QueryRanges = q.ranges(func(i int) bool { return qBest[i] >= 0 }, o.MaxGap)
	res.EntryRanges = e.ranges(func(i int) bool { return eHit[i] }, o.MaxGap)
	return res
}

// words is a PDQ hash as four machine words, so that a distance is four
// XORs and four population counts.
type words [4]uint64

// toWords splits h into words; the byte order does not matter to a distance.
func toWords(h pdq.Hash) words {
	var w words
	for i := range w {
		w[i] = binary.LittleEndian.Uint64(h[8*i:])
	}
	return w
}

// nearest returns the smallest distance at most maxDist from a to one of
// hs, or -1, and sets hit[j] for every hs[j] within maxDist. It is the
// inner loop of Compare, kept small so that its values stay in registers.
func nearest(a *words, hs []words, maxDist int, hit []bool) int {
	best := -1
	hit = hit[:len(hs)]
	a0, a1, a2, a3 := a[0], a[1], a[2], a[3]
	for j := range hs {
		b := &hs[j]
		d := bits.OnesCount64(a0^b[0]) + bits.OnesCount64(a1^b[1]) +
			bits.OnesCount64(a2^b[2]) + bits.OnesCount64(a3^b[3])
		if d <= maxDist {
			hit[j] = true
			if best < 0 || d < best {
				best = d
			}
		}
	}
	return best
}

// video is one side of a comparison: its distinct usable hashes, and for
// every usable frame its timestamp and the position of its hash.
type video struct {
	hashes  []words
	seconds []float64
	hashOf  []int
}

// usable keeps the frames of quality at least minQuality and
// de-duplicates their hashes, in that order, as python-threatexchange's
// index does (prepare_vpdq_feature): a hash seen first at low quality and
// again at high quality counts.
func usable(frames []Frame, minQuality int) video {
	var v video
	seen := make(map[pdq.Hash]int, len(frames))
	for _, f := range frames {
		if f.Quality < minQuality {
			continue
		}
		k, ok := seen[f.Hash]
		if !ok {
			k = len(v.hashes)
			seen[f.Hash] = k
			v.hashes = append(v.hashes, toWords(f.Hash))
		}
		v.seconds = append(v.seconds, f.Seconds)
		v.hashOf = append(v.hashOf, k)
	}
	return v
}

// ranges merges the timestamps of the frames whose hash matched into
// spans no wider apart inside than maxGap.
func (v video) ranges(matched func(hash int) bool, maxGap float64) []Range {
	var ts []float64
	for i, k := range v.hashOf {
		if matched(k) {
			ts = append(ts, v.seconds[i])
		}
	}
	if len(ts) == 0 {
		return nil
	}
	slices.Sort(ts)
	out := []Range{{ts[0], ts[0]}}
	for _, t := range ts[1:] {
		last := &out[len(out)-1]
		if t-last.End <= maxGap {
			last.End = t
		} else {
			out = append(out, Range{t, t})
		}
	}
	return out
}
