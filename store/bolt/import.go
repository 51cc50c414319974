package bolt

import (
	"errors"
	"fmt"
	"io"
	"maps"

	"github.com/mediamatch/mediamatch/store"
)

// importEntries applies an import (store.ImportEntries) inside the
// commit's transaction: one transaction, so the import is all or nothing
// and the change feed shows it as one commit. Items are read one at a
// time; only bbolt's dirty pages grow with the list (DESIGN.md, Exchange).
func (w *writer) importEntries(actor string, imp *store.Import) (store.OpResult, error) {
	if _, err := w.bank(imp.Bank); err != nil {
		return store.OpResult{}, err
	}
	// Entries with ids above first were added by this import: finding one
	// again means the list repeats an item.
	first := w.tx.Bucket([]byte(bucketEntries)).Sequence()
	prov := imp.Provenance
	prov.Imported = w.now
	var res store.ImportResult
	for {
		item, err := imp.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return store.OpResult{}, err
		}
		if item.Entry == nil {
			if err := w.importRemoval(actor, imp.Bank, prov.Partner, item, &res); err != nil {
				return store.OpResult{}, err
			}
			continue
		}
		e := store.Entry{Bank: imp.Bank, Kind: item.Entry.Kind, Format: item.Entry.Format, Width: item.Entry.Width,
			Height: item.Entry.Height, Duration: item.Entry.Duration, Hashes: item.Entry.Hashes, Regions: item.Entry.Regions,
			Keypoints: item.Entry.Keypoints, Frames: item.Entry.Frames, Labels: item.Entry.Labels, Note: item.Entry.Note,
			Source: item.Entry.Source, Provenance: prov}
		e.Provenance.SourceID = item.Entry.Provenance.SourceID
		if err := store.ValidateEntry(&e); err != nil {
			return store.OpResult{}, fmt.Errorf("line %d: %w", item.Line, err)
		}
		r, err := w.insertEntry(actor, &e, store.Identity(&e))
		if err != nil {
			return store.OpResult{}, fmt.Errorf("line %d: %w", item.Line, err)
		}
		switch {
		case !r.Existed:
			res.Imported++
		case r.Entry.ID > first && !imp.AllowRepeats:
			return store.OpResult{}, fmt.Errorf("line %d: %w: the list holds this item twice (the same hashes as an earlier line)", item.Line, store.ErrInvalid)
		default:
			res.Unchanged++
			if r.Entry.ID <= first && (!maps.Equal(r.Entry.Labels, e.Labels) || r.Entry.Note != e.Note) {
				res.Conflicts++
			}
		}
	}
	if res.Imported > 0 {
		if err := w.bumpCount(imp.Bank, res.Imported); err != nil {
			return store.OpResult{}, err
		}
	}
	return store.OpResult{Import: &res, Changed: res.Imported+res.Removed > 0}, w.err
}

// importRemoval removes the entry of an item's identity, if the bank holds
// it and it was imported from the same partner.
func (w *writer) importRemoval(actor, bank, partner string, item store.ImportItem, res *store.ImportResult) error {
	e, err := w.existing(bank, item.Remove)
	if err != nil {
		return fmt.Errorf("line %d: %w", item.Line, err)
	}
	switch {
	case e == nil:
		res.Unchanged++
	case e.Provenance.IsZero() || e.Provenance.Partner != partner:
		res.Unchanged++
		res.Conflicts++
	default:
		if _, err := w.removeEntry(actor, e.ID); err != nil {
			return fmt.Errorf("line %d: %w", item.Line, err)
		}
		res.Removed++
	}
	return nil
}
