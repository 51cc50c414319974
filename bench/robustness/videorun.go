package robustness

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/mediamatch/mediamatch/pdq"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/vpdq"
)

// The video matchers measured, in report order.
const (
	// MatcherVPDQ is plain per-frame PDQ with python-threatexchange's vPDQ
	// rule, computed client-side: the frames on the one-a-second grid of
	// the server's sampling (the first frame of each second), distance
	// <= 31, quality >= 50, query share >= 80%, entry share >= 0.
	MatcherVPDQ = "vpdq"
)

// VideoMatchers lists the video matchers in report order.
var VideoMatchers = []string{MatcherServer, MatcherVPDQ}

// RangeTolerance is how far, in seconds, a reported range's ends may be
// from the truth's and still count as placed right.
const RangeTolerance = 2.0

// VideoOptions configures RunVideo.
type VideoOptions struct {
	// Conn is the connection to the mediamatch server. Required.
	Conn grpc.ClientConnInterface
	// Server names the server in the report.
	Server string
	// Dir is where the videos are generated; a later run with the same
	// seed reuses them. Required.
	Dir string
	// Root is the repository root, for the photos in its testdata.
	Root string
	// Sources and Distractors are how many of each are made. Defaults 12
	// and 8.
	Sources, Distractors int
	// Edits are the classes of re-edit; default VideoEdits().
	Edits []VideoEdit
	// Seed makes every random choice.
	Seed uint64
	// Workers is how many videos are made or matched at once. Default 2.
	Workers int
	// CallTimeout bounds each call. Default 120 s.
	CallTimeout time.Duration
	// Log receives progress lines; nil for none.
	Log io.Writer
}

// VideoClass is one row of the video report: a class of re-edit, or the
// distractors.
type VideoClass struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Queries is the number of videos of the class matched; Errors the
	// calls that failed.
	Queries int `json:"queries"`
	Errors  int `json:"errors"`
	// Found counts, per matcher, the re-edits whose source was matched;
	// Placed those of them whose ranges on both sides were within
	// RangeTolerance of the truth.
	Found  map[string]int `json:"found"`
	Placed map[string]int `json:"placed"`
	// FalseMatches counts, per matcher, the matches of the class's queries
	// to entries other than their source.
	FalseMatches map[string]int `json:"false_matches"`
}

// VideoFalseMatch is one false match, for the report's examples.
type VideoFalseMatch struct {
	Matcher string `json:"matcher"`
	Query   string `json:"query"`
	Entry   string `json:"entry"`
	Method  string `json:"method,omitempty"`
	Ranges  *Truth `json:"ranges,omitempty"`
}

// VideoQuery is what one query found, for the JSON report.
type VideoQuery struct {
	Class string `json:"class"`
	Query string `json:"query"`
	// Source is the entry it shows ("" for a distractor, which shows
	// only itself).
	Source string `json:"source,omitempty"`
	Truth  *Truth `json:"truth,omitempty"`
	// Found and Ranges are, per matcher, whether the source was matched
	// and where.
	Found  map[string]bool   `json:"found"`
	Ranges map[string]*Truth `json:"ranges,omitempty"`
	Method string            `json:"method,omitempty"`
	Error  string            `json:"error,omitempty"`
	// HashSeconds is the server's time for the call (hashing the upload
	// and matching it).
	CallSeconds float64 `json:"call_seconds"`
	Seconds     float64 `json:"seconds"`
}

