package robustness

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mediamatch/mediamatch/keypoint"
	"github.com/mediamatch/mediamatch/match"
)

// Report is the outcome of a run; its JSON form is what `mediamatch bench
// robustness --json` writes.
type Report struct {
	// Seed made the transforms' random choices.
	Seed uint64 `json:"seed"`
	// Server is the server measured: its address, or "in-process".
	Server string `json:"server"`
	// Bank is the bank the run created.
	Bank string `json:"bank"`
	// Workers is how many variants were made and matched at once.
	Workers int `json:"workers"`
	// Corpus describes the images used.
	Corpus CorpusInfo `json:"corpus"`
	// Matchers names the matchers measured, in column order.
	Matchers []string `json:"matchers"`
	// Thresholds are the client-side matchers' largest matching distances.
	Thresholds map[string]int `json:"thresholds"`
	// Transforms holds the recall of every transform, in report order.
	Transforms []TransformResult `json:"transforms"`
	// Groups holds the mean recall of each group of transforms.
	Groups []GroupResult `json:"groups"`
	// FalseMatches holds each matcher's false-match rates over the
	// distractors, by matcher name.
	FalseMatches map[string]FalseMatchRate `json:"false_matches"`
	// KeypointAgreement counts the (distractor, original) pairs by how many
	// of their keypoints agree on one scale and shift (keypoint.Verify):
	// element k is the pairs agreeing on k, the last on that many or more.
	// A match needs keypoint.MinInliers.
	KeypointAgreement []int64 `json:"keypoint_agreement"`
	// FalseMatchExamples lists false matches, at most 100 per matcher, so
	// that a person can look at the pairs.
	FalseMatchExamples []FalseMatch `json:"false_match_examples"`
	// Latency summarises the server's Match calls as the client saw them.
	Latency Latency `json:"match_latency_ms"`
	// Durations are the phases' wall-clock times.
	Durations Durations `json:"durations_seconds"`
	// Errors counts failed Match calls (each counted as a miss).
	Errors int `json:"errors"`
	// Budget is the operating point the server's hits and false matches
	// were counted at.
	Budget float64 `json:"budget"`
	// DistractorScores are the scores of every (distractor, entry) pair
	// the server found any evidence for, at any budget.
	DistractorScores []float64 `json:"distractor_scores"`
}

// CorpusInfo describes the images of a run.
type CorpusInfo struct {
	// Originals and Distractors are the numbers of images used.
	Originals   int `json:"originals"`
	Distractors int `json:"distractors"`
	// MaxSide is the longest side images were scaled to.
	MaxSide int `json:"max_side"`
	// SkippedOriginals and SkippedDistractors are files that could not be
	// used (with the reason for distractors).
	SkippedOriginals   []string `json:"skipped_originals,omitempty"`
	SkippedDistractors []string `json:"skipped_distractors,omitempty"`
	// SharedEntries counts originals the server took for another original
	// already in the bank (identical content): their variants count as hits
	// on either.
	SharedEntries int `json:"shared_entries,omitempty"`
}

// TransformResult is one transform's row.
type TransformResult struct {
	Name        string `json:"name"`
	Group       Group  `json:"group"`
	Description string `json:"description"`
	// Queries is the number of variants made (one per original).
	Queries int `json:"queries"`
	// Hits and Recall are per matcher: variants that matched their
	// original, and the share of Queries that is.
	Hits   map[string]int     `json:"hits"`
	Recall map[string]float64 `json:"recall"`
	// MedianDistance is the median client-side Hamming distance between
	// variant and original, for pdq and phash.
	MedianDistance map[string]float64 `json:"median_distance"`
	// HitHashTypes counts, per method (package match), the server's hits
	// with evidence by that method (a hit can count under several).
	HitHashTypes map[string]int `json:"hit_hash_types"`
	// Scores are the server's scores of each variant's original (1 when
	// it was not found at all), and MethodProbabilities each method's
	// evidence probability (1 when the method found nothing), in variant
	// order: recall at any budget.
	Scores              []float64            `json:"scores"`
	MethodProbabilities map[string][]float64 `json:"method_probabilities"`
	// Evidence is each variant's evidence for its original (none when it
	// was not found), so that the run can be scored again under another
	// calibration (Rescore).
	Evidence [][]NegativeEvidence `json:"evidence"`
	// LowQuality counts variants the server reported as below its PDQ
	// quality minimum.
	LowQuality int `json:"low_quality"`
	// OtherOriginals counts matches of a variant to originals other than
	// its own.
	OtherOriginals int `json:"other_originals"`
	// Errors counts variants that could not be made or matched; FirstError
	// says why the first did not.
	Errors     int    `json:"errors"`
	FirstError string `json:"first_error,omitempty"`
}

