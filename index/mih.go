package index

import (
	"math/bits"

	"github.com/mediamatch/mediamatch/internal/yield"
)

// mih is multi-index hashing (Norouzi, Punjani and Fleet, "Fast Search in
// Hamming Space with Multi-Index Hashing"). Each hash is cut into m
// disjoint substrings, and each substring position has a table from
// substring value to the hashes holding it. By the pigeonhole principle a
// hash within radius r of the query has some substring within floor(r/m)
// of the query's: so a search looks up, in every table, the values that
// close to the query's substring and verifies the full distance of what it
// finds. For PDQ at radius 31 with 16-bit substrings that is 16 tables and
// 17 lookups each, instead of comparing with every hash.
//
// The tables are built once, in compressed form: per table an offsets
// array (one entry per substring value, 256 KiB) into a positions array,
// so memory is 4 bytes per hash per table plus the offsets. Substrings are
// 16 bits: about log2 of the size of the segments that use multi-index
// hashing (the index scans smaller ones), as the paper recommends. Eight
// bits were tried for segments under 64k hashes and measured far slower:
// each lookup then returns a 256th of the hashes, not a 65536th, and
// verifying them dominated matches.
//
// When floor(r/m) exceeds maxSubRadius the lookups would outnumber the
// hashes' worth of work, and the search scans linearly instead.
type mih struct {
	packed
	m       int // substrings per hash
	offsets [][]uint32
	pos     [][]uint32
}

var _ Searcher = (*mih)(nil)

// maxSubRadius bounds the substring radius searched by lookups: at 2
// there are 137 values per 16-bit table; at 3 already 697.
const maxSubRadius = 2

// subBits is the width of a substring.
const subBits = 16

// masks lists every subBits-bit value of popcount <= maxSubRadius in order
// of popcount; maskEnd[s] is the number of those of popcount <= s. XORing a
// substring with the first maskEnd[s] masks enumerates its neighbours
// within distance s.
var masks, maskEnd = func() ([]uint16, [maxSubRadius + 1]int) {
	var vals []uint16
	var ends [maxSubRadius + 1]int
	for c := range maxSubRadius + 1 {
		for v := range 1 << subBits {
			if bits.OnesCount16(uint16(v)) == c {
				vals = append(vals, uint16(v))
			}
		}
		ends[c] = len(vals)
	}
	return vals, ends
}()

func buildMIH(p packed) *mih {
	x := &mih{packed: p, m: p.words * 64 / subBits}
	buckets := 1 << subBits
	n := len(p.refs)
	x.offsets = make([][]uint32, x.m)
	x.pos = make([][]uint32, x.m)
	next := make([]uint32, buckets)
	var y yield.Counter // builds run beside matches
	for i := range x.m {
		counts := make([]uint32, buckets+1)
		for k := range n {
			y.Did(1)
			counts[int(x.subWords(x.at(k), i))+1]++
		}
		for v := 1; v <= buckets; v++ {
			counts[v] += counts[v-1]
		}
		pos := make([]uint32, n)
		copy(next, counts[:buckets])
		for k := range n {
			y.Did(1)
			v := x.subWords(x.at(k), i)
			pos[next[v]] = uint32(k)
			next[v]++
		}
		x.offsets[i], x.pos[i] = counts, pos
	}
	return x
}

// subWords returns substring i of the hash words h, counting from the
// most significant bits.
func (x *mih) subWords(h []uint64, i int) uint16 {
	bit := i * subBits
	return uint16(h[bit/64] >> (64 - subBits - bit%64))
}

func (x *mih) Search(q Hash, radius int, fn func(uint64, int) bool) {
	if radius < 0 {
		return
	}
	s := radius / x.m
	if s > maxSubRadius {
		for p, r := range x.refs {
			if d := distanceWords(&q, x.at(p)); d <= radius {
				if !fn(r, d) {
					return
				}
			}
		}
		return
	}
	var qs [len(Hash{}) * 64 / subBits]uint16
	for i := range x.m {
		qs[i] = x.subWords(q[:], i)
	}
	ms := masks[:maskEnd[s]]
	for i := range x.m {
		offsets, pos := x.offsets[i], x.pos[i]
		for _, mask := range ms {
			v := int(qs[i] ^ mask)
		bucket:
			for _, p := range pos[offsets[v]:offsets[v+1]] {
				h := x.at(int(p))
				d := distanceWords(&q, h)
				if d > radius {
					continue // most candidates: cheaper to rule out first
				}
				// Report each hash once: from the first table where it
				// is within s, which is the first one it can be found in.
				for j := range i {
					if bits.OnesCount16(x.subWords(h, j)^qs[j]) <= s {
						continue bucket
					}
				}
				if !fn(x.refs[p], d) {
					return
				}
			}
		}
	}
}
