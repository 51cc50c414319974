package index

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/bolt"
	"github.com/mediamatch/mediamatch/store/storetest"
)

// indexDump is everything an index holds that a match can observe, for
// comparing two indexes: banks, entries' metadata, and the hashes of the
// live entries in every search structure and digest map.
type indexDump struct {
	Banks   map[string]store.Bank
	Entries map[uint64]EntryInfo
	Search  map[string][][2]uint64 // type -> sorted (ref, first hash word)
	Full    map[string]map[uint64]Hash
	Exact   map[string]map[[32]byte][]uint64
}

func dumpIndex(x *Index) indexDump {
	v := x.view.Load()
	d := indexDump{Banks: map[string]store.Bank{}, Entries: map[uint64]EntryInfo{}, Search: map[string][][2]uint64{},
		Full: map[string]map[uint64]Hash{}, Exact: map[string]map[[32]byte][]uint64{}}
	for name, b := range v.banks {
		c := *b
		c.Entries = 0 // a change's value carries the count as it was read; the index never uses it
		d.Banks[name] = c
	}
	live := func(id uint64) *EntryInfo {
		info := v.cat.get(id)
		if !info.visibleAt(v.rev) {
			return nil
		}
		return info
	}
	for _, s := range v.segments {
		for typ, srch := range s.search {
			c := srch.contents()
			for i, r := range c.refs.all() {
				h := c.hash(i)
				id, _ := splitRef(r)
				info := live(id)
				if info == nil {
					continue
				}
				e := *info
				e.added, e.removed = 0, 0
				d.Entries[id] = e
				if d.Full[typ] == nil {
					d.Full[typ] = map[uint64]Hash{}
				}
				if _, dup := d.Full[typ][r]; dup {
					panic(fmt.Sprintf("ref %x of %s held twice", r, typ))
				}
				d.Full[typ][r] = h
				d.Search[typ] = append(d.Search[typ], [2]uint64{r, h[0]})
			}
		}
		addDigest := func(typ string, k [32]byte, id uint64) {
			if live(id) == nil {
				return
			}
			if d.Exact[typ] == nil {
				d.Exact[typ] = map[[32]byte][]uint64{}
			}
			d.Exact[typ][k] = append(d.Exact[typ][k], id)
		}
		for typ, m := range s.exact {
			for k, ids := range m {
				for _, id := range ids {
					addDigest(typ, k, id)
				}
			}
		}
		for _, dr := range s.digests {
			addDigest(dr.typ, dr.key, dr.id)
		}
	}
	for typ := range d.Search {
		slices.SortFunc(d.Search[typ], func(a, b [2]uint64) int { return cmp.Compare(a[0], b[0]) })
	}
	for _, m := range d.Exact {
		for k := range m {
			slices.Sort(m[k])
		}
	}
	return d
}

// randomOps returns one random commit's operations against the banks and
// entries the store holds now.
func randomOps(r *rand.Rand, banks []string, live []uint64) []store.Op {
	var ops []store.Op
	for range 1 + r.IntN(4) {
		switch k := r.IntN(20); {
		case k < 2 || len(banks) == 0:
			ops = append(ops, store.CreateBank(store.Bank{Name: fmt.Sprintf("b%d", r.IntN(1000)), Labels: map[string]string{"k": fmt.Sprint(r.IntN(3))}}))
		case k < 3:
			ops = append(ops, store.DeleteBank(banks[r.IntN(len(banks))], true))
		case k < 5:
			ops = append(ops, store.UpdateBank(banks[r.IntN(len(banks))],
				store.Bank{Disabled: r.IntN(2) == 0, Thresholds: map[string]int{"pdq": 20 + r.IntN(10)}, Description: fmt.Sprint(r.IntN(100))},
				[]string{"disabled", "thresholds.pdq", "description"}[:1+r.IntN(3)]...))
		case k < 8 && len(live) > 0:
			ops = append(ops, store.RemoveEntry(live[r.IntN(len(live))]))
		case k < 10 && len(live) > 0:
			ops = append(ops, store.UpdateEntry(live[r.IntN(len(live))], store.Entry{Labels: map[string]string{"s": fmt.Sprint(r.IntN(5))}}, "labels.s"))
		case k < 11:
			ops = append(ops, store.AddEntry(storetest.RandomVideo(r, banks[r.IntN(len(banks))], 1+r.IntN(8))))
		default:
			ops = append(ops, store.AddEntry(storetest.RandomImage(r, banks[r.IntN(len(banks))])))
		}
	}
	return ops
}

