package storetest

import (
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/mediamatch/mediamatch/store"
)

// items returns an ImportEntries source over a slice, lines from 1.
func items(list ...store.ImportItem) func() (store.ImportItem, error) {
	i := 0
	return func() (store.ImportItem, error) {
		if i == len(list) {
			return store.ImportItem{}, io.EOF
		}
		it := list[i]
		i++
		if it.Line == 0 {
			it.Line = i
		}
		return it, nil
	}
}

func importList(t *testing.T, s store.Store, imp store.Import) (store.ImportResult, error) {
	t.Helper()
	res, err := s.Commit(ctx(t), "importer", store.ImportEntries(&imp))
	if err != nil {
		return store.ImportResult{}, err
	}
	return *res.Results[0].Import, nil
}

func testImport(t *testing.T, b Backend) {
	s := open(t, b)
	r := rand.New(rand.NewPCG(21, 21))
	commit(t, s, store.CreateBank(store.Bank{Name: "in"}))
	local := add(t, s, RandomImage(r, "in"))
	before := revision(t, s)
	list := []*store.Entry{RandomImage(r, "elsewhere"), RandomVideo(r, "x", 30), RandomImage(r, "")}
	list[0].Provenance.SourceID = "41"
	// The local entry again, with other labels: kept as it is.
	again := *local
	again.Labels = map[string]string{"group": "theirs"}
	src := []store.ImportItem{{Entry: list[0]}, {Entry: list[1]}, {Entry: &again}, {Entry: list[2]}}
	prov := store.Provenance{Partner: "ngo", List: "list.jsonl", ListRevision: 7}
	res, err := importList(t, s, store.Import{Bank: "in", Provenance: prov, Next: items(src...)})
	if err != nil {
		t.Fatal(err)
	}
	if want := (store.ImportResult{Imported: 3, Unchanged: 1, Conflicts: 1}); res != want {
		t.Errorf("import: %+v, want %+v", res, want)
	}
	// One commit: the feed shows the adds in order, the last ending it.
	changes := allChanges(t, s, before, store.ViewFull)
	if len(changes) != 3 {
		t.Fatalf("%d changes, want 3", len(changes))
	}
	for i, c := range changes {
		if c.Kind != store.EntryAdded || c.CommitEnd != (i == 2) || c.EntryValue == nil {
			t.Fatalf("change %d: %+v", i, c)
		}
		e := c.EntryValue
		want := *list[i]
		want.Bank = "in"
		want.Provenance = prov
		want.Provenance.SourceID = list[i].Provenance.SourceID
		got := *e
		if got.Provenance.Imported.IsZero() {
			t.Errorf("entry %d: no import time", i)
		}
		got.Provenance.Imported = want.Provenance.Imported
		if d := SameEntry(&got, &want, store.ViewFull); d != "" {
			t.Errorf("imported entry %d: %s", i, d)
		}
	}
	if e, err := s.Entry(ctx(t), local.ID, store.ViewBasic); err != nil || e.Labels["group"] != local.Labels["group"] {
		t.Errorf("the local entry's labels: %v %v", e, err)
	}
	if bk, _ := s.Bank(ctx(t), "in"); bk.Entries != 4 {
		t.Errorf("bank counts %d entries, want 4", bk.Entries)
	}

	// The same list again changes nothing.
	rev := revision(t, s)
	res, err = importList(t, s, store.Import{Bank: "in", Provenance: prov, Next: items(src...)})
	if err != nil || res != (store.ImportResult{Unchanged: 4, Conflicts: 1}) || revision(t, s) != rev {
		t.Errorf("import again: %+v %v, revision %d -> %d", res, err, rev, revision(t, s))
	}

	// Removals: of an entry from the same partner, of a local entry (a
	// conflict, kept), of one the bank lacks.
	ids := []uint64{changes[0].EntryID}
	rm := []store.ImportItem{{Remove: store.Identity(list[0])}, {Remove: store.Identity(local)}, {Remove: [32]byte{1}}}
	res, err = importList(t, s, store.Import{Bank: "in", Provenance: prov, Next: items(rm...)})
	if err != nil || res != (store.ImportResult{Removed: 1, Unchanged: 2, Conflicts: 1}) {
		t.Errorf("removals: %+v %v", res, err)
	}
	cs := allChanges(t, s, rev, store.ViewNone)
	if len(cs) != 1 || cs[0].Kind != store.EntryRemoved || cs[0].EntryID != ids[0] || cs[0].Identity != store.Identity(list[0]) {
		t.Errorf("removal changes %+v", cs)
	}
	// A list that adds an item and later removes it, into an empty bank;
	// and one that removes an item and later adds it again (it stays).
	commit(t, s, store.CreateBank(store.Bank{Name: "empty"}))
	x, y := RandomImage(r, ""), RandomImage(r, "")
	res, err = importList(t, s, store.Import{Bank: "empty", Provenance: prov, Next: items(
		store.ImportItem{Entry: x}, store.ImportItem{Remove: store.Identity(&store.Entry{Hashes: x.Hashes})})})
	if bk, _ := s.Bank(ctx(t), "empty"); err != nil || res != (store.ImportResult{Imported: 1, Removed: 1}) || bk.Entries != 0 {
		t.Errorf("add then remove: %+v %v, bank counts %d", res, err, bk.Entries)
	}
	importList(t, s, store.Import{Bank: "empty", Provenance: prov, Next: items(store.ImportItem{Entry: y})})
	res, err = importList(t, s, store.Import{Bank: "empty", Provenance: prov, Next: items(
		store.ImportItem{Remove: store.Identity(y)}, store.ImportItem{Entry: y})})
	if bk, _ := s.Bank(ctx(t), "empty"); err != nil || res != (store.ImportResult{Unchanged: 1}) || bk.Entries != 1 {
		t.Errorf("remove then add again: %+v %v, bank counts %d", res, err, bk.Entries)
	}
	// Another partner's list cannot remove the first partner's entries.
	res, err = importList(t, s, store.Import{Bank: "in", Provenance: store.Provenance{Partner: "other"},
		Next: items(store.ImportItem{Remove: store.Identity(list[1])})})
	if err != nil || res != (store.ImportResult{Unchanged: 1, Conflicts: 1}) {
		t.Errorf("another partner's removal: %+v %v", res, err)
	}
}

