package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/record"
)

// Group commit: concurrent commits queue, and the committer writes every
// queued one in a single transaction and fsync, up to these bounds, while
// the next group queues. No caller returns before its group is on disk.
const (
	// maxGroupRequests bounds the commits of one group.
	maxGroupRequests = 256
	// maxGroupOps bounds the operations of one group (a single larger
	// commit still runs, alone).
	maxGroupOps = 20_000
	// compactChunk bounds the change records one compaction transaction
	// deletes, so that compacting a long log does not hold commits up.
	compactChunk = 50_000
)

// request is one queued commit, or (with exclusive set) work that must run
// while no commit does.
type request struct {
	ctx       context.Context
	actor     string
	ops       []store.Op
	exclusive func() error
	done      chan reply
}

type reply struct {
	res store.CommitResult
	err error
}

// errRequestFailed rolls a group's transaction back after one of its
// commits failed; the others are retried without it.
var errRequestFailed = errors.New("a commit of the group failed")

// Commit implements store.Store.
func (s *DB) Commit(ctx context.Context, actor string, ops ...store.Op) (store.CommitResult, error) {
	if err := store.CheckOps(actor, ops); err != nil {
		return store.CommitResult{}, err
	}
	if s.opts.ReadOnly && len(ops) > 0 {
		return store.CommitResult{}, fmt.Errorf("committing to %s: %w", s.path, store.ErrReadOnly)
	}
	if len(ops) == 0 {
		if s.isClosed() {
			return store.CommitResult{}, store.ErrClosed
		}
		return store.CommitResult{Revision: store.Revision(s.current.Load())}, nil
	}
	rep, err := s.submit(&request{ctx: ctx, actor: actor, ops: ops})
	if err != nil {
		return store.CommitResult{}, err
	}
	return rep.res, rep.err
}

// submit queues a request and waits for its reply. A request whose
// context ends while it waits in the queue is dropped; once its
// transaction has begun, it runs to its end and its reply is awaited.
func (s *DB) submit(r *request) (reply, error) {
	r.done = make(chan reply, 1)
	select {
	case s.requests <- r:
	case <-s.closing:
		return reply{}, store.ErrClosed
	case <-r.ctx.Done():
		return reply{}, r.ctx.Err()
	}
	select {
	case rep := <-r.done:
		return rep, nil
	case <-s.stopped:
		// The committer stopped; it answered r if it took it.
		select {
		case rep := <-r.done:
			return rep, nil
		default:
			return reply{}, store.ErrClosed
		}
	}
}

// exclusive runs fn in the committer, between commits.
func (s *DB) exclusive(ctx context.Context, fn func() error) error {
	rep, err := s.submit(&request{ctx: ctx, exclusive: fn})
	if err != nil {
		return err
	}
	return rep.err
}

// commitLoop is the committer: the one goroutine that writes.
func (s *DB) commitLoop() {
	defer close(s.stopped)
	for {
		var first *request
		select {
		case first = <-s.requests:
		case <-s.closing:
			s.failQueued()
			return
		}
		if first.exclusive != nil {
			first.done <- reply{err: first.exclusive()}
			continue
		}
		if first.alone() {
			s.runImport(first)
			continue
		}
		group := []*request{first}
		n := len(first.ops)
		var after *request
	drain:
		for len(group) < maxGroupRequests && n < maxGroupOps {
			select {
			case r := <-s.requests:
				if r.exclusive != nil || r.alone() {
					after = r
					break drain
				}
				group = append(group, r)
				n += len(r.ops)
			default:
				break drain
			}
		}
		s.runGroup(group)
		switch {
		case after == nil:
		case after.exclusive != nil:
			after.done <- reply{err: after.exclusive()}
		default:
			s.runImport(after)
		}
		s.autoCompact()
	}
}

// alone reports whether the request is an import, which runs by itself
// (import.go).
func (r *request) alone() bool {
	return len(r.ops) == 1 && r.ops[0].Kind == store.OpImportEntries
}