// GroupResult is the mean recall of one group of transforms.
type GroupResult struct {
	Group      Group              `json:"group"`
	Transforms int                `json:"transforms"`
	MeanRecall map[string]float64 `json:"mean_recall"`
}

// FalseMatchRate counts one matcher's false matches. A pair is a
// (distractor, original); a query is a distractor.
type FalseMatchRate struct {
	Pairs          int64   `json:"pairs"`
	MatchedPairs   int64   `json:"matched_pairs"`
	PairRate       float64 `json:"pair_rate"`
	Queries        int     `json:"queries"`
	MatchedQueries int     `json:"matched_queries"`
	QueryRate      float64 `json:"query_rate"`
	// ByHashType counts the matched pairs per hash type that matched (for
	// the server, a pair matched by several types counts under each).
	ByHashType map[string]int64 `json:"by_hash_type"`
	// Listed is how many of the matched pairs FalseMatchExamples lists.
	Listed int `json:"listed"`
}

// FalseMatch is one distractor matching one original.
type FalseMatch struct {
	Matcher    string `json:"matcher"`
	Distractor string `json:"distractor"`
	Original   string `json:"original"`
	HashType   string `json:"hash_type"`
	Distance   int    `json:"distance"`
}

// Latency summarises Match calls, in milliseconds.
type Latency struct {
	Calls  int     `json:"calls"`
	Median float64 `json:"median"`
	Mean   float64 `json:"mean"`
	P95    float64 `json:"p95"`
}

// Durations are a run's phases, in seconds.
type Durations struct {
	Load        float64 `json:"load"`
	Add         float64 `json:"add"`
	Variants    float64 `json:"variants"`
	Distractors float64 `json:"distractors"`
	Pairs       float64 `json:"pairs"`
	Total       float64 `json:"total"`
}

// summarizeTransform turns one transform's results into its row.
func summarizeTransform(t Transform, res []variantResult) TransformResult {
	tr := TransformResult{
		Name: t.Name, Group: t.Group, Description: t.Description, Queries: len(res),
		Hits: map[string]int{}, Recall: map[string]float64{}, MedianDistance: map[string]float64{},
		HitHashTypes: map[string]int{}, MethodProbabilities: map[string][]float64{},
	}
	for _, m := range Matchers {
		tr.Hits[m] = 0
	}
	for _, v := range res {
		for m := range v.methods {
			tr.MethodProbabilities[m] = nil
		}
	}
	var pd, hd []int
	for _, v := range res {
		tr.Scores = append(tr.Scores, v.score)
		tr.Evidence = append(tr.Evidence, v.evidence)
		for m := range tr.MethodProbabilities {
			p, ok := v.methods[m]
			if !ok {
				p = 1
			}
			tr.MethodProbabilities[m] = append(tr.MethodProbabilities[m], p)
		}
		for k, m := range Matchers {
			if v.hit[k] {
				tr.Hits[m]++
			}
		}
		for _, typ := range v.hitTypes {
			tr.HitHashTypes[typ]++
		}
		if v.lowQuality {
			tr.LowQuality++
		}
		tr.OtherOriginals += v.others
		if v.err != "" {
			if tr.Errors == 0 {
				tr.FirstError = v.err
			}
			tr.Errors++
		}
		pd = append(pd, v.pdqDist)
		hd = append(hd, v.phashDist)
	}
	for _, m := range Matchers {
		if tr.Queries > 0 {
			tr.Recall[m] = float64(tr.Hits[m]) / float64(tr.Queries)
		}
	}
	tr.MedianDistance[MatcherPDQ] = median(pd)
	tr.MedianDistance[MatcherPHash] = median(hd)
	return tr
}

