package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mediamatch/mediamatch/bench/robustness"
	"github.com/mediamatch/mediamatch/index"
	"github.com/mediamatch/mediamatch/match"
	"github.com/mediamatch/mediamatch/server"
	"github.com/mediamatch/mediamatch/store/bolt"
)

// benchShutdownGrace bounds the in-process server's shutdown after a run:
// no calls are in flight by then.
const benchShutdownGrace = 5 * time.Second

func runBench(e *env, args []string) int {
	usage := func() {
		fmt.Fprintln(e.stderr, `usage: mediamatch-bench robustness --originals DIR --distractors DIR [flags]
       mediamatch-bench negatives --dir DIR [flags]
       mediamatch-bench calibrate --report FILE --out FILE [--source NAME]
       mediamatch-bench roc --negatives FILE --robustness FILE --out FILE.png [flags]
       mediamatch-bench corpus --originals-from DIR... --distractors-from DIR... --out DIR [flags]
       mediamatch-bench video --out DIR [--json FILE] [flags]

  robustness  recall per re-edit and false-match rate of plain PDQ, plain pHash
              and the server's matcher (scripts/fetch-corpus builds a corpus)
  negatives   false matches among images that are not copies of one another,
              every one against every other, and the calibration they give
              (scripts/fetch-negatives builds the folders)
  calibrate   the calibration a negatives report gives (what negatives
              --calibration-out writes), without running the server again
  roc         recall against false-match rate, per method and combined, from
              a negatives report and a robustness report, drawn as PNG
  corpus      select and deduplicate corpus images from extracted packages
              (what scripts/fetch-corpus runs)
  video       the open video benchmark: generated sources, re-edits and hard
              negatives, recall per class and false matches of the server and
              of plain PDQ with the vPDQ rule (needs ffmpeg)`)
	}
	if len(args) == 0 {
		usage()
		return exitUsage
	}
	switch args[0] {
	case "robustness":
		return runBenchRobustness(e, args[1:])
	case "negatives":
		return runBenchNegatives(e, args[1:])
	case "roc":
		return runBenchROC(e, args[1:])
	case "calibrate":
		return runBenchCalibrate(e, args[1:])
	case "corpus":
		return runBenchCorpus(e, args[1:])
	case "video":
		return runBenchVideo(e, args[1:])
	case "-h", "--help", "help":
		usage()
		return exitOK
	}
	fmt.Fprintf(e.stderr, "mediamatch bench: unknown benchmark %q\n\n", args[0])
	usage()
	return exitUsage
}

