package index

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"time"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/keypoint"
)

// MediaKind says whether an entry is an image or a video.
type MediaKind uint8

// The media kinds.
const (
	KindUnknown MediaKind = iota
	KindImage
	KindVideo
)

// String returns "image", "video" or "unknown".
func (k MediaKind) String() string {
	switch k {
	case KindImage:
		return "image"
	case KindVideo:
		return "video"
	}
	return "unknown"
}

// Bank is a named list of known media, such as one partner's hash list.
type Bank struct {
	// Name identifies the bank: 1-64 of [A-Za-z0-9._-].
	Name string `json:"name"`
	// Description says what the bank holds, for people.
	Description string `json:"description,omitempty"`
	// Labels are attached to the bank as a whole.
	Labels map[string]string `json:"labels,omitempty"`
	// Disabled banks are skipped by a match that names no banks.
	Disabled bool `json:"disabled,omitempty"`
	// Thresholds override the default match distance per hash type.
	Thresholds map[string]int `json:"thresholds,omitempty"`
	// Created and Updated are set by the store.
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// bankName is the rule for bank names: short, printable, safe in URLs,
// file names and metric labels.
var bankName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ValidBankName reports whether name may name a bank.
func ValidBankName(name string) bool { return bankName.MatchString(name) }

// Source records where an entry came from.
type Source struct {
	// Origin names the provider (a partner, a team, a tool).
	Origin string
	// ExternalID is the item's identifier at the origin.
	ExternalID string
	// URI points at the original, if it may be recorded.
	URI string
}

// Frame is the PDQ hash of one video frame.
type Frame struct {
	// Seconds is the frame's time from the start of the video.
	Seconds float64
	// Hash is the frame's PDQ hash.
	Hash [32]byte
	// Quality is the PDQ quality of the frame, 0-100.
	Quality int
	// Content is the PDQ hash of the frame's main content region (without
	// letterbox bars, borders or caption bands), when HasContent is set:
	// frames that have such additions carry both hashes, so that either
	// matches.
	Content    [32]byte
	HasContent bool
}

// MaxRegions bounds the region hashes of one entry.
const MaxRegions = 16

// MaxKeypoints bounds the keypoints of one entry.
const MaxKeypoints = 64

// MaxFrames bounds the frames of one video entry (a day at one frame per
// second, as vPDQ samples, is 86,400).
const MaxFrames = 100_000

// Entry is one known item in a bank: its hashes and what is known of it.
type Entry struct {
	// ID is assigned by the store, in increasing order.
	ID uint64
	// Bank is the name of the bank holding the entry.
	Bank string
	// Kind says whether the hashes are of an image or a video.
	Kind MediaKind
	// Format, Width, Height and Duration describe the media, when known.
	Format        string
	Width, Height int
	Duration      float64
	// Hashes are the item's hashes, at most one per type.
	Hashes []hashing.Hash
	// Frames are the hashes of a video's sampled frames.
	Frames []Frame
	// Regions are PDQ hashes of parts of an image (its picture without
	// bars or captions, central windows), matched in addition to its whole
	// PDQ hash.
	Regions []hashing.RegionHash
	// Keypoints are an image's local features (package keypoint), which
	// find crops of it that no whole-image or region hash does.
	Keypoints []keypoint.Point
	// Labels classify the item (for example "group": "...").
	Labels map[string]string
	// Note is free text for people.
	Note string
	// Source says where the item came from.
	Source Source
	// Created is when the entry was added, and Actor who added it.
	Created time.Time
	Actor   string
}

// Hash returns the entry's hash of the given type, if it has one.
func (e *Entry) Hash(typ string) (hashing.Hash, bool) {
	for _, h := range e.Hashes {
		if h.Type == typ {
			return h, true
		}
	}
	return hashing.Hash{}, false
}

// validate checks an entry about to be stored.
func (e *Entry) validate() error {
	if !ValidBankName(e.Bank) {
		return fmt.Errorf("%w: bank name %q", ErrInvalid, e.Bank)
	}
	if len(e.Hashes) == 0 && len(e.Frames) == 0 {
		return fmt.Errorf("%w: entry has no hashes", ErrInvalid)
	}
	if len(e.Regions) > 0 && len(e.Frames) > 0 {
		return fmt.Errorf("%w: an entry has frames or region hashes, not both", ErrInvalid)
	}
	if len(e.Regions) > MaxRegions {
		return fmt.Errorf("%w: %d region hashes, over the limit of %d", ErrInvalid, len(e.Regions), MaxRegions)
	}
	for i, r := range e.Regions {
		if r.Kind == hashing.RegionWhole || r.Kind > hashing.RegionWindow {
			return fmt.Errorf("%w: region hash %d has kind %v", ErrInvalid, i, r.Kind)
		}
	}
	if len(e.Keypoints) > 0 && len(e.Frames) > 0 {
		return fmt.Errorf("%w: an entry has frames or keypoints, not both", ErrInvalid)
	}
	if len(e.Keypoints) > MaxKeypoints {
		return fmt.Errorf("%w: %d keypoints, over the limit of %d", ErrInvalid, len(e.Keypoints), MaxKeypoints)
	}
	for i, p := range e.Keypoints {
		if !(p.X >= 0 && p.X <= 1 && p.Y >= 0 && p.Y <= 1) {
			return fmt.Errorf("%w: keypoint %d at (%v, %v), outside the image", ErrInvalid, i, p.X, p.Y)
		}
	}
	if len(e.Frames) > MaxFrames {
		return fmt.Errorf("%w: %d frames, over the limit of %d", ErrInvalid, len(e.Frames), MaxFrames)
	}
	for i, f := range e.Frames {
		if math.IsNaN(f.Seconds) || math.IsInf(f.Seconds, 0) || f.Seconds < 0 {
			return fmt.Errorf("%w: frame %d has time %v", ErrInvalid, i, f.Seconds)
		}
		if f.Quality < 0 || f.Quality > 100 {
			return fmt.Errorf("%w: frame %d has quality %d outside 0..100", ErrInvalid, i, f.Quality)
		}
	}
	seen := map[string]bool{}
	for _, h := range e.Hashes {
		t, err := hashing.Lookup(h.Type)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		if len(h.Bytes)*8 != t.Bits {
			return fmt.Errorf("%w: %s hash of %d bytes, want %d", ErrInvalid, h.Type, len(h.Bytes), t.Bits/8)
		}
		if seen[h.Type] {
			return fmt.Errorf("%w: two %s hashes", ErrInvalid, h.Type)
		}
		seen[h.Type] = true
	}
	return nil
}

// identity is what makes two entries of a bank the same item: the same set
// of hashes (types and values; qualities and metadata aside) and frames.
// Adding an item whose identity the bank already holds returns the entry
// already there.
func (e *Entry) identity() [32]byte {
	hs := slices.Clone(e.Hashes)
	slices.SortFunc(hs, func(a, b hashing.Hash) int {
		if a.Type < b.Type {
			return -1
		} else if a.Type > b.Type {
			return 1
		}
		return 0
	})
	d := sha256.New()
	var buf []byte
	for _, h := range hs {
		buf = appendString(buf[:0], h.Type)
		buf = appendBytes(buf, h.Bytes)
		d.Write(buf)
	}
	for _, f := range e.Frames {
		buf = binary.BigEndian.AppendUint64(buf[:0], math.Float64bits(f.Seconds))
		d.Write(buf)
		d.Write(f.Hash[:])
	}
	var out [32]byte
	d.Sum(out[:0])
	return out
}

// The entry record format. A version byte leads so that later fields can be
// added; decoders refuse versions they do not know. Version 2 adds each
// frame's content hash (a flag byte, then 32 bytes when set); version 3
// adds region hashes after the frames; version 4 adds to each region a
// flag byte and, when it is set, the region's pHash (8 bytes); version 5
// adds keypoints after the regions (a count, then per point its position
// as two float32, its level and its 32-byte descriptor).
const (
	entryRecordV1 = 1
	entryRecordV2 = 2
	entryRecordV3 = 3
	entryRecordV4 = 4
	entryRecordV5 = 5
)

// encodeEntry returns the stored form of e (without its id, which is the key).
func encodeEntry(e *Entry) []byte {
	b := make([]byte, 0, 128+len(e.Hashes)*40+len(e.Frames)*44)
	b = append(b, entryRecordV5)
	b = appendString(b, e.Bank)
	b = append(b, byte(e.Kind))
	b = appendString(b, e.Format)
	b = binary.AppendUvarint(b, uint64(e.Width))
	b = binary.AppendUvarint(b, uint64(e.Height))
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(e.Duration))
	b = binary.AppendUvarint(b, uint64(len(e.Hashes)))
	for _, h := range e.Hashes {
		b = appendString(b, h.Type)
		b = appendBytes(b, h.Bytes)
		b = binary.AppendVarint(b, int64(h.Quality))
	}
	b = binary.AppendUvarint(b, uint64(len(e.Frames)))
	for _, f := range e.Frames {
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(f.Seconds))
		b = append(b, f.Hash[:]...)
		b = binary.AppendVarint(b, int64(f.Quality))
		if f.HasContent {
			b = append(b, 1)
			b = append(b, f.Content[:]...)
		} else {
			b = append(b, 0)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(e.Regions)))
	for _, r := range e.Regions {
		b = append(b, byte(r.Kind))
		for _, v := range []float32{r.Box.Left, r.Box.Top, r.Box.Width, r.Box.Height} {
			b = binary.BigEndian.AppendUint32(b, math.Float32bits(v))
		}
		b = append(b, r.Hash[:]...)
		b = binary.AppendVarint(b, int64(r.Quality))
		if r.HasPHash {
			b = append(b, 1)
			b = binary.BigEndian.AppendUint64(b, r.PHash)
		} else {
			b = append(b, 0)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(e.Keypoints)))
	for _, p := range e.Keypoints {
		b = binary.BigEndian.AppendUint32(b, math.Float32bits(p.X))
		b = binary.BigEndian.AppendUint32(b, math.Float32bits(p.Y))
		b = append(b, p.Level)
		for _, w := range p.D {
			b = binary.BigEndian.AppendUint64(b, w)
		}
	}
	keys := slices.Sorted(maps.Keys(e.Labels))
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
		b = appendString(b, e.Labels[k])
	}
	b = appendString(b, e.Note)
	b = appendString(b, e.Source.Origin)
	b = appendString(b, e.Source.ExternalID)
	b = appendString(b, e.Source.URI)
	b = binary.AppendVarint(b, e.Created.UnixNano())
	b = appendString(b, e.Actor)
	return b
}