// summarizeGroups averages recall over each group's transforms.
func summarizeGroups(rows []TransformResult) []GroupResult {
	var out []GroupResult
	for _, g := range []Group{Photometric, Geometric} {
		gr := GroupResult{Group: g, MeanRecall: map[string]float64{}}
		for _, row := range rows {
			if row.Group != g {
				continue
			}
			gr.Transforms++
			for _, m := range Matchers {
				gr.MeanRecall[m] += row.Recall[m]
			}
		}
		if gr.Transforms == 0 {
			continue
		}
		for _, m := range Matchers {
			gr.MeanRecall[m] /= float64(gr.Transforms)
		}
		out = append(out, gr)
	}
	return out
}

// summarizeLatency summarises call durations.
func summarizeLatency(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	ms := make([]float64, len(ds))
	var sum float64
	for i, d := range ds {
		ms[i] = float64(d.Microseconds()) / 1000
		sum += ms[i]
	}
	slices.Sort(ms)
	return Latency{
		Calls:  len(ms),
		Median: medianSorted(ms),
		Mean:   sum / float64(len(ms)),
		P95:    ms[min(len(ms)-1, len(ms)*95/100)],
	}
}

func median(xs []int) float64 {
	if len(xs) == 0 {
		return 0
	}
	f := make([]float64, len(xs))
	for i, x := range xs {
		f[i] = float64(x)
	}
	slices.Sort(f)
	return medianSorted(f)
}

func medianSorted(xs []float64) float64 {
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// WriteTable writes the report for people: recall per transform and
// matcher, the group means, the false-match rates and the timings.
func (r *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "mediamatch robustness benchmark: %d originals, %d distractors, seed %d, server %s\n",
		r.Corpus.Originals, r.Corpus.Distractors, r.Seed, r.Server)
	fmt.Fprintf(&b, "recall = share of re-edited originals found. pdq (<= %d) and phash (<= %d): whole-image hashes compared client-side;\n",
		r.Thresholds[MatcherPDQ], r.Thresholds[MatcherPHash])
	fmt.Fprintf(&b, "mediamatch: the server's Match with default options. dist: median client-side distance to the original.\n\n")

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "transform\tgroup\tpdq\tphash\tmediamatch\tpdq dist\tphash dist\t")
	for _, t := range r.Transforms {
		fmt.Fprintf(tw, "%s\t%s\t%.3f\t%.3f\t%.3f\t%.0f\t%.0f\t", t.Name, t.Group,
			t.Recall[MatcherPDQ], t.Recall[MatcherPHash], t.Recall[MatcherServer],
			t.MedianDistance[MatcherPDQ], t.MedianDistance[MatcherPHash])
		if t.Errors > 0 {
			fmt.Fprintf(tw, "%d errors: %s", t.Errors, t.FirstError)
		}
		fmt.Fprintln(tw)
	}
	for _, g := range r.Groups {
		fmt.Fprintf(tw, "mean %s\t(%d)\t%.3f\t%.3f\t%.3f\t\t\t\n", g.Group, g.Transforms,
			g.MeanRecall[MatcherPDQ], g.MeanRecall[MatcherPHash], g.MeanRecall[MatcherServer])
	}
	fmt.Fprintln(tw, "\t\t\t\t\t\t\t")
	fmt.Fprintln(tw, "false matches\t\tpdq\tphash\tmediamatch\t\t\t")
	rate := func(m string, pairs bool) string {
		f := r.FalseMatches[m]
		if pairs {
			return fmt.Sprintf("%d/%d = %.2g", f.MatchedPairs, f.Pairs, f.PairRate)
		}
		return fmt.Sprintf("%d/%d = %.2g", f.MatchedQueries, f.Queries, f.QueryRate)
	}
	fmt.Fprintf(tw, "per pair\t\t%s\t%s\t%s\t\t\t\n", rate(MatcherPDQ, true), rate(MatcherPHash, true), rate(MatcherServer, true))
	fmt.Fprintf(tw, "per distractor\t\t%s\t%s\t%s\t\t\t\n", rate(MatcherPDQ, false), rate(MatcherPHash, false), rate(MatcherServer, false))
	if err := tw.Flush(); err != nil {
		return err
	}

	if by := r.FalseMatches[MatcherServer].ByHashType; len(by) > 0 {
		var parts []string
		for _, typ := range slices.Sorted(maps.Keys(by)) {
			parts = append(parts, fmt.Sprintf("%s %d", typ, by[typ]))
		}
		fmt.Fprintf(&b, "mediamatch's false-matched pairs by the hash type that matched: %s\n", strings.Join(parts, ", "))
	}
	if len(r.KeypointAgreement) > 0 {
		var parts []string
		for k, n := range r.KeypointAgreement {
			label := strconv.Itoa(k)
			if k == len(r.KeypointAgreement)-1 {
				label += "+"
			}
			parts = append(parts, fmt.Sprintf("%s: %d", label, n))
		}
		fmt.Fprintf(&b, "distractor pairs by agreeing keypoints (a match needs %d): %s\n", keypoint.MinInliers, strings.Join(parts, ", "))
	}
	if len(r.FalseMatchExamples) > 0 {
		fmt.Fprintf(&b, "\nfalse matches (first %d per matcher):\n", maxShownExamples)
		shown := map[string]int{}
		for _, fm := range r.FalseMatchExamples {
			if shown[fm.Matcher]++; shown[fm.Matcher] > maxShownExamples {
				continue
			}
			fmt.Fprintf(&b, "  %-10s %s ~ %s (%s distance %d)\n", fm.Matcher, fm.Distractor, fm.Original, fm.HashType, fm.Distance)
		}
	}
	fmt.Fprintf(&b, "\nMatch latency: median %.1f ms, mean %.1f ms, p95 %.1f ms over %d calls (%d workers); %d failed calls\n",
		r.Latency.Median, r.Latency.Mean, r.Latency.P95, r.Latency.Calls, r.Workers, r.Errors)
	d := r.Durations
	fmt.Fprintf(&b, "time: load %.0fs, add %.0fs, variants %.0fs, distractors %.0fs, pairs %.1fs, total %.0fs\n",
		d.Load, d.Add, d.Variants, d.Distractors, d.Pairs, d.Total)
	_, err := io.WriteString(w, b.String())
	return err
}