// VideoReport is the outcome of RunVideo.
type VideoReport struct {
	Server      string `json:"server"`
	Seed        uint64 `json:"seed"`
	Sources     int    `json:"sources"`
	Distractors int    `json:"distractors"`
	// Pairs is the number of query x entry pairs, a query's own entry left
	// out; FalseMatches counts the false ones per matcher over them.
	Pairs        int               `json:"pairs"`
	FalseMatches map[string]int    `json:"false_matches"`
	Classes      []VideoClass      `json:"classes"`
	Examples     []VideoFalseMatch `json:"false_match_examples,omitempty"`
	Queries      []VideoQuery      `json:"queries"`
	// MakeSeconds, BankSeconds and MatchSeconds are the wall time of
	// making the videos (0 when all were there already), banking and
	// matching; QuerySeconds the video-seconds matched, for the hashing
	// speed.
	MakeSeconds  float64 `json:"make_seconds"`
	BankSeconds  float64 `json:"bank_seconds"`
	MatchSeconds float64 `json:"match_seconds"`
	QuerySeconds float64 `json:"query_video_seconds"`
}

// bankedVideo is one banked source or distractor.
type bankedVideo struct {
	item   VideoItem
	entry  string
	frames []vpdq.Frame // the one-a-second grid
}

// videoQuery is one video to match and where it comes from.
type videoQuery struct {
	class  string
	name   string
	path   string
	source int // in the banked list; -1 for none
	self   int // the banked copy of a distractor; -1 for none
	truth  *Truth
}

// RunVideo generates the corpus, banks every source and distractor on the
// server, matches every re-edit and distractor, and reports per-class
// recall, placement and false matches for the server and for plain vPDQ.
func RunVideo(ctx context.Context, opts VideoOptions) (*VideoReport, error) {
	if opts.Conn == nil {
		return nil, ErrNoConn
	}
	if opts.Sources <= 0 {
		opts.Sources = 12
	}
	if opts.Distractors < 0 {
		opts.Distractors = 0
	}
	if opts.Edits == nil {
		opts.Edits = VideoEdits()
	}
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 120 * time.Second
	}
	r := newRunner(Options{Conn: opts.Conn, Server: opts.Server, Seed: opts.Seed, Workers: opts.Workers, CallTimeout: opts.CallTimeout, Log: opts.Log,
		Bank: fmt.Sprintf("video-%d-%d", opts.Seed, time.Now().UnixNano())})
	rep := &VideoReport{Server: opts.Server, Seed: opts.Seed, Sources: opts.Sources, Distractors: opts.Distractors, FalseMatches: map[string]int{}}

	start := time.Now()
	var made atomic.Bool // set by the workers making videos at once
	run := func(ctx context.Context, args ...string) error { made.Store(true); return runFFmpeg(ctx, args...) }
	fillers := slices.ContainsFunc(opts.Edits, func(e VideoEdit) bool { return e.fillers })
	c, err := BuildVideoCorpus(ctx, opts.Dir, opts.Root, opts.Sources, opts.Distractors, fillers, opts.Seed, r.logf)
	if err != nil {
		return nil, err
	}
	editDir := filepath.Join(corpusDir(opts.Dir, opts.Sources, opts.Distractors, opts.Seed), "edits")
	type job struct {
		e VideoEdit
		i int
	}
	var jobs []job
	for _, e := range opts.Edits {
		for i := range c.Sources {
			jobs = append(jobs, job{e, i})
		}
	}
	edited := make([]editedVideo, len(jobs))
	var mu sync.Mutex
	done := 0
	if err := r.parallelErr(len(jobs), func(k int) error {
		j := jobs[k]
		v, err := makeEdit(ctx, editDir, j.e, c.Sources[j.i], j.i, c, run)
		edited[k] = v
		mu.Lock()
		done++
		if done%20 == 0 {
			r.logf("made %d of %d re-edits", done, len(jobs))
		}
		mu.Unlock()
		return err
	}); err != nil {
		return nil, err
	}
	if made.Load() {
		rep.MakeSeconds = time.Since(start).Seconds()
	}

	start = time.Now()
	if err := r.createBank(ctx); err != nil {
		return nil, err
	}
	defer r.deleteBank()
	banked := make([]*bankedVideo, 0, len(c.Sources)+len(c.Distractors))
	for _, it := range append(slices.Clone(c.Sources), c.Distractors...) {
		banked = append(banked, &bankedVideo{item: it})
	}
	if err := r.parallelErr(len(banked), func(k int) error { return r.bankVideo(ctx, banked[k]) }); err != nil {
		return nil, err
	}
	rep.BankSeconds = time.Since(start).Seconds()
	r.logf("banked %d videos in %.0f s", len(banked), rep.BankSeconds)

	var queries []videoQuery
	for _, v := range edited {
		t := v.truth
		queries = append(queries, videoQuery{class: v.edit, name: v.edit + "/" + c.Sources[v.source].Name, path: v.path, source: v.source, self: -1, truth: &t})
	}
	for j, d := range c.Distractors {
		queries = append(queries, videoQuery{class: "distractor", name: d.Name, path: d.Path, source: -1, self: len(c.Sources) + j})
	}
	start = time.Now()
	rep.Queries = make([]VideoQuery, len(queries))
	results := make([]map[string][]videoHit, len(queries))
	done = 0
	if err := r.parallelErr(len(queries), func(k int) error {
		q, hits := r.videoQuery(ctx, queries[k], banked)
		rep.Queries[k], results[k] = q, hits
		mu.Lock()
		done++
		if done%20 == 0 {
			r.logf("matched %d of %d videos", done, len(queries))
		}
		mu.Unlock()
		return r.failFast()
	}); err != nil {
		return nil, err
	}
	rep.MatchSeconds = time.Since(start).Seconds()
	rep.tally(opts.Edits, queries, results, banked)
	return rep, nil
}

