package index

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
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
// scan on random and clustered data, both widths, several radii and two
// sizes (at the larger one most multi-index buckets hold several hashes),
// duplicates included; and multi-index hashing at a size whose tables have
// offsets arrays, where the smaller ones' have directories.
func TestSearchersMatchBruteForce(t *testing.T) {
	for _, bits := range []int{64, 256} {
		words := bits / 64
		radii := []int{0, 1, 3, 4, 10, 16}
		if bits == 256 {
			radii = []int{0, 1, 8, 16, 31, 48, 300}
		}
		for _, n := range []int{5000, 70000, fullTable} {
			for _, clustered := range []bool{false, true} {
				for _, st := range []Structure{Linear, BKTree, MIH, Halves} {
					if st == Halves && bits != 64 || st == BKTree && n > 5000 || st != MIH && n > 70000 || n > 70000 && (clustered || bits == 64) {
						continue // slow to build, and no size threshold to cross
					}
					t.Run(fmt.Sprintf("%d/n%d/clustered=%v/%s", bits, n, clustered, st), func(t *testing.T) {
						r := rand.New(rand.NewPCG(uint64(bits), uint64(n)))
						hashes := testData(r, words, n, clustered)
						hashes = append(hashes, hashes[:50]...) // duplicates under other refs
						refs := make([]uint64, len(hashes))
						live := map[uint64]Hash{}
						for i := range refs {
							refs[i] = uint64(i+1) << slotBits
							live[refs[i]] = hashes[i]
						}
						s, err := Build(st, bits, refs, hashes)
						if err != nil {
							t.Fatal(err)
						}
						if s.Len() != len(refs) {
							t.Errorf("Len = %d, want %d", s.Len(), len(refs))
						}
						if x, ok := s.(*mih); ok {
							for i, tb := range x.tables {
								if (tb.offsets != nil) != (len(refs) >= fullTable) || (tb.dir != nil) == (tb.offsets != nil) {
									t.Fatalf("table %d of %d hashes: offsets %v, directory %v", i, len(refs), tb.offsets != nil, tb.dir != nil)
								}
							}
						}
						held := map[uint64]Hash{}
						c := s.contents()
						for i, r := range c.refs.all() {
							held[r] = c.hash(i)
						}
						if !maps.Equal(held, live) {
							t.Errorf("the structure holds %d hashes (or other ones), want %d", len(held), len(live))
						}
						// The large size needs fewer queries to fill
						// buckets; it is slow to scan by brute force.
						rounds := 300
						if n > 5000 {
							rounds = 40
						}
						for round := range rounds {
							var q Hash
							switch round % 4 {
							case 0:
								q = randomHash(r, words)
								if round%8 == 0 {
									// Every substring at the last value.
									q = Hash{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}
								}
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
					})
				}
			}
		}
	}
}

func TestSearcherEmptyAndErrors(t *testing.T) {
	for _, st := range []Structure{Linear, BKTree, MIH, Halves} {
		bits := 256
		if st == Halves {
			bits = 64
			if _, err := Build(st, 256, nil, nil); !errors.Is(err, ErrStructure) {
				t.Errorf("256-bit halves: %v", err)
			}
		}
		s, err := Build(st, bits, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := collect(s, Hash{}, 256); len(got) != 0 || s.Len() != 0 {
			t.Errorf("%s: empty structure returned %v", st, got)
		}
		// Stopping early stops.
		refs := make([]uint64, 10)
		for i := range refs {
			refs[i] = uint64(i + 1)
		}
		s, _ = Build(st, bits, refs, make([]Hash, 10))
		n := 0
		s.Search(Hash{}, 0, func(uint64, int) bool { n++; return false })
		if n != 1 {
			t.Errorf("%s: fn called %d times after returning false", st, n)
		}
	}
	if _, err := Build("kdtree", 256, nil, nil); !errors.Is(err, ErrStructure) {
		t.Errorf("unknown structure: %v", err)
	}
	if _, err := Build(Linear, 128, nil, nil); !errors.Is(err, ErrStructure) {
		t.Errorf("128-bit structure: %v", err)
	}
	if _, err := Build(Linear, 64, []uint64{1}, nil); !errors.Is(err, ErrStructure) {
		t.Errorf("refs without hashes: %v", err)
	}
}

// TestWideMIHMatchesBruteForce checks multi-index hashing with wide
// substrings against a brute-force scan: the 11 tables of 23 and 24 bits
// large segments use, and other numbers of tables whose substrings divide
// the hash unevenly and cross its words, on random and clustered data,
// at radii that search to substring distances 0 to 3 and beyond (a scan).
func TestWideMIHMatchesBruteForce(t *testing.T) {
	for _, c := range []struct{ m, n int }{{11, 70000}, {12, 5000}, {13, 5000}, {16, 5000}, {20, 5000}} {
		for _, clustered := range []bool{false, true} {
			t.Run(fmt.Sprintf("m%d/n%d/clustered=%v", c.m, c.n, clustered), func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(c.m), uint64(c.n)))
				hashes := testData(r, 4, c.n, clustered)
				hashes = append(hashes, hashes[:50]...)
				refs := make([]uint64, len(hashes))
				live := map[uint64]Hash{}
				for i := range refs {
					refs[i] = uint64(i+1) << slotBits
					live[refs[i]] = hashes[i]
				}
				s := buildWideMIH(pack(4, refs, hashes), c.m)
				if s.Len() != len(refs) {
					t.Errorf("Len = %d, want %d", s.Len(), len(refs))
				}
				if w := s.offs[c.m-1] + s.widths[c.m-1]; w != 256 {
					t.Fatalf("substrings cover %d bits", w)
				}
				// The substrings, end to end, are the hash.
				for range 20 {
					h := randomHash(r, 4)
					var back Hash
					for i := range c.m {
						v := s.sub(h[:], i)
						for b := range s.widths[i] {
							if v>>(s.widths[i]-1-b)&1 != 0 {
								bit := s.offs[i] + b
								back[bit/64] |= 1 << (63 - bit%64)
							}
						}
					}
					if back != h {
						t.Fatalf("substrings of %x make %x", h, back)
					}
				}
				radii := []int{0, 1, 8, 16, 22, 31, 33, 40, 47, 48, 300}
				for round := range 60 {
					var q Hash
					switch round % 4 {
					case 0:
						q = randomHash(r, 4)
						if round%8 == 0 {
							q = Hash{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}
						}
					case 1:
						q = hashes[r.IntN(len(hashes))]
					default:
						q = flip(r, hashes[r.IntN(len(hashes))], 4, r.IntN(40))
					}
					rad := radii[round%len(radii)]
					if got, want := collect(s, q, rad), bruteForce(live, 4, q, rad); !slices.Equal(got, want) {
						t.Fatalf("round %d radius %d: %d hits, want %d", round, rad, len(got), len(want))
					}
				}
			})
		}
	}
}

// TestMIHWideFrom checks the sizes from which 256-bit segments are held in
// wide tables (12 from 2^22 hashes, 11 from 2^23), and that Build keeps
// smaller ones in 16-bit tables and 64-bit hashes out of wide ones.
func TestMIHWideFrom(t *testing.T) {
	for n, m := range map[int]int{0: 0, 70000: 0, wideFrom - 1: 0, wideFrom: 12, 1<<23 - 1: 12, 1 << 23: 11, 1 << 26: 11} {
		if got := wideTables(n); got != m {
			t.Errorf("wideTables(%d) = %d, want %d", n, got, m)
		}
	}
	r := rand.New(rand.NewPCG(8, 8))
	for _, bits := range []int{64, 256} {
		hashes := testData(r, bits/64, 70000, false)
		refs := make([]uint64, len(hashes))
		for i := range refs {
			refs[i] = uint64(i+1) << slotBits
		}
		s, err := Build(MIH, bits, refs, hashes)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := s.(*mih); !ok {
			t.Errorf("%d-bit, %d hashes: %T, want 16-bit tables", bits, len(hashes), s)
		}
	}
}
