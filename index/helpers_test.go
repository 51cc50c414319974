package index

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/bolt"
)

// testIndex is an index over a real bbolt store, with the calls the tests
// make: writes go to the store and are awaited through the feed.
type testIndex struct {
	*Index
	st   *bolt.DB
	path string
}

func openIndexAt(t testing.TB, path string, opts Options) *testIndex {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	st, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	x, err := New(context.Background(), st, opts)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	ti := &testIndex{Index: x, st: st, path: path}
	t.Cleanup(func() { ti.Close() })
	return ti
}

// openTestIndex opens an index on a new store holding one bank, "b".
func openTestIndex(t testing.TB) (*testIndex, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mediamatch.db")
	x := openIndexAt(t, path, Options{})
	x.commit(t, store.CreateBank(store.Bank{Name: "b"}))
	return x, path
}

// Close closes the index and its store.
func (x *testIndex) Close() error {
	x.Index.Close()
	return x.st.Close()
}

// reopen closes the index and its store and opens both again.
func (x *testIndex) reopen(t testing.TB) *testIndex {
	t.Helper()
	x.Close()
	return openIndexAt(t, x.path, x.opts)
}

func (x *testIndex) commit(t testing.TB, ops ...store.Op) store.CommitResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := x.st.Commit(ctx, "test", ops...)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.WaitFor(ctx, res.Revision); err != nil {
		t.Fatal(err)
	}
	return res
}

func addOne(t testing.TB, x *testIndex, e *store.Entry) uint64 {
	t.Helper()
	return x.commit(t, store.AddEntry(e)).Results[0].Entry.ID
}

func (x *testIndex) remove(t testing.TB, id uint64) {
	t.Helper()
	x.commit(t, store.RemoveEntry(id))
}

// finds reports whether the current view shows entry id and finds it by
// its hash h.
func (x *testIndex) finds(h hashing.Hash, id uint64) bool {
	v := x.View()
	if _, ok := v.Entry(id); !ok {
		return false
	}
	found := false
	v.Search(h.Type, HashOf(h.Bytes), 0, func(r Ref, _ int) bool {
		found = found || r.Entry == id
		return !found
	})
	return found
}
