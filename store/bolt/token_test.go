package bolt

import (
	"context"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/mediamatch/mediamatch/store"
)

// TestAuditRetention checks that the newest AuditRetention records are
// kept, numbered on, and the oldest deleted.
func TestAuditRetention(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	s, err := Open(path, Options{AuditRetention: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for range 25 {
		if _, err := s.Commit(ctx, "t", store.RecordAudit(store.AuditRecord{Action: store.AuditDenied, Actor: "anonymous"})); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ListAudit(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 || got[0].Seq != 16 || got[9].Seq != 25 {
		t.Errorf("kept %d records, %d..%d; want 10, 16..25", len(got), got[0].Seq, got[len(got)-1].Seq)
	}
	if err := s.Check(ctx); err != nil {
		t.Error(err)
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