// decodeEntry parses a record written by encodeEntry.
func decodeEntry(id uint64, data []byte) (*Entry, error) {
	r := reader{b: data}
	version := r.byte()
	if version < entryRecordV1 || version > entryRecordV5 {
		return nil, fmt.Errorf("%w: entry %d has record version %d", ErrCorrupt, id, version)
	}
	e := &Entry{ID: id}
	e.Bank = r.string()
	e.Kind = MediaKind(r.byte())
	e.Format = r.string()
	e.Width = int(r.uvarint())
	e.Height = int(r.uvarint())
	e.Duration = math.Float64frombits(r.uint64())
	if n := r.count(3); n > 0 {
		e.Hashes = make([]hashing.Hash, n)
		for i := range e.Hashes {
			e.Hashes[i] = hashing.Hash{Type: r.string(), Bytes: r.bytes(), Quality: int(r.varint())}
		}
	}
	if n := r.count(41); n > 0 {
		e.Frames = make([]Frame, n)
		for i := range e.Frames {
			f := &e.Frames[i]
			f.Seconds = math.Float64frombits(r.uint64())
			copy(f.Hash[:], r.take(32))
			f.Quality = int(r.varint())
			if version >= entryRecordV2 && r.flag("frame flag") {
				f.HasContent = true
				copy(f.Content[:], r.take(32))
			}
		}
	}
	if version >= entryRecordV3 {
		if n := r.count(1 + 16 + 32 + 1); n > 0 {
			e.Regions = make([]hashing.RegionHash, n)
			for i := range e.Regions {
				g := &e.Regions[i]
				g.Kind = hashing.RegionKind(r.byte())
				g.Box = hashing.Box{
					Left: math.Float32frombits(uint32(r.uint64n(4))), Top: math.Float32frombits(uint32(r.uint64n(4))),
					Width: math.Float32frombits(uint32(r.uint64n(4))), Height: math.Float32frombits(uint32(r.uint64n(4))),
				}
				copy(g.Hash[:], r.take(32))
				g.Quality = int(r.varint())
				if version >= entryRecordV4 && r.flag("region flag") {
					g.PHash, g.HasPHash = r.uint64(), true
				}
			}
		}
	}
	if version >= entryRecordV5 {
		if n := r.count(4 + 4 + 1 + 32); n > 0 {
			e.Keypoints = make([]keypoint.Point, n)
			for i := range e.Keypoints {
				p := &e.Keypoints[i]
				p.X = math.Float32frombits(uint32(r.uint64n(4)))
				p.Y = math.Float32frombits(uint32(r.uint64n(4)))
				p.Level = r.byte()
				for k := range p.D {
					p.D[k] = r.uint64()
				}
			}
		}
	}
	if n := r.count(2); n > 0 {
		e.Labels = make(map[string]string, n)
		for range n {
			k := r.string()
			e.Labels[k] = r.string()
		}
	}
	e.Note = r.string()
	e.Source = Source{Origin: r.string(), ExternalID: r.string(), URI: r.string()}
	e.Created = time.Unix(0, r.varint()).UTC()
	e.Actor = r.string()
	if r.err != nil {
		return nil, fmt.Errorf("%w: entry %d: %v", ErrCorrupt, id, r.err)
	}
	return e, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

// reader decodes a record, remembering the first error so that callers
// check once at the end. Every length is checked against what is left, so
// a corrupt record cannot make it allocate more than the record's size.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("truncated or malformed %s", what)
	}
	r.b = nil
}

func (r *reader) take(n int) []byte {
	if n < 0 || n > len(r.b) {
		r.fail("field")
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

// flag reads a byte that says whether a field follows: 0 or 1.
func (r *reader) flag(what string) bool {
	switch r.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	r.fail(what)
	return false
}

func (r *reader) byte() byte {
	if len(r.b) < 1 {
		r.fail("byte")
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) uint64() uint64 {
	if len(r.b) < 8 {
		r.fail("uint64")
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

// uint64n reads an n-byte big-endian unsigned integer (n <= 8).
func (r *reader) uint64n(n int) uint64 {
	p := r.take(n)
	var v uint64
	for _, c := range p {
		v = v<<8 | uint64(c)
	}
	return v
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("uvarint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a count of items each at least minSize bytes long.
func (r *reader) count(minSize int) int {
	n := r.uvarint()
	if n > uint64(len(r.b)/minSize) {
		r.fail("count")
		return 0
	}
	return int(n)
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail("length")
		return nil
	}
	return append([]byte(nil), r.take(int(n))...)
}

func (r *reader) string() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail("length")
		return ""
	}
	return string(r.take(int(n)))
}
