package etcd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/mediamatch/mediamatch/store"
)

// read runs fn on a reader of the latest committed state.
func (s *Store) read(ctx context.Context, fn func(ctx context.Context, rd *reader) error) error {
	ctx, cancel, err := s.opCtx(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	rd, err := s.reader(ctx)
	if err != nil {
		return err
	}
	return s.closedErr(fn(ctx, rd))
}

// Bank implements store.Store.
func (s *Store) Bank(ctx context.Context, name string) (b store.Bank, err error) {
	err = s.read(ctx, func(ctx context.Context, rd *reader) error {
		b, err = rd.bank(ctx, name)
		return err
	})
	return b, err
}

// ListBanks implements store.Store.
func (s *Store) ListBanks(ctx context.Context, after string, limit int) ([]store.Bank, error) {
	var out []store.Bank
	err := s.read(ctx, func(ctx context.Context, rd *reader) error {
		if limit <= 0 {
			return nil
		}
		return rd.listBanks(ctx, after, func(b store.Bank) (bool, error) {
			out = append(out, b)
			return len(out) < limit, nil
		})
	})
	return out, err
}

// Entry implements store.Store.
func (s *Store) Entry(ctx context.Context, id uint64, view store.View) (e *store.Entry, err error) {
	err = s.read(ctx, func(ctx context.Context, rd *reader) error {
		e, err = rd.entry(ctx, id, view)
		return err
	})
	return e, err
}

// ListEntries implements store.Store.
func (s *Store) ListEntries(ctx context.Context, q store.EntryQuery, fn func(*store.Entry) bool) error {
	return s.read(ctx, func(ctx context.Context, rd *reader) error { return rd.listEntries(ctx, q, fn) })
}

// Token implements store.Store.
func (s *Store) Token(ctx context.Context, name string) (t store.Token, err error) {
	err = s.read(ctx, func(ctx context.Context, rd *reader) error {
		if !store.ValidTokenName(name) {
			return fmt.Errorf("%w: %q", store.ErrTokenNotFound, store.Clip(name))
		}
		kv, err := rd.get(ctx, s.tokenKey(name))
		if err != nil {
			return err
		}
		if kv == nil {
			return fmt.Errorf("%w: %q", store.ErrTokenNotFound, name)
		}
		t, err = s.decodeToken(kv)
		return err
	})
	return t, err
}

// ListTokens implements store.Store.
func (s *Store) ListTokens(ctx context.Context) ([]store.Token, error) {
	var out []store.Token
	err := s.read(ctx, func(ctx context.Context, rd *reader) error {
		from, end := s.family("tokens")
		return rd.scan(ctx, from, end, false, func(kv *mvccpb.KeyValue) (bool, error) {
			t, err := s.decodeToken(kv)
			out = append(out, t)
			return err == nil, err
		})
	})
	return out, err
}

// ListAudit implements store.Store.
func (s *Store) ListAudit(ctx context.Context, after uint64, limit int) ([]store.AuditRecord, error) {
	var out []store.AuditRecord
	err := s.read(ctx, func(ctx context.Context, rd *reader) error {
		if limit <= 0 {
			return nil
		}
		prefix, _ := s.family("audit")
		return rd.scanIDs(ctx, prefix, after, rd.h.auditSeq, false, func(kv *mvccpb.KeyValue) (bool, error) {
			a, err := s.decodeAudit(kv)
			out = append(out, a)
			return err == nil && len(out) < limit, err
		})
	})
	return out, err
}

// Revisions implements store.Store.
func (s *Store) Revisions(ctx context.Context) (r store.Revisions, err error) {
	err = s.read(ctx, func(ctx context.Context, rd *reader) error {
		r = store.Revisions{Current: store.Revision(rd.h.rev), Compacted: store.Revision(rd.h.compacted)}
		return nil
	})
	return r, err
}

// Changes implements store.Store.
func (s *Store) Changes(ctx context.Context, after store.Revision, limit int, view store.View) (cs []store.Change, err error) {
	err = s.read(ctx, func(ctx context.Context, rd *reader) error {
		cs, err = rd.changePage(ctx, after, limit, view)
		return err
	})
	return cs, err
}

// Snapshot implements store.Store. The snapshot reads etcd at one
// revision; it holds nothing on the server, so Close only marks it done.
// A Compact that compacts etcd's history past that revision makes its
// later reads fail with ErrCompacted.
func (s *Store) Snapshot(ctx context.Context) (store.Snapshot, error) {
	var snap *snapshot
	err := s.read(ctx, func(ctx context.Context, rd *reader) error {
		snap = &snapshot{rd: rd}
		return nil
	})
	return snap, err
}

type snapshot struct {
	rd *reader
}

// ctx is the context of a snapshot's reads that take none: they end when
// the store closes.
func (sn *snapshot) ctx() (context.Context, context.CancelFunc, error) {
	return sn.rd.s.opCtx(context.Background())
}

func (sn *snapshot) Revision() store.Revision { return store.Revision(sn.rd.h.rev) }

func (sn *snapshot) Banks(fn func(store.Bank) error) error {
	ctx, cancel, err := sn.ctx()
	if err != nil {
		return err
	}
	defer cancel()
	return sn.rd.s.closedErr(sn.rd.listBanks(ctx, "", func(b store.Bank) (bool, error) { return true, fn(b) }))
}

func (sn *snapshot) Entries(view store.View, fn func(*store.Entry) error) error {
	ctx, cancel, err := sn.ctx()
	if err != nil {
		return err
	}
	defer cancel()
	var ferr error
	err = sn.rd.listEntries(ctx, store.EntryQuery{View: view}, func(e *store.Entry) bool {
		ferr = fn(e)
		return ferr == nil
	})
	if err == nil {
		err = ferr
	}
	return sn.rd.s.closedErr(err)
}

func (sn *snapshot) Bank(name string) (store.Bank, error) {
	ctx, cancel, err := sn.ctx()
	if err != nil {
		return store.Bank{}, err
	}
	defer cancel()
	b, err := sn.rd.bank(ctx, name)
	return b, sn.rd.s.closedErr(err)
}

func (sn *snapshot) ListEntries(ctx context.Context, q store.EntryQuery, fn func(*store.Entry) bool) error {
	ctx, cancel, err := sn.rd.s.opCtx(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	return sn.rd.s.closedErr(sn.rd.listEntries(ctx, q, fn))
}

func (sn *snapshot) Changes(ctx context.Context, after store.Revision, view store.View, fn func(store.Change) bool) error {
	ctx, cancel, err := sn.rd.s.opCtx(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	return sn.rd.s.closedErr(sn.rd.changes(ctx, after, view, func(c store.Change) (bool, error) { return fn(c), nil }))
}

func (sn *snapshot) Close() error { return nil }

// watchPage bounds the changes of one watch delivery.
const watchPage = 1000

// Watch implements store.Store. It watches the store's head natively:
// every commit writes it last, so each of its events is a revision at
// which a commit has just ended, and the changes up to it are read at
// that revision.
func (s *Store) Watch(ctx context.Context, after store.Revision, view store.View) <-chan store.WatchResponse {
	out := make(chan store.WatchResponse, 1)
	wctx, cancel, err := s.opCtx(ctx)
	if err != nil {
		out <- store.WatchResponse{Err: err}
		close(out)
		return out
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(out)
		defer cancel()
		err := s.watch(wctx, after, view, out)
		if s.closed() {
			err = store.ErrClosed
		} else if ctx.Err() != nil {
			err = ctx.Err()
		}
		// A reader that stopped reading is not waited for once the store
		// closes.
		select {
		case out <- store.WatchResponse{Err: err}:
		case <-s.ctx.Done():
		}
	}()
	return out
}

func (s *Store) watch(ctx context.Context, after store.Revision, view store.View, out chan<- store.WatchResponse) error {
	next := after // the last revision delivered
	rd, err := s.reader(ctx)
	if err != nil {
		return err
	}
	if uint64(after) > rd.h.rev {
		return fmt.Errorf("%w: revision %d, the store is at %d", store.ErrFutureRevision, after, rd.h.rev)
	}
	deliver := func(rd *reader) error {
		for uint64(next) < rd.h.rev {
			cs, err := rd.changePage(ctx, next, watchPage, view)
			if err != nil {
				return err
			}
			if len(cs) == 0 {
				return fmt.Errorf("%w: no change after %d below the head's %d", store.ErrCorrupt, next, rd.h.rev)
			}
			select {
			case out <- store.WatchResponse{Changes: cs}:
			case <-ctx.Done():
				return ctx.Err()
			}
			next = cs[len(cs)-1].Revision
		}
		return nil
	}
	for {
		if err := deliver(rd); err != nil {
			return err
		}
		// Watch the head from just after the state delivered.
		from := rd.rev + 1
		if rd.intent != nil {
			from = rd.headMod + 1
		}
		wch := s.cli.Watch(clientv3.WithRequireLeader(ctx), s.headKey(), clientv3.WithRev(from))
		restart := false
		for resp := range wch {
			if err := resp.Err(); err != nil {
				if resp.CompactRevision != 0 || errors.Is(etcdErr(err), store.ErrCompacted) {
					restart = true // etcd compacted its history: read afresh
					break
				}
				return etcdErr(err)
			}
			if len(resp.Events) == 0 {
				continue
			}
			ev := resp.Events[len(resp.Events)-1]
			if ev.Type != mvccpb.PUT {
				return fmt.Errorf("%w: the store head was deleted", store.ErrCorrupt)
			}
			h, err := s.decodeHead(ev.Kv.Value)
			if err != nil {
				return err
			}
			rd = &reader{s: s, rev: ev.Kv.ModRevision, h: h, headMod: ev.Kv.ModRevision}
			if err := deliver(rd); err != nil {
				return err
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !restart {
			// The watch channel closed without a reason (the client's
			// connection): start again from what was delivered.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
		if rd, err = s.reader(ctx); err != nil {
			return err
		}
	}
}

// Compact implements store.Store: it deletes the change records up to
// through in one transaction (etcd's range delete is one operation), and
// unless Options.KeepHistory is set, then compacts etcd's history up to
// the revision that wrote the last record deleted.
func (s *Store) Compact(ctx context.Context, through store.Revision) error {
	ctx, cancel, err := s.opCtx(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		rd, err := s.reader(ctx)
		if err != nil {
			return err
		}
		if uint64(through) > rd.h.rev {
			return fmt.Errorf("%w: compacting through %d, the current revision is %d", store.ErrFutureRevision, through, rd.h.rev)
		}
		if uint64(through) <= rd.h.compacted {
			return nil
		}
		if rd.intent != nil {
			if err := s.awaitIntent(ctx, rd); err != nil {
				return err
			}
			continue
		}
		last, err := rd.get(ctx, s.changeKey(uint64(through)))
		if err != nil {
			return err
		}
		h := rd.h
		h.compacted = uint64(through)
		h.seq++
		from, _ := s.family("changes")
		resp, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(s.headKey()), "=", rd.headMod), clientv3.Compare(clientv3.Version(s.intentKey()), "=", 0)).
			Then(clientv3.OpDelete(from, clientv3.WithRange(s.changeKey(uint64(through)+1))),
				clientv3.OpPut(s.headKey(), string(s.seal(s.headKey(), h.encode())))).Commit()
		if err != nil {
			return s.closedErr(etcdErr(err))
		}
		if !resp.Succeeded {
			continue // another writer's commit came first
		}
		if s.opts.KeepHistory || last == nil {
			return nil
		}
		if _, err := s.cli.Compact(ctx, last.ModRevision); err != nil && !errors.Is(etcdErr(err), store.ErrCompacted) {
			return fmt.Errorf("compacting etcd's history to revision %d: %w", last.ModRevision, s.closedErr(etcdErr(err)))
		}
		return nil
	}
}
