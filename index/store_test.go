package index

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mediamatch/mediamatch/hashing"
)

// openTestStore opens a store on a fresh file in a temp dir.
func openTestStore(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mediamatch.db")
	s, err := OpenStore(path, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func randHash(r *rand.Rand, typ string) hashing.Hash {
	t, err := hashing.Lookup(typ)
	if err != nil {
		panic(err)
	}
	b := make([]byte, t.Bits/8)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return hashing.Hash{Type: typ, Bytes: b}
}

func testEntry(r *rand.Rand, bank string) *Entry {
	p := randHash(r, hashing.PDQ)
	p.Quality = 90
	return &Entry{
		Bank:   bank,
		Kind:   KindImage,
		Format: "jpeg", Width: 640, Height: 480,
		Hashes: []hashing.Hash{p, randHash(r, hashing.PHash), randHash(r, hashing.SHA256)},
		Labels: map[string]string{"group": "example", "lang": "ar"},
		Note:   "poster, version 2",
		Source: Source{Origin: "partner-a", ExternalID: "x-17", URI: "https://example.org/x-17"},
	}
}

func TestStoreBanks(t *testing.T) {
	s, _ := openTestStore(t)
	b, err := s.CreateBank(Bank{Name: "tvec", Description: "known propaganda", Labels: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	if b.Created.IsZero() || !b.Created.Equal(b.Updated) {
		t.Errorf("times = %v %v", b.Created, b.Updated)
	}
	if _, err := s.CreateBank(Bank{Name: "tvec"}); !errors.Is(err, ErrBankExists) {
		t.Errorf("duplicate bank: %v, want ErrBankExists", err)
	}
	for _, bad := range []string{"", "has space", "slash/", string(make([]byte, 65))} {
		if _, err := s.CreateBank(Bank{Name: bad}); !errors.Is(err, ErrInvalid) {
			t.Errorf("bank name %q: %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := s.Bank("nope"); !errors.Is(err, ErrBankNotFound) {
		t.Errorf("unknown bank: %v", err)
	}
	if _, err := s.CreateBank(Bank{Name: "alpha"}); err != nil {
		t.Fatal(err)
	}
	banks, err := s.Banks()
	if err != nil || len(banks) != 2 || banks[0].Name != "alpha" || banks[1].Name != "tvec" {
		t.Fatalf("Banks() = %+v, %v", banks, err)
	}
	got, err := s.UpdateBank("tvec", func(b *Bank) error {
		b.Disabled = true
		b.Name = "renamed" // ignored
		b.Thresholds = map[string]int{"pdq": 20}
		return nil
	})
	if err != nil || got.Name != "tvec" || !got.Disabled || got.Thresholds["pdq"] != 20 || !got.Created.Equal(b.Created) {
		t.Fatalf("UpdateBank = %+v, %v", got, err)
	}
	again, _ := s.Bank("tvec")
	if !reflect.DeepEqual(again, got) {
		t.Errorf("Bank after update = %+v, want %+v", again, got)
	}
	if _, err := s.UpdateBank("nope", func(*Bank) error { return nil }); !errors.Is(err, ErrBankNotFound) {
		t.Errorf("update unknown: %v", err)
	}
}

func TestStoreEntriesRoundTripAndLog(t *testing.T) {
	s, path := openTestStore(t)
	r := rand.New(rand.NewPCG(1, 1))
	if _, err := s.CreateBank(Bank{Name: "b1"}); err != nil {
		t.Fatal(err)
	}
	var added []*Entry
	for range 25 {
		added = append(added, testEntry(r, "b1"))
	}
	added[3].Kind = KindVideo
	added[3].Frames = []Frame{{Seconds: 0, Quality: 80}, {Seconds: 1.5, Quality: 30}}
	added[3].Frames[1].Hash[0] = 0xab
	added[3].Duration = 2.25
	if err := s.AddEntries(added, "alice"); err != nil {
		t.Fatal(err)
	}
	for i, e := range added {
		if e.ID != uint64(i+1) || e.Actor != "alice" || e.Created.IsZero() {
			t.Fatalf("entry %d: id %d actor %q created %v", i, e.ID, e.Actor, e.Created)
		}
		got, err := s.Entry(e.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Fatalf("Entry(%d) = %+v\nwant %+v", e.ID, got, e)
		}
	}

	// Pagination visits every entry once, in order.
	var listed []uint64
	after := uint64(0)
	for {
		page, more, err := s.ListEntries("b1", after, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			listed = append(listed, e.ID)
			after = e.ID
		}
		if !more {
			break
		}
	}
	if len(listed) != len(added) || listed[0] != 1 || listed[len(listed)-1] != 25 {
		t.Errorf("listed %v", listed)
	}

	removed, err := s.RemoveEntry(5, "bob")
	if err != nil || removed.ID != 5 || removed.Bank != "b1" {
		t.Fatalf("RemoveEntry = %+v, %v", removed, err)
	}
	if _, err := s.Entry(5); !errors.Is(err, ErrEntryNotFound) {
		t.Errorf("removed entry still there: %v", err)
	}
	if _, err := s.RemoveEntry(5, "bob"); !errors.Is(err, ErrEntryNotFound) {
		t.Errorf("second remove: %v", err)
	}

	changes, err := s.Changes(0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 26 {
		t.Fatalf("%d changes, want 26", len(changes))
	}
	last := changes[25]
	if last.Seq != 26 || last.Op != OpRemove || last.EntryID != 5 || last.Bank != "b1" || last.Actor != "bob" {
		t.Errorf("last change = %+v", last)
	}
	if tail, _ := s.Changes(24, 10); len(tail) != 2 || tail[0].Seq != 25 {
		t.Errorf("Changes(24) = %+v", tail)
	}

	// Everything survives closing and reopening the file.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := OpenStore(path, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	n := 0
	if err := s2.ForEachEntry(func(e *Entry) error {
		n++
		if !reflect.DeepEqual(e, added[e.ID-1]) {
			t.Errorf("after reopen entry %d differs", e.ID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 24 {
		t.Errorf("%d entries after reopen, want 24", n)
	}
	// Ids are never reused.
	more := []*Entry{testEntry(r, "b1")}
	if err := s2.AddEntries(more, ""); err != nil || more[0].ID != 26 {
		t.Errorf("next id = %d, %v; want 26", more[0].ID, err)
	}
}

func TestStoreAddIsAtomic(t *testing.T) {
	s, _ := openTestStore(t)
	r := rand.New(rand.NewPCG(2, 2))
	if _, err := s.CreateBank(Bank{Name: "b1"}); err != nil {
		t.Fatal(err)
	}
	batch := []*Entry{testEntry(r, "b1"), testEntry(r, "b1"), testEntry(r, "missing-bank")}
	if err := s.AddEntries(batch, ""); !errors.Is(err, ErrBankNotFound) {
		t.Fatalf("AddEntries with an unknown bank: %v", err)
	}
	bad := testEntry(r, "b1")
	bad.Hashes[0].Bytes = bad.Hashes[0].Bytes[:5]
	if err := s.AddEntries([]*Entry{testEntry(r, "b1"), bad}, ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("AddEntries with a short hash: %v", err)
	}
	n := 0
	s.ForEachEntry(func(*Entry) error { n++; return nil })
	ch, _ := s.Changes(0, 100)
	if n != 0 || len(ch) != 0 {
		t.Errorf("failed batches left %d entries and %d changes", n, len(ch))
	}
}

func TestStoreDeleteBank(t *testing.T) {
	s, _ := openTestStore(t)
	r := rand.New(rand.NewPCG(3, 3))
	for _, name := range []string{"full", "empty", "other"} {
		if _, err := s.CreateBank(Bank{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddEntries([]*Entry{testEntry(r, "full"), testEntry(r, "full"), testEntry(r, "other")}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteBank("full", false, ""); !errors.Is(err, ErrBankNotEmpty) {
		t.Errorf("delete non-empty: %v", err)
	}
	if removed, err := s.DeleteBank("empty", false, ""); err != nil || len(removed) != 0 {
		t.Errorf("delete empty: %v, %v", removed, err)
	}
	removed, err := s.DeleteBank("full", true, "carol")
	if err != nil || len(removed) != 2 {
		t.Fatalf("force delete: %d removed, %v", len(removed), err)
	}
	if _, err := s.Bank("full"); !errors.Is(err, ErrBankNotFound) {
		t.Errorf("deleted bank still there: %v", err)
	}
	if _, err := s.Entry(removed[0].ID); !errors.Is(err, ErrEntryNotFound) {
		t.Errorf("entry of deleted bank still there")
	}
	if _, err := s.Entry(3); err != nil {
		t.Errorf("entry of another bank gone: %v", err)
	}
	ch, _ := s.Changes(3, 10)
	if len(ch) != 2 || ch[0].Op != OpRemove || ch[0].Actor != "carol" {
		t.Errorf("removal log = %+v", ch)
	}
	// The name can be used again, for an empty bank.
	if _, err := s.CreateBank(Bank{Name: "full"}); err != nil {
		t.Fatal(err)
	}
	if page, _, err := s.ListEntries("full", 0, 10); err != nil || len(page) != 0 {
		t.Errorf("recreated bank lists %d entries, %v", len(page), err)
	}
	if _, _, err := s.ListEntries("nope", 0, 10); !errors.Is(err, ErrBankNotFound) {
		t.Errorf("list unknown bank: %v", err)
	}
}

func TestStoreRefusesNewerSchema(t *testing.T) {
	s, path := openTestStore(t)
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchema, binary.BigEndian.AppendUint32(nil, SchemaVersion+1))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := OpenStore(path, StoreOptions{}); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("OpenStore on a newer schema: %v, want ErrSchemaTooNew", err)
	}
}

func TestStoreSecondOpenTimesOut(t *testing.T) {
	_, path := openTestStore(t)
	start := time.Now()
	_, err := OpenStore(path, StoreOptions{LockTimeout: 100 * time.Millisecond})
	if err == nil {
		t.Fatal("a second open of a locked file succeeded")
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("second open hung")
	}
}

func TestStoreCorruptRecord(t *testing.T) {
	s, _ := openTestStore(t)
	if _, err := s.CreateBank(Bank{Name: "b1"}); err != nil {
		t.Fatal(err)
	}
	e := testEntry(rand.New(rand.NewPCG(4, 4)), "b1")
	if err := s.AddEntries([]*Entry{e}, ""); err != nil {
		t.Fatal(err)
	}
	good := encodeEntry(e)
	// Every truncation of a record and a wrong version are reported as
	// corruption, never a panic or a huge allocation.
	for n := range len(good) {
		if _, err := decodeEntry(1, good[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("record cut at %d of %d: %v", n, len(good), err)
		}
	}
	bad := append([]byte{99}, good[1:]...)
	if _, err := decodeEntry(1, bad); !errors.Is(err, ErrCorrupt) {
		t.Errorf("unknown version: %v", err)
	}
}

func FuzzDecodeEntry(f *testing.F) {
	r := rand.New(rand.NewPCG(5, 5))
	e := testEntry(r, "b1")
	e.Frames = []Frame{{Seconds: 1, Quality: 50}}
	f.Add(encodeEntry(e))
	f.Add([]byte{entryRecordV1})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := decodeEntry(1, data)
		if err != nil {
			return
		}
		// What decodes re-encodes to something that decodes the same
		// (compared encoded: a NaN duration is not DeepEqual to itself).
		enc := encodeEntry(e)
		again, err := decodeEntry(1, enc)
		if err != nil || !bytes.Equal(encodeEntry(again), enc) {
			t.Fatalf("re-encoding changed the entry: %v", err)
		}
	})
}
