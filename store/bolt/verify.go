package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/mediamatch/mediamatch/store"
)

// The bbolt file format (version 2), as far as verification reads it. A
// file is pages; page 0 and 1 are meta pages, each naming the root bucket's
// page, the freelist page and the high-water mark of the commit it ends.
// Every page starts with a 16-byte header; branch and leaf pages hold an
// array of 16-byte elements, each locating its key (and a leaf's value) by
// an offset from the element itself.
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	pageHeaderSize = 16
	elementSize    = 16
	metaSize       = 56 // magic .. txid, before the checksum
	bucketHeader   = 16 // root page id, sequence

	flagBranch   = 0x01
	flagLeaf     = 0x02
	flagMeta     = 0x04
	flagFreelist = 0x10
	flagBucket   = 0x01 // leaf element: the value is a bucket

	noFreelist = ^uint64(0)
	// maxDepth bounds the depth of a bucket's B+tree and of nested
	// buckets: far beyond any real tree, short of a stack overflow.
	maxDepth = 64
)

// errNotBolt is wrapped by verify when the file is not a bbolt database.
var errNotBolt = errors.New("not a bbolt database")

// meta is a decoded meta page.
type meta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	hwm      uint64
	txid     uint64
}

// fileSummary is what verification learned: the number of records in each
// top-level bucket (nested buckets' records counted in their top-level
// bucket) and the meta bucket's values.
type fileSummary struct {
	records map[string]uint64
	meta    map[string][]byte
	// pages is the number of pages the last commit spans (its high-water
	// mark); the file may be longer.
	pages    uint64
	pageSize int
}

// verifier checks a bbolt file's structure without trusting any of it:
// every offset, size and page id is checked before it is used, every page
// may be reached once only, and every page below the high-water mark is
// either reachable or free. It is what Tx.Check checks, done without the
// unchecked memory accesses that make a damaged file crash bbolt.
type verifier struct {
	data     []byte
	m        meta
	reached  map[uint64]bool
	freed    map[uint64]bool
	summary  fileSummary
	topLevel string // the top-level bucket being walked
}

// verify checks the bbolt file held in data.
func verify(data []byte) (*fileSummary, error) {
	v := &verifier{data: data, reached: map[uint64]bool{}, freed: map[uint64]bool{},
		summary: fileSummary{records: map[string]uint64{}, meta: map[string][]byte{}}}
	if err := v.run(); err != nil {
		return nil, err
	}
	v.summary.pages, v.summary.pageSize = v.m.hwm, int(v.m.pageSize)
	return &v.summary, nil
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", store.ErrCorrupt, fmt.Sprintf(format, args...))
}

// run checks the file. Both meta pages must be sound. bbolt itself falls
// back to the older meta page when the newer one's checksum fails, to
// survive a meta write torn by a power cut; but the meta fields sit in the
// page's first 72 bytes, inside one disk sector, which is written whole,
// so a bad checksum there means damage, and falling back would silently
// drop the last commit, which was acknowledged. The file is refused
// instead, and the operator decides (the older state is still in it).
func (v *verifier) run() error {
	m0, err0 := readMeta(v.data, 0, 0)
	if errors.Is(err0, errNotBolt) {
		return err0
	}
	if err0 != nil {
		return corrupt("meta page 0: %v", err0)
	}
	m1, err1 := readMeta(v.data, 1, m0.pageSize)
	if err1 != nil {
		return corrupt("meta page 1: %v", err1)
	}
	if m1.pageSize != m0.pageSize {
		return corrupt("meta pages disagree on the page size (%d, %d)", m0.pageSize, m1.pageSize)
	}
	v.m = m0
	if m1.txid > m0.txid {
		v.m = m1
	}
	ps := uint64(v.m.pageSize)
	if v.m.hwm < 3 || v.m.hwm > uint64(len(v.data))/ps {
		return corrupt("the last commit spans %d pages of %d bytes, but the file holds %d bytes: it is truncated", v.m.hwm, ps, len(v.data))
	}
	v.reached[0], v.reached[1] = true, true
	if v.m.freelist != noFreelist {
		if err := v.readFreelist(); err != nil {
			return err
		}
	}
	if err := v.walkPage(v.m.root, 0, nil, nil, 0); err != nil {
		return err
	}
	for id := uint64(2); id < v.m.hwm; id++ {
		if !v.reached[id] && !v.freed[id] && v.m.freelist != noFreelist {
			return corrupt("page %d is neither in use nor free", id)
		}
	}
	return nil
}

