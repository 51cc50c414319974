// Package record is the stored form of mediamatch's banks, entries and
// changes: the one record format every store backend writes.
//
// # Format
//
// A record is a payload in the protocol buffers wire format (tagged
// fields), sealed with a checksum. The payload of each kind is a message
// whose field numbers are fixed in this package (docs/format.md lists
// them): a reader skips the fields it does not know, so a newer writer can
// add fields without older readers refusing the record, and field numbers
// are never reused. A stored value is
//
//	crc32c(context || payload) as 4 bytes, big-endian || payload
//
// where the context is the bucket and key the value is stored under, so a
// record copied to the wrong place fails its check as surely as a flipped
// bit. Decoding refuses a record whose checksum, wire format or field
// values are wrong, with an error wrapping store.ErrCorrupt.
//
// Encoding is deterministic (maps in key order, fields in number order,
// zero values left out), so that golden files stay byte-stable.
package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"math"
	"slices"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/store"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checksum is the CRC-32C of the context (bucket, a zero byte, key) and the
// payload.
func checksum(bucket, key, payload []byte) uint32 {
	c := crc32.Update(0, castagnoli, bucket)
	c = crc32.Update(c, castagnoli, []byte{0})
	c = crc32.Update(c, castagnoli, key)
	return crc32.Update(c, castagnoli, payload)
}

// Seal returns the stored value of payload under bucket and key.
func Seal(bucket, key, payload []byte) []byte {
	return AppendSealed(make([]byte, 0, 4+len(payload)), bucket, key, payload)
}

// AppendSealed appends the stored value of payload under bucket and key
// (Seal's) to dst.
func AppendSealed(dst, bucket, key, payload []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, checksum(bucket, key, payload))
	return append(dst, payload...)
}

// Open checks a stored value against its bucket and key and returns its
// payload, which aliases value.
func Open(bucket, key, value []byte) ([]byte, error) {
	if len(value) < 4 {
		return nil, fmt.Errorf("%w: record %s/%x: %d bytes, too short for its checksum", store.ErrCorrupt, bucket, key, len(value))
	}
	payload := value[4:]
	if got, want := binary.BigEndian.Uint32(value), checksum(bucket, key, payload); got != want {
		return nil, fmt.Errorf("%w: record %s/%x: checksum %08x, want %08x", store.ErrCorrupt, bucket, key, got, want)
	}
	return payload, nil
}

// errMalformed is wrapped with what was being decoded; callers wrap it in
// turn with store.ErrCorrupt.
var errMalformed = errors.New("malformed")

