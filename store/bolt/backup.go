package bolt

import (
	"context"
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"

	"github.com/mediamatch/mediamatch/store"
)

var _ store.Backuper = (*DB)(nil)

// Backup writes a copy of the whole file to w from one read transaction:
// the copy is the store at one revision, a file Open accepts, and commits
// go on meanwhile. While it runs the file cannot be remapped: a commit that
// needs the file to grow waits for the copy to end, and every read after
// that commit waits too. So w should be fast (a local file), not a network
// peer. It stops with ctx, between writes.
func (s *DB) Backup(ctx context.Context, w io.Writer) (store.Revision, int64, error) {
	var (
		rev uint64
		n   int64
	)
	err := s.view(ctx, "backing up", func(tx *bolt.Tx) error {
		var err error
		if rev, _, err = txRevisions(tx); err != nil {
			return err
		}
		n, err = tx.WriteTo(ctxWriter{ctx: ctx, w: w})
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			// bbolt does not wrap the writer's error.
			err = ctx.Err()
		}
		return 0, n, fmt.Errorf("backing up the store: %w", err)
	}
	return store.Revision(rev), n, nil
}

// ctxWriter fails every write once its context is done, so a copy for a
// client that went away stops.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
