package match

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/index"
	"github.com/mediamatch/mediamatch/pdq"
	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/bolt"
)

// testIndex is an index over a real bbolt store with a matcher over it:
// writes go to the store and are awaited through the feed.
type testIndex struct {
	*index.Index
	st         *bolt.DB
	path       string
	m          *Matcher
	rules      Rules
	structures map[string]index.Structure
}

// thresholdRules are the default rules with a calibration under which all
// evidence the search rules find matches: the tests of the methods check
// what each finds and leaves, apart from how the decision weighs it.
func thresholdRules(t testing.TB) Rules {
	t.Helper()
	counts := map[Method][]int64{}
	for _, m := range []Method{MethodPDQ, MethodRegion} {
		counts[m] = make([]int64, 33)
	}
	for _, m := range []Method{MethodPHash, MethodDHash} {
		counts[m] = make([]int64, 11)
	}
	counts[MethodKeypoints] = make([]int64, 257)
	counts[MethodPixels] = make([]int64, PixelSteps+1)
	cal, err := Calibrate("no false match in 1e12 pairs", 1e12, counts)
	if err != nil {
		t.Fatal(err)
	}
	r := DefaultRules()
	r.Calibration = cal
	r.Methods[MethodPixels] = true // not sought by default until calibrated
	return r
}

// openIndexAt opens the store at path with an index (structures: nil for
// the defaults) and a matcher with rules.
func openIndexAt(t testing.TB, path string, rules Rules, structures map[string]index.Structure) *testIndex {
	t.Helper()
	st, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	x, err := index.New(context.Background(), st, index.Options{Structures: structures, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	m, err := New(x, rules)
	if err != nil {
		t.Fatal(err)
	}
	ti := &testIndex{Index: x, st: st, path: path, m: m, rules: rules, structures: structures}
	t.Cleanup(func() { ti.Close() })
	return ti
}

// openTestIndex opens an index on a new store holding one bank, "b", with
// thresholdRules.
func openTestIndex(t testing.TB) (*testIndex, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mediamatch.db")
	x := openIndexAt(t, path, thresholdRules(t), nil)
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
	return openIndexAt(t, x.path, x.rules, x.structures)
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

// flatMatch is one entry's evidence by one method, with the entry's
// fields: what the method tests look at.
type flatMatch struct {
	Evidence
	EntryID uint64
	Bank    string
	Labels  map[string]string
	Kind    store.MediaKind
	Score   float64
	Tier    Tier
}

// flatResult is a Result with one row per entry and method.
type flatResult struct {
	Matches    []flatMatch
	Entries    int
	LowQuality bool
	Truncated  bool
}

func flatten(res Result) flatResult {
	out := flatResult{Entries: len(res.Matches), LowQuality: res.LowQuality, Truncated: res.Truncated}
	for _, m := range res.Matches {
		for _, e := range m.Evidence {
			out.Matches = append(out.Matches, flatMatch{Evidence: e, EntryID: m.EntryID, Bank: m.Bank, Labels: m.Labels, Kind: m.Kind, Score: m.Score, Tier: m.Tier})
		}
	}
	return out
}

// Match matches with a background context, one row per entry and method.
func (x *testIndex) Match(q Query) (flatResult, error) {
	res, err := x.m.Match(context.Background(), q)
	return flatten(res), err
}

func mustMatch(t testing.TB, x *testIndex, q Query) flatResult {
	t.Helper()
	res, err := x.Match(q)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// randomPDQ is a random 256-bit hash.
func randomPDQ(r *rand.Rand) pdq.Hash {
	var h pdq.Hash
	for i := range h {
		h[i] = byte(r.Uint32())
	}
	return h
}

// pdqOf unpacks a search-structure hash.
func pdqOf(h index.Hash) pdq.Hash {
	var b pdq.Hash
	for w := range 4 {
		for k := range 8 {
			b[8*w+k] = byte(h[w] >> (56 - 8*k))
		}
	}
	return b
}

var _ = hashing.PDQ
