package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/store"
)

var update = flag.Bool("update", false, "rewrite the golden record files in testdata/store")

var goldenDir = filepath.Join("..", "..", "testdata", "store")

// Fixed values for the golden files: every field of every record kind set,
// so a change to any field's encoding shows.
var (
	goldenTime = time.Date(2026, 12, 1, 17, 25, 40, 123456789, time.UTC)

	goldenBank = store.Bank{
		Name: "tvec", Description: "known propaganda", Labels: map[string]string{"sev": "high", "lang": "ar"},
		Disabled: true, Thresholds: map[string]int{"pdq": 20, "phash": 8},
		Created: goldenTime, Updated: goldenTime.Add(time.Hour), CreatedBy: "alice", UpdatedBy: "bob", Revision: 42,
		Synced: map[string]store.Revision{"a.example:7077/banks/tvec": 40, "b.example:7077/banks/x": 7},
	}

	goldenImage = &store.Entry{
		ID: 17, Bank: "tvec", Kind: store.KindImage, Format: "jpeg", Width: 640, Height: 480,
		Hashes: []hashing.Hash{
			{Type: "pdq", Bytes: bytes.Repeat([]byte{0xa5}, 32), Quality: 87},
			{Type: "phash", Bytes: []byte{1, 2, 3, 4, 5, 6, 7, 8}},
			{Type: "sha256", Bytes: bytes.Repeat([]byte{0x5a}, 32)},
		},
		Regions: []hashing.RegionHash{
			{Kind: hashing.RegionTrimmed, Box: hashing.Box{Left: 0.1, Top: 0, Width: 0.8, Height: 1}, Hash: [32]byte{1, 2, 3}, Quality: 60},
			{Kind: hashing.RegionWindow, Box: hashing.Box{Left: 0.05, Top: 0.05, Width: 0.9, Height: 0.9}, Hash: [32]byte{9}, Quality: 50, PHash: 0, HasPHash: true},
		},
		Keypoints: []store.Keypoint{{X: 0.25, Y: 0.75, Level: 3, Descriptor: [4]uint64{1, 2, 3, 0xffffffffffffffff}}},
		Labels:    map[string]string{"group": "example"},
		Note:      "poster, version 2",
		Source:    store.Source{Origin: "partner-a", ExternalID: "x-17", URI: "https://example.org/x-17"},
		Created:   goldenTime, Updated: goldenTime, CreatedBy: "alice", UpdatedBy: "alice", Revision: 43,
	}

	goldenVideo = &store.Entry{
		ID: 18, Bank: "tvec", Kind: store.KindVideo, Format: "mp4", Width: 1280, Height: 720, Duration: 2.5,
		Hashes: []hashing.Hash{{Type: "md5", Bytes: bytes.Repeat([]byte{7}, 16)}},
		Frames: []store.Frame{
			{Seconds: 0, Hash: [32]byte{1}, Quality: 100},
			{Seconds: 1.25, Hash: [32]byte{2}, Quality: 40, Content: [32]byte{3}, HasContent: true},
		},
		Created: goldenTime, Updated: goldenTime, CreatedBy: "alice", UpdatedBy: "alice", Revision: 44,
	}

	goldenChange = store.Change{Revision: 45, Kind: store.EntryUpdated, Time: goldenTime, Actor: "bob", Bank: "tvec", EntryID: 17,
		Fields: []string{"labels.group", "note"}, CommitEnd: true}

	goldenToken = store.Token{Name: "ingest-1", Role: store.RoleCurator, Banks: []string{"tvec", "csam-hashes"},
		Hash: [32]byte{0xde, 0xad, 0xbe, 0xef}, Expires: goldenTime.Add(30 * 24 * time.Hour), Created: goldenTime, CreatedBy: "root"}

	goldenCertToken = store.Token{Name: "partner-b", Role: store.RolePartner, Subject: "partner-b.example.org", Created: goldenTime, CreatedBy: "root"}

	goldenAudit = store.AuditRecord{Seq: 7, Time: goldenTime, Action: store.AuditDenied, Actor: "ingest-1", Peer: "192.0.2.7:51234",
		Method: "/mediamatch.v1.BankService/DeleteBank", Bank: "other", Token: "", Detail: "PERMISSION_DENIED: role curator, bank other"}
	// A denial summing up several refused calls (fields 10 and 11, added
	// after audit.rec: that file keeps the shape older servers wrote).
	goldenAuditSummary = store.AuditRecord{Seq: 8, Time: goldenTime, Action: store.AuditDenied, Actor: "anonymous", Peer: "192.0.2.7",
		Method: "/mediamatch.v1.BankService/ListBanks", Detail: "UNAUTHENTICATED: the token is not valid (unknown or revoked)",
		Count: 4096, First: goldenTime.Add(-10 * time.Second)}
)

