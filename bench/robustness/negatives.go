package robustness

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"math"
	"math/bits"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/index"
	"github.com/mediamatch/mediamatch/match"
	"github.com/mediamatch/mediamatch/pdq"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"google.golang.org/grpc"
)

// NegativesOptions configures Negatives.
type NegativesOptions struct {
	// Conn is the connection to the mediamatch server. Required.
	Conn grpc.ClientConnInterface
	// Files are the negatives: images that are not copies of one another.
	// Each is added to one bank, then matched against it; every ordered
	// pair of two different files is a comparison of unrelated images.
	Files []string
	// Bank is the bank created for the run. Default
	// "negatives-NANOSECONDS"; it is deleted after the run.
	Bank string
	// Workers, MaxSide and CallTimeout are as in Options.
	Workers     int
	MaxSide     int
	CallTimeout time.Duration
	// Log receives progress lines; nil for none.
	Log io.Writer
}

// NegativesReport is what Negatives measured: every pair in which the
// server found any evidence, with the probability it gave, and plain PDQ's
// matches on the same pairs.
type NegativesReport struct {
	Server string `json:"server"`
	// Images is the number of files banked and matched; Failed those that
	// could not be (unreadable, or refused by the server), left out.
	Images int      `json:"images"`
	Failed []string `json:"failed,omitempty"`
	// Pairs is the number of ordered pairs (query, another banked image).
	Pairs int64 `json:"pairs"`
	// Truncated counts queries whose answer reached the match limit (their
	// weakest pairs are missing from Found).
	Truncated int `json:"truncated"`
	// Found are the pairs with evidence (at a false-match budget of 1, so
	// every evidence the server's rules find), strongest score first.
	Found []NegativePair `json:"found"`
	// PDQ are the pairs plain PDQ matches: the query's best of its eight
	// dihedral PDQ hashes within PDQThreshold of the entry's whole-image
	// hash, whatever their quality.
	PDQ []NegativePair `json:"pdq"`
	// Counts holds, per method, the pairs by the statistic of their
	// strongest evidence by it as the server found it (within its search
	// radii).
	Counts map[match.Method][]int64 `json:"counts"`
	// AllPairs holds the same for the hash methods over every pair and
	// every distance, computed client-side from the hashes the server
	// returned and stored, by the server's rules (the query's dihedral
	// variants, the region pairs of match.Rules.RegionThresholds of
	// matchable quality, the 64-bit hashes with their PDQ corroboration):
	// the tails beyond the radii, which a calibration extrapolates from.
	AllPairs map[match.Method][]int64 `json:"all_pairs"`
	// Seconds is the run's duration.
	Seconds float64 `json:"seconds"`
}

// NegativePair is one pair of unrelated images that something matched.
type NegativePair struct {
	Query    string             `json:"query"`
	Entry    string             `json:"entry"`
	Score    float64            `json:"score"`
	Distance int                `json:"distance,omitempty"`
	Evidence []NegativeEvidence `json:"evidence,omitempty"`
}

// NegativeEvidence is one method's strongest evidence in a pair.
type NegativeEvidence struct {
	Method      match.Method `json:"method"`
	Type        string       `json:"type"`
	Distance    int          `json:"distance"`
	Inliers     int          `json:"inliers,omitempty"`
	Regions     string       `json:"regions,omitempty"`
	Probability float64      `json:"probability"`
}

// statistic is the value the calibration counts evidence by.
func (e *NegativeEvidence) statistic() int {
	if e.Method == match.MethodKeypoints {
		return e.Inliers
	}
	return e.Distance
}

// countsSize is the number of values counted per method: every distance
// up to the type's default threshold (the server searches no further), up
// to 256 inliers, or every step of pixel evidence.
func countsSize(m match.Method, typ string) int {
	if m == match.MethodKeypoints {
		return 257
	}
	if m == match.MethodPixels {
		return match.PixelSteps + 1
	}
	t, err := hashing.Lookup(typ)
	if err != nil {
		return 1
	}
	return t.Threshold + 1
}

// imageHashes is what the run keeps of a query's hashes for plain PDQ.
type imageHashes struct {
	whole    pdq.Hash
	dihedral [pdq.NumDihedral]pdq.Hash
	ok       bool
}

