// Package storetest is the conformance suite of the store contract: every
// backend runs it (store/bolt now, a replicated backend later), so that
// the server and the index can rely on the contract alone.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Backend{New: ..., Reopen: ...})
//	}
//
// Every test starts from a new, empty store and, when the backend
// implements store.Checker, checks the store's integrity at its end.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/store"
)

// Backend makes the stores the suite tests.
type Backend struct {
	// New returns a new, empty store, closed by the suite. Required.
	New func(t *testing.T) store.Store
	// Reopen closes s and opens the same store again, as a restarted
	// process would. Nil skips the durability tests, saying so.
	Reopen func(t *testing.T, s store.Store) store.Store
}

// Run runs the conformance suite.
func Run(t *testing.T, b Backend) {
	tests := []struct {
		name string
		fn   func(*testing.T, Backend)
	}{
		{"Banks", testBanks},
		{"BankNames", testBankNames},
		{"BankUpdatePaths", testBankUpdatePaths},
		{"DeleteBank", testDeleteBank},
		{"Entries", testEntries},
		{"EntriesOfBanks", testEntriesOfBanks},
		{"EntryViews", testEntryViews},
		{"EntryUpdate", testEntryUpdate},
		{"EntryLimits", testEntryLimits},
		{"BankLimit", testBankLimit},
		{"UpdatePathLimit", testUpdatePathLimit},
		{"AtomicCommit", testAtomicCommit},
		{"Dedupe", testDedupe},
		{"DedupeConcurrent", testDedupeConcurrent},
		{"ConcurrentCommits", testConcurrentCommits},
		{"ChangeFeed", testChangeFeed},
		{"ChangeValues", testChangeValues},
		{"Watch", testWatch},
		{"LargeCommit", testLargeCommit},
		{"Compaction", testCompaction},
		{"Snapshot", testSnapshot},
		{"SnapshotReads", testSnapshotReads},
		{"Import", testImport},
		{"ImportAtomic", testImportAtomic},
		{"Sync", testSync},
		{"SyncReopen", testSyncReopen},
		{"NotAliased", testNotAliased},
		{"Reopen", testReopen},
		{"Tokens", testTokens},
		{"TokenRules", testTokenRules},
		{"TokenLimit", testTokenLimit},
		{"Audit", testAudit},
		{"TokensReopen", testTokensReopen},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, b) })
	}
}

// open returns a new store that is checked, then closed, when the test
// ends.
func open(t *testing.T, b Backend) store.Store {
	t.Helper()
	s := b.New(t)
	t.Cleanup(func() { s.Close() })
	t.Cleanup(func() { check(t, s) })
	return s
}

// check runs the backend's own integrity check, if it has one.
func check(t *testing.T, s store.Store) {
	t.Helper()
	if c, ok := s.(store.Checker); ok {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.Check(ctx); err != nil && !errors.Is(err, store.ErrClosed) {
			t.Errorf("integrity check: %v", err)
		}
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func commit(t *testing.T, s store.Store, ops ...store.Op) store.CommitResult {
	t.Helper()
	res, err := s.Commit(ctx(t), "tester", ops...)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	return res
}

func add(t *testing.T, s store.Store, e *store.Entry) *store.Entry {
	t.Helper()
	return commit(t, s, store.AddEntry(e)).Results[0].Entry
}

func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got %v, want %v", what, err, target)
	}
}

