package match

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sync"
)

// Calibration turns evidence into probabilities: per method, the share of
// unrelated pairs of images whose strongest evidence by that method is at
// least as strong as a given value. It is measured on negatives (images
// that are not copies of one another, every one against every other), so
// a score means what it says on media like them: the chance that a
// comparison with an unrelated image turns up evidence this strong.
//
// The measurements reach down to about one in the number of pairs; past
// them, a method's tail is extrapolated log-linearly from the strongest
// stretch it measured (see Calibrate). A Calibration is read-only once
// made.
type Calibration struct {
	// Source names the negatives measured.
	Source string `json:"source"`
	// Pairs is the number of ordered pairs (query, entry) measured.
	Pairs int64 `json:"pairs"`
	// Counts holds, per method, how many pairs had their strongest evidence
	// by it at each value of its statistic: the distance (index 0 is
	// distance 0), or for keypoints the number of inliers.
	Counts map[Method][]int64 `json:"counts"`
	// Combine turns a pair's smallest per-method probability into the
	// pair's score: the most, over the well-measured probabilities, of the
	// share of negative pairs whose smallest is at most p, divided by p
	// (at least 1). Methods that fire on different unrelated pairs make it
	// up to their number; methods that fire on the same pairs make it 1.
	// The smallest probability, not a product: on unrelated images the
	// methods are far from independent (a near copy fires them all), so a
	// product would claim pairs far rarer than they are.
	Combine float64 `json:"combine"`

	log10 map[Method][]float64
}

// Estimation constants.
const (
	// minTailCount is the least number of pairs a measured share rests on;
	// stronger values are extrapolated.
	minTailCount = 10
	// fitSpan is how far (in steps of the statistic) beyond the first
	// well-measured value the slope of the tail is taken from.
	fitSpan = 6
	// minLog10 is the smallest probability given, as a power of 10.
	minLog10 = -18
	// digestLog10: two unrelated files with the same 128-bit or longer
	// digest do not happen by chance; the same bytes are the same media.
	digestLog10 = -18
)

// defaultSlope is the slope, in decades per step, used when a method has
// too few measured values to fit one: shallow, so that a method seldom
// seen among negatives is not trusted much further than it was measured.
var defaultSlope = map[Method]float64{MethodKeypoints: 0.25}

const defaultDistanceSlope = 0.05

// Calibrate estimates a calibration from counts measured on pairs pairs
// (Calibration.Counts); Combine is left at 1 (see SetCombine).
func Calibrate(source string, pairs int64, counts map[Method][]int64) (*Calibration, error) {
	c := &Calibration{Source: source, Pairs: pairs, Counts: counts, Combine: 1}
	if err := c.init(); err != nil {
		return nil, err
	}
	return c, nil
}

// init computes the tails from the counts.
func (c *Calibration) init() error {
	if c.Pairs <= 0 {
		return fmt.Errorf("calibration over %d pairs", c.Pairs)
	}
	if c.Combine < 1 || math.IsNaN(c.Combine) || math.IsInf(c.Combine, 0) {
		return fmt.Errorf("calibration combine factor %v, want at least 1", c.Combine)
	}
	c.log10 = map[Method][]float64{}
	for m, counts := range c.Counts {
		if len(counts) == 0 {
			return fmt.Errorf("calibration of %s has no values", m)
		}
		var total int64
		for _, n := range counts {
			if n < 0 {
				return fmt.Errorf("calibration of %s has a negative count", m)
			}
			total += n
		}
		if total > c.Pairs {
			return fmt.Errorf("calibration of %s counts %d pairs of %d", m, total, c.Pairs)
		}
		c.log10[m] = tail(counts, c.Pairs, m == MethodKeypoints, m)
	}
	return nil
}