// golden compares a sealed record with its file, or rewrites the file.
func golden(t *testing.T, name string, got []byte) []byte {
	t.Helper()
	path := filepath.Join(goldenDir, name)
	if *update {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: the encoding changed; a change that old readers must refuse needs a new schema version, any other only new field numbers (run with -update once it is deliberate)", name)
	}
	return want
}

func TestGoldenRecords(t *testing.T) {
	ident := store.Identity(goldenImage)
	cases := []struct {
		file   string
		bucket string
		key    []byte
		sealed []byte
		check  func(payload []byte) error
	}{
		{"bank.rec", "banks", []byte("tvec"), Seal([]byte("banks"), []byte("tvec"), EncodeBank(&goldenBank)), func(p []byte) error {
			b, err := DecodeBank(p)
			if err == nil && !reflect.DeepEqual(b, goldenBank) {
				t.Errorf("bank decoded to %+v", b)
			}
			return err
		}},
		{"entry-image.rec", "entries", []byte{0, 0, 0, 0, 0, 0, 0, 17}, Seal([]byte("entries"), []byte{0, 0, 0, 0, 0, 0, 0, 17}, EncodeEntry(goldenImage, ident)), func(p []byte) error {
			e, id, err := DecodeEntry(p, store.ViewFull)
			if err == nil && (!reflect.DeepEqual(e, goldenImage) || id != ident) {
				t.Errorf("image entry decoded to %+v", e)
			}
			basic, _, err := DecodeEntry(p, store.ViewBasic)
			if err == nil && (basic.Keypoints != nil || !reflect.DeepEqual(basic.Regions, goldenImage.Regions)) {
				t.Errorf("basic view of the image: %+v", basic)
			}
			return err
		}},
		{"entry-video.rec", "entries", []byte{0, 0, 0, 0, 0, 0, 0, 18}, Seal([]byte("entries"), []byte{0, 0, 0, 0, 0, 0, 0, 18}, EncodeEntry(goldenVideo, store.Identity(goldenVideo))), func(p []byte) error {
			e, _, err := DecodeEntry(p, store.ViewFull)
			if err == nil && !reflect.DeepEqual(e, goldenVideo) {
				t.Errorf("video entry decoded to %+v", e)
			}
			return err
		}},
		{"change.rec", "changes", []byte{0, 0, 0, 0, 0, 0, 0, 45}, Seal([]byte("changes"), []byte{0, 0, 0, 0, 0, 0, 0, 45}, EncodeChange(&goldenChange)), func(p []byte) error {
			c, err := DecodeChange(p)
			if err == nil && !reflect.DeepEqual(c, goldenChange) {
				t.Errorf("change decoded to %+v", c)
			}
			return err
		}},
		{"token.rec", "tokens", []byte("ingest-1"), Seal([]byte("tokens"), []byte("ingest-1"), EncodeToken(&goldenToken)), func(p []byte) error {
			tok, err := DecodeToken(p)
			if err == nil && !reflect.DeepEqual(tok, goldenToken) {
				t.Errorf("token decoded to %+v", tok)
			}
			return err
		}},
		{"token-cert.rec", "tokens", []byte("partner-b"), Seal([]byte("tokens"), []byte("partner-b"), EncodeToken(&goldenCertToken)), func(p []byte) error {
			tok, err := DecodeToken(p)
			if err == nil && !reflect.DeepEqual(tok, goldenCertToken) {
				t.Errorf("certificate token decoded to %+v", tok)
			}
			return err
		}},
		{"audit.rec", "audit", []byte{0, 0, 0, 0, 0, 0, 0, 7}, Seal([]byte("audit"), []byte{0, 0, 0, 0, 0, 0, 0, 7}, EncodeAudit(&goldenAudit)), func(p []byte) error {
			a, err := DecodeAudit(p)
			if err == nil && !reflect.DeepEqual(a, goldenAudit) {
				t.Errorf("audit record decoded to %+v", a)
			}
			return err
		}},
		{"audit-summary.rec", "audit", []byte{0, 0, 0, 0, 0, 0, 0, 8}, Seal([]byte("audit"), []byte{0, 0, 0, 0, 0, 0, 0, 8}, EncodeAudit(&goldenAuditSummary)), func(p []byte) error {
			a, err := DecodeAudit(p)
			if err == nil && !reflect.DeepEqual(a, goldenAuditSummary) {
				t.Errorf("audit summary decoded to %+v", a)
			}
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			stored := golden(t, c.file, c.sealed)
			// The stored bytes (not only this program's encoding) decode.
			p, err := Open([]byte(c.bucket), c.key, stored)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.check(p); err != nil {
				t.Fatal(err)
			}
			// Moved to another key or bucket, the same bytes fail their check.
			if _, err := Open([]byte(c.bucket), append(bytes.Clone(c.key), 1), stored); !errors.Is(err, store.ErrCorrupt) {
				t.Errorf("under another key: %v", err)
			}
			if _, err := Open([]byte("other"), c.key, stored); !errors.Is(err, store.ErrCorrupt) {
				t.Errorf("in another bucket: %v", err)
			}
		})
	}
}

