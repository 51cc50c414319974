package main

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestInOrder: results come out in item order whatever order the jobs
// finish in, at most jobs run at once, and a stop starts nothing more
// than what was already handed out.
func TestInOrder(t *testing.T) {
	var running, most, started atomic.Int64
	work := func(i int) int {
		started.Add(1)
		if n := running.Add(1); n > most.Load() {
			most.Store(n)
		}
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		running.Add(-1)
		return i * i
	}
	var got []int
	inOrder(60, 4, work, func(i, r int) bool {
		if r != i*i {
			t.Errorf("item %d: result %d", i, r)
		}
		got = append(got, i)
		return true
	})
	if len(got) != 60 || !slices.IsSorted(got) || most.Load() > 4 {
		t.Fatalf("emitted %v, at most %d at once", got, most.Load())
	}
	started.Store(0)
	n := 0
	inOrder(1000, 3, work, func(i, _ int) bool { n++; return i < 9 })
	if n != 10 || started.Load() > 10+3+1 {
		t.Errorf("stopped after item 9: %d emitted, %d started", n, started.Load())
	}
	inOrder(0, 4, work, func(int, int) bool { t.Error("emit with no items"); return true })
}

// TestExpandInputs: a folder stands for its regular files below it in
// lexical order, hidden files and folders left out; files and '-' stay
// as given, in the order given.
func TestExpandInputs(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b/2.png", "b/1.png", "a.jpg", ".hidden.png", ".git/objects/x.png", "b/.cache/y.png", "c/d/e.gif"} {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(dir, "a.jpg"), filepath.Join(dir, "c", "link.jpg")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "b"), filepath.Join(dir, "c", "dirlink")); err != nil {
		t.Fatal(err)
	}
	got, err := expandInputs([]string{"one.png", dir, "-", filepath.Join(dir, ".hidden.png")})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	want = append(want, "one.png")
	for _, name := range []string{"a.jpg", "b/1.png", "b/2.png", "c/d/e.gif", "c/link.jpg"} {
		want = append(want, filepath.Join(dir, name))
	}
	want = append(want, "-", filepath.Join(dir, ".hidden.png"))
	if !slices.Equal(got, want) {
		t.Errorf("expanded to\n%v\nwant\n%v", got, want)
	}
}

// TestFolderInputs: add, match and hash take a folder, work on its files
// several at once, and print one line a file in the folder's order, the
// same as one at a time; on request a progress line goes to standard
// error and is erased at the end.
func TestFolderInputs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	names, err := filepath.Glob(filepath.Join(exactDir, "*.png"))
	if err != nil || len(names) < 8 {
		t.Fatalf("%d reference images: %v", len(names), err)
	}
	var files []string
	for i, src := range names[:8] {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		sub := []string{"a", "b"}[i%2]
		dst := filepath.Join(dir, sub, filepath.Base(src))
		os.MkdirAll(filepath.Dir(dst), 0o755)
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, dst)
	}
	slices.Sort(files)

	_, one, _ := runCLI(t, nil, nil, "hash", "--jobs", "1", dir)
	code, many, stderr := runCLI(t, nil, map[string]string{"MEDIAMATCH_PROGRESS": "1"}, "hash", "--jobs", "3", dir)
	if code != exitOK || one != many {
		t.Fatalf("hash --jobs 3: exit %d %s\n%s\nwith --jobs 1:\n%s", code, stderr, many, one)
	}
	if !strings.Contains(stderr, "of 8 files") || !strings.HasSuffix(stderr, "\r\x1b[K") {
		t.Errorf("progress on standard error: %q", stderr)
	}
	for i, l := range parseLines(t, many) {
		if l.File != files[i] || l.Error != "" {
			t.Errorf("hash line %d: %s %s, want %s", i, l.File, l.Error, files[i])
		}
	}

	bin := buildBinary(t)
	srv := startServe(t, bin, filepath.Join(t.TempDir(), "mediamatch.db"))
	environ := map[string]string{"MEDIAMATCH_SERVER": srv.addr}
	if code, _, stderr := runCLI(t, nil, environ, "bank", "create", "tvec"); code != exitOK {
		t.Fatal(stderr)
	}
	code, out, stderr := runCLI(t, nil, environ, "add", "--bank", "tvec", "--jobs", "3", dir)
	if code != exitOK {
		t.Fatalf("add: exit %d %s %s", code, out, stderr)
	}
	entryOf := map[string]string{}
	for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var l addLine
		if err := json.Unmarshal([]byte(line), &l); err != nil || l.File != files[i] || l.Entry == "" {
			t.Fatalf("add line %d: %q, %v; want %s", i, line, err, files[i])
		}
		entryOf[l.File] = l.Entry
	}
	if len(entryOf) != len(files) {
		t.Fatalf("%d entries for %d files", len(entryOf), len(files))
	}
	code, out, stderr = runCLI(t, nil, environ, "match", "--jobs", "4", dir)
	if code != exitOK {
		t.Fatalf("match: exit %d %s", code, stderr)
	}
	for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var l matchLine
		if err := json.Unmarshal([]byte(line), &l); err != nil || l.File != files[i] {
			t.Fatalf("match line %d: %q, %v; want %s", i, line, err, files[i])
		}
		if !slices.ContainsFunc(l.Matches, func(m matchJSON) bool { return m.Entry == entryOf[l.File] }) {
			t.Errorf("%s does not match its own entry %s: %+v", l.File, entryOf[l.File], l.Matches)
		}
	}
}
