package bolt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/storetest"
)

// blockingList yields n entries, and after `pause` of them signals paused
// and waits for resume (or the end of ctx) before going on.
func blockingList(ctx context.Context, r *rand.Rand, n, pause int, paused, resume chan struct{}) func() (store.ImportItem, error) {
	i := 0
	return func() (store.ImportItem, error) {
		if i == pause {
			close(paused)
			select {
			case <-resume:
			case <-ctx.Done():
				return store.ImportItem{}, ctx.Err()
			}
		}
		if i == n {
			return store.ImportItem{}, io.EOF
		}
		i++
		return store.ImportItem{Entry: storetest.RandomImage(r, ""), Line: i}, nil
	}
}

// visible lists what readers see of a store: its revision, the bank's
// entries, every change and the bank's count.
func visible(t *testing.T, s *DB, bank string) (store.Revision, int, int, int64) {
	t.Helper()
	ctx := context.Background()
	revs, err := s.Revisions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := s.ListEntries(ctx, store.EntryQuery{Bank: bank}, func(*store.Entry) bool { n++; return true }); err != nil {
		t.Fatal(err)
	}
	all := 0
	if err := s.ListEntries(ctx, store.EntryQuery{}, func(*store.Entry) bool { all++; return true }); err != nil {
		t.Fatal(err)
	}
	changes := 0
	for after := store.Revision(0); ; {
		cs, err := s.Changes(ctx, after, 1000, store.ViewFull)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) == 0 {
			break
		}
		changes += len(cs)
		after = cs[len(cs)-1].Revision
	}
	b, err := s.Bank(ctx, bank)
	if err != nil {
		t.Fatal(err)
	}
	if all != n {
		t.Errorf("listing every bank shows %d entries, the bank %d", all, n)
	}
	return revs.Current, n, changes, b.Entries
}