// maxShownExamples bounds the false matches printed per matcher; the JSON
// lists more.
const maxShownExamples = 10

// Rescore scores the run's evidence again under cal and rules at budget,
// as the server would have with that calibration: each variant's score,
// method probabilities and the server's hits and recall. The client-side
// matchers and the false matches are left as measured.
func (r *Report) Rescore(cal *match.Calibration, rules match.Rules, budget float64) {
	for ti := range r.Transforms {
		t := &r.Transforms[ti]
		hits := 0
		t.HitHashTypes = map[string]int{}
		for m := range t.MethodProbabilities {
			t.MethodProbabilities[m] = t.MethodProbabilities[m][:0]
		}
		for vi, evs := range t.Evidence {
			var es []match.Evidence
			probs := map[string]float64{}
			for _, e := range evs {
				if (e.Method == match.MethodKeypoints && e.Inliers < rules.KeypointMinInliers) || !rules.Seeks(e.Method) {
					continue
				}
				me := match.Evidence{Method: e.Method, Distance: e.Distance, Inliers: e.Inliers}
				me.Probability = cal.Probability(&me)
				es = append(es, me)
				probs[string(e.Method)] = me.Probability
			}
			score := 1.0
			if len(es) > 0 {
				score = cal.Score(es)
			}
			t.Scores[vi] = score
			for m := range t.MethodProbabilities {
				p, ok := probs[m]
				if !ok {
					p = 1
				}
				t.MethodProbabilities[m] = append(t.MethodProbabilities[m], p)
			}
			if score <= budget {
				hits++
				for m := range probs {
					t.HitHashTypes[m]++
				}
			}
		}
		t.Hits[MatcherServer] = hits
		if t.Queries > 0 {
			t.Recall[MatcherServer] = float64(hits) / float64(t.Queries)
		}
	}
	r.Groups = summarizeGroups(r.Transforms)
	r.Budget = budget
}