// failQueued answers the requests still queued at Close.
func (s *DB) failQueued() {
	for {
		select {
		case r := <-s.requests:
			r.done <- reply{err: store.ErrClosed}
		default:
			return
		}
	}
}

// runGroup writes a group of commits in one transaction. A commit that
// fails is answered with its error and the transaction is run again
// without it.
func (s *DB) runGroup(group []*request) {
	live := group[:0]
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.done <- reply{err: err}
			continue
		}
		live = append(live, r)
	}
	for len(live) > 0 {
		results := make([]store.CommitResult, len(live))
		failed, failErr := -1, error(nil)
		var w *writer
		err := guard("committing", func() error {
			return s.bolt.Update(func(tx *bolt.Tx) error {
				var err error
				if w, err = newWriter(tx, s.opts.Now().UTC()); err != nil {
					return err
				}
				for i, r := range live {
					var res store.CommitResult
					err := guard("applying a commit", func() error {
						var err error
						res, err = w.apply(r.actor, r.ops)
						return err
					})
					if err != nil {
						failed, failErr = i, err
						return errRequestFailed
					}
					results[i] = res
				}
				if err := w.trimAudit(s.opts.AuditRetention); err != nil {
					return err
				}
				return w.finish()
			})
		})
		if failed >= 0 {
			live[failed].done <- reply{err: failErr}
			live = slices.Delete(live, failed, failed+1)
			continue
		}
		if err != nil {
			for _, r := range live {
				r.done <- reply{err: fmt.Errorf("committing: %w", err)}
			}
			return
		}
		// Watchers (the index, partners' syncs) follow revisions; a group
		// that took none (audit records, tokens) has nothing for them.
		if w.rev != s.current.Load() {
			s.current.Store(w.rev)
			s.notify()
		}
		for i, r := range live {
			r.done <- reply{res: results[i]}
		}
		return
	}
}

// autoCompact applies Options.LogRetention after a group: one chunk at a
// time, so that the commits queued meanwhile go next.
func (s *DB) autoCompact() {
	keep := s.opts.LogRetention
	if keep == 0 {
		return
	}
	cur, comp := s.current.Load(), s.compacted.Load()
	// Compact in steps of an eighth of the retention, not after every
	// commit.
	if cur <= comp+keep+keep/8 && !(s.compacting && cur > comp+keep) {
		s.compacting = false
		return
	}
	s.compacting = true
	if _, err := s.compactChunk(cur - keep); err != nil {
		s.compacting = false // the next commit retries
	}
}

// Compact implements store.Store. It compacts a chunk at a time, each in
// the committer between groups of commits, so a long log does not hold
// commits up.
func (s *DB) Compact(ctx context.Context, through store.Revision) error {
	if s.opts.ReadOnly {
		return fmt.Errorf("compacting %s: %w", s.path, store.ErrReadOnly)
	}
	for {
		var done bool
		err := s.exclusive(ctx, func() error {
			if uint64(through) > s.current.Load() {
				return fmt.Errorf("%w: compacting through %d, the current revision is %d", store.ErrFutureRevision, through, s.current.Load())
			}
			var err error
			done, err = s.compactChunk(uint64(through))
			return err
		})
		if err != nil || done {
			return err
		}
	}
}

// compactChunk deletes up to compactChunk change records up to through in
// one transaction, and reports whether none are left to delete. It runs in
// the committer.
func (s *DB) compactChunk(through uint64) (bool, error) {
	if s.compacted.Load() >= through {
		return true, nil
	}
	var done uint64
	err := guard("compacting", func() error {
		return s.bolt.Update(func(tx *bolt.Tx) error {
			w, err := newWriter(tx, time.Time{})
			if err != nil {
				return err
			}
			c := tx.Bucket([]byte(bucketChanges)).Cursor()
			done = w.compacted
			n := 0
			for k, _ := c.Seek(u64(w.compacted + 1)); k != nil && n < compactChunk; k, _ = c.Seek(u64(done + 1)) {
				rev := binary.BigEndian.Uint64(k)
				if rev > through {
					break
				}
				if err := c.Delete(); err != nil {
					return err
				}
				w.records[bucketChanges]--
				done = rev
				n++
			}
			if n < compactChunk {
				done = through
			}
			w.compacted = done
			return w.finish()
		})
	})
	if err != nil {
		return false, err
	}
	s.compacted.Store(done)
	return done >= through, nil
}