// Negatives measures false matches on negatives: it banks every file,
// matches every file against the bank with a false-match budget of 1 (so
// that every pair with evidence comes back with its score), and reports the
// pairs found and the counts a calibration is made from.
func Negatives(ctx context.Context, opts NegativesOptions) (*NegativesReport, error) {
	if opts.Conn == nil {
		return nil, ErrNoConn
	}
	if opts.Bank == "" {
		opts.Bank = fmt.Sprintf("negatives-%d", time.Now().UnixNano())
	}
	r := newRunner(Options{Conn: opts.Conn, Bank: opts.Bank, Workers: opts.Workers, MaxSide: opts.MaxSide, CallTimeout: opts.CallTimeout, Log: opts.Log})
	start := time.Now()
	if err := r.createBank(ctx); err != nil {
		return nil, err
	}
	defer r.deleteBank()

	rep := &NegativesReport{Counts: map[match.Method][]int64{}}
	images := make([]*original, len(opts.Files))
	encoded := make([][]byte, len(opts.Files))
	var mu sync.Mutex
	var failed []string
	fail := func(path string, err error) {
		mu.Lock()
		failed = append(failed, fmt.Sprintf("%s: %v", filepath.Base(path), err))
		mu.Unlock()
	}
	var done int64
	err := r.parallelErr(len(opts.Files), func(i int) error {
		o := &original{path: opts.Files[i]}
		img, err := Load(o.path, r.opts.MaxSide)
		if err != nil {
			fail(o.path, err)
			return ctx.Err()
		}
		// The query sends the same bytes again: keep them, not the pixels.
		data, err := Encode(img)
		if err != nil {
			fail(o.path, err)
			return ctx.Err()
		}
		if err := r.addData(ctx, o, data); err != nil {
			fail(o.path, err)
			return ctx.Err()
		}
		encoded[i] = data
		images[i] = o
		mu.Lock()
		done++
		if done%500 == 0 {
			r.logf("negatives: %d of %d added (%.0f s)", done, len(opts.Files), time.Since(start).Seconds())
		}
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	byEntry := map[string]int{}
	for i, o := range images {
		if o != nil {
			byEntry[o.entry] = i
		}
	}
	n := len(byEntry)
	rep.Images = n
	rep.Pairs = int64(n) * int64(n-1)

	hashes := make([]imageHashes, len(images))
	queries := make([]*pb.MediaHashes, len(images))
	done = 0
	err = r.parallelErr(len(images), func(i int) error {
		o := images[i]
		if o == nil {
			return nil
		}
		data := encoded[i]
		encoded[i] = nil
		cctx, cancel := context.WithTimeout(ctx, r.opts.CallTimeout)
		res, err := r.matchCall(cctx, data, &pb.MatchOptions{Banks: []string{"banks/" + r.opts.Bank}, FalseMatchBudget: ptr(1.0), Limit: match.MaxLimit})
		cancel()
		if err != nil {
			fail(o.path, err)
			return ctx.Err()
		}
		hashes[i] = dihedralOf(res.GetQuery())
		queries[i] = res.GetQuery()
		var found []NegativePair
		for _, m := range res.GetMatches() {
			j, ok := byEntry[m.GetEntry()]
			if !ok || j == i {
				continue
			}
			p := NegativePair{Query: filepath.Base(o.path), Entry: filepath.Base(images[j].path), Score: m.GetScore()}
			for _, e := range m.GetEvidence() {
				p.Evidence = append(p.Evidence, NegativeEvidence{Method: match.Method(e.GetMethod()), Type: e.GetHashType(),
					Distance: int(e.GetDistance()), Inliers: int(e.GetKeypointInliers()), Regions: regionPair(e), Probability: e.GetProbability()})
			}
			found = append(found, p)
		}
		mu.Lock()
		defer mu.Unlock()
		if res.GetTruncated() {
			rep.Truncated++
		}
		rep.Found = append(rep.Found, found...)
		for _, p := range found {
			for _, e := range p.Evidence {
				c := rep.Counts[e.Method]
				if c == nil {
					c = make([]int64, countsSize(e.Method, e.Type))
					rep.Counts[e.Method] = c
				}
				c[min(e.statistic(), len(c)-1)]++
			}
		}
		done++
		if done%500 == 0 {
			r.logf("negatives: %d of %d matched (%.0f s)", done, n, time.Since(start).Seconds())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := rep.allPairs(ctx, r, images, queries); err != nil {
		return nil, err
	}
	// Plain PDQ over every ordered pair.
	for i := range images {
		if images[i] == nil || !hashes[i].ok {
			continue
		}
		for j := range images {
			if j == i || images[j] == nil || !hashes[j].ok {
				continue
			}
			best := math.MaxInt
			for d := range hashes[i].dihedral {
				best = min(best, pdq.Distance(hashes[i].dihedral[d], hashes[j].whole))
			}
			if best <= PDQThreshold {
				rep.PDQ = append(rep.PDQ, NegativePair{Query: filepath.Base(images[i].path), Entry: filepath.Base(images[j].path), Distance: best})
			}
		}
	}
	slices.SortFunc(rep.Found, func(a, b NegativePair) int { return cmpFloat(a.Score, b.Score) })
	slices.SortFunc(rep.PDQ, func(a, b NegativePair) int { return a.Distance - b.Distance })
	slices.Sort(failed)
	rep.Failed = failed
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func ptr[T any](v T) *T { return &v }

// dihedralOf reads a query's whole PDQ hash and its eight variants from
// the hashes the server returned.
func dihedralOf(m *pb.MediaHashes) imageHashes {
	var h imageHashes
	n := 0
	for _, x := range m.GetHashes() {
		if x.GetType() != hashing.PDQ || x.GetRegion() != nil {
			continue
		}
		v, err := pdq.ParseHex(x.GetHex())
		if err != nil {
			continue
		}
		switch d := x.GetDihedral(); d {
		case pb.DihedralVariant_DIHEDRAL_VARIANT_UNSPECIFIED:
			h.whole = v
		default:
			if k := pdq.Dihedral(d - 1); k > pdq.Original && k < pdq.NumDihedral {
				h.dihedral[k] = v
				n++
			}
		}
	}
	h.dihedral[pdq.Original] = h.whole // the server leaves out the variant as given
	h.ok = n == pdq.NumDihedral-1 && !h.whole.IsZero()
	return h
}

// regionPair names the regions of a region evidence, "query>entry".
func regionPair(e *pb.Evidence) string {
	if e.GetQueryRegion() == nil && e.GetEntryRegion() == nil {
		return ""
	}
	name := func(r *pb.Region) string {
		if r == nil {
			return "whole"
		}
		return hashing.RegionKind(r.GetKind()).String()
	}
	return name(e.GetQueryRegion()) + ">" + name(e.GetEntryRegion())
}

// Calibrate makes the calibration of these negatives: the tails from the
// counts, then Combine from each found pair's smallest probability under
// those tails.
func (rep *NegativesReport) Calibrate(source string) (*match.Calibration, error) {
	counts := maps.Clone(rep.Counts)
	for m, h := range rep.AllPairs {
		counts[m] = h
	}
	cal, err := match.Calibrate(source, rep.Pairs, counts)
	if err != nil {
		return nil, err
	}
	rules := match.DefaultRules()
	smallest := make([]float64, 0, len(rep.Found))
	for _, p := range rep.Found {
		var es []match.Evidence
		for _, e := range p.Evidence {
			if e.Method == match.MethodKeypoints && e.Inliers < rules.KeypointMinInliers {
				continue // the calibrating run's looser keypoint rule
			}
			if !rules.Seeks(e.Method) {
				continue // a method the rules do not seek
			}
			me := match.Evidence{Method: e.Method, Distance: e.Distance, Inliers: e.Inliers}
			me.Probability = cal.Probability(&me)
			es = append(es, me)
		}
		if len(es) > 0 {
			smallest = append(smallest, match.Smallest(es))
		}
	}
	cal.SetCombine(smallest)
	return cal, nil
}

// Rescored returns the report as the rules would have scored it with cal:
// evidence the rules do not accept (keypoints under their minimum, when
// the run was made with looser rules to measure the tail; methods the
// rules do not seek) is dropped,
// every probability and score recomputed, pairs left without evidence
// removed.
func (rep *NegativesReport) Rescored(cal *match.Calibration, rules match.Rules) *NegativesReport {
	out := *rep
	out.Found = nil
	for _, p := range rep.Found {
		var es []match.Evidence
		var kept []NegativeEvidence
		for _, e := range p.Evidence {
			if (e.Method == match.MethodKeypoints && e.Inliers < rules.KeypointMinInliers) || !rules.Seeks(e.Method) {
				continue
			}
			me := match.Evidence{Method: e.Method, Distance: e.Distance, Inliers: e.Inliers}
			me.Probability = cal.Probability(&me)
			e.Probability = me.Probability
			es = append(es, me)
			kept = append(kept, e)
		}
		if len(kept) == 0 {
			continue
		}
		slices.SortStableFunc(kept, func(a, b NegativeEvidence) int { return cmpFloat(a.Probability, b.Probability) })
		p.Evidence, p.Score = kept, cal.Score(es)
		out.Found = append(out.Found, p)
	}
	slices.SortFunc(out.Found, func(a, b NegativePair) int { return cmpFloat(a.Score, b.Score) })
	return &out
}

// reportBudgets are the operating points the table shows besides the
// default.
var reportBudgets = []float64{1e-3, 1e-4, 1e-5, 3e-6, 1e-6, 3e-7, 1e-7, 1e-8}

// WriteTable prints the false matches at each budget (by the method of
// their strongest evidence), plain PDQ's on the same pairs, and the pairs
// matched at the default budget.
func (rep *NegativesReport) WriteTable(w io.Writer, defaultBudget float64) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d images, %d ordered pairs, %d failed, %d answers truncated, %.0f s\n\n", rep.Images, rep.Pairs, len(rep.Failed), rep.Truncated, rep.Seconds)
	rate := func(n int) string {
		if rep.Pairs == 0 {
			return "-"
		}
		return fmt.Sprintf("%d (%.2g)", n, float64(n)/float64(rep.Pairs))
	}
	fmt.Fprintf(&b, "plain PDQ <= %d, 8 dihedral: %s\n\n", PDQThreshold, rate(len(rep.PDQ)))
	budgets := slices.Sorted(slices.Values(append(slices.Clone(reportBudgets), defaultBudget)))
	budgets = slices.Compact(budgets)
	slices.Reverse(budgets)
	fmt.Fprintf(&b, "%-10s %-16s %s\n", "budget", "false matches", "by strongest method")
	for _, budget := range budgets {
		n, by := 0, map[match.Method]int{}
		for _, p := range rep.Found {
			if p.Score <= budget {
				n++
				if len(p.Evidence) > 0 {
					by[p.Evidence[0].Method]++
				}
			}
		}
		var parts []string
		for _, m := range slices.Sorted(maps.Keys(by)) {
			parts = append(parts, fmt.Sprintf("%s %d", m, by[m]))
		}
		mark := ""
		if budget == defaultBudget {
			mark = " (default)"
		}
		fmt.Fprintf(&b, "%-10.0e %-16s %s%s\n", budget, rate(n), strings.Join(parts, ", "), mark)
	}
	fmt.Fprintf(&b, "\npairs matched at the default budget:\n")
	shown := 0
	for _, p := range rep.Found {
		if p.Score > defaultBudget || shown >= maxExamples {
			break
		}
		shown++
		var ev []string
		for _, e := range p.Evidence {
			s := fmt.Sprintf("%s %d", e.Method, e.Distance)
			if e.Method == match.MethodKeypoints {
				s = fmt.Sprintf("%s %d inliers", e.Method, e.Inliers)
			}
			if e.Regions != "" {
				s += " " + e.Regions
			}
			ev = append(ev, fmt.Sprintf("%s p=%.1e", s, e.Probability))
		}
		fmt.Fprintf(&b, "  %.1e  %s -> %s: %s\n", p.Score, p.Query, p.Entry, strings.Join(ev, "; "))
	}
	fmt.Fprintf(&b, "\nplain PDQ's pairs (first %d):\n", maxExamples)
	for i, p := range rep.PDQ {
		if i >= maxExamples {
			break
		}
		fmt.Fprintf(&b, "  %3d  %s -> %s\n", p.Distance, p.Query, p.Entry)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// pairHashes is what the all-pairs histograms compare of one image.
type pairHashes struct {
	whole        pdq.Hash
	wholeOK      bool // of matchable quality
	dihedral     [pdq.NumDihedral]pdq.Hash
	degenerate   [pdq.NumDihedral]bool // of each variant (match.Rules.MinDistinctRows)
	phash, dhash uint64
	hasP, hasD   bool
	regions      []pairRegion
}

type pairRegion struct {
	kind       hashing.RegionKind
	pdq        pdq.Hash
	degenerate bool // its PDQ hash (match.Rules.MinDistinctRows)
	phash      uint64
	hasPHash   bool
}

// pairHashesOf reads the hashes of a query (with its variants and query
// regions) or of an entry (with its stored regions), marking the PDQ
// hashes with fewer than minRows distinct rows (match.Rules.MinDistinctRows).
func pairHashesOf(m *pb.MediaHashes, minRows int) pairHashes {
	degenerate := func(h *pdq.Hash) bool {
		x := index.HashOf(h[:])
		return match.DistinctRows(&x) < minRows
	}
	var h pairHashes
	regions := map[[5]float32]*pairRegion{}
	var order [][5]float32
	for _, x := range m.GetHashes() {
		b, err := hex.DecodeString(x.GetHex())
		if err != nil {
			continue
		}
		if reg := x.GetRegion(); reg != nil {
			key := [5]float32{float32(reg.GetKind()), reg.GetLeft(), reg.GetTop(), reg.GetWidth(), reg.GetHeight()}
			pr := regions[key]
			if pr == nil {
				pr = &pairRegion{kind: hashing.RegionKind(reg.GetKind())}
				regions[key] = pr
				order = append(order, key)
			}
			switch {
			case x.GetType() == hashing.PDQ && len(b) == 32:
				if x.Quality != nil && x.GetQuality() < pdqMinQuality {
					delete(regions, key)
					continue
				}
				copy(pr.pdq[:], b)
			case x.GetType() == hashing.PHash && len(b) == 8:
				pr.phash, pr.hasPHash = binary.BigEndian.Uint64(b), true
			}
			continue
		}
		switch {
		case x.GetType() == hashing.PDQ && len(b) == 32:
			if d := x.GetDihedral(); d != pb.DihedralVariant_DIHEDRAL_VARIANT_UNSPECIFIED {
				if k := pdq.Dihedral(d - 1); k > pdq.Original && k < pdq.NumDihedral {
					copy(h.dihedral[k][:], b)
				}
				continue
			}
			copy(h.whole[:], b)
			h.wholeOK = x.Quality == nil || x.GetQuality() >= pdqMinQuality
		case x.GetType() == hashing.PHash && len(b) == 8:
			h.phash, h.hasP = binary.BigEndian.Uint64(b), true
		case x.GetType() == hashing.DHash && len(b) == 8:
			h.dhash, h.hasD = binary.BigEndian.Uint64(b), true
		}
	}
	h.dihedral[pdq.Original] = h.whole
	for d := range h.dihedral {
		h.degenerate[d] = degenerate(&h.dihedral[d])
	}
	for _, k := range order {
		if pr, ok := regions[k]; ok {
			pr.degenerate = degenerate(&pr.pdq)
			h.regions = append(h.regions, *pr)
		}
	}
	return h
}

// pdqMinQuality is the PDQ quality below which the server matches nothing.
const pdqMinQuality = 50

// allPairs fills rep.AllPairs: the entries' stored hashes are read back
// from the server, the queries' are those the server returned.
func (rep *NegativesReport) allPairs(ctx context.Context, r *runner, images []*original, queries []*pb.MediaHashes) error {
	rules := match.DefaultRules()
	entries := make([]pairHashes, len(images))
	qs := make([]pairHashes, len(images))
	err := r.parallelErr(len(images), func(i int) error {
		if images[i] == nil || queries[i] == nil {
			return nil
		}
		cctx, cancel := context.WithTimeout(ctx, r.opts.CallTimeout)
		defer cancel()
		e, err := r.bank.GetEntry(cctx, &pb.GetEntryRequest{Name: images[i].entry, View: pb.EntryView_ENTRY_VIEW_BASIC})
		if err != nil {
			return fmt.Errorf("reading entry %s back: %w", images[i].entry, err)
		}
		entries[i] = pairHashesOf(e.GetEntry().GetMedia(), rules.MinDistinctRows)
		qs[i] = pairHashesOf(queries[i], rules.MinDistinctRows)
		return nil
	})
	if err != nil {
		return err
	}
	allowed := rules.RegionThresholds
	hist := map[match.Method][]int64{
		match.MethodPDQ: make([]int64, 257), match.MethodRegion: make([]int64, 257),
		match.MethodPHash: make([]int64, 65), match.MethodDHash: make([]int64, 65),
	}
	var mu sync.Mutex
	r.parallel(len(images), func(i int) {
		if queries[i] == nil {
			return
		}
		local := map[match.Method][]int64{
			match.MethodPDQ: make([]int64, 257), match.MethodRegion: make([]int64, 257),
			match.MethodPHash: make([]int64, 65), match.MethodDHash: make([]int64, 65),
		}
		q := &qs[i]
		for j := range images {
			if j == i || queries[j] == nil {
				continue
			}
			e := &entries[j]
			if q.wholeOK && e.wholeOK && !e.degenerate[pdq.Original] {
				best := 257
				for d := range q.dihedral {
					if !q.degenerate[d] {
						best = min(best, pdq.Distance(q.dihedral[d], e.whole))
					}
				}
				if best <= 256 {
					local[match.MethodPDQ][best]++
				}
			}
			// Regions: the query's whole (as given) against the entry's
			// regions, the query's regions against the entry's whole and
			// regions, where the rules compare those kinds.
			// Degenerate hashes (match.Rules.MinDistinctRows) are no
			// evidence on either side.
			best := 257
			if q.wholeOK && !q.degenerate[pdq.Original] {
				for _, er := range e.regions {
					if _, ok := allowed[[2]hashing.RegionKind{hashing.RegionWhole, er.kind}]; ok && !er.degenerate {
						best = min(best, pdq.Distance(q.whole, er.pdq))
					}
				}
			}
			for _, qr := range q.regions {
				if qr.degenerate {
					continue
				}
				if _, ok := allowed[[2]hashing.RegionKind{qr.kind, hashing.RegionWhole}]; ok && e.wholeOK && !e.degenerate[pdq.Original] {
					best = min(best, pdq.Distance(qr.pdq, e.whole))
				}
				for _, er := range e.regions {
					if _, ok := allowed[[2]hashing.RegionKind{qr.kind, er.kind}]; ok && !er.degenerate {
						best = min(best, pdq.Distance(qr.pdq, er.pdq))
					}
				}
			}
			if best <= 256 {
				local[match.MethodRegion][best]++
			}
			// The 64-bit hashes, as the server corroborates them.
			corroborated := q.wholeOK && e.wholeOK && pdq.Distance(q.whole, e.whole) <= rules.CorroborateDistance
			if q.hasP && e.hasP {
				best := 65
				d := bits.OnesCount64(q.phash ^ e.phash)
				if corroborated || (!(q.wholeOK && e.wholeOK) && d <= rules.UncorroboratedThreshold) {
					best = d
				}
				for _, er := range e.regions {
					if er.hasPHash && q.wholeOK && (corroborated || pdq.Distance(q.whole, er.pdq) <= rules.CorroborateDistance) {
						best = min(best, bits.OnesCount64(q.phash^er.phash))
					}
				}
				if best <= 64 {
					local[match.MethodPHash][best]++
				}
			}
			if q.hasD && e.hasD {
				d := bits.OnesCount64(q.dhash ^ e.dhash)
				if corroborated || (!(q.wholeOK && e.wholeOK) && d <= rules.UncorroboratedThreshold) {
					local[match.MethodDHash][d]++
				}
			}
		}
		mu.Lock()
		for m, h := range local {
			for k, n := range h {
				hist[m][k] += n
			}
		}
		mu.Unlock()
	})
	rep.AllPairs = hist
	return nil
}
