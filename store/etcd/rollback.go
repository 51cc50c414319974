package etcd

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/mediamatch/mediamatch/store"
)

// rollback undoes an unfinished commit of several transactions: every key
// written since its intent was created is put back as it was just before,
// from etcd's history (a watch from the intent's creation with each
// event's previous value). It first rewrites the intent, fencing off the
// writer (whose transactions compare the intent's mod revision), which
// for another writer's intent it does only if that writer's mark is gone
// (stale). Readers read at the revision before the intent until the
// rollback deletes it, so none sees a part of the commit or of its undoing.
// A rollback that stops half way is finished by the next writer, from
// the same intent.
func (s *Store) rollback(intentMod int64, stale bool) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 5*time.Minute)
	defer cancel()
	get, err := s.cli.Get(ctx, s.intentKey())
	if err != nil {
		return etcdErr(err)
	}
	if len(get.Kvs) == 0 || get.Kvs[0].ModRevision != intentMod {
		return errConflict
	}
	start := get.Kvs[0].CreateRevision
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(s.intentKey()), "=", intentMod)}
	if stale {
		cmps = append(cmps, clientv3.Compare(clientv3.Version(s.ownerKey()), "=", 0))
	}
	fence, err := s.cli.Txn(ctx).If(cmps...).
		Then(clientv3.OpPut(s.intentKey(), "rollback:"+s.owner), clientv3.OpPut(s.ownerKey(), s.owner, clientv3.WithLease(s.lease))).Commit()
	if err != nil {
		return etcdErr(err)
	}
	if !fence.Succeeded {
		return errConflict
	}
	end := fence.Header.Revision
	guard := clientv3.Compare(clientv3.ModRevision(s.intentKey()), "=", end)

	seen := map[string]bool{s.intentKey(): true, s.ownerKey(): true}
	var ops []clientv3.Op
	size := 0
	send := func(last ...clientv3.Op) error {
		resp, err := s.cli.Txn(ctx).If(guard).Then(append(ops, last...)...).Commit()
		if err != nil {
			return etcdErr(err)
		}
		if !resp.Succeeded {
			return fmt.Errorf("%w: the rollback's intent was taken over", errConflict)
		}
		ops, size = ops[:0], 0
		return nil
	}
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	done := false
	for resp := range s.cli.Watch(wctx, s.p, clientv3.WithPrefix(), clientv3.WithRev(start), clientv3.WithPrevKV()) {
		if err := resp.Err(); err != nil {
			return fmt.Errorf("%w: reading etcd's history of the unfinished commit from revision %d: %v (was etcd compacted by its operator meanwhile?)", store.ErrCorrupt, start, etcdErr(err))
		}
		for _, ev := range resp.Events {
			if ev.Kv.ModRevision > end {
				done = true
				break
			}
			if ev.Kv.ModRevision == end {
				done = true
			}
			k := string(ev.Kv.Key)
			if seen[k] {
				continue
			}
			seen[k] = true
			var op clientv3.Op
			b := len(k) + 16
			if ev.PrevKv != nil {
				op = clientv3.OpPut(k, string(ev.PrevKv.Value))
				b += len(ev.PrevKv.Value)
			} else {
				op = clientv3.OpDelete(k)
			}
			if len(ops) > 0 && (len(ops) >= s.opts.MaxTxnOps-reserveOps || size+b > s.budget) {
				if err := send(); err != nil {
					return err
				}
			}
			ops = append(ops, op)
			size += b
		}
		if done {
			break
		}
	}
	if !done {
		return fmt.Errorf("reading etcd's history of the unfinished commit: the watch ended: %w", s.closedErr(ctx.Err()))
	}
	if err := send(clientv3.OpDelete(s.intentKey()), clientv3.OpDelete(s.ownerKey())); err != nil {
		return err
	}
	s.opts.Logger.Debug("rolled back an unfinished commit", "prefix", s.p, "from_revision", start, "to_revision", end, "keys", len(seen)-2)
	return nil
}