// bankVideo adds one video to the bank and reads its frames back.
func (r *runner) bankVideo(ctx context.Context, b *bankedVideo) error {
	data, err := os.ReadFile(b.item.Path)
	if err != nil {
		return err
	}
	o := &original{path: b.item.Path}
	if err := r.addData(ctx, o, data); err != nil {
		return fmt.Errorf("adding %s: %w", b.item.Name, err)
	}
	b.entry = o.entry
	cctx, cancel := context.WithTimeout(ctx, r.opts.CallTimeout)
	defer cancel()
	resp, err := r.bank.GetEntry(cctx, &pb.GetEntryRequest{Name: o.entry, View: pb.EntryView_ENTRY_VIEW_FULL})
	if err != nil {
		return fmt.Errorf("reading %s back: %w", b.item.Name, err)
	}
	b.frames = gridFrames(resp.GetEntry().GetMedia().GetFrames())
	return nil
}

// gridFrames keeps the frames a one-frame-a-second sampler would have
// taken: the first of each second. The server's extra frames at cuts are
// left out; consecutive duplicates it collapsed are the same hash, which
// the vPDQ rule counts once anyway.
func gridFrames(frames []*pb.VideoFrameHash) []vpdq.Frame {
	var out []vpdq.Frame
	last := math.Inf(-1)
	for i, f := range frames {
		sec := math.Floor(f.GetTs())
		if sec <= last {
			continue
		}
		h, err := pdq.ParseHex(f.GetPdqHex())
		if err != nil {
			continue
		}
		last = sec
		out = append(out, vpdq.Frame{Index: i, Hash: h, Quality: int(f.GetQuality()), Seconds: f.GetTs()})
	}
	return out
}

// videoHit is one entry a matcher found for a query.
type videoHit struct {
	entry  int // in the banked list
	method string
	ranges *Truth
}

