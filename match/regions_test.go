package match

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/index"
	"github.com/mediamatch/mediamatch/pdq"
	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/storetest"
)

func pdqHash(h [32]byte, quality int) hashing.Hash {
	return hashing.Hash{Type: hashing.PDQ, Bytes: h[:], Quality: quality}
}

func TestMatchRegions(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	x, _ := openTestIndex(t)
	whole, window := randPDQ(r), randPDQ(r)
	id := addOne(t, x, &store.Entry{Bank: "b", Kind: store.KindImage, Hashes: []hashing.Hash{pdqHash(whole, 100)},
		Regions: []hashing.RegionHash{{Kind: hashing.RegionWindow, Box: hashing.Box{Left: 0.05, Top: 0.05, Width: 0.9, Height: 0.9}, Hash: window, Quality: 100}}})
	windowLimit := x.rules.RegionThresholds[[2]hashing.RegionKind{hashing.RegionWhole, hashing.RegionWindow}]
	contentLimit := x.rules.RegionThresholds[[2]hashing.RegionKind{hashing.RegionContent, hashing.RegionWhole}]
	quarterLimit := x.rules.RegionThresholds[[2]hashing.RegionKind{hashing.RegionWindow, hashing.RegionWhole}]

	// A crop: the query's whole hash near the entry's window.
	for _, c := range []struct {
		flip int
		want bool
	}{{windowLimit, true}, {windowLimit + 1, false}} {
		q := Query{Hashes: []hashing.Hash{pdqHash(flipBits(r, window, c.flip), 100)}, MinQuality: -1}
		res := mustMatch(t, x, q)
		if got := len(res.Matches) == 1; got != c.want {
			t.Fatalf("query %d bits from the window: matches %+v", c.flip, res.Matches)
		}
		if c.want {
			m := res.Matches[0]
			if m.EntryID != id || m.EntryRegion.Kind != hashing.RegionWindow || m.EntryRegion.Box.Width != 0.9 || m.QueryRegion.Kind != hashing.RegionWhole || m.Distance != c.flip {
				t.Errorf("crop match %+v", m)
			}
		}
	}
	// The same hash as a mirrored variant does not match the window: only
	// the image as given is tried against regions.
	d := make([]pdq.Hash, pdq.NumDihedral)
	for i := range d {
		d[i] = randPDQ(r)
	}
	d[pdq.FlipY] = flipBits(r, window, 3)
	if res := mustMatch(t, x, Query{Hashes: []hashing.Hash{pdqHash(d[0], 100)}, Dihedral: d, MinQuality: -1}); len(res.Matches) != 0 {
		t.Errorf("a mirrored variant matched a window: %+v", res.Matches)
	}
	// A caption re-edit: the query's content region near the whole entry.
	q := Query{Hashes: []hashing.Hash{pdqHash(randPDQ(r), 100)}, MinQuality: -1,
		Regions: []hashing.RegionHash{{Kind: hashing.RegionContent, Hash: flipBits(r, whole, contentLimit), Quality: 90}}}
	m := onlyMatch(t, mustMatch(t, x, q), id)
	if m.QueryRegion.Kind != hashing.RegionContent || m.EntryRegion.Kind != hashing.RegionWhole {
		t.Errorf("content match %+v", m)
	}
	// A low-quality region is not used.
	q.Regions[0].Quality = 10
	if res := mustMatch(t, x, q); len(res.Matches) != 0 {
		t.Errorf("low-quality region matched: %+v", res.Matches)
	}
	// A collage quarter within its limit matches, beyond it not.
	for _, c := range []struct {
		flip int
		want bool
	}{{quarterLimit, true}, {quarterLimit + 1, false}} {
		q := Query{Hashes: []hashing.Hash{pdqHash(randPDQ(r), 100)}, MinQuality: -1,
			Regions: []hashing.RegionHash{{Kind: hashing.RegionWindow, Hash: flipBits(r, whole, c.flip), Quality: 100}}}
		if got := len(mustMatch(t, x, q).Matches) == 1; got != c.want {
			t.Errorf("quarter %d bits from the entry: matched %v", c.flip, got)
		}
	}
	// A request threshold caps region thresholds too.
	q = Query{Hashes: []hashing.Hash{pdqHash(flipBits(r, window, 10), 100)}, MinQuality: -1, Thresholds: map[string]int{hashing.PDQ: 9}}
	if res := mustMatch(t, x, q); len(res.Matches) != 0 {
		t.Errorf("window matched at 10 bits with threshold 9: %+v", res.Matches)
	}
}

