package robustness

import (
	"context"
	"fmt"
	"hash/fnv"
	"image"
	"io"
	"math/bits"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/corona10/goimagehash"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/mediamatch/mediamatch/keypoint"
	"github.com/mediamatch/mediamatch/match"
	"github.com/mediamatch/mediamatch/pdq"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
)

// Thresholds of the plain whole-image matchers computed client-side: the
// defaults PDQ's and pHash's users apply, and mediamatch's own defaults.
const (
	// PDQThreshold is the largest PDQ Hamming distance counted as a match.
	PDQThreshold = 31
	// PHashThreshold is the largest pHash Hamming distance counted as a match.
	PHashThreshold = 10
)

// The matchers measured, in report order.
const (
	// MatcherPDQ is the whole-image PDQ hash of the variant against the
	// original's, computed client-side, distance <= PDQThreshold, no
	// rotations or mirrors.
	MatcherPDQ = "pdq"
	// MatcherPHash is goimagehash's pHash, the same way, <= PHashThreshold.
	MatcherPHash = "phash"
	// MatcherServer is the server's Match with its default options.
	MatcherServer = "mediamatch"
)

// Matchers lists the matchers in report order.
var Matchers = []string{MatcherPDQ, MatcherPHash, MatcherServer}

// Limits of a run, each with the reason for its value.
const (
	// fillPoolSize is how many distractors are kept in memory as the other
	// pictures of collages: enough variety, little memory.
	fillPoolSize = 24
	// fillMaxSide bounds those pictures; they fill half-size cells.
	fillMaxSide = 512
	// unaryMediaLimit is the largest media sent in a unary call; the
	// server accepts 4 MiB per message by default, so larger media is
	// streamed.
	unaryMediaLimit = 3 << 20
	// chunkSize is the piece of media per streaming message.
	chunkSize = 512 << 10
	// maxExamples bounds the false matches listed per matcher.
	maxExamples = 100
	// failFastCalls: when this many Match calls have been made and every
	// one failed, the run stops rather than measure a broken server.
	failFastCalls = 20
	// defaultCallTimeout bounds one call.
	defaultCallTimeout = 60 * time.Second
)

// Options configures Run.
type Options struct {
	// Conn is the connection to the mediamatch server. Required.
	Conn grpc.ClientConnInterface
	// Server names the server in the report (an address, or "in-process").
	Server string
	// Originals are the image files added to the bank; Distractors are
	// images not in it, each matched once. Run uses them in the order given.
	Originals, Distractors []string
	// Seed makes the transforms' random choices.
	Seed uint64
	// Workers is how many variants are made and matched at once. Default:
	// the number of CPUs plus one, between 2 and 4 (the server works while
	// a worker makes its next variant).
	Workers int
	// MaxSide is the longest side images are scaled to when loaded.
	// Default DefaultMaxSide.
	MaxSide int
	// Bank is the bank created for the run. Default
	// "robustness-SEED-NANOSECONDS", unique on a shared server.
	Bank string
	// KeepBank leaves the bank on the server after the run; by default it
	// is deleted.
	KeepBank bool
	// CallTimeout bounds each call. Default 60 s.
	CallTimeout time.Duration
	// Transforms are the re-edits measured. Default Transforms(fill) with
	// the first distractors as the collages' other pictures.
	Transforms []Transform
	// Log receives progress lines; nil for none.
	Log io.Writer
	// Budget is the operating point at which the server's answers count as
	// matches (its results carry a score; see match.Rules.Budget). Every
	// call asks for all evidence (a budget of 1), so the report also holds
	// each variant's score, for curves over budgets. Default
	// match.DefaultBudget.
	Budget float64
}

// original is one image in the bank.
type original struct {
	path   string
	img    *image.NRGBA
	pdq    pdq.Hash
	phash  uint64
	points []keypoint.Point
	entry  string
	loaded bool
}

// variantResult is what one variant of one original scored.
type variantResult struct {
	hit        [3]bool // by matcher, in Matchers order
	pdqDist    int
	phashDist  int
	lowQuality bool
	others     int      // other originals the server matched
	hitTypes   []string // methods that matched the original on the server
	// score is the server's score for the original (1 when not found), and
	// methods each method's evidence probability.
	score    float64
	methods  map[string]float64
	evidence []NegativeEvidence // the original's match's, for rescoring
	err      string
}

