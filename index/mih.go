package index

import (
	"math/bits"
	"slices"

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
// The tables are built once, in compressed form: per table a positions
// array (4 bytes per hash) ordered by substring value, and a way to find a
// value's run in it. A table of at least fullTable hashes has an offsets
// array, one entry per substring value (256 KiB), as the paper's; a smaller
// one, where most of those entries would be empty, keeps a directory by the
// value's high byte (1 KiB) and each position's low byte, and finds a
// value's run by a binary search of the low bytes under its high byte: a
// segment of a few thousand hashes then costs a few bytes per hash per
// table, not a fixed 4 MiB for the 16 tables of PDQ. Substrings are
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
	m      int // substrings per hash
	tables []mihTable
}

// mihTable is one substring position's table: pos lists the hashes'
// positions by substring value; a value's run in it is found through
// offsets (large tables) or dir and low (small ones).
type mihTable struct {
	pos []uint32
	// offsets[v] is where value v's run begins, offsets[v+1] where it
	// ends.
	offsets []uint32
	// dir[h] is where the run of values with high byte h begins; low
	// holds each position's low byte (ascending within a high byte's run).
	dir []uint32
	low []uint8
}

// fullTable is the size from which a table has an offsets array: from
// there it costs at most a byte per hash, as the low bytes would.
const fullTable = 1 << (subBits + 2)

// run returns the positions of the hashes whose substring is v.
func (t *mihTable) run(v uint16) []uint32 {
	if t.offsets != nil {
		return t.pos[t.offsets[v]:t.offsets[int(v)+1]]
	}
	a, b := t.dir[v>>8], t.dir[int(v>>8)+1]
	low, lo := t.low[a:b], uint8(v)
	// The first low byte >= lo, then the first > lo.
	i, j := 0, len(low)
	for i < j {
		if h := (i + j) / 2; low[h] < lo {
			i = h + 1
		} else {
			j = h
		}
	}
	k := i
	for k < len(low) && low[k] == lo {
		k++
	}
	return t.pos[a+uint32(i) : a+uint32(k)]
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
	n := p.refs.Len()
	x.tables = make([]mihTable, x.m)
	next := make([]uint32, buckets)
	counts := make([]uint32, buckets+1)
	var y yield.Counter // builds run beside matches
	for i := range x.m {
		clear(counts)
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
		t := &x.tables[i]
		t.pos = pos
		if n >= fullTable {
			t.offsets = slices.Clone(counts)
			continue
		}
		t.dir = make([]uint32, 1<<8+1)
		for h := range t.dir {
			t.dir[h] = counts[h<<8]
		}
		t.low = make([]uint8, n)
		for j, k := range pos {
			t.low[j] = uint8(x.subWords(x.at(int(k)), i))
		}
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
		x.scan(q, radius, fn)
		return
	}
	var qs [len(Hash{}) * 64 / subBits]uint16
	for i := range x.m {
		qs[i] = x.subWords(q[:], i)
	}
	ms := masks[:maskEnd[s]]
	for i := range x.m {
		t := &x.tables[i]
		// Report each hash once: from the first table where it is
		// within s, which is the first one it can be found in.
		dup := func(h []uint64) bool {
			for j := range i {
				if bits.OnesCount16(x.subWords(h, j)^qs[j]) <= s {
					return true
				}
			}
			return false
		}
		for _, mask := range ms {
			if !x.verify(&q, radius, t.run(qs[i]^mask), dup, fn) {
				return
			}
		}
	}
}
