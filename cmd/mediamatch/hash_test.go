package main

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const exactDir = "../../testdata/pdq/exact"

// runCLI runs mediamatch in-process and returns its exit code and output.
func runCLI(t *testing.T, stdin []byte, environ map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &env{
		stdin:  bytes.NewReader(stdin),
		stdout: &out,
		stderr: &errOut,
		getenv: func(k string) string { return environ[k] },
	}
	code := run(e, args)
	return code, out.String(), errOut.String()
}

// parseLines decodes one JSON object per output line.
func parseLines(t *testing.T, out string) []hashLine {
	t.Helper()
	var lines []hashLine
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l hashLine
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("output line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	return lines
}

// reference returns the reference's row for an image in expected.tsv:
// pdq, quality, then the 7 other dihedral hashes.
func reference(t *testing.T, name string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(exactDir, "expected.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, "\t")
		if f[0] == name {
			return f[1:]
		}
	}
	t.Fatalf("%s not in expected.tsv", name)
	return nil
}

func TestHashCommand(t *testing.T) {
	const name = "bridge-mods-aaa-orig.png"
	path := filepath.Join(exactDir, name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ref := reference(t, name)
	code, out, stderr := runCLI(t, nil, nil, "hash", "--dihedral", path)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	lines := parseLines(t, out)
	if len(lines) != 1 {
		t.Fatalf("%d lines, want 1: %s", len(lines), out)
	}
	l := lines[0]
	if l.File != path || l.Media != "image" || l.Format != "png" || l.Width != 400 || l.Height != 251 || l.Error != "" {
		t.Errorf("line = %+v", l)
	}
	md := md5.Sum(data)
	sh := sha256.Sum256(data)
	wantTypes := []string{"pdq", "phash", "dhash", "md5", "sha256"}
	if len(l.Hashes) != len(wantTypes) {
		t.Fatalf("hashes = %+v", l.Hashes)
	}
	for i, h := range l.Hashes {
		if h.Type != wantTypes[i] {
			t.Errorf("hash %d type %s, want %s", i, h.Type, wantTypes[i])
		}
		if (h.Quality != nil) != (h.Type == "pdq") || (h.Dihedral != nil) != (h.Type == "pdq") {
			t.Errorf("%s: quality %v dihedral %v", h.Type, h.Quality, h.Dihedral)
		}
	}
	pdqHash := l.Hashes[0]
	if pdqHash.Hex != ref[0] || *pdqHash.Quality != 100 {
		t.Errorf("pdq = %s q%d, want %s q%s", pdqHash.Hex, *pdqHash.Quality, ref[0], ref[1])
	}
	wantDih := append([]string{ref[0]}, ref[2:]...)
	if strings.Join(pdqHash.Dihedral, ",") != strings.Join(wantDih, ",") {
		t.Errorf("dihedral = %v, want %v", pdqHash.Dihedral, wantDih)
	}
	if len(l.Hashes[1].Hex) != 16 || len(l.Hashes[2].Hex) != 16 {
		t.Errorf("phash/dhash hex = %q %q", l.Hashes[1].Hex, l.Hashes[2].Hex)
	}
	if l.Hashes[3].Hex != hex.EncodeToString(md[:]) || l.Hashes[4].Hex != hex.EncodeToString(sh[:]) {
		t.Errorf("digests = %s %s", l.Hashes[3].Hex, l.Hashes[4].Hex)
	}

	// Standard input gives the same hashes, and no dihedral list unless asked.
	code, out, _ = runCLI(t, data, nil, "hash", "-")
	if code != exitOK {
		t.Fatalf("stdin: exit %d", code)
	}
	in := parseLines(t, out)
	if len(in) != 1 || in[0].File != "-" || in[0].Hashes[0].Hex != ref[0] || in[0].Hashes[0].Dihedral != nil {
		t.Errorf("stdin line = %+v", in)
	}
	for i := range in[0].Hashes {
		if in[0].Hashes[i].Hex != l.Hashes[i].Hex {
			t.Errorf("stdin %s = %s, file gave %s", in[0].Hashes[i].Type, in[0].Hashes[i].Hex, l.Hashes[i].Hex)
		}
	}
}

func TestHashCommandFailuresDoNotStopTheRest(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.jpg")
	if err := os.WriteFile(text, []byte("this is not an image, whatever its name says\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(exactDir, "synth-plasma.png")
	missing := filepath.Join(dir, "missing.png")
	code, out, _ := runCLI(t, nil, nil, "hash", text, good, missing)
	if code != exitFail {
		t.Errorf("exit %d, want %d", code, exitFail)
	}
	lines := parseLines(t, out)
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), out)
	}
	if lines[0].File != text || !strings.Contains(lines[0].Error, "invalid media") || lines[0].Hashes != nil {
		t.Errorf("text file line = %+v", lines[0])
	}
	if lines[1].File != good || lines[1].Error != "" || lines[1].Hashes[0].Hex != reference(t, "synth-plasma.png")[0] {
		t.Errorf("good file line = %+v", lines[1])
	}
	if lines[2].File != missing || !strings.Contains(lines[2].Error, "no such file") {
		t.Errorf("missing file line = %+v", lines[2])
	}
}

func TestHashCommandLimitsAndEnvironment(t *testing.T) {
	path := filepath.Join(exactDir, "synth-plasma.png") // 320x200
	code, out, _ := runCLI(t, nil, nil, "hash", "--max-pixels", "1000", path)
	if code != exitFail {
		t.Fatalf("exit %d, want %d", code, exitFail)
	}
	if l := parseLines(t, out); !strings.Contains(l[0].Error, "limit") {
		t.Errorf("over the pixel budget: %+v", l[0])
	}
	code, out, _ = runCLI(t, nil, map[string]string{"MEDIAMATCH_MAX_BYTES": "100"}, "hash", path)
	if l := parseLines(t, out); code != exitFail || !strings.Contains(l[0].Error, "size limit") {
		t.Errorf("MEDIAMATCH_MAX_BYTES=100: exit %d, %+v", code, l)
	}
	code, out, _ = runCLI(t, nil, map[string]string{"MEDIAMATCH_DIHEDRAL": "true"}, "hash", path)
	if l := parseLines(t, out); code != exitOK || len(l[0].Hashes[0].Dihedral) != 8 {
		t.Errorf("MEDIAMATCH_DIHEDRAL=true: exit %d, %+v", code, l)
	}
	if code, _, stderr := runCLI(t, nil, map[string]string{"MEDIAMATCH_DIHEDRAL": "maybe"}, "hash", path); code != exitUsage || !strings.Contains(stderr, "MEDIAMATCH_DIHEDRAL") {
		t.Errorf("bad environment value: exit %d, stderr %q", code, stderr)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"hash"}, {"frobnicate"}, {"hash", "--no-such-flag", "x"}} {
		if code, _, stderr := runCLI(t, nil, nil, args...); code != exitUsage || stderr == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
}

// TestHashCommandPartial checks that a file cut short is hashed, with a
// decode report saying how much of it there is, and a whole one without.
func TestHashCommandPartial(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(exactDir, "bridge-mods-aaa-orig.png"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cut := filepath.Join(dir, "cut.png")
	if err := os.WriteFile(cut, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCLI(t, nil, nil, "hash", cut, filepath.Join(exactDir, "bridge-mods-aaa-orig.png"))
	lines := parseLines(t, out)
	if code != exitOK || len(lines) != 2 {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	d := lines[0].Decode
	if d == nil || !d.Partial || d.VisibleFraction <= 0 || d.VisibleFraction >= 1 || len(d.Notes) == 0 || len(lines[0].Hashes) == 0 {
		t.Errorf("cut file line = %+v, decode %+v", lines[0], d)
	}
	if lines[1].Decode != nil {
		t.Errorf("whole file has a decode report: %+v", lines[1].Decode)
	}
}

// TestHashTypes: --types computes and prints only the hashes asked for, in
// registry order, each the same as when every type is asked; an unknown
// type, or --dihedral without pdq, is a usage error.
func TestHashTypes(t *testing.T) {
	file := "../../testdata/pdq/tolerance/bridge-mods-aaa-orig.jpg"
	code, out, stderr := runCLI(t, nil, nil, "hash", file)
	if code != exitOK {
		t.Fatalf("hash: exit %d %s", code, stderr)
	}
	all := map[string]string{}
	for _, h := range parseLines(t, out)[0].Hashes {
		all[h.Type] = h.Hex
	}
	for _, tc := range []struct {
		types string
		want  []string
	}{
		{"pdq", []string{"pdq"}},
		{"sha256, pdq", []string{"pdq", "sha256"}},
		{"dhash,md5", []string{"dhash", "md5"}},
	} {
		code, out, stderr := runCLI(t, nil, nil, "hash", "--types", tc.types, file)
		if code != exitOK {
			t.Fatalf("--types %s: exit %d %s", tc.types, code, stderr)
		}
		var got []string
		for _, h := range parseLines(t, out)[0].Hashes {
			got = append(got, h.Type)
			if h.Hex != all[h.Type] {
				t.Errorf("--types %s: %s is %s, %s with every type", tc.types, h.Type, h.Hex, all[h.Type])
			}
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("--types %s printed %v, want %v", tc.types, got, tc.want)
		}
	}
	if code, _, stderr := runCLI(t, nil, nil, "hash", "--types", "pdq,nope", file); code != exitUsage || !strings.Contains(stderr, `"nope"`) {
		t.Errorf("an unknown type: exit %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, nil, nil, "hash", "--dihedral", "--types", "phash", file); code != exitUsage || !strings.Contains(stderr, "pdq") {
		t.Errorf("--dihedral without pdq: exit %d %s", code, stderr)
	}
}