// videoQuery matches one video with the server and with plain vPDQ.
func (r *runner) videoQuery(ctx context.Context, q videoQuery, banked []*bankedVideo) (VideoQuery, map[string][]videoHit) {
	out := VideoQuery{Class: q.class, Query: q.name, Truth: q.truth, Found: map[string]bool{}, Ranges: map[string]*Truth{}}
	if q.source >= 0 {
		out.Source = banked[q.source].item.Name
	}
	hits := map[string][]videoHit{}
	data, err := os.ReadFile(q.path)
	if err != nil {
		out.Error = err.Error()
		return out, hits
	}
	byEntry := map[string]int{}
	for k, b := range banked {
		byEntry[b.entry] = k
	}
	cctx, cancel := context.WithTimeout(ctx, r.opts.CallTimeout)
	defer cancel()
	start := time.Now()
	res, err := r.matchCall(cctx, data, &pb.MatchOptions{Banks: []string{"banks/" + r.opts.Bank}, Limit: 1000})
	out.CallSeconds = time.Since(start).Seconds()
	r.calls.Add(1)
	if err != nil {
		r.failures.Add(1)
		out.Error = errorText(err)
		return out, hits
	}
	out.Seconds = res.GetQuery().GetDurationSeconds()
	for _, m := range res.GetMatches() {
		if m.GetTier() != pb.MatchTier_MATCH_TIER_MATCH {
			continue
		}
		k, ok := byEntry[m.GetEntry()]
		if !ok {
			continue
		}
		h := videoHit{entry: k, ranges: hull(m.GetQueryRanges(), m.GetEntryRanges())}
		if ev := m.GetEvidence(); len(ev) > 0 {
			h.method = ev[0].GetMethod()
		}
		hits[MatcherServer] = append(hits[MatcherServer], h)
	}
	qf := gridFrames(res.GetQuery().GetFrames())
	for k, b := range banked {
		cmp := vpdq.Compare(qf, b.frames, vpdq.Options{})
		if !cmp.Matched {
			continue
		}
		hits[MatcherVPDQ] = append(hits[MatcherVPDQ], videoHit{entry: k, method: "vpdq", ranges: vpdqHull(cmp)})
	}
	for _, name := range VideoMatchers {
		for _, h := range hits[name] {
			if h.entry == q.source {
				out.Found[name], out.Ranges[name] = true, h.ranges
				if name == MatcherServer {
					out.Method = h.method
				}
			}
		}
	}
	return out, hits
}

// hull is the span from the first range's start to the last one's end,
// on each side (nil when either side has none).
func hull(query, entry []*pb.TimeRange) *Truth {
	if len(query) == 0 || len(entry) == 0 {
		return nil
	}
	span := func(rs []*pb.TimeRange) Span {
		s := Span{math.Inf(1), math.Inf(-1)}
		for _, r := range rs {
			s.Start, s.End = min(s.Start, r.GetStartSeconds()), max(s.End, r.GetEndSeconds())
		}
		return s
	}
	return &Truth{span(query), span(entry)}
}

// vpdqHull is hull for a vPDQ comparison's ranges.
func vpdqHull(c vpdq.Result) *Truth {
	conv := func(rs []vpdq.Range) []*pb.TimeRange {
		out := make([]*pb.TimeRange, len(rs))
		for i, r := range rs {
			out[i] = &pb.TimeRange{StartSeconds: r.Start, EndSeconds: r.End}
		}
		return out
	}
	return hull(conv(c.QueryRanges), conv(c.EntryRanges))
}

// placed reports whether got is within RangeTolerance of want on both
// sides and at both ends. A range ending on a frame's start (vPDQ's) is
// given the frame's second.
func placed(got, want *Truth) bool {
	if got == nil || want == nil {
		return false
	}
	near := func(g, w Span) bool {
		return math.Abs(g.Start-w.Start) <= RangeTolerance && math.Abs(g.End-w.End) <= RangeTolerance+1
	}
	return near(got.Query, want.Query) && near(got.Entry, want.Entry)
}

