package index

import (
	"math/bits"
	"runtime"
	"slices"
	"sync"

	"github.com/mediamatch/mediamatch/internal/yield"
)

// wideMIH is multi-index hashing of 256-bit hashes with wide substrings,
// for large segments: 12 substrings of 21 and 22 bits from 2^22 hashes, 11
// of 23 and 24 bits from 2^23, each with an offsets array, searched to
// floor(r/m) (2 at PDQ's radius 31). At 10M hashes a 24-bit lookup returns
// about one hash in ten million where a 16-bit substring's returns one in
// 65,536: for a PDQ query at radius 31 that is 3,119 lookups and about
// 3,200 hashes verified, against 272 lookups and about 41,000 hashes with
// 16 substrings of 16 bits, and the verifying is what costs (a hash read
// at a random place). It costs memory: the offsets are 128 MiB for 12
// tables and 448 MiB for 11, whatever the segment's size, and the
// positions 48 and 44 B a hash, so at 10M 91 B a hash in all against the
// 16-bit tables' 64, and at 2^22 and 2^23 80 and 100 B.
type wideMIH struct {
	packed
	offs, widths []int // each substring's first bit (from the most significant) and width
	tables       []wideTable
}

// wideTable is one substring's table: pos lists the hashes' positions by
// substring value, and value v's run is pos[offsets[v]:offsets[v+1]].
type wideTable struct {
	pos, offsets []uint32
}

const (
	// wideFrom is the size from which a segment's 256-bit hashes are held
	// in wide tables.
	wideFrom = 1 << 22
	// maxWideRadius bounds the substring radius searched by lookups (at 3
	// there are 2,325 values per 24-bit table); past it the search scans.
	maxWideRadius = 3
)

// wideTables is the number of substrings wide tables of n hashes have: 11
// from 2^23 hashes (the fewest for which floor(31/m) is 2, so the widest
// substrings that radius allows), 12 below; 0, none, under wideFrom.
func wideTables(n int) int {
	switch {
	case n >= 1<<23:
		return 11
	case n >= wideFrom:
		return 12
	}
	return 0
}

// buildWideMIH builds m tables over p's hashes, with substrings of about
// 64*p.words/m bits (the first ones a bit wider when they do not divide
// evenly); each must be at most 32 bits wide.
func buildWideMIH(p packed, m int) *wideMIH {
	total := 64 * p.words
	x := &wideMIH{packed: p, offs: make([]int, m), widths: make([]int, m), tables: make([]wideTable, m)}
	off, maxW := 0, 0
	for i := range m {
		w := total / m
		if i < total%m {
			w++
		}
		x.offs[i], x.widths[i] = off, w
		off += w
		maxW = max(maxW, w)
	}
	// The tables are independent: built by as many goroutines as there
	// are cores, at most 2, each with scratch arrays of 16 B a hash.
	n := p.refs.Len()
	workers := min(runtime.GOMAXPROCS(0), 2, m)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys, tmp := make([]uint64, n), make([]uint64, n)
			var y yield.Counter // builds run beside matches
			for i := w; i < m; i += workers {
				x.tables[i] = x.buildTable(i, keys, tmp, &y)
			}
		}()
	}
	wg.Wait()
	return x
}

// buildTable builds table i, with keys and tmp (one element per hash) as
// scratch: every hash's substring and position as one key, sorted by the
// substring in passes of 8 bits (a stable radix sort, so positions stay in
// order within a value), then the offsets read off the sorted keys. Each
// pass reads one array in order and appends to 256 runs of another; a
// counting sort straight into an offsets array of 2^24 values took a
// cache miss for each of its steps, about 5 times as long at 10M hashes.
func (x *wideMIH) buildTable(i int, keys, tmp []uint64, y *yield.Counter) wideTable {
	w := x.widths[i]
	for k := range keys {
		y.Did(1)
		keys[k] = uint64(x.sub(x.at(k), i))<<32 | uint64(k)
	}
	for shift := 32; shift < 32+w; shift += 8 {
		var starts [257]int
		for _, key := range keys {
			starts[key>>shift&0xff+1]++
		}
		for d := 1; d <= 256; d++ {
			starts[d] += starts[d-1]
		}
		for _, key := range keys {
			y.Did(1)
			d := key >> shift & 0xff
			tmp[starts[d]] = key
			starts[d]++
		}
		keys, tmp = tmp, keys
	}
	pos := make([]uint32, len(keys))
	offsets := make([]uint32, 1<<w+1)
	v := 0 // the next value whose run's start is not set
	for j, key := range keys {
		for val := int(key >> 32); v <= val; v++ {
			offsets[v] = uint32(j)
		}
		pos[j] = uint32(key)
	}
	for ; v < len(offsets); v++ {
		offsets[v] = uint32(len(keys))
	}
	return wideTable{pos: pos, offsets: offsets}
}

// sub returns substring i of the hash words h.
func (x *wideMIH) sub(h []uint64, i int) uint32 {
	off, w := x.offs[i], x.widths[i]
	k, b := off/64, off%64
	v := h[k] << b
	if b+w > 64 {
		v |= h[k+1] >> (64 - b)
	}
	return uint32(v >> (64 - w))
}

func (x *wideMIH) Search(q Hash, radius int, fn func(uint64, int) bool) {
	if radius < 0 {
		return
	}
	m := len(x.tables)
	s := radius / m
	if s > maxWideRadius {
		x.scan(q, radius, fn)
		return
	}
	qs := make([]uint32, m)
	for i := range m {
		qs[i] = x.sub(q[:], i)
	}
	// A table's lookups first read every run's bounds, loads that do not
	// wait on one another (most are a cache miss), then verify the runs.
	var vals []uint32
	var runs [][2]uint32
	for i := range m {
		t := &x.tables[i]
		vals = neighbours(vals[:0], qs[i], x.widths[i], s)
		runs = slices.Grow(runs[:0], len(vals))[:len(vals)]
		for k, v := range vals {
			runs[k] = [2]uint32{t.offsets[v], t.offsets[v+1]}
		}
		// Report each hash once: from the first table where it is
		// within s, which is the first one it can be found in.
		dup := func(h []uint64) bool {
			for j := range i {
				if bits.OnesCount32(x.sub(h, j)^qs[j]) <= s {
					return true
				}
			}
			return false
		}
		for _, run := range runs {
			if !x.verify(&q, radius, t.pos[run[0]:run[1]], dup, fn) {
				return
			}
		}
	}
}

// neighbours appends to out v and every w-bit value within distance s of
// it (s at most 3).
func neighbours(out []uint32, v uint32, w, s int) []uint32 {
	out = append(out, v)
	for a := 0; a < w && s >= 1; a++ {
		va := v ^ 1<<a
		out = append(out, va)
		for b := a + 1; b < w && s >= 2; b++ {
			vb := va ^ 1<<b
			out = append(out, vb)
			for c := b + 1; c < w && s >= 3; c++ {
				out = append(out, vb^1<<c)
			}
		}
	}
	return out
}

var _ Searcher = (*wideMIH)(nil)