// writer applies operations inside one write transaction, keeping the
// revision and the record counts it then writes to the meta bucket.
type writer struct {
	tx        *bolt.Tx
	now       time.Time
	rev       uint64
	compacted uint64
	records   map[string]int64 // change in each bucket's record count
	pending   *store.Change    // the current commit's last change so far
	// staging leaves the meta bucket's revision as it is (an import's
	// chunks, see import.go).
	staging bool
	// stageIdent, when set, takes the identity of each entry added
	// instead of the identities bucket (an import's, see identset.go).
	stageIdent func(identity [32]byte, id uint64) error
	// members is the members bucket of the bank added to last, and
	// membersName its name in records (membersOf).
	members     *bolt.Bucket
	membersBank string
	membersName string
	// arena is the block records are sealed into (seal).
	arena []byte
	err   error
}

// membersOf returns the members bucket of a bank and its name as records
// name it; a run of adds to one bank looks it up once.
func (w *writer) membersOf(bank string) (*bolt.Bucket, string) {
	if w.members == nil || w.membersBank != bank {
		w.members = w.tx.Bucket([]byte(bucketMembers)).Bucket([]byte(bank))
		w.membersBank, w.membersName = bank, bucketMembers+"/"+bank
	}
	return w.members, w.membersName
}

func newWriter(tx *bolt.Tx, now time.Time) (*writer, error) {
	w := &writer{tx: tx, now: now, records: map[string]int64{}}
	var err error
	if w.rev, w.compacted, err = txRevisions(tx); err != nil {
		return nil, err
	}
	return w, nil
}