func revision(t *testing.T, s store.Store) store.Revision {
	t.Helper()
	r, err := s.Revisions(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	return r.Current
}

func allChanges(t *testing.T, s store.Store, after store.Revision, view store.View) []store.Change {
	t.Helper()
	var out []store.Change
	for {
		cs, err := s.Changes(ctx(t), after, 1000, view)
		if err != nil {
			t.Fatalf("changes after %d: %v", after, err)
		}
		if len(cs) == 0 {
			return out
		}
		out = append(out, cs...)
		after = cs[len(cs)-1].Revision
	}
}

func listEntries(t *testing.T, s store.Store, q store.EntryQuery) []*store.Entry {
	t.Helper()
	var out []*store.Entry
	if err := s.ListEntries(ctx(t), q, func(e *store.Entry) bool { out = append(out, e); return true }); err != nil {
		t.Fatalf("list %+v: %v", q, err)
	}
	return out
}

// SameEntry reports how got differs from want in the fields a caller sets
// (bank, media, hashes, labels, note, source), or "" when it does not.
// With view ViewBasic, want's frames and keypoints are expected absent.
func SameEntry(got, want *store.Entry, view store.View) string {
	w := *want
	if view == store.ViewBasic {
		w.Frames, w.Keypoints = nil, nil
	}
	g := *got
	norm := func(e *store.Entry) {
		if len(e.Labels) == 0 {
			e.Labels = nil
		}
		if len(e.Hashes) == 0 {
			e.Hashes = nil
		}
		if len(e.Regions) == 0 {
			e.Regions = nil
		}
		if len(e.Keypoints) == 0 {
			e.Keypoints = nil
		}
		if len(e.Frames) == 0 {
			e.Frames = nil
		}
		e.ID, e.Created, e.Updated, e.CreatedBy, e.UpdatedBy, e.Revision = 0, time.Time{}, time.Time{}, "", "", 0
	}
	norm(&g)
	norm(&w)
	for i := range g.Hashes {
		if len(g.Hashes[i].Bytes) == 0 {
			g.Hashes[i].Bytes = nil
		}
	}
	if reflect.DeepEqual(g, w) {
		return ""
	}
	switch {
	case !reflect.DeepEqual(g.Hashes, w.Hashes):
		return fmt.Sprintf("hashes %v, want %v", g.Hashes, w.Hashes)
	case !reflect.DeepEqual(g.Regions, w.Regions):
		return fmt.Sprintf("regions %v, want %v", g.Regions, w.Regions)
	case !reflect.DeepEqual(g.Keypoints, w.Keypoints):
		return fmt.Sprintf("%d keypoints, want %d (or different)", len(g.Keypoints), len(w.Keypoints))
	case !reflect.DeepEqual(g.Frames, w.Frames):
		return fmt.Sprintf("%d frames, want %d (or different)", len(g.Frames), len(w.Frames))
	}
	return fmt.Sprintf("%+v, want %+v", g, w)
}

func testBanks(t *testing.T, b Backend) {
	s := open(t, b)
	before := time.Now().Add(-time.Second)
	res := commit(t, s, store.CreateBank(store.Bank{Name: "tvec", Description: "known propaganda",
		Labels: map[string]string{"sev": "high"}, Disabled: true, Thresholds: map[string]int{"pdq": 20}}))
	got := res.Results[0].Bank
	if got.Name != "tvec" || got.Description != "known propaganda" || got.Labels["sev"] != "high" || !got.Disabled || got.Thresholds["pdq"] != 20 {
		t.Errorf("created bank %+v", got)
	}
	if got.Created.Before(before) || !got.Created.Equal(got.Updated) || got.CreatedBy != "tester" || got.Revision != res.Revision || res.Revision != 1 {
		t.Errorf("created bank's store fields %+v (revision %d)", got, res.Revision)
	}
	_, err := s.Commit(ctx(t), "tester", store.CreateBank(store.Bank{Name: "tvec"}))
	wantErr(t, err, store.ErrBankExists, "creating it again")
	read, err := s.Bank(ctx(t), "tvec")
	if err != nil || !reflect.DeepEqual(read, *got) {
		t.Errorf("Bank: %+v, %v; want %+v", read, err, *got)
	}
	_, err = s.Bank(ctx(t), "nope")
	wantErr(t, err, store.ErrBankNotFound, "reading an unknown bank")
	for _, name := range []string{"b", "a", "c.d", "A"} {
		commit(t, s, store.CreateBank(store.Bank{Name: name}))
	}
	banks, err := s.ListBanks(ctx(t), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range banks {
		names = append(names, b.Name)
	}
	if want := []string{"A", "a", "b", "c.d", "tvec"}; !slices.Equal(names, want) {
		t.Errorf("ListBanks: %v, want %v", names, want)
	}
	page, _ := s.ListBanks(ctx(t), "a", 2)
	if len(page) != 2 || page[0].Name != "b" || page[1].Name != "c.d" {
		t.Errorf("ListBanks after a, 2: %v", page)
	}
	add(t, s, RandomImage(rand.New(rand.NewPCG(1, 1)), "b"))
	if bb, _ := s.Bank(ctx(t), "b"); bb.Entries != 1 {
		t.Errorf("bank b counts %d entries, want 1", bb.Entries)
	}
}

func testBankNames(t *testing.T, b Backend) {
	s := open(t, b)
	for _, name := range []string{"a", "Z9", "A.b_c-1", "x..y", strings.Repeat("n", store.MaxBankNameLen)} {
		if _, err := s.Commit(ctx(t), "tester", store.CreateBank(store.Bank{Name: name})); err != nil {
			t.Errorf("valid name %q refused: %v", name, err)
		}
	}
	for _, name := range []string{"", "..", ".", "-rf", "-", "_x", ".hidden", "a/b", "a b", "é", "a\x00", strings.Repeat("n", store.MaxBankNameLen+1)} {
		_, err := s.Commit(ctx(t), "tester", store.CreateBank(store.Bank{Name: name}))
		wantErr(t, err, store.ErrInvalid, fmt.Sprintf("name %q", name))
	}
	if banks, _ := s.ListBanks(ctx(t), "", 100); len(banks) != 5 {
		t.Errorf("%d banks, want the 5 valid ones", len(banks))
	}
}

func testBankUpdatePaths(t *testing.T, b Backend) {
	s := open(t, b)
	commit(t, s, store.CreateBank(store.Bank{Name: "tvec", Description: "d0", Labels: map[string]string{"sev": "high", "lang": "ar"},
		Disabled: true, Thresholds: map[string]int{"pdq": 20, "phash": 8}}))
	cases := []struct {
		name    string
		from    store.Bank
		paths   []string
		check   func(store.Bank) bool
		changed []string
	}{
		{"description only keeps the rest", store.Bank{Description: "d1"}, []string{"description"},
			func(b store.Bank) bool {
				return b.Description == "d1" && b.Labels["sev"] == "high" && b.Disabled && b.Thresholds["pdq"] == 20
			}, []string{"description"}},
		{"one label set", store.Bank{Labels: map[string]string{"sev": "low", "other": "x"}}, []string{"labels.sev"},
			func(b store.Bank) bool { return maps.Equal(b.Labels, map[string]string{"sev": "low", "lang": "ar"}) }, []string{"labels.sev"}},
		{"one label removed", store.Bank{}, []string{"labels.lang"},
			func(b store.Bank) bool { return maps.Equal(b.Labels, map[string]string{"sev": "low"}) }, []string{"labels.lang"}},
		{"labels replaced", store.Bank{Labels: map[string]string{"a": "1"}}, []string{"labels"},
			func(b store.Bank) bool { return maps.Equal(b.Labels, map[string]string{"a": "1"}) }, []string{"labels"}},
		{"enabled", store.Bank{Disabled: false}, []string{"disabled"}, func(b store.Bank) bool { return !b.Disabled }, []string{"disabled"}},
		{"one threshold", store.Bank{Thresholds: map[string]int{"pdq": 25}}, []string{"thresholds.pdq"},
			func(b store.Bank) bool { return maps.Equal(b.Thresholds, map[string]int{"pdq": 25, "phash": 8}) }, []string{"thresholds.pdq"}},
		{"threshold removed", store.Bank{}, []string{"thresholds.phash"},
			func(b store.Bank) bool { return maps.Equal(b.Thresholds, map[string]int{"pdq": 25}) }, []string{"thresholds.phash"}},
		{"nothing changes", store.Bank{Description: "d1"}, []string{"description"}, func(b store.Bank) bool { return b.Description == "d1" }, nil},
	}
	for _, tc := range cases {
		before := revision(t, s)
		res := commit(t, s, store.UpdateBank("tvec", tc.from, tc.paths...))
		got, err := s.Bank(ctx(t), "tvec")
		if err != nil || !tc.check(got) {
			t.Errorf("%s: bank after %+v (%v)", tc.name, got, err)
		}
		if res.Results[0].Changed != (tc.changed != nil) {
			t.Errorf("%s: Changed = %v", tc.name, res.Results[0].Changed)
		}
		cs := allChanges(t, s, before, store.ViewNone)
		switch {
		case tc.changed == nil && len(cs) != 0:
			t.Errorf("%s: a no-op update logged %v", tc.name, cs)
		case tc.changed != nil && (len(cs) != 1 || cs[0].Kind != store.BankUpdated || !slices.Equal(cs[0].Fields, tc.changed) || cs[0].Bank != "tvec"):
			t.Errorf("%s: logged %+v, want one bank_updated of %v", tc.name, cs, tc.changed)
		}
	}
	for _, bad := range [][]string{{"name"}, {"entries"}, {"labels."}, {"bogus"}, {"created"}} {
		_, err := s.Commit(ctx(t), "tester", store.UpdateBank("tvec", store.Bank{}, bad...))
		wantErr(t, err, store.ErrInvalid, fmt.Sprintf("update path %v", bad))
	}
	_, err := s.Commit(ctx(t), "tester", store.UpdateBank("tvec", store.Bank{Thresholds: map[string]int{"pdq": 300}}, "thresholds"))
	wantErr(t, err, store.ErrInvalid, "threshold over the hash's bits")
	_, err = s.Commit(ctx(t), "tester", store.UpdateBank("tvec", store.Bank{Thresholds: map[string]int{"md5": 3}}, "thresholds.md5"))
	wantErr(t, err, store.ErrInvalid, "threshold for a digest")
	_, err = s.Commit(ctx(t), "tester", store.UpdateBank("nope", store.Bank{}, "description"))
	wantErr(t, err, store.ErrBankNotFound, "updating an unknown bank")
}

func testDeleteBank(t *testing.T, b Backend) {
	s := open(t, b)
	r := rand.New(rand.NewPCG(2, 2))
	commit(t, s, store.CreateBank(store.Bank{Name: "full"}), store.CreateBank(store.Bank{Name: "other"}))
	var ids []uint64
	for range 5 {
		ids = append(ids, add(t, s, RandomImage(r, "full")).ID)
	}
	kept := add(t, s, RandomImage(r, "other"))
	_, err := s.Commit(ctx(t), "tester", store.DeleteBank("full", false))
	wantErr(t, err, store.ErrBankNotEmpty, "deleting a bank with entries")
	before := revision(t, s)
	res := commit(t, s, store.DeleteBank("full", true))
	if res.Results[0].Removed != 5 {
		t.Errorf("removed %d entries, want 5", res.Results[0].Removed)
	}
	cs := allChanges(t, s, before, store.ViewNone)
	if len(cs) != 6 || cs[5].Kind != store.BankDeleted || !cs[5].CommitEnd {
		t.Fatalf("changes of a forced delete: %+v", cs)
	}
	for i, c := range cs[:5] {
		if c.Kind != store.EntryRemoved || c.EntryID != ids[i] || c.Bank != "full" || c.CommitEnd {
			t.Errorf("change %d: %+v", i, c)
		}
	}
	for _, id := range ids {
		_, err := s.Entry(ctx(t), id, store.ViewFull)
		wantErr(t, err, store.ErrEntryNotFound, "an entry of the deleted bank")
	}
	_, err = s.Bank(ctx(t), "full")
	wantErr(t, err, store.ErrBankNotFound, "the deleted bank")
	if _, err := s.Entry(ctx(t), kept.ID, store.ViewFull); err != nil {
		t.Errorf("another bank's entry: %v", err)
	}
	// The name can be used again, for a new and empty bank.
	commit(t, s, store.CreateBank(store.Bank{Name: "full"}))
	if got := listEntries(t, s, store.EntryQuery{Bank: "full"}); len(got) != 0 {
		t.Errorf("a re-created bank lists %d entries", len(got))
	}
	// Entries once removed can be added again (their identity is free).
	e := RandomImage(r, "full")
	if res := commit(t, s, store.AddEntry(e), store.AddEntry(e)); res.Results[0].Existed || !res.Results[1].Existed {
		t.Errorf("adding twice in one commit: %+v", res.Results)
	}
	commit(t, s, store.DeleteBank("other", true))
	_, err = s.Commit(ctx(t), "tester", store.DeleteBank("nope", true))
	wantErr(t, err, store.ErrBankNotFound, "deleting an unknown bank")
}

func testEntries(t *testing.T, b Backend) {
	s := open(t, b)
	r := rand.New(rand.NewPCG(3, 3))
	commit(t, s, store.CreateBank(store.Bank{Name: "a"}), store.CreateBank(store.Bank{Name: "b"}))
	var want []*store.Entry
	for i := range 12 {
		e := RandomImage(r, []string{"a", "b"}[i%2])
		if i%4 == 3 {
			e = RandomVideo(r, e.Bank, 5+r.IntN(20))
		}
		got := add(t, s, e)
		if got.ID == 0 || (len(want) > 0 && got.ID <= want[len(want)-1].ID) {
			t.Fatalf("entry %d got id %d after %v", i, got.ID, want)
		}
		if d := SameEntry(got, e, store.ViewFull); d != "" {
			t.Errorf("add returned %s", d)
		}
		if got.CreatedBy != "tester" || got.Created.IsZero() || got.Revision == 0 {
			t.Errorf("store fields of added entry: %+v", got)
		}
		want = append(want, got)
	}
	for _, w := range want {
		got, err := s.Entry(ctx(t), w.ID, store.ViewFull)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(normalize(got), normalize(w)) {
			t.Errorf("Entry(%d) = %+v\nwant %+v", w.ID, got, w)
		}
	}
	all := listEntries(t, s, store.EntryQuery{View: store.ViewFull})
	if len(all) != len(want) {
		t.Fatalf("listed %d entries, want %d", len(all), len(want))
	}
	inA := listEntries(t, s, store.EntryQuery{Bank: "a", View: store.ViewFull})
	if len(inA) != 6 {
		t.Errorf("bank a lists %d entries, want 6", len(inA))
	}
	for _, e := range inA {
		if e.Bank != "a" {
			t.Errorf("bank a lists an entry of %q", e.Bank)
		}
	}
	after := listEntries(t, s, store.EntryQuery{Bank: "b", After: want[5].ID})
	if len(after) != 3 || after[0].ID <= want[5].ID {
		t.Errorf("bank b after %d: %d entries", want[5].ID, len(after))
	}
	n := 0
	s.ListEntries(ctx(t), store.EntryQuery{}, func(*store.Entry) bool { n++; return n < 4 })
	if n != 4 {
		t.Errorf("ListEntries went on after fn said stop (%d calls)", n)
	}
	err := s.ListEntries(ctx(t), store.EntryQuery{Bank: "nope"}, func(*store.Entry) bool { return true })
	wantErr(t, err, store.ErrBankNotFound, "listing an unknown bank")
	res := commit(t, s, store.RemoveEntry(want[0].ID))
	if !reflect.DeepEqual(normalize(res.Results[0].Entry), normalize(want[0])) {
		t.Errorf("remove returned %+v", res.Results[0].Entry)
	}
	_, err = s.Entry(ctx(t), want[0].ID, store.ViewFull)
	wantErr(t, err, store.ErrEntryNotFound, "a removed entry")
	_, err = s.Commit(ctx(t), "tester", store.RemoveEntry(want[0].ID))
	wantErr(t, err, store.ErrEntryNotFound, "removing it again")
	if bank, _ := s.Bank(ctx(t), "a"); bank.Entries != 5 {
		t.Errorf("bank a counts %d entries after a removal, want 5", bank.Entries)
	}
	_, err = s.Commit(ctx(t), "tester", store.AddEntry(RandomImage(r, "nope")))
	wantErr(t, err, store.ErrBankNotFound, "adding to an unknown bank")
}

// normalize clears the differences that do not matter between two reads
// of the same entry (nil and empty slices and maps).
func normalize(e *store.Entry) *store.Entry {
	c := *e
	if len(c.Labels) == 0 {
		c.Labels = nil
	}
	if len(c.Regions) == 0 {
		c.Regions = nil
	}
	if len(c.Keypoints) == 0 {
		c.Keypoints = nil
	}
	if len(c.Frames) == 0 {
		c.Frames = nil
	}
	if len(c.Hashes) == 0 {
		c.Hashes = nil
	}
	c.Created, c.Updated = c.Created.UTC(), c.Updated.UTC()
	return &c
}

func testEntryViews(t *testing.T, b Backend) {
	s := open(t, b)
	r := rand.New(rand.NewPCG(4, 4))
	commit(t, s, store.CreateBank(store.Bank{Name: "v"}))
	video := RandomVideo(r, "v", 300)
	image := RandomImage(r, "v")
	for len(image.Keypoints) == 0 {
		image = RandomImage(r, "v")
	}
	vid, img := add(t, s, video).ID, add(t, s, image).ID
	for _, c := range []struct {
		id   uint64
		want *store.Entry
	}{{vid, video}, {img, image}} {
		basic, err := s.Entry(ctx(t), c.id, store.ViewBasic)
		if err != nil {
			t.Fatal(err)
		}
		if d := SameEntry(basic, c.want, store.ViewBasic); d != "" {
			t.Errorf("basic view: %s", d)
		}
		full, _ := s.Entry(ctx(t), c.id, store.ViewFull)
		if d := SameEntry(full, c.want, store.ViewFull); d != "" {
			t.Errorf("full view: %s", d)
		}
	}
	for _, e := range listEntries(t, s, store.EntryQuery{Bank: "v", View: store.ViewBasic}) {
		if len(e.Frames) > 0 || len(e.Keypoints) > 0 {
			t.Errorf("basic list holds %d frames, %d keypoints", len(e.Frames), len(e.Keypoints))
		}
	}
}

func testEntryUpdate(t *testing.T, b Backend) {
	s := open(t, b)
	r := rand.New(rand.NewPCG(5, 5))
	commit(t, s, store.CreateBank(store.Bank{Name: "u"}))
	e := add(t, s, RandomImage(r, "u"))
	before := revision(t, s)
	res := commit(t, s, store.UpdateEntry(e.ID, store.Entry{Note: "checked", Labels: map[string]string{"status": "confirmed"}}, "note", "labels.status"))
	got := res.Results[0].Entry
	if got.Note != "checked" || got.Labels["status"] != "confirmed" || got.Labels["group"] != "example" {
		t.Errorf("updated entry: note %q labels %v", got.Note, got.Labels)
	}
	if got.UpdatedBy != "tester" || got.Revision != res.Revision || !got.Created.Equal(e.Created) {
		t.Errorf("store fields after update: %+v", got)
	}
	if d := SameEntry(&store.Entry{Bank: got.Bank, Kind: got.Kind, Format: got.Format, Width: got.Width, Height: got.Height,
		Hashes: got.Hashes, Regions: got.Regions, Keypoints: got.Keypoints, Labels: e.Labels, Note: e.Note, Source: got.Source}, e, store.ViewFull); d != "" {
		t.Errorf("an update changed more than labels and note: %s", d)
	}
	cs := allChanges(t, s, before, store.ViewNone)
	if len(cs) != 1 || cs[0].Kind != store.EntryUpdated || cs[0].EntryID != e.ID || !slices.Equal(cs[0].Fields, []string{"note", "labels.status"}) {
		t.Errorf("update logged %+v", cs)
	}
	res = commit(t, s, store.UpdateEntry(e.ID, store.Entry{Note: "checked"}, "note"))
	if res.Results[0].Changed || revision(t, s) != cs[0].Revision {
		t.Errorf("a no-op update changed the store")
	}
	_, err := s.Commit(ctx(t), "tester", store.UpdateEntry(e.ID, store.Entry{}, "hashes"))
	wantErr(t, err, store.ErrInvalid, "updating hashes")
	_, err = s.Commit(ctx(t), "tester", store.UpdateEntry(e.ID, store.Entry{Note: strings.Repeat("x", store.MaxTextBytes+1)}, "note"))
	wantErr(t, err, store.ErrInvalid, "a note over the limit")
	_, err = s.Commit(ctx(t), "tester", store.UpdateEntry(e.ID+100, store.Entry{}, "note"))
	wantErr(t, err, store.ErrEntryNotFound, "updating an unknown entry")
}

func testEntryLimits(t *testing.T, b Backend) {
	s := open(t, b)
	r := rand.New(rand.NewPCG(6, 6))
	commit(t, s, store.CreateBank(store.Bank{Name: "l"}))
	base := revision(t, s)
	many := map[string]string{}
	for i := range store.MaxLabels + 1 {
		many[fmt.Sprint(i)] = "v"
	}
	bad := map[string]func(*store.Entry){
		"no hashes":         func(e *store.Entry) { e.Hashes, e.Regions, e.Keypoints = nil, nil, nil },
		"short hash":        func(e *store.Entry) { e.Hashes[0].Bytes = e.Hashes[0].Bytes[:8] },
		"two pdq":           func(e *store.Entry) { e.Hashes = append(e.Hashes, e.Hashes[0]) },
		"unknown type":      func(e *store.Entry) { e.Hashes[0].Type = "ahash" },
		"quality 101":       func(e *store.Entry) { e.Hashes[0].Quality = 101 },
		"too many labels":   func(e *store.Entry) { e.Labels = many },
		"empty label key":   func(e *store.Entry) { e.Labels = map[string]string{"": "x"} },
		"long note":         func(e *store.Entry) { e.Note = strings.Repeat("n", store.MaxTextBytes+1) },
		"long uri":          func(e *store.Entry) { e.Source.URI = strings.Repeat("u", store.MaxURIBytes+1) },
		"invalid utf-8":     func(e *store.Entry) { e.Note = "\xff" },
		"region kind 0":     func(e *store.Entry) { e.Regions[0].Kind = hashing.RegionWhole },
		"region box":        func(e *store.Entry) { e.Regions[0].Box.Width = 1.5 },
		"keypoint outside":  func(e *store.Entry) { e.Keypoints = []store.Keypoint{{X: -0.1}} },
		"too many regions":  func(e *store.Entry) { e.Regions = slices.Repeat(e.Regions[:1], store.MaxRegions+1) },
		"negative width":    func(e *store.Entry) { e.Width = -1 },
		"frames and images": func(e *store.Entry) { e.Frames = RandomVideo(r, "l", 2).Frames },
	}
	for name, spoil := range bad {
		e := RandomImage(r, "l")
		spoil(e)
		// Each failing add is last, after a good one: nothing is written.
		_, err := s.Commit(ctx(t), "tester", store.AddEntry(RandomImage(r, "l")), store.AddEntry(e))
		wantErr(t, err, store.ErrInvalid, name)
	}
	video := RandomVideo(r, "l", store.MaxFrames+1)
	_, err := s.Commit(ctx(t), "tester", store.AddEntry(video))
	wantErr(t, err, store.ErrInvalid, "too many frames")
	video.Frames = video.Frames[:store.MaxFrames]
	video.Frames[5].Seconds = 1 // before frame 4
	_, err = s.Commit(ctx(t), "tester", store.AddEntry(video))
	wantErr(t, err, store.ErrInvalid, "frames out of order")
	_, err = s.Commit(ctx(t), strings.Repeat("a", store.MaxActorBytes+1), store.AddEntry(RandomImage(r, "l")))
	wantErr(t, err, store.ErrInvalid, "a long actor")
	if revision(t, s) != base || len(listEntries(t, s, store.EntryQuery{})) != 0 {
		t.Errorf("refused adds wrote something")
	}
	// The largest allowed video is stored whole.
	video = RandomVideo(r, "l", store.MaxFrames)
	got := add(t, s, video)
	full, err := s.Entry(ctx(t), got.ID, store.ViewFull)
	if err != nil || len(full.Frames) != store.MaxFrames {
		t.Errorf("a video of %d frames read back with %d (%v)", store.MaxFrames, len(full.Frames), err)
	}
}

func testAtomicCommit(t *testing.T, b Backend) {
	s := open(t, b)
	r := rand.New(rand.NewPCG(7, 7))
	commit(t, s, store.CreateBank(store.Bank{Name: "x"}))
	kept := add(t, s, RandomImage(r, "x"))
	base := revision(t, s)
	failing := [][]store.Op{
		{store.CreateBank(store.Bank{Name: "new"}), store.AddEntry(RandomImage(r, "new")), store.CreateBank(store.Bank{Name: "x"})},
		{store.AddEntry(RandomImage(r, "x")), store.AddEntry(RandomImage(r, "x")), store.RemoveEntry(kept.ID + 1000)},
		{store.RemoveEntry(kept.ID), store.UpdateBank("x", store.Bank{Description: "d"}, "description"), store.UpdateBank("x", store.Bank{}, "nope")},
		{store.DeleteBank("x", true), store.AddEntry(RandomImage(r, "x"))},
		{store.CreateBank(store.Bank{Name: "y"}), store.DeleteBank("y", false), store.DeleteBank("y", false)},
	}
	for i, ops := range failing {
		if _, err := s.Commit(ctx(t), "tester", ops...); err == nil {
			t.Fatalf("commit %d succeeded", i)
		}
	}
	if got := revision(t, s); got != base {
		t.Errorf("failed commits moved the revision from %d to %d", base, got)
	}
	if cs := allChanges(t, s, base, store.ViewNone); len(cs) != 0 {
		t.Errorf("failed commits logged %+v", cs)
	}
	banks, _ := s.ListBanks(ctx(t), "", 10)
	if len(banks) != 1 || banks[0].Name != "x" || banks[0].Description != "" || banks[0].Entries != 1 {
		t.Errorf("banks after failed commits: %+v", banks)
	}
	if es := listEntries(t, s, store.EntryQuery{}); len(es) != 1 || es[0].ID != kept.ID {
		t.Errorf("entries after failed commits: %d", len(es))
	}
	// A good commit after failed ones gets the next revision and id.
	res := commit(t, s, store.AddEntry(RandomImage(r, "x")))
	if res.Revision != base+1 {
		t.Errorf("next commit at revision %d, want %d", res.Revision, base+1)
	}
}

func testDedupe(t *testing.T, b Backend) {
	s := open(t, b)
	r := rand.New(rand.NewPCG(8, 8))
	commit(t, s, store.CreateBank(store.Bank{Name: "a"}), store.CreateBank(store.Bank{Name: "b"}))
	e := RandomImage(r, "a")
	first := add(t, s, e)
	// Same hashes, other metadata, qualities and regions: the same item.
	again := *e
	again.Labels, again.Note, again.Regions, again.Keypoints = map[string]string{"x": "y"}, "other", nil, nil
	again.Hashes = slices.Clone(e.Hashes)
	again.Hashes[0].Quality = 1
	before := revision(t, s)
	res := commit(t, s, store.AddEntry(&again))
	if !res.Results[0].Existed || res.Results[0].Entry.ID != first.ID || res.Results[0].Changed {
		t.Errorf("re-adding: %+v", res.Results[0])
	}
	if res.Results[0].Entry.Note != e.Note {
		t.Errorf("re-adding returned note %q, want the stored %q", res.Results[0].Entry.Note, e.Note)
	}
	if revision(t, s) != before {
		t.Errorf("re-adding logged a change")
	}
	// The same item in another bank is another entry.
	other := *e
	other.Bank = "b"
	if got := add(t, s, &other); got.ID == first.ID {
		t.Errorf("the same item in another bank got the same entry")
	}
	// Hashes in another order are the same set.
	perm := *e
	perm.Hashes = slices.Clone(e.Hashes)
	slices.Reverse(perm.Hashes)
	if res := commit(t, s, store.AddEntry(&perm)); !res.Results[0].Existed {
		t.Errorf("reordered hashes made a new entry")
	}
	// A different frame time is a different video.
	v := RandomVideo(r, "a", 4)
	add(t, s, v)
	v2 := *v
	v2.Frames = slices.Clone(v.Frames)
	v2.Frames[3].Seconds += 0.5
	if res := commit(t, s, store.AddEntry(&v2)); res.Results[0].Existed {
		t.Errorf("a video with other frame times was taken for the same")
	}
	// Within one commit, repeats are added once.
	n := RandomImage(r, "a")
	res = commit(t, s, store.AddEntry(n), store.AddEntry(n), store.AddEntry(n))
	ids := []uint64{res.Results[0].Entry.ID, res.Results[1].Entry.ID, res.Results[2].Entry.ID}
	if ids[0] != ids[1] || ids[1] != ids[2] || res.Results[0].Existed || !res.Results[1].Existed || !res.Results[2].Existed {
		t.Errorf("repeats in one commit: %v %+v", ids, res.Results)
	}
}

func testDedupeConcurrent(t *testing.T, b Backend) {
	s := open(t, b)
	commit(t, s, store.CreateBank(store.Bank{Name: "d"}))
	r := rand.New(rand.NewPCG(9, 9))
	items := make([]*store.Entry, 40)
	for i := range items {
		items[i] = RandomImage(r, "d")
	}
	const writers = 12
	ids := make([][]uint64, writers)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			order := rand.New(rand.NewPCG(uint64(w), 1)).Perm(len(items))
			ids[w] = make([]uint64, len(items))
			for _, i := range order {
				res, err := s.Commit(context.Background(), fmt.Sprintf("writer-%d", w), store.AddEntry(items[i]))
				if err != nil {
					errs <- err
					return
				}
				ids[w][i] = res.Results[0].Entry.ID
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for w := 1; w < writers; w++ {
		if !slices.Equal(ids[w], ids[0]) {
			t.Fatalf("writer %d saw ids %v, writer 0 %v", w, ids[w], ids[0])
		}
	}
	if got := listEntries(t, s, store.EntryQuery{Bank: "d"}); len(got) != len(items) {
		t.Errorf("%d writers adding %d items left %d entries", writers, len(items), len(got))
	}
	adds := 0
	for _, c := range allChanges(t, s, 0, store.ViewNone) {
		if c.Kind == store.EntryAdded {
			adds++
		}
	}
	if adds != len(items) {
		t.Errorf("%d additions logged, want %d", adds, len(items))
	}
}

func testConcurrentCommits(t *testing.T, b Backend) {
	s := open(t, b)
	commit(t, s, store.CreateBank(store.Bank{Name: "c"}))
	const writers, each = 16, 15
	revs := make(chan store.Revision, writers*each)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 2))
			for range each {
				res, err := s.Commit(context.Background(), "w", store.AddEntry(RandomImage(r, "c")))
				if err != nil {
					t.Error(err)
					return
				}
				revs <- res.Revision
			}
		}()
	}
	wg.Wait()
	close(revs)
	seen := map[store.Revision]bool{}
	for r := range revs {
		if seen[r] {
			t.Errorf("revision %d returned twice", r)
		}
		seen[r] = true
	}
	if got := revision(t, s); got != writers*each+1 {
		t.Errorf("revision %d after %d commits", got, writers*each+1)
	}
	cs := allChanges(t, s, 0, store.ViewNone)
	for i, c := range cs {
		if c.Revision != store.Revision(i+1) || !c.CommitEnd {
			t.Fatalf("change %d: %+v", i, c)
		}
	}
}