// Field numbers. Never renumber or reuse one: stored records use them.
const (
	// Bank.
	bankName        = 1
	bankDescription = 2
	bankLabels      = 3 // repeated pair
	bankDisabled    = 4
	bankThresholds  = 5 // repeated pair, value varint
	bankCreated     = 6
	bankUpdated     = 7
	bankCreatedBy   = 8
	bankUpdatedBy   = 9
	bankRevision    = 10
	bankBudget      = 11 // fixed64, a float64's bits
	bankSynced      = 12 // repeated pair, value varint: a sync source's cursor

	// Pair (a map entry).
	pairKey   = 1
	pairValue = 2

	// Entry.
	entryID         = 1
	entryBank       = 2
	entryKind       = 3
	entryFormat     = 4
	entryWidth      = 5
	entryHeight     = 6
	entryDuration   = 7
	entryHashes     = 8 // repeated Hash
	entryRegions    = 9 // repeated Region
	entryLabels     = 10
	entryNote       = 11
	entrySource     = 12 // Source
	entryCreated    = 13
	entryCreatedBy  = 14
	entryUpdated    = 15
	entryUpdatedBy  = 16
	entryRevision   = 17
	entryIdentity   = 18
	entryKeypoints  = 20 // repeated Keypoint; left out by store.ViewBasic
	entryFrames     = 21 // repeated Frame; left out by store.ViewBasic
	entryProvenance = 22 // Provenance
	entryThumbnail  = 23 // Thumbnail; left out by store.ViewBasic

	// Thumbnail.
	thumbnailWidth  = 1
	thumbnailHeight = 2
	thumbnailGrey   = 3

	// Hash.
	hashType    = 1
	hashBytes   = 2
	hashQuality = 3

	// Region.
	regionKind    = 1
	regionLeft    = 2
	regionTop     = 3
	regionWidth   = 4
	regionHeight  = 5
	regionPDQ     = 6
	regionQuality = 7
	regionPHash   = 8 // present when the region has a pHash

	// Source.
	sourceOrigin     = 1
	sourceExternalID = 2
	sourceURI        = 3

	// Provenance.
	provenancePartner      = 1
	provenanceList         = 2
	provenanceListRevision = 3
	provenanceSourceID     = 4
	provenanceImported     = 5

	// Keypoint.
	keypointX          = 1
	keypointY          = 2
	keypointLevel      = 3
	keypointDescriptor = 4

	// Frame.
	frameSeconds = 1
	frameHash    = 2
	frameQuality = 3
	frameContent = 4 // present when the frame has a content hash

	// Change.
	changeKind      = 1
	changeTime      = 2
	changeActor     = 3
	changeBank      = 4
	changeEntry     = 5
	changeFields    = 6 // repeated string
	changeCommitEnd = 7
	changeRevision  = 8
	changeIdentity  = 9 // 32 bytes, for entry removals

	// Token.
	tokenName      = 1
	tokenRole      = 2
	tokenBanks     = 3 // repeated string
	tokenHash      = 4 // 32 bytes
	tokenSubject   = 5
	tokenExpires   = 6
	tokenCreated   = 7
	tokenCreatedBy = 8

	// Audit record.
	auditSeq    = 1
	auditTime   = 2
	auditAction = 3
	auditActor  = 4
	auditPeer   = 5
	auditMethod = 6
	auditBank   = 7
	auditToken  = 8
	auditDetail = 9
	auditCount  = 10
	auditFirst  = 11
)

// encoder appends fields, leaving zero values out.
type encoder struct{ b []byte }

func (e *encoder) varint(num protowire.Number, v uint64) {
	if v != 0 {
		e.b = protowire.AppendTag(e.b, num, protowire.VarintType)
		e.b = protowire.AppendVarint(e.b, v)
	}
}

func (e *encoder) int(num protowire.Number, v int64) { e.varint(num, uint64(v)) }

func (e *encoder) bool(num protowire.Number, v bool) {
	if v {
		e.varint(num, 1)
	}
}

func (e *encoder) fixed32(num protowire.Number, v uint32) {
	if v != 0 {
		e.b = protowire.AppendTag(e.b, num, protowire.Fixed32Type)
		e.b = protowire.AppendFixed32(e.b, v)
	}
}

func (e *encoder) float32(num protowire.Number, v float32) { e.fixed32(num, math.Float32bits(v)) }

func (e *encoder) fixed64(num protowire.Number, v uint64) {
	if v != 0 {
		e.b = protowire.AppendTag(e.b, num, protowire.Fixed64Type)
		e.b = protowire.AppendFixed64(e.b, v)
	}
}

func (e *encoder) float64(num protowire.Number, v float64) { e.fixed64(num, math.Float64bits(v)) }

func (e *encoder) bytes(num protowire.Number, v []byte) {
	if len(v) > 0 {
		e.b = protowire.AppendTag(e.b, num, protowire.BytesType)
		e.b = protowire.AppendBytes(e.b, v)
	}
}

func (e *encoder) string(num protowire.Number, v string) {
	if v != "" {
		e.b = protowire.AppendTag(e.b, num, protowire.BytesType)
		e.b = protowire.AppendString(e.b, v)
	}
}

// time writes a time as nanoseconds since 1970; the zero time is left out.
func (e *encoder) time(num protowire.Number, t time.Time) {
	if !t.IsZero() {
		e.int(num, t.UnixNano())
	}
}

// message writes a nested message, always (an empty one included).
func (e *encoder) message(num protowire.Number, fn func(*encoder)) {
	var sub encoder
	fn(&sub)
	e.b = protowire.AppendTag(e.b, num, protowire.BytesType)
	e.b = protowire.AppendBytes(e.b, sub.b)
}

