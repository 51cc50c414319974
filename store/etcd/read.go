package etcd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/record"
)

// pageKeys is how many keys one range read returns at most.
const pageKeys = 256

// reader reads the store as it was at one etcd revision that falls
// between commits.
type reader struct {
	s       *Store
	rev     int64 // the etcd revision read at
	h       head
	headMod int64 // the head's mod revision
	// intent is set when a commit of several transactions was under way:
	// rev is then the revision before it began.
	intent      *mvccpb.KeyValue
	ownerAlive  bool
	intentOwner string
}

// reader returns a reader of the store's latest committed state.
func (s *Store) reader(ctx context.Context) (*reader, error) {
	resp, err := s.cli.Txn(ctx).Then(clientv3.OpGet(s.headKey()), clientv3.OpGet(s.intentKey()), clientv3.OpGet(s.ownerKey())).Commit()
	if err != nil {
		return nil, s.closedErr(etcdErr(err))
	}
	rd := &reader{s: s, rev: resp.Header.Revision}
	hk := resp.Responses[0].GetResponseRange().Kvs
	if len(hk) == 0 {
		return nil, fmt.Errorf("%w: the store head is gone", store.ErrCorrupt)
	}
	if rd.h, err = s.decodeHead(hk[0].Value); err != nil {
		return nil, err
	}
	rd.headMod = hk[0].ModRevision
	if ik := resp.Responses[1].GetResponseRange().Kvs; len(ik) > 0 {
		// A commit of several transactions is under way (or its writer
		// died): what it wrote so far is after its intent's creation, and
		// the head is unchanged since then.
		rd.intent = ik[0]
		rd.rev = ik[0].CreateRevision - 1
		if ok := resp.Responses[2].GetResponseRange().Kvs; len(ok) > 0 {
			rd.ownerAlive, rd.intentOwner = true, string(ok[0].Value)
		}
	}
	return rd, nil
}

// get reads one key at the reader's revision; nil when absent.
func (rd *reader) get(ctx context.Context, key string) (*mvccpb.KeyValue, error) {
	resp, err := rd.s.cli.Get(ctx, key, clientv3.WithRev(rd.rev))
	if err != nil {
		return nil, rd.s.closedErr(etcdErr(err))
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	return resp.Kvs[0], nil
}

// gets reads several keys at the reader's revision, a transaction of
// them at a time; absent keys are nil.
func (rd *reader) gets(ctx context.Context, keys []string) ([]*mvccpb.KeyValue, error) {
	out := make([]*mvccpb.KeyValue, 0, len(keys))
	step := min(rd.s.opts.MaxTxnOps, 64)
	for len(keys) > 0 {
		n := min(step, len(keys))
		ops := make([]clientv3.Op, n)
		for i, k := range keys[:n] {
			ops[i] = clientv3.OpGet(k, clientv3.WithRev(rd.rev))
		}
		resp, err := rd.s.cli.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return nil, rd.s.closedErr(etcdErr(err))
		}
		for _, r := range resp.Responses {
			var kv *mvccpb.KeyValue
			if kvs := r.GetResponseRange().Kvs; len(kvs) > 0 {
				kv = kvs[0]
			}
			out = append(out, kv)
		}
		keys = keys[n:]
	}
	return out, nil
}

