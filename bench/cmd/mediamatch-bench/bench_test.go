package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mediamatch/mediamatch/bench/robustness"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
)

const (
	toleranceDir = "../../../testdata/pdq/tolerance"
	exactDir     = "../../../testdata/pdq/exact"
)

// benchOriginals are four photographs of different subjects, each of PDQ
// quality 100 and each within PDQ's threshold after JPEG at quality 10.
// (Not every photograph is: labelme-subset-q0122 moves 38 bits at quality
// 30, which the benchmark on a real corpus shows as recall below 1.)
var benchOriginals = []string{
	"bridge-mods-aaa-orig.jpg",
	"labelme-subset-q0291.jpg",
	"labelme-subset-q1050.jpg",
	"labelme-subset-q2821.jpg",
}

// benchDistractors are six other pictures, none of them an original's
// subject.
var benchDistractors = []string{
	"labelme-subset-q0122.png",
	"labelme-subset-q0746.png",
	"reg-test-input-pen-and-coaster.png",
	"synth-checker.png",
	"synth-gradient.png",
	"synth-plasma.png",
}

// copiedOriginal is put among the distractors unchanged: every matcher
// must report it as a false match.
const copiedOriginal = "labelme-subset-q0291.jpg"

// benchCorpus lays out the tiny corpus and returns its two folders.
func benchCorpus(t *testing.T) (originals, distractors string) {
	t.Helper()
	dir := t.TempDir()
	originals, distractors = filepath.Join(dir, "originals"), filepath.Join(dir, "distractors")
	copyFile := func(src, dst string) {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range benchOriginals {
		copyFile(filepath.Join(toleranceDir, f), filepath.Join(originals, f))
	}
	for _, f := range benchDistractors {
		copyFile(filepath.Join(exactDir, f), filepath.Join(distractors, f))
	}
	copyFile(filepath.Join(toleranceDir, copiedOriginal), filepath.Join(distractors, "copy-of-"+copiedOriginal))
	return originals, distractors
}

// TestBenchRobustness runs the whole benchmark in-process on the tiny
// corpus: a real server on loopback over a fresh bbolt file.
func TestBenchRobustness(t *testing.T) {
	originals, distractors := benchCorpus(t)
	jsonPath := filepath.Join(t.TempDir(), "report.json")
	// --max-side 320 keeps the run quick under the race detector, and below
	// 512 PDQ filters every image at full resolution (it samples larger ones
	// down to 512 by nearest neighbour first).
	code, out, stderr := runCLI(t, nil, "robustness",
		"--originals", originals, "--distractors", distractors,
		"--json", jsonPath, "--seed", "3", "--max-side", "320")
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}

	transforms := robustness.Transforms(nil)
	lines := strings.Split(out, "\n")
	for _, tr := range transforms {
		found := false
		for _, l := range lines {
			if f := strings.Fields(l); len(f) >= 5 && f[0] == tr.Name && f[1] == string(tr.Group) {
				found = true
			}
		}
		if !found {
			t.Errorf("the table has no row for %s:\n%s", tr.Name, out)
		}
	}
	for _, want := range []string{"false matches", "per pair", "per distractor", "mean photometric", "mean geometric", "Match latency"} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}

	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep robustness.Report
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("report JSON: %v\n%s", err, data)
	}
	if rep.Seed != 3 || rep.Server != "in-process" || rep.Corpus.Originals != 4 || rep.Corpus.Distractors != 7 || rep.Corpus.MaxSide != 320 {
		t.Errorf("report header: seed %d, server %q, corpus %+v", rep.Seed, rep.Server, rep.Corpus)
	}
	if len(rep.Transforms) != len(transforms) {
		t.Fatalf("%d transform rows, want %d", len(rep.Transforms), len(transforms))
	}
	rows := map[string]robustness.TransformResult{}
	for i, row := range rep.Transforms {
		if row.Name != transforms[i].Name || row.Queries != 4 || row.Errors != 0 {
			t.Errorf("row %d: %s, %d queries, %d errors (%s); want %s, 4, 0", i, row.Name, row.Queries, row.Errors, row.FirstError, transforms[i].Name)
		}
		for _, m := range robustness.Matchers {
			if r := row.Recall[m]; r < 0 || r > 1 || r != float64(row.Hits[m])/4 {
				t.Errorf("%s %s: recall %v with %d hits", row.Name, m, r, row.Hits[m])
			}
		}
		rows[row.Name] = row
	}
	for _, m := range robustness.Matchers {
		if r := rows["original"].Recall[m]; r != 1 {
			t.Errorf("%s finds %.2f of the unchanged originals", m, r)
		}
	}
	for _, name := range []string{"jpeg-q30", "jpeg-q10", "resize-50"} {
		if r := rows[name].Recall[robustness.MatcherPDQ]; r != 1 {
			t.Errorf("PDQ recall on %s is %.2f, want 1 (median distance %v)", name, r, rows[name].MedianDistance)
		}
	}
	// A quarter turn moves a whole-image PDQ hash by about half its bits.
	if d := rows["rotate-90"].MedianDistance[robustness.MatcherPDQ]; d < 90 {
		t.Errorf("rotate-90 median PDQ distance %v, want far (about 128)", d)
	}
	if len(rep.Groups) != 2 || rep.Groups[0].Group != robustness.Photometric || rep.Groups[0].Transforms != 10 {
		t.Errorf("groups: %+v", rep.Groups)
	}

	// The copied original is a false match for every matcher; for the
	// plain hashes it is the only one on this set.
	for _, m := range robustness.Matchers {
		fm := rep.FalseMatches[m]
		if fm.Pairs != 28 || fm.Queries != 7 || fm.MatchedQueries < 1 || fm.MatchedPairs < 1 {
			t.Errorf("%s false matches: %+v, want 28 pairs, 7 queries, at least one match", m, fm)
		}
		found := false
		for _, ex := range rep.FalseMatchExamples {
			if ex.Matcher == m && filepath.Base(ex.Distractor) == "copy-of-"+copiedOriginal && filepath.Base(ex.Original) == copiedOriginal && ex.Distance == 0 {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: the copied original is not reported as a false match: %+v", m, rep.FalseMatchExamples)
		}
	}
	for _, m := range []string{robustness.MatcherPDQ, robustness.MatcherPHash} {
		if fm := rep.FalseMatches[m]; fm.MatchedPairs != 1 || fm.PairRate != 1.0/28 || fm.QueryRate != 1.0/7 {
			t.Errorf("%s false matches: %+v, want only the copy (1/28 pairs, 1/7 queries)", m, fm)
		}
	}
	if !strings.Contains(out, "copy-of-"+copiedOriginal) {
		t.Errorf("the table does not name the false match:\n%s", out)
	}

	if rep.Latency.Calls != 4*len(transforms)+7 || rep.Latency.Median <= 0 || rep.Latency.Mean <= 0 {
		t.Errorf("latency: %+v, want %d calls", rep.Latency, 4*len(transforms)+7)
	}
	if d := rep.Durations; d.Total <= 0 || d.Variants <= 0 || d.Total < d.Variants {
		t.Errorf("durations: %+v", d)
	}
}