// finish writes the revision, the compacted revision and the record counts.
func (w *writer) finish() error {
	if err := w.flushChange(); err != nil {
		return err
	}
	m := w.tx.Bucket([]byte(bucketMeta))
	if !w.staging {
		w.put(m, bucketMeta, keyRevision, record.EncodeUint(w.rev))
	}
	w.put(m, bucketMeta, keyCompacted, record.EncodeUint(w.compacted))
	for b, d := range w.records {
		if d == 0 {
			continue
		}
		n, err := metaNumber(keyRecords+b, m.Get([]byte(keyRecords+b)))
		if err != nil {
			return err
		}
		if d < 0 && uint64(-d) > n {
			return fmt.Errorf("%w: bucket %s count %d would drop below zero", store.ErrCorrupt, b, n)
		}
		w.put(m, bucketMeta, keyRecords+b, record.EncodeUint(uint64(int64(n)+d)))
	}
	return w.err
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// put writes a sealed record without counting it.
func (w *writer) put(b *bolt.Bucket, bucket, key string, payload []byte) {
	w.putBytes(b, bucket, []byte(key), payload)
}

func (w *writer) putBytes(b *bolt.Bucket, bucket string, key, payload []byte) {
	if w.err == nil {
		w.err = b.Put(key, w.seal(bucket, key, payload))
	}
}

// arenaBlock is the size of the blocks a writer seals records into.
const arenaBlock = 256 << 10

// seal returns payload sealed (record.Seal) in memory carved from the
// writer's blocks: bbolt keeps the value it is given, not a copy, until the
// transaction commits, and a writer lives for one transaction, so records
// are never reused, only allocated many at a time (an import writes
// millions).
func (w *writer) seal(bucket string, key, payload []byte) []byte {
	n := 4 + len(payload)
	if n > arenaBlock/8 {
		return record.Seal([]byte(bucket), key, payload)
	}
	if cap(w.arena)-len(w.arena) < n {
		w.arena = make([]byte, 0, arenaBlock)
	}
	start := len(w.arena)
	w.arena = record.AppendSealed(w.arena, []byte(bucket), key, payload)
	return w.arena[start:len(w.arena):len(w.arena)]
}

// insert writes a new record and counts it in its top-level bucket.
func (w *writer) insert(b *bolt.Bucket, bucket, top string, key, payload []byte) {
	w.putBytes(b, bucket, key, payload)
	w.records[top]++
}

// remove deletes a record and uncounts it.
func (w *writer) remove(b *bolt.Bucket, top string, key []byte) {
	if w.err == nil && b.Get(key) != nil {
		w.err = b.Delete(key)
		w.records[top]--
	}
}

// change records a change of the current commit. It is written when the
// next change comes, or at the commit's end marked as its last.
func (w *writer) change(c store.Change) error {
	if err := w.flushChange(); err != nil {
		return err
	}
	w.rev++
	c.Revision = store.Revision(w.rev)
	c.Time = w.now
	w.pending = &c
	return nil
}

func (w *writer) flushChange() error {
	if w.pending == nil {
		return w.err
	}
	c := w.pending
	w.pending = nil
	var key [8]byte // bbolt copies a key it keeps
	w.insert(w.tx.Bucket([]byte(bucketChanges)), bucketChanges, bucketChanges, binary.BigEndian.AppendUint64(key[:0], uint64(c.Revision)), record.EncodeChange(c))
	return w.err
}

// apply runs one commit's operations.
func (w *writer) apply(actor string, ops []store.Op) (store.CommitResult, error) {
	out := store.CommitResult{Results: make([]store.OpResult, len(ops))}
	for i, op := range ops {
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
			w.audit(*op.Audit)
			res = store.OpResult{Changed: true}
		case store.OpImportEntries:
			err = fmt.Errorf("%w: an import runs alone", store.ErrInvalid) // commitLoop sees to it
		case store.OpSyncEntries:
			res, err = w.syncEntries(actor, op.Sync)
		}
		if err == nil {
			err = w.err
		}
		if err != nil {
			return store.CommitResult{}, store.OpError(i, len(ops), err)
		}
		out.Results[i] = res
	}
	if w.pending != nil {
		w.pending.CommitEnd = true
	}
	if err := w.flushChange(); err != nil {
		return store.CommitResult{}, err
	}
	out.Revision = store.Revision(w.rev)
	return out, nil
}

func (w *writer) bank(name string) (store.Bank, error) {
	return readBank(w.tx, name)
}

func (w *writer) createBank(actor string, b store.Bank) (store.OpResult, error) {
	banks := w.tx.Bucket([]byte(bucketBanks))
	if banks.Get([]byte(b.Name)) != nil {
		return store.OpResult{}, fmt.Errorf("%w: %q", store.ErrBankExists, b.Name)
	}
	n, err := w.count(bucketBanks)
	if err != nil {
		return store.OpResult{}, err
	}
	if n >= store.MaxBanks {
		return store.OpResult{}, fmt.Errorf("%w: the store holds %d banks, the most it may; delete unused ones first", store.ErrInvalid, n)
	}
	if err := w.change(store.Change{Kind: store.BankCreated, Actor: actor, Bank: b.Name}); err != nil {
		return store.OpResult{}, err
	}
	b.Entries = 0
	b.Created, b.Updated, b.CreatedBy, b.UpdatedBy = w.now, w.now, actor, actor
	b.Revision = store.Revision(w.rev)
	w.insert(banks, bucketBanks, bucketBanks, []byte(b.Name), record.EncodeBank(&b))
	w.insert(w.tx.Bucket([]byte(bucketCounts)), bucketCounts, bucketCounts, []byte(b.Name), record.EncodeUint(0))
	if w.err == nil {
		w.members = nil
		_, w.err = w.tx.Bucket([]byte(bucketMembers)).CreateBucket([]byte(b.Name))
	}
	return store.OpResult{Bank: &b, Changed: true}, w.err
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
	b.Updated, b.UpdatedBy, b.Revision = w.now, actor, store.Revision(w.rev)
	w.put(w.tx.Bucket([]byte(bucketBanks)), bucketBanks, b.Name, record.EncodeBank(&b))
	return store.OpResult{Bank: &b, Changed: true}, w.err
}