func TestCorroboration(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	x, _ := openTestIndex(t)
	p := randPDQ(r)
	ph := storetest.RandomHash(r, hashing.PHash)
	id := addOne(t, x, &store.Entry{Bank: "b", Kind: store.KindImage, Hashes: []hashing.Hash{pdqHash(p, 100), ph}})
	near := func(bits int) hashing.Hash {
		b := append([]byte(nil), ph.Bytes...)
		for _, i := range r.Perm(64)[:bits] {
			b[i/8] ^= 1 << (i % 8)
		}
		return hashing.Hash{Type: hashing.PHash, Bytes: b}
	}
	for _, c := range []struct {
		name   string
		pdq    hashing.Hash
		phash  hashing.Hash
		wantID bool
	}{
		{"pHash close, PDQ unrelated", pdqHash(randPDQ(r), 100), near(8), false},
		{"pHash close, PDQ loosely agrees", pdqHash(flipBits(r, p, x.rules.CorroborateDistance), 100), near(8), true},
		{"pHash close, PDQ just too far", pdqHash(flipBits(r, p, x.rules.CorroborateDistance+1), 100), near(8), false},
		{"no usable PDQ, pHash very close", pdqHash(randPDQ(r), 10), near(x.rules.UncorroboratedThreshold), true},
		{"no usable PDQ, pHash close", pdqHash(randPDQ(r), 10), near(x.rules.UncorroboratedThreshold + 1), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := mustMatch(t, x, Query{Hashes: []hashing.Hash{c.pdq, c.phash}, MinQuality: -1, Types: []string{hashing.PHash, hashing.PDQ}})
			found := false
			for _, m := range res.Matches {
				if m.EntryID == id && m.Type == hashing.PHash {
					found = true
				}
			}
			if found != c.wantID {
				t.Errorf("pHash match %v, want %v: %+v", found, c.wantID, res.Matches)
			}
		})
	}
}

// TestMatchRegionPHash checks a crop found through a stored window's pHash:
// corroborated by the window's PDQ hash (which a crop is nearer than the
// whole image's), and not without it.
func TestMatchRegionPHash(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	x, _ := openTestIndex(t)
	whole, window := randPDQ(r), randPDQ(r)
	ph, wph := storetest.RandomHash(r, hashing.PHash), storetest.RandomHash(r, hashing.PHash)
	box := hashing.Box{Left: 0.025, Top: 0.025, Width: 0.95, Height: 0.95}
	id := addOne(t, x, &store.Entry{Bank: "b", Kind: store.KindImage, Hashes: []hashing.Hash{pdqHash(whole, 100), ph},
		Regions: []hashing.RegionHash{{Kind: hashing.RegionWindow, Box: box, Hash: window, Quality: 100, PHash: binary.BigEndian.Uint64(wph.Bytes), HasPHash: true}}})
	near := func(h hashing.Hash, bits int) hashing.Hash {
		b := append([]byte(nil), h.Bytes...)
		for _, i := range r.Perm(64)[:bits] {
			b[i/8] ^= 1 << (i % 8)
		}
		return hashing.Hash{Type: hashing.PHash, Bytes: b}
	}
	for _, c := range []struct {
		name string
		pdq  [32]byte
		want bool
	}{
		{"PDQ loosely agrees with the window", flipBits(r, window, x.rules.CorroborateDistance), true},
		{"PDQ unrelated", randPDQ(r), false},
	} {
		res := mustMatch(t, x, Query{Hashes: []hashing.Hash{pdqHash(c.pdq, 100), near(wph, 8)}, MinQuality: -1})
		if !c.want {
			if len(res.Matches) != 0 {
				t.Errorf("%s: matches %+v", c.name, res.Matches)
			}
			continue
		}
		m := onlyMatch(t, res, id)
		if m.Type != hashing.PHash || m.Distance != 8 || m.EntryRegion.Kind != hashing.RegionWindow || m.EntryRegion.Box != box {
			t.Errorf("%s: match %+v", c.name, m)
		}
	}
	// Removing the entry takes its window's pHash out of the search too.
	x.remove(t, id)
	if res := mustMatch(t, x, Query{Hashes: []hashing.Hash{pdqHash(window, 100), wph}, MinQuality: -1}); len(res.Matches) != 0 {
		t.Errorf("removed entry matched: %+v", res.Matches)
	}
}