// oracle replays random commits and the changes they must log.
type oracle struct {
	kinds []store.ChangeKind
	ends  []bool
}

func (o *oracle) expect(kinds ...store.ChangeKind) {
	for i, k := range kinds {
		o.kinds = append(o.kinds, k)
		o.ends = append(o.ends, i == len(kinds)-1)
	}
}

func testChangeFeed(t *testing.T, b Backend) {
	s := open(t, b)
	r := rand.New(rand.NewPCG(10, 10))
	var o oracle
	commit(t, s, store.CreateBank(store.Bank{Name: "f"}))
	o.expect(store.BankCreated)
	var live []uint64
	for i := range 150 {
		switch k := r.IntN(10); {
		case k < 5 || len(live) == 0:
			ops := []store.Op{}
			for range 1 + r.IntN(3) {
				ops = append(ops, store.AddEntry(RandomImage(r, "f")))
			}
			res := commit(t, s, ops...)
			kinds := []store.ChangeKind{}
			for _, x := range res.Results {
				live = append(live, x.Entry.ID)
				kinds = append(kinds, store.EntryAdded)
			}
			o.expect(kinds...)
		case k < 7:
			j := r.IntN(len(live))
			commit(t, s, store.RemoveEntry(live[j]))
			live = slices.Delete(live, j, j+1)
			o.expect(store.EntryRemoved)
		case k < 8:
			commit(t, s, store.UpdateEntry(live[r.IntN(len(live))], store.Entry{Note: fmt.Sprint(i)}, "note"))
			o.expect(store.EntryUpdated)
		case k < 9:
			commit(t, s, store.UpdateBank("f", store.Bank{Description: fmt.Sprint(i)}, "description"))
			o.expect(store.BankUpdated)
		default:
			name := fmt.Sprint("t", i)
			commit(t, s, store.CreateBank(store.Bank{Name: name}), store.AddEntry(RandomImage(r, name)), store.DeleteBank(name, true))
			o.expect(store.BankCreated, store.EntryAdded, store.EntryRemoved, store.BankDeleted)
		}
	}
	cs := allChanges(t, s, 0, store.ViewNone)
	if len(cs) != len(o.kinds) {
		t.Fatalf("%d changes logged, want %d", len(cs), len(o.kinds))
	}
	for i, c := range cs {
		if c.Revision != store.Revision(i+1) || c.Kind != o.kinds[i] || c.CommitEnd != o.ends[i] || c.Actor != "tester" || c.Time.IsZero() {
			t.Fatalf("change %d: %+v, want kind %v end %v", i, c, o.kinds[i], o.ends[i])
		}
	}
	if got := revision(t, s); got != cs[len(cs)-1].Revision {
		t.Errorf("revision %d, last change %d", got, cs[len(cs)-1].Revision)
	}
	// Pages of any size end on commits unless one commit is larger.
	for _, limit := range []int{1, 2, 3, 7} {
		cs, err := s.Changes(ctx(t), 0, limit, store.ViewNone)
		if err != nil || len(cs) == 0 || len(cs) > limit {
			t.Fatalf("Changes limit %d: %d, %v", limit, len(cs), err)
		}
		if !cs[len(cs)-1].CommitEnd && slices.ContainsFunc(cs[:len(cs)-1], func(c store.Change) bool { return c.CommitEnd }) {
			t.Errorf("limit %d cut a commit though a boundary was in reach", limit)
		}
	}
	_, err := s.Changes(ctx(t), revision(t, s)+1, 10, store.ViewNone)
	wantErr(t, err, store.ErrFutureRevision, "changes after a future revision")
	if cs, err := s.Changes(ctx(t), revision(t, s), 10, store.ViewNone); err != nil || len(cs) != 0 {
		t.Errorf("changes after the current revision: %v, %v", cs, err)
	}
}

