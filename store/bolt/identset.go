package bolt

import (
	"bufio"
	"bytes"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// An import's new identities are not written to the identities bucket as
// its entries are staged: identities are digests, random keys, and bbolt
// rewrites every page a transaction touches, so a chunk of random keys
// rewrites nearly every page of the bucket once it holds more pages than
// the chunk has items. identSet keeps them aside instead, as an external
// sort does: a run of identSetRun in memory, sorted and appended to a
// temporary file beside the store when it is full. After the list, the
// runs are merged and the identities written in key order, which bbolt
// takes as appends (each page written once).
//
// A Bloom filter over every identity added answers most "has the list
// held this item already?" questions (a list that repeats an item) in
// memory; a maybe is settled by searching the runs. The filter is of a
// fixed size, so memory does not grow with the list, and blocked: an
// identity's probes all fall in one 64-byte block, so that asking and
// adding cost one cache miss, not one a probe. With identSetBloom bits and
// identSetProbes probes its false positives are about two in a million
// items at a million staged items and one in two hundred at ten million,
// each costing a binary search of every run.
const (
	// identSetRun is the number of identities held in memory (40 bytes
	// each) before they are sorted and spilled as a run.
	identSetRun = 128 << 10
	// identSetBloom is the filter's size in bits (16 MiB).
	identSetBloom = 1 << 27
	// identSetProbes is the number of bits an identity sets, all in one
	// block of identSetBlock bits.
	identSetProbes = 4
	identSetBlock  = 512
	// identSetMergeBuffer bounds the read buffers of a merge, shared by
	// its runs.
	identSetMergeBuffer = 4 << 20
	// identRecordSize is a spilled record: the identity, then the entry id.
	identRecordSize = 40
	// identSetPattern names the temporary files, beside the store.
	identSetPattern = ".import-*"
)

// identRecord is one identity and the entry it names.
type identRecord struct {
	identity [32]byte
	id       uint64
}

func compareIdent(a, b identRecord) int { return bytes.Compare(a.identity[:], b.identity[:]) }

// identRun is a sorted run in the file.
type identRun struct{ off, n int64 }

// identSet is the identities an import has staged.
type identSet struct {
	dir, base string
	run       int      // identities per run: identSetRun, less in tests
	f         *os.File // the runs, created at the first spill
	size      int64
	runs      []identRun
	buf       []identRecord // the run being filled, in list order
	bloom     []uint64
	n         int64
}

// newIdentSet makes an empty set whose runs of run identities (0:
// identSetRun) go to a temporary file in the directory of the store file
// at path.
func newIdentSet(path string, run int) *identSet {
	if run <= 0 {
		run = identSetRun
	}
	return &identSet{dir: filepath.Dir(path), base: filepath.Base(path), run: run, bloom: make([]uint64, identSetBloom/64)}
}

func (s *identSet) probes(identity *[32]byte, fn func(bit uint64) bool) bool {
	// Identities are SHA-256 digests: their bytes are uniform already.
	block := binary.LittleEndian.Uint64(identity[:8]) % (identSetBloom / identSetBlock) * identSetBlock
	in := binary.LittleEndian.Uint64(identity[8:16])
	for range identSetProbes {
		if !fn(block + in%identSetBlock) {
			return false
		}
		in /= identSetBlock
	}
	return true
}

// add records an identity the import has staged, and the entry it names.
func (s *identSet) add(identity [32]byte, id uint64) error {
	s.probes(&identity, func(bit uint64) bool { s.bloom[bit/64] |= 1 << (bit % 64); return true })
	s.buf = append(s.buf, identRecord{identity, id})
	s.n++
	if len(s.buf) < s.run {
		return nil
	}
	return s.spill()
}

// spill sorts the run in memory and appends it to the file.
func (s *identSet) spill() error {
	if s.f == nil {
		f, err := os.CreateTemp(s.dir, s.base+identSetPattern)
		if err != nil {
			return fmt.Errorf("creating the import's temporary file: %w", err)
		}
		// Unlinked at once where the system allows it, so that a crash
		// leaves nothing; elsewhere removeIdentFiles removes it later.
		os.Remove(f.Name())
		s.f = f
	}
	slices.SortFunc(s.buf, compareIdent)
	w := bufio.NewWriterSize(io.NewOffsetWriter(s.f, s.size), 256<<10)
	var rec [identRecordSize]byte
	for _, r := range s.buf {
		copy(rec[:], r.identity[:])
		binary.BigEndian.PutUint64(rec[32:], r.id)
		if _, err := w.Write(rec[:]); err != nil {
			return fmt.Errorf("writing the import's temporary file: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("writing the import's temporary file: %w", err)
	}
	s.runs = append(s.runs, identRun{off: s.size, n: int64(len(s.buf))})
	s.size += int64(len(s.buf)) * identRecordSize
	s.buf = s.buf[:0]
	return nil
}

// has reports whether the set holds an identity.
func (s *identSet) has(identity [32]byte) (bool, error) {
	if !s.probes(&identity, func(bit uint64) bool { return s.bloom[bit/64]&(1<<(bit%64)) != 0 }) {
		return false, nil
	}
	for i := range s.buf {
		if s.buf[i].identity == identity {
			return true, nil
		}
	}
	var rec [identRecordSize]byte
	for _, r := range s.runs {
		lo, hi := int64(0), r.n
		for lo < hi {
			mid := lo + (hi-lo)/2
			if _, err := s.f.ReadAt(rec[:], r.off+mid*identRecordSize); err != nil {
				return false, fmt.Errorf("reading the import's temporary file: %w", err)
			}
			switch c := bytes.Compare(rec[:32], identity[:]); {
			case c == 0:
				return true, nil
			case c < 0:
				lo = mid + 1
			default:
				hi = mid
			}
		}
	}
	return false, nil
}

// close releases the file and the memory.
func (s *identSet) close() error {
	s.buf, s.bloom = nil, nil
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	os.Remove(s.f.Name()) // where it could not be unlinked while open
	s.f = nil
	return err
}

// removeIdentFiles removes what imports' temporary files a crash left
// beside the store file at path (none where they are unlinked at once).
func removeIdentFiles(path string) error {
	names, err := filepath.Glob(filepath.Join(filepath.Dir(path), globEscape(filepath.Base(path))+identSetPattern))
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// globEscape quotes the characters filepath.Match treats specially.
func globEscape(s string) string {
	var b []byte
	for i := range len(s) {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return string(b)
}

// merge returns the set's identities in key order, one a call; it sorts
// the run still in memory, and the set takes no more identities.
func (s *identSet) merge() *identMerge {
	slices.SortFunc(s.buf, compareIdent)
	m := &identMerge{mem: s.buf}
	per := max(4<<10, identSetMergeBuffer/max(1, len(s.runs)))
	per -= per % identRecordSize
	for _, r := range s.runs {
		rr := &runReader{r: bufio.NewReaderSize(io.NewSectionReader(s.f, r.off, r.n*identRecordSize), per), left: r.n}
		if err := rr.advance(); err != nil {
			m.err = err
			return m
		}
		m.h = append(m.h, rr)
	}
	heap.Init(&m.h)
	return m
}

// runReader reads one run of a merge.
type runReader struct {
	r    *bufio.Reader
	left int64
	cur  identRecord
	ok   bool
}

func (r *runReader) advance() error {
	if r.left == 0 {
		r.ok = false
		return nil
	}
	var rec [identRecordSize]byte
	if _, err := io.ReadFull(r.r, rec[:]); err != nil {
		return fmt.Errorf("reading the import's temporary file: %w", err)
	}
	r.left--
	copy(r.cur.identity[:], rec[:32])
	r.cur.id = binary.BigEndian.Uint64(rec[32:])
	r.ok = true
	return nil
}

type runHeap []*runReader

func (h runHeap) Len() int           { return len(h) }
func (h runHeap) Less(i, j int) bool { return compareIdent(h[i].cur, h[j].cur) < 0 }
func (h runHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)        { *h = append(*h, x.(*runReader)) }
func (h *runHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// identMerge yields the identities of the runs and of the sorted run in
// memory, in key order.
type identMerge struct {
	h   runHeap
	mem []identRecord
	err error
}

// next returns the next identity, or false after the last (or an error,
// which err then holds).
func (m *identMerge) next() (identRecord, bool) {
	if m.err != nil {
		return identRecord{}, false
	}
	fromMem := len(m.mem) > 0 && (len(m.h) == 0 || compareIdent(m.mem[0], m.h[0].cur) <= 0)
	switch {
	case fromMem:
		r := m.mem[0]
		m.mem = m.mem[1:]
		return r, true
	case len(m.h) == 0:
		return identRecord{}, false
	}
	top := m.h[0]
	r := top.cur
	if m.err = top.advance(); m.err != nil {
		return identRecord{}, false
	}
	if top.ok {
		heap.Fix(&m.h, 0)
	} else {
		heap.Pop(&m.h)
	}
	return r, true
}