// tally fills the report's rows and false matches from the queries'
// results.
func (rep *VideoReport) tally(edits []VideoEdit, queries []videoQuery, results []map[string][]videoHit, banked []*bankedVideo) {
	rows := map[string]*VideoClass{}
	newRow := func(name, desc string) *VideoClass {
		row := &VideoClass{Name: name, Description: desc, Found: map[string]int{}, Placed: map[string]int{}, FalseMatches: map[string]int{}}
		rows[name] = row
		return row
	}
	var order []*VideoClass
	for _, e := range edits {
		order = append(order, newRow(e.Name, e.Description))
	}
	order = append(order, newRow("distractor", "hard negatives: the intro, a source's title card, black frames, test patterns, fades"))
	for k, q := range queries {
		row := rows[q.class]
		row.Queries++
		res := rep.Queries[k]
		if res.Error != "" {
			row.Errors++
			continue
		}
		rep.QuerySeconds += res.Seconds
		rep.Pairs += len(banked)
		if q.self >= 0 {
			rep.Pairs-- // a distractor against its own copy
		}
		for _, name := range VideoMatchers {
			if res.Found[name] {
				row.Found[name]++
				if placed(res.Ranges[name], q.truth) {
					row.Placed[name]++
				}
			}
			for _, h := range results[k][name] {
				if h.entry == q.source || h.entry == q.self {
					continue
				}
				row.FalseMatches[name]++
				rep.FalseMatches[name]++
				if len(rep.Examples) < maxExamples {
					rep.Examples = append(rep.Examples, VideoFalseMatch{Matcher: name, Query: q.name, Entry: banked[h.entry].item.Name, Method: h.method, Ranges: h.ranges})
				}
			}
		}
	}
	for _, row := range order {
		rep.Classes = append(rep.Classes, *row)
	}
}

// WriteTable prints the report as a table.
func (rep *VideoReport) WriteTable(w io.Writer) error {
	ew := &tableWriter{w: w}
	ew.printf("%d sources, %d distractors, seed %d, server %s\n", rep.Sources, rep.Distractors, rep.Seed, rep.Server)
	ew.printf("recall (found / queries) and, in brackets, the share of those found whose ranges on both sides were within %g s of the truth\n\n", RangeTolerance)
	ew.printf("%-13s %7s  %-18s %-18s %s\n", "class", "queries", "mediamatch", "vpdq (PDQ 1 fps)", "false matches mediamatch / vpdq")
	for _, c := range rep.Classes {
		cell := func(m string) string {
			if c.Name == "distractor" {
				return "-"
			}
			n := c.Queries - c.Errors
			if n == 0 {
				return "no queries"
			}
			s := fmt.Sprintf("%.2f", float64(c.Found[m])/float64(n))
			if c.Found[m] > 0 {
				s += fmt.Sprintf(" (%.2f)", float64(c.Placed[m])/float64(c.Found[m]))
			}
			return s
		}
		errs := ""
		if c.Errors > 0 {
			errs = fmt.Sprintf("  %d errors", c.Errors)
		}
		ew.printf("%-13s %7d  %-18s %-18s %d / %d%s\n", c.Name, c.Queries, cell(MatcherServer), cell(MatcherVPDQ), c.FalseMatches[MatcherServer], c.FalseMatches[MatcherVPDQ], errs)
	}
	ew.printf("\nfalse matches over %d query x entry pairs: mediamatch %d, vpdq %d\n", rep.Pairs, rep.FalseMatches[MatcherServer], rep.FalseMatches[MatcherVPDQ])
	if rep.MatchSeconds > 0 {
		ew.printf("matching (upload, hashing, match) ran at %.1f video-seconds per wall-second\n", rep.QuerySeconds/rep.MatchSeconds)
	}
	for _, e := range rep.Examples {
		ew.printf("  false match (%s): %s -> %s by %s\n", e.Matcher, e.Query, e.Entry, e.Method)
	}
	return ew.err
}

// tableWriter writes formatted lines, keeping the first error.
type tableWriter struct {
	w   io.Writer
	err error
}

func (t *tableWriter) printf(format string, args ...any) {
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.w, format, args...)
	}
}
