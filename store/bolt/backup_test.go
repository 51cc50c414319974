package bolt

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/storetest"
)

// TestBackup copies a store while commits go on: the copy opens, passes
// Check, and holds exactly the store at the revision it reports, every
// entry committed by then and none after.
func TestBackup(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Commit(ctx, "t", store.CreateBank(store.Bank{Name: "b"})); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		if _, err := s.Commit(ctx, "t", store.AddEntry(storetest.RandomImage(r, "b"))); err != nil {
			t.Fatal(err)
		}
	}

	// Commits go on while the copy is taken.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := rand.New(rand.NewPCG(3, 4))
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.Commit(ctx, "t", store.AddEntry(storetest.RandomImage(r, "b"))); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var buf bytes.Buffer
	rev, n, err := s.Backup(ctx, &buf)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) || n == 0 {
		t.Fatalf("Backup reported %d bytes and wrote %d", n, buf.Len())
	}

	path := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("opening the copy: %v", err)
	}
	defer c.Close()
	if err := c.Check(ctx); err != nil {
		t.Fatalf("the copy: %v", err)
	}
	revs, err := c.Revisions(ctx)
	if err != nil || revs.Current != rev {
		t.Fatalf("the copy is at revision %+v (%v), Backup said %d", revs, err, rev)
	}
	// The original's change log up to rev names the entries the copy must
	// hold: the bank's count there is 1 (the bank) less than rev.
	b, err := c.Bank(ctx, "b")
	if err != nil || b.Entries != int64(rev)-1 {
		t.Errorf("the copy's bank holds %d entries at revision %d (%v), want %d", b.Entries, rev, err, rev-1)
	}
	if now, _ := s.Revisions(ctx); now.Current <= rev {
		t.Logf("no commit landed during the copy (revision %d)", rev)
	}
}

// TestBackupStops checks that a copy stops when its context ends.
func TestBackupStops(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	w := &cancelAfter{cancel: cancel}
	_, _, err := s.Backup(ctx, w)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Backup after the context ended: %v", err)
	}
	if w.writes != 1 {
		t.Errorf("%d writes after the first cancelled the context", w.writes-1)
	}
}

// cancelAfter cancels its context on the first write.
type cancelAfter struct {
	cancel context.CancelFunc
	writes int
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	c.writes++
	c.cancel()
	return len(p), nil
}
