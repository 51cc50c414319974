package index

import (
	"math/bits"
	"slices"
)

// mih is multi-index hashing (Norouzi, Punjani and Fleet, "Fast Search in
// Hamming Space with Multi-Index Hashing"). Each hash is cut into m
// disjoint 16-bit substrings, and each substring position has a table from
// substring value to the hashes holding it. By the pigeonhole principle a
// hash within radius r of the query has some substring within
// floor(r/m) of the query's: so a search looks up, in every table, the
// values that close to the query's substring and verifies the full
// distance of what it finds. For PDQ at radius 31 that is 16 tables and
// 17 lookups each, instead of comparing with every hash.
//
// When floor(r/m) exceeds maxSubRadius the lookups would outnumber the
// hashes' worth of work, and the search scans linearly instead.
type mih struct {
	words  int
	m      int // substrings per hash
	hashes []Hash
	ids    []uint64
	dead   []bool
	pos    map[uint64]uint32
	nDead  int
	// tables[i][v] lists the positions of the hashes whose substring i is v.
	tables [][][]uint32
}

var _ Searcher = (*mih)(nil)

const (
	subBits = 16
	// maxSubRadius bounds the substring radius searched by lookups: at 2
	// there are 137 values per table; at 3 already 697.
	maxSubRadius = 2
)

// byWeight lists every 16-bit value in order of popcount; weightEnd[w] is
// the number of values of popcount <= w. XORing a substring with the first
// weightEnd[s] masks enumerates its neighbours within distance s.
var byWeight, weightEnd = func() ([]uint16, [subBits + 1]int) {
	vals := make([]uint16, 1<<subBits)
	for i := range vals {
		vals[i] = uint16(i)
	}
	slices.SortStableFunc(vals, func(a, b uint16) int { return bits.OnesCount16(a) - bits.OnesCount16(b) })
	var end [subBits + 1]int
	for i, v := range vals {
		end[bits.OnesCount16(v)] = i + 1
	}
	return vals, end
}()

func buildMIH(words int, ids []uint64, hashes []Hash) *mih {
	x := &mih{words: words, m: words * 64 / subBits, pos: make(map[uint64]uint32, len(ids))}
	x.tables = make([][][]uint32, x.m)
	for i := range x.tables {
		x.tables[i] = make([][]uint32, 1<<subBits)
	}
	// Count first so every bucket is allocated once at its final size.
	counts := make([]uint32, 1<<subBits)
	for i := range x.m {
		clear(counts)
		for _, h := range hashes {
			counts[x.sub(&h, i)]++
		}
		for v, c := range counts {
			if c > 0 {
				x.tables[i][v] = make([]uint32, 0, c)
			}
		}
	}
	for i := range ids {
		x.Insert(ids[i], hashes[i])
	}
	return x
}

// sub returns substring i of h, counting from the most significant bits.
func (x *mih) sub(h *Hash, i int) uint16 {
	return uint16(h[i/4] >> (48 - 16*(i%4)))
}

func (x *mih) Len() int { return len(x.pos) }

func (x *mih) Insert(id uint64, h Hash) {
	if _, ok := x.pos[id]; ok {
		x.Delete(id, h)
	}
	p := uint32(len(x.hashes))
	x.hashes = append(x.hashes, h)
	x.ids = append(x.ids, id)
	x.dead = append(x.dead, false)
	x.pos[id] = p
	for i := range x.m {
		v := x.sub(&h, i)
		x.tables[i][v] = append(x.tables[i][v], p)
	}
}

// Delete marks the hash dead; dead hashes are dropped by a rebuild once
// they outnumber the living.
func (x *mih) Delete(id uint64, _ Hash) bool {
	p, ok := x.pos[id]
	if !ok {
		return false
	}
	delete(x.pos, id)
	x.dead[p] = true
	x.nDead++
	if x.nDead > len(x.pos) && x.nDead > 1024 {
		var ids []uint64
		var hashes []Hash
		for i, dead := range x.dead {
			if !dead {
				ids = append(ids, x.ids[i])
				hashes = append(hashes, x.hashes[i])
			}
		}
		*x = *buildMIH(x.words, ids, hashes)
	}
	return true
}

func (x *mih) Search(q Hash, radius int, fn func(uint64, int) bool) {
	if radius < 0 {
		return
	}
	s := radius / x.m
	if s > maxSubRadius {
		for p := range x.hashes {
			if d := distance(&q, &x.hashes[p], x.words); d <= radius && !x.dead[p] {
				if !fn(x.ids[p], d) {
					return
				}
			}
		}
		return
	}
	var qs [16]uint16
	for i := range x.m {
		qs[i] = x.sub(&q, i)
	}
	masks := byWeight[:weightEnd[s]]
	for i := range x.m {
		table := x.tables[i]
		for _, mask := range masks {
		bucket:
			for _, p := range table[qs[i]^mask] {
				if x.dead[p] {
					continue
				}
				h := &x.hashes[p]
				// Report each hash once: from the first table where it
				// is within s, which is the first one it can be found in.
				for j := range i {
					if bits.OnesCount16(x.sub(h, j)^qs[j]) <= s {
						continue bucket
					}
				}
				if d := distance(&q, h, x.words); d <= radius {
					if !fn(x.ids[p], d) {
						return
					}
				}
			}
		}
	}
}