// distractorResult is what one distractor scored.
type distractorResult struct {
	path    string
	pdq     pdq.Hash
	phash   uint64
	points  []keypoint.Point
	size    image.Point
	matches []*pb.Match
	err     string
	ok      bool
}

// runner holds a run's state.
type runner struct {
	opts     Options
	match    pb.MatchServiceClient
	bank     pb.BankServiceClient
	logf     func(string, ...any)
	calls    atomic.Int64
	failures atomic.Int64

	latMu     sync.Mutex
	latencies []time.Duration
}

// Run measures the recall of every transform for the three matchers and
// their false-match rates over the distractors, against the server on
// opts.Conn: it creates a bank, adds the originals (each as the PNG of the
// loaded image), matches every variant and every distractor, and deletes
// the bank.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.Conn == nil {
		return nil, ErrNoConn
	}
	return newRunner(opts).run(ctx)
}

// newRunner fills in opts' defaults and returns a runner over them.
func newRunner(opts Options) *runner {
	if opts.Workers <= 0 {
		opts.Workers = min(4, max(2, runtime.NumCPU()+1))
	}
	if opts.MaxSide <= 0 {
		opts.MaxSide = DefaultMaxSide
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = defaultCallTimeout
	}
	if opts.Bank == "" {
		opts.Bank = fmt.Sprintf("robustness-%d-%d", opts.Seed, time.Now().UnixNano())
	}
	if opts.Budget <= 0 {
		opts.Budget = match.DefaultBudget
	}
	r := &runner{
		opts:  opts,
		match: pb.NewMatchServiceClient(opts.Conn),
		bank:  pb.NewBankServiceClient(opts.Conn),
		logf: func(format string, args ...any) {
			if opts.Log != nil {
				fmt.Fprintf(opts.Log, format+"\n", args...)
			}
		},
	}
	return r
}

