package index

import (
	"github.com/mediamatch/mediamatch/internal/yield"

	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/store"
)

// KeypointIndex names the search structure of keypoint keys (in Stats,
// Structures and Options.Structures), beside the hash types'. Slot k of an
// entry is its keypoint k.
const KeypointIndex = "keypoints"

// The search structures hold references to hashes rather than entry ids:
// the entry id in the high bits and a slot in the low slotBits. Slot 0 is
// the entry's whole-media hash of the type; an image's region hash k is
// slot 1+k; a video's frame i is slot 1+2i for the whole frame and 2+2i for
// its content region.
const slotBits = 20

func ref(id uint64, slot int) uint64 { return id<<slotBits | uint64(slot) }

func splitRef(r uint64) (id uint64, slot int) { return r >> slotBits, int(r & (1<<slotBits - 1)) }

// frameOfSlot returns the frame index a slot refers to, or -1 for slot 0.
func frameOfSlot(slot int) int {
	if slot == 0 {
		return -1
	}
	return (slot - 1) / 2
}

// searched calls fn with every hash of e that the search structures hold:
// its perceptual hashes, its regions' (of matchable quality, and their
// pHashes), its keypoints' keys, and the PDQ hashes of its frames that are
// of matchable quality (frames below it are kept in the store but, as vPDQ
// does, not matched).
func searched(e *store.Entry, fn func(typ string, r uint64, h Hash)) {
	for _, h := range e.Hashes {
		if t, err := hashing.Lookup(h.Type); err == nil && !t.Exact {
			fn(h.Type, ref(e.ID, 0), toHash(h.Bytes))
		}
	}
	for k, r := range e.Regions {
		if r.Quality >= pdqMinQuality {
			fn(hashing.PDQ, ref(e.ID, 1+k), toHash(r.Hash[:]))
		}
		if r.HasPHash {
			fn(hashing.PHash, ref(e.ID, 1+k), toHash(binary.BigEndian.AppendUint64(nil, r.PHash)))
		}
	}
	for k := range e.Keypoints {
		fn(KeypointIndex, ref(e.ID, k), Hash{e.Keypoints[k].Descriptor[0]})
	}
	for i, f := range e.Frames {
		if f.Quality < pdqMinQuality {
			continue
		}
		fn(hashing.PDQ, ref(e.ID, 1+2*i), toHash(f.Hash[:]))
		if f.HasContent {
			fn(hashing.PDQ, ref(e.ID, 2+2*i), toHash(f.Content[:]))
		}
	}
}

func digestKey(b []byte) [32]byte {
	var k [32]byte
	copy(k[:], b)
	return k
}

// segment is the search structures of a run of entries with consecutive
// ids: one per perceptual hash type, plus exact maps for the digests.
// Segments never change once built; the index replaces them whole when it
// merges them.
type segment struct {
	minID, maxID uint64
	entries      int
	hashes       int
	search       map[string]Searcher
	exact        map[string]map[[32]byte][]uint64
	// digests are the tail's exact digests, scanned (a frozen segment has
	// exact instead).
	digests []digestRef
	// counts are the hashes held per structure and digest type.
	counts map[string]int
	// level is the merge level: the tail is frozen at level 0, and four
	// segments of one level merge into one of the next.
	level int
}

// linearBelow is the size under which a segment's structure for a type is
// the linear scan whatever the configuration: a scan of a few thousand
// hashes takes microseconds, and any index costs more than it saves.
const linearBelow = 4096

// segmentBuilder gathers what a segment will hold: per type the refs and
// the hashes packed as the structures keep them.
type segmentBuilder struct {
	minID, maxID uint64
	entries      int
	hashes       map[string]*raw
	exact        map[string]map[[32]byte][]uint64
}

func newSegmentBuilder() *segmentBuilder {
	return &segmentBuilder{hashes: map[string]*raw{}, exact: map[string]map[[32]byte][]uint64{}}
}

// of returns the builder's hashes of type typ.
func (b *segmentBuilder) of(typ string) *raw {
	p := b.hashes[typ]
	if p == nil {
		bits, _ := typeBits(typ)
		p = &raw{words: max(bits/64, 1)}
		b.hashes[typ] = p
	}
	return p
}

func (b *segmentBuilder) span(id uint64) {
	if b.entries == 0 || id < b.minID {
		b.minID = id
	}
	b.maxID = max(b.maxID, id)
	b.entries++
}

// add takes an entry's hashes.
func (b *segmentBuilder) add(e *store.Entry) {
	b.span(e.ID)
	searched(e, func(typ string, r uint64, h Hash) {
		p := b.of(typ)
		p.refs = append(p.refs, r)
		p.hashes = append(p.hashes, h[:p.words]...)
	})
	for _, h := range e.Hashes {
		if t, err := hashing.Lookup(h.Type); err == nil && t.Exact {
			m := b.exact[h.Type]
			if m == nil {
				m = map[[32]byte][]uint64{}
				b.exact[h.Type] = m
			}
			k := digestKey(h.Bytes)
			m[k] = append(m[k], e.ID)
		}
	}
}

// exactIDs calls fn with the entries whose digest of type typ is key.
func (s *segment) exactIDs(typ string, key [32]byte, fn func(id uint64)) {
	for _, id := range s.exact[typ][key] {
		fn(id)
	}
	for _, d := range s.digests {
		if d.typ == typ && d.key == key {
			fn(d.id)
		}
	}
}

