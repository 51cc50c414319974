package index

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

type hit struct {
	id   uint64
	dist int
}

func collect(s Searcher, q Hash, r int) []hit {
	var out []hit
	s.Search(q, r, func(id uint64, d int) bool {
		out = append(out, hit{id, d})
		return true
	})
	slices.SortFunc(out, func(a, b hit) int { return cmp.Compare(a.id, b.id) })
	return out
}

// bruteForce is the reference answer: every live hash, compared directly.
func bruteForce(live map[uint64]Hash, words int, q Hash, r int) []hit {
	var out []hit
	for id, h := range live {
		if d := distance(&q, &h, words); d <= r {
			out = append(out, hit{id, d})
		}
	}
	slices.SortFunc(out, func(a, b hit) int { return cmp.Compare(a.id, b.id) })
	return out
}

func randomHash(r *rand.Rand, words int) Hash {
	var h Hash
	for i := range words {
		h[i] = r.Uint64()
	}
	return h
}

// flip returns h with n random bits of its first words*64 flipped.
func flip(r *rand.Rand, h Hash, words, n int) Hash {
	for range n {
		b := r.IntN(words * 64)
		h[b/64] ^= 1 << (b % 64)
	}
	return h
}

// testData makes random or clustered hashes (clusters: near-duplicates of
// a few centres, as re-encoded copies of the same media are).
func testData(r *rand.Rand, words, n int, clustered bool) []Hash {
	centres := make([]Hash, max(n/50, 1))
	for i := range centres {
		centres[i] = randomHash(r, words)
	}
	out := make([]Hash, n)
	for i := range out {
		if clustered {
			out[i] = flip(r, centres[r.IntN(len(centres))], words, r.IntN(words*64/8))
		} else {
			out[i] = randomHash(r, words)
		}
	}
	return out
}

// TestSearchersMatchBruteForce checks every structure against a brute-force
// scan on random and clustered data, both widths, several radii, with
// inserts and deletes after the bulk build, duplicates included.
func TestSearchersMatchBruteForce(t *testing.T) {
	for _, bits := range []int{64, 256} {
		words := bits / 64
		radii := []int{0, 1, 4, 10, 16}
		if bits == 256 {
			radii = []int{0, 1, 8, 16, 31, 48, 300}
		}
		for _, clustered := range []bool{false, true} {
			for _, st := range []Structure{Linear, BKTree, MIH} {
				t.Run(fmt.Sprintf("%d/clustered=%v/%s", bits, clustered, st), func(t *testing.T) {
					r := rand.New(rand.NewPCG(uint64(bits), 7))
					hashes := testData(r, words, 5000, clustered)
					hashes = append(hashes, hashes[:50]...) // duplicates under other ids
					ids := make([]uint64, len(hashes))
					live := map[uint64]Hash{}
					for i := range ids {
						ids[i] = uint64(i + 1)
						live[ids[i]] = hashes[i]
					}
					s, err := Build(st, bits, ids, hashes)
					if err != nil {
						t.Fatal(err)
					}
					next := uint64(len(ids) + 1)
					for round := range 1500 {
						switch round % 3 {
						case 0: // insert a near-duplicate of a stored hash
							h := flip(r, hashes[r.IntN(len(hashes))], words, r.IntN(12))
							s.Insert(next, h)
							live[next] = h
							next++
						case 1: // delete a random id, sometimes one that is gone
							id := uint64(r.IntN(int(next)) + 1)
							_, wasLive := live[id]
							if got := s.Delete(id, live[id]); got != wasLive {
								t.Fatalf("Delete(%d) = %v, want %v", id, got, wasLive)
							}
							delete(live, id)
						}
						var q Hash
						switch round % 4 {
						case 0:
							q = randomHash(r, words)
						case 1:
							q = hashes[r.IntN(len(hashes))]
						default:
							q = flip(r, hashes[r.IntN(len(hashes))], words, r.IntN(bits/8))
						}
						rad := radii[round%len(radii)]
						if got, want := collect(s, q, rad), bruteForce(live, words, q, rad); !slices.Equal(got, want) {
							t.Fatalf("round %d radius %d: %d hits, want %d", round, rad, len(got), len(want))
						}
					}
					if s.Len() != len(live) {
						t.Errorf("Len = %d, want %d", s.Len(), len(live))
					}
				})
			}
		}
	}
}

func TestSearcherEmptyAndErrors(t *testing.T) {
	for _, st := range []Structure{Linear, BKTree, MIH} {
		s, err := New(st, 256)
		if err != nil {
			t.Fatal(err)
		}
		if got := collect(s, Hash{}, 256); len(got) != 0 || s.Len() != 0 {
			t.Errorf("%s: empty structure returned %v", st, got)
		}
		if s.Delete(1, Hash{}) {
			t.Errorf("%s: deleted from an empty structure", st)
		}
		// Stopping early stops.
		for i := range 10 {
			s.Insert(uint64(i+1), Hash{})
		}
		n := 0
		s.Search(Hash{}, 0, func(uint64, int) bool { n++; return false })
		if n != 1 {
			t.Errorf("%s: fn called %d times after returning false", st, n)
		}
	}
	if _, err := New("kdtree", 256); err == nil {
		t.Error("unknown structure accepted")
	}
	if _, err := New(Linear, 128); err == nil {
		t.Error("128-bit structure accepted")
	}
}

// TestSearchersRebuildAfterDeletes deletes most hashes, enough to make the
// tombstoning structures rebuild, and checks the answers stay exact.
func TestSearchersRebuildAfterDeletes(t *testing.T) {
	for _, st := range []Structure{BKTree, MIH} {
		r := rand.New(rand.NewPCG(9, 9))
		hashes := testData(r, 4, 4000, true)
		ids := make([]uint64, len(hashes))
		live := map[uint64]Hash{}
		for i := range ids {
			ids[i] = uint64(i + 1)
			live[ids[i]] = hashes[i]
		}
		s, err := Build(st, 256, ids, hashes)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids[:3000] {
			if !s.Delete(id, live[id]) {
				t.Fatalf("%s: Delete(%d) = false", st, id)
			}
			delete(live, id)
		}
		if s.Len() != len(live) {
			t.Fatalf("%s: Len = %d, want %d", st, s.Len(), len(live))
		}
		for i := range 300 {
			q := flip(r, hashes[r.IntN(len(hashes))], 4, r.IntN(20))
			rad := []int{0, 16, 31}[i%3]
			if got, want := collect(s, q, rad), bruteForce(live, 4, q, rad); !slices.Equal(got, want) {
				t.Fatalf("%s after rebuild: %d hits, want %d", st, len(got), len(want))
			}
		}
	}
}
