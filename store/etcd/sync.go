package etcd

import (
	"fmt"

	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/record"
)

// syncEntries applies a SyncEntries batch with store.ApplySync over the
// writer's own operations, as store/bolt does; the bank's moved cursor is
// written into the bank record in the same commit (one transaction, or
// several under the intent when the batch is larger than one carries).
func (w *writer) syncEntries(actor string, b *store.SyncBatch) (store.OpResult, error) {
	bank, res, err := store.ApplySync(syncWriter{w}, actor, b, w.now)
	if err != nil {
		return store.OpResult{}, err
	}
	out := cloneBank(bank)
	return store.OpResult{Bank: &out, Sync: &res, Changed: true}, nil
}

// syncWriter is the writer as store.ApplySync sees it.
type syncWriter struct{ w *writer }

func (s syncWriter) SyncBank(name string) (store.Bank, error) { return s.w.bank(name) }

func (s syncWriter) SyncEntryOf(bank string, identity [32]byte) (*store.Entry, error) {
	id, err := s.w.existing(bank, identity)
	if err != nil || id == 0 {
		return nil, err
	}
	e, _, _, err := s.w.mustEntry(id, store.ViewBasic)
	if err != nil {
		return nil, fmt.Errorf("the identity of bank %q points at entry %d: %w", bank, id, err)
	}
	return e, nil
}

func (s syncWriter) SyncEntry(id uint64) (*store.Entry, error) {
	if err := s.w.ctx.Err(); err != nil {
		return nil, err
	}
	e, _, _, err := s.w.readEntry(id, store.ViewBasic)
	return e, err
}

func (s syncWriter) SyncAdd(actor string, e *store.Entry) error {
	if err := s.w.ctx.Err(); err != nil {
		return err
	}
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
	return s.w.putRecord(s.w.s.bankKey(b.Name), record.EncodeBank(&b))
}