// scan calls fn for the keys in [from, end) at the reader's revision, in
// key order, a page at a time, until fn returns false or an error.
func (rd *reader) scan(ctx context.Context, from, end string, keysOnly bool, fn func(*mvccpb.KeyValue) (bool, error)) error {
	for {
		opts := []clientv3.OpOption{clientv3.WithRev(rd.rev), clientv3.WithRange(end), clientv3.WithLimit(pageKeys)}
		if keysOnly {
			opts = append(opts, clientv3.WithKeysOnly())
		}
		resp, err := rd.s.cli.Get(ctx, from, opts...)
		if err != nil {
			return rd.s.closedErr(etcdErr(err))
		}
		for _, kv := range resp.Kvs {
			if ok, err := fn(kv); err != nil || !ok {
				return err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// maxWindow bounds the ids one read of scanIDs spans.
const maxWindow = 16 * pageKeys

// scanIDs calls fn, in order, for the keys prefix+%016x of the ids in
// (after, last], until fn returns false. It reads them a window of ids at
// a time rather than as pages of one range to the family's end: etcd
// counts every key from a range's start to its end on each read, so
// pages of one range over a family of n keys cost n*n/pageKeys (a
// replica's snapshot of a million entries took minutes). A window widens
// while it finds few keys, up to maxWindow ids, and narrows when it finds
// more than a page.
func (rd *reader) scanIDs(ctx context.Context, prefix string, after, last uint64, keysOnly bool, fn func(*mvccpb.KeyValue) (bool, error)) error {
	w := uint64(pageKeys)
	for lo := after + 1; lo > after && lo <= last; {
		hi := lo + w // exclusive
		if hi > last || hi < lo {
			hi = last + 1
		}
		n, stopped := 0, false
		err := rd.scan(ctx, fmt.Sprintf("%s%016x", prefix, lo), fmt.Sprintf("%s%016x", prefix, hi), keysOnly, func(kv *mvccpb.KeyValue) (bool, error) {
			n++
			ok, err := fn(kv)
			stopped = !ok || err != nil
			return ok, err
		})
		if err != nil || stopped || hi == last+1 {
			return err
		}
		switch {
		case n < pageKeys/2 && w < maxWindow:
			w *= 2
		case n > pageKeys && w > pageKeys:
			w /= 2
		}
		lo = hi
	}
	return nil
}

// idOf parses the hex id ending a key.
func idOf(key []byte, prefix string) (uint64, error) {
	s := strings.TrimPrefix(string(key), prefix)
	id, err := strconv.ParseUint(s, 16, 64)
	if err != nil || len(s) != 16 {
		return 0, fmt.Errorf("%w: key %q holds no id", store.ErrCorrupt, key)
	}
	return id, nil
}

// decodeBank decodes a bank record and its entry count.
func (s *Store) decodeBank(kv, count *mvccpb.KeyValue) (store.Bank, error) {
	p, err := s.open(string(kv.Key), kv.Value)
	if err != nil {
		return store.Bank{}, err
	}
	b, err := record.DecodeBank(p)
	if err != nil {
		return store.Bank{}, err
	}
	if s.bankKey(b.Name) != string(kv.Key) {
		return store.Bank{}, fmt.Errorf("%w: bank record %q names bank %q", store.ErrCorrupt, kv.Key, store.Clip(b.Name))
	}
	if count == nil {
		return store.Bank{}, fmt.Errorf("%w: bank %q has no entry count", store.ErrCorrupt, b.Name)
	}
	n, err := s.decodeUint(count)
	if err != nil {
		return store.Bank{}, err
	}
	b.Entries = int64(n)
	return b, nil
}

func (s *Store) decodeUint(kv *mvccpb.KeyValue) (uint64, error) {
	p, err := s.open(string(kv.Key), kv.Value)
	if err != nil {
		return 0, err
	}
	return record.DecodeUint(p)
}

// decodeMain decodes an entry's main record: the entry without its
// frames and keypoints, its identity, and the number of chunks those are
// stored in.
func (s *Store) decodeMain(kv *mvccpb.KeyValue, id uint64) (*store.Entry, [32]byte, int, error) {
	p, err := s.open(string(kv.Key), kv.Value)
	if err != nil {
		return nil, [32]byte{}, 0, err
	}
	n, k := binary.Uvarint(p)
	if k <= 0 || n > store.MaxFrames {
		return nil, [32]byte{}, 0, fmt.Errorf("%w: entry %d: bad chunk count", store.ErrCorrupt, id)
	}
	e, identity, err := record.DecodeEntry(p[k:], store.ViewBasic)
	if err != nil {
		return nil, identity, 0, fmt.Errorf("entry %d: %w", id, err)
	}
	if e.ID != id {
		return nil, identity, 0, fmt.Errorf("%w: entry record %d holds entry %d", store.ErrCorrupt, id, e.ID)
	}
	return e, identity, int(n), nil
}

// addBulk decodes an entry's frames and keypoints from its chunks, in
// order, into e.
func (s *Store) addBulk(e *store.Entry, chunks []*mvccpb.KeyValue, n int) error {
	if len(chunks) != n {
		return fmt.Errorf("%w: entry %d has %d chunks of its %d", store.ErrCorrupt, e.ID, len(chunks), n)
	}
	var all []byte
	for i, c := range chunks {
		if c == nil || string(c.Key) != s.bulkKey(e.ID, i) {
			return fmt.Errorf("%w: entry %d lacks chunk %d", store.ErrCorrupt, e.ID, i)
		}
		all = append(all, c.Value...)
	}
	key := s.bulkPrefix(e.ID)
	p, err := s.open(key, all)
	if err != nil {
		return err
	}
	b, _, err := record.DecodeEntry(p, store.ViewFull)
	if err != nil {
		return fmt.Errorf("entry %d's frames: %w", e.ID, err)
	}
	if b.ID != e.ID {
		return fmt.Errorf("%w: entry %d's chunks hold entry %d", store.ErrCorrupt, e.ID, b.ID)
	}
	e.Frames, e.Keypoints = b.Frames, b.Keypoints
	return nil
}

// bank reads a bank.
func (rd *reader) bank(ctx context.Context, name string) (store.Bank, error) {
	if !store.ValidBankName(name) {
		return store.Bank{}, fmt.Errorf("%w: %q", store.ErrBankNotFound, store.Clip(name))
	}
	kvs, err := rd.gets(ctx, []string{rd.s.bankKey(name), rd.s.countKey(name)})
	if err != nil {
		return store.Bank{}, err
	}
	if kvs[0] == nil {
		return store.Bank{}, fmt.Errorf("%w: %q", store.ErrBankNotFound, name)
	}
	return rd.s.decodeBank(kvs[0], kvs[1])
}

// entries reads the entries of the given ids (nil for those absent), as
// view says.
func (rd *reader) entries(ctx context.Context, ids []uint64, view store.View) ([]*store.Entry, error) {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = rd.s.entryKey(id)
	}
	kvs, err := rd.gets(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make([]*store.Entry, len(ids))
	for i, kv := range kvs {
		if kv == nil {
			continue
		}
		e, _, n, err := rd.s.decodeMain(kv, ids[i])
		if err != nil {
			return nil, err
		}
		if view == store.ViewFull && n > 0 {
			resp, err := rd.s.cli.Get(ctx, rd.s.bulkPrefix(e.ID), clientv3.WithRev(rd.rev), clientv3.WithPrefix())
			if err != nil {
				return nil, rd.s.closedErr(etcdErr(err))
			}
			if err := rd.s.addBulk(e, resp.Kvs, n); err != nil {
				return nil, err
			}
		}
		out[i] = e
	}
	return out, nil
}

func (rd *reader) entry(ctx context.Context, id uint64, view store.View) (*store.Entry, error) {
	es, err := rd.entries(ctx, []uint64{id}, view)
	if err != nil {
		return nil, err
	}
	if es[0] == nil {
		return nil, fmt.Errorf("%w: %d", store.ErrEntryNotFound, id)
	}
	return es[0], nil
}

// listBanks calls fn for the banks after the given name, in name order.
func (rd *reader) listBanks(ctx context.Context, after string, fn func(store.Bank) (bool, error)) error {
	from, end := rd.s.family("banks")
	if after != "" {
		from = rd.s.bankKey(after) + "\x00"
	}
	var page []*mvccpb.KeyValue
	flush := func() (bool, error) {
		if len(page) == 0 {
			return true, nil
		}
		keys := make([]string, len(page))
		for i, kv := range page {
			keys[i] = rd.s.countKey(strings.TrimPrefix(string(kv.Key), rd.s.p+"banks/"))
		}
		counts, err := rd.gets(ctx, keys)
		if err != nil {
			return false, err
		}
		for i, kv := range page {
			b, err := rd.s.decodeBank(kv, counts[i])
			if err != nil {
				return false, err
			}
			if ok, err := fn(b); err != nil || !ok {
				return false, err
			}
		}
		page = page[:0]
		return true, nil
	}
	var more bool
	err := rd.scan(ctx, from, end, false, func(kv *mvccpb.KeyValue) (bool, error) {
		page = append(page, kv)
		if len(page) < pageKeys {
			return true, nil
		}
		var err error
		more, err = flush()
		return more, err
	})
	if err != nil {
		return err
	}
	_, err = flush()
	return err
}

// listEntries is Store.ListEntries at the reader's revision.
func (rd *reader) listEntries(ctx context.Context, q store.EntryQuery, fn func(*store.Entry) bool) error {
	var banks []string
	switch {
	case q.Bank != "":
		if _, err := rd.bank(ctx, q.Bank); err != nil {
			return err
		}
		banks = []string{q.Bank}
	case len(q.Banks) > 0:
		for _, b := range q.Banks {
			if slices.Contains(banks, b) {
				continue
			}
			if _, err := rd.bank(ctx, b); err == nil {
				banks = append(banks, b)
			} else if !errors.Is(err, store.ErrBankNotFound) {
				return err
			}
		}
		if len(banks) == 0 {
			return nil
		}
	}
	var ids []uint64
	stopped := false
	flush := func() error {
		es, err := rd.entries(ctx, ids, q.View)
		if err != nil {
			return err
		}
		for i, e := range es {
			if e == nil {
				return fmt.Errorf("%w: entry %d is listed but missing", store.ErrCorrupt, ids[i])
			}
			if !fn(e) {
				stopped = true
				return nil
			}
		}
		ids = ids[:0]
		return nil
	}
	collect := func(id uint64) (bool, error) {
		ids = append(ids, id)
		if len(ids) < pageKeys/4 {
			return true, nil
		}
		err := flush()
		return !stopped && err == nil, err
	}
	var err error
	if banks == nil {
		prefix, _ := rd.s.family("entries")
		err = rd.scanIDs(ctx, prefix, q.After, rd.h.lastID, true, func(kv *mvccpb.KeyValue) (bool, error) {
			id, err := idOf(kv.Key, prefix)
			if err != nil {
				return false, err
			}
			return collect(id)
		})
	} else {
		err = rd.members(ctx, banks, q.After, collect)
	}
	if err != nil || stopped {
		return err
	}
	return flush()
}

// members calls fn for the ids of the banks' entries after the given id,
// in id order across the banks (a merge of their member lists).
func (rd *reader) members(ctx context.Context, banks []string, after uint64, fn func(uint64) (bool, error)) error {
	type cursor struct {
		prefix string
		after  uint64 // the last id read
		ids    []uint64
		done   bool
	}
	cs := make([]*cursor, len(banks))
	for i, b := range banks {
		cs[i] = &cursor{prefix: rd.s.memberPrefix(b), after: after}
	}
	// fill reads a cursor's next ids, a page or so (scanIDs reads by
	// windows: see there why).
	fill := func(c *cursor) error {
		if len(c.ids) > 0 || c.done {
			return nil
		}
		err := rd.scanIDs(ctx, c.prefix, c.after, rd.h.lastID, true, func(kv *mvccpb.KeyValue) (bool, error) {
			id, err := idOf(kv.Key, c.prefix)
			if err != nil {
				return false, err
			}
			c.ids = append(c.ids, id)
			return len(c.ids) < pageKeys, nil
		})
		if err != nil {
			return err
		}
		if len(c.ids) == 0 {
			c.done = true
		} else {
			c.after = c.ids[len(c.ids)-1]
		}
		return nil
	}
	for {
		var best *cursor
		for _, c := range cs {
			if err := fill(c); err != nil {
				return err
			}
			if len(c.ids) > 0 && (best == nil || c.ids[0] < best.ids[0]) {
				best = c
			}
		}
		if best == nil {
			return nil
		}
		id := best.ids[0]
		best.ids = best.ids[1:]
		if ok, err := fn(id); err != nil || !ok {
			return err
		}
	}
}

// changes calls fn for the changes after the given revision up to the
// reader's, with values as view says, until fn returns false.
func (rd *reader) changes(ctx context.Context, after store.Revision, view store.View, fn func(store.Change) (bool, error)) error {
	if uint64(after) > rd.h.rev {
		return fmt.Errorf("%w: revision %d, the store is at %d", store.ErrFutureRevision, after, rd.h.rev)
	}
	if uint64(after) < rd.h.compacted {
		return fmt.Errorf("%w: changes after revision %d are discarded up to %d; read a fresh snapshot", store.ErrCompacted, after, rd.h.compacted)
	}
	if uint64(after) == rd.h.rev {
		return nil
	}
	var page []store.Change
	stopped := false
	flush := func() error {
		if err := rd.values(ctx, page, view); err != nil {
			return err
		}
		for _, c := range page {
			ok, err := fn(c)
			if err != nil {
				return err
			}
			if !ok {
				stopped = true
				return nil
			}
		}
		page = page[:0]
		return nil
	}
	next := uint64(after) + 1
	changes, _ := rd.s.family("changes")
	err := rd.scanIDs(ctx, changes, next-1, rd.h.rev, false, func(kv *mvccpb.KeyValue) (bool, error) {
		c, err := rd.s.decodeChange(kv)
		if err != nil {
			return false, err
		}
		if uint64(c.Revision) != next {
			return false, fmt.Errorf("%w: change %d where %d was due", store.ErrCorrupt, c.Revision, next)
		}
		next++
		page = append(page, c)
		if len(page) < pageKeys/4 {
			return true, nil
		}
		err = flush()
		return !stopped && err == nil, err
	})
	if err != nil || stopped {
		return err
	}
	if err := flush(); err != nil || stopped {
		return err
	}
	if next != rd.h.rev+1 {
		return fmt.Errorf("%w: the change log ends at %d, the store is at %d", store.ErrCorrupt, next-1, rd.h.rev)
	}
	return nil
}

func (s *Store) decodeChange(kv *mvccpb.KeyValue) (store.Change, error) {
	p, err := s.open(string(kv.Key), kv.Value)
	if err != nil {
		return store.Change{}, err
	}
	return record.DecodeChange(p)
}

// values sets the banks and entries of changes as the reader shows them.
func (rd *reader) values(ctx context.Context, cs []store.Change, view store.View) error {
	if view == store.ViewNone {
		return nil
	}
	var ids []uint64
	var at []int
	banks := map[string]*store.Bank{}
	for i, c := range cs {
		switch c.Kind {
		case store.EntryAdded, store.EntryUpdated:
			ids = append(ids, c.EntryID)
			at = append(at, i)
		case store.BankCreated, store.BankUpdated:
			b, ok := banks[c.Bank]
			if !ok {
				bk, err := rd.bank(ctx, c.Bank)
				switch {
				case err == nil:
					b = &bk
				case !errors.Is(err, store.ErrBankNotFound):
					return err
				}
				banks[c.Bank] = b
			}
			if b != nil {
				cp := cloneBank(*b)
				cs[i].BankValue = &cp
			}
		}
	}
	es, err := rd.entries(ctx, ids, view)
	if err != nil {
		return err
	}
	for j, e := range es {
		cs[at[j]].EntryValue = e
	}
	return nil
}

func cloneBank(b store.Bank) store.Bank {
	if b.Labels != nil {
		m := make(map[string]string, len(b.Labels))
		for k, v := range b.Labels {
			m[k] = v
		}
		b.Labels = m
	}
	if b.Thresholds != nil {
		m := make(map[string]int, len(b.Thresholds))
		for k, v := range b.Thresholds {
			m[k] = v
		}
		b.Thresholds = m
	}
	return b
}

// changePage returns up to limit changes after the given revision,
// ending on a commit unless one commit is longer than limit.
func (rd *reader) changePage(ctx context.Context, after store.Revision, limit int, view store.View) ([]store.Change, error) {
	if limit <= 0 {
		limit = 1
	}
	var out []store.Change
	err := rd.changes(ctx, after, store.ViewNone, func(c store.Change) (bool, error) {
		out = append(out, c)
		return len(out) < limit, nil
	})
	if err != nil {
		return nil, err
	}
	if n := len(out); n > 0 && !out[n-1].CommitEnd {
		for i := n - 2; i >= 0; i-- {
			if out[i].CommitEnd {
				out = out[:i+1]
				break
			}
		}
	}
	if err := rd.values(ctx, out, view); err != nil {
		return nil, err
	}
	return out, nil
}

// tokens and the audit log.

func (s *Store) decodeToken(kv *mvccpb.KeyValue) (store.Token, error) {
	p, err := s.open(string(kv.Key), kv.Value)
	if err != nil {
		return store.Token{}, err
	}
	t, err := record.DecodeToken(p)
	if err != nil {
		return store.Token{}, err
	}
	if s.tokenKey(t.Name) != string(kv.Key) {
		return store.Token{}, fmt.Errorf("%w: token record %q names token %q", store.ErrCorrupt, kv.Key, store.Clip(t.Name))
	}
	return t, nil
}

func (s *Store) decodeAudit(kv *mvccpb.KeyValue) (store.AuditRecord, error) {
	p, err := s.open(string(kv.Key), kv.Value)
	if err != nil {
		return store.AuditRecord{}, err
	}
	a, err := record.DecodeAudit(p)
	if err != nil {
		return store.AuditRecord{}, err
	}
	if s.auditKey(a.Seq) != string(kv.Key) {
		return store.AuditRecord{}, fmt.Errorf("%w: audit record %q holds number %d", store.ErrCorrupt, kv.Key, a.Seq)
	}
	return a, nil
}