func testChangeValues(t *testing.T, b Backend) {
	s := open(t, b)
	r := rand.New(rand.NewPCG(11, 11))
	commit(t, s, store.CreateBank(store.Bank{Name: "v", Description: "first"}))
	video := RandomVideo(r, "v", 50)
	vid := add(t, s, video).ID
	gone := add(t, s, RandomImage(r, "v")).ID
	commit(t, s, store.RemoveEntry(gone))
	commit(t, s, store.UpdateBank("v", store.Bank{Description: "second"}, "description"))
	full := allChanges(t, s, 0, store.ViewFull)
	if len(full) != 5 {
		t.Fatalf("%d changes", len(full))
	}
	if full[0].BankValue == nil || full[0].BankValue.Description != "second" {
		t.Errorf("bank_created carries %+v, want the bank as it is now", full[0].BankValue)
	}
	if full[1].EntryValue == nil || len(full[1].EntryValue.Frames) != 50 || full[1].EntryValue.ID != vid {
		t.Errorf("entry_added of the video carries %+v", full[1].EntryValue)
	}
	if full[2].EntryValue != nil {
		t.Errorf("entry_added of a since removed entry carries a value")
	}
	basic := allChanges(t, s, 0, store.ViewBasic)
	if basic[1].EntryValue == nil || len(basic[1].EntryValue.Frames) != 0 {
		t.Errorf("basic view of a video change: %+v", basic[1].EntryValue)
	}
	for _, c := range allChanges(t, s, 0, store.ViewNone) {
		if c.BankValue != nil || c.EntryValue != nil {
			t.Errorf("ViewNone change carries values: %+v", c)
		}
	}
}

