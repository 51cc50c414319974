package index

import (
	"cmp"
	"math/bits"
	"slices"

	"github.com/mediamatch/mediamatch/internal/yield"
)

// halves is multi-index hashing of 64-bit hashes with two 32-bit
// substrings, for keypoint keys: searched at radius 3, a key within it of
// the query has a half within 1 of the query's, so a search looks up 33
// values per half. The hashes are kept sorted by value, so the high half's
// table is the hashes themselves; the low half's is an array of positions
// sorted by low half. A directory per half by its top 16 bits narrows each
// lookup to a short run, searched by bisection. Per hash that is 8 bytes of
// hash, 4 of low-half position and 4 of position in the order the hashes
// were given (for their refs, packed as a builder's): 16 bytes, where
// 16-bit multi-index hashing holds 8 of hash and 16 of positions, and its
// buckets hold a 65536th of the hashes each (500 at 32M keys, all
// verified) where these runs hold those equal to the query's half.
//
// Halves answers what the other structures answer, in another order.
type halves struct {
	refs refList
	// keys are the hashes, ascending; orig[i] is key i's position in the
	// order given, which refs follows.
	keys []uint64
	orig []uint32
	// byLow lists the keys' positions by low half, ascending.
	byLow []uint32
	// dirHigh[v] is the first key whose high half's top 16 bits are >= v;
	// dirLow the same in byLow for the low half.
	dirHigh, dirLow []uint32
}

var _ Searcher = (*halves)(nil)

// maxHalfRadius bounds the half radius searched by lookups: 529 values
// per half at 2; beyond, the search scans.
const maxHalfRadius = 2

// masks32 lists every 32-bit value of popcount <= maxHalfRadius in order of
// popcount; masks32End[s] is the number of those of popcount <= s.
var masks32, masks32End = func() ([]uint32, [maxHalfRadius + 1]int) {
	vals := []uint32{0}
	ends := [maxHalfRadius + 1]int{1}
	for i := range 32 {
		vals = append(vals, 1<<i)
	}
	ends[1] = len(vals)
	for i := range 32 {
		for j := i + 1; j < 32; j++ {
			vals = append(vals, 1<<i|1<<j)
		}
	}
	ends[2] = len(vals)
	return vals, ends
}()

func buildHalves(p packed) *halves {
	n := p.refs.Len()
	x := &halves{refs: p.refs, keys: make([]uint64, n), orig: make([]uint32, n), byLow: make([]uint32, n)}
	var y yield.Counter // builds run beside matches
	for i := range x.orig {
		x.orig[i] = uint32(i)
	}
	// Sorted by value, equal values in the order given (the tie-break
	// makes the sort stable).
	slices.SortFunc(x.orig, func(a, b uint32) int {
		y.Did(1)
		return cmp.Or(cmp.Compare(p.hashes[a], p.hashes[b]), cmp.Compare(a, b))
	})
	for i, o := range x.orig {
		x.keys[i] = p.hashes[o]
		x.byLow[i] = uint32(i)
	}
	slices.SortFunc(x.byLow, func(a, b uint32) int {
		y.Did(1)
		return cmp.Or(cmp.Compare(uint32(x.keys[a]), uint32(x.keys[b])), cmp.Compare(a, b))
	})
	x.dirHigh = directory(n, func(i int) uint16 { return uint16(x.keys[i] >> 48) })
	x.dirLow = directory(n, func(i int) uint16 { return uint16(x.keys[x.byLow[i]] >> 16) })
	return x
}

// directory returns, for n values ascending by top(i), the first index of
// each top value (and n at the end).
func directory(n int, top func(i int) uint16) []uint32 {
	dir := make([]uint32, 1<<16+1)
	i := 0
	for v := range 1 << 16 {
		for i < n && int(top(i)) < v {
			i++
		}
		dir[v] = uint32(i)
	}
	dir[1<<16] = uint32(n)
	return dir
}

func (x *halves) Search(q Hash, radius int, fn func(uint64, int) bool) {
	if radius < 0 {
		return
	}
	key := q[0]
	s := radius / 2
	if s > maxHalfRadius {
		for i, k := range x.keys {
			if d := bits.OnesCount64(key ^ k); d <= radius && !fn(x.refs.at(int(x.orig[i])), d) {
				return
			}
		}
		return
	}
	qh, ql := uint32(key>>32), uint32(key)
	ms := masks32[:masks32End[s]]
	for _, mask := range ms {
		v := qh ^ mask
		lo, hi := x.dirHigh[v>>16], x.dirHigh[v>>16+1]
		run := x.keys[lo:hi]
		i, _ := slices.BinarySearchFunc(run, v, func(k uint64, v uint32) int { return cmp.Compare(uint32(k>>32), v) })
		for ; i < len(run) && uint32(run[i]>>32) == v; i++ {
			if d := bits.OnesCount64(key ^ run[i]); d <= radius && !fn(x.refs.at(int(x.orig[int(lo)+i])), d) {
				return
			}
		}
	}
	for _, mask := range ms {
		v := ql ^ mask
		lo, hi := x.dirLow[v>>16], x.dirLow[v>>16+1]
		run := x.byLow[lo:hi]
		i, _ := slices.BinarySearchFunc(run, v, func(p uint32, v uint32) int { return cmp.Compare(uint32(x.keys[p]), v) })
		for ; i < len(run) && uint32(x.keys[run[i]]) == v; i++ {
			k := x.keys[run[i]]
			// Report each key once: those whose high half is within s
			// of the query's were found by the high half.
			if bits.OnesCount32(uint32(k>>32)^qh) <= s {
				continue
			}
			if d := bits.OnesCount64(key ^ k); d <= radius && !fn(x.refs.at(int(x.orig[run[i]])), d) {
				return
			}
		}
	}
}

func (x *halves) Len() int { return x.refs.Len() }

// contents returns the hashes in the order given, as a builder packed them.
func (x *halves) contents() *packed {
	p := &packed{words: 1, refs: x.refs, hashes: make([]uint64, len(x.keys))}
	for i, o := range x.orig {
		p.hashes[o] = x.keys[i]
	}
	return p
}