func (e *encoder) stringMap(num protowire.Number, m map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		e.message(num, func(p *encoder) {
			p.string(pairKey, k)
			p.string(pairValue, m[k])
		})
	}
}

// decoder walks the fields of a message.
type decoder struct {
	what string
	err  error
}

// field is one decoded field: v for varint and fixed types, b for
// length-delimited ones.
type field struct {
	num protowire.Number
	typ protowire.Type
	v   uint64
	b   []byte
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%s: %w: "+format, append([]any{d.what, errMalformed}, args...)...)
	}
}

// each calls fn for every field of p; unknown fields are fn's to skip.
func (d *decoder) each(p []byte, fn func(f field)) {
	for len(p) > 0 && d.err == nil {
		num, typ, n := protowire.ConsumeTag(p)
		if n < 0 {
			d.fail("tag: %v", protowire.ParseError(n))
			return
		}
		p = p[n:]
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.v, n = protowire.ConsumeVarint(p)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(p)
			f.v = uint64(v)
		case protowire.Fixed64Type:
			f.v, n = protowire.ConsumeFixed64(p)
		case protowire.BytesType:
			f.b, n = protowire.ConsumeBytes(p)
		default:
			// Groups and anything else: skipped whole, never read.
			n = protowire.ConsumeFieldValue(num, typ, p)
		}
		if n < 0 {
			d.fail("field %d: %v", num, protowire.ParseError(n))
			return
		}
		p = p[n:]
		fn(f)
	}
}

// want checks that a known field has the wire type it is written with.
func (d *decoder) want(f field, typ protowire.Type) bool {
	if f.typ != typ {
		d.fail("field %d has wire type %d, want %d", f.num, f.typ, typ)
		return false
	}
	return true
}

func (d *decoder) varint(f field) uint64 {
	if d.want(f, protowire.VarintType) {
		return f.v
	}
	return 0
}

// small reads a varint that must fit in [0, limit].
func (d *decoder) small(f field, limit uint64) int {
	v := d.varint(f)
	if v > limit {
		d.fail("field %d is %d, over %d", f.num, v, limit)
		return 0
	}
	return int(v)
}

func (d *decoder) fixed32(f field) uint32 {
	if d.want(f, protowire.Fixed32Type) {
		return uint32(f.v)
	}
	return 0
}

func (d *decoder) fixed64(f field) uint64 {
	if d.want(f, protowire.Fixed64Type) {
		return f.v
	}
	return 0
}

func (d *decoder) bytes(f field) []byte {
	if d.want(f, protowire.BytesType) {
		return f.b
	}
	return nil
}

func (d *decoder) string(f field) string { return string(d.bytes(f)) }

// time reads a time written by encoder.time; 0 is the zero time, which
// the encoder leaves out.
func (d *decoder) time(f field) time.Time {
	v := int64(d.varint(f))
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, v).UTC()
}

// seconds reads a time in seconds, which must be a finite number of at
// least zero (the store never writes another).
func (d *decoder) seconds(f field) float64 {
	v := math.Float64frombits(d.fixed64(f))
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		d.fail("field %d is %v, not a time", f.num, v)
		return 0
	}
	return v
}

// fraction reads a position or size as a fraction of a side: 0 to 1.
func (d *decoder) fraction(f field) float32 {
	v := math.Float32frombits(d.fixed32(f))
	if !(v >= 0 && v <= 1) {
		d.fail("field %d is %v, not a fraction", f.num, v)
		return 0
	}
	return v
}

// array copies a fixed-length byte field into dst.
func (d *decoder) array(f field, dst []byte) {
	b := d.bytes(f)
	if len(b) != len(dst) {
		d.fail("field %d is %d bytes, want %d", f.num, len(b), len(dst))
		return
	}
	copy(dst, b)
}