func (r *runner) run(ctx context.Context) (*Report, error) {
	start := time.Now()
	rep := &Report{
		Seed:       r.opts.Seed,
		Server:     r.opts.Server,
		Matchers:   Matchers,
		Thresholds: map[string]int{MatcherPDQ: PDQThreshold, MatcherPHash: PHashThreshold},
		Workers:    r.opts.Workers,
		Budget:     r.opts.Budget,
	}
	rep.Corpus.MaxSide = r.opts.MaxSide

	// Originals: loaded and hashed client-side.
	phase := time.Now()
	origs := make([]*original, len(r.opts.Originals))
	for i, p := range r.opts.Originals {
		origs[i] = &original{path: p}
	}
	r.parallel(len(origs), func(i int) {
		o := origs[i]
		img, err := Load(o.path, r.opts.MaxSide)
		if err != nil {
			return
		}
		h, ph, err := clientHashes(img)
		if err != nil {
			return
		}
		o.img, o.pdq, o.phash, o.loaded = img, h, ph, true
		o.points = keypoint.Detect(img, keypoint.StoredPoints)
	})
	var usable []*original
	for _, o := range origs {
		if o.loaded {
			usable = append(usable, o)
		} else {
			rep.Corpus.SkippedOriginals = append(rep.Corpus.SkippedOriginals, o.path)
		}
	}
	if len(usable) == 0 {
		return nil, ErrNoOriginals
	}
	origs = usable
	rep.Corpus.Originals = len(origs)
	rep.Durations.Load = time.Since(phase).Seconds()
	r.logf("loaded %d originals in %.1fs (%d skipped)", len(origs), rep.Durations.Load, len(rep.Corpus.SkippedOriginals))

	transforms := r.opts.Transforms
	if transforms == nil {
		transforms = Transforms(r.fillPool())
	}

	// The bank.
	phase = time.Now()
	if err := r.createBank(ctx); err != nil {
		return nil, err
	}
	if !r.opts.KeepBank {
		defer r.deleteBank()
	}
	rep.Bank = r.opts.Bank
	var addErr error
	var addMu sync.Mutex
	r.parallel(len(origs), func(i int) {
		if err := r.add(ctx, origs[i]); err != nil {
			addMu.Lock()
			if addErr == nil {
				addErr = fmt.Errorf("adding %s: %w", origs[i].path, err)
			}
			addMu.Unlock()
		}
	})
	if addErr != nil {
		return nil, addErr
	}
	entryOrigs := map[string][]int{}
	for i, o := range origs {
		entryOrigs[o.entry] = append(entryOrigs[o.entry], i)
	}
	for _, idx := range entryOrigs {
		if len(idx) > 1 {
			rep.Corpus.SharedEntries += len(idx) - 1
		}
	}
	rep.Durations.Add = time.Since(phase).Seconds()
	r.logf("added %d originals to bank %s in %.1fs", len(origs), r.opts.Bank, rep.Durations.Add)

	// Variants.
	phase = time.Now()
	results := make([][]variantResult, len(transforms))
	for t := range results {
		results[t] = make([]variantResult, len(origs))
	}
	jobs := len(transforms) * len(origs)
	var done atomic.Int64
	err := r.parallelErr(jobs, func(k int) error {
		t, i := k/len(origs), k%len(origs)
		results[t][i] = r.variant(ctx, transforms[t], origs[i], entryOrigs)
		if n := done.Add(1); n%max(1, int64(jobs)/10) == 0 {
			r.logf("variants: %d/%d (%.0fs)", n, jobs, time.Since(phase).Seconds())
		}
		return r.failFast()
	})
	if err != nil {
		return nil, err
	}
	rep.Durations.Variants = time.Since(phase).Seconds()

	// Distractors.
	phase = time.Now()
	dists := make([]distractorResult, len(r.opts.Distractors))
	err = r.parallelErr(len(dists), func(k int) error {
		dists[k] = r.distractor(ctx, r.opts.Distractors[k])
		if n := done.Add(1); n%500 == 0 {
			r.logf("distractors: %d/%d (%.0fs)", n-int64(jobs), len(dists), time.Since(phase).Seconds())
		}
		return r.failFast()
	})
	if err != nil {
		return nil, err
	}
	rep.Durations.Distractors = time.Since(phase).Seconds()

	if calls, fails := r.calls.Load(), r.failures.Load(); calls > 0 && 2*fails > calls {
		return nil, fmt.Errorf("%w: %d of %d", ErrServerFailing, fails, calls)
	}
	rep.Errors = int(r.failures.Load())

	for t, tr := range transforms {
		rep.Transforms = append(rep.Transforms, summarizeTransform(tr, results[t]))
	}
	rep.Groups = summarizeGroups(rep.Transforms)

	phase = time.Now()
	r.falseMatches(rep, origs, dists, entryOrigs)
	rep.KeypointAgreement = r.keypointAgreement(origs, dists)
	rep.Durations.Pairs = time.Since(phase).Seconds()

	r.latMu.Lock()
	rep.Latency = summarizeLatency(r.latencies)
	r.latMu.Unlock()
	rep.Durations.Total = time.Since(start).Seconds()
	return rep, nil
}

// fillPool loads the first distractors, small, as collage pictures.
func (r *runner) fillPool() []image.Image {
	n := min(fillPoolSize, len(r.opts.Distractors))
	pool := make([]image.Image, n)
	r.parallel(n, func(i int) {
		if img, err := Load(r.opts.Distractors[i], fillMaxSide); err == nil {
			pool[i] = img
		}
	})
	return slices.DeleteFunc(pool, func(img image.Image) bool { return img == nil })
}

// parallel runs fn(0..n-1) on the workers.
func (r *runner) parallel(n int, fn func(int)) {
	r.parallelErr(n, func(i int) error { fn(i); return nil })
}

// parallelErr runs fn(0..n-1) on the workers and stops at the first error.
func (r *runner) parallelErr(n int, fn func(int) error) error {
	var next atomic.Int64
	var failed atomic.Bool
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for range r.opts.Workers {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	return first
}

// failFast stops the run when every Match call so far has failed.
func (r *runner) failFast() error {
	calls, fails := r.calls.Load(), r.failures.Load()
	if calls >= failFastCalls && calls == fails {
		return fmt.Errorf("%w: the first %d calls", ErrServerFailing, calls)
	}
	return nil
}

func (r *runner) createBank(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, r.opts.CallTimeout)
	defer cancel()
	_, err := r.bank.CreateBank(cctx, &pb.CreateBankRequest{BankId: r.opts.Bank, Bank: &pb.Bank{
		Description: "mediamatch bench robustness: originals of one run",
	}})
	if err != nil {
		return fmt.Errorf("creating bank %s: %w", r.opts.Bank, err)
	}
	return nil
}

