package etcd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/record"
)

// errConflict says another writer's commit landed between a commit's
// reads and its transaction: the commit is computed again.
var errConflict = errors.New("another commit came first")

// reserveOps are the operations of a transaction kept for the head, the
// intent and the writer mark.
const reserveOps = 3

// Commit implements store.Store.
//
// A commit is computed against the state at one revision, its writes held
// in memory. When they fit one transaction, that transaction writes them
// and the head, if the head is still the one read (else the commit is
// computed again). When they do not, the commit first takes the intent
// (a key that says a commit is under way, and the writer mark, a key on
// this store's lease), then writes them in as many transactions as they
// need, and ends with one that writes the head and deletes the intent.
// Readers meanwhile read at the revision before the intent, so none sees a
// part; a commit that fails after taking the intent, or whose writer dies
// (its lease ends), is rolled back from etcd's history (rollback).
func (s *Store) Commit(ctx context.Context, actor string, ops ...store.Op) (store.CommitResult, error) {
	if err := store.CheckOps(actor, ops); err != nil {
		return store.CommitResult{}, err
	}
	ctx, cancel, err := s.opCtx(ctx)
	if err != nil {
		return store.CommitResult{}, err
	}
	defer cancel()
	if len(ops) == 0 {
		r, err := s.Revisions(ctx)
		return store.CommitResult{Revision: r.Current}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed() {
		return store.CommitResult{}, store.ErrClosed
	}
	for backoff := time.Millisecond; ; backoff = min(2*backoff, 100*time.Millisecond) {
		res, err := s.try(ctx, actor, ops)
		if !errors.Is(err, errConflict) {
			return res, s.closedErr(err)
		}
		select {
		case <-ctx.Done():
			return store.CommitResult{}, s.closedErr(ctx.Err())
		case <-time.After(backoff):
		}
	}
}

// try computes and writes a commit once.
func (s *Store) try(ctx context.Context, actor string, ops []store.Op) (store.CommitResult, error) {
	rd, err := s.reader(ctx)
	if err != nil {
		return store.CommitResult{}, err
	}
	if rd.intent != nil {
		if err := s.awaitIntent(ctx, rd); err != nil {
			return store.CommitResult{}, err
		}
		return store.CommitResult{}, errConflict
	}
	w := &writer{s: s, ctx: ctx, base: rd, h: rd.h, now: s.opts.Now().UTC(), pend: map[string]pendingOp{}}
	w.h.seq++
	if len(ops) == 1 && ops[0].Kind == store.OpImportEntries {
		// Its items are read once: it holds the intent from the start, so
		// that no other commit can make it start again.
		if err := w.begin(); err != nil {
			return store.CommitResult{}, err
		}
	}
	res, err := w.apply(actor, ops)
	if err == nil {
		err = w.finish()
	}
	if err != nil && w.intent != 0 && !errors.Is(err, errCrash) {
		if rerr := s.rollback(w.intent, false); rerr != nil {
			err = errors.Join(err, fmt.Errorf("rolling the commit back (the next writer finishes it): %w", rerr))
		}
	}
	if err != nil {
		return store.CommitResult{}, err
	}
	res.Revision = store.Revision(w.h.rev)
	return res, nil
}

// awaitIntent waits until the commit under way that rd shows ends, or
// rolls it back when its writer is gone.
func (s *Store) awaitIntent(ctx context.Context, rd *reader) error {
	if !rd.ownerAlive {
		s.opts.Logger.Warn("rolling back an unfinished commit whose writer is gone", "prefix", s.p, "since_revision", rd.intent.CreateRevision)
		err := s.rollback(rd.intent.ModRevision, true)
		if errors.Is(err, errConflict) {
			return nil // someone else did
		}
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, s.opts.LeaseTTL)
	defer cancel()
	for resp := range s.cli.Watch(wctx, s.intentKey(), clientv3.WithRev(rd.rev+1)) {
		for _, ev := range resp.Events {
			if ev.Type == mvccpb.DELETE {
				return nil
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return nil // look again: the writer may have died meanwhile
}

// pendingOp is a write not yet sent: a value, or a deletion.
type pendingOp struct {
	val []byte
	del bool
}

// writer computes one commit.
type writer struct {
	s    *Store
	ctx  context.Context
	base *reader // the state the commit read until it took the intent
	h    head    // the head as the commit leaves it
	now  time.Time
	// pend holds the writes not yet sent, in order.
	pend  map[string]pendingOp
	order []string
	bytes int
	// intent is the intent's mod revision once the commit holds it: its
	// writes go in several transactions, and it reads the latest state
	// (its own writes included) instead of base's.
	intent  int64
	sent    int           // transactions sent under the intent
	pending *store.Change // the commit's last change so far
}

// get reads a key as the commit sees it; nil when absent.
func (w *writer) get(key string) ([]byte, *mvccpb.KeyValue, error) {
	if p, ok := w.pend[key]; ok {
		if p.del {
			return nil, nil, nil
		}
		return p.val, &mvccpb.KeyValue{Key: []byte(key), Value: p.val}, nil
	}
	var opts []clientv3.OpOption
	if w.intent == 0 {
		opts = append(opts, clientv3.WithRev(w.base.rev))
	}
	resp, err := w.s.cli.Get(w.ctx, key, opts...)
	if err != nil {
		return nil, nil, etcdErr(err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil, nil
	}
	return resp.Kvs[0].Value, resp.Kvs[0], nil
}

// keys returns the keys under prefix as the commit sees them, in order.
func (w *writer) keys(prefix string) ([]string, error) {
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithKeysOnly()}
	if w.intent == 0 {
		opts = append(opts, clientv3.WithRev(w.base.rev))
	}
	resp, err := w.s.cli.Get(w.ctx, prefix, opts...)
	if err != nil {
		return nil, etcdErr(err)
	}
	set := map[string]bool{}
	for _, kv := range resp.Kvs {
		set[string(kv.Key)] = true
	}
	for k, p := range w.pend {
		if strings.HasPrefix(k, prefix) {
			set[k] = !p.del
		}
	}
	var out []string
	for k, ok := range set {
		if ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (w *writer) put(key string, val []byte) error {
	return w.write(key, pendingOp{val: val})
}

func (w *writer) del(key string) error {
	return w.write(key, pendingOp{del: true})
}

func (w *writer) write(key string, p pendingOp) error {
	if _, ok := w.pend[key]; !ok {
		w.order = append(w.order, key)
	}
	w.pend[key] = p
	w.bytes += opBytes(key, p)
	if len(w.pend) >= w.s.opts.MaxTxnOps-reserveOps || w.bytes >= w.s.budget-w.s.opts.ChunkBytes {
		return w.flush()
	}
	return nil
}

// opBytes is what one write adds to a transaction's request.
func opBytes(key string, p pendingOp) int { return len(key) + len(p.val) + 16 }

// flush sends the writes held, taking the intent first: they are more
// than the commit's last transaction can carry.
func (w *writer) flush() error {
	if w.intent == 0 {
		if err := w.begin(); err != nil {
			return err
		}
	}
	for len(w.order) > 0 {
		if err := w.send(w.batch(), nil); err != nil {
			return err
		}
	}
	return nil
}

// batch takes from the writes held as many as one transaction carries.
func (w *writer) batch() []clientv3.Op {
	var ops []clientv3.Op
	size := 0
	n := 0
	for _, k := range w.order {
		p := w.pend[k]
		b := opBytes(k, p)
		if len(ops) > 0 && (len(ops) >= w.s.opts.MaxTxnOps-reserveOps || size+b > w.s.budget) {
			break
		}
		if p.del {
			ops = append(ops, clientv3.OpDelete(k))
		} else {
			ops = append(ops, clientv3.OpPut(k, string(p.val)))
		}
		size += b
		n++
	}
	for _, k := range w.order[:n] {
		delete(w.pend, k)
	}
	w.order = w.order[n:]
	w.bytes = 0
	for _, k := range w.order {
		w.bytes += opBytes(k, w.pend[k])
	}
	return ops
}

// begin takes the intent, if the head is still the one read and no other
// commit holds it.
func (w *writer) begin() error {
	s := w.s
	resp, err := s.cli.Txn(w.ctx).
		If(clientv3.Compare(clientv3.ModRevision(s.headKey()), "=", w.base.headMod), clientv3.Compare(clientv3.Version(s.intentKey()), "=", 0)).
		Then(clientv3.OpPut(s.intentKey(), s.owner), clientv3.OpPut(s.ownerKey(), s.owner, clientv3.WithLease(s.lease))).Commit()
	if err != nil {
		return etcdErr(err)
	}
	if !resp.Succeeded {
		return errConflict
	}
	w.intent = resp.Header.Revision
	return nil
}

// errFenced says a commit's intent was taken over: its writer was taken
// for dead and its writes rolled back.
var errFenced = errors.New("this commit's writes were rolled back by another writer (its lease had expired)")

// send writes ops in one transaction under the intent, or with last set,
// the commit's last transaction with the ops of last.
func (w *writer) send(ops []clientv3.Op, last []clientv3.Op) error {
	s := w.s
	if w.intent != 0 && s.crashAfter > 0 && w.sent >= s.crashAfter {
		return errCrash
	}
	// Once the intent is held, writes run to the end or are rolled back;
	// the caller's cancellation stops the reads between them.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), time.Minute)
	defer cancel()
	var cmps []clientv3.Cmp
	if w.intent != 0 {
		cmps = []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(s.intentKey()), "=", w.intent)}
	} else {
		cmps = []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(s.headKey()), "=", w.base.headMod),
			clientv3.Compare(clientv3.Version(s.intentKey()), "=", 0)}
	}
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(append(ops, last...)...).Commit()
	if err != nil {
		if last != nil {
			return w.resolve(err)
		}
		return etcdErr(err)
	}
	w.sent++
	switch {
	case resp.Succeeded:
		return nil
	case w.intent != 0:
		return errFenced
	}
	return errConflict
}

// errCrash stops a commit as if its process died (Store.crashAfter).
var errCrash = errors.New("commit stopped for a test")

// resolve finds out whether the commit's last transaction, which failed
// with err, landed: the head then holds its sequence number.
func (w *writer) resolve(err error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), 10*time.Second)
	defer cancel()
	resp, gerr := w.s.cli.Get(ctx, w.s.headKey())
	if gerr != nil || len(resp.Kvs) == 0 {
		return fmt.Errorf("the commit's last transaction failed (%w), and whether it landed is unknown: %v", etcdErr(err), gerr)
	}
	h, herr := w.s.decodeHead(resp.Kvs[0].Value)
	switch {
	case herr != nil:
		return herr
	case h.seq == w.h.seq:
		return nil
	case h.seq == w.h.seq-1 && w.intent == 0:
		return etcdErr(err)
	case h.seq == w.h.seq-1:
		return etcdErr(err) // rolled back by the caller
	}
	return fmt.Errorf("the commit's last transaction failed (%w), and another commit has landed since: whether it did is unknown", etcdErr(err))
}

