package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/record"
	"github.com/mediamatch/mediamatch/store/storetest"
)

func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// setMeta writes a meta record of a closed store file directly with
// bbolt, as a newer mediamatch might have left it.
func setMeta(t *testing.T, path, key string, payload []byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketMeta)).Put([]byte(key), record.Seal([]byte(bucketMeta), []byte(key), payload))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestOpenRefuses checks that what is not a store this program can use is
// refused at start with the documented error and a message that says what
// to do, and is left as it was.
func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	newer := filepath.Join(dir, "newer.db")
	s, err := Open(newer, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	setMeta(t, newer, keySchema, record.EncodeUint(SchemaVersion+1))
	old := filepath.Join(dir, "schema1.db")
	copyFile(t, filepath.Join("..", "..", "testdata", "store", "schema1.db"), old)
	empty := filepath.Join(dir, "empty.db")
	os.WriteFile(empty, nil, 0o600)
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, bytes.Repeat([]byte("not a database\n"), 1000), 0o600)
	short := filepath.Join(dir, "short.db")
	os.WriteFile(short, []byte{1, 2, 3}, 0o600)
	other := filepath.Join(dir, "other.db")
	odb, err := bolt.Open(other, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	odb.Update(func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucket([]byte("widgets"))
		return b.Put([]byte("k"), []byte("v"))
	})
	odb.Close()
	cases := []struct {
		name, path string
		err        error
		msg        string
	}{
		{"a newer schema", newer, store.ErrSchemaTooNew, "run a newer mediamatch"},
		{"the layout before this one", old, store.ErrSchemaTooOld, "Move the file aside"},
		{"an empty file", empty, store.ErrNotStore, "the file is empty"},
		{"a text file", text, store.ErrNotStore, "not a bbolt database"},
		{"a file of three bytes", short, store.ErrNotStore, "too short"},
		{"another program's database", other, store.ErrNotStore, "without mediamatch's records"},
		{"a directory", dir, store.ErrNotStore, "not a regular file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before, _ := os.ReadFile(c.path)
			s, err := Open(c.path, Options{})
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.msg) || !strings.Contains(err.Error(), c.path) {
				t.Errorf("got %v, want %v saying %q and the path", err, c.err, c.msg)
			}
			if after, _ := os.ReadFile(c.path); !bytes.Equal(before, after) {
				t.Errorf("the refused file was changed")
			}
		})
	}
	// A second process (here: a second open) is told the file is in use.
	s, err = Open(filepath.Join(dir, "busy.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = Open(filepath.Join(dir, "busy.db"), Options{LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), "another mediamatch server") {
		t.Errorf("second open: %v", err)
	}
	// No file: a new store, written aside and linked into place.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".new-") {
			t.Errorf("creation left %s behind", e.Name())
		}
	}
}

// fixture is a store file with every kind of record in it, and everything
// a reader can read from it.
type fixture struct {
	path     string
	banks    []store.Bank
	entries  []*store.Entry
	changes  []store.Change
	revs     store.Revisions
	pageSize int
	used     int // bytes of the pages the last commit spans
}