// TestBenchRobustnessAgainstAServer runs against a server given by
// address, and checks that the run removes its bank afterwards.
func TestBenchRobustnessAgainstAServer(t *testing.T) {
	originals, distractors := benchCorpus(t)
	addr, stop, err := startBenchServer(filepath.Join(t.TempDir(), "shared.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	jsonPath := filepath.Join(t.TempDir(), "report.json")
	code, out, stderr := runCLI(t, nil, "robustness", "--server", addr,
		"--originals", originals, "--distractors", distractors, "--json", jsonPath,
		"--limit-originals", "1", "--limit-distractors", "2", "--max-side", "160", "--workers", "2")
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	var rep robustness.Report
	data, _ := os.ReadFile(jsonPath)
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Server != addr || rep.Corpus.Originals != 1 || rep.Corpus.Distractors != 2 || rep.Workers != 2 || rep.Bank == "" {
		t.Errorf("report: server %q, corpus %+v, workers %d, bank %q", rep.Server, rep.Corpus, rep.Workers, rep.Bank)
	}

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	banks, err := pb.NewBankServiceClient(conn).ListBanks(ctx, &pb.ListBanksRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(banks.GetBanks()) != 0 {
		t.Errorf("banks left on the server: %v", banks.GetBanks())
	}
}

func TestBenchUsage(t *testing.T) {
	originals, _ := benchCorpus(t)
	for _, args := range [][]string{
		{},
		{"nonsense"},
		{"robustness"},
		{"robustness", "--originals", originals},
		{"corpus", "--out", t.TempDir()},
		{"video"},
		{"video", "--out", t.TempDir(), "--sources", "0"},
	} {
		if code, _, _ := runCLI(t, nil, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
	if code, _, stderr := runCLI(t, nil, "video", "--out", t.TempDir(), "--classes", "mirror,nonsense"); code != exitFail || !strings.Contains(stderr, `unknown video re-edit "nonsense"`) {
		t.Errorf("unknown class: exit %d, %s", code, stderr)
	}
	empty := t.TempDir()
	if code, _, stderr := runCLI(t, nil, "robustness", "--originals", empty, "--distractors", empty); code != exitFail || !strings.Contains(stderr, "no PNG or JPEG") {
		t.Errorf("empty originals: exit %d, %s", code, stderr)
	}
}

// TestBenchCorpus runs the corpus builder that scripts/fetch-corpus runs,
// on two folders standing in for extracted packages.
func TestBenchCorpus(t *testing.T) {
	originals, distractors := benchCorpus(t)
	out := filepath.Join(t.TempDir(), "corpus")
	code, stdout, stderr := runCLI(t, nil, "corpus",
		"--originals-from", "photos="+originals, "--distractors-from", distractors,
		"--out", out, "--originals", "3", "--distractors", "4", "--seed", "2")
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	// The copy of an original among the distractors is dropped.
	for _, want := range []string{"photos ", "distractors ", "1 exact duplicate", "wrote 3 originals", "and 4 distractors"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	for split, n := range map[string]int{"originals": 3, "distractors": 4} {
		files, err := robustness.ListImages(filepath.Join(out, split))
		if err != nil || len(files) != n {
			t.Errorf("%s: %d files (%v), want %d", split, len(files), err, n)
		}
		for _, f := range files {
			if strings.Contains(f, "copy-of") {
				t.Errorf("%s holds the copy %s", split, f)
			}
		}
	}
	// Asking for more than there is fails, after writing what there is.
	if code, _, stderr := runCLI(t, nil, "corpus", "--originals-from", originals, "--distractors-from", distractors, "--out", out); code != exitFail || !strings.Contains(stderr, "fewer images than asked for") {
		t.Errorf("too few images: exit %d, %s", code, stderr)
	}
}

// runCLI runs the command with args and returns its exit code, standard
// output and standard error.
func runCLI(t *testing.T, environ map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &env{stdout: &out, stderr: &errOut, getenv: func(k string) string { return environ[k] }}
	code := runBench(e, args)
	return code, out.String(), errOut.String()
}