// finish writes what is left, the head, and ends the intent.
func (w *writer) finish() error {
	if err := w.flushChange(); err != nil {
		return err
	}
	s := w.s
	last := []clientv3.Op{clientv3.OpPut(s.headKey(), string(s.seal(s.headKey(), w.h.encode())))}
	if w.intent != 0 {
		last = append(last, clientv3.OpDelete(s.intentKey()), clientv3.OpDelete(s.ownerKey()))
	}
	for {
		ops := w.batch()
		if len(w.order) == 0 {
			return w.send(ops, last)
		}
		// More than one transaction is left: they need the intent.
		if w.intent == 0 {
			w.restore(ops)
			if err := w.begin(); err != nil {
				return err
			}
			last = append(last, clientv3.OpDelete(s.intentKey()), clientv3.OpDelete(s.ownerKey()))
			continue
		}
		if err := w.send(ops, nil); err != nil {
			return err
		}
	}
}

// restore puts a batch back in front of the writes held.
func (w *writer) restore(ops []clientv3.Op) {
	keys := make([]string, len(ops))
	for i, op := range ops {
		k := string(op.KeyBytes())
		keys[i] = k
		if op.IsDelete() {
			w.pend[k] = pendingOp{del: true}
		} else {
			w.pend[k] = pendingOp{val: op.ValueBytes()}
		}
	}
	w.order = append(keys, w.order...)
	w.bytes = 0
	for _, k := range w.order {
		w.bytes += opBytes(k, w.pend[k])
	}
}

