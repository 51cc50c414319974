package bolt

import (
	"errors"

	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/record"
)

// syncEntries applies a SyncEntries batch with store.ApplySync over the
// writer's own operations; the bank's moved cursor goes into the bank
// record in the same transaction, taking no revision (it is not a setting
// of the bank, and followers need not see it).
func (w *writer) syncEntries(actor string, b *store.SyncBatch) (store.OpResult, error) {
	bank, res, err := store.ApplySync(syncWriter{w}, actor, b, w.now)
	if err != nil {
		return store.OpResult{}, err
	}
	return store.OpResult{Bank: &bank, Sync: &res, Changed: true}, w.err
}

// syncWriter is the writer as store.ApplySync sees it.
type syncWriter struct{ w *writer }

func (s syncWriter) SyncBank(name string) (store.Bank, error) { return s.w.bank(name) }

func (s syncWriter) SyncEntryOf(bank string, identity [32]byte) (*store.Entry, error) {
	return s.w.existing(bank, identity)
}

func (s syncWriter) SyncEntry(id uint64) (*store.Entry, error) {
	e, err := readEntry(s.w.tx, id, store.ViewBasic)
	if errors.Is(err, store.ErrEntryNotFound) {
		return nil, nil
	}
	return e, err
}

func (s syncWriter) SyncAdd(actor string, e *store.Entry) error {
	_, err := s.w.addEntry(actor, e)
	return err
}

func (s syncWriter) SyncUpdate(actor string, id uint64, from *store.Entry, fields []string) (bool, error) {
	r, err := s.w.updateEntry(actor, id, from, fields)
	return r.Changed, err
}

func (s syncWriter) SyncRemove(actor string, id uint64) error {
	_, err := s.w.removeEntry(actor, id)
	return err
}

func (s syncWriter) SyncPutBank(b store.Bank) error {
	s.w.put(s.w.tx.Bucket([]byte(bucketBanks)), bucketBanks, b.Name, record.EncodeBank(&b))
	return s.w.err
}