func makeFixture(t testing.TB) *fixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fixture.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	must := func(_ store.CommitResult, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Commit(ctx, "fixture", store.CreateBank(store.Bank{Name: "a", Labels: map[string]string{"k": "v"}}), store.CreateBank(store.Bank{Name: "b"}), store.CreateBank(store.Bank{Name: "gone"})))
	var ids []uint64
	for i := range 60 {
		res, err := s.Commit(ctx, "fixture", store.AddEntry(storetest.RandomImage(r, []string{"a", "b", "gone"}[i%3])))
		must(res, err)
		ids = append(ids, res.Results[0].Entry.ID)
	}
	for range 3 {
		must(s.Commit(ctx, "fixture", store.AddEntry(storetest.RandomVideo(r, "b", 150))))
	}
	must(s.Commit(ctx, "fixture", store.RemoveEntry(ids[1]), store.UpdateEntry(ids[0], store.Entry{Note: "checked"}, "note")))
	must(s.Commit(ctx, "fixture", store.UpdateBank("a", store.Bank{Description: "updated"}, "description")))
	must(s.Commit(ctx, "fixture", store.DeleteBank("gone", true)))
	if err := s.Compact(ctx, 10); err != nil {
		t.Fatal(err)
	}
	f := &fixture{path: path}
	var rerr error
	f.banks, f.entries, f.changes, f.revs, rerr = readAll(s)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	err = withFile(path, lockExclusive, time.Second, func(data []byte) error {
		sum, err := verify(data)
		if err == nil {
			f.pageSize, f.used = sum.pageSize, int(sum.pages)*sum.pageSize
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// readAll reads everything a store holds.
func readAll(s *DB) ([]store.Bank, []*store.Entry, []store.Change, store.Revisions, error) {
	ctx := context.Background()
	banks, err := s.ListBanks(ctx, "", 1000)
	if err != nil {
		return nil, nil, nil, store.Revisions{}, err
	}
	var entries []*store.Entry
	err = s.ListEntries(ctx, store.EntryQuery{View: store.ViewFull}, func(e *store.Entry) bool { entries = append(entries, e); return true })
	if err != nil {
		return nil, nil, nil, store.Revisions{}, err
	}
	revs, err := s.Revisions(ctx)
	if err != nil {
		return nil, nil, nil, store.Revisions{}, err
	}
	changes, err := s.Changes(ctx, revs.Compacted, 100_000, store.ViewNone)
	if err != nil {
		return nil, nil, nil, store.Revisions{}, err
	}
	for _, b := range banks {
		if _, err := s.Bank(ctx, b.Name); err != nil {
			return nil, nil, nil, store.Revisions{}, err
		}
		err = s.ListEntries(ctx, store.EntryQuery{Bank: b.Name, View: store.ViewBasic}, func(*store.Entry) bool { return true })
		if err != nil {
			return nil, nil, nil, store.Revisions{}, err
		}
	}
	return banks, entries, changes, revs, nil
}

// documented reports whether err is one of the errors a damaged file is
// met with.
func documented(err error) bool {
	return errors.Is(err, store.ErrCorrupt) || errors.Is(err, store.ErrNotStore)
}

// tryDamaged opens a damaged copy of the fixture and reads everything from
// it: each step must end in a documented error or give the fixture's data,
// and a write to a file that opened must not lose or overwrite anything.
// It reports what happened.
func tryDamaged(t *testing.T, f *fixture, data []byte, what string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "damaged.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 1)
	go func() {
		s, err := Open(path, Options{LockTimeout: time.Second})
		if err != nil {
			if !documented(err) {
				t.Errorf("%s: open failed with %v, not a documented error", what, err)
			}
			done <- "refused"
			return
		}
		defer s.Close()
		banks, entries, changes, revs, err := readAll(s)
		if err != nil {
			if !documented(err) {
				t.Errorf("%s: read failed with %v, not a documented error", what, err)
			}
			done <- "read failed"
			return
		}
		if !reflect.DeepEqual(banks, f.banks) || !reflect.DeepEqual(entries, f.entries) || !reflect.DeepEqual(changes, f.changes) || revs != f.revs {
			t.Errorf("%s: opened and read without an error, but the data differs (%d banks, %d entries, %d changes, %+v)", what, len(banks), len(entries), len(changes), revs)
			done <- "wrong"
			return
		}
		r := rand.New(rand.NewPCG(3, 3))
		res, err := s.Commit(context.Background(), "after", store.AddEntry(storetest.RandomImage(r, "a")))
		if err != nil {
			if !documented(err) {
				t.Errorf("%s: a write failed with %v", what, err)
			}
			done <- "write failed"
			return
		}
		if id := res.Results[0].Entry.ID; id <= f.entries[len(f.entries)-1].ID {
			t.Errorf("%s: a new entry got id %d, not past the last (%d)", what, id, f.entries[len(f.entries)-1].ID)
		}
		switch _, entries2, _, _, err := readAll(s); {
		case err != nil:
			t.Errorf("%s: the store read whole before a write, and not after it: %v", what, err)
		case !reflect.DeepEqual(entries2[:len(entries2)-1], f.entries):
			t.Errorf("%s: a write changed the entries that were there", what)
		}
		done <- "intact"
	}()
	select {
	case r := <-done:
		return r
	case <-time.After(time.Minute):
		t.Fatalf("%s: no answer within a minute", what)
		return ""
	}
}

// TestCorruption damages a store file in every way a disk or an operator
// can (truncation, a flipped bit at offsets across the whole file, a
// zeroed page, garbage over a page, an empty file) and checks that each
// one ends in the documented error or in the right data: never a crash, a
// hang, or a wrong answer.
func TestCorruption(t *testing.T) {
	f := makeFixture(t)
	clean, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	ps := f.pageSize
	t.Logf("fixture: %d bytes, %d pages of which the last commit spans %d, %d entries, %d changes", len(clean), len(clean)/ps, f.used/ps, len(f.entries), len(f.changes))
	outcomes := map[string]int{}
	note := func(kind, r string) { outcomes[kind+": "+r]++ }

	note("empty", tryDamaged(t, f, nil, "empty file"))
	lengths := []int{1, 16, 100, ps - 1, ps, ps + 1, 2 * ps, f.used - 1, f.used, len(clean) - 1}
	for p := 3; p*ps < f.used; p += 1 + p/8 {
		lengths = append(lengths, p*ps, p*ps-ps/2)
	}
	for _, n := range lengths {
		note("truncated", tryDamaged(t, f, clean[:n], fmt.Sprintf("truncated to %d bytes", n)))
	}
	// Bit flips: most in the pages in use, where they can do harm, some
	// in the free space past them, where they must do none.
	stride := f.used / 1000
	if testing.Short() {
		stride = f.used / 150
	}
	r := rand.New(rand.NewPCG(7, 7))
	for off := 0; off < len(clean); off += stride + r.IntN(stride) {
		if off >= f.used {
			off += 8 * stride
			if off >= len(clean) {
				break
			}
		}
		damaged := bytes.Clone(clean)
		damaged[off] ^= 1 << r.IntN(8)
		note("bit flip", tryDamaged(t, f, damaged, fmt.Sprintf("bit flipped at offset %d (page %d)", off, off/ps)))
	}
	for p := 0; p*ps < min(len(clean), f.used+2*ps); p++ {
		damaged := bytes.Clone(clean)
		clear(damaged[p*ps : (p+1)*ps])
		note("zeroed page", tryDamaged(t, f, damaged, fmt.Sprintf("page %d zeroed", p)))
		damaged = bytes.Clone(clean)
		io.ReadFull(r2(p), damaged[p*ps:(p+1)*ps])
		note("garbage page", tryDamaged(t, f, damaged, fmt.Sprintf("page %d overwritten with garbage", p)))
		if p > 1 && (p+1)*ps < len(clean) {
			damaged = bytes.Clone(clean)
			copy(damaged[p*ps:], clean[(p+1)*ps:(p+2)*ps])
			note("page copied over its neighbour", tryDamaged(t, f, damaged, fmt.Sprintf("page %d copied over page %d", p+1, p)))
		}
	}
	for k, n := range outcomes {
		t.Logf("%-40s %d", k, n)
	}
}

// r2 returns a deterministic stream of garbage for page p.
func r2(p int) io.Reader {
	return &randReader{rand.New(rand.NewPCG(uint64(p), 11))}
}

type randReader struct{ r *rand.Rand }

func (rr *randReader) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte(rr.r.Uint32())
	}
	return len(b), nil
}

// TestDamagedRecordFailsTheCall damages one entry's record while the store
// is open: reading that entry fails with ErrCorrupt, and the store goes on
// serving everything else.
func TestDamagedRecordFailsTheCall(t *testing.T) {
	s, path := openTemp(t)
	defer s.Close()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(4, 4))
	s.Commit(ctx, "t", store.CreateBank(store.Bank{Name: "b"}))
	victim := storetest.RandomImage(r, "b")
	victim.Note = "a note to find in the file"
	res, err := s.Commit(ctx, "t", store.AddEntry(victim), store.AddEntry(storetest.RandomImage(r, "b")))
	if err != nil {
		t.Fatal(err)
	}
	bad, good := res.Results[0].Entry.ID, res.Results[1].Entry.ID
	data, _ := os.ReadFile(path)
	i := bytes.Index(data, []byte(victim.Note))
	if i < 0 {
		t.Fatal("note not found in the file")
	}
	fh, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.WriteAt([]byte("A"), int64(i))
	fh.Close()
	if _, err := s.Entry(ctx, bad, store.ViewFull); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("the damaged entry: %v", err)
	}
	if e, err := s.Entry(ctx, good, store.ViewFull); err != nil || e.ID != good {
		t.Errorf("another entry after the damage: %v", err)
	}
	if _, err := s.Commit(ctx, "t", store.AddEntry(storetest.RandomImage(r, "b"))); err != nil {
		t.Errorf("a write after the damage: %v", err)
	}
	if err := s.Check(ctx); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("Check after the damage: %v", err)
	}
}