// withFutureFields appends fields this version does not know, of every
// wire type, at the top level and inside a nested message, as a newer
// mediamatch might write them.
func withFutureFields(p []byte, nestedField protowire.Number) []byte {
	future := func(b []byte) []byte {
		b = protowire.AppendTag(b, 900, protowire.VarintType)
		b = protowire.AppendVarint(b, 12345)
		b = protowire.AppendTag(b, 901, protowire.BytesType)
		b = protowire.AppendBytes(b, []byte("a field from the future"))
		b = protowire.AppendTag(b, 902, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, 7)
		b = protowire.AppendTag(b, 903, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, 8)
		b = protowire.AppendTag(b, 904, protowire.StartGroupType)
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
		return protowire.AppendTag(b, 904, protowire.EndGroupType)
	}
	out := future(bytes.Clone(p))
	if nestedField != 0 {
		out = protowire.AppendTag(out, nestedField, protowire.BytesType)
		nested := protowire.AppendTag(nil, 1, protowire.BytesType) // a hash's type...
		nested = protowire.AppendString(nested, "pdq")
		nested = protowire.AppendTag(nested, 2, protowire.BytesType)
		nested = protowire.AppendBytes(nested, bytes.Repeat([]byte{0xee}, 32))
		out = protowire.AppendBytes(out, future(nested))
	}
	return out
}