// pair reads a map entry whose value is a string.
func (d *decoder) pair(f field) (k, v string) {
	d.each(d.bytes(f), func(g field) {
		switch g.num {
		case pairKey:
			k = d.string(g)
		case pairValue:
			v = d.string(g)
		}
	})
	return k, v
}

// intPair reads a map entry whose value is a varint.
func (d *decoder) intPair(f field) (k string, v uint64) {
	d.each(d.bytes(f), func(g field) {
		switch g.num {
		case pairKey:
			k = d.string(g)
		case pairValue:
			v = d.varint(g)
		}
	})
	return k, v
}

func (d *decoder) result(kind string) error {
	if d.err != nil {
		return fmt.Errorf("%w: %s record: %v", store.ErrCorrupt, kind, d.err)
	}
	return nil
}

// EncodeBank returns the payload of a bank record. The entry count is not
// part of it (backends keep it apart, as it changes with every add).
func EncodeBank(b *store.Bank) []byte {
	var e encoder
	e.string(bankName, b.Name)
	e.string(bankDescription, b.Description)
	e.stringMap(bankLabels, b.Labels)
	e.bool(bankDisabled, b.Disabled)
	for _, k := range slices.Sorted(maps.Keys(b.Thresholds)) {
		e.message(bankThresholds, func(p *encoder) {
			p.string(pairKey, k)
			p.int(pairValue, int64(b.Thresholds[k]))
		})
	}
	e.time(bankCreated, b.Created)
	e.time(bankUpdated, b.Updated)
	e.string(bankCreatedBy, b.CreatedBy)
	e.string(bankUpdatedBy, b.UpdatedBy)
	e.varint(bankRevision, uint64(b.Revision))
	if b.FalseMatchBudget != 0 {
		e.float64(bankBudget, b.FalseMatchBudget)
	}
	for _, k := range slices.Sorted(maps.Keys(b.Synced)) {
		e.message(bankSynced, func(p *encoder) {
			p.string(pairKey, k)
			p.varint(pairValue, uint64(b.Synced[k]))
		})
	}
	return e.b
}

// DecodeBank parses a bank record's payload.
func DecodeBank(p []byte) (store.Bank, error) {
	var b store.Bank
	d := decoder{what: "bank"}
	d.each(p, func(f field) {
		switch f.num {
		case bankName:
			b.Name = d.string(f)
		case bankDescription:
			b.Description = d.string(f)
		case bankLabels:
			k, v := d.pair(f)
			if b.Labels == nil {
				b.Labels = map[string]string{}
			}
			b.Labels[k] = v
		case bankDisabled:
			b.Disabled = d.varint(f) != 0
		case bankThresholds:
			k, v := d.intPair(f)
			if v > math.MaxInt32 {
				d.fail("threshold %q is %d", k, v)
			}
			if b.Thresholds == nil {
				b.Thresholds = map[string]int{}
			}
			b.Thresholds[k] = int(v)
		case bankCreated:
			b.Created = d.time(f)
		case bankUpdated:
			b.Updated = d.time(f)
		case bankCreatedBy:
			b.CreatedBy = d.string(f)
		case bankUpdatedBy:
			b.UpdatedBy = d.string(f)
		case bankRevision:
			b.Revision = store.Revision(d.varint(f))
		case bankBudget:
			b.FalseMatchBudget = math.Float64frombits(d.fixed64(f))
			if !(b.FalseMatchBudget > 0 && b.FalseMatchBudget <= 1) {
				d.fail("false-match budget %v", b.FalseMatchBudget)
			}
		case bankSynced:
			k, v := d.intPair(f)
			if b.Synced == nil {
				b.Synced = map[string]store.Revision{}
			}
			b.Synced[k] = store.Revision(v)
		}
	})
	if d.err == nil && b.Name == "" {
		d.fail("no name")
	}
	return b, d.result("bank")
}

// EncodeEntry returns the payload of an entry record, identity included.
func EncodeEntry(e *store.Entry, identity [32]byte) []byte {
	return EncodeEntryParts(e, identity).Payload(e)
}

// EntryParts is an entry record's payload without what the store sets when
// it stores the entry: its id, revision and created and updated stamps. An
// import encodes them ahead of the committer, which adds those (Payload).
type EntryParts struct {
	b     []byte
	split int // where the stamps go
}

