package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/record"
)

// Bounds of one read of the change log.
const (
	// maxChangeBytes bounds the values one Changes call or Watch delivery
	// decodes (a commit of large video entries can hold hundreds of MB);
	// it always returns at least one commit.
	maxChangeBytes = 64 << 20
	// watchBatch is the most changes one Watch delivery holds.
	watchBatch = 4096
)

func readBank(tx *bolt.Tx, name string) (store.Bank, error) {
	v := tx.Bucket([]byte(bucketBanks)).Get([]byte(name))
	if v == nil {
		return store.Bank{}, fmt.Errorf("%w: %q", store.ErrBankNotFound, store.Clip(name))
	}
	p, err := record.Open([]byte(bucketBanks), []byte(name), v)
	if err != nil {
		return store.Bank{}, err
	}
	b, err := record.DecodeBank(p)
	if err != nil {
		return store.Bank{}, err
	}
	if b.Name != name {
		return store.Bank{}, fmt.Errorf("%w: bank record %q names bank %q", store.ErrCorrupt, name, store.Clip(b.Name))
	}
	n, err := readCount(tx, name)
	if err != nil {
		return store.Bank{}, err
	}
	b.Entries = int64(n)
	return b, nil
}

func readCount(tx *bolt.Tx, bank string) (uint64, error) {
	v := tx.Bucket([]byte(bucketCounts)).Get([]byte(bank))
	if v == nil {
		return 0, fmt.Errorf("%w: bank %q has no entry count", store.ErrCorrupt, store.Clip(bank))
	}
	p, err := record.Open([]byte(bucketCounts), []byte(bank), v)
	if err != nil {
		return 0, err
	}
	return record.DecodeUint(p)
}

func decodeEntry(key, v []byte, view store.View) (*store.Entry, [32]byte, error) {
	p, err := record.Open([]byte(bucketEntries), key, v)
	if err != nil {
		return nil, [32]byte{}, err
	}
	e, identity, err := record.DecodeEntry(p, view)
	if err != nil {
		return nil, identity, err
	}
	if id := binary.BigEndian.Uint64(key); e.ID != id {
		return nil, identity, fmt.Errorf("%w: entry record %d names entry %d", store.ErrCorrupt, id, e.ID)
	}
	return e, identity, nil
}

func readEntryIdentity(tx *bolt.Tx, id uint64, view store.View) (*store.Entry, [32]byte, error) {
	key := u64(id)
	v := tx.Bucket([]byte(bucketEntries)).Get(key)
	if v == nil {
		return nil, [32]byte{}, fmt.Errorf("%w: %d", store.ErrEntryNotFound, id)
	}
	return decodeEntry(key, v, view)
}

func readEntry(tx *bolt.Tx, id uint64, view store.View) (*store.Entry, error) {
	e, _, err := readEntryIdentity(tx, id, view)
	return e, err
}

// Bank implements store.Store.
func (s *DB) Bank(ctx context.Context, name string) (b store.Bank, err error) {
	err = s.view(ctx, "reading a bank", func(tx *bolt.Tx) error {
		b, err = readBank(tx, name)
		return err
	})
	return b, err
}

// ListBanks implements store.Store.
func (s *DB) ListBanks(ctx context.Context, after string, limit int) ([]store.Bank, error) {
	var out []store.Bank
	err := s.view(ctx, "listing banks", func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte(bucketBanks)).Cursor()
		k, _ := c.Seek([]byte(after))
		if k != nil && after != "" && string(k) == after {
			k, _ = c.Next()
		}
		for ; k != nil && len(out) < limit; k, _ = c.Next() {
			b, err := readBank(tx, string(k))
			if err != nil {
				return err
			}
			out = append(out, b)
		}
		return nil
	})
	return out, err
}

// Entry implements store.Store.
func (s *DB) Entry(ctx context.Context, id uint64, view store.View) (e *store.Entry, err error) {
	err = s.view(ctx, "reading an entry", func(tx *bolt.Tx) error {
		cur, _, err := txRevisions(tx)
		if err != nil {
			return err
		}
		e, err = readEntry(tx, id, view)
		if err == nil && !visibleEntry(e, cur) {
			e, err = nil, fmt.Errorf("%w: %d", store.ErrEntryNotFound, id)
		}
		return err
	})
	return e, err
}