// expect makes room for n more hashes of type typ.
func (b *segmentBuilder) expect(typ string, n int) {
	if _, ok := typeBits(typ); !ok || n <= 0 {
		return
	}
	p := b.of(typ)
	if cap(p.refs) == 0 {
		// Exactly: a structure then takes the arrays as they are (pack).
		p.refs, p.hashes = make([]uint64, 0, n), make([]uint64, 0, n*p.words)
		return
	}
	p.refs = slices.Grow(p.refs, n)
	p.hashes = slices.Grow(p.hashes, n*p.words)
}

// reserve makes room for the hashes of segs, which the builder is about to
// take (addSegment): one allocation per type, not one per segment taken.
func (b *segmentBuilder) reserve(segs []*segment) {
	n := map[string]int{}
	for _, s := range segs {
		for typ, srch := range s.search {
			n[typ] += srch.Len()
		}
	}
	for typ, k := range n {
		b.expect(typ, k)
	}
}

// addSegment takes what s holds of the entries live says are live. It
// copies hash runs as they are; the entries it takes are counted in a
// bitmap over the segment's id span.
func (b *segmentBuilder) addSegment(s *segment, live func(id uint64) bool) {
	taken := make([]uint64, (max(s.maxID, s.minID)-s.minID)/64+1)
	take := func(id uint64) {
		if id >= s.minID && id <= s.maxID {
			taken[(id-s.minID)/64] |= 1 << ((id - s.minID) % 64)
		}
	}
	for typ, srch := range s.search {
		src := srch.contents()
		dst := b.of(typ)
		dst.refs = slices.Grow(dst.refs, src.refs.Len())
		dst.hashes = slices.Grow(dst.hashes, len(src.hashes))
		last, lastLive := uint64(0), false
		var y yield.Counter
		src.refs.each(func(i int, r uint64) {
			y.Did(1)
			id, _ := splitRef(r)
			if id != last || i == 0 {
				last, lastLive = id, live(id)
				if lastLive {
					take(id)
				}
			}
			if !lastLive {
				return
			}
			dst.refs = append(dst.refs, r)
			dst.hashes = append(dst.hashes, src.at(i)...)
		})
	}
	for typ, m := range s.exact {
		for k, ids := range m {
			for _, id := range ids {
				if !live(id) {
					continue
				}
				take(id)
				if b.exact[typ] == nil {
					b.exact[typ] = map[[32]byte][]uint64{}
				}
				b.exact[typ][k] = append(b.exact[typ][k], id)
			}
		}
	}
	for _, d := range s.digests {
		if !live(d.id) {
			continue
		}
		take(d.id)
		if b.exact[d.typ] == nil {
			b.exact[d.typ] = map[[32]byte][]uint64{}
		}
		b.exact[d.typ][d.key] = append(b.exact[d.typ][d.key], d.id)
	}
	if s.entries > 0 {
		if b.entries == 0 || s.minID < b.minID {
			b.minID = s.minID
		}
		b.maxID = max(b.maxID, s.maxID)
	}
	for _, w := range taken {
		b.entries += bits.OnesCount64(w)
	}
}

// build makes the segment, with the configured structure for each type
// large enough to need one.
func (b *segmentBuilder) build(structures map[string]Structure, level int) (*segment, error) {
	s := &segment{minID: b.minID, maxID: b.maxID, entries: b.entries, level: level,
		search: map[string]Searcher{}, exact: b.exact, counts: map[string]int{}}
	for typ, m := range b.exact {
		for _, ids := range m {
			s.counts[typ] += len(ids)
		}
	}
	for typ, p := range b.hashes {
		bits, ok := typeBits(typ)
		if !ok || len(p.refs) == 0 {
			continue // an unknown type, or room made for hashes that did not come (expect)
		}
		st := structures[typ]
		if st == "" {
			st = defaultFor(typ, bits, len(p.refs))
		}
		if len(p.refs) < linearBelow {
			st = Linear
		}
		srch, err := buildPacked(st, p.pack())
		if err != nil {
			return nil, fmt.Errorf("index for %s: %w", typ, err)
		}
		s.search[typ] = srch
		s.hashes += len(p.refs)
		s.counts[typ] = len(p.refs)
	}
	return s, nil
}

// halvesFrom is the size from which keypoint keys are held in halves by
// default: its two directories (512 KiB) then cost at most 8 bytes per
// key, and it holds 16 where multi-index hashing holds 24 to 28.
const halvesFrom = 1 << 16

// defaultFor is the structure a segment of n hashes of typ uses when the
// options name none.
func defaultFor(typ string, bits, n int) Structure {
	if typ == KeypointIndex && n >= halvesFrom {
		return Halves
	}
	return DefaultStructure(bits)
}

// typeBits is the width of the hashes a search structure of typ holds.
func typeBits(typ string) (int, bool) {
	if typ == KeypointIndex {
		return 64, true
	}
	t, err := hashing.Lookup(typ)
	if err != nil || t.Exact {
		return 0, false
	}
	return t.Bits, true
}

// pdqMinQuality is the quality below which stored PDQ hashes (regions,
// frames) are not searched and an entry's whole hash is not kept for
// corroboration.
var pdqMinQuality = func() int {
	t, err := hashing.Lookup(hashing.PDQ)
	if err != nil {
		panic(err)
	}
	return t.MinQuality
}()