// TestUnknownFieldsAreSkipped checks the promise old readers rely on: a
// record carrying fields of a later version decodes to what this version
// knows of it.
func TestUnknownFieldsAreSkipped(t *testing.T) {
	b, err := DecodeBank(withFutureFields(EncodeBank(&goldenBank), 0))
	if err != nil || !reflect.DeepEqual(b, goldenBank) {
		t.Errorf("bank with future fields: %+v, %v", b, err)
	}
	img := *goldenImage
	img.Hashes = append(append([]hashing.Hash(nil), goldenImage.Hashes...), hashing.Hash{Type: "pdq", Bytes: bytes.Repeat([]byte{0xee}, 32)})
	e, _, err := DecodeEntry(withFutureFields(EncodeEntry(goldenImage, [32]byte{}), entryHashes), store.ViewFull)
	if err != nil || !reflect.DeepEqual(e, &img) {
		t.Errorf("entry with future fields: %+v, %v", e, err)
	}
	c, err := DecodeChange(withFutureFields(EncodeChange(&goldenChange), 0))
	if err != nil || !reflect.DeepEqual(c, goldenChange) {
		t.Errorf("change with future fields: %+v, %v", c, err)
	}
}

func TestDecodeRefusesDamage(t *testing.T) {
	valid := EncodeEntry(goldenImage, [32]byte{})
	for name, p := range map[string][]byte{
		"truncated":            valid[:len(valid)/2],
		"a known field's type": append(protowire.AppendTag(nil, entryBank, protowire.VarintType), 1),
		"a bad tag":            {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"a frame hash too short": protowire.AppendBytes(protowire.AppendTag(bytes.Clone(valid), entryFrames, protowire.BytesType),
			protowire.AppendBytes(protowire.AppendTag(nil, frameHash, protowire.BytesType), []byte{1, 2})),
		"no id": EncodeEntry(&store.Entry{Bank: "b"}, [32]byte{}),
	} {
		if _, _, err := DecodeEntry(p, store.ViewFull); !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := Open([]byte("b"), []byte("k"), []byte{1, 2}); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("a value shorter than its checksum: %v", err)
	}
	sealed := Seal([]byte("b"), []byte("k"), valid)
	for i := range sealed {
		damaged := bytes.Clone(sealed)
		damaged[i] ^= 0x10
		if _, err := Open([]byte("b"), []byte("k"), damaged); !errors.Is(err, store.ErrCorrupt) {
			t.Fatalf("a flipped bit at byte %d passed the checksum", i)
		}
	}
}

// FuzzDecodeEntry feeds the entry decoder arbitrary payloads: it returns
// an entry or ErrCorrupt, never panics, and never allocates beyond the
// input's size in items.
func FuzzDecodeEntry(f *testing.F) {
	f.Add(EncodeEntry(goldenImage, [32]byte{}))
	f.Add(EncodeEntry(goldenVideo, [32]byte{}))
	f.Add(withFutureFields(EncodeEntry(goldenImage, [32]byte{}), entryHashes))
	if data, err := os.ReadFile(filepath.Join(goldenDir, "entry-video.rec")); err == nil && len(data) > 4 {
		f.Add(data[4:])
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		e, _, err := DecodeEntry(p, store.ViewFull)
		if err != nil {
			if !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if len(e.Frames)+len(e.Keypoints)+len(e.Hashes)+len(e.Regions) > len(p) {
			t.Fatalf("%d items from %d bytes", len(e.Frames)+len(e.Keypoints)+len(e.Hashes)+len(e.Regions), len(p))
		}
		// What decodes re-encodes to something that decodes the same.
		again, _, err := DecodeEntry(EncodeEntry(e, [32]byte{}), store.ViewFull)
		if err != nil || !reflect.DeepEqual(normalized(again), normalized(e)) {
			t.Fatalf("re-encoding changed the entry: %v", err)
		}
	})
}

// normalized clears what a round trip may turn from empty to nil.
func normalized(e *store.Entry) *store.Entry {
	c := *e
	for _, p := range []*[]hashing.Hash{&c.Hashes} {
		if len(*p) == 0 {
			*p = nil
		}
	}
	for i := range c.Hashes {
		if len(c.Hashes[i].Bytes) == 0 {
			c.Hashes[i].Bytes = nil
		}
	}
	if len(c.Labels) == 0 {
		c.Labels = nil
	}
	return &c
}

// goldenPayload returns the payload of a golden record file, for a seed;
// a missing file is no seed (TestGoldenRecords reports it).
func goldenPayload(name string) []byte {
	data, err := os.ReadFile(filepath.Join(goldenDir, name))
	if err != nil || len(data) < 4 {
		return nil
	}
	return data[4:]
}

// FuzzDecodeChange feeds the change decoder arbitrary payloads: a change
// of a known kind or ErrCorrupt, and what decodes re-encodes to something
// that decodes the same (followers and partners read these records).
func FuzzDecodeChange(f *testing.F) {
	f.Add(EncodeChange(&goldenChange))
	f.Add(EncodeChange(&store.Change{Revision: 1, Kind: store.BankCreated, Bank: "b", CommitEnd: true}))
	f.Add(withFutureFields(EncodeChange(&goldenChange), 0))
	f.Add(goldenPayload("change.rec"))
	f.Add(EncodeBank(&goldenBank))
	f.Fuzz(func(t *testing.T, p []byte) {
		c, err := DecodeChange(p)
		if err != nil {
			if !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if !c.Kind.Valid() {
			t.Fatalf("decoded a change of unknown kind %d", c.Kind)
		}
		if again, err := DecodeChange(EncodeChange(&c)); err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("re-encoding changed the change: %+v to %+v, %v", c, again, err)
		}
	})
}

// FuzzDecodeBank does the same for bank records: a bank with a name, a
// budget in (0, 1] when it has one, or ErrCorrupt; and a round trip.
func FuzzDecodeBank(f *testing.F) {
	f.Add(EncodeBank(&goldenBank))
	f.Add(EncodeBank(&store.Bank{Name: "b", FalseMatchBudget: 1e-9}))
	f.Add(withFutureFields(EncodeBank(&goldenBank), 0))
	f.Add(goldenPayload("bank.rec"))
	f.Fuzz(func(t *testing.T, p []byte) {
		b, err := DecodeBank(p)
		if err != nil {
			if !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if b.Name == "" || (b.FalseMatchBudget != 0 && !(b.FalseMatchBudget > 0 && b.FalseMatchBudget <= 1)) {
			t.Fatalf("decoded a bank the store never writes: %+v", b)
		}
		if again, err := DecodeBank(EncodeBank(&b)); err != nil || !reflect.DeepEqual(again, b) {
			t.Fatalf("re-encoding changed the bank: %+v to %+v, %v", b, again, err)
		}
	})
}

// FuzzDecodeToken does the same for token records.
func FuzzDecodeToken(f *testing.F) {
	f.Add(EncodeToken(&goldenToken))
	f.Add(EncodeToken(&goldenCertToken))
	f.Add(goldenPayload("token.rec"))
	f.Add(goldenPayload("token-cert.rec"))
	f.Add(EncodeAudit(&goldenAudit))
	f.Fuzz(func(t *testing.T, p []byte) {
		tok, err := DecodeToken(p)
		if err != nil {
			if !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("token: error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if tok.Name == "" {
			t.Fatalf("decoded a token without a name: %+v", tok)
		}
		// What decodes re-encodes to something that decodes the same.
		if again, err := DecodeToken(EncodeToken(&tok)); err != nil || !reflect.DeepEqual(again, tok) {
			t.Fatalf("re-encoding changed the token: %+v, %v", again, err)
		}
	})
}

// FuzzDecodeAudit does the same for audit records, which admins list.
func FuzzDecodeAudit(f *testing.F) {
	f.Add(EncodeAudit(&goldenAudit))
	f.Add(EncodeAudit(&goldenAuditSummary))
	f.Add(goldenPayload("audit.rec"))
	f.Add(goldenPayload("audit-summary.rec"))
	f.Add(EncodeToken(&goldenToken))
	f.Fuzz(func(t *testing.T, p []byte) {
		a, err := DecodeAudit(p)
		if err != nil {
			if !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("audit: error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if a.Seq == 0 {
			t.Fatalf("decoded an audit record without a sequence number: %+v", a)
		}
		if again, err := DecodeAudit(EncodeAudit(&a)); err != nil || !reflect.DeepEqual(again, a) {
			t.Fatalf("re-encoding changed the audit record: %+v to %+v, %v", a, again, err)
		}
	})
}

// FuzzOpen checks the seal every stored value carries: Open refuses with
// ErrCorrupt or returns the payload that, sealed again under the same
// bucket and key, is the value; and whatever is sealed opens to itself.
func FuzzOpen(f *testing.F) {
	for _, c := range []struct{ file, bucket string }{
		{"bank.rec", "banks"}, {"change.rec", "changes"}, {"entry-image.rec", "entries"},
		{"token.rec", "tokens"}, {"audit.rec", "audit"},
	} {
		if data, err := os.ReadFile(filepath.Join(goldenDir, c.file)); err == nil {
			f.Add([]byte(c.bucket), []byte{0, 0, 0, 0, 0, 0, 0, 1}, data)
		}
	}
	f.Add([]byte("banks"), []byte("tvec"), Seal([]byte("banks"), []byte("tvec"), EncodeBank(&goldenBank)))
	f.Add([]byte("b"), []byte("k"), []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, bucket, key, value []byte) {
		payload, err := Open(bucket, key, value)
		if err != nil {
			if !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
		} else if !bytes.Equal(Seal(bucket, key, payload), value) {
			t.Fatalf("Open accepted %x, which is not the sealed payload", value)
		}
		sealed := Seal(bucket, key, value)
		if got, err := Open(bucket, key, sealed); err != nil || !bytes.Equal(got, value) {
			t.Fatalf("Open(Seal(%x)) = %x, %v", value, got, err)
		}
	})
}

// FuzzDecodeUint checks the number records (counters, the next id): a
// value or ErrCorrupt, trailing bytes refused, and every value round-trips.
func FuzzDecodeUint(f *testing.F) {
	f.Add(EncodeUint(0))
	f.Add(EncodeUint(1 << 40))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{0x80, 0x00})
	f.Fuzz(func(t *testing.T, p []byte) {
		v, err := DecodeUint(p)
		if err != nil {
			if !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
		} else if len(EncodeUint(v)) > len(p) {
			t.Fatalf("%x decoded to %d, whose encoding is longer", p, v)
		}
		if len(p) >= 8 {
			w := binary.BigEndian.Uint64(p)
			if got, err := DecodeUint(EncodeUint(w)); err != nil || got != w {
				t.Fatalf("DecodeUint(EncodeUint(%d)) = %d, %v", w, got, err)
			}
		}
	})
}

// TestThumbnailRecord: an image's thumbnail is stored with its entry, read
// back whole in the full view and left out of the basic one; a thumbnail
// whose bytes do not fill its sides is refused.
func TestThumbnailRecord(t *testing.T) {
	e := *goldenImage
	e.Thumbnail = store.Thumbnail{Width: 9, Height: 8, Grey: make([]byte, 72)}
	for i := range e.Thumbnail.Grey {
		e.Thumbnail.Grey[i] = byte(3 * i)
	}
	ident := store.Identity(&e)
	p := EncodeEntry(&e, ident)
	got, _, err := DecodeEntry(p, store.ViewFull)
	if err != nil || !reflect.DeepEqual(got.Thumbnail, e.Thumbnail) {
		t.Fatalf("full view: %+v, %v", got.Thumbnail, err)
	}
	basic, _, err := DecodeEntry(p, store.ViewBasic)
	if err != nil || !basic.Thumbnail.IsZero() {
		t.Errorf("basic view: %+v, %v", basic.Thumbnail, err)
	}
	e.Thumbnail.Grey = e.Thumbnail.Grey[:71]
	if _, _, err := DecodeEntry(EncodeEntry(&e, ident), store.ViewFull); err == nil {
		t.Errorf("a thumbnail of 9x8 with 71 bytes was read")
	}
}
