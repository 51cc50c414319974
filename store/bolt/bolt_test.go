package bolt

import (
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