func testWatch(t *testing.T, b Backend) {
	s := open(t, b)
	r := rand.New(rand.NewPCG(12, 12))
	commit(t, s, store.CreateBank(store.Bank{Name: "w"}))
	for range 20 {
		ops := []store.Op{store.AddEntry(RandomImage(r, "w"))}
		if r.IntN(3) == 0 {
			ops = append(ops, store.AddEntry(RandomImage(r, "w")))
		}
		commit(t, s, ops...)
	}
	cur := revision(t, s)
	// From any revision, a watch delivers exactly the changes after it,
	// then those of later commits.
	for after := store.Revision(0); after <= cur; after += 1 + store.Revision(r.IntN(3)) {
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		ch := s.Watch(c, after, store.ViewBasic)
		next := after + 1
		for next <= cur {
			resp := <-ch
			if resp.Err != nil {
				t.Fatalf("watch from %d: %v", after, resp.Err)
			}
			for _, c := range resp.Changes {
				if c.Revision != next {
					t.Fatalf("watch from %d delivered %d, want %d", after, c.Revision, next)
				}
				next++
			}
			if !resp.Changes[len(resp.Changes)-1].CommitEnd {
				t.Errorf("watch delivered half a commit")
			}
		}
		cancel()
		for resp := range ch {
			if len(resp.Changes) > 0 && resp.Err == nil {
				continue
			}
			if resp.Err != nil && !errors.Is(resp.Err, context.Canceled) {
				t.Errorf("a cancelled watch ended with %v", resp.Err)
			}
		}
	}
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ch := s.Watch(c, cur, store.ViewFull)
	e := add(t, s, RandomImage(r, "w"))
	select {
	case resp := <-ch:
		if resp.Err != nil || len(resp.Changes) != 1 || resp.Changes[0].EntryID != e.ID || resp.Changes[0].EntryValue == nil {
			t.Errorf("watch of a new commit: %+v", resp)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a new commit was not delivered")
	}
	resp := <-s.Watch(c, cur+100, store.ViewNone)
	wantErr(t, resp.Err, store.ErrFutureRevision, "watching from a future revision")
}

// testLargeCommit checks that a commit of more changes than a delivery
// holds is delivered in order, with only its last change marked as its
// end, and that a forced delete of a large bank logs every removal.
func testLargeCommit(t *testing.T, b Backend) {
	s := open(t, b)
	r := rand.New(rand.NewPCG(17, 17))
	commit(t, s, store.CreateBank(store.Bank{Name: "big"}))
	const n = 6000
	ops := make([]store.Op, n)
	for i := range ops {
		ops[i] = store.AddEntry(&store.Entry{Bank: "big", Kind: store.KindImage, Hashes: []hashing.Hash{RandomHash(r, hashing.PDQ)}})
	}
	res := commit(t, s, ops...)
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ch := s.Watch(c, 1, store.ViewBasic)
	next := store.Revision(2)
	for next <= res.Revision {
		resp := <-ch
		if resp.Err != nil {
			t.Fatal(resp.Err)
		}
		for _, ch := range resp.Changes {
			if ch.Revision != next || ch.CommitEnd != (ch.Revision == res.Revision) {
				t.Fatalf("change %d (end %v) where %d was due", ch.Revision, ch.CommitEnd, next)
			}
			next++
		}
	}
	del := commit(t, s, store.DeleteBank("big", true))
	if del.Results[0].Removed != n || del.Revision != res.Revision+n+1 {
		t.Errorf("forced delete of %d entries: removed %d, revision %d", n, del.Results[0].Removed, del.Revision)
	}
	cs := allChanges(t, s, res.Revision, store.ViewNone)
	ends := 0
	for _, c := range cs {
		if c.CommitEnd {
			ends++
		}
	}
	if len(cs) != n+1 || ends != 1 || !cs[n].CommitEnd || cs[n].Kind != store.BankDeleted {
		t.Errorf("the forced delete logged %d changes with %d ends", len(cs), ends)
	}
}

func testCompaction(t *testing.T, b Backend) {
	s := open(t, b)
	r := rand.New(rand.NewPCG(13, 13))
	commit(t, s, store.CreateBank(store.Bank{Name: "k"}))
	for range 30 {
		add(t, s, RandomImage(r, "k"))
	}
	cur := revision(t, s)
	if err := s.Compact(ctx(t), 20); err != nil {
		t.Fatal(err)
	}
	revs, _ := s.Revisions(ctx(t))
	if revs.Compacted != 20 || revs.Current != cur {
		t.Errorf("revisions after compaction: %+v", revs)
	}
	_, err := s.Changes(ctx(t), 19, 10, store.ViewNone)
	wantErr(t, err, store.ErrCompacted, "changes after a compacted revision")
	resp := <-s.Watch(ctx(t), 5, store.ViewNone)
	wantErr(t, resp.Err, store.ErrCompacted, "a watch from a compacted revision")
	cs := allChanges(t, s, 20, store.ViewNone)
	if len(cs) != int(cur-20) || cs[0].Revision != 21 {
		t.Errorf("changes after 20: %d from %v", len(cs), cs[0].Revision)
	}
	// Compaction does not touch the data, and a snapshot is at or past it.
	if es := listEntries(t, s, store.EntryQuery{}); len(es) != 30 {
		t.Errorf("%d entries after compaction", len(es))
	}
	snap, err := s.Snapshot(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if snap.Revision() < revs.Compacted {
		t.Errorf("snapshot at %d, before the compacted %d", snap.Revision(), revs.Compacted)
	}
	snap.Close()
	if err := s.Compact(ctx(t), 10); err != nil {
		t.Errorf("compacting below the compacted revision: %v", err)
	}
	err = s.Compact(ctx(t), cur+1)
	wantErr(t, err, store.ErrFutureRevision, "compacting past the current revision")
	if err := s.Compact(ctx(t), cur); err != nil {
		t.Fatal(err)
	}
	e := add(t, s, RandomImage(r, "k"))
	if cs := allChanges(t, s, cur, store.ViewNone); len(cs) != 1 || cs[0].EntryID != e.ID {
		t.Errorf("the log after full compaction: %+v", cs)
	}
}

func testSnapshot(t *testing.T, b Backend) {
	s := open(t, b)
	r := rand.New(rand.NewPCG(14, 14))
	commit(t, s, store.CreateBank(store.Bank{Name: "s", Description: "before"}))
	var ids []uint64
	for range 10 {
		ids = append(ids, add(t, s, RandomImage(r, "s")).ID)
	}
	snap, err := s.Snapshot(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	rev := snap.Revision()
	commit(t, s, store.RemoveEntry(ids[0]), store.UpdateBank("s", store.Bank{Description: "after"}, "description"))
	add(t, s, RandomImage(r, "s"))
	if rev != revision(t, s)-3 {
		t.Errorf("snapshot revision %d, store %d", rev, revision(t, s))
	}
	var got []uint64
	err = snap.Entries(store.ViewFull, func(e *store.Entry) error { got = append(got, e.ID); return nil })
	if err != nil || !slices.Equal(got, ids) {
		t.Errorf("snapshot entries %v (%v), want %v", got, err, ids)
	}
	var banks []store.Bank
	snap.Banks(func(b store.Bank) error { banks = append(banks, b); return nil })
	if len(banks) != 1 || banks[0].Description != "before" || banks[0].Entries != 10 {
		t.Errorf("snapshot banks %+v", banks)
	}
	stop := errors.New("stop")
	if err := snap.Entries(store.ViewBasic, func(*store.Entry) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("an error from fn came back as %v", err)
	}
}

func testNotAliased(t *testing.T, b Backend) {
	s := open(t, b)
	r := rand.New(rand.NewPCG(15, 15))
	commit(t, s, store.CreateBank(store.Bank{Name: "n", Labels: map[string]string{"k": "v"}}))
	in := RandomImage(r, "n")
	got := add(t, s, in)
	in.Labels["group"] = "changed by the caller"
	in.Hashes[0].Bytes[0] ^= 0xff
	got.Labels["group"] = "changed by the reader"
	read, _ := s.Entry(ctx(t), got.ID, store.ViewFull)
	if read.Labels["group"] != "example" || read.Hashes[0].Bytes[0] == in.Hashes[0].Bytes[0] {
		t.Errorf("the stored entry changed with the caller's copies: %v", read.Labels)
	}
	read.Labels["group"] = "x"
	again, _ := s.Entry(ctx(t), got.ID, store.ViewFull)
	if again.Labels["group"] != "example" {
		t.Errorf("a read's labels alias the store's")
	}
	bank, _ := s.Bank(ctx(t), "n")
	bank.Labels["k"] = "x"
	if again, _ := s.Bank(ctx(t), "n"); again.Labels["k"] != "v" {
		t.Errorf("a read's bank labels alias the store's")
	}
}

func testReopen(t *testing.T, b Backend) {
	if b.Reopen == nil {
		t.Skip("this backend cannot be reopened by the suite")
	}
	s := b.New(t)
	r := rand.New(rand.NewPCG(16, 16))
	commit(t, s, store.CreateBank(store.Bank{Name: "r", Thresholds: map[string]int{"pdq": 25}}))
	var want []*store.Entry
	for range 20 {
		want = append(want, add(t, s, RandomImage(r, "r")))
	}
	want = append(want, add(t, s, RandomVideo(r, "r", 100)))
	commit(t, s, store.RemoveEntry(want[3].ID))
	gone := want[3]
	want = slices.Delete(want, 3, 4)
	rev := revision(t, s)
	log := allChanges(t, s, 0, store.ViewNone)

	s = b.Reopen(t, s)
	t.Cleanup(func() { s.Close() })
	t.Cleanup(func() { check(t, s) })
	if got := revision(t, s); got != rev {
		t.Errorf("revision %d after reopening, was %d", got, rev)
	}
	if again := allChanges(t, s, 0, store.ViewNone); !reflect.DeepEqual(again, log) {
		t.Errorf("the change log differs after reopening")
	}
	for _, w := range want {
		got, err := s.Entry(ctx(t), w.ID, store.ViewFull)
		if err != nil || !reflect.DeepEqual(normalize(got), normalize(w)) {
			t.Errorf("entry %d after reopening: %v", w.ID, err)
		}
	}
	if _, err := s.Entry(ctx(t), gone.ID, store.ViewFull); !errors.Is(err, store.ErrEntryNotFound) {
		t.Errorf("the removed entry after reopening: %v", err)
	}
	if bank, _ := s.Bank(ctx(t), "r"); bank.Thresholds["pdq"] != 25 || bank.Entries != int64(len(want)) {
		t.Errorf("bank after reopening: %+v", bank)
	}
	// Identity, ids and revisions carry on where they were.
	if res := commit(t, s, store.AddEntry(want[0])); !res.Results[0].Existed {
		t.Errorf("re-adding after reopening made a new entry")
	}
	e := add(t, s, RandomImage(r, "r"))
	if e.ID <= want[len(want)-1].ID || e.Revision != rev+1 {
		t.Errorf("after reopening: id %d (last was %d), revision %d (was %d)", e.ID, want[len(want)-1].ID, e.Revision, rev)
	}
	// The removed entry's identity is free again.
	if res := commit(t, s, store.AddEntry(gone)); res.Results[0].Existed {
		t.Errorf("a removed entry's identity was still taken")
	}
}

func testClosed(t *testing.T, b Backend) {
	s := b.New(t)
	commit(t, s, store.CreateBank(store.Bank{Name: "c"}))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Commit(ctx(t), "tester", store.CreateBank(store.Bank{Name: "d"}))
	wantErr(t, err, store.ErrClosed, "commit after close")
	_, err = s.Bank(ctx(t), "c")
	wantErr(t, err, store.ErrClosed, "read after close")
	_, err = s.Changes(ctx(t), 0, 10, store.ViewNone)
	wantErr(t, err, store.ErrClosed, "changes after close")
	resp := <-s.Watch(ctx(t), 0, store.ViewNone)
	wantErr(t, resp.Err, store.ErrClosed, "watch after close")
	if err := s.Close(); err != nil {
		t.Errorf("a second close: %v", err)
	}
}

// testEntriesOfBanks lists the entries of some banks (EntryQuery.Banks):
// theirs alone, in id order across them, after a position, with unknown
// and repeated banks skipped.
func testEntriesOfBanks(t *testing.T, b Backend) {
	s := open(t, b)
	r := rand.New(rand.NewPCG(5, 5))
	commit(t, s, store.CreateBank(store.Bank{Name: "a"}), store.CreateBank(store.Bank{Name: "b"}), store.CreateBank(store.Bank{Name: "c"}))
	var want []uint64
	for i := range 15 {
		e := add(t, s, RandomImage(r, []string{"a", "b", "c"}[i%3]))
		if e.Bank != "b" {
			want = append(want, e.ID)
		}
	}
	list := func(q store.EntryQuery, max int) []uint64 {
		t.Helper()
		var got []uint64
		err := s.ListEntries(ctx(t), q, func(e *store.Entry) bool {
			if e.Bank == "b" {
				t.Errorf("listing banks %v returned entry %d of bank b", q.Banks, e.ID)
			}
			got = append(got, e.ID)
			return len(got) < max
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := list(store.EntryQuery{Banks: []string{"c", "a", "nope", "a"}, View: store.ViewBasic}, 100); !slices.Equal(got, want) {
		t.Errorf("entries of a and c: %v, want %v", got, want)
	}
	if got := list(store.EntryQuery{Banks: []string{"a", "c"}, After: want[3], View: store.ViewBasic}, 3); !slices.Equal(got, want[4:7]) {
		t.Errorf("3 entries of a and c after %d: %v, want %v", want[3], got, want[4:7])
	}
	if got := list(store.EntryQuery{Banks: []string{"nope"}}, 100); len(got) != 0 {
		t.Errorf("entries of an unknown bank: %v", got)
	}
}

// testBankLimit: a store holds at most MaxBanks banks; deleting one makes
// room for another.
func testBankLimit(t *testing.T, b Backend) {
	s := open(t, b)
	ops := make([]store.Op, store.MaxBanks)
	for i := range ops {
		ops[i] = store.CreateBank(store.Bank{Name: fmt.Sprintf("b%d", i)})
	}
	commit(t, s, ops...)
	_, err := s.Commit(ctx(t), "tester", store.CreateBank(store.Bank{Name: "one-more"}))
	wantErr(t, err, store.ErrInvalid, "a bank past MaxBanks")
	commit(t, s, store.DeleteBank("b0", false))
	commit(t, s, store.CreateBank(store.Bank{Name: "one-more"}))
}

// testUpdatePathLimit: an update names at most MaxUpdatePaths paths, for a
// bank and for an entry alike.
func testUpdatePathLimit(t *testing.T, b Backend) {
	s := open(t, b)
	r := rand.New(rand.NewPCG(7, 7))
	res := commit(t, s, store.CreateBank(store.Bank{Name: "a"}), store.AddEntry(RandomImage(r, "a")))
	id := res.Results[1].Entry.ID
	paths := make([]string, store.MaxUpdatePaths+1)
	for i := range paths {
		paths[i] = fmt.Sprintf("labels.k%d", i)
	}
	_, err := s.Commit(ctx(t), "tester", store.UpdateBank("a", store.Bank{}, paths...))
	wantErr(t, err, store.ErrInvalid, "a bank update past MaxUpdatePaths")
	_, err = s.Commit(ctx(t), "tester", store.UpdateEntry(id, store.Entry{}, paths...))
	wantErr(t, err, store.ErrInvalid, "an entry update past MaxUpdatePaths")
	commit(t, s, store.UpdateEntry(id, store.Entry{}, paths[:store.MaxUpdatePaths]...))
}