// FuzzVerify feeds the file verifier arbitrary changes to a real store
// file: it must answer, never panic or loop.
func FuzzVerify(f *testing.F) {
	fx := makeFixture(f)
	clean, err := os.ReadFile(fx.path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint32(0), []byte{0xff})
	f.Add(uint32(4096+16), []byte{0, 0, 0, 0})
	f.Add(uint32(3*4096+8), []byte{0x01, 0x00, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, off uint32, patch []byte) {
		data := bytes.Clone(clean)
		copy(data[int(off)%len(data):], patch)
		err := guard("verifying", func() error {
			_, err := verify(data)
			return err
		})
		if err != nil && !documented(err) && !errors.Is(err, errNotBolt) {
			t.Fatalf("verify: %v", err)
		}
	})
}

// fileSchema reads the schema version of a closed store file.
func fileSchema(t *testing.T, path string) uint64 {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v uint64
	if err := db.View(func(tx *bolt.Tx) error {
		v, err = txSchema(tx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestSchemaWithTokens checks the schema's move for tokens: a file that
// never held one stays at schema 2, which programs from before
// authentication read; the first token raises it to 3, which they refuse
// (they would serve the file to anyone), and it stays there; a file marked
// 2 that holds tokens (made before the move) is raised when opened.
func TestSchemaWithTokens(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	if _, err := s.Commit(ctx, "t", store.CreateBank(store.Bank{Name: "b"})); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if v := fileSchema(t, path); v != schemaNoTokens {
		t.Fatalf("a file without tokens has schema %d, want %d", v, schemaNoTokens)
	}

	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, "t", store.CreateToken(store.Token{Name: "root", Role: store.RoleAdmin, Hash: [32]byte{1}})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, "t", store.RevokeToken("root")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if v := fileSchema(t, path); v != SchemaVersion {
		t.Fatalf("after the first token the file has schema %d, want %d", v, SchemaVersion)
	}

	// Made before the move: tokens in a file marked 2.
	s, path = openTemp(t)
	if _, err := s.Commit(ctx, "t", store.CreateToken(store.Token{Name: "root", Role: store.RoleAdmin, Hash: [32]byte{2}})); err != nil {
		t.Fatal(err)
	}
	s.Close()
	setMeta(t, path, keySchema, record.EncodeUint(schemaNoTokens))
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("opening a schema-2 file with tokens: %v", err)
	}
	if err := s.Check(ctx); err != nil {
		t.Error(err)
	}
	s.Close()
	if v := fileSchema(t, path); v != SchemaVersion {
		t.Errorf("a schema-2 file with tokens has schema %d after Open, want %d", v, SchemaVersion)
	}
}

// TestReadOnly checks what a read-only open promises: a missing file is
// not created, nothing is written (not even an upgrade), readers share
// the file while a writer cannot open it, and everything reads.
func TestReadOnly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "missing.db"), Options{ReadOnly: true}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("read-only open of a missing file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); err == nil {
		t.Error("a read-only open created the file")
	}

	s, path := openTemp(t)
	if _, err := s.Commit(ctx, "t", store.CreateBank(store.Bank{Name: "b"}), store.CreateToken(store.Token{Name: "root", Role: store.RoleAdmin, Hash: [32]byte{3}})); err != nil {
		t.Fatal(err)
	}
	s.Close()
	setMeta(t, path, keySchema, record.EncodeUint(schemaNoTokens)) // would be upgraded by a writer
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	r1, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("a second reader: %v", err)
	}
	if _, err := Open(path, Options{LockTimeout: 100 * time.Millisecond}); !errors.Is(err, store.ErrLocked) {
		t.Errorf("a writer while readers hold the file: %v, want ErrLocked", err)
	}
	if b, err := r1.Bank(ctx, "b"); err != nil || b.Name != "b" {
		t.Errorf("reading: %+v %v", b, err)
	}
	if err := r2.Check(ctx); err != nil {
		t.Errorf("Check read-only: %v", err)
	}
	if _, err := r1.Commit(ctx, "t", store.CreateBank(store.Bank{Name: "c"})); !errors.Is(err, store.ErrReadOnly) {
		t.Errorf("a commit read-only: %v, want ErrReadOnly", err)
	}
	if err := r1.Compact(ctx, 1); !errors.Is(err, store.ErrReadOnly) {
		t.Errorf("compacting read-only: %v, want ErrReadOnly", err)
	}
	r1.Close()
	r2.Close()
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("read-only opens changed the file")
	}
}

