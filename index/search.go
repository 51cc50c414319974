package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
)

// Hash is a perceptual hash as the search structures take it: up to 256
// bits in four words, most significant first. A 64-bit hash uses word 0.
type Hash [4]uint64

// toHash packs hash bytes (big-endian, as hashing.Hash holds them).
func toHash(b []byte) Hash {
	var h Hash
	for i := 0; i < len(h) && 8*i < len(b); i++ {
		var w [8]byte
		copy(w[:], b[8*i:])
		h[i] = binary.BigEndian.Uint64(w[:])
	}
	return h
}

// distance is the Hamming distance over the first n words.
func distance(a, b *Hash, n int) int {
	d := 0
	for i := range n {
		d += bits.OnesCount64(a[i] ^ b[i])
	}
	return d
}

// distanceWords is distance between a query and a stored hash held as
// its first len(s) words.
func distanceWords(q *Hash, s []uint64) int {
	d := 0
	for i, w := range s {
		d += bits.OnesCount64(q[i] ^ w)
	}
	return d
}

// Searcher finds stored hashes within a Hamming radius of a query. A
// searcher is built once, in bulk, and never changes: any number of
// goroutines may search it at once, and the index replaces it whole.
type Searcher interface {
	// Search calls fn for every stored hash within radius of q, in no
	// particular order, until fn returns false.
	Search(q Hash, radius int, fn func(ref uint64, dist int) bool)
	// Len is the number of stored hashes.
	Len() int
	// contents returns the stored hashes as the structure holds them, for
	// merging segments without unpacking them.
	contents() *packed
}

// Structure names a search structure.
type Structure string

// The search structures.
const (
	// Linear compares the query with every stored hash: no index, no
	// overhead, popcount-bound.
	Linear Structure = "linear"
	// BKTree is a Burkhard-Keller tree in flat arrays.
	BKTree Structure = "bktree"
	// MIH is multi-index hashing (Norouzi et al.): exact lookups of hash
	// substrings, then verification.
	MIH Structure = "mih"
	// Halves is multi-index hashing of 64-bit hashes by their two 32-bit
	// halves over sorted arrays: for keypoint keys, searched at small
	// radii, in two thirds of MIH's memory.
	Halves Structure = "halves"
)

// ErrStructure reports an unknown search structure or hash width.
var ErrStructure = errors.New("no such search structure")

// DefaultStructure is the structure used for hashes of the given width:
// multi-index hashing for both. Measured on clustered hashes (BENCHMARKS.md):
// at 1M 256-bit hashes and radius 31 it answers in 0.41 ms median against
// 9.9 ms for the linear scan and 204 ms for the BK-tree; at 1M 64-bit
// hashes and radius 10, 0.55 ms against 2.5 ms and 105 ms.
func DefaultStructure(bits int) Structure {
	return MIH
}

// Build returns a search structure holding the given hashes under their
// refs.
func Build(s Structure, bits int, refs []uint64, hashes []Hash) (Searcher, error) {
	if bits != 64 && bits != 256 {
		return nil, fmt.Errorf("%w: no search structure for %d-bit hashes", ErrStructure, bits)
	}
	if len(refs) != len(hashes) {
		return nil, fmt.Errorf("%w: %d refs for %d hashes", ErrStructure, len(refs), len(hashes))
	}
	return buildPacked(s, pack(bits/64, refs, hashes))
}

// buildPacked builds a structure over hashes already packed; it keeps p's
// slices.
func buildPacked(s Structure, p packed) (Searcher, error) {
	switch s {
	case Linear:
		return &linear{p}, nil
	case BKTree:
		return buildBKTree(p), nil
	case MIH:
		if m := wideTables(p.refs.Len()); p.words == 4 && m > 0 {
			return buildWideMIH(p, m), nil
		}
		return buildMIH(p), nil
	case Halves:
		if p.words != 1 {
			return nil, fmt.Errorf("%w: halves holds 64-bit hashes, not %d-bit ones", ErrStructure, 64*p.words)
		}
		return buildHalves(p), nil
	}
	return nil, fmt.Errorf("%w: %q (use linear, bktree, mih or halves)", ErrStructure, s)
}

// packed holds hashes as words-long runs of one slice (a 64-bit hash
// costs 8 bytes, not the 32 of a Hash) and their refs, compactly.
type packed struct {
	words  int
	refs   refList
	hashes []uint64
}

// raw is hashes as a builder gathers them: refs unpacked, slices that grow.
type raw struct {
	words  int
	refs   []uint64
	hashes []uint64
}

func pack(words int, refs []uint64, hashes []Hash) packed {
	r := raw{words: words, refs: refs, hashes: make([]uint64, 0, len(hashes)*words)}
	for i := range hashes {
		r.hashes = append(r.hashes, hashes[i][:words]...)
	}
	return r.pack()
}

// pack packs r's refs and takes its hashes, copied to a slice of their
// size if they have spare capacity, so that a structure keeps nothing of
// a builder's: the builder is not used after.
func (r raw) pack() packed {
	h := r.hashes
	if cap(h) != len(h) {
		h = slices.Clone(h[:len(h):len(h)])
	}
	return packed{words: r.words, refs: newRefList(r.refs), hashes: h}
}

func (p *packed) at(i int) []uint64 { return p.hashes[i*p.words : (i+1)*p.words : (i+1)*p.words] }

func (p *packed) hash(i int) Hash {
	var h Hash
	copy(h[:], p.at(i))
	return h
}

func (p *packed) Len() int { return p.refs.Len() }

// scan compares q with every hash, reporting those within radius until fn
// returns false: the linear structure's search, and the multi-index
// structures' when lookups would cost more.
func (p *packed) scan(q Hash, radius int, fn func(uint64, int) bool) {
	for i := range p.refs.Len() {
		if d := distanceWords(&q, p.at(i)); d <= radius {
			if !fn(p.refs.at(i), d) {
				return
			}
		}
	}
}

// verify reports the hashes at positions pos that are within radius of q,
// leaving out those dup says an earlier lookup reported, until fn returns
// false; it reports whether fn never did. Multi-index searches verify each
// lookup's run with it.
func (p *packed) verify(q *Hash, radius int, pos []uint32, dup func(h []uint64) bool, fn func(uint64, int) bool) bool {
	for _, i := range pos {
		h := p.at(int(i))
		d := distanceWords(q, h)
		if d > radius || dup(h) {
			continue // most candidates are too far: cheaper to rule out first
		}
		if !fn(p.refs.at(int(i)), d) {
			return false
		}
	}
	return true
}

func (p *packed) contents() *packed { return p }
