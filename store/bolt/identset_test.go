package bolt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/storetest"
)

func testIdentity(i int) [32]byte {
	return sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i)))
}

// TestIdentSet checks the set of an import's identities across runs
// spilled to its file and the run in memory: every identity added is
// found, others are not, and the merge yields each once, in key order,
// with its entry id; the file is gone once the set is closed.
func TestIdentSet(t *testing.T) {
	dir := t.TempDir()
	s := newIdentSet(filepath.Join(dir, "store.db"), 1000)
	const n = 5500 // five runs spilled, one in memory
	for i := range n {
		if err := s.add(testIdentity(i), uint64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.runs) != 5 || len(s.buf) != 500 {
		t.Fatalf("%d runs spilled, %d in memory", len(s.runs), len(s.buf))
	}
	if names, _ := filepath.Glob(filepath.Join(dir, "*")); len(names) != 0 {
		t.Errorf("the runs' file is still linked: %v", names)
	}
	for _, i := range []int{0, 999, 1000, 2500, 4999, 5000, 5499} {
		if ok, err := s.has(testIdentity(i)); err != nil || !ok {
			t.Errorf("identity %d: has %v, %v", i, ok, err)
		}
	}
	for i := n; i < n+2000; i++ {
		if ok, err := s.has(testIdentity(i)); err != nil || ok {
			t.Fatalf("identity %d, never added: has %v, %v", i, ok, err)
		}
	}
	m := s.merge()
	seen := map[uint64]bool{}
	var last []byte
	for {
		r, ok := m.next()
		if !ok {
			break
		}
		if last != nil && bytes.Compare(last, r.identity[:]) >= 0 {
			t.Fatalf("merge out of order at %d records", len(seen))
		}
		last = bytes.Clone(r.identity[:])
		if r.id == 0 || r.id > n || seen[r.id] || r.identity != testIdentity(int(r.id-1)) {
			t.Fatalf("merged record %x names entry %d", r.identity[:4], r.id)
		}
		seen[r.id] = true
	}
	if m.err != nil || len(seen) != n {
		t.Fatalf("merged %d of %d records: %v", len(seen), n, m.err)
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
}

// TestImportRuns imports lists whose identities span several runs (runs
// of 1,000 here), so that a repeat is found in a run on file: a list that
// may repeat counts it unchanged, a native one is refused with the line
// of the repeat, and leaves nothing, not even the temporary file. Entries
// the bank held before are still found (unchanged, conflicts counted).
func TestImportRuns(t *testing.T) {
	s, path := openTemp(t)
	defer s.Close()
	s.importRun = 1000
	ctx := context.Background()
	if _, err := s.Commit(ctx, "t", store.CreateBank(store.Bank{Name: "b"})); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	local := storetest.RandomImage(r, "b")
	local.Labels = map[string]string{"k": "local"}
	if _, err := s.Commit(ctx, "t", store.AddEntry(local)); err != nil {
		t.Fatal(err)
	}
	const n = 4200
	list := make([]*store.Entry, n)
	for i := range list {
		list[i] = &store.Entry{Kind: store.KindImage, Hashes: []hashing.Hash{storetest.RandomHash(r, hashing.PDQ)}}
	}
	theirs := *local
	theirs.Labels = map[string]string{"k": "theirs"}
	run := func(allow bool, extra ...*store.Entry) (store.CommitResult, error) {
		all := append(append([]*store.Entry{}, list...), extra...)
		i := 0
		return s.Commit(ctx, "importer", store.ImportEntries(&store.Import{Bank: "b", AllowRepeats: allow, Next: func() (store.ImportItem, error) {
			if i == len(all) {
				return store.ImportItem{}, io.EOF
			}
			i++
			return store.ImportItem{Entry: all[i-1], Line: i}, nil
		}}))
	}
	rev0, n0, c0, _ := visible(t, s, "b")
	// A native list: the repeat of line 3 at line n+1 is refused.
	_, err := run(false, list[2])
	if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "line 4201") {
		t.Errorf("a native list repeating line 3 at line 4201: %v", err)
	}
	if rev, m, c, _ := visible(t, s, "b"); rev != rev0 || m != n0 || c != c0 {
		t.Errorf("after the refused list: revision %d, %d entries, %d changes", rev, m, c)
	}
	if names, _ := filepath.Glob(path + ".import-*"); len(names) != 0 {
		t.Errorf("temporary files left: %v", names)
	}
	res, err := run(true, list[2], list[1500], &theirs)
	if err != nil {
		t.Fatal(err)
	}
	got := *res.Results[0].Import
	if got.Imported != n || got.Unchanged != 3 || got.Conflicts != 1 {
		t.Errorf("imported %+v, want %d imported, 3 unchanged, 1 conflict", got, n)
	}
	if rev, m, c, count := visible(t, s, "b"); rev != rev0+n || m != n0+n || c != c0+n || count != int64(n0+n) {
		t.Errorf("after the import: revision %d, %d entries, %d changes, count %d", rev, m, c, count)
	}
	if err := s.Check(ctx); err != nil {
		t.Errorf("check after the import: %v", err)
	}
	// Again: every item is known now, through the identities bucket.
	res, err = run(true)
	if err != nil || res.Results[0].Import.Unchanged != n || res.Results[0].Import.Imported != 0 {
		t.Errorf("the same list again: %+v %v", res.Results, err)
	}
}

// TestImportLeftoverFiles checks that an import's temporary file a crash
// left beside the store (where it cannot be unlinked while open) is
// removed when the store is next opened for writing.
func TestImportLeftoverFiles(t *testing.T) {
	s, path := openTemp(t)
	s.Close()
	left := path + ".import-123"
	if err := os.WriteFile(left, []byte("runs"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(filepath.Dir(path), "other.db.import-1")
	if err := os.WriteFile(other, []byte("another store's"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(left); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the leftover file after open: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("another store's file: %v", err)
	}
}
