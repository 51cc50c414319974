package store

import (
	"fmt"
	"maps"
	"time"
)

// SyncWriter is what ApplySync needs of a backend's commit in progress:
// reads as the commit sees them and the commit's own operations, so that
// every change a sync batch makes is a change like any other.
type SyncWriter interface {
	// SyncBank reads a bank, count included.
	SyncBank(name string) (Bank, error)
	// SyncEntryOf reads the bank's entry of an identity, or nil.
	SyncEntryOf(bank string, identity [32]byte) (*Entry, error)
	// SyncEntry reads an entry by id (any bank), or nil.
	SyncEntry(id uint64) (*Entry, error)
	SyncAdd(actor string, e *Entry) error
	// SyncUpdate applies fields of from to entry id and says whether
	// anything changed.
	SyncUpdate(actor string, id uint64, from *Entry, fields []string) (bool, error)
	SyncRemove(actor string, id uint64) error
	// SyncPutBank writes a bank record as it is, taking no revision.
	SyncPutBank(b Bank) error
}

// ApplySync applies a SyncEntries batch (SyncEntries says what it does)
// through w, the commit's time being now, and returns the bank with its
// moved cursor. Both backends run it, so that they sync alike.
func ApplySync(w SyncWriter, actor string, b *SyncBatch, now time.Time) (Bank, SyncResult, error) {
	var res SyncResult
	bank, err := w.SyncBank(b.Bank)
	if err != nil {
		return Bank{}, res, err
	}
	if got := bank.Synced[b.Source]; got != b.From {
		return Bank{}, res, fmt.Errorf("%w: bank %q is synced from %q up to revision %d, the batch starts at %d",
			ErrSyncConflict, b.Bank, Clip(b.Source), got, b.From)
	}
	if _, ok := bank.Synced[b.Source]; !ok && len(bank.Synced) >= MaxSyncSources {
		return Bank{}, res, fmt.Errorf("%w: bank %q is synced from %d sources, the most it may", ErrInvalid, b.Bank, len(bank.Synced))
	}
	ours := func(e *Entry) bool { return e.Provenance.List == b.Source }
	// remove removes e if it was synced from this source, or counts a
	// conflict; absent counts as unchanged.
	remove := func(e *Entry) error {
		switch {
		case e == nil:
			res.Unchanged++
		case !ours(e):
			res.Conflicts++
		default:
			if err := w.SyncRemove(actor, e.ID); err != nil {
				return err
			}
			res.Removed++
		}
		return nil
	}
	for _, identity := range b.Removals {
		e, err := w.SyncEntryOf(b.Bank, identity)
		if err == nil {
			err = remove(e)
		}
		if err != nil {
			return Bank{}, res, err
		}
	}
	for _, id := range b.Prune {
		e, err := w.SyncEntry(id)
		if err != nil {
			return Bank{}, res, err
		}
		if e != nil && e.Bank != b.Bank {
			e = nil
		}
		if err := remove(e); err != nil {
			return Bank{}, res, err
		}
	}
	for _, in := range b.Entries {
		e := *in
		e.Bank = b.Bank
		e.Provenance = Provenance{Partner: b.Partner, List: b.Source, ListRevision: in.Provenance.ListRevision,
			SourceID: in.Provenance.SourceID, Imported: now}
		old, err := w.SyncEntryOf(b.Bank, Identity(&e))
		if err != nil {
			return Bank{}, res, err
		}
		switch {
		case old == nil:
		case !ours(old):
			res.Conflicts++
			continue
		case old.Provenance.SourceID == e.Provenance.SourceID:
			changed, err := w.SyncUpdate(actor, old.ID, &e, []string{"labels", "note"})
			if err != nil {
				return Bank{}, res, err
			}
			if changed {
				res.Updated++
			} else {
				res.Unchanged++
			}
			continue
		default:
			// The source removed the entry this one was synced from and
			// added the same item again, and its removal was compacted
			// away before it was read (a snapshot): the old copy goes.
			if err := w.SyncRemove(actor, old.ID); err != nil {
				return Bank{}, res, err
			}
			res.Removed++
		}
		if err := w.SyncAdd(actor, &e); err != nil {
			return Bank{}, res, err
		}
		res.Added++
	}
	// Read the bank again: the changes above moved its count.
	if bank, err = w.SyncBank(b.Bank); err != nil {
		return Bank{}, res, err
	}
	bank.Synced = maps.Clone(bank.Synced)
	if bank.Synced == nil {
		bank.Synced = map[string]Revision{}
	}
	bank.Synced[b.Source] = b.To
	return bank, res, w.SyncPutBank(bank)
}