// change records a change of the commit; it is written when the next one
// comes, or at the commit's end marked as its last.
func (w *writer) change(c store.Change) error {
	if err := w.flushChange(); err != nil {
		return err
	}
	w.h.rev++
	c.Revision = store.Revision(w.h.rev)
	c.Time = w.now
	w.pending = &c
	return nil
}

func (w *writer) flushChange() error {
	if w.pending == nil {
		return nil
	}
	c := w.pending
	w.pending = nil
	k := w.s.changeKey(uint64(c.Revision))
	return w.put(k, w.s.seal(k, record.EncodeChange(c)))
}

func (w *writer) putRecord(key string, payload []byte) error {
	return w.put(key, w.s.seal(key, payload))
}

// apply runs a commit's operations.
func (w *writer) apply(actor string, ops []store.Op) (store.CommitResult, error) {
	out := store.CommitResult{Results: make([]store.OpResult, len(ops))}
	for i, op := range ops {
		if err := w.ctx.Err(); err != nil {
			return store.CommitResult{}, err
		}
		var res store.OpResult
		var err error
		switch op.Kind {
		case store.OpCreateBank:
			res, err = w.createBank(actor, op.Bank)
		case store.OpUpdateBank:
			res, err = w.updateBank(actor, op.Bank, op.Fields)
		case store.OpDeleteBank:
			res, err = w.deleteBank(actor, op.Bank.Name, op.Force)
		case store.OpAddEntry:
			res, err = w.addEntry(actor, op.Entry)
		case store.OpUpdateEntry:
			res, err = w.updateEntry(actor, op.ID, op.Entry, op.Fields)
		case store.OpRemoveEntry:
			var e *store.Entry
			e, err = w.removeEntry(actor, op.ID)
			res = store.OpResult{Entry: e, Changed: true}
		case store.OpCreateToken:
			res, err = w.createToken(actor, *op.Token)
		case store.OpRevokeToken:
			res, err = w.revokeToken(actor, op.Token.Name)
		case store.OpRecordAudit:
			err = w.audit(*op.Audit)
			res = store.OpResult{Changed: true}
		case store.OpImportEntries:
			var ir store.ImportResult
			ir, err = w.importList(actor, op.Import)
			res = store.OpResult{Import: &ir, Changed: ir.Imported+ir.Removed > 0}
		case store.OpSyncEntries:
			res, err = w.syncEntries(actor, op.Sync)
		}
		if err != nil {
			return store.CommitResult{}, store.OpError(i, len(ops), err)
		}
		out.Results[i] = res
	}
	if w.pending != nil {
		w.pending.CommitEnd = true
	}
	return out, nil
}