// tail returns log10 of the survival share at each value: for a distance,
// the pairs at most that far; for inliers (more is stronger), the pairs
// with at least that many.
func tail(counts []int64, pairs int64, higher bool, m Method) []float64 {
	n := len(counts)
	// Work strongest first: position k is value k for distances, value
	// n-1-k for inliers.
	at := func(k int) int {
		if higher {
			return n - 1 - k
		}
		return k
	}
	surv := make([]int64, n)
	var s int64
	for k := range n {
		s += counts[at(k)]
		surv[k] = s
	}
	out := make([]float64, n)
	first := slices.IndexFunc(surv, func(v int64) bool { return v >= minTailCount })
	slope := defaultDistanceSlope
	if v, ok := defaultSlope[m]; ok {
		slope = v
	}
	var anchor float64 // log10 share at position first
	if first < 0 {
		// Never measured well: all we know is fewer than minTailCount
		// pairs, at the weakest value.
		first = n - 1
		anchor = math.Log10(float64(minTailCount) / float64(pairs))
	} else {
		anchor = math.Log10(float64(surv[first]) / float64(pairs))
		// The measured slope, when there is one: the tail goes on as it
		// went over its strongest well-measured stretch.
		if end := min(n-1, first+fitSpan); end > first {
			if fit := (math.Log10(float64(surv[end])/float64(pairs)) - anchor) / float64(end-first); fit > 0 {
				slope = fit
			}
		}
	}
	for k := range n {
		var v float64
		if k < first {
			v = anchor - slope*float64(first-k)
		} else if surv[k] > 0 {
			v = math.Log10(float64(surv[k]) / float64(pairs))
		} else {
			v = anchor
		}
		out[at(k)] = max(minLog10, v)
	}
	// Weaker evidence is never rarer than stronger.
	for k := 1; k < n; k++ {
		out[at(k)] = max(out[at(k)], out[at(k-1)])
	}
	return out
}

// Probability is the calibrated share of unrelated pairs in which e's
// method finds evidence at least as strong as e. A method the calibration
// has no measurement of gets 1: it cannot match on its own.
func (c *Calibration) Probability(e *Evidence) float64 {
	if e.Method == MethodDigest {
		return math.Pow(10, digestLog10)
	}
	m, x := e.Method, e.Distance
	if m == MethodVideo || m == MethodSegment {
		// Provisional, until video negatives calibrate the video rules: a
		// video that passed the vPDQ rule (most of its distinct frames
		// matched), or has a segment (enough distinct frames aligned), is
		// weighed as its best matched frame by PDQ.
		m, x = MethodPDQ, e.bestDistance
	}
	if m == MethodKeypoints {
		x = e.Inliers
	}
	t := c.log10[m]
	if len(t) == 0 {
		return 1
	}
	x = min(max(x, 0), len(t)-1)
	return math.Pow(10, t[x])
}

// Smallest is the statistic the score is a function of: the smallest of
// the evidence's probabilities (1 for none).
func Smallest(es []Evidence) float64 {
	p := 1.0
	for i := range es {
		p = min(p, es[i].Probability)
	}
	return p
}

// Score is the pair's estimated false-match probability from its evidence:
// Combine times the smallest Probability, at most 1.
func (c *Calibration) Score(es []Evidence) float64 {
	return min(1, c.Combine*Smallest(es))
}

// SetCombine measures Combine from the smallest per-method probability
// (Smallest) of every pair of the negatives that had any evidence (the
// other pairs have none), over the pairs measured well: at least
// minTailCount of them.
func (c *Calibration) SetCombine(smallest []float64) {
	ps := slices.Sorted(slices.Values(smallest))
	c.Combine = 1
	for i := minTailCount - 1; i < len(ps); i++ {
		if ps[i] <= 0 || (i+1 < len(ps) && ps[i+1] == ps[i]) {
			continue // the last of equal values carries their share
		}
		c.Combine = max(c.Combine, float64(i+1)/float64(c.Pairs)/ps[i])
	}
}

// MarshalJSON writes the measurements (the tails are computed from them).
func (c *Calibration) MarshalJSON() ([]byte, error) {
	type plain Calibration
	return json.Marshal((*plain)(c))
}

// ParseCalibration reads a calibration written by MarshalJSON.
func ParseCalibration(data []byte) (*Calibration, error) {
	type plain Calibration
	var c Calibration
	if err := json.Unmarshal(data, (*plain)(&c)); err != nil {
		return nil, fmt.Errorf("calibration: %w", err)
	}
	if err := c.init(); err != nil {
		return nil, err
	}
	return &c, nil
}

//go:embed calibration.json
var defaultCalibration []byte

// DefaultCalibration is the calibration measured on the calibration half of
// the negative corpus (scripts/fetch-negatives; BENCHMARKS.md has the run).
var DefaultCalibration = sync.OnceValue(func() *Calibration {
	c, err := ParseCalibration(defaultCalibration)
	if err != nil {
		panic(fmt.Sprintf("match: the embedded calibration: %v", err))
	}
	return c
})
