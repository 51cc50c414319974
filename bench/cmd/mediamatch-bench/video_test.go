package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediamatch/mediamatch/bench/robustness"
)

// TestBenchVideo runs the video benchmark at its smallest: one source
// (a title card, the shared intro, panned photos and synthetic motion),
// two hard-negative distractors and three classes of re-edit, on the
// in-process server, and checks the report: the server finds the mirror,
// which plain vPDQ cannot, every class in the table, no false match of
// either matcher, and a second run reuses the videos.
func TestBenchVideo(t *testing.T) {
	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "video.json")
	args := []string{"video", "--out", filepath.Join(dir, "videos"), "--json", jsonPath,
		"--sources", "1", "--distractors", "2", "--classes", "mirror,trim-start,speed-1.25"}
	code, out, stderr := runCLI(t, nil, args...)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	for _, row := range []string{"mirror", "trim-start", "speed-1.25", "distractor"} {
		if !strings.Contains(out, "\n"+row+" ") {
			t.Errorf("the table has no row for %s:\n%s", row, out)
		}
	}
	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep robustness.VideoReport
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Sources != 1 || rep.Distractors != 2 || len(rep.Queries) != 5 || len(rep.Classes) != 4 {
		t.Fatalf("report of %d sources, %d distractors, %d queries, %d rows", rep.Sources, rep.Distractors, len(rep.Queries), len(rep.Classes))
	}
	// Every query against both distractors and the source, less each
	// distractor's own copy.
	if rep.Pairs != 5*3-2 {
		t.Errorf("%d pairs", rep.Pairs)
	}
	for _, m := range robustness.VideoMatchers {
		if rep.FalseMatches[m] != 0 {
			t.Errorf("%s: %d false matches: %+v", m, rep.FalseMatches[m], rep.Examples)
		}
	}
	for _, q := range rep.Queries {
		if q.Error != "" {
			t.Errorf("%s: %s", q.Query, q.Error)
		}
		switch q.Class {
		case "mirror":
			if !q.Found[robustness.MatcherServer] || q.Found[robustness.MatcherVPDQ] {
				t.Errorf("mirror found by mediamatch %v, by vpdq %v", q.Found[robustness.MatcherServer], q.Found[robustness.MatcherVPDQ])
			}
		case "trim-start":
			if !q.Found[robustness.MatcherServer] || !q.Found[robustness.MatcherVPDQ] {
				t.Errorf("trim found by mediamatch %v, by vpdq %v", q.Found[robustness.MatcherServer], q.Found[robustness.MatcherVPDQ])
			}
			got, want := q.Ranges[robustness.MatcherServer], q.Truth
			if got == nil || want == nil || abs(got.Entry.Start-want.Entry.Start) > robustness.RangeTolerance || abs(got.Query.End-want.Query.End) > robustness.RangeTolerance {
				t.Errorf("trim ranges %+v, truth %+v", got, want)
			}
		}
	}

	// The second run makes nothing.
	code, out, stderr = runCLI(t, nil, args...)
	if code != exitOK || !strings.Contains(out, "made videos in 0 s") {
		t.Errorf("second run: exit %d\n%s\n%s", code, out, stderr)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