func testImportAtomic(t *testing.T, b Backend) {
	s := open(t, b)
	r := rand.New(rand.NewPCG(22, 22))
	commit(t, s, store.CreateBank(store.Bank{Name: "in"}))
	add(t, s, RandomImage(r, "in"))
	rev := revision(t, s)
	entries := listEntries(t, s, store.EntryQuery{Bank: "in"})
	good := func() []store.ImportItem {
		var out []store.ImportItem
		for range 50 {
			out = append(out, store.ImportItem{Entry: RandomImage(r, "")})
		}
		return out
	}
	bad := RandomImage(r, "")
	bad.Hashes[0].Bytes = bad.Hashes[0].Bytes[:3]
	failing := errors.New("the list's reader failed")
	cases := []struct {
		name string
		imp  store.Import
		want error
		line string
	}{
		{"invalid entry", store.Import{Bank: "in", Next: items(append(good(), store.ImportItem{Entry: bad, Line: 77})...)}, store.ErrInvalid, "line 77"},
		{"repeated item", store.Import{Bank: "in", Next: func() func() (store.ImportItem, error) {
			l := good()
			return items(append(l, store.ImportItem{Entry: l[3].Entry, Line: 99})...)
		}()}, store.ErrInvalid, "line 99"},
		{"reader error", store.Import{Bank: "in", Next: func() func() (store.ImportItem, error) {
			next := items(good()...)
			n := 0
			return func() (store.ImportItem, error) {
				if n++; n == 30 {
					return store.ImportItem{}, failing
				}
				return next()
			}
		}()}, failing, ""},
		{"unknown bank", store.Import{Bank: "nope", Next: items(good()...)}, store.ErrBankNotFound, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := importList(t, s, tc.imp)
			wantErr(t, err, tc.want, tc.name)
			if err != nil && !strings.Contains(err.Error(), tc.line) {
				t.Errorf("error %q does not name %q", err, tc.line)
			}
			if got := listEntries(t, s, store.EntryQuery{Bank: "in"}); revision(t, s) != rev || len(got) != len(entries) {
				t.Errorf("a failed import changed the store: revision %d -> %d, %d entries -> %d", rev, revision(t, s), len(entries), len(got))
			}
		})
	}
	// Repeats allowed count as unchanged.
	l := good()
	res, err := importList(t, s, store.Import{Bank: "in", AllowRepeats: true, Next: items(append(l, l[0])...)})
	if err != nil || res != (store.ImportResult{Imported: 50, Unchanged: 1}) {
		t.Errorf("allowed repeat: %+v %v", res, err)
	}
	// An import is a commit of its own.
	_, err = s.Commit(ctx(t), "importer", store.ImportEntries(&store.Import{Bank: "in", Next: items()}), store.AddEntry(RandomImage(r, "in")))
	wantErr(t, err, store.ErrInvalid, "an import with another operation")
}

