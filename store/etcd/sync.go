package etcd

import (
	"fmt"
	"maps"

	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/record"
)

// syncEntries applies a SyncEntries batch (store.SyncEntries says what it
// does) with the writer's own operations, as store/bolt does: every change
// it makes is a change like any other, and the bank's moved cursor is
// written into the bank record in the same commit (one transaction, or
// several under the intent when the batch is larger than one carries). The
// cursor takes no revision of its own.
func (w *writer) syncEntries(actor string, b *store.SyncBatch) (store.OpResult, error) {
	bank, err := w.bank(b.Bank)
	if err != nil {
		return store.OpResult{}, err
	}
	if got := bank.Synced[b.Source]; got != b.From {
		return store.OpResult{}, fmt.Errorf("%w: bank %q is synced from %q up to revision %d, the batch starts at %d",
			store.ErrSyncConflict, b.Bank, store.Clip(b.Source), got, b.From)
	}
	if _, ok := bank.Synced[b.Source]; !ok && len(bank.Synced) >= store.MaxSyncSources {
		return store.OpResult{}, fmt.Errorf("%w: bank %q is synced from %d sources, the most it may", store.ErrInvalid, b.Bank, len(bank.Synced))
	}
	var res store.SyncResult
	ours := func(e *store.Entry) bool { return e.Provenance.List == b.Source }
	remove := func(e *store.Entry) error {
		if !ours(e) {
			res.Conflicts++
			return nil
		}
		if _, err := w.removeEntry(actor, e.ID); err != nil {
			return err
		}
		res.Removed++
		return nil
	}
	// inBank reads the bank's entry of an identity, or nil.
	inBank := func(identity [32]byte) (*store.Entry, error) {
		id, err := w.existing(b.Bank, identity)
		if err != nil || id == 0 {
			return nil, err
		}
		e, _, _, err := w.mustEntry(id, store.ViewBasic)
		if err != nil {
			return nil, fmt.Errorf("the identity of bank %q points at entry %d: %w", b.Bank, id, err)
		}
		return e, nil
	}
	for _, identity := range b.Removals {
		e, err := inBank(identity)
		if err != nil {
			return store.OpResult{}, err
		}
		if e == nil {
			res.Unchanged++
			continue
		}
		if err := remove(e); err != nil {
			return store.OpResult{}, err
		}
	}
	for _, id := range b.Prune {
		e, _, _, err := w.readEntry(id, store.ViewBasic)
		if err != nil {
			return store.OpResult{}, err
		}
		if e == nil || e.Bank != b.Bank {
			res.Unchanged++
			continue
		}
		if err := remove(e); err != nil {
			return store.OpResult{}, err
		}
	}
	for _, in := range b.Entries {
		if err := w.ctx.Err(); err != nil {
			return store.OpResult{}, err
		}
		e := *in
		e.Bank = b.Bank
		e.Provenance = store.Provenance{Partner: b.Partner, List: b.Source, ListRevision: in.Provenance.ListRevision,
			SourceID: in.Provenance.SourceID, Imported: w.now}
		old, err := inBank(store.Identity(&e))
		if err != nil {
			return store.OpResult{}, err
		}
		switch {
		case old == nil:
		case !ours(old):
			res.Conflicts++
			continue
		case old.Provenance.SourceID == e.Provenance.SourceID:
			r, err := w.updateEntry(actor, old.ID, &e, []string{"labels", "note"})
			if err != nil {
				return store.OpResult{}, err
			}
			if r.Changed {
				res.Updated++
			} else {
				res.Unchanged++
			}
			continue
		default:
			// The source removed the entry this one was synced from and
			// added the same item again, and its removal was compacted
			// away before it was read (a snapshot): the old copy goes.
			if _, err := w.removeEntry(actor, old.ID); err != nil {
				return store.OpResult{}, err
			}
			res.Removed++
		}
		if _, err := w.addEntry(actor, &e); err != nil {
			return store.OpResult{}, err
		}
		res.Added++
	}
	// Read the bank again: the changes above moved its count.
	if bank, err = w.bank(b.Bank); err != nil {
		return store.OpResult{}, err
	}
	bank.Synced = maps.Clone(bank.Synced)
	if bank.Synced == nil {
		bank.Synced = map[string]store.Revision{}
	}
	bank.Synced[b.Source] = b.To
	if err := w.putRecord(w.s.bankKey(bank.Name), record.EncodeBank(&bank)); err != nil {
		return store.OpResult{}, err
	}
	out := cloneBank(bank)
	return store.OpResult{Bank: &out, Sync: &res, Changed: true}, nil
}
