package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/mediamatch/mediamatch/bench/robustness"
)

func runBenchVideo(e *env, args []string) int {
	fs := flag.NewFlagSet("video", flag.ContinueOnError)
	out := fs.String("out", "", "folder the videos are generated into, reused by a later run with the same seed (required)")
	jsonOut := fs.String("json", "", "also write the report, every query's result included, as JSON to this file")
	sources := fs.Int("sources", 12, "source videos to make, bank and re-edit")
	distractors := fs.Int("distractors", 8, "distractor videos (hard negatives) to make, bank and match")
	classes := fs.String("classes", "", "comma-separated re-edit classes to measure (default: all)")
	seed := fs.Uint64("seed", 1, "seed of every random choice")
	workers := fs.Int("workers", 2, "videos made or matched at once")
	timeout := fs.Duration("timeout", 120*time.Second, "deadline of each call")
	var names []string
	for _, v := range robustness.VideoEdits() {
		names = append(names, v.Name)
	}
	usage := "usage: mediamatch-bench video --out DIR [flags]\n\n" +
		"Makes source videos, hard-negative distractors and re-edits of every source with ffmpeg, banks\n" +
		"the sources and distractors on an in-process server, matches every re-edit and distractor, and\n" +
		"prints recall per class, whether the matched ranges are within 2 s of the truth, and false\n" +
		"matches over all query x entry pairs, for the server and for plain PDQ with the vPDQ rule.\n" +
		"Classes: " + strings.Join(names, ", ")
	if !parseCommand(e, fs, args, usage, func() bool { return fs.NArg() == 0 && *out != "" && *sources > 0 && *distractors >= 0 }) {
		return exitUsage
	}
	fail := func(err error) int {
		fmt.Fprintf(e.stderr, "mediamatch-bench video: %v\n", err)
		return exitFail
	}
	var picked []string
	if *classes != "" {
		picked = strings.Split(*classes, ",")
	}
	edits, err := robustness.SelectVideoEdits(picked)
	if err != nil {
		return fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	conn, addr, closeServer, err := dialInProcess(nil)
	if err != nil {
		return fail(err)
	}
	defer closeServer()
	fmt.Fprintf(e.stderr, "in-process server on %s\n", addr)
	start := time.Now()
	rep, err := robustness.RunVideo(ctx, robustness.VideoOptions{
		Conn: conn, Server: "in-process", Dir: *out, Root: repoRoot(), Sources: *sources, Distractors: *distractors,
		Edits: edits, Seed: *seed, Workers: *workers, CallTimeout: *timeout, Log: e.stderr,
	})
	if err != nil {
		return fail(err)
	}
	if err := rep.WriteTable(e.stdout); err != nil {
		return fail(err)
	}
	fmt.Fprintf(e.stdout, "made videos in %.0f s, banked in %.0f s, matched in %.0f s; %.0f s in all\n",
		rep.MakeSeconds, rep.BankSeconds, rep.MatchSeconds, time.Since(start).Seconds())
	if *jsonOut != "" {
		if err := writeJSON(*jsonOut, rep); err != nil {
			return fail(err)
		}
	}
	return exitOK
}

// repoRoot is the repository this command was built from, for the photos
// in its testdata: the bench module sits in its bench folder.
func repoRoot() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "."
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}