// deleteBank deletes the run's bank, with its entries.
func (r *runner) deleteBank() {
	cctx, cancel := context.WithTimeout(context.Background(), r.opts.CallTimeout)
	defer cancel()
	if _, err := r.bank.DeleteBank(cctx, &pb.DeleteBankRequest{Name: "banks/" + r.opts.Bank, Force: true}); err != nil {
		r.logf("warning: deleting bank %s: %v", r.opts.Bank, err)
	}
}

// add adds an original, as the PNG of the loaded image, and records its
// entry.
func (r *runner) add(ctx context.Context, o *original) error {
	data, err := Encode(o.img)
	if err != nil {
		return err
	}
	return r.addData(ctx, o, data)
}

// addData adds an original as the file data.
func (r *runner) addData(ctx context.Context, o *original, data []byte) error {
	labels := map[string]string{"file": filepath.Base(o.path)}
	cctx, cancel := context.WithTimeout(ctx, r.opts.CallTimeout)
	defer cancel()
	var entry *pb.Entry
	if len(data) <= unaryMediaLimit {
		resp, err := r.bank.CreateEntry(cctx, &pb.CreateEntryRequest{Parent: "banks/" + r.opts.Bank, Media: data, Entry: &pb.Entry{Labels: labels}})
		if err != nil {
			return err
		}
		entry = resp.GetEntry()
	} else {
		stream, err := r.bank.CreateEntryStream(cctx)
		if err != nil {
			return err
		}
		if err := stream.Send(&pb.CreateEntryStreamRequest{Part: &pb.CreateEntryStreamRequest_Header{Header: &pb.CreateEntryStreamHeader{
			Parent: "banks/" + r.opts.Bank, Entry: &pb.Entry{Labels: labels}, SizeBytes: int64(len(data)),
		}}}); err != nil {
			return err
		}
		for off := 0; off < len(data); off += chunkSize {
			if err := stream.Send(&pb.CreateEntryStreamRequest{Part: &pb.CreateEntryStreamRequest_Chunk{Chunk: data[off:min(len(data), off+chunkSize)]}}); err != nil {
				return err
			}
		}
		resp, err := stream.CloseAndRecv()
		if err != nil {
			return err
		}
		entry = resp.GetEntry()
	}
	o.entry = entry.GetName()
	return nil
}

// matchServer calls Match with the server's defaults (only the bank
// named, so that a shared server's other banks do not answer) and records
// the call's latency.
func (r *runner) matchServer(ctx context.Context, data []byte) (*pb.MatchResult, error) {
	opts := &pb.MatchOptions{Banks: []string{"banks/" + r.opts.Bank}, FalseMatchBudget: ptr(1.0), Limit: match.MaxLimit}
	cctx, cancel := context.WithTimeout(ctx, r.opts.CallTimeout)
	defer cancel()
	start := time.Now()
	res, err := r.matchCall(cctx, data, opts)
	elapsed := time.Since(start)
	r.calls.Add(1)
	if err != nil {
		r.failures.Add(1)
		return nil, err
	}
	r.latMu.Lock()
	r.latencies = append(r.latencies, elapsed)
	r.latMu.Unlock()
	return res, nil
}

func (r *runner) matchCall(ctx context.Context, data []byte, opts *pb.MatchOptions) (*pb.MatchResult, error) {
	if len(data) <= unaryMediaLimit {
		resp, err := r.match.Match(ctx, &pb.MatchRequest{Query: &pb.MatchRequest_Media{Media: data}, Options: opts})
		return resp.GetResult(), err
	}
	stream, err := r.match.MatchStream(ctx)
	if err != nil {
		return nil, err
	}
	if err := stream.Send(&pb.MatchStreamRequest{Part: &pb.MatchStreamRequest_Header{Header: &pb.MatchStreamHeader{Options: opts, SizeBytes: int64(len(data))}}}); err != nil {
		return nil, err
	}
	for off := 0; off < len(data); off += chunkSize {
		if err := stream.Send(&pb.MatchStreamRequest{Part: &pb.MatchStreamRequest_Chunk{Chunk: data[off:min(len(data), off+chunkSize)]}}); err != nil {
			return nil, err
		}
	}
	resp, err := stream.CloseAndRecv()
	return resp.GetResult(), err
}