// ListEntries implements store.Store.
func (s *DB) ListEntries(ctx context.Context, q store.EntryQuery, fn func(*store.Entry) bool) error {
	if q.After == ^uint64(0) {
		return nil
	}
	return s.view(ctx, "listing entries", func(tx *bolt.Tx) error { return listEntries(ctx, tx, q, fn) })
}

// listEntries lists entries as ListEntries does, in one transaction.
func listEntries(ctx context.Context, tx *bolt.Tx, q store.EntryQuery, fn func(*store.Entry) bool) error {
	cur, _, err := txRevisions(tx)
	if err != nil {
		return err
	}
	entries := tx.Bucket([]byte(bucketEntries))
	if q.Bank == "" && len(q.Banks) > 0 {
		return listBanksEntries(ctx, tx, cur, q, fn)
	}
	if q.Bank == "" {
		c := entries.Cursor()
		for k, v := c.Seek(u64(q.After + 1)); k != nil; k, v = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			e, _, err := decodeEntry(k, v, q.View)
			if err != nil {
				return err
			}
			if !visibleEntry(e, cur) {
				continue
			}
			if !fn(e) {
				return nil
			}
		}
		return nil
	}
	if _, err := readBank(tx, q.Bank); err != nil {
		return err
	}
	members := tx.Bucket([]byte(bucketMembers)).Bucket([]byte(q.Bank))
	if members == nil {
		return fmt.Errorf("%w: bank %q has no member bucket", store.ErrCorrupt, store.Clip(q.Bank))
	}
	c := members.Cursor()
	for k, v := c.Seek(u64(q.After + 1)); k != nil; k, v = c.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := record.Open([]byte(bucketMembers+"/"+q.Bank), k, v); err != nil {
			return err
		}
		ev := entries.Get(k)
		if ev == nil {
			return fmt.Errorf("%w: bank %q lists entry %x, which does not exist", store.ErrCorrupt, store.Clip(q.Bank), k)
		}
		e, _, err := decodeEntry(k, ev, q.View)
		if err != nil {
			return err
		}
		if e.Bank != q.Bank {
			return fmt.Errorf("%w: bank %q lists entry %d of bank %q", store.ErrCorrupt, store.Clip(q.Bank), e.ID, store.Clip(e.Bank))
		}
		if !visibleEntry(e, cur) {
			continue
		}
		if !fn(e) {
			return nil
		}
	}
	return nil
}

// listBanksEntries lists the entries of q.Banks in id order: a merge of
// the banks' member buckets, which hold only ids, so that entries of other
// banks are never read.
func listBanksEntries(ctx context.Context, tx *bolt.Tx, cur uint64, q store.EntryQuery, fn func(*store.Entry) bool) error {
	entries := tx.Bucket([]byte(bucketEntries))
	type head struct {
		bank string
		c    *bolt.Cursor
		k, v []byte
	}
	var heads []*head
	for i, b := range q.Banks {
		if slices.Contains(q.Banks[:i], b) || tx.Bucket([]byte(bucketBanks)).Get([]byte(b)) == nil {
			continue
		}
		members := tx.Bucket([]byte(bucketMembers)).Bucket([]byte(b))
		if members == nil {
			return fmt.Errorf("%w: bank %q has no member bucket", store.ErrCorrupt, store.Clip(b))
		}
		h := &head{bank: b, c: members.Cursor()}
		h.k, h.v = h.c.Seek(u64(q.After + 1))
		heads = append(heads, h)
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var next *head
		for _, h := range heads {
			if h.k != nil && (next == nil || bytes.Compare(h.k, next.k) < 0) {
				next = h
			}
		}
		if next == nil {
			return nil
		}
		k := next.k
		if _, err := record.Open([]byte(bucketMembers+"/"+next.bank), k, next.v); err != nil {
			return err
		}
		ev := entries.Get(k)
		if ev == nil {
			return fmt.Errorf("%w: bank %q lists entry %x, which does not exist", store.ErrCorrupt, store.Clip(next.bank), k)
		}
		e, _, err := decodeEntry(k, ev, q.View)
		if err != nil {
			return err
		}
		if e.Bank != next.bank {
			return fmt.Errorf("%w: bank %q lists entry %d of bank %q", store.ErrCorrupt, store.Clip(next.bank), e.ID, store.Clip(e.Bank))
		}
		if visibleEntry(e, cur) && !fn(e) {
			return nil
		}
		next.k, next.v = next.c.Next()
	}
}