func (w *writer) bank(name string) (store.Bank, error) {
	v, kv, err := w.get(w.s.bankKey(name))
	if err != nil {
		return store.Bank{}, err
	}
	if v == nil {
		return store.Bank{}, fmt.Errorf("%w: %q", store.ErrBankNotFound, name)
	}
	_, ckv, err := w.get(w.s.countKey(name))
	if err != nil {
		return store.Bank{}, err
	}
	return w.s.decodeBank(kv, ckv)
}

func (w *writer) createBank(actor string, b store.Bank) (store.OpResult, error) {
	v, _, err := w.get(w.s.bankKey(b.Name))
	if err != nil {
		return store.OpResult{}, err
	}
	if v != nil {
		return store.OpResult{}, fmt.Errorf("%w: %q", store.ErrBankExists, b.Name)
	}
	if w.h.banks >= store.MaxBanks {
		return store.OpResult{}, fmt.Errorf("%w: the store holds %d banks, the most it may; delete unused ones first", store.ErrInvalid, w.h.banks)
	}
	if err := w.change(store.Change{Kind: store.BankCreated, Actor: actor, Bank: b.Name}); err != nil {
		return store.OpResult{}, err
	}
	b = cloneBank(b)
	b.Entries = 0
	b.Created, b.Updated, b.CreatedBy, b.UpdatedBy = w.now, w.now, actor, actor
	b.Revision = store.Revision(w.h.rev)
	w.h.banks++
	if err := w.putRecord(w.s.bankKey(b.Name), record.EncodeBank(&b)); err != nil {
		return store.OpResult{}, err
	}
	if err := w.putRecord(w.s.countKey(b.Name), record.EncodeUint(0)); err != nil {
		return store.OpResult{}, err
	}
	out := cloneBank(b)
	return store.OpResult{Bank: &out, Changed: true}, nil
}