// state lists the banks and live entries of a store, but for those of
// the banks named in except.
func state(t testing.TB, st store.Store, except ...string) (banks []string, live []uint64) {
	t.Helper()
	bs, err := st.ListBanks(context.Background(), "", 10_000)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if !slices.Contains(except, b.Name) {
			banks = append(banks, b.Name)
		}
	}
	err = st.ListEntries(context.Background(), store.EntryQuery{View: store.ViewBasic}, func(e *store.Entry) bool {
		if !slices.Contains(except, e.Bank) {
			live = append(live, e.ID)
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return banks, live
}

// TestFollowEqualsSnapshot is the index's property: an index built from a
// snapshot at revision R and then fed every change after R holds exactly
// what an index built from the final snapshot holds, over thousands of
// random sequences of commits (entries added, updated and removed, banks
// created, updated and deleted), with segments small enough that tails
// freeze, segments merge and removed entries are purged along the way.
func TestFollowEqualsSnapshot(t *testing.T) {
	sequences := 2000
	if testing.Short() {
		sequences = 200
	}
	dir := t.TempDir()
	opts := Options{tailEntries: 3, fanIn: 2}
	var wg sync.WaitGroup
	work := make(chan int)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := range work {
				if t.Failed() {
					continue
				}
				testSequence(t, filepath.Join(dir, fmt.Sprintf("s%d.db", seq)), uint64(seq), opts)
			}
		}()
	}
	for seq := range sequences {
		work <- seq
	}
	close(work)
	wg.Wait()
}

func testSequence(t *testing.T, path string, seed uint64, opts Options) {
	r := rand.New(rand.NewPCG(seed, 99))
	st, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Error(err)
		return
	}
	defer st.Close()
	ctx := context.Background()
	opts.Logger = discard()
	commits := 2 + r.IntN(12)
	startAt := r.IntN(commits)
	var a *Index
	for c := range commits {
		if c == startAt {
			if a, err = New(ctx, st, opts); err != nil {
				t.Error(err)
				return
			}
			defer a.Close()
		}
		banks, live := state(t, st)
		// A commit that fails (an op against a bank deleted earlier in it)
		// changes nothing; the sequence goes on.
		st.Commit(ctx, "test", randomOps(r, banks, live)...)
	}
	revs, _ := st.Revisions(ctx)
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := a.WaitFor(wctx, revs.Current); err != nil {
		t.Errorf("sequence %d: %v", seed, err)
		return
	}
	// Let merges in flight land, then compare with a fresh build.
	waitMerges(a)
	b, err := New(ctx, st, opts)
	if err != nil {
		t.Error(err)
		return
	}
	defer b.Close()
	da, db := dumpIndex(a), dumpIndex(b)
	if !reflect.DeepEqual(da, db) {
		t.Errorf("sequence %d (index from revision %d of %d): followed index differs from a fresh one:\n%s", seed, startAt, revs.Current, diffDumps(da, db))
	}
	if a.Revision() != b.Revision() {
		t.Errorf("sequence %d: revisions %d and %d", seed, a.Revision(), b.Revision())
	}
}

// waitMerges gives a follower's background merges time to finish.
func waitMerges(x *Index) {
	for range 100 {
		n := x.Segments()
		time.Sleep(5 * time.Millisecond)
		if x.Segments() == n {
			return
		}
	}
}

