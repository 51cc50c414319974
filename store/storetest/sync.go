package storetest

import (
	"errors"
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/mediamatch/mediamatch/store"
)

// syncSource is the source the sync tests name.
const syncSource = "a.example:7077/banks/x"

// sourced returns e as a sync batch carries it: its id and revision at
// the source as provenance.
func sourced(e *store.Entry, id string, rev store.Revision) *store.Entry {
	c := *e
	c.Provenance = store.Provenance{SourceID: id, ListRevision: rev}
	return &c
}

func syncBatch(t *testing.T, s store.Store, b store.SyncBatch) (store.SyncResult, error) {
	t.Helper()
	b.Bank, b.Source, b.Partner = "in", syncSource, "ngo"
	res, err := s.Commit(ctx(t), "syncer", store.SyncEntries(&b))
	if err != nil {
		return store.SyncResult{}, err
	}
	return *res.Results[0].Sync, nil
}

// bySource returns the bank's entries synced from syncSource, by their
// source id, and counts the others.
func bySource(t *testing.T, s store.Store) (map[string]*store.Entry, int) {
	t.Helper()
	out, local := map[string]*store.Entry{}, 0
	if err := s.ListEntries(ctx(t), store.EntryQuery{Bank: "in", View: store.ViewBasic}, func(e *store.Entry) bool {
		if e.Provenance.List == syncSource {
			out[e.Provenance.SourceID] = e
		} else {
			local++
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return out, local
}

func cursor(t *testing.T, s store.Store) store.Revision {
	t.Helper()
	b, err := s.Bank(ctx(t), "in")
	if err != nil {
		t.Fatal(err)
	}
	return b.Synced[syncSource]
}

func testSync(t *testing.T, b Backend) {
	s := open(t, b)
	r := rand.New(rand.NewPCG(31, 31))
	commit(t, s, store.CreateBank(store.Bank{Name: "in"}))
	local := add(t, s, RandomImage(r, "in"))
	e1, e2 := RandomImage(r, "x"), RandomVideo(r, "x", 20)
	theirs := *local
	theirs.Labels = map[string]string{"group": "theirs"}

	// The first batch: two entries added with provenance, the local one
	// kept as it is.
	res, err := syncBatch(t, s, store.SyncBatch{From: 0, To: 10, Entries: []*store.Entry{sourced(e1, "1", 3), sourced(e2, "2", 4), sourced(&theirs, "3", 5)}})
	if err != nil {
		t.Fatal(err)
	}
	if want := (store.SyncResult{Added: 2, Conflicts: 1}); res != want {
		t.Errorf("first batch: %+v, want %+v", res, want)
	}
	if got := cursor(t, s); got != 10 {
		t.Errorf("cursor %d after the first batch, want 10", got)
	}
	got, n := bySource(t, s)
	if n != 1 || len(got) != 2 || got["1"] == nil || got["2"] == nil {
		t.Fatalf("after the first batch: %v and %d local", got, n)
	}
	if p := got["2"].Provenance; p.Partner != "ngo" || p.ListRevision != 4 || p.Imported.IsZero() {
		t.Errorf("provenance %+v", p)
	}
	if l, _ := s.Entry(ctx(t), local.ID, store.ViewBasic); !maps.Equal(l.Labels, local.Labels) {
		t.Errorf("the local entry's labels became %v", l.Labels)
	}

	// The same batch again, and one from a stale cursor: refused, nothing
	// written.
	rev := revision(t, s)
	for _, from := range []store.Revision{0, 9, 11} {
		if _, err := syncBatch(t, s, store.SyncBatch{From: from, To: 12, Entries: []*store.Entry{sourced(RandomImage(r, "x"), "9", 11)}}); !errors.Is(err, store.ErrSyncConflict) {
			t.Errorf("a batch from %d with the cursor at 10: %v, want ErrSyncConflict", from, err)
		}
	}
	if revision(t, s) != rev || cursor(t, s) != 10 {
		t.Error("a refused batch wrote something")
	}

	// Updates, a removal and a re-add of the same item under a new source
	// id, and a removal of the local entry (a conflict), in one commit:
	// the removal comes before the re-add in the feed.
	upd := sourced(e1, "1", 12)
	upd.Labels, upd.Note = map[string]string{"v": "2"}, "changed"
	res, err = syncBatch(t, s, store.SyncBatch{From: 10, To: 20, Removals: [][32]byte{store.Identity(e2), store.Identity(local), store.Identity(RandomImage(r, "x"))},
		Entries: []*store.Entry{upd, sourced(e2, "5", 14)}})
	if err != nil {
		t.Fatal(err)
	}
	if want := (store.SyncResult{Added: 1, Updated: 1, Removed: 1, Unchanged: 1, Conflicts: 1}); res != want {
		t.Errorf("second batch: %+v, want %+v", res, want)
	}
	changes := allChanges(t, s, rev, store.ViewNone)
	var kinds []store.ChangeKind
	for _, c := range changes {
		kinds = append(kinds, c.Kind)
	}
	if want := []store.ChangeKind{store.EntryRemoved, store.EntryUpdated, store.EntryAdded}; !equalKinds(kinds, want) {
		t.Errorf("the second batch's changes: %v, want %v", kinds, want)
	}
	got, _ = bySource(t, s)
	if len(got) != 2 || got["5"] == nil || got["1"].Note != "changed" || got["1"].Labels["v"] != "2" {
		t.Errorf("after the second batch: %+v", got)
	}

	// Unchanged values write nothing but the cursor.
	rev = revision(t, s)
	if res, err = syncBatch(t, s, store.SyncBatch{From: 20, To: 25, Entries: []*store.Entry{upd}}); err != nil || res != (store.SyncResult{Unchanged: 1}) {
		t.Errorf("an unchanged entry: %+v, %v", res, err)
	}
	if revision(t, s) != rev || cursor(t, s) != 25 {
		t.Errorf("an unchanged entry took a revision, or the cursor is %d", cursor(t, s))
	}

	// A snapshot's end: the stale copy of an item the source now holds
	// under another id is replaced, an entry it no longer holds pruned,
	// the local entry kept.
	got, _ = bySource(t, s)
	res, err = syncBatch(t, s, store.SyncBatch{From: 25, To: 40, Prune: []uint64{got["1"].ID, local.ID, 1 << 40},
		Entries: []*store.Entry{sourced(e2, "7", 33)}})
	if err != nil {
		t.Fatal(err)
	}
	if want := (store.SyncResult{Added: 1, Removed: 2, Unchanged: 1, Conflicts: 1}); res != want {
		t.Errorf("snapshot batch: %+v, want %+v", res, want)
	}
	got, n = bySource(t, s)
	if len(got) != 1 || got["7"] == nil || n != 1 {
		t.Errorf("after the snapshot batch: %v and %d local", got, n)
	}
	bank, _ := s.Bank(ctx(t), "in")
	if bank.Entries != 2 || bank.Synced[syncSource] != 40 {
		t.Errorf("bank: %d entries, cursors %v", bank.Entries, bank.Synced)
	}

	// Bad batches.
	for name, bb := range map[string]store.SyncBatch{
		"backwards":  {Bank: "in", Source: syncSource, From: 40, To: 39},
		"no source":  {Bank: "in", From: 40, To: 41},
		"no bank":    {Bank: "nope", Source: syncSource, From: 40, To: 41},
		"bad entry":  {Bank: "in", Source: syncSource, From: 40, To: 41, Entries: []*store.Entry{{}}},
		"nil entry":  {Bank: "in", Source: syncSource, From: 40, To: 41, Entries: []*store.Entry{nil}},
		"other from": {Bank: "in", Source: "other", From: 40, To: 41},
	} {
		_, err := s.Commit(ctx(t), "syncer", store.SyncEntries(&bb))
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if cursor(t, s) != 40 {
		t.Error("a bad batch moved the cursor")
	}
}

func equalKinds(a, b []store.ChangeKind) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// testSyncReopen: the cursor is durable, and another source's is its own.
func testSyncReopen(t *testing.T, b Backend) {
	if b.Reopen == nil {
		t.Skip("this backend cannot be reopened by the suite")
	}
	s := b.New(t)
	r := rand.New(rand.NewPCG(32, 32))
	commit(t, s, store.CreateBank(store.Bank{Name: "in"}))
	if _, err := syncBatch(t, s, store.SyncBatch{From: 0, To: 7, Entries: []*store.Entry{sourced(RandomImage(r, "x"), "1", 7)}}); err != nil {
		t.Fatal(err)
	}
	other := store.SyncBatch{Bank: "in", Source: "b.example/banks/y", From: 0, To: 3}
	commit(t, s, store.SyncEntries(&other))
	commit(t, s, store.UpdateBank("in", store.Bank{Description: "kept in step"}, "description"))
	s = b.Reopen(t, s)
	t.Cleanup(func() { s.Close() })
	bank, err := s.Bank(ctx(t), "in")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]store.Revision{syncSource: 7, "b.example/banks/y": 3}; !maps.Equal(bank.Synced, want) || bank.Entries != 1 {
		t.Errorf("after reopening: cursors %v, %d entries; want %v and 1", bank.Synced, bank.Entries, want)
	}
}