// TestReadOnlyBeforeTokens reads, read-only, a file made before the token
// and audit buckets existed: it is sound and holds no tokens, and it is
// left as it was (a writer would add the buckets).
func TestReadOnlyBeforeTokens(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	if _, err := s.Commit(ctx, "t", store.CreateBank(store.Bank{Name: "b"})); err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket([]byte(bucketMeta))
		for _, b := range lateBuckets() {
			if err := tx.DeleteBucket([]byte(b)); err != nil {
				return err
			}
			if err := m.Delete([]byte(keyRecords + b)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, _ := os.ReadFile(path)

	r, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Check(ctx); err != nil {
		t.Errorf("Check: %v", err)
	}
	if list, err := r.ListTokens(ctx); err != nil || len(list) != 0 {
		t.Errorf("ListTokens: %v, %v", list, err)
	}
	if recs, err := r.ListAudit(ctx, 0, 10); err != nil || len(recs) != 0 {
		t.Errorf("ListAudit: %v, %v", recs, err)
	}
	if _, err := r.Token(ctx, "root"); !errors.Is(err, store.ErrTokenNotFound) {
		t.Errorf("Token: %v", err)
	}
	r.Close()
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the read-only open changed the file")
	}
	w, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Check(ctx); err != nil {
		t.Errorf("Check after a writer added the buckets: %v", err)
	}
}