func (w *writer) updateBank(actor string, from store.Bank, fields []string) (store.OpResult, error) {
	b, err := w.bank(from.Name)
	if err != nil {
		return store.OpResult{}, err
	}
	changed, err := store.ApplyBankUpdate(&b, &from, fields)
	if err != nil {
		return store.OpResult{}, err
	}
	if len(changed) == 0 {
		return store.OpResult{Bank: &b}, nil
	}
	if err := w.change(store.Change{Kind: store.BankUpdated, Actor: actor, Bank: b.Name, Fields: changed}); err != nil {
		return store.OpResult{}, err
	}
	b.Updated, b.UpdatedBy, b.Revision = w.now, actor, store.Revision(w.h.rev)
	if err := w.putRecord(w.s.bankKey(b.Name), record.EncodeBank(&b)); err != nil {
		return store.OpResult{}, err
	}
	out := cloneBank(b)
	return store.OpResult{Bank: &out, Changed: true}, nil
}

func (w *writer) deleteBank(actor, name string, force bool) (store.OpResult, error) {
	b, err := w.bank(name)
	if err != nil {
		return store.OpResult{}, err
	}
	prefix := w.s.memberPrefix(name)
	keys, err := w.keys(prefix)
	if err != nil {
		return store.OpResult{}, err
	}
	if len(keys) > 0 && !force {
		return store.OpResult{}, fmt.Errorf("%w: %q holds %d entries; remove them first or delete with force", store.ErrBankNotEmpty, name, len(keys))
	}
	for _, k := range keys {
		id, err := idOf([]byte(k), prefix)
		if err != nil {
			return store.OpResult{}, err
		}
		if _, err := w.removeEntry(actor, id); err != nil {
			return store.OpResult{}, err
		}
	}
	if err := w.del(w.s.countKey(name)); err != nil {
		return store.OpResult{}, err
	}
	if err := w.del(w.s.bankKey(name)); err != nil {
		return store.OpResult{}, err
	}
	w.h.banks--
	if err := w.change(store.Change{Kind: store.BankDeleted, Actor: actor, Bank: name}); err != nil {
		return store.OpResult{}, err
	}
	b.Entries = 0
	return store.OpResult{Bank: &b, Removed: len(keys), Changed: true}, nil
}