// readMeta decodes meta page i, which starts i*pageSize bytes in; page 0's
// own header says the size, so it is read with pageSize 0. The caller
// compares the two pages' sizes.
func readMeta(data []byte, i int, pageSize uint32) (meta, error) {
	off := uint64(i) * uint64(pageSize)
	if uint64(len(data)) < off+pageHeaderSize+metaSize+8 {
		if i == 0 {
			return meta{}, fmt.Errorf("%w: %d bytes, too short for a bbolt file", errNotBolt, len(data))
		}
		return meta{}, fmt.Errorf("file too short for it")
	}
	p := data[off:]
	mb := p[pageHeaderSize:]
	if binary.LittleEndian.Uint32(mb[0:]) != boltMagic {
		if i == 0 {
			return meta{}, fmt.Errorf("%w: no bbolt magic number at the start", errNotBolt)
		}
		return meta{}, fmt.Errorf("no bbolt magic number")
	}
	if binary.LittleEndian.Uint16(p[8:]) != flagMeta {
		return meta{}, fmt.Errorf("not marked as a meta page")
	}
	if v := binary.LittleEndian.Uint32(mb[4:]); v != boltVersion {
		return meta{}, fmt.Errorf("bbolt format version %d, want %d", v, boltVersion)
	}
	h := fnv.New64a()
	h.Write(mb[:metaSize])
	if binary.LittleEndian.Uint64(mb[metaSize:]) != h.Sum64() {
		return meta{}, fmt.Errorf("checksum mismatch")
	}
	m := meta{
		pageSize: binary.LittleEndian.Uint32(mb[8:]),
		root:     binary.LittleEndian.Uint64(mb[16:]),
		freelist: binary.LittleEndian.Uint64(mb[32:]),
		hwm:      binary.LittleEndian.Uint64(mb[40:]),
		txid:     binary.LittleEndian.Uint64(mb[48:]),
	}
	if m.pageSize < 1024 || m.pageSize > 1<<16 || m.pageSize&(m.pageSize-1) != 0 {
		return meta{}, fmt.Errorf("page size %d", m.pageSize)
	}
	return m, nil
}

// page returns the bytes of page id and its overflow pages, after marking
// them reached; it fails on a page out of range, reached twice or free.
func (v *verifier) page(id uint64, want uint16) ([]byte, error) {
	ps := uint64(v.m.pageSize)
	if id < 2 || id >= v.m.hwm {
		return nil, corrupt("page id %d outside 2..%d", id, v.m.hwm-1)
	}
	hdr := v.data[id*ps:]
	if got := binary.LittleEndian.Uint64(hdr); got != id {
		return nil, corrupt("page %d says it is page %d", id, got)
	}
	flags := binary.LittleEndian.Uint16(hdr[8:])
	if flags != want && !(want == flagBranch|flagLeaf && (flags == flagBranch || flags == flagLeaf)) {
		return nil, corrupt("page %d has flags %#x, want %#x", id, flags, want)
	}
	overflow := uint64(binary.LittleEndian.Uint32(hdr[12:]))
	if overflow >= v.m.hwm-id {
		return nil, corrupt("page %d overflows %d pages, past the end", id, overflow)
	}
	for i := id; i <= id+overflow; i++ {
		if v.reached[i] {
			return nil, corrupt("page %d is reached twice", i)
		}
		if v.freed[i] {
			return nil, corrupt("page %d is in use and free", i)
		}
		v.reached[i] = true
	}
	return v.data[id*ps : (id+overflow+1)*ps], nil
}

func (v *verifier) readFreelist() error {
	p, err := v.page(v.m.freelist, flagFreelist)
	if err != nil {
		return fmt.Errorf("freelist: %w", err)
	}
	n, start := uint64(binary.LittleEndian.Uint16(p[10:])), uint64(pageHeaderSize)
	if n == 0xFFFF {
		if len(p) < pageHeaderSize+8 {
			return corrupt("freelist page too short")
		}
		n, start = binary.LittleEndian.Uint64(p[pageHeaderSize:]), pageHeaderSize+8
	}
	if n > (uint64(len(p))-start)/8 {
		return corrupt("freelist claims %d pages, more than its page holds", n)
	}
	for i := range n {
		id := binary.LittleEndian.Uint64(p[start+8*i:])
		if id < 2 || id >= v.m.hwm {
			return corrupt("freelist holds page %d, outside 2..%d", id, v.m.hwm-1)
		}
		if v.freed[id] {
			return corrupt("freelist holds page %d twice", id)
		}
		if v.reached[id] {
			return corrupt("page %d is in use and free", id)
		}
		v.freed[id] = true
	}
	return nil
}