// variant makes one variant of an original and scores it with every
// matcher.
func (r *runner) variant(ctx context.Context, t Transform, o *original, entryOrigs map[string][]int) (res variantResult) {
	res.score = 1
	rng := rand.New(rand.NewPCG(r.opts.Seed, variantStream(filepath.Base(o.path), t.Name)))
	img, data, err := makeVariant(t, o.img, rng)
	if err != nil {
		res.err = err.Error()
		return res
	}
	if h, ph, err := clientHashes(img); err != nil {
		res.err = err.Error()
	} else {
		res.pdqDist = pdq.Distance(h, o.pdq)
		res.phashDist = bits.OnesCount64(ph ^ o.phash)
		res.hit[0] = res.pdqDist <= PDQThreshold
		res.hit[1] = res.phashDist <= PHashThreshold
	}
	mr, err := r.matchServer(ctx, data)
	if err != nil {
		res.err = errorText(err)
		return res
	}
	res.lowQuality = mr.GetLowQuality()
	seen := map[string]bool{}
	for _, m := range mr.GetMatches() {
		if m.GetEntry() == o.entry {
			res.score = m.GetScore()
			res.methods = map[string]float64{}
			for _, e := range m.GetEvidence() {
				res.methods[e.GetMethod()] = e.GetProbability()
				res.evidence = append(res.evidence, NegativeEvidence{Method: match.Method(e.GetMethod()), Type: e.GetHashType(),
					Distance: int(e.GetDistance()), Inliers: int(e.GetKeypointInliers()), Regions: regionPair(e), Probability: e.GetProbability()})
			}
			if m.GetScore() <= r.opts.Budget {
				res.hit[2] = true
				for _, e := range m.GetEvidence() {
					res.hitTypes = append(res.hitTypes, e.GetMethod())
				}
			}
		} else if !seen[m.GetEntry()] && m.GetScore() <= r.opts.Budget {
			seen[m.GetEntry()] = true
			res.others += len(entryOrigs[m.GetEntry()])
		}
	}
	return res
}

// makeVariant applies a transform and encodes the result, turning a panic
// in a transform (a bug, or an image too small for it) into an error.
func makeVariant(t Transform, img image.Image, rng *rand.Rand) (out image.Image, data []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, data, err = nil, nil, fmt.Errorf("transform %s: %v", t.Name, p)
		}
	}()
	out = t.Apply(img, rng)
	data, err = Encode(out)
	if e, ok := out.(*Encoded); ok {
		out = e.Image
	}
	return out, data, err
}

// variantStream is the random stream of one original's variant: the same
// for the same file and transform whatever else is in the corpus.
func variantStream(file, transform string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(file))
	h.Write([]byte{0})
	h.Write([]byte(transform))
	return h.Sum64()
}

// distractor loads one distractor, hashes it client-side and matches it.
func (r *runner) distractor(ctx context.Context, path string) distractorResult {
	res := distractorResult{path: path}
	img, err := Load(path, r.opts.MaxSide)
	if err != nil {
		res.err = err.Error()
		return res
	}
	if res.pdq, res.phash, err = clientHashes(img); err != nil {
		res.err = err.Error()
		return res
	}
	res.points, res.size = keypoint.Detect(img, keypoint.QueryPoints), img.Bounds().Size()
	data, err := Encode(img)
	if err != nil {
		res.err = err.Error()
		return res
	}
	mr, err := r.matchServer(ctx, data)
	if err != nil {
		res.err = errorText(err)
		return res
	}
	res.matches = mr.GetMatches()
	res.ok = true
	return res
}

// clientHashes computes the plain whole-image hashes: PDQ as the
// reference computes it, and goimagehash's pHash as mediamatch stores it.
func clientHashes(img image.Image) (h pdq.Hash, ph uint64, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("hashing: %v", p)
		}
	}()
	r, err := pdq.HashImage(img)
	if err != nil {
		return h, 0, err
	}
	p, err := goimagehash.PerceptionHash(img)
	if err != nil {
		return h, 0, err
	}
	return r.Hash, p.GetHash(), nil
}

