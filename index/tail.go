package index

import (
	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/store"
)

// tail holds the newest entries, those not yet frozen into a segment. It
// only grows while it takes adds: each type's hashes and each digest are
// appended to slices, and the segment a view searches is a prefix of them,
// so publishing an add copies nothing, and a reader of an older view never
// sees an element written after it (appends write past every published
// prefix). A removal of a tail entry rebuilds it.
type tail struct {
	entries []*store.Entry
	refs    map[string][]uint64
	hashes  map[string][]Hash
	digests []digestRef
	n       int // hashes held, for freezing
	minID   uint64
	maxID   uint64
}

// digestRef is one exact digest of a tail entry.
type digestRef struct {
	typ string
	key [32]byte
	id  uint64
}

func newTail() *tail {
	return &tail{refs: map[string][]uint64{}, hashes: map[string][]Hash{}}
}

func (t *tail) add(e *store.Entry) {
	if len(t.entries) == 0 || e.ID < t.minID {
		t.minID = e.ID
	}
	t.maxID = max(t.maxID, e.ID)
	t.entries = append(t.entries, e)
	searched(e, func(typ string, r uint64, h Hash) {
		t.refs[typ] = append(t.refs[typ], r)
		t.hashes[typ] = append(t.hashes[typ], h)
		t.n++
	})
	for _, h := range e.Hashes {
		if ty, err := hashing.Lookup(h.Type); err == nil && ty.Exact {
			t.digests = append(t.digests, digestRef{typ: h.Type, key: digestKey(h.Bytes), id: e.ID})
		}
	}
}

// without returns a new tail of t's entries but the one with id, and
// whether t held it.
func (t *tail) without(id uint64) (*tail, bool) {
	out := newTail()
	found := false
	for _, e := range t.entries {
		if e.ID == id {
			found = true
			continue
		}
		out.add(e)
	}
	return out, found
}

// segment returns the tail as a view searches it: the prefixes of its
// slices as they are now.
func (t *tail) segment() *segment {
	if len(t.entries) == 0 {
		return nil
	}
	s := &segment{minID: t.minID, maxID: t.maxID, entries: len(t.entries), search: map[string]Searcher{},
		digests: t.digests[:len(t.digests):len(t.digests)], counts: map[string]int{}}
	for typ, refs := range t.refs {
		bits, ok := typeBits(typ)
		if !ok {
			continue
		}
		n := len(refs)
		s.search[typ] = &tailSearch{words: bits / 64, refs: refs[:n:n], hashes: t.hashes[typ][:n:n]}
		s.counts[typ] = n
		s.hashes += n
	}
	for _, d := range t.digests {
		s.counts[d.typ]++
	}
	return s
}

// freeze builds the tail's entries into a segment of the configured
// structures.
func (t *tail) freeze(structures map[string]Structure, level int) (*segment, error) {
	b := newSegmentBuilder()
	for _, e := range t.entries {
		b.add(e)
	}
	return b.build(structures, level)
}

// tailSearch is the linear scan over a prefix of the tail's hashes.
type tailSearch struct {
	words  int
	refs   []uint64
	hashes []Hash
}

var _ Searcher = (*tailSearch)(nil)

func (s *tailSearch) Search(q Hash, radius int, fn func(uint64, int) bool) {
	for i := range s.hashes {
		if d := distance(&q, &s.hashes[i], s.words); d <= radius {
			if !fn(s.refs[i], d) {
				return
			}
		}
	}
}

func (s *tailSearch) Len() int { return len(s.refs) }

func (s *tailSearch) contents() *packed {
	p := pack(s.words, s.refs, s.hashes)
	return &p
}
