package bolt

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/mediamatch/mediamatch/store"
)

// TestAuditRetention checks that the newest AuditRetention records are
// kept, numbered on, and that only denials are deleted: a flood of refused
// calls never pushes out the record of a token's creation or revocation.
func TestAuditRetention(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	s, err := Open(path, Options{AuditRetention: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Commit(ctx, "root", store.CreateToken(store.Token{Name: "first", Role: store.RoleAdmin, Hash: [32]byte{1}})); err != nil {
		t.Fatal(err)
	}
	deny := func(n int) {
		for range n {
			if _, err := s.Commit(ctx, "t", store.RecordAudit(store.AuditRecord{Action: store.AuditDenied, Actor: "anonymous"})); err != nil {
				t.Fatal(err)
			}
		}
	}
	deny(12)                                                                     // seq 2..13
	if _, err := s.Commit(ctx, "root", store.RevokeToken("first")); err != nil { // seq 14
		t.Fatal(err)
	}
	deny(25) // seq 15..39
	got, err := s.ListAudit(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for _, a := range got {
		seqs = append(seqs, a.Seq)
	}
	// The two token records, and the 8 newest denials.
	want := []uint64{1, 14, 32, 33, 34, 35, 36, 37, 38, 39}
	if !slices.Equal(seqs, want) {
		t.Errorf("kept records %v; want %v", seqs, want)
	}
	if got[0].Action != store.AuditTokenCreated || got[1].Action != store.AuditTokenRevoked {
		t.Errorf("the token records: %+v, %+v", got[0], got[1])
	}
	if err := s.Check(ctx); err != nil {
		t.Error(err)
	}
}

// TestAuditDoesNotNotify checks that a commit taking no revision (an
// audit record, a token) does not wake the store's watchers, which follow
// revisions, while a bank change does.
func TestAuditDoesNotNotify(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "n.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	woken := func(ops ...store.Op) bool {
		s.notifyMu.Lock()
		ch := s.notifyCh
		s.notifyMu.Unlock()
		if _, err := s.Commit(ctx, "t", ops...); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	if woken(store.RecordAudit(store.AuditRecord{Action: store.AuditDenied, Actor: "anonymous"})) {
		t.Error("an audit record woke the watchers")
	}
	if woken(store.CreateToken(store.Token{Name: "t", Role: store.RoleAdmin, Hash: [32]byte{1}})) {
		t.Error("a token's creation woke the watchers")
	}
	if !woken(store.CreateBank(store.Bank{Name: "b"})) {
		t.Error("a bank's creation did not wake the watchers")
	}
}

// TestLateBuckets opens a file made before the token and audit buckets
// existed: it opens, gets them, and takes tokens.
func TestLateBuckets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Commit(ctx, "t", store.CreateBank(store.Bank{Name: "b"})); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Make it as the previous version left it.
	raw, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = raw.Update(func(tx *bolt.Tx) error {
		for _, b := range lateBuckets() {
			if err := tx.DeleteBucket([]byte(b)); err != nil {
				return err
			}
			if err := tx.Bucket([]byte(bucketMeta)).Delete([]byte(keyRecords + b)); err != nil {
				return err
			}
		}
		return nil
	})
	raw.Close()
	if err != nil {
		t.Fatal(err)
	}

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("opening a file without the token buckets: %v", err)
	}
	defer s.Close()
	if _, err := s.Commit(ctx, "t", store.CreateToken(store.Token{Name: "root", Role: store.RoleAdmin, Hash: [32]byte{1}})); err != nil {
		t.Fatal(err)
	}
	if b, err := s.Bank(ctx, "b"); err != nil || b.Name != "b" {
		t.Errorf("the old bank: %+v, %v", b, err)
	}
	if err := s.Check(ctx); err != nil {
		t.Error(err)
	}
}