// Revisions implements store.Store.
func (s *DB) Revisions(ctx context.Context) (store.Revisions, error) {
	if err := ctx.Err(); err != nil {
		return store.Revisions{}, err
	}
	if s.isClosed() {
		return store.Revisions{}, store.ErrClosed
	}
	return store.Revisions{Current: store.Revision(s.current.Load()), Compacted: store.Revision(s.compacted.Load())}, nil
}

// txRevisions reads the revisions as a transaction sees them.
func txRevisions(tx *bolt.Tx) (cur, comp uint64, err error) {
	m := tx.Bucket([]byte(bucketMeta))
	if cur, err = metaNumber(keyRevision, m.Get([]byte(keyRevision))); err != nil {
		return 0, 0, err
	}
	comp, err = metaNumber(keyCompacted, m.Get([]byte(keyCompacted)))
	return cur, comp, err
}

// snapshot is a read transaction held open.
type snapshot struct {
	s   *DB
	tx  *bolt.Tx
	rev store.Revision
}

// Snapshot implements store.Store. The snapshot holds a bbolt read
// transaction: while it is open the file cannot reuse the pages it shows,
// so close it promptly.
func (s *DB) Snapshot(ctx context.Context) (store.Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.isClosed() {
		return nil, store.ErrClosed
	}
	var snap *snapshot
	err := guard("opening a snapshot", func() error {
		tx, err := s.bolt.Begin(false)
		if err != nil {
			if errors.Is(err, bolt.ErrDatabaseNotOpen) {
				return store.ErrClosed
			}
			return err
		}
		cur, _, err := txRevisions(tx)
		if err != nil {
			tx.Rollback()
			return err
		}
		snap = &snapshot{s: s, tx: tx, rev: store.Revision(cur)}
		return nil
	})
	return snap, err
}

func (sn *snapshot) Revision() store.Revision { return sn.rev }

func (sn *snapshot) Banks(fn func(store.Bank) error) error {
	return guard("reading a snapshot's banks", func() error {
		c := sn.tx.Bucket([]byte(bucketBanks)).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			b, err := readBank(sn.tx, string(k))
			if err != nil {
				return err
			}
			if err := fn(b); err != nil {
				return err
			}
		}
		return nil
	})
}