// TestImportStaged checks that an import's chunks, committed while it
// runs, are invisible to every read until it is published; that a crash
// (a copy of the file taken mid-import) leaves nothing visible and the
// next open removes the leftovers; and that a cancelled import removes
// them at once.
func TestImportStaged(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(5, 5))
	if _, err := s.Commit(ctx, "t", store.CreateBank(store.Bank{Name: "b"})); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.Commit(ctx, "t", store.AddEntry(storetest.RandomImage(r, "b"))); err != nil {
			t.Fatal(err)
		}
	}
	rev0, n0, c0, count0 := visible(t, s, "b")
	watch := s.Watch(ctx, rev0, store.ViewBasic)

	total := 2*importChunk + 500
	runs := uint64(0)
	run := func(ictx context.Context, paused, resume chan struct{}) chan error {
		done := make(chan error, 1)
		// The list is made on the committer's goroutine: a source of its
		// own, and another for each import.
		runs++
		lr := rand.New(rand.NewPCG(6, runs))
		go func() {
			_, err := s.Commit(ictx, "importer", store.ImportEntries(&store.Import{Bank: "b",
				Next: blockingList(ictx, lr, total, importChunk+100, paused, resume)}))
			done <- err
		}()
		return done
	}

	// Mid-import: a chunk is committed, nothing shows.
	paused, resume := make(chan struct{}), make(chan struct{})
	done := run(ctx, paused, resume)
	<-paused
	if rev, n, c, count := visible(t, s, "b"); rev != rev0 || n != n0 || c != c0 || count != count0 {
		t.Errorf("mid-import reads show revision %d, %d entries, %d changes, count %d; want %d, %d, %d, %d", rev, n, c, count, rev0, n0, c0, count0)
	}
	if _, err := s.Entry(ctx, uint64(n0+1), store.ViewBasic); !errors.Is(err, store.ErrEntryNotFound) {
		t.Errorf("a staged entry read by id: %v", err)
	}
	snap, err := s.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sn := 0
	snap.Entries(store.ViewBasic, func(*store.Entry) error { sn++; return nil })
	snap.Close()
	if sn != n0 {
		t.Errorf("a snapshot mid-import shows %d entries, want %d", sn, n0)
	}
	// The file as a crash would leave it.
	crashed := filepath.Join(t.TempDir(), "crashed.db")
	f, err := os.Create(crashed)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Backup(ctx, f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ro, err := Open(crashed, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("a read-only open of a file with a staged import: %v", err)
	}
	if rev, n, _, _ := visible(t, ro, "b"); rev != rev0 || n != n0 {
		t.Errorf("read-only, the crashed file shows revision %d and %d entries", rev, n)
	}
	if err := ro.Check(ctx); err != nil {
		t.Errorf("check of the crashed file: %v", err)
	}
	ro.Close()
	select {
	case <-watch:
		t.Fatal("the watch delivered a change before the import was published")
	default:
	}
	close(resume)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rev1, n1, c1, count1 := visible(t, s, "b")
	if rev1 != rev0+store.Revision(total) || n1 != n0+total || c1 != c0+total || count1 != count0+int64(total) {
		t.Errorf("published: revision %d, %d entries, %d changes, count %d", rev1, n1, c1, count1)
	}
	// The feed shows the import as one commit, in order.
	var got []store.Change
	for len(got) < total {
		resp := <-watch
		if resp.Err != nil {
			t.Fatal(resp.Err)
		}
		got = append(got, resp.Changes...)
	}
	for i, c := range got {
		if c.Revision != rev0+store.Revision(i+1) || c.Kind != store.EntryAdded || c.EntryValue == nil || c.CommitEnd != (i == total-1) {
			t.Fatalf("watched change %d: %+v", i, c)
		}
	}
	if err := s.Check(ctx); err != nil {
		t.Errorf("check after the import: %v", err)
	}

	// The crashed copy, opened for writing, drops the leftovers and takes
	// new writes where the store left off.
	again, err := Open(crashed, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rev, n, c, _ := visible(t, again, "b"); rev != rev0 || n != n0 || c != c0 {
		t.Errorf("reopened crashed file: revision %d, %d entries, %d changes", rev, n, c)
	}
	if err := again.Check(ctx); err != nil {
		t.Errorf("check of the reopened crashed file: %v", err)
	}
	if res, err := again.Commit(ctx, "t", store.AddEntry(storetest.RandomImage(r, "b"))); err != nil || res.Revision != rev0+1 {
		t.Errorf("a commit after the crash: %+v %v", res, err)
	}
	again.Close()

	// A cancelled import leaves nothing.
	cctx, cancel := context.WithCancel(ctx)
	paused = make(chan struct{})
	done = run(cctx, paused, make(chan struct{}))
	<-paused
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled import: %v", err)
	}
	if rev, n, c, count := visible(t, s, "b"); rev != rev1 || n != n1 || c != c1 || count != count1 {
		t.Errorf("after a cancelled import: revision %d, %d entries, %d changes, count %d", rev, n, c, count)
	}
	if err := s.Check(ctx); err != nil {
		t.Errorf("check after a cancelled import: %v", err)
	}
	// Commits queued behind an import run after it.
	paused, resume = make(chan struct{}), make(chan struct{})
	done = run(ctx, paused, resume)
	<-paused
	queued := make(chan error, 1)
	go func() {
		_, err := s.Commit(ctx, "t", store.AddEntry(storetest.RandomImage(r, "b")))
		queued <- err
	}()
	select {
	case err := <-queued:
		t.Errorf("a commit ran during an import: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(resume)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-queued; err != nil {
		t.Fatal(err)
	}
	if rev, _, _, _ := visible(t, s, "b"); rev != rev1+store.Revision(total)+1 {
		t.Errorf("revision %d after an import and a commit, want %d", rev, rev1+store.Revision(total)+1)
	}
}

// TestImportReadAhead: the list is read and its entries checked ahead of
// the committer (preparer), many batches at a time; an entry refused or a
// reading error far into the list still fails the import at its own line,
// with nothing of the list visible, and a good list of the same length
// stores every entry in list order.
func TestImportReadAhead(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Commit(ctx, "t", store.CreateBank(store.Bank{Name: "b"})); err != nil {
		t.Fatal(err)
	}
	n := 3*prepAhead*prepBatch + 7
	list := func(seed uint64, fail func(i int) (store.ImportItem, error)) func() (store.ImportItem, error) {
		r := rand.New(rand.NewPCG(seed, 1))
		i := 0
		return func() (store.ImportItem, error) {
			if i == n {
				return store.ImportItem{}, io.EOF
			}
			i++
			if fail != nil {
				if it, err := fail(i); err != nil || it.Entry != nil {
					return it, err
				}
			}
			e := storetest.RandomImage(r, "")
			e.Note = fmt.Sprint(i)
			return store.ImportItem{Entry: e, Line: i}, nil
		}
	}
	rev0, _, c0, _ := visible(t, s, "b")
	bad := n - prepBatch - 3
	for _, tc := range []struct {
		name string
		fail func(i int) (store.ImportItem, error)
		want string
	}{
		{"refused entry", func(i int) (store.ImportItem, error) {
			if i != bad {
				return store.ImportItem{}, nil
			}
			e := storetest.RandomImage(rand.New(rand.NewPCG(9, 9)), "")
			e.Hashes[0].Bytes = e.Hashes[0].Bytes[:3]
			return store.ImportItem{Entry: e, Line: i}, nil
		}, fmt.Sprintf("line %d:", bad)},
		{"reading error", func(i int) (store.ImportItem, error) {
			if i != bad {
				return store.ImportItem{}, nil
			}
			return store.ImportItem{}, fmt.Errorf("line %d: torn", i)
		}, fmt.Sprintf("line %d: torn", bad)},
	} {
		_, err := s.Commit(ctx, "t", store.ImportEntries(&store.Import{Bank: "b", Next: list(1, tc.fail)}))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
		if rev, got, c, count := visible(t, s, "b"); rev != rev0 || got != 0 || c != c0 || count != 0 {
			t.Errorf("%s: visible after the failure: revision %d, %d entries, %d changes, count %d", tc.name, rev, got, c, count)
		}
	}
	res, err := s.Commit(ctx, "t", store.ImportEntries(&store.Import{Bank: "b", Next: list(1, nil)}))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Results[0].Import.Imported; got != int64(n) {
		t.Fatalf("imported %d of %d", got, n)
	}
	want := 1
	if err := s.ListEntries(ctx, store.EntryQuery{Bank: "b"}, func(e *store.Entry) bool {
		if e.Note != fmt.Sprint(want) {
			t.Errorf("entry %d holds line %s, want %d", e.ID, e.Note, want)
			return false
		}
		want++
		return true
	}); err != nil {
		t.Fatal(err)
	}
}