func (w *writer) deleteBank(actor, name string, force bool) (store.OpResult, error) {
	b, err := w.bank(name)
	if err != nil {
		return store.OpResult{}, err
	}
	membersTop := w.tx.Bucket([]byte(bucketMembers))
	members := membersTop.Bucket([]byte(name))
	if members == nil {
		return store.OpResult{}, fmt.Errorf("%w: bank %q has no member bucket", store.ErrCorrupt, name)
	}
	var ids []uint64
	c := members.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if len(k) != 8 {
			return store.OpResult{}, fmt.Errorf("%w: bank %q member key %x", store.ErrCorrupt, name, k)
		}
		ids = append(ids, binary.BigEndian.Uint64(k))
	}
	if len(ids) > 0 && !force {
		return store.OpResult{}, fmt.Errorf("%w: %q holds %d entries; remove them first or delete with force", store.ErrBankNotEmpty, name, len(ids))
	}
	for _, id := range ids {
		if _, err := w.removeEntry(actor, id); err != nil {
			return store.OpResult{}, err
		}
	}
	if w.err == nil {
		w.members = nil
		w.err = membersTop.DeleteBucket([]byte(name))
	}
	w.remove(w.tx.Bucket([]byte(bucketCounts)), bucketCounts, []byte(name))
	w.remove(w.tx.Bucket([]byte(bucketBanks)), bucketBanks, []byte(name))
	if err := w.change(store.Change{Kind: store.BankDeleted, Actor: actor, Bank: name}); err != nil {
		return store.OpResult{}, err
	}
	b.Entries = 0
	return store.OpResult{Bank: &b, Removed: len(ids), Changed: true}, w.err
}

func identityKey(bank string, identity [32]byte) []byte {
	k := make([]byte, 0, len(bank)+1+32)
	k = append(k, bank...)
	k = append(k, 0)
	return append(k, identity[:]...)
}

// bumpCount adds d to a bank's entry count.
func (w *writer) bumpCount(bank string, d int64) error {
	counts := w.tx.Bucket([]byte(bucketCounts))
	n, err := readCount(w.tx, bank)
	if err != nil {
		return err
	}
	if d < 0 && uint64(-d) > n {
		return fmt.Errorf("%w: bank %q entry count %d would drop below zero", store.ErrCorrupt, bank, n)
	}
	w.put(counts, bucketCounts, bank, record.EncodeUint(uint64(int64(n)+d)))
	return w.err
}

func (w *writer) addEntry(actor string, in *store.Entry) (store.OpResult, error) {
	if _, err := w.bank(in.Bank); err != nil {
		return store.OpResult{}, err
	}
	res, err := w.insertEntry(actor, in, store.Identity(in))
	if err != nil || res.Existed {
		return res, err
	}
	if err := w.bumpCount(in.Bank, 1); err != nil {
		return store.OpResult{}, err
	}
	return res, w.err
}

// existing returns the entry of the given identity in a bank, or nil.
func (w *writer) existing(bank string, identity [32]byte) (*store.Entry, error) {
	ikey := identityKey(bank, identity)
	v := w.tx.Bucket([]byte(bucketIdentities)).Get(ikey)
	if v == nil {
		return nil, nil
	}
	p, err := record.Open([]byte(bucketIdentities), ikey, v)
	if err != nil {
		return nil, err
	}
	id, err := record.DecodeUint(p)
	if err != nil {
		return nil, err
	}
	e, err := readEntry(w.tx, id, store.ViewBasic)
	if err != nil {
		return nil, fmt.Errorf("the identity of bank %q points at entry %d: %w", bank, id, err)
	}
	return e, nil
}

