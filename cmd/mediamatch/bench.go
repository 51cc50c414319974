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
	"github.com/mediamatch/mediamatch/server"
	"github.com/mediamatch/mediamatch/store/bolt"
)

// benchShutdownGrace bounds the in-process server's shutdown after a run:
// no calls are in flight by then.
const benchShutdownGrace = 5 * time.Second

func runBench(e *env, args []string) int {
	usage := func() {
		fmt.Fprintln(e.stderr, `usage: mediamatch bench robustness --originals DIR --distractors DIR [flags]
       mediamatch bench corpus --originals-from DIR... --distractors-from DIR... --out DIR [flags]

  robustness  recall per re-edit and false-match rate of plain PDQ, plain pHash
              and the server's matcher (scripts/fetch-corpus builds a corpus)
  corpus      select and deduplicate corpus images from extracted packages
              (what scripts/fetch-corpus runs)`)
	}
	if len(args) == 0 {
		usage()
		return exitUsage
	}
	switch args[0] {
	case "robustness":
		return runBenchRobustness(e, args[1:])
	case "corpus":
		return runBenchCorpus(e, args[1:])
	case "-h", "--help", "help":
		usage()
		return exitOK
	}
	fmt.Fprintf(e.stderr, "mediamatch bench: unknown benchmark %q\n\n", args[0])
	usage()
	return exitUsage
}

func runBenchRobustness(e *env, args []string) int {
	fs := flag.NewFlagSet("bench robustness", flag.ContinueOnError)
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
	usage := fmt.Sprintf("usage: mediamatch bench robustness --originals DIR --distractors DIR [flags]\n\n"+
		"Adds the originals to a new bank, matches %d re-edits of each and every distractor, and prints\n"+
		"recall per re-edit and false-match rates for whole-image PDQ (<= 31) and pHash (<= 10), computed\n"+
		"client-side, and for the server's default Match.", len(robustness.Transforms(nil)))
	if !parseCommand(e, fs, args, usage, func() bool { return fs.NArg() == 0 && *originals != "" && *distractors != "" }) {
		return exitUsage
	}
	fail := func(err error) int {
		fmt.Fprintf(e.stderr, "mediamatch bench robustness: %v\n", err)
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
		a, shutdown, err := startBenchServer(filepath.Join(tmp, "bench.db"))
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
		data, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return fail(err)
		}
		if err := os.WriteFile(*jsonOut, append(data, '\n'), 0o644); err != nil {
			return fail(err)
		}
	}
	return exitOK
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

// startBenchServer runs the real server, with its defaults, on a loopback
// port over a fresh bbolt file, and returns its address and a function that
// stops it and closes the store.
func startBenchServer(db string) (string, func(), error) {
	quiet := slog.New(slog.DiscardHandler)
	st, idx, err := openState(context.Background(), db, bolt.Options{}, index.Options{Logger: quiet})
	if err != nil {
		return "", nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		idx.Close()
		st.Close()
		return "", nil, fmt.Errorf("listening for the in-process server: %w", err)
	}
	srv := server.New(st, idx, server.Options{Logger: quiet})
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
	fs := flag.NewFlagSet("bench corpus", flag.ContinueOnError)
	var origSrc, distSrc sourceFlag
	fs.Var(&origSrc, "originals-from", "[NAME=]DIR searched for originals, repeatable (e.g. an extracted package)")
	fs.Var(&distSrc, "distractors-from", "[NAME=]DIR searched for distractors, repeatable; use other packages than the originals'")
	out := fs.String("out", "corpus", "folder to write originals/, distractors/ and MANIFEST.tsv into")
	nOrig := fs.Int("originals", 200, "number of originals to select")
	nDist := fs.Int("distractors", 2000, "number of distractors to select")
	seed := fs.Uint64("seed", 1, "seed of the selection")
	minSide := fs.Int("min-side", robustness.DefaultMinSide, "smallest width and height kept")
	const usage = "usage: mediamatch bench corpus --originals-from DIR... --distractors-from DIR... [--out DIR] [flags]\n\n" +
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
		fmt.Fprintf(e.stderr, "mediamatch bench corpus: %v\n", err)
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
		fmt.Fprintf(e.stderr, "mediamatch bench corpus: fewer images than asked for (%d of %d originals, %d of %d distractors)\n",
			sum.Originals, *nOrig, sum.Distractors, *nDist)
		return exitFail
	}
	return exitOK
}