func runBenchRobustness(e *env, args []string) int {
	fs := flag.NewFlagSet("robustness", flag.ContinueOnError)
	originals := fs.String("originals", "", "folder of images to add to the bank (required)")
	distractors := fs.String("distractors", "", "folder of images not in the bank, for the false-match rate (required)")
	addr := fs.String("server", "", "address of a running mediamatch server; empty runs one in-process on a temporary bbolt file")
	jsonOut := fs.String("json", "", "also write the report as JSON to this file")
	limitOrig := fs.Int("limit-originals", 0, "use at most this many originals, a seeded sample (0: all)")
	limitDist := fs.Int("limit-distractors", 0, "use at most this many distractors, a seeded sample (0: all)")
	seed := fs.Uint64("seed", 1, "seed of the sampling and of the transforms' random choices")
	workers := fs.Int("workers", 0, "variants made and matched at once (0: CPUs+1, between 2 and 4)")
	maxSide := fs.Int("max-side", robustness.DefaultMaxSide, "images are scaled down to this longest side when loaded")
	keepBank := fs.Bool("keep-bank", false, "leave the run's bank on the server")
	timeout := fs.Duration("timeout", 60*time.Second, "deadline of each call")
	usage := fmt.Sprintf("usage: mediamatch-bench robustness --originals DIR --distractors DIR [flags]\n\n"+
		"Adds the originals to a new bank, matches %d re-edits of each and every distractor, and prints\n"+
		"recall per re-edit and false-match rates for whole-image PDQ (<= 31) and pHash (<= 10), computed\n"+
		"client-side, and for the server's default Match.", len(robustness.Transforms(nil)))
	if !parseCommand(e, fs, args, usage, func() bool { return fs.NArg() == 0 && *originals != "" && *distractors != "" }) {
		return exitUsage
	}
	fail := func(err error) int {
		fmt.Fprintf(e.stderr, "mediamatch-bench robustness: %v\n", err)
		return exitFail
	}
	origFiles, err := sampleImages(*originals, *limitOrig, *seed, 0)
	if err != nil {
		return fail(err)
	}
	distFiles, err := sampleImages(*distractors, *limitDist, *seed, 1)
	if err != nil {
		return fail(err)
	}
	if len(origFiles) == 0 {
		return fail(fmt.Errorf("no PNG or JPEG files in %s", *originals))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	target := *addr
	if target == "" {
		tmp, err := os.MkdirTemp("", "mediamatch-bench-")
		if err != nil {
			return fail(err)
		}
		defer os.RemoveAll(tmp)
		a, shutdown, err := startBenchServer(filepath.Join(tmp, "bench.db"), nil)
		if err != nil {
			return fail(err)
		}
		defer shutdown()
		target = a
		fmt.Fprintf(e.stderr, "in-process server on %s, store %s\n", a, filepath.Join(tmp, "bench.db"))
	} else {
		fmt.Fprintf(e.stderr, "server %s\n", target)
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fail(fmt.Errorf("connecting to %s: %w", target, err))
	}
	defer conn.Close()

	name := target
	if *addr == "" {
		name = "in-process"
	}
	rep, err := robustness.Run(ctx, robustness.Options{
		Conn: conn, Server: name, Originals: origFiles, Distractors: distFiles,
		Seed: *seed, Workers: *workers, MaxSide: *maxSide, KeepBank: *keepBank,
		CallTimeout: *timeout, Log: e.stderr,
	})
	if err != nil {
		return fail(err)
	}
	if err := rep.WriteTable(e.stdout); err != nil {
		return fail(err)
	}
	if *jsonOut != "" {
		if err := writeJSON(*jsonOut, rep); err != nil {
			return fail(err)
		}
	}
	return exitOK
}

func runBenchNegatives(e *env, args []string) int {
	fs := flag.NewFlagSet("negatives", flag.ContinueOnError)
	dir := fs.String("dir", "", "folder of negatives: images that are not copies of one another (required)")
	jsonOut := fs.String("json", "", "also write the report (every pair with evidence) as JSON to this file")
	calOut := fs.String("calibration-out", "", "write the calibration these negatives give to this file (match/calibration.json is the default one)")
	calibrating := fs.Bool("calibrating", false, "run the in-process server with the rules a calibration is measured under: keypoint evidence from 5 inliers, so that its tail below the default 8 is measured")
	source := fs.String("source", "", "name of the negatives, recorded in the calibration (default: the folder's name)")
	limit := fs.Int("limit", 0, "use at most this many images, a seeded sample (0: all)")
	seed := fs.Uint64("seed", 1, "seed of the sampling")
	workers := fs.Int("workers", 0, "calls at once (0: CPUs+1, between 2 and 4)")
	maxSide := fs.Int("max-side", robustness.DefaultMaxSide, "images are scaled down to this longest side when loaded")
	timeout := fs.Duration("timeout", 60*time.Second, "deadline of each call")
	usage := "usage: mediamatch-bench negatives --dir DIR [flags]\n\n" +
		"Adds every image of DIR to a new bank on an in-process server, matches every one against the\n" +
		"bank at a false-match budget of 1 (so every pair with evidence comes back with its score), and\n" +
		"prints the false matches of the default operating point, of other budgets and of plain PDQ\n" +
		"(<= 31 over the query's 8 dihedral hashes) on the same pairs."
	if !parseCommand(e, fs, args, usage, func() bool { return fs.NArg() == 0 && *dir != "" }) {
		return exitUsage
	}
	fail := func(err error) int {
		fmt.Fprintf(e.stderr, "mediamatch-bench negatives: %v\n", err)
		return exitFail
	}
	files, err := sampleImages(*dir, *limit, *seed, 2)
	if err != nil {
		return fail(err)
	}
	if len(files) < 2 {
		return fail(fmt.Errorf("fewer than 2 PNG or JPEG files in %s", *dir))
	}
	if *source == "" {
		*source = filepath.Base(filepath.Clean(*dir))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var rules *match.Rules
	if *calibrating {
		r := match.DefaultRules()
		r.KeypointMinInliers = 5
		r.Methods[match.MethodPixels] = true // measured before it is sought by default
		rules = &r
	}
	conn, addr, closeServer, err := dialInProcess(rules)
	if err != nil {
		return fail(err)
	}
	defer closeServer()
	fmt.Fprintf(e.stderr, "in-process server on %s, %d images\n", addr, len(files))
	rep, err := robustness.Negatives(ctx, robustness.NegativesOptions{Conn: conn, Files: files,
		Workers: *workers, MaxSide: *maxSide, CallTimeout: *timeout, Log: e.stderr})
	if err != nil {
		return fail(err)
	}
	rep.Server = "in-process"
	if *calibrating {
		rep.Server = "in-process, calibrating rules"
	}
	if err := rep.WriteTable(e.stdout, match.DefaultRules().Budget); err != nil {
		return fail(err)
	}
	if *jsonOut != "" {
		if err := writeJSON(*jsonOut, rep); err != nil {
			return fail(err)
		}
	}
	if *calOut != "" {
		cal, err := rep.Calibrate(*source)
		if err != nil {
			return fail(err)
		}
		if err := writeJSON(*calOut, cal); err != nil {
			return fail(err)
		}
		fmt.Fprintf(e.stdout, "\n== the same pairs scored by the default rules under the calibration written to %s (combine %.2f)\n\n", *calOut, cal.Combine)
		if err := rep.Rescored(cal, match.DefaultRules()).WriteTable(e.stdout, match.DefaultRules().Budget); err != nil {
			return fail(err)
		}
	}
	return exitOK
}

func runBenchROC(e *env, args []string) int {
	fs := flag.NewFlagSet("roc", flag.ContinueOnError)
	negPath := fs.String("negatives", "", "JSON report of mediamatch-bench negatives (required)")
	robPath := fs.String("robustness", "", "JSON report of mediamatch-bench robustness (required)")
	out := fs.String("out", "", "PNG to write (required); FILE-geometric.png gets the geometric re-edits' curves")
	jsonOut := fs.String("json", "", "also write the curves' points as JSON to this file")
	title := fs.String("title", "", "title of the plots")
	usage := "usage: mediamatch-bench roc --negatives FILE --robustness FILE --out FILE.png [flags]\n\n" +
		"Draws recall (of the robustness run's re-edits) against the false-match rate per comparison (on the\n" +
		"negatives), as the budget moves, for each method's evidence alone and for the combined score."
	if !parseCommand(e, fs, args, usage, func() bool { return fs.NArg() == 0 && *negPath != "" && *robPath != "" && *out != "" }) {
		return exitUsage
	}
	fail := func(err error) int {
		fmt.Fprintf(e.stderr, "mediamatch-bench roc: %v\n", err)
		return exitFail
	}
	var neg robustness.NegativesReport
	var rob robustness.Report
	for path, v := range map[string]any{*negPath: &neg, *robPath: &rob} {
		data, err := os.ReadFile(path)
		if err != nil {
			return fail(err)
		}
		if err := json.Unmarshal(data, v); err != nil {
			return fail(fmt.Errorf("%s: %w", path, err))
		}
	}
	if neg.Pairs == 0 || len(rob.Transforms) == 0 {
		return fail(errors.New("the reports hold no pairs or no re-edits"))
	}
	floor := 0.5 / float64(neg.Pairs)
	marks := map[string]float64{
		fmt.Sprintf("plain PDQ <= %d, 8 dihedral", robustness.PDQThreshold): float64(len(neg.PDQ)) / float64(neg.Pairs),
	}
	all := map[string][]robustness.Curve{}
	for _, g := range []struct {
		group robustness.Group
		path  string
		name  string
	}{{"", *out, "every re-edit"}, {robustness.Geometric, strings.TrimSuffix(*out, ".png") + "-geometric.png", "geometric re-edits"}} {
		curves := robustness.ROC(&neg, &rob, g.group)
		all[g.name] = curves
		t := *title
		if t == "" {
			t = fmt.Sprintf("%s: %d negatives' pairs", g.name, neg.Pairs)
		}
		if err := robustness.PlotROC(g.path, t, curves, floor, marks); err != nil {
			return fail(err)
		}
		fmt.Fprintf(e.stdout, "wrote %s\n", g.path)
	}
	if *jsonOut != "" {
		if err := writeJSON(*jsonOut, all); err != nil {
			return fail(err)
		}
	}
	return exitOK
}

func runBenchCalibrate(e *env, args []string) int {
	fs := flag.NewFlagSet("calibrate", flag.ContinueOnError)
	report := fs.String("report", "", "JSON report of mediamatch-bench negatives --calibrating (required)")
	out := fs.String("out", "", "calibration to write (required); match/calibration.json is the embedded default")
	source := fs.String("source", "", "name of the negatives, recorded in the calibration (required)")
	heldout := fs.String("heldout", "", "also score this negatives report (of other images) under the new calibration and print its table")
	heldoutOut := fs.String("heldout-out", "", "write the rescored held-out report here (for roc)")
	robPath := fs.String("robustness", "", "also score this robustness report's evidence under the new calibration and print its table")
	robOut := fs.String("robustness-out", "", "write the rescored robustness report here")
	usage := "usage: mediamatch-bench calibrate --report FILE --out FILE --source NAME [--heldout FILE]"
	if !parseCommand(e, fs, args, usage, func() bool { return fs.NArg() == 0 && *report != "" && *out != "" && *source != "" }) {
		return exitUsage
	}
	fail := func(err error) int {
		fmt.Fprintf(e.stderr, "mediamatch-bench calibrate: %v\n", err)
		return exitFail
	}
	read := func(path string) (*robustness.NegativesReport, error) {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var rep robustness.NegativesReport
		if err := json.Unmarshal(data, &rep); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return &rep, nil
	}
	rep, err := read(*report)
	if err != nil {
		return fail(err)
	}
	cal, err := rep.Calibrate(*source)
	if err != nil {
		return fail(err)
	}
	if err := writeJSON(*out, cal); err != nil {
		return fail(err)
	}
	rules := match.DefaultRules()
	fmt.Fprintf(e.stdout, "calibration of %s over %d pairs: combine %.3g\n\n", *source, cal.Pairs, cal.Combine)
	if err := rep.Rescored(cal, rules).WriteTable(e.stdout, rules.Budget); err != nil {
		return fail(err)
	}
	if *heldout != "" {
		h, err := read(*heldout)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(e.stdout, "\n== %s under this calibration\n\n", *heldout)
		rh := h.Rescored(cal, rules)
		if err := rh.WriteTable(e.stdout, rules.Budget); err != nil {
			return fail(err)
		}
		if *heldoutOut != "" {
			if err := writeJSON(*heldoutOut, rh); err != nil {
				return fail(err)
			}
		}
	}
	if *robPath != "" {
		data, err := os.ReadFile(*robPath)
		if err != nil {
			return fail(err)
		}
		var rob robustness.Report
		if err := json.Unmarshal(data, &rob); err != nil {
			return fail(fmt.Errorf("%s: %w", *robPath, err))
		}
		rob.Rescore(cal, rules, rules.Budget)
		fmt.Fprintf(e.stdout, "\n== %s rescored under this calibration at %g\n\n", *robPath, rules.Budget)
		if err := rob.WriteTable(e.stdout); err != nil {
			return fail(err)
		}
		if *robOut != "" {
			if err := writeJSON(*robOut, &rob); err != nil {
				return fail(err)
			}
		}
	}
	return exitOK
}

// writeJSON writes v as indented JSON to path.
func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// sampleImages lists the images in dir and keeps a seeded sample of limit
// of them (all when limit is 0), in the sample's order.
func sampleImages(dir string, limit int, seed, stream uint64) ([]string, error) {
	files, err := robustness.ListImages(dir)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, stream))
	rng.Shuffle(len(files), func(i, j int) { files[i], files[j] = files[j], files[i] })
	if limit > 0 && limit < len(files) {
		files = files[:limit]
	}
	return files, nil
}