// keypointAgreement verifies every (distractor, original) pair's
// keypoints directly, as the server would if its index proposed the pair,
// and counts the pairs by how many keypoints agree (the last count is for
// maxAgreement or more): the margin under keypoint.MinInliers.
func (r *runner) keypointAgreement(origs []*original, dists []distractorResult) []int64 {
	counts := make([]int64, maxAgreement+1)
	var mu sync.Mutex
	r.parallel(len(dists), func(i int) {
		d := &dists[i]
		if !d.ok {
			return
		}
		local := make([]int64, len(counts))
		for _, o := range origs {
			if o.loaded {
				n := keypoint.Verify(d.points, o.points, d.size, o.img.Bounds().Size()).Inliers
				local[min(n, maxAgreement)]++
			}
		}
		mu.Lock()
		for k, v := range local {
			counts[k] += v
		}
		mu.Unlock()
	})
	return counts
}

// maxAgreement is the last count of keypointAgreement.
const maxAgreement = 10

// falseMatches counts every matcher's false matches: for the client-side
// hashes over every (distractor, original) pair, for the server over its
// answers to each distractor.
func (r *runner) falseMatches(rep *Report, origs []*original, dists []distractorResult, entryOrigs map[string][]int) {
	rates := map[string]*FalseMatchRate{}
	for _, m := range Matchers {
		rates[m] = &FalseMatchRate{ByHashType: map[string]int64{}}
	}
	examples := map[string]int{}
	note := func(fm FalseMatch) {
		if examples[fm.Matcher] < maxExamples {
			rep.FalseMatchExamples = append(rep.FalseMatchExamples, fm)
		}
		examples[fm.Matcher]++
	}
	for _, d := range dists {
		if d.err != "" {
			rep.Corpus.SkippedDistractors = append(rep.Corpus.SkippedDistractors, d.path+": "+d.err)
			continue
		}
		var any [3]bool
		for _, o := range origs {
			if dist := pdq.Distance(d.pdq, o.pdq); dist <= PDQThreshold {
				rates[MatcherPDQ].MatchedPairs++
				rates[MatcherPDQ].ByHashType["pdq"]++
				any[0] = true
				note(FalseMatch{Matcher: MatcherPDQ, Distractor: d.path, Original: o.path, HashType: "pdq", Distance: dist})
			}
			if dist := bits.OnesCount64(d.phash ^ o.phash); dist <= PHashThreshold {
				rates[MatcherPHash].MatchedPairs++
				rates[MatcherPHash].ByHashType["phash"]++
				any[1] = true
				note(FalseMatch{Matcher: MatcherPHash, Distractor: d.path, Original: o.path, HashType: "phash", Distance: dist})
			}
		}
		matched := map[int]bool{}
		for _, m := range d.matches {
			rep.DistractorScores = append(rep.DistractorScores, m.GetScore())
			if m.GetScore() > r.opts.Budget {
				continue
			}
			for _, i := range entryOrigs[m.GetEntry()] {
				rates[MatcherServer].ByHashType[m.GetHashType()]++
				if matched[i] {
					continue
				}
				matched[i] = true
				rates[MatcherServer].MatchedPairs++
				any[2] = true
				note(FalseMatch{Matcher: MatcherServer, Distractor: d.path, Original: origs[i].path, HashType: m.GetHashType(), Distance: int(m.GetDistance())})
			}
		}
		for k, m := range Matchers {
			rates[m].Queries++
			if any[k] {
				rates[m].MatchedQueries++
			}
		}
	}
	rep.Corpus.Distractors = rates[MatcherPDQ].Queries
	rep.FalseMatches = map[string]FalseMatchRate{}
	for _, m := range Matchers {
		fr := rates[m]
		fr.Pairs = int64(fr.Queries) * int64(len(origs))
		if fr.Pairs > 0 {
			fr.PairRate = float64(fr.MatchedPairs) / float64(fr.Pairs)
		}
		if fr.Queries > 0 {
			fr.QueryRate = float64(fr.MatchedQueries) / float64(fr.Queries)
		}
		fr.Listed = min(examples[m], maxExamples)
		rep.FalseMatches[m] = *fr
	}
}

// errorText is a call's error as one line.
func errorText(err error) string {
	if st, ok := status.FromError(err); ok {
		return fmt.Sprintf("%s: %s", st.Code(), st.Message())
	}
	return err.Error()
}