func diffDumps(a, b indexDump) string {
	switch {
	case !reflect.DeepEqual(a.Banks, b.Banks):
		return fmt.Sprintf("banks %+v\nvs    %+v", a.Banks, b.Banks)
	case !reflect.DeepEqual(a.Entries, b.Entries):
		return fmt.Sprintf("%d entries vs %d: %v vs %v", len(a.Entries), len(b.Entries), slices.Sorted(maps.Keys(a.Entries)), slices.Sorted(maps.Keys(b.Entries)))
	case !reflect.DeepEqual(a.Full, b.Full):
		return "searched hashes differ"
	}
	return "digest maps differ"
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// gatedSource is a store whose change feed is held back until release is
// called: a replica that fell behind.
type gatedSource struct {
	*bolt.DB
	gate chan struct{}
}

func (g *gatedSource) Watch(ctx context.Context, after store.Revision, view store.View) <-chan store.WatchResponse {
	out := make(chan store.WatchResponse)
	go func() {
		defer close(out)
		select {
		case <-g.gate:
		case <-ctx.Done():
			return
		}
		for resp := range g.DB.Watch(ctx, after, view) {
			select {
			case out <- resp:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// TestFollowAfterCompaction checks that an index whose revision has been
// compacted away rebuilds itself from a fresh snapshot and then holds what
// a fresh index does.
func TestFollowAfterCompaction(t *testing.T) {
	ctx := context.Background()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "c.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := rand.New(rand.NewPCG(5, 5))
	if _, err := st.Commit(ctx, "t", store.CreateBank(store.Bank{Name: "c"})); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		st.Commit(ctx, "t", store.AddEntry(storetest.RandomImage(r, "c")))
	}
	g := &gatedSource{DB: st, gate: make(chan struct{})}
	a, err := New(ctx, g, Options{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	behind := a.Revision()
	for range 20 {
		banks, live := state(t, st)
		st.Commit(ctx, "t", randomOps(r, banks, live)...)
	}
	revs, _ := st.Revisions(ctx)
	if err := st.Compact(ctx, revs.Current); err != nil {
		t.Fatal(err)
	}
	close(g.gate)
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := a.WaitFor(wctx, revs.Current); err != nil {
		t.Fatal(err)
	}
	if a.Revision() <= behind {
		t.Fatalf("index still at %d", a.Revision())
	}
	b, err := New(ctx, st, Options{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if da, db := dumpIndex(a), dumpIndex(b); !reflect.DeepEqual(da, db) {
		t.Errorf("rebuilt index differs from a fresh one: %s", diffDumps(da, db))
	}
}

// TestMatchWhileWriting runs matches against an index while commits stream
// in (adds, removes, bank changes), under the race detector: every entry
// whose commit has been awaited is found, and a result's labels belong to
// the caller.
func TestMatchWhileWriting(t *testing.T) {
	x := openIndexAt(t, filepath.Join(t.TempDir(), "w.db"), Options{tailEntries: 4, fanIn: 2})
	x.commit(t, store.CreateBank(store.Bank{Name: "b"}))
	r := rand.New(rand.NewPCG(6, 6))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		wr := rand.New(rand.NewPCG(7, 7))
		for ctx.Err() == nil {
			banks, live := state(t, x.st, "b")
			ops := slices.DeleteFunc(randomOps(wr, banks, live), func(op store.Op) bool {
				return op.Bank.Name == "b" || (op.Entry != nil && op.Entry.Bank == "b")
			})
			x.st.Commit(ctx, "w", ops...)
		}
	}()
	for i := range 300 {
		e := storetest.RandomImage(r, "b")
		pdqHash, _ := e.Hash(hashing.PDQ)
		id := addOne(t, x, e)
		if !x.finds(pdqHash, id) {
			t.Fatalf("round %d: entry %d, added and awaited, not found", i, id)
		}
		x.remove(t, id)
		if x.finds(pdqHash, id) {
			t.Fatalf("round %d: removed entry %d still found", i, id)
		}
	}
	cancel()
	wg.Wait()
}

// TestLargeCommitIsAtomic checks that a commit larger than one delivery of
// the feed (here 6,000 adds, then a forced delete of their bank) is never
// half shown: every view the index publishes has none or all of it.
func TestLargeCommitIsAtomic(t *testing.T) {
	x, _ := openTestIndex(t)
	x.commit(t, store.CreateBank(store.Bank{Name: "big"}))
	r := rand.New(rand.NewPCG(12, 12))
	const n = 6000
	ops := make([]store.Op, n)
	for i := range ops {
		ops[i] = store.AddEntry(&store.Entry{Bank: "big", Kind: store.KindImage, Hashes: []hashing.Hash{storetest.RandomHash(r, hashing.PDQ)}})
	}
	seen := map[int]bool{} // entry counts of the views published
	ghost := false         // a view showed entries of the deleted bank
	var mu sync.Mutex
	observe := func() {
		v := x.view.Load()
		_, bankThere := v.banks["big"]
		mu.Lock()
		seen[v.entries] = true
		ghost = ghost || (!bankThere && v.entries != 0)
		mu.Unlock()
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			observe()
		}
	}()
	x.commit(t, ops...)
	observe() // the index has caught up with the adds: this view holds them
	x.commit(t, store.DeleteBank("big", true))
	close(stop)
	<-done
	mu.Lock()
	defer mu.Unlock()
	for count := range seen {
		if count != 0 && count != n {
			t.Errorf("a view showed %d entries: part of a commit", count)
		}
	}
	if ghost {
		t.Error("a view showed entries of the bank after its delete")
	}
	if !seen[n] {
		t.Errorf("no view showed the whole commit (%v)", seen)
	}
}

// TestMergesKeepFewSegments adds entries in commits of 39 tails each, as
// 10k entries are with the default tail of 256: merges of up to maxFanIn
// segments leave each commit's segments of interleaved levels, which must
// still merge, leaving at most fanIn-1 segments per level.
func TestMergesKeepFewSegments(t *testing.T) {
	const tail, fanIn = 4, 4
	x := openIndexAt(t, filepath.Join(t.TempDir(), "mediamatch.db"), Options{tailEntries: tail, fanIn: fanIn})
	x.commit(t, store.CreateBank(store.Bank{Name: "b"}))
	r := rand.New(rand.NewPCG(5, 5))
	const commits, perCommit = 20, 39 * tail
	for range commits {
		x.addAll(t, benchEntries(r, "b", perCommit))
	}
	settle(t, x.Index)
	levels := levelFor(commits*perCommit, tail, fanIn) + 1
	if n, most := x.Segments(), (fanIn-1)*levels+1; n > most {
		var shape []string
		for _, s := range x.view.Load().segments {
			shape = append(shape, fmt.Sprintf("%d/L%d", s.entries, s.level))
		}
		t.Errorf("%d segments, want at most %d: %v", n, most, shape)
	}
	if x.Entries() != commits*perCommit {
		t.Errorf("%d entries, want %d", x.Entries(), commits*perCommit)
	}
}