// EncodeEntryParts encodes all of an entry record but the fields Payload
// adds; e's values of those are not read.
func EncodeEntryParts(e *store.Entry, identity [32]byte) EntryParts {
	var enc encoder
	enc.b = make([]byte, 0, 192+len(e.Frames)*80+len(e.Keypoints)*48+len(e.Thumbnail.Grey))
	enc.string(entryBank, e.Bank)
	enc.varint(entryKind, uint64(e.Kind))
	enc.string(entryFormat, e.Format)
	enc.int(entryWidth, int64(e.Width))
	enc.int(entryHeight, int64(e.Height))
	enc.float64(entryDuration, e.Duration)
	for _, h := range e.Hashes {
		enc.message(entryHashes, func(m *encoder) {
			m.string(hashType, h.Type)
			m.bytes(hashBytes, h.Bytes)
			m.int(hashQuality, int64(h.Quality))
		})
	}
	for _, r := range e.Regions {
		enc.message(entryRegions, func(m *encoder) {
			m.varint(regionKind, uint64(r.Kind))
			m.float32(regionLeft, r.Box.Left)
			m.float32(regionTop, r.Box.Top)
			m.float32(regionWidth, r.Box.Width)
			m.float32(regionHeight, r.Box.Height)
			m.bytes(regionPDQ, r.Hash[:])
			m.int(regionQuality, int64(r.Quality))
			if r.HasPHash {
				// Written even when zero: presence is the flag.
				m.b = protowire.AppendTag(m.b, regionPHash, protowire.Fixed64Type)
				m.b = protowire.AppendFixed64(m.b, r.PHash)
			}
		})
	}
	enc.stringMap(entryLabels, e.Labels)
	enc.string(entryNote, e.Note)
	if e.Source != (store.Source{}) {
		enc.message(entrySource, func(m *encoder) {
			m.string(sourceOrigin, e.Source.Origin)
			m.string(sourceExternalID, e.Source.ExternalID)
			m.string(sourceURI, e.Source.URI)
		})
	}
	split := len(enc.b)
	enc.bytes(entryIdentity, identity[:])
	for _, k := range e.Keypoints {
		enc.message(entryKeypoints, func(m *encoder) {
			m.float32(keypointX, k.X)
			m.float32(keypointY, k.Y)
			m.varint(keypointLevel, uint64(k.Level))
			var desc [32]byte
			for i, w := range k.Descriptor {
				binary.BigEndian.PutUint64(desc[8*i:], w)
			}
			m.bytes(keypointDescriptor, desc[:])
		})
	}
	for _, f := range e.Frames {
		enc.message(entryFrames, func(m *encoder) {
			m.float64(frameSeconds, f.Seconds)
			m.bytes(frameHash, f.Hash[:])
			m.int(frameQuality, int64(f.Quality))
			if f.HasContent {
				m.bytes(frameContent, f.Content[:])
			}
		})
	}
	if p := e.Provenance; !p.IsZero() {
		enc.message(entryProvenance, func(m *encoder) {
			m.string(provenancePartner, p.Partner)
			m.string(provenanceList, p.List)
			m.varint(provenanceListRevision, uint64(p.ListRevision))
			m.string(provenanceSourceID, p.SourceID)
			m.time(provenanceImported, p.Imported)
		})
	}
	if t := e.Thumbnail; !t.IsZero() {
		enc.message(entryThumbnail, func(m *encoder) {
			m.int(thumbnailWidth, int64(t.Width))
			m.int(thumbnailHeight, int64(t.Height))
			m.bytes(thumbnailGrey, t.Grey)
		})
	}
	return EntryParts{b: enc.b, split: split}
}