func (w *writer) bumpCount(bank string, d int64) error {
	k := w.s.countKey(bank)
	_, kv, err := w.get(k)
	if err != nil {
		return err
	}
	if kv == nil {
		return fmt.Errorf("%w: bank %q has no entry count", store.ErrCorrupt, bank)
	}
	n, err := w.s.decodeUint(kv)
	if err != nil {
		return err
	}
	if d < 0 && uint64(-d) > n {
		return fmt.Errorf("%w: bank %q entry count %d would drop below zero", store.ErrCorrupt, bank, n)
	}
	return w.putRecord(k, record.EncodeUint(uint64(int64(n)+d)))
}

// readEntry reads an entry as the commit sees it, with its identity and
// its chunk count; nil when absent.
func (w *writer) readEntry(id uint64, view store.View) (*store.Entry, [32]byte, int, error) {
	_, kv, err := w.get(w.s.entryKey(id))
	if err != nil || kv == nil {
		return nil, [32]byte{}, 0, err
	}
	e, identity, n, err := w.s.decodeMain(kv, id)
	if err != nil {
		return nil, identity, 0, err
	}
	if view == store.ViewFull && n > 0 {
		chunks := make([]*mvccpb.KeyValue, n)
		for i := range n {
			if _, chunks[i], err = w.get(w.s.bulkKey(id, i)); err != nil {
				return nil, identity, 0, err
			}
		}
		if err := w.s.addBulk(e, chunks, n); err != nil {
			return nil, identity, 0, err
		}
	}
	return e, identity, n, nil
}

func (w *writer) mustEntry(id uint64, view store.View) (*store.Entry, [32]byte, int, error) {
	e, identity, n, err := w.readEntry(id, view)
	if err == nil && e == nil {
		err = fmt.Errorf("%w: %d", store.ErrEntryNotFound, id)
	}
	return e, identity, n, err
}

// existing returns the id of the entry of that identity in a bank, or 0.
func (w *writer) existing(bank string, identity [32]byte) (uint64, error) {
	_, kv, err := w.get(w.s.identKey(bank, identity))
	if err != nil || kv == nil {
		return 0, err
	}
	return w.s.decodeUint(kv)
}

func (w *writer) addEntry(actor string, in *store.Entry) (store.OpResult, error) {
	if _, err := w.bank(in.Bank); err != nil {
		return store.OpResult{}, err
	}
	res, err := w.insertEntry(actor, in, store.Identity(in))
	if err != nil || res.Existed {
		return res, err
	}
	return res, w.bumpCount(in.Bank, 1)
}

// insertEntry adds an entry to its bank, which must exist, unless the
// bank holds its identity already; the bank's count is the caller's.
func (w *writer) insertEntry(actor string, in *store.Entry, identity [32]byte) (store.OpResult, error) {
	old, err := w.existing(in.Bank, identity)
	if err != nil {
		return store.OpResult{}, err
	}
	if old != 0 {
		e, _, _, err := w.mustEntry(old, store.ViewFull)
		if err != nil {
			return store.OpResult{}, fmt.Errorf("the identity of bank %q points at entry %d: %w", in.Bank, old, err)
		}
		return store.OpResult{Entry: e, Existed: true}, nil
	}
	w.h.lastID++
	id := w.h.lastID
	if err := w.change(store.Change{Kind: store.EntryAdded, Actor: actor, Bank: in.Bank, EntryID: id}); err != nil {
		return store.OpResult{}, err
	}
	e := cloneEntry(in)
	e.ID = id
	e.Created, e.Updated, e.CreatedBy, e.UpdatedBy = w.now, w.now, actor, actor
	e.Revision = store.Revision(w.h.rev)
	if err := w.putEntry(e, identity, -1); err != nil {
		return store.OpResult{}, err
	}
	if err := w.put(w.s.memberKey(e.Bank, id), nil); err != nil {
		return store.OpResult{}, err
	}
	if err := w.putRecord(w.s.identKey(e.Bank, identity), record.EncodeUint(id)); err != nil {
		return store.OpResult{}, err
	}
	return store.OpResult{Entry: cloneEntry(e), Changed: true}, nil
}

