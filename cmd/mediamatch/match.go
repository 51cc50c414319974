package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mediamatch/mediamatch/exchange"
	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/match"
	"github.com/mediamatch/mediamatch/media"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/vpdq"
)

// maxUpload is the largest file the client reads: the server's video
// budget, above its image budget.
const maxUpload = max(media.DefaultMaxBytes, media.DefaultMaxVideoBytes)

// readVPDQ reads a vPDQ hash file (the reference tool's lines or the JSON
// list) as the hashes of a video.
func readVPDQ(e *env, name string) (*pb.MediaHashes, error) {
	data, err := readInput(e, name, 64<<20)
	if err != nil {
		return nil, err
	}
	frames, err := vpdq.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return signalHashes(exchange.Signal{Type: exchange.SignalVPDQ, Frames: frames}), nil
}

// addLine is what add prints per file.
type addLine struct {
	File          string `json:"file"`
	Entry         string `json:"entry,omitempty"`
	Bank          string `json:"bank,omitempty"`
	AlreadyExists bool   `json:"already_exists,omitempty"`
	Error         string `json:"error,omitempty"`
}

func runAdd(e *env, args []string) int {
	fs := flag.NewFlagSet("add", flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	bank := fs.String("bank", "", "bank to add to (required)")
	labels := labelFlag{}
	fs.Var(labels, "label", "key=value label of every file added, repeatable")
	note := fs.String("note", "", "note kept with every file added")
	origin := fs.String("source", "", "where the files came from (kept as the entries' source origin)")
	isVPDQ := fs.Bool("vpdq", false, "the files are vPDQ video hashes (reference lines or JSON list), not media")
	jobs := jobsFlag(fs, 4, "sent")
	if !parseCommand(e, fs, args, "usage: mediamatch add --bank B [--label k=v]... [--vpdq] [--jobs N] FILE|FOLDER...  (FILE '-' is standard input)", func() bool { return *bank != "" && fs.NArg() > 0 }) {
		return exitUsage
	}
	names, err := expandInputs(fs.Args())
	if err != nil {
		fmt.Fprintf(e.stderr, "mediamatch add: %v\n", err)
		return exitFail
	}
	c, ok := connect(e, cf)
	if !ok {
		return exitFail
	}
	defer c.Close()
	var source *pb.Source
	if *origin != "" {
		source = &pb.Source{Origin: *origin}
	}
	out := newPrinter(e.stdout)
	code := exitOK
	prog := newProgress(e, "files", int64(len(names)))
	defer prog.finish()
	inOrder(len(names), *jobs, func(i int) addLine {
		defer prog.add(1)
		line := addLine{File: names[i]}
		entry, existed, err := c.add(e, names[i], *bank, labels, *note, source, *isVPDQ)
		if err != nil {
			line.Error = err.Error()
		} else {
			line.Entry, line.Bank, line.AlreadyExists = lastPart(entry.GetName()), bankOfName(entry.GetName()), existed
		}
		return line
	}, func(_ int, line addLine) bool {
		if line.Error != "" {
			code = exitFail
		}
		prog.clear()
		if err := out.print(line); err != nil {
			code = exitFail
			return false
		}
		return true
	})
	return code
}

// add sends one file to CreateEntry, streaming it when it is large.
func (c *client) add(e *env, name, bank string, labels map[string]string, note string, source *pb.Source, isVPDQ bool) (*pb.Entry, bool, error) {
	meta := &pb.Entry{Labels: labels, Note: note, Source: source}
	if isVPDQ {
		m, err := readVPDQ(e, name)
		if err != nil {
			return nil, false, err
		}
		ctx, cancel := c.ctx()
		defer cancel()
		meta.Media = m
		resp, err := c.bank.CreateEntry(ctx, &pb.CreateEntryRequest{Parent: bankResource(bank), Entry: meta})
		if err != nil {
			return nil, false, fmt.Errorf("%s", errorMessage(err))
		}
		return resp.GetEntry(), resp.GetAlreadyExists(), nil
	}
	data, err := readInput(e, name, maxUpload)
	if err != nil {
		return nil, false, err
	}
	ctx, cancel := c.ctx()
	defer cancel()
	if len(data) <= unaryMediaLimit {
		resp, err := c.bank.CreateEntry(ctx, &pb.CreateEntryRequest{Parent: bankResource(bank), Entry: meta, Media: data})
		if err != nil {
			return nil, false, fmt.Errorf("%s", errorMessage(err))
		}
		return resp.GetEntry(), resp.GetAlreadyExists(), nil
	}
	stream, err := c.bank.CreateEntryStream(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("%s", errorMessage(err))
	}
	header := &pb.CreateEntryStreamHeader{Parent: bankResource(bank), Entry: meta, SizeBytes: int64(len(data))}
	if err := stream.Send(&pb.CreateEntryStreamRequest{Part: &pb.CreateEntryStreamRequest_Header{Header: header}}); err != nil {
		return nil, false, streamError(stream.CloseAndRecv)
	}
	for off := 0; off < len(data); off += chunkSize {
		chunk := data[off:min(off+chunkSize, len(data))]
		if err := stream.Send(&pb.CreateEntryStreamRequest{Part: &pb.CreateEntryStreamRequest_Chunk{Chunk: chunk}}); err != nil {
			return nil, false, streamError(stream.CloseAndRecv)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return nil, false, fmt.Errorf("%s", errorMessage(err))
	}
	return resp.GetEntry(), resp.GetAlreadyExists(), nil
}

// streamError returns the server's reason for ending a stream early: a
// failed Send reports only io.EOF, the status comes with CloseAndRecv.
func streamError[T any](closeAndRecv func() (T, error)) error {
	_, err := closeAndRecv()
	if err == nil {
		return fmt.Errorf("the server closed the upload")
	}
	return fmt.Errorf("%s", errorMessage(err))
}

// matchLine is what match prints per file.
type matchLine struct {
	File       string      `json:"file"`
	Matches    []matchJSON `json:"matches"`
	LowQuality bool        `json:"low_quality,omitempty"`
	Decode     *decodeJSON `json:"decode,omitempty"`
	Error      string      `json:"error,omitempty"`
}

type matchJSON struct {
	Entry     string `json:"entry"`
	Bank      string `json:"bank"`
	EntryKind string `json:"entry_media,omitempty"`
	// Score is the estimated false-match probability per comparison; Tier
	// "match" (automatic action) or "review" (for a person).
	Score    float64           `json:"score"`
	Tier     string            `json:"tier"`
	Labels   map[string]string `json:"labels,omitempty"`
	Evidence []evidenceJSON    `json:"evidence"`
}

// evidenceJSON is one method's strongest evidence.
type evidenceJSON struct {
	Method   string `json:"method"`
	Type     string `json:"type"`
	Distance int32  `json:"distance"`
	Dihedral string `json:"dihedral,omitempty"`
	// For video: the spans ([start, end] in seconds) of the query and of
	// the entry that matched, and the vPDQ percentages.
	QueryRanges  [][2]float64 `json:"query_ranges,omitempty"`
	EntryRanges  [][2]float64 `json:"entry_ranges,omitempty"`
	QueryPercent *float64     `json:"query_match_percent,omitempty"`
	EntryPercent *float64     `json:"entry_match_percent,omitempty"`
	// The parts of the query and of the entry that matched, when not the
	// whole image, and for keypoints how many agree.
	QueryRegion *regionJSON `json:"query_region,omitempty"`
	EntryRegion *regionJSON `json:"entry_region,omitempty"`
	Inliers     *int32      `json:"keypoint_inliers,omitempty"`
	Probability float64     `json:"probability"`
}

func evidenceOf(e *pb.Evidence) evidenceJSON {
	out := evidenceJSON{Method: e.GetMethod(), Type: e.GetHashType(), Distance: e.GetDistance(),
		QueryRanges: rangesJSON(e.GetQueryRanges()), EntryRanges: rangesJSON(e.GetEntryRanges()),
		QueryPercent: e.QueryMatchPercent, EntryPercent: e.EntryMatchPercent,
		QueryRegion: regionOf(e.GetQueryRegion()), EntryRegion: regionOf(e.GetEntryRegion()), Inliers: e.KeypointInliers,
		Probability: e.GetProbability()}
	if d := e.GetDihedral(); d != pb.DihedralVariant_DIHEDRAL_VARIANT_UNSPECIFIED {
		out.Dihedral = strings.ToLower(strings.TrimPrefix(d.String(), "DIHEDRAL_VARIANT_"))
	}
	return out
}

// regionJSON is a region as kind and box (fractions of the image's sides).
type regionJSON struct {
	Kind string `json:"kind"`
	// Box is left, top, width, height.
	Box [4]float32 `json:"box"`
}

func regionOf(r *pb.Region) *regionJSON {
	if r == nil {
		return nil
	}
	return &regionJSON{Kind: strings.ToLower(strings.TrimPrefix(r.GetKind().String(), "REGION_KIND_")),
		Box: [4]float32{r.GetLeft(), r.GetTop(), r.GetWidth(), r.GetHeight()}}
}

func rangesJSON(rs []*pb.TimeRange) [][2]float64 {
	var out [][2]float64
	for _, r := range rs {
		out = append(out, [2]float64{r.GetStartSeconds(), r.GetEndSeconds()})
	}
	return out
}

func runMatch(e *env, args []string) int {
	fs := flag.NewFlagSet("match", flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	var banks listFlag
	fs.Var(&banks, "bank", "bank to search, repeatable; default every enabled bank")
	noDihedral := fs.Bool("no-dihedral", false, "do not try rotations and mirrors of images")
	limit := fs.Int("limit", 0, "most matches per file (default: the server's, 100)")
	isVPDQ := fs.Bool("vpdq", false, "the files are vPDQ video hashes (reference lines or JSON list), not media")
	queryPercent := fs.Float64("video-query-percent", -1, "vPDQ: share (0-100) of the query video's frames that must match (default: the server's)")
	entryPercent := fs.Float64("video-entry-percent", -1, "vPDQ: share (0-100) of the entry video's frames that must match (default: the server's)")
	budget := fs.Float64("budget", 0, "false-match budget: the largest score (estimated false-match probability per comparison) of a match (default: the bank's, else the server's, 3e-6)")
	review := fs.Bool("review", false, "also print results for review: beyond the budget, within 100 times it")
	types := fs.String("types", "", "comma-separated evidence to match with, of "+strings.Join(append(typeNames(), match.KeypointType), ", ")+" (default every one); a file is hashed only for these (a video's frames always)")
	var hashes listFlag
	fs.Var(&hashes, "hash", "match a hash instead of a file, TYPE:HEX (pdq, phash, dhash, md5, sha256), repeatable")
	list := fs.String("list", "", "match every signal of a hash list in python-threatexchange's local file format (\"TYPE SIGNAL\" a line; '-' is standard input): which of a partner's hashes we hold")
	jobs := jobsFlag(fs, 4, "matched")
	if !parseCommand(e, fs, args, "usage: mediamatch match [--bank B]... [--budget P] [--review] [--types T,...] [--vpdq] [--jobs N] FILE|FOLDER...  (FILE '-' is standard input)\n       mediamatch match [flags] --hash TYPE:HEX... | --list FILE", func() bool {
		return fs.NArg() > 0 || len(hashes) > 0 || *list != ""
	}) {
		return exitUsage
	}
	names, err := expandInputs(fs.Args())
	if err != nil {
		fmt.Fprintf(e.stderr, "mediamatch match: %v\n", err)
		return exitFail
	}
	c, ok := connect(e, cf)
	if !ok {
		return exitFail
	}
	defer c.Close()
	opts := &pb.MatchOptions{Limit: int32(*limit), IncludeReview: *review}
	if *budget != 0 {
		opts.FalseMatchBudget = budget
	}
	for _, b := range banks {
		opts.Banks = append(opts.Banks, bankResource(b))
	}
	if *noDihedral {
		f := false
		opts.Dihedral = &f
	}
	for t := range strings.SplitSeq(*types, ",") {
		// The server checks the names, with the same message for every
		// client.
		if t = strings.TrimSpace(t); t != "" {
			opts.HashTypes = append(opts.HashTypes, t)
		}
	}
	if *queryPercent >= 0 {
		opts.VideoQueryMatchPercent = queryPercent
	}
	if *entryPercent >= 0 {
		opts.VideoEntryMatchPercent = entryPercent
	}
	out := newPrinter(e.stdout)
	code := exitOK
	report := func(name string, res *pb.MatchResult, err error) bool {
		line := matchLine{File: name}
		if err != nil {
			line.Error = err.Error()
			code = exitFail
		} else {
			line.Matches = []matchJSON{}
			line.LowQuality = res.GetLowQuality()
			if d := res.GetDecode(); d != nil {
				line.Decode = &decodeJSON{Partial: d.GetPartial(), VisibleFraction: d.GetVisibleFraction(), Notes: d.GetNotes()}
			}
			for _, m := range res.GetMatches() {
				mj := matchJSON{Entry: lastPart(m.GetEntry()), Bank: bankOfName(m.GetBank()), Labels: m.GetLabels(), Score: m.GetScore(),
					Tier: strings.ToLower(strings.TrimPrefix(m.GetTier().String(), "MATCH_TIER_")), Evidence: []evidenceJSON{}}
				if k := m.GetEntryKind(); k != pb.MediaKind_MEDIA_KIND_UNSPECIFIED {
					mj.EntryKind = strings.ToLower(strings.TrimPrefix(k.String(), "MEDIA_KIND_"))
				}
				for _, ev := range m.GetEvidence() {
					mj.Evidence = append(mj.Evidence, evidenceOf(ev))
				}
				line.Matches = append(line.Matches, mj)
			}
		}
		if err := out.print(line); err != nil {
			code = exitFail
			return false
		}
		return true
	}
	for _, h := range hashes {
		m, err := hashArg(h)
		var res *pb.MatchResult
		if err == nil {
			res, err = c.matchHashes(m, opts)
		}
		if !report(h, res, err) {
			return code
		}
	}
	if *list != "" {
		if err := c.matchList(e, *list, opts, report); err != nil {
			fmt.Fprintf(e.stderr, "mediamatch match: %s: %v\n", *list, err)
			return exitFail
		}
	}
	type matched struct {
		res *pb.MatchResult
		err error
	}
	prog := newProgress(e, "files", int64(len(names)))
	defer prog.finish()
	inOrder(len(names), *jobs, func(i int) matched {
		defer prog.add(1)
		res, err := c.matchFile(e, names[i], opts, *isVPDQ)
		return matched{res, err}
	}, func(i int, m matched) bool {
		prog.clear()
		return report(names[i], m.res, m.err)
	})
	return code
}

// hashArg reads a --hash value, TYPE:HEX.
func hashArg(s string) (*pb.MediaHashes, error) {
	typ, value, ok := strings.Cut(s, ":")
	if !ok {
		return nil, fmt.Errorf("--hash %q: want TYPE:HEX, e.g. pdq:%s", s, strings.Repeat("0", 64))
	}
	h, err := hashing.Parse(typ, strings.ToLower(value))
	if err != nil {
		return nil, err
	}
	return &pb.MediaHashes{Hashes: []*pb.Hash{{Type: h.Type, Hex: h.Hex()}}}, nil
}

// signalHashes is one signal of a hash list as the hashes of a query.
func signalHashes(s exchange.Signal) *pb.MediaHashes {
	if s.Type == exchange.SignalVPDQ {
		m := &pb.MediaHashes{Kind: pb.MediaKind_MEDIA_KIND_VIDEO}
		for _, f := range s.Frames {
			q := int32(f.Quality)
			m.Frames = append(m.Frames, &pb.VideoFrameHash{Ts: f.Seconds, PdqHex: f.Hash.String(), Quality: &q})
			m.DurationSeconds = max(m.DurationSeconds, f.Seconds)
		}
		return m
	}
	return &pb.MediaHashes{Hashes: []*pb.Hash{{Type: s.Hash.Type, Hex: s.Hash.Hex()}}}
}

func (c *client) matchHashes(m *pb.MediaHashes, opts *pb.MatchOptions) (*pb.MatchResult, error) {
	ctx, cancel := c.ctx()
	defer cancel()
	resp, err := c.match.Match(ctx, &pb.MatchRequest{Query: &pb.MatchRequest_Hashes{Hashes: m}, Options: opts})
	if err != nil {
		return nil, fmt.Errorf("%s", errorMessage(err))
	}
	return resp.GetResult(), nil
}

// matchList matches every signal of a hash list, reporting each as
// "LIST:LINE". A malformed line stops it, with its line; what was matched
// before is reported.
func (c *client) matchList(e *env, name string, opts *pb.MatchOptions, report func(string, *pb.MatchResult, error) bool) error {
	in := e.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	r := exchange.NewFileReader(in)
	for {
		s, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		res, err := c.matchHashes(signalHashes(s), opts)
		if !report(fmt.Sprintf("%s:%d", name, r.Line()), res, err) {
			return nil
		}
	}
}

// matchFile sends one file to Match, streaming it when it is large.
func (c *client) matchFile(e *env, name string, opts *pb.MatchOptions, isVPDQ bool) (*pb.MatchResult, error) {
	if isVPDQ {
		m, err := readVPDQ(e, name)
		if err != nil {
			return nil, err
		}
		return c.matchHashes(m, opts)
	}
	data, err := readInput(e, name, maxUpload)
	if err != nil {
		return nil, err
	}
	ctx, cancel := c.ctx()
	defer cancel()
	if len(data) <= unaryMediaLimit {
		resp, err := c.match.Match(ctx, &pb.MatchRequest{Query: &pb.MatchRequest_Media{Media: data}, Options: opts})
		if err != nil {
			return nil, fmt.Errorf("%s", errorMessage(err))
		}
		return resp.GetResult(), nil
	}
	stream, err := c.match.MatchStream(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s", errorMessage(err))
	}
	header := &pb.MatchStreamHeader{Options: opts, SizeBytes: int64(len(data))}
	if err := stream.Send(&pb.MatchStreamRequest{Part: &pb.MatchStreamRequest_Header{Header: header}}); err != nil {
		return nil, streamError(stream.CloseAndRecv)
	}
	for off := 0; off < len(data); off += chunkSize {
		chunk := data[off:min(off+chunkSize, len(data))]
		if err := stream.Send(&pb.MatchStreamRequest{Part: &pb.MatchStreamRequest_Chunk{Chunk: chunk}}); err != nil {
			return nil, streamError(stream.CloseAndRecv)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return nil, fmt.Errorf("%s", errorMessage(err))
	}
	return resp.GetResult(), nil
}