// Payload returns the entry record's payload, with e's id, revision and
// created and updated stamps: the same bytes as EncodeEntry's, fields in
// the same order.
func (p EntryParts) Payload(e *store.Entry) []byte {
	enc := encoder{b: make([]byte, 0, len(p.b)+48+len(e.CreatedBy)+len(e.UpdatedBy))}
	enc.varint(entryID, e.ID)
	enc.b = append(enc.b, p.b[:p.split]...)
	enc.time(entryCreated, e.Created)
	enc.string(entryCreatedBy, e.CreatedBy)
	enc.time(entryUpdated, e.Updated)
	enc.string(entryUpdatedBy, e.UpdatedBy)
	enc.varint(entryRevision, uint64(e.Revision))
	return append(enc.b, p.b[p.split:]...)
}

// DecodeEntry parses an entry record's payload, leaving out what view
// leaves out, and returns the entry and its stored identity.
func DecodeEntry(p []byte, view store.View) (*store.Entry, [32]byte, error) {
	e := &store.Entry{}
	var identity [32]byte
	d := decoder{what: "entry"}
	d.each(p, func(f field) {
		switch f.num {
		case entryID:
			e.ID = d.varint(f)
		case entryBank:
			e.Bank = d.string(f)
		case entryKind:
			e.Kind = store.MediaKind(d.small(f, uint64(store.KindVideo)))
		case entryFormat:
			e.Format = d.string(f)
		case entryWidth:
			e.Width = d.small(f, store.MaxDimension)
		case entryHeight:
			e.Height = d.small(f, store.MaxDimension)
		case entryDuration:
			e.Duration = d.seconds(f)
		case entryHashes:
			e.Hashes = append(e.Hashes, d.hash(f))
		case entryRegions:
			e.Regions = append(e.Regions, d.region(f))
		case entryLabels:
			k, v := d.pair(f)
			if e.Labels == nil {
				e.Labels = map[string]string{}
			}
			e.Labels[k] = v
		case entryNote:
			e.Note = d.string(f)
		case entrySource:
			d.each(d.bytes(f), func(g field) {
				switch g.num {
				case sourceOrigin:
					e.Source.Origin = d.string(g)
				case sourceExternalID:
					e.Source.ExternalID = d.string(g)
				case sourceURI:
					e.Source.URI = d.string(g)
				}
			})
		case entryCreated:
			e.Created = d.time(f)
		case entryCreatedBy:
			e.CreatedBy = d.string(f)
		case entryUpdated:
			e.Updated = d.time(f)
		case entryUpdatedBy:
			e.UpdatedBy = d.string(f)
		case entryRevision:
			e.Revision = store.Revision(d.varint(f))
		case entryIdentity:
			d.array(f, identity[:])
		case entryKeypoints:
			if view == store.ViewFull {
				e.Keypoints = append(e.Keypoints, d.keypoint(f))
			}
		case entryFrames:
			if view == store.ViewFull {
				e.Frames = append(e.Frames, d.frame(f))
			}
		case entryThumbnail:
			if view == store.ViewFull {
				d.each(d.bytes(f), func(g field) {
					switch g.num {
					case thumbnailWidth:
						e.Thumbnail.Width = d.small(g, store.MaxThumbnailSide)
					case thumbnailHeight:
						e.Thumbnail.Height = d.small(g, store.MaxThumbnailSide)
					case thumbnailGrey:
						e.Thumbnail.Grey = append([]byte(nil), d.bytes(g)...)
					}
				})
				if t := e.Thumbnail; len(t.Grey) != t.Width*t.Height {
					d.fail("thumbnail of %dx%d with %d bytes", t.Width, t.Height, len(t.Grey))
				}
			}
		case entryProvenance:
			d.each(d.bytes(f), func(g field) {
				switch g.num {
				case provenancePartner:
					e.Provenance.Partner = d.string(g)
				case provenanceList:
					e.Provenance.List = d.string(g)
				case provenanceListRevision:
					e.Provenance.ListRevision = store.Revision(d.varint(g))
				case provenanceSourceID:
					e.Provenance.SourceID = d.string(g)
				case provenanceImported:
					e.Provenance.Imported = d.time(g)
				}
			})
		}
	})
	if d.err == nil && (e.ID == 0 || e.Bank == "") {
		d.fail("no id or bank")
	}
	if err := d.result("entry"); err != nil {
		return nil, identity, err
	}
	return e, identity, nil
}