// dialInProcess starts the real server over a bbolt file in a new
// temporary folder, with rules (nil: the defaults), and connects to it;
// closeServer closes the connection, stops the server and removes the
// folder.
func dialInProcess(rules *match.Rules) (conn *grpc.ClientConn, addr string, closeServer func(), err error) {
	tmp, err := os.MkdirTemp("", "mediamatch-bench-")
	if err != nil {
		return nil, "", nil, err
	}
	addr, shutdown, err := startBenchServer(filepath.Join(tmp, "bench.db"), rules)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, "", nil, err
	}
	conn, err = grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		shutdown()
		os.RemoveAll(tmp)
		return nil, "", nil, fmt.Errorf("connecting to %s: %w", addr, err)
	}
	return conn, addr, func() {
		conn.Close()
		shutdown()
		os.RemoveAll(tmp)
	}, nil
}

// startBenchServer runs the real server on a loopback port over a fresh
// bbolt file, with rules (nil: the defaults), and returns its address and a
// function that stops it and closes the store.
func startBenchServer(db string, rules *match.Rules) (string, func(), error) {
	quiet := slog.New(slog.DiscardHandler)
	st, idx, err := openState(context.Background(), db, bolt.Options{}, index.Options{Logger: quiet})
	if err != nil {
		return "", nil, err
	}
	srv, err := server.New(st, idx, server.Options{Logger: quiet, Rules: rules})
	if err != nil {
		idx.Close()
		st.Close()
		return "", nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		idx.Close()
		st.Close()
		return "", nil, fmt.Errorf("listening for the in-process server: %w", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.GRPC().Serve(lis) }()
	return lis.Addr().String(), func() {
		srv.Shutdown(benchShutdownGrace)
		<-served
		idx.Close()
		st.Close()
	}, nil
}

// sourceFlag collects repeated [NAME=]DIR flags; the name defaults to the
// folder's base name (the package name, as scripts/fetch-corpus lays them
// out).
type sourceFlag []robustness.Source

func (s *sourceFlag) String() string {
	var parts []string
	for _, src := range *s {
		parts = append(parts, src.Name+"="+src.Dir)
	}
	return strings.Join(parts, ",")
}

func (s *sourceFlag) Set(v string) error {
	name, dir, ok := strings.Cut(v, "=")
	if !ok {
		name, dir = filepath.Base(filepath.Clean(v)), v
	}
	if name == "" || dir == "" {
		return errors.New("want DIR or NAME=DIR")
	}
	*s = append(*s, robustness.Source{Name: name, Dir: dir})
	return nil
}

func runBenchCorpus(e *env, args []string) int {
	fs := flag.NewFlagSet("corpus", flag.ContinueOnError)
	var origSrc, distSrc sourceFlag
	fs.Var(&origSrc, "originals-from", "[NAME=]DIR searched for originals, repeatable (e.g. an extracted package)")
	fs.Var(&distSrc, "distractors-from", "[NAME=]DIR searched for distractors, repeatable; use other packages than the originals'")
	out := fs.String("out", "corpus", "folder to write originals/, distractors/ and MANIFEST.tsv into")
	nOrig := fs.Int("originals", 200, "number of originals to select")
	nDist := fs.Int("distractors", 2000, "number of distractors to select")
	seed := fs.Uint64("seed", 1, "seed of the selection")
	minSide := fs.Int("min-side", robustness.DefaultMinSide, "smallest width and height kept")
	const usage = "usage: mediamatch-bench corpus --originals-from DIR... --distractors-from DIR... [--out DIR] [flags]\n\n" +
		"Selects usable, deduplicated images (PNG, JPEG, and images inside Qt .rcc bundles) and copies them\n" +
		"into OUT/originals and OUT/distractors."
	if !parseCommand(e, fs, args, usage, func() bool { return fs.NArg() == 0 && len(origSrc) > 0 && len(distSrc) > 0 }) {
		return exitUsage
	}
	start := time.Now()
	sum, err := robustness.BuildCorpus(robustness.CorpusOptions{
		Originals: origSrc, Distractors: distSrc, Out: *out,
		NumOriginals: *nOrig, NumDistractors: *nDist, Seed: *seed, MinSide: *minSide,
		Log: e.stderr,
	})
	if err != nil {
		fmt.Fprintf(e.stderr, "mediamatch-bench corpus: %v\n", err)
		return exitFail
	}
	for _, s := range sum.Sources {
		var rej []string
		for _, reason := range []string{"undecodable", "smaller than the minimum side", "mostly transparent", "flat", "PDQ quality below 50", "exact duplicate", "near duplicate"} {
			if n := s.Rejected[reason]; n > 0 {
				rej = append(rej, fmt.Sprintf("%d %s", n, reason))
			}
		}
		fmt.Fprintf(e.stdout, "%-20s %-11s %5d files %5d carved  usable %5d  selected %5d  dropped: %s\n",
			s.Name, s.Split, s.Files, s.Carved, s.Usable, s.Selected, strings.Join(rej, ", "))
	}
	fmt.Fprintf(e.stdout, "wrote %d originals (%.1f MB) and %d distractors (%.1f MB) to %s in %.0fs\n",
		sum.Originals, float64(sum.OriginalBytes)/1e6, sum.Distractors, float64(sum.DistractorBytes)/1e6,
		*out, time.Since(start).Seconds())
	if sum.Originals < *nOrig || sum.Distractors < *nDist {
		fmt.Fprintf(e.stderr, "mediamatch-bench corpus: fewer images than asked for (%d of %d originals, %d of %d distractors)\n",
			sum.Originals, *nOrig, sum.Distractors, *nDist)
		return exitFail
	}
	return exitOK
}