func (sn *snapshot) Entries(view store.View, fn func(*store.Entry) error) error {
	return guard("reading a snapshot's entries", func() error {
		c := sn.tx.Bucket([]byte(bucketEntries)).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			e, _, err := decodeEntry(k, v, view)
			if err != nil {
				return err
			}
			if !visibleEntry(e, uint64(sn.rev)) {
				continue
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	})
}

func (sn *snapshot) Bank(name string) (b store.Bank, err error) {
	err = guard("reading a snapshot's bank", func() error {
		b, err = readBank(sn.tx, name)
		return err
	})
	return b, err
}

func (sn *snapshot) ListEntries(ctx context.Context, q store.EntryQuery, fn func(*store.Entry) bool) error {
	if q.After == ^uint64(0) {
		return nil
	}
	return guard("listing a snapshot's entries", func() error { return listEntries(ctx, sn.tx, q, fn) })
}

// snapshotChangesPage is how many changes a snapshot's Changes reads at a
// time.
const snapshotChangesPage = 1000

func (sn *snapshot) Changes(ctx context.Context, after store.Revision, view store.View, fn func(store.Change) bool) error {
	return guard("reading a snapshot's changes", func() error {
		for next := uint64(after); ; {
			if err := ctx.Err(); err != nil {
				return err
			}
			page, err := readChanges(sn.tx, next, snapshotChangesPage, view)
			if err != nil || len(page) == 0 {
				return err
			}
			for _, c := range page {
				if !fn(c) {
					return nil
				}
			}
			next = uint64(page[len(page)-1].Revision)
		}
	})
}

func (sn *snapshot) Close() error { return sn.tx.Rollback() }

// Changes implements store.Store.
func (s *DB) Changes(ctx context.Context, after store.Revision, limit int, view store.View) ([]store.Change, error) {
	var out []store.Change
	err := s.view(ctx, "reading changes", func(tx *bolt.Tx) error {
		var err error
		out, err = readChanges(tx, uint64(after), limit, view)
		return err
	})
	return out, err
}

// readChanges reads up to limit changes after a revision, joined with the
// values the view asks for, ending on a commit boundary when it can.
func readChanges(tx *bolt.Tx, after uint64, limit int, view store.View) ([]store.Change, error) {
	cur, comp, err := txRevisions(tx)
	if err != nil {
		return nil, err
	}
	if after < comp {
		return nil, fmt.Errorf("%w: revision %d; changes are kept after %d (read a fresh snapshot)", store.ErrCompacted, after, comp)
	}
	if after > cur {
		return nil, fmt.Errorf("%w: revision %d; the store is at %d", store.ErrFutureRevision, after, cur)
	}
	var out []store.Change
	if n := min(cur-after, uint64(max(limit, 0)), watchBatch); n > 0 {
		out = make([]store.Change, 0, n) // the log holds a change for every revision up to cur
	}
	lastEnd := 0 // len(out) at the last commit end
	size := 0
	c := tx.Bucket([]byte(bucketChanges)).Cursor()
	j := joiner{tx: tx, cur: cur, view: view, entries: tx.Bucket([]byte(bucketEntries)).Cursor()}
	next := after + 1
	for k, v := c.Seek(u64(next)); k != nil && len(out) < limit; k, v = c.Next() {
		if lastEnd > 0 && size > maxChangeBytes {
			break
		}
		rev := binary.BigEndian.Uint64(k)
		if rev > cur {
			break // a staged import's (import.go)
		}
		if rev != next {
			return nil, fmt.Errorf("%w: change log skips from revision %d to %d", store.ErrCorrupt, next-1, rev)
		}
		next++
		p, err := record.Open([]byte(bucketChanges), k, v)
		if err != nil {
			return nil, err
		}
		ch, err := record.DecodeChange(p)
		if err != nil {
			return nil, err
		}
		if uint64(ch.Revision) != rev {
			return nil, fmt.Errorf("%w: change record %d says revision %d", store.ErrCorrupt, rev, ch.Revision)
		}
		if view != store.ViewNone {
			n, err := j.join(&ch)
			if err != nil {
				return nil, err
			}
			size += n
		}
		out = append(out, ch)
		if ch.CommitEnd {
			lastEnd = len(out)
		}
	}
	if next <= cur && len(out) < limit && size <= maxChangeBytes {
		return nil, fmt.Errorf("%w: change log ends at revision %d, the store is at %d", store.ErrCorrupt, next-1, cur)
	}
	if lastEnd > 0 && lastEnd < len(out) {
		out = out[:lastEnd]
	}
	return out, nil
}

// joiner reads the values of the changes readChanges reads.
type joiner struct {
	tx   *bolt.Tx
	cur  uint64
	view store.View
	// entries is a cursor on the entries bucket, at the entry read last
	// (at, when set): changes of consecutive entries, as a commit of many
	// adds or an import makes, are read by stepping it.
	entries *bolt.Cursor
	at      uint64
}

// join reads the bank or entry a change changed, as it is now, and
// returns roughly how many bytes it holds.
func (j *joiner) join(ch *store.Change) (int, error) {
	tx, cur, view := j.tx, j.cur, j.view
	switch ch.Kind {
	case store.BankCreated, store.BankUpdated:
		b, err := readBank(tx, ch.Bank)
		if errors.Is(err, store.ErrBankNotFound) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		ch.BankValue = &b
		return 256, nil
	case store.EntryAdded, store.EntryUpdated:
		key := u64(ch.EntryID)
		var k, v []byte
		if j.at != 0 && ch.EntryID == j.at+1 {
			k, v = j.entries.Next()
		}
		if k == nil || !bytes.Equal(k, key) {
			k, v = j.entries.Seek(key)
		}
		j.at = 0
		if k != nil && len(k) == 8 {
			j.at = binary.BigEndian.Uint64(k)
		}
		if !bytes.Equal(k, key) {
			return 0, nil
		}
		e, _, err := decodeEntry(key, v, view)
		if err != nil {
			return 0, err
		}
		if !visibleEntry(e, cur) {
			return 0, nil
		}
		ch.EntryValue = e
		return len(v), nil
	}
	return 0, nil
}

// Watch implements store.Store.
func (s *DB) Watch(ctx context.Context, after store.Revision, view store.View) <-chan store.WatchResponse {
	out := make(chan store.WatchResponse, 1)
	go func() {
		defer close(out)
		send := func(r store.WatchResponse) bool {
			select {
			case out <- r:
				return true
			case <-ctx.Done():
				return false
			}
		}
		cursor := after
		for {
			wake := s.changed() // before reading, so no commit is missed
			var changes []store.Change
			err := s.view(ctx, "watching changes", func(tx *bolt.Tx) error {
				var err error
				changes, err = readChanges(tx, uint64(cursor), watchBatch, view)
				return err
			})
			if err != nil {
				send(store.WatchResponse{Err: err})
				return
			}
			if len(changes) > 0 {
				if !send(store.WatchResponse{Changes: changes}) {
					send(store.WatchResponse{Err: ctx.Err()})
					return
				}
				cursor = changes[len(changes)-1].Revision
				continue
			}
			select {
			case <-wake:
			case <-ctx.Done():
				send(store.WatchResponse{Err: ctx.Err()})
				return
			case <-s.closing:
				send(store.WatchResponse{Err: store.ErrClosed})
				return
			}
		}
	}()
	return out
}

// checkRecords reads every record of the file and checks it: its checksum
// and encoding, and that the buckets agree with each other (every entry a
// member of its bank with its identity, every count right, the change log
// without gaps).
func checkRecords(tx *bolt.Tx) error {
	counts := map[string]uint64{}
	err := tx.Bucket([]byte(bucketBanks)).ForEach(func(k, _ []byte) error {
		b, err := readBank(tx, string(k))
		if err != nil {
			return err
		}
		counts[b.Name] = uint64(b.Entries)
		if tx.Bucket([]byte(bucketMembers)).Bucket(k) == nil {
			return fmt.Errorf("%w: bank %q has no member bucket", store.ErrCorrupt, k)
		}
		return nil
	})
	if err != nil {
		return err
	}
	members := map[string]uint64{}
	_, firstStaged, staging, err := stagingMark(tx)
	if err != nil {
		return err
	}
	err = tx.Bucket([]byte(bucketEntries)).ForEach(func(k, v []byte) error {
		e, identity, err := decodeEntry(k, v, store.ViewFull)
		if err != nil {
			return err
		}
		if staging && e.ID > firstStaged {
			return nil // an unpublished import's, removed at the next open for writing
		}
		if err := store.ValidateEntry(e); err != nil {
			return fmt.Errorf("%w: entry %d breaks the data model: %v", store.ErrCorrupt, e.ID, err)
		}
		if store.Identity(e) != identity {
			return fmt.Errorf("%w: entry %d has a stale identity", store.ErrCorrupt, e.ID)
		}
		mb := tx.Bucket([]byte(bucketMembers)).Bucket([]byte(e.Bank))
		if mb == nil || mb.Get(k) == nil {
			return fmt.Errorf("%w: entry %d is not listed in its bank %q", store.ErrCorrupt, e.ID, e.Bank)
		}
		ik := identityKey(e.Bank, identity)
		iv := tx.Bucket([]byte(bucketIdentities)).Get(ik)
		p, err := record.Open([]byte(bucketIdentities), ik, iv)
		if err != nil {
			return fmt.Errorf("entry %d's identity: %w", e.ID, err)
		}
		if id, err := record.DecodeUint(p); err != nil || id != e.ID {
			return fmt.Errorf("%w: entry %d's identity names entry %d", store.ErrCorrupt, e.ID, id)
		}
		members[e.Bank]++
		return nil
	})
	if err != nil {
		return err
	}
	for bank, n := range counts {
		if members[bank] != n {
			return fmt.Errorf("%w: bank %q counts %d entries, holds %d", store.ErrCorrupt, bank, n, members[bank])
		}
	}
	for bank, n := range members {
		if _, ok := counts[bank]; !ok {
			return fmt.Errorf("%w: %d entries of bank %q, which does not exist", store.ErrCorrupt, n, bank)
		}
	}
	err = tx.Bucket([]byte(bucketMembers)).ForEachBucket(func(k []byte) error {
		return tx.Bucket([]byte(bucketMembers)).Bucket(k).ForEach(func(id, v []byte) error {
			_, err := record.Open(append([]byte(bucketMembers+"/"), k...), id, v)
			return err
		})
	})
	if err != nil {
		return err
	}
	cur, comp, err := txRevisions(tx)
	if err != nil {
		return err
	}
	var n uint64
	err = tx.Bucket([]byte(bucketChanges)).ForEach(func(k, v []byte) error {
		n++
		if _, err := record.Open([]byte(bucketChanges), k, v); err != nil {
			return err
		}
		if rev := binary.BigEndian.Uint64(k); rev != comp+n {
			return fmt.Errorf("%w: change %d where %d was due", store.ErrCorrupt, rev, comp+n)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if comp+n != cur && !(staging && comp+n > cur) {
		return fmt.Errorf("%w: change log holds %d..%d, the store is at %d", store.ErrCorrupt, comp+1, comp+n, cur)
	}
	return nil
}