// putEntry writes an entry: its frames and keypoints (when it has any) as
// one record split into chunks, then its main record, which says how many
// chunks there are. chunks, when not -1, is the number already stored,
// which an update leaves as they are.
func (w *writer) putEntry(e *store.Entry, identity [32]byte, chunks int) error {
	main := *e
	main.Frames, main.Keypoints = nil, nil
	if chunks < 0 {
		chunks = 0
		if len(e.Frames)+len(e.Keypoints) > 0 {
			key := w.s.bulkPrefix(e.ID)
			bulk := w.s.seal(key, record.EncodeEntry(&store.Entry{ID: e.ID, Bank: e.Bank, Frames: e.Frames, Keypoints: e.Keypoints}, identity))
			for len(bulk) > 0 {
				n := min(len(bulk), w.s.opts.ChunkBytes)
				if err := w.put(w.s.bulkKey(e.ID, chunks), bulk[:n]); err != nil {
					return err
				}
				bulk = bulk[n:]
				chunks++
			}
		}
	}
	payload := binary.AppendUvarint(nil, uint64(chunks))
	payload = append(payload, record.EncodeEntry(&main, identity)...)
	return w.putRecord(w.s.entryKey(e.ID), payload)
}

func (w *writer) updateEntry(actor string, id uint64, from *store.Entry, fields []string) (store.OpResult, error) {
	e, identity, chunks, err := w.mustEntry(id, store.ViewFull)
	if err != nil {
		return store.OpResult{}, err
	}
	changed, err := store.ApplyEntryUpdate(e, from, fields)
	if err != nil {
		return store.OpResult{}, err
	}
	if len(changed) == 0 {
		return store.OpResult{Entry: e}, nil
	}
	if err := w.change(store.Change{Kind: store.EntryUpdated, Actor: actor, Bank: e.Bank, EntryID: id, Fields: changed}); err != nil {
		return store.OpResult{}, err
	}
	e.Updated, e.UpdatedBy, e.Revision = w.now, actor, store.Revision(w.h.rev)
	if err := w.putEntry(e, identity, chunks); err != nil {
		return store.OpResult{}, err
	}
	return store.OpResult{Entry: cloneEntry(e), Changed: true}, nil
}

func (w *writer) removeEntry(actor string, id uint64) (*store.Entry, error) {
	e, identity, chunks, err := w.mustEntry(id, store.ViewFull)
	if err != nil {
		return nil, err
	}
	keys := []string{w.s.entryKey(id), w.s.memberKey(e.Bank, id), w.s.identKey(e.Bank, identity)}
	for i := range chunks {
		keys = append(keys, w.s.bulkKey(id, i))
	}
	for _, k := range keys {
		if err := w.del(k); err != nil {
			return nil, err
		}
	}
	if err := w.bumpCount(e.Bank, -1); err != nil {
		return nil, err
	}
	if err := w.change(store.Change{Kind: store.EntryRemoved, Actor: actor, Bank: e.Bank, EntryID: id, Identity: identity}); err != nil {
		return nil, err
	}
	return e, nil
}

func cloneEntry(in *store.Entry) *store.Entry {
	e := *in
	e.Hashes = slices.Clone(in.Hashes)
	for i := range e.Hashes {
		e.Hashes[i].Bytes = slices.Clone(e.Hashes[i].Bytes)
	}
	e.Regions = slices.Clone(in.Regions)
	e.Keypoints = slices.Clone(in.Keypoints)
	e.Frames = slices.Clone(in.Frames)
	e.Labels = maps.Clone(in.Labels)
	return &e
}
