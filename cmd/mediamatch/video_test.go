package main

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mediamatch/mediamatch/internal/testvideo"
	"github.com/mediamatch/mediamatch/vpdq"
)

// TestVideoCommands follows a video through the CLI: hash (JSON and vPDQ
// lines), add, match with time ranges, export in both vPDQ formats, and
// import of partners' vPDQ files.
func TestVideoCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	testvideo.Require(t)
	dir := t.TempDir()
	known := filepath.Join(dir, "known.mp4")
	testvideo.Slideshow(t, known, testvideo.Photos(testvideo.Known, 4))
	trimmed := filepath.Join(dir, "trimmed.mp4")
	testvideo.FFmpeg(t, "-ss", "3", "-i", known, "-t", "6", "-c:v", "libx264", "-crf", "28", trimmed)

	// hash: the video's kind, length, digests and frames.
	code, out, stderr := runCLI(t, nil, nil, "hash", known)
	if code != exitOK {
		t.Fatalf("hash: exit %d %s", code, stderr)
	}
	lines := parseLines(t, out)
	if len(lines) != 1 {
		t.Fatalf("hash printed %q", out)
	}
	h := lines[0]
	data, _ := os.ReadFile(known)
	sum := md5.Sum(data)
	if h.Media != "video" || h.Format != "mp4" || h.Width != 640 || h.Height != 360 || math.Abs(h.Duration-12) > 0.1 {
		t.Errorf("hash line %+v", h)
	}
	if len(h.Hashes) != 2 || h.Hashes[0].Type != "md5" || h.Hashes[0].Hex != hex.EncodeToString(sum[:]) || h.Hashes[1].Type != "sha256" {
		t.Errorf("digests %+v", h.Hashes)
	}
	if len(h.Frames) < 12 || h.Frames[0].TS != 0 || h.Frames[1].TS != 1 || len(h.Frames[0].PDQ) != 64 || h.Frames[0].Quality < 50 {
		t.Errorf("frames %+v", h.Frames)
	}
	if !strings.Contains(out, `"frames":[{"ts":0,"pdq":"`) {
		t.Errorf("frames not printed as documented: %s", out[:min(len(out), 300)])
	}

	// hash --vpdq: the same frames as vPDQ lines.
	code, vlines, stderr := runCLI(t, nil, nil, "hash", "--vpdq", known)
	if code != exitOK {
		t.Fatalf("hash --vpdq: exit %d %s", code, stderr)
	}
	frames, err := vpdq.Parse([]byte(vlines))
	if err != nil || len(frames) != len(h.Frames) {
		t.Fatalf("hash --vpdq output does not parse as vPDQ (%v):\n%s", err, vlines)
	}
	for i, f := range frames {
		if f.Index != i || f.Hash.String() != h.Frames[i].PDQ || f.Quality != h.Frames[i].Quality || math.Abs(f.Seconds-h.Frames[i].TS) > 0.0005 {
			t.Errorf("vPDQ frame %d = %+v, JSON frame %+v", i, f, h.Frames[i])
		}
	}

	bin := buildBinary(t)
	srv := startServe(t, bin, filepath.Join(dir, "mediamatch.db"))
	defer srv.stop(t)
	environ := map[string]string{"MEDIAMATCH_SERVER": srv.addr}
	for _, bank := range []string{"videos", "partner"} {
		if code, _, stderr := runCLI(t, nil, environ, "bank", "create", bank); code != exitOK {
			t.Fatalf("bank create: %s", stderr)
		}
	}
	code, out, stderr = runCLI(t, nil, environ, "add", "--bank", "videos", known)
	var added addLine
	if err := json.Unmarshal([]byte(out), &added); err != nil || code != exitOK {
		t.Fatalf("add video: exit %d %s %s", code, out, stderr)
	}

	// match prints the percentages and where in each video.
	code, out, stderr = runCLI(t, nil, environ, "match", trimmed)
	var m matchLine
	if err := json.Unmarshal([]byte(out), &m); err != nil || code != exitOK || len(m.Matches) != 1 {
		t.Fatalf("match trimmed: exit %d %s %s", code, out, stderr)
	}
	if m.Matches[0].Entry != added.Entry || m.Matches[0].EntryKind != "video" || m.Matches[0].Tier != "match" || len(m.Matches[0].Evidence) == 0 {
		t.Fatalf("match %s", out)
	}
	// The vPDQ rule's evidence, beside the segment's (which carries no
	// percentages).
	var got evidenceJSON
	for _, ev := range m.Matches[0].Evidence {
		if ev.Method == "vpdq" {
			got = ev
		}
	}
	if got.Method != "vpdq" || got.QueryPercent == nil || *got.QueryPercent < 80 ||
		got.EntryPercent == nil || *got.EntryPercent > 75 || len(got.QueryRanges) != 1 || len(got.EntryRanges) != 1 {
		t.Fatalf("match %s", out)
	}
	if r := got.EntryRanges[0]; math.Abs(r[0]-3) > 1.1 || math.Abs(r[1]-9) > 1.1 {
		t.Errorf("entry range %v, want about [3, 9]", r)
	}
	if !strings.Contains(out, `"query_ranges":[[`) || !strings.Contains(out, `"entry_match_percent":`) {
		t.Errorf("match output lacks ranges or percentages: %s", out)
	}

	// get --format vpdq exports what hash --vpdq printed, exactly.
	code, exported, stderr := runCLI(t, nil, environ, "get", "--format", "vpdq", added.Entry)
	if code != exitOK || exported != vlines {
		t.Errorf("get --format vpdq: exit %d %s\n%s\nwant\n%s", code, stderr, exported, vlines)
	}
	code, exportedJSON, stderr := runCLI(t, nil, environ, "get", "--format", "vpdq-json", added.Entry)
	fromJSON, err := vpdq.ParseJSON([]byte(exportedJSON))
	if code != exitOK || err != nil || !reflect.DeepEqual(fromJSON, frames) {
		t.Errorf("get --format vpdq-json: exit %d %s %v\n%s", code, stderr, err, exportedJSON)
	}

	// Our export loads back as a partner's list would, and matches.
	exportFile := filepath.Join(dir, "export.json")
	os.WriteFile(exportFile, []byte(exportedJSON), 0o644)
	code, out, stderr = runCLI(t, nil, environ, "match", "--vpdq", exportFile)
	if code != exitOK || !strings.Contains(out, `"entry":"`+added.Entry+`"`) || !strings.Contains(out, `"query_match_percent":100`) {
		t.Errorf("match --vpdq of our export: exit %d %s %s", code, out, stderr)
	}

	// Partners' files in both formats import as video entries.
	for _, sample := range []string{"clip-reference.txt", "clip-threatexchange.json"} {
		path := filepath.Join("..", "..", "testdata", "vpdq", sample)
		want, err := vpdq.Parse(mustRead(t, path))
		if err != nil {
			t.Fatal(err)
		}
		code, out, stderr := runCLI(t, nil, environ, "add", "--bank", "partner", "--vpdq", path)
		var a addLine
		if err := json.Unmarshal([]byte(out), &a); err != nil || code != exitOK {
			t.Fatalf("add --vpdq %s: exit %d %s %s", sample, code, out, stderr)
		}
		code, back, _ := runCLI(t, nil, environ, "get", "--format", "vpdq", a.Entry)
		gotFrames, err := vpdq.Parse([]byte(back))
		if code != exitOK || err != nil || len(gotFrames) != len(want) {
			t.Fatalf("export of %s: %v\n%s", sample, err, back)
		}
		for i := range want {
			if gotFrames[i].Hash != want[i].Hash || gotFrames[i].Quality != want[i].Quality || math.Abs(gotFrames[i].Seconds-want[i].Seconds) > 0.0005 {
				t.Errorf("%s frame %d: exported %+v, imported %+v", sample, i, gotFrames[i], want[i])
			}
		}
		code, out, _ = runCLI(t, nil, environ, "match", "--vpdq", path)
		if code != exitOK || !strings.Contains(out, `"entry":"`+a.Entry+`"`) {
			t.Errorf("match --vpdq %s: %s", sample, out)
		}
	}
	// A malformed hash list is refused with the line at fault.
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte("0,100,d23f,0.000\n"), 0o644)
	code, out, _ = runCLI(t, nil, environ, "add", "--bank", "partner", "--vpdq", bad)
	if code != exitFail || !strings.Contains(out, "line 1") {
		t.Errorf("add --vpdq of a bad file: exit %d %s", code, out)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