// testSnapshotReads checks a snapshot's bank, entry list and change feed
// against writes made after it was taken.
func testSnapshotReads(t *testing.T, b Backend) {
	s := open(t, b)
	r := rand.New(rand.NewPCG(23, 23))
	commit(t, s, store.CreateBank(store.Bank{Name: "a"}), store.CreateBank(store.Bank{Name: "b"}))
	start := revision(t, s)
	var ids []uint64
	for range 5 {
		ids = append(ids, add(t, s, RandomImage(r, "a")).ID)
		add(t, s, RandomImage(r, "b"))
	}
	up := commit(t, s, store.UpdateEntry(ids[1], store.Entry{Note: "updated"}, "note")).Results[0].Entry
	removed := commit(t, s, store.RemoveEntry(ids[2])).Results[0].Entry
	snap, err := s.Snapshot(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	commit(t, s, store.RemoveEntry(ids[0]), store.UpdateEntry(ids[1], store.Entry{Note: "later"}, "note"))
	add(t, s, RandomImage(r, "a"))

	var got []uint64
	err = snap.ListEntries(ctx(t), store.EntryQuery{Bank: "a", View: store.ViewBasic}, func(e *store.Entry) bool {
		got = append(got, e.ID)
		if e.ID == ids[1] && e.Note != "updated" {
			t.Errorf("snapshot shows note %q, want the snapshot's", e.Note)
		}
		return true
	})
	if want := []uint64{ids[0], ids[1], ids[3], ids[4]}; err != nil || !slices.Equal(got, want) {
		t.Errorf("snapshot's bank a: %v %v, want %v", got, err, want)
	}
	if bk, err := snap.Bank("a"); err != nil || bk.Entries != 4 {
		t.Errorf("snapshot's bank: %+v %v", bk, err)
	}
	if _, err := snap.Bank("zz"); !errors.Is(err, store.ErrBankNotFound) {
		t.Errorf("snapshot's unknown bank: %v", err)
	}
	var kinds []store.ChangeKind
	var last store.Revision
	err = snap.Changes(ctx(t), start, store.ViewFull, func(c store.Change) bool {
		kinds = append(kinds, c.Kind)
		last = c.Revision
		if c.Kind == store.EntryUpdated && (c.EntryValue == nil || c.EntryValue.Note != up.Note) {
			t.Errorf("snapshot change shows %+v", c.EntryValue)
		}
		if c.Kind == store.EntryRemoved && c.Identity != store.Identity(removed) {
			t.Errorf("removal without the entry's identity")
		}
		return true
	})
	if err != nil || len(kinds) != 12 || last != snap.Revision() || kinds[10] != store.EntryUpdated || kinds[11] != store.EntryRemoved {
		t.Errorf("snapshot changes %v (%v), last %d, snapshot %d", kinds, err, last, snap.Revision())
	}
	n := 0
	if err := snap.Changes(ctx(t), start, store.ViewNone, func(store.Change) bool { n++; return n < 3 }); err != nil || n != 3 {
		t.Errorf("stopping the changes early: %d %v", n, err)
	}
	if err := snap.Changes(ctx(t), snap.Revision()+1, store.ViewNone, func(store.Change) bool { return true }); !errors.Is(err, store.ErrFutureRevision) {
		t.Errorf("changes after the snapshot's revision: %v", err)
	}
}
