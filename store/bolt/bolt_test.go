package bolt

import (
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/storetest"
)

// openTemp opens a store on a new file in a temporary directory.
func openTemp(t testing.TB) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mediamatch.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s, path
}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		New: func(t *testing.T) store.Store {
			s, _ := openTemp(t)
			return s
		},
		Reopen: func(t *testing.T, s store.Store) store.Store {
			path := s.(*DB).Path()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			again, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			return again
		},
	})
}

// TestLogRetention checks automatic compaction: the newest LogRetention
// changes are kept, older ones go, and the data is untouched.
func TestLogRetention(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	s, err := Open(path, Options{LogRetention: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 1))
	s.Commit(ctx, "t", store.CreateBank(store.Bank{Name: "b"}))
	for range 400 {
		if _, err := s.Commit(ctx, "t", store.AddEntry(storetest.RandomImage(r, "b"))); err != nil {
			t.Fatal(err)
		}
	}
	revs, _ := s.Revisions(ctx)
	kept := revs.Current - revs.Compacted
	if revs.Compacted == 0 || kept < 100 || kept > 100+100/8+1 {
		t.Errorf("revisions %+v: %d changes kept, want 100 to 113", revs, kept)
	}
	if _, err := s.Changes(ctx, 0, 10, store.ViewNone); !errors.Is(err, store.ErrCompacted) {
		t.Errorf("changes from 0: %v", err)
	}
	if b, _ := s.Bank(ctx, "b"); b.Entries != 400 {
		t.Errorf("the bank holds %d entries, want 400", b.Entries)
	}
	if err := s.Check(ctx); err != nil {
		t.Error(err)
	}
}