func (d *decoder) hash(f field) hashing.Hash {
	var h hashing.Hash
	d.each(d.bytes(f), func(g field) {
		switch g.num {
		case hashType:
			h.Type = d.string(g)
		case hashBytes:
			h.Bytes = append([]byte(nil), d.bytes(g)...)
		case hashQuality:
			h.Quality = d.small(g, 100)
		}
	})
	return h
}

func (d *decoder) region(f field) hashing.RegionHash {
	var r hashing.RegionHash
	seenPDQ := false
	d.each(d.bytes(f), func(g field) {
		switch g.num {
		case regionKind:
			r.Kind = hashing.RegionKind(d.small(g, math.MaxUint8))
		case regionLeft:
			r.Box.Left = d.fraction(g)
		case regionTop:
			r.Box.Top = d.fraction(g)
		case regionWidth:
			r.Box.Width = d.fraction(g)
		case regionHeight:
			r.Box.Height = d.fraction(g)
		case regionPDQ:
			d.array(g, r.Hash[:])
			seenPDQ = true
		case regionQuality:
			r.Quality = d.small(g, 100)
		case regionPHash:
			r.PHash, r.HasPHash = d.fixed64(g), true
		}
	})
	if !seenPDQ {
		d.fail("region without its hash")
	}
	return r
}

func (d *decoder) keypoint(f field) store.Keypoint {
	var k store.Keypoint
	d.each(d.bytes(f), func(g field) {
		switch g.num {
		case keypointX:
			k.X = d.fraction(g)
		case keypointY:
			k.Y = d.fraction(g)
		case keypointLevel:
			k.Level = uint8(d.small(g, math.MaxUint8))
		case keypointDescriptor:
			var desc [32]byte
			d.array(g, desc[:])
			for i := range k.Descriptor {
				k.Descriptor[i] = binary.BigEndian.Uint64(desc[8*i:])
			}
		}
	})
	return k
}

func (d *decoder) frame(f field) store.Frame {
	var fr store.Frame
	seenHash := false
	d.each(d.bytes(f), func(g field) {
		switch g.num {
		case frameSeconds:
			fr.Seconds = d.seconds(g)
		case frameHash:
			d.array(g, fr.Hash[:])
			seenHash = true
		case frameQuality:
			fr.Quality = d.small(g, 100)
		case frameContent:
			d.array(g, fr.Content[:])
			fr.HasContent = true
		}
	})
	if !seenHash {
		d.fail("frame without its hash")
	}
	return fr
}

// EncodeChange returns the payload of a change record (its values are not
// stored: they are read with it).
func EncodeChange(c *store.Change) []byte {
	var e encoder
	e.varint(changeKind, uint64(c.Kind))
	e.time(changeTime, c.Time)
	e.string(changeActor, c.Actor)
	e.string(changeBank, c.Bank)
	e.varint(changeEntry, c.EntryID)
	for _, f := range c.Fields {
		e.b = protowire.AppendTag(e.b, changeFields, protowire.BytesType)
		e.b = protowire.AppendString(e.b, f)
	}
	e.bool(changeCommitEnd, c.CommitEnd)
	e.varint(changeRevision, uint64(c.Revision))
	if c.Identity != ([32]byte{}) {
		e.bytes(changeIdentity, c.Identity[:])
	}
	return e.b
}

// DecodeChange parses a change record's payload.
func DecodeChange(p []byte) (store.Change, error) {
	var c store.Change
	d := decoder{what: "change"}
	d.each(p, func(f field) {
		switch f.num {
		case changeKind:
			c.Kind = store.ChangeKind(d.small(f, math.MaxUint8))
		case changeTime:
			c.Time = d.time(f)
		case changeActor:
			c.Actor = d.string(f)
		case changeBank:
			c.Bank = d.string(f)
		case changeEntry:
			c.EntryID = d.varint(f)
		case changeFields:
			c.Fields = append(c.Fields, d.string(f))
		case changeCommitEnd:
			c.CommitEnd = d.varint(f) != 0
		case changeRevision:
			c.Revision = store.Revision(d.varint(f))
		case changeIdentity:
			d.array(f, c.Identity[:])
		}
	})
	if d.err == nil && !c.Kind.Valid() {
		d.fail("unknown kind %d", c.Kind)
	}
	return c, d.result("change")
}