// walkPage checks the B+tree page id of a bucket at nesting depth nest,
// whose keys must lie in [lo, hi) (nil for unbounded).
func (v *verifier) walkPage(id uint64, depth int, lo, hi []byte, nest int) error {
	if depth > maxDepth {
		return corrupt("page %d: tree deeper than %d", id, maxDepth)
	}
	p, err := v.page(id, flagBranch|flagLeaf)
	if err != nil {
		return err
	}
	return v.walkNode(p, fmt.Sprintf("page %d", id), depth, lo, hi, nest)
}

// walkNode checks a branch or leaf node held in p (a page, or an inline
// bucket's page inside a value).
func (v *verifier) walkNode(p []byte, where string, depth int, lo, hi []byte, nest int) error {
	if len(p) < pageHeaderSize {
		return corrupt("%s: too short for a page header", where)
	}
	flags := binary.LittleEndian.Uint16(p[8:])
	count := int(binary.LittleEndian.Uint16(p[10:]))
	if pageHeaderSize+count*elementSize > len(p) {
		return corrupt("%s: %d elements do not fit", where, count)
	}
	var prev []byte
	for i := range count {
		el := pageHeaderSize + i*elementSize
		e := p[el : el+elementSize]
		var pos, ksize, vsize, elFlags uint32
		var child uint64
		if flags == flagBranch {
			pos, ksize = binary.LittleEndian.Uint32(e[0:]), binary.LittleEndian.Uint32(e[4:])
			child = binary.LittleEndian.Uint64(e[8:])
		} else {
			elFlags, pos = binary.LittleEndian.Uint32(e[0:]), binary.LittleEndian.Uint32(e[4:])
			ksize, vsize = binary.LittleEndian.Uint32(e[8:]), binary.LittleEndian.Uint32(e[12:])
		}
		start := uint64(el) + uint64(pos)
		end := start + uint64(ksize) + uint64(vsize)
		if end > uint64(len(p)) {
			return corrupt("%s: element %d reaches past the page", where, i)
		}
		key := p[start : start+uint64(ksize)]
		if (prev != nil && bytes.Compare(prev, key) >= 0) || (lo != nil && bytes.Compare(key, lo) < 0) || (hi != nil && bytes.Compare(key, hi) >= 0) {
			return corrupt("%s: key %d is out of order", where, i)
		}
		prev = key
		if flags == flagBranch {
			var next []byte
			if i+1 < count {
				ne := p[pageHeaderSize+(i+1)*elementSize:]
				npos, nks := binary.LittleEndian.Uint32(ne[0:]), binary.LittleEndian.Uint32(ne[4:])
				ns := uint64(pageHeaderSize+(i+1)*elementSize) + uint64(npos)
				if ns+uint64(nks) > uint64(len(p)) {
					return corrupt("%s: element %d reaches past the page", where, i+1)
				}
				next = p[ns : ns+uint64(nks)]
			} else {
				next = hi
			}
			if err := v.walkPage(child, depth+1, key, next, nest); err != nil {
				return err
			}
			continue
		}
		value := p[start+uint64(ksize) : end]
		if elFlags&flagBucket != 0 {
			if err := v.walkBucket(key, value, where, nest); err != nil {
				return err
			}
			continue
		}
		if elFlags != 0 {
			return corrupt("%s: element %d has flags %#x", where, i, elFlags)
		}
		if nest == 0 {
			return corrupt("%s: a value in the root bucket", where)
		}
		v.summary.records[v.topLevel]++
		if v.topLevel == bucketMeta && nest == 1 {
			v.summary.meta[string(key)] = bytes.Clone(value)
		}
	}
	if flags == flagBranch && count == 0 {
		return corrupt("%s: an empty branch", where)
	}
	return nil
}

// walkBucket checks the bucket stored under key: its header and its tree,
// inline or on pages of its own.
func (v *verifier) walkBucket(key, value []byte, where string, nest int) error {
	if nest+1 > maxDepth {
		return corrupt("%s: buckets nested deeper than %d", where, maxDepth)
	}
	if len(value) < bucketHeader {
		return corrupt("%s: bucket %q has a short header", where, key)
	}
	if nest == 0 {
		v.topLevel = string(key)
	}
	root := binary.LittleEndian.Uint64(value)
	if root == 0 {
		inline := value[bucketHeader:]
		if len(inline) < pageHeaderSize || binary.LittleEndian.Uint16(inline[8:]) != flagLeaf {
			return corrupt("%s: inline bucket %q is not a leaf", where, key)
		}
		return v.walkNode(inline, fmt.Sprintf("inline bucket %q", key), 0, nil, nil, nest+1)
	}
	return v.walkPage(root, 0, nil, nil, nest+1)
}