// TestMethods checks Rules.Methods: dHash is not sought by default, and is
// when the rules name it.
func TestMethods(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	x, _ := openTestIndex(t)
	p := randPDQ(r)
	dh := storetest.RandomHash(r, hashing.DHash)
	id := addOne(t, x, &store.Entry{Bank: "b", Kind: store.KindImage, Hashes: []hashing.Hash{pdqHash(p, 100), dh}})
	// The query's PDQ loosely agrees (corroboration) without matching.
	q := Query{Hashes: []hashing.Hash{pdqHash(flipBits(r, p, 80), 100), dh}, MinQuality: -1}
	methods := func(m *Matcher) []Method {
		var out []Method
		res, err := m.Match(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, mt := range res.Matches {
			if mt.EntryID == id {
				for _, e := range mt.Evidence {
					out = append(out, e.Method)
				}
			}
		}
		return out
	}
	if x.rules.Methods[MethodDHash] || !x.rules.Methods[MethodPHash] || !x.rules.Methods[MethodPDQ] {
		t.Fatalf("default methods %v", x.rules.Methods)
	}
	if x.rules.Seeks(MethodDHash) || !x.rules.Seeks(MethodPHash) || !x.rules.Seeks(MethodVideo) {
		t.Errorf("Seeks: dhash %v, phash %v, vpdq %v; want false, true, true (video is not governed by Methods)",
			x.rules.Seeks(MethodDHash), x.rules.Seeks(MethodPHash), x.rules.Seeks(MethodVideo))
	}
	if got := methods(x.m); len(got) != 0 {
		t.Errorf("default rules found %v, want nothing (dHash is off)", got)
	}
	rules := x.rules
	rules.Methods = maps.Clone(rules.Methods)
	rules.Methods[MethodDHash] = true
	m, err := New(x.Index, rules)
	if err != nil {
		t.Fatal(err)
	}
	if got := methods(m); !slices.Equal(got, []Method{MethodDHash}) {
		t.Errorf("with dHash on: %v, want [dhash]", got)
	}
}

// TestDegenerateHashes checks Rules.MinDistinctRows: a PDQ hash of a few
// repeating rows (a periodic texture's, measured) is no evidence, whole or
// region, query or entry side.
func TestDegenerateHashes(t *testing.T) {
	grate, err := hex.DecodeString("abff0000abff0000abff0000abff8000aaffa800aaffaaaaaaffaaaaaaffaaaa")
	if err != nil {
		t.Fatal(err)
	}
	g := index.HashOf(grate)
	if n := DistinctRows(&g); n != 6 {
		t.Fatalf("grate texture: %d distinct rows, want 6", n)
	}
	r := rand.New(rand.NewPCG(27, 28))
	if h := index.HashOf(func() []byte { b := randPDQ(r); return b[:] }()); DistinctRows(&h) != 16 {
		t.Errorf("a random hash has %d distinct rows", DistinctRows(&h))
	}
	var gh [32]byte
	copy(gh[:], grate)
	x, _ := openTestIndex(t)
	other := randPDQ(r)
	wholeID := addOne(t, x, &store.Entry{Bank: "b", Kind: store.KindImage, Hashes: []hashing.Hash{pdqHash(gh, 100)}})
	regionID := addOne(t, x, &store.Entry{Bank: "b", Kind: store.KindImage, Hashes: []hashing.Hash{pdqHash(other, 100)},
		Regions: []hashing.RegionHash{{Kind: hashing.RegionContent, Hash: gh, Quality: 100}}})
	found := func(m *Matcher, q Query) map[uint64]bool {
		res, err := m.Match(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		out := map[uint64]bool{}
		for _, mt := range res.Matches {
			out[mt.EntryID] = true
		}
		return out
	}
	queries := map[string]Query{
		"whole": {Hashes: []hashing.Hash{pdqHash(gh, 100)}, MinQuality: -1},
		"region": {Hashes: []hashing.Hash{pdqHash(randPDQ(r), 100)}, MinQuality: -1,
			Regions: []hashing.RegionHash{{Kind: hashing.RegionContent, Hash: gh, Quality: 100}}},
	}
	for name, q := range queries {
		if got := found(x.m, q); len(got) != 0 {
			t.Errorf("%s query with the grate's hash matched %v", name, got)
		}
	}
	rules := x.rules
	rules.MinDistinctRows = 0
	m, err := New(x.Index, rules)
	if err != nil {
		t.Fatal(err)
	}
	if got := found(m, queries["whole"]); !got[wholeID] || !got[regionID] {
		t.Errorf("without the rule the whole query found %v, want %d and %d", got, wholeID, regionID)
	}
	if got := found(m, queries["region"]); !got[wholeID] || !got[regionID] {
		t.Errorf("without the rule the region query found %v, want %d and %d", got, wholeID, regionID)
	}
}