// insertEntry adds an entry to its bank, which must exist, unless the
// bank holds its identity already; it leaves the bank's count to the
// caller.
func (w *writer) insertEntry(actor string, in *store.Entry, identity [32]byte) (store.OpResult, error) {
	old, err := w.existing(in.Bank, identity)
	if err != nil {
		return store.OpResult{}, err
	}
	if old != nil {
		e, err := readEntry(w.tx, old.ID, store.ViewFull)
		if err != nil {
			return store.OpResult{}, err
		}
		return store.OpResult{Entry: e, Existed: true}, nil
	}
	return w.putEntry(actor, in, identity, record.EncodeEntryParts(in, identity))
}

// putEntry adds an entry the bank does not hold, with a new id; parts is
// its record but for what putEntry sets (record.EncodeEntryParts of in).
func (w *writer) putEntry(actor string, in *store.Entry, identity [32]byte, parts record.EntryParts) (store.OpResult, error) {
	entries := w.tx.Bucket([]byte(bucketEntries))
	id, err := entries.NextSequence()
	if err != nil {
		return store.OpResult{}, err
	}
	// An import checks once, at its start, that the ids after the
	// sequence are free (importList).
	if !w.staging && entries.Get(u64(id)) != nil {
		return store.OpResult{}, fmt.Errorf("%w: the next entry id, %d, is taken", store.ErrCorrupt, id)
	}
	if err := w.change(store.Change{Kind: store.EntryAdded, Actor: actor, Bank: in.Bank, EntryID: id}); err != nil {
		return store.OpResult{}, err
	}
	e := *in
	e.ID = id
	e.Created, e.Updated, e.CreatedBy, e.UpdatedBy = w.now, w.now, actor, actor
	e.Revision = store.Revision(w.rev)
	var kb [8]byte // bbolt copies a key it keeps
	key := binary.BigEndian.AppendUint64(kb[:0], id)
	w.insert(entries, bucketEntries, bucketEntries, key, parts.Payload(&e))
	members, name := w.membersOf(e.Bank)
	w.insert(members, name, bucketMembers, key, nil)
	if w.stageIdent != nil {
		if err := w.stageIdent(identity, id); err != nil {
			return store.OpResult{}, err
		}
	} else {
		w.insert(w.tx.Bucket([]byte(bucketIdentities)), bucketIdentities, bucketIdentities, identityKey(e.Bank, identity), record.EncodeUint(id))
	}
	return store.OpResult{Entry: &e, Changed: true}, w.err
}

func (w *writer) updateEntry(actor string, id uint64, from *store.Entry, fields []string) (store.OpResult, error) {
	e, identity, err := readEntryIdentity(w.tx, id, store.ViewFull)
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
	e.Updated, e.UpdatedBy, e.Revision = w.now, actor, store.Revision(w.rev)
	w.putBytes(w.tx.Bucket([]byte(bucketEntries)), bucketEntries, u64(id), record.EncodeEntry(e, identity))
	return store.OpResult{Entry: e, Changed: true}, w.err
}

func (w *writer) removeEntry(actor string, id uint64) (*store.Entry, error) {
	e, identity, err := readEntryIdentity(w.tx, id, store.ViewFull)
	if err != nil {
		return nil, err
	}
	key := u64(id)
	w.remove(w.tx.Bucket([]byte(bucketEntries)), bucketEntries, key)
	if members := w.tx.Bucket([]byte(bucketMembers)).Bucket([]byte(e.Bank)); members != nil {
		w.remove(members, bucketMembers, key)
	}
	w.remove(w.tx.Bucket([]byte(bucketIdentities)), bucketIdentities, identityKey(e.Bank, identity))
	if err := w.bumpCount(e.Bank, -1); err != nil {
		return nil, err
	}
	if err := w.change(store.Change{Kind: store.EntryRemoved, Actor: actor, Bank: e.Bank, EntryID: id, Identity: identity}); err != nil {
		return nil, err
	}
	return e, w.err
}