// EncodeToken returns the payload of a token record.
func EncodeToken(t *store.Token) []byte {
	var e encoder
	e.string(tokenName, t.Name)
	e.string(tokenRole, string(t.Role))
	for _, b := range t.Banks {
		e.b = protowire.AppendTag(e.b, tokenBanks, protowire.BytesType)
		e.b = protowire.AppendString(e.b, b)
	}
	if t.Hash != [32]byte{} {
		e.bytes(tokenHash, t.Hash[:])
	}
	e.string(tokenSubject, t.Subject)
	e.time(tokenExpires, t.Expires)
	e.time(tokenCreated, t.Created)
	e.string(tokenCreatedBy, t.CreatedBy)
	return e.b
}

// DecodeToken parses a token record's payload.
func DecodeToken(p []byte) (store.Token, error) {
	var t store.Token
	d := decoder{what: "token"}
	d.each(p, func(f field) {
		switch f.num {
		case tokenName:
			t.Name = d.string(f)
		case tokenRole:
			t.Role = store.Role(d.string(f))
		case tokenBanks:
			t.Banks = append(t.Banks, d.string(f))
		case tokenHash:
			d.array(f, t.Hash[:])
		case tokenSubject:
			t.Subject = d.string(f)
		case tokenExpires:
			t.Expires = d.time(f)
		case tokenCreated:
			t.Created = d.time(f)
		case tokenCreatedBy:
			t.CreatedBy = d.string(f)
		}
	})
	if d.err == nil && t.Name == "" {
		d.fail("no name")
	}
	return t, d.result("token")
}

// EncodeAudit returns the payload of an audit record.
func EncodeAudit(a *store.AuditRecord) []byte {
	var e encoder
	e.varint(auditSeq, a.Seq)
	e.time(auditTime, a.Time)
	e.string(auditAction, string(a.Action))
	e.string(auditActor, a.Actor)
	e.string(auditPeer, a.Peer)
	e.string(auditMethod, a.Method)
	e.string(auditBank, a.Bank)
	e.string(auditToken, a.Token)
	e.string(auditDetail, a.Detail)
	e.varint(auditCount, a.Count)
	e.time(auditFirst, a.First)
	return e.b
}

// DecodeAudit parses an audit record's payload. An action this version
// does not know is kept as it is, so a newer writer's records still list.
func DecodeAudit(p []byte) (store.AuditRecord, error) {
	var a store.AuditRecord
	d := decoder{what: "audit"}
	d.each(p, func(f field) {
		switch f.num {
		case auditSeq:
			a.Seq = d.varint(f)
		case auditTime:
			a.Time = d.time(f)
		case auditAction:
			a.Action = store.AuditAction(d.string(f))
		case auditActor:
			a.Actor = d.string(f)
		case auditPeer:
			a.Peer = d.string(f)
		case auditMethod:
			a.Method = d.string(f)
		case auditBank:
			a.Bank = d.string(f)
		case auditToken:
			a.Token = d.string(f)
		case auditDetail:
			a.Detail = d.string(f)
		case auditCount:
			a.Count = d.varint(f)
		case auditFirst:
			a.First = d.time(f)
		}
	})
	if d.err == nil && a.Seq == 0 {
		d.fail("no sequence number")
	}
	return a, d.result("audit")
}

// EncodeUint returns the payload of a counter or other number record.
func EncodeUint(v uint64) []byte { return binary.AppendUvarint(nil, v) }

// DecodeUint parses a number record's payload.
func DecodeUint(p []byte) (uint64, error) {
	v, n := binary.Uvarint(p)
	if n <= 0 || n != len(p) {
		return 0, fmt.Errorf("%w: number record of %d bytes", store.ErrCorrupt, len(p))
	}
	return v, nil
}
