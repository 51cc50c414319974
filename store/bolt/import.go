package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/record"
)

// An import (store.ImportEntries) is staged, then published.
//
// Staging writes the list's entries in transactions of at most importChunk
// items, straight into the buckets they end in (entries, members,
// changes), with the entry ids and revisions they will have, but leaves
// the meta bucket's revision where it was; their identities are kept
// aside (identset.go) and written after the list, in key order. Every read (entries,
// lists, snapshots, the change feed) shows only what is at or below that
// revision (visible), so staged entries and changes are hidden. Publishing
// is one small transaction: the removals the list holds, the bank's
// count, the end-of-commit mark on the last change, and the revision. The
// import holds the committer from its first chunk to its publication, so
// no other commit takes revisions or ids in between.
//
// A failed or cancelled import, or a crash, leaves staged records behind
// the meta record keyStaging; they are deleted (dropStaged) before the
// next import and when the file is next opened for writing.
const (
	// importChunk and importChunkBytes bound the items one staging
	// transaction writes, and their size: bbolt keeps a transaction's
	// dirty pages in memory until it commits, so these, not the list's
	// length, bound an import's memory. A chunk's keys (entry ids,
	// revisions) follow those before it, so it dirties only the pages it
	// appends, about 4 MB of them for 16,384 PDQ-only entries
	// (BENCHMARKS.md, Exchange).
	importChunk      = 16_384
	importChunkBytes = 32 << 20
	// importIdentChunk bounds the identities one transaction writes after
	// the list (stageIdentities): in key order, they fill pages one after
	// another, so this many take about 7 MB of pages.
	importIdentChunk = 100_000
	// importFill is how full an import packs the pages it appends to.
	importFill = 1.0
	// maxImportRemovals bounds the removals one import holds: they are
	// applied in the one publishing transaction, so they are its size.
	maxImportRemovals = store.MaxOps
	// keyStaging, in the meta bucket, marks an import in progress: the
	// revision and the entry sequence before it began.
	keyStaging = "staging"
)

// staged is an import in progress.
type staged struct {
	imp     *store.Import
	actor   string
	prov    store.Provenance
	baseRev uint64 // the revision before the import
	firstID uint64 // the entry sequence before it: later ids are its own
	rev     uint64 // the last revision staged
	res     store.ImportResult
	// removals are the identities to remove at publication, in list
	// order; cancelled ones (the list adds the item again later) are
	// zeroed. removalAt finds them.
	removals  []store.ImportItem
	removalAt map[[32]byte]int
	// idents are the identities of the entries staged, written to the
	// identities bucket in key order after the list (identset.go).
	idents *identSet
	// prep reads the list ahead of the committer.
	prep preparer
}

const (
	// prepBatch is how many items one goroutine prepares (preparer), and
	// prepAhead how many such batches are read ahead of the committer.
	prepBatch = 512
	prepAhead = 4
)

// prepared is an item of the list made ready for the committer: its entry
// checked, its identity computed and its record encoded but for what the
// committer sets (record.EntryParts), or err, why the entry is refused.
type prepared struct {
	item     store.ImportItem
	entry    store.Entry
	identity [32]byte
	parts    record.EntryParts
	err      error
}

// preparer reads the list ahead of the committer and prepares each batch
// of items on a goroutine of its own, so that checking, hashing and
// encoding entries run beside the committer's writes. The list itself is
// read only on the committer's goroutine (store.Import.Next is called
// there, as the store's contract says); a batch's goroutine only computes,
// and ends once its batch is done, whether or not the import goes on.
type preparer struct {
	next  func() (store.ImportItem, error)
	bank  string
	prov  store.Provenance
	ahead []chan []prepared // batches read, in list order
	cur   []prepared
	end   error // what ended the list (io.EOF or a reading error), once read
}

// get returns the next item prepared, or, after the last, what ended the
// list.
func (p *preparer) get() (prepared, error) {
	for len(p.cur) == 0 {
		p.fill()
		if len(p.ahead) == 0 {
			return prepared{}, p.end
		}
		p.cur = <-p.ahead[0]
		p.ahead = p.ahead[1:]
	}
	it := p.cur[0]
	p.cur = p.cur[1:]
	return it, nil
}

// fill reads batches until prepAhead are being prepared or the list ends.
func (p *preparer) fill() {
	for len(p.ahead) < prepAhead && p.end == nil {
		items := make([]store.ImportItem, 0, prepBatch)
		for len(items) < prepBatch {
			it, err := p.next()
			if err != nil {
				p.end = err
				break
			}
			items = append(items, it)
		}
		if len(items) == 0 {
			return
		}
		done := make(chan []prepared, 1)
		go func() {
			out := make([]prepared, len(items))
			for i, it := range items {
				out[i].item = it
				if it.Entry != nil {
					p.prepare(&out[i])
				}
			}
			done <- out
		}()
		p.ahead = append(p.ahead, done)
	}
}

// prepare makes an entry as the import stores it: the import's bank and
// provenance, the entry's own source id, checked as any add is.
func (p *preparer) prepare(out *prepared) {
	in := out.item.Entry
	e := &out.entry
	*e = store.Entry{Bank: p.bank, Kind: in.Kind, Format: in.Format, Width: in.Width, Height: in.Height,
		Duration: in.Duration, Hashes: in.Hashes, Regions: in.Regions, Keypoints: in.Keypoints, Thumbnail: in.Thumbnail, Frames: in.Frames,
		Labels: in.Labels, Note: in.Note, Source: in.Source, Provenance: p.prov}
	e.Provenance.SourceID = in.Provenance.SourceID
	if out.err = store.ValidateEntry(e); out.err != nil {
		return
	}
	out.identity = store.Identity(e)
	out.parts = record.EncodeEntryParts(e, out.identity)
}

// runImport stages and publishes an import, in the committer.
func (s *DB) runImport(r *request) {
	res, err := s.importList(r.ctx, r.actor, r.ops[0].Import)
	if err != nil {
		if derr := s.dropStaged(); derr != nil {
			err = errors.Join(err, fmt.Errorf("removing the staged import (done at the next import or open): %w", derr))
		}
		r.done <- reply{err: err}
		return
	}
	s.current.Store(uint64(res.Revision))
	s.notify()
	r.done <- reply{res: res}
}

func (s *DB) importList(ctx context.Context, actor string, imp *store.Import) (store.CommitResult, error) {
	if err := s.dropStaged(); err != nil {
		return store.CommitResult{}, err
	}
	if err := removeIdentFiles(s.path); err != nil {
		return store.CommitResult{}, fmt.Errorf("removing an earlier import's temporary files: %w", err)
	}
	st := &staged{imp: imp, actor: actor, removalAt: map[[32]byte]int{}, idents: newIdentSet(s.path, s.importRun)}
	defer st.idents.close()
	now := s.opts.Now().UTC()
	st.prov = imp.Provenance
	st.prov.Imported = now
	st.prep = preparer{next: imp.Next, bank: imp.Bank, prov: st.prov}
	for first, done := true, false; !done; first = false {
		err := guard("staging an import", func() error {
			return s.bolt.Update(func(tx *bolt.Tx) error {
				w, err := newWriter(tx, now)
				if err != nil {
					return err
				}
				w.staging = true
				if first {
					if _, err := w.bank(imp.Bank); err != nil {
						return err
					}
					st.baseRev, st.rev = w.rev, w.rev
					entries := tx.Bucket([]byte(bucketEntries))
					st.firstID = entries.Sequence()
					// The entries staged take the ids after the
					// sequence, unchecked one by one (putEntry).
					if k, _ := entries.Cursor().Last(); k != nil && (len(k) != 8 || binary.BigEndian.Uint64(k) > st.firstID) {
						return fmt.Errorf("%w: entry key %x is past the next entry id, %d", store.ErrCorrupt, k, st.firstID+1)
					}
					w.putBytes(tx.Bucket([]byte(bucketMeta)), bucketMeta, []byte(keyStaging),
						binary.BigEndian.AppendUint64(u64(st.baseRev), st.firstID))
				}
				w.rev = st.rev
				w.stageIdent = st.idents.add
				// Entries, members and changes are appended: pages
				// packed full are half as many to write.
				for _, b := range []*bolt.Bucket{tx.Bucket([]byte(bucketEntries)), tx.Bucket([]byte(bucketChanges)),
					tx.Bucket([]byte(bucketMembers)).Bucket([]byte(imp.Bank))} {
					if b != nil {
						b.FillPercent = importFill
					}
				}
				if done, err = st.chunk(ctx, w); err != nil {
					return err
				}
				st.rev = w.rev
				return w.finish()
			})
		})
		if err != nil {
			return store.CommitResult{}, err
		}
	}
	if err := s.stageIdentities(ctx, st); err != nil {
		return store.CommitResult{}, err
	}
	var out store.CommitResult
	err := guard("publishing an import", func() error {
		return s.bolt.Update(func(tx *bolt.Tx) error {
			w, err := newWriter(tx, now)
			if err != nil {
				return err
			}
			w.rev = st.rev
			if err := st.publish(w); err != nil {
				return err
			}
			if err := tx.Bucket([]byte(bucketMeta)).Delete([]byte(keyStaging)); err != nil {
				return err
			}
			if err := w.finish(); err != nil {
				return err
			}
			res := st.res
			out = store.CommitResult{Revision: store.Revision(w.rev),
				Results: []store.OpResult{{Import: &res, Changed: res.Imported+res.Removed > 0}}}
			return nil
		})
	})
	return out, err
}

// stageIdentities writes the identities of the entries staged, in key
// order, in transactions of at most importIdentChunk: as appends, each
// page of the identities bucket the list's keys fall in is written about
// once. They are staged too: they name entries no read shows yet.
func (s *DB) stageIdentities(ctx context.Context, st *staged) error {
	m := st.idents.merge()
	for done := false; !done; {
		err := guard("staging an import's identities", func() error {
			return s.bolt.Update(func(tx *bolt.Tx) error {
				w, err := newWriter(tx, time.Time{})
				if err != nil {
					return err
				}
				w.staging = true
				b := tx.Bucket([]byte(bucketIdentities))
				b.FillPercent = importFill
				for n := 0; n < importIdentChunk; n++ {
					r, ok := m.next()
					if !ok {
						if m.err != nil {
							return m.err
						}
						done = true
						break
					}
					w.insert(b, bucketIdentities, bucketIdentities, identityKey(st.imp.Bank, r.identity), record.EncodeUint(r.id))
				}
				if err := ctx.Err(); err != nil {
					return err
				}
				return w.finish()
			})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// chunk stages up to importChunk items, and reports whether the list has
// ended.
func (st *staged) chunk(ctx context.Context, w *writer) (bool, error) {
	size := 0
	for n := 0; n < importChunk && size < importChunkBytes; n++ {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		p, err := st.prep.get()
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		item := p.item
		if item.Entry == nil {
			if len(st.removals) == maxImportRemovals {
				return false, fmt.Errorf("line %d: %w: the list removes more than %d entries; split it", item.Line, store.ErrInvalid, maxImportRemovals)
			}
			st.removalAt[item.Remove] = len(st.removals)
			st.removals = append(st.removals, item)
			continue
		}
		if err := st.add(w, &p); err != nil {
			return false, fmt.Errorf("line %d: %w", item.Line, err)
		}
		// About what the entry's records take (record.EncodeEntry's
		// estimate, and the change, member and identity records).
		e := item.Entry
		size += 400 + 80*len(e.Frames) + 48*len(e.Keypoints) + 64*len(e.Regions) + len(e.Thumbnail.Grey)
	}
	return false, nil
}

// add stages one entry, or counts it unchanged.
func (st *staged) add(w *writer, p *prepared) error {
	if p.err != nil {
		return p.err
	}
	e, identity := &p.entry, p.identity
	// The identities bucket holds the bank's identities from before the
	// import; the import's own are in st.idents.
	old, err := w.existing(st.imp.Bank, identity)
	if err != nil {
		return err
	}
	repeat := false
	if old == nil {
		if repeat, err = st.idents.has(identity); err != nil {
			return err
		}
	}
	switch {
	case old == nil && !repeat:
		if _, err := w.putEntry(st.actor, e, identity, p.parts); err != nil {
			return err
		}
		st.res.Imported++
		return nil
	case repeat && !st.imp.AllowRepeats:
		return fmt.Errorf("%w: the list holds this item twice (the same hashes as an earlier line)", store.ErrInvalid)
	}
	st.res.Unchanged++
	if old != nil && (!maps.Equal(old.Labels, e.Labels) || old.Note != e.Note) {
		st.res.Conflicts++
	}
	if i, ok := st.removalAt[identity]; ok {
		// Removed, then added again, by the list: it stays.
		st.removals[i] = store.ImportItem{}
		delete(st.removalAt, identity)
	}
	return nil
}

// publish applies the removals, counts the entries and ends the commit.
func (st *staged) publish(w *writer) error {
	// The staged entries count first: a removal may remove one of them.
	if st.res.Imported > 0 {
		if err := w.bumpCount(st.imp.Bank, st.res.Imported); err != nil {
			return err
		}
	}
	for _, item := range st.removals {
		if item.Line == 0 {
			continue // cancelled
		}
		if err := w.importRemoval(st.actor, st.imp.Bank, st.prov.Partner, item, &st.res); err != nil {
			return err
		}
	}
	if w.pending != nil {
		w.pending.CommitEnd = true
		return w.flushChange()
	}
	if w.rev == st.baseRev {
		return nil
	}
	// The last staged change ends the commit.
	changes := w.tx.Bucket([]byte(bucketChanges))
	key := u64(w.rev)
	p, err := record.Open([]byte(bucketChanges), key, changes.Get(key))
	if err != nil {
		return err
	}
	c, err := record.DecodeChange(p)
	if err != nil {
		return err
	}
	c.CommitEnd = true
	w.putBytes(changes, bucketChanges, key, record.EncodeChange(&c))
	return w.err
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

// stagingMark reads the meta record of an import in progress.
func stagingMark(tx *bolt.Tx) (baseRev, firstID uint64, ok bool, err error) {
	v := tx.Bucket([]byte(bucketMeta)).Get([]byte(keyStaging))
	if v == nil {
		return 0, 0, false, nil
	}
	p, err := record.Open([]byte(bucketMeta), []byte(keyStaging), v)
	if err != nil {
		return 0, 0, false, err
	}
	if len(p) != 16 {
		return 0, 0, false, fmt.Errorf("%w: staging record of %d bytes", store.ErrCorrupt, len(p))
	}
	return binary.BigEndian.Uint64(p), binary.BigEndian.Uint64(p[8:]), true, nil
}

// dropStaged deletes what an unpublished import left, a chunk at a time:
// the changes past the revision and the entries past the sequence it
// began at, with their members and identities.
func (s *DB) dropStaged() error {
	for {
		var done bool
		err := guard("removing a staged import", func() error {
			return s.bolt.Update(func(tx *bolt.Tx) error {
				baseRev, firstID, ok, err := stagingMark(tx)
				if err != nil || !ok {
					done = true
					return err
				}
				w, err := newWriter(tx, s.opts.Now().UTC())
				if err != nil {
					return err
				}
				w.staging = true
				n := 0
				c := tx.Bucket([]byte(bucketChanges)).Cursor()
				for k, _ := c.Seek(u64(baseRev + 1)); k != nil && n < importChunk; k, _ = c.Seek(u64(baseRev + 1)) {
					if err := c.Delete(); err != nil {
						return err
					}
					w.records[bucketChanges]--
					n++
				}
				entries := tx.Bucket([]byte(bucketEntries))
				ec := entries.Cursor()
				for k, v := ec.Seek(u64(firstID + 1)); k != nil && n < importChunk; k, v = ec.Seek(u64(firstID + 1)) {
					e, identity, err := decodeEntry(k, v, store.ViewBasic)
					if err != nil {
						return err
					}
					key := bytes.Clone(k)
					if members := tx.Bucket([]byte(bucketMembers)).Bucket([]byte(e.Bank)); members != nil {
						w.remove(members, bucketMembers, key)
					}
					w.remove(tx.Bucket([]byte(bucketIdentities)), bucketIdentities, identityKey(e.Bank, identity))
					w.remove(entries, bucketEntries, key)
					n++
				}
				if n < importChunk {
					done = true
					if err := tx.Bucket([]byte(bucketMeta)).Delete([]byte(keyStaging)); err != nil {
						return err
					}
				}
				return w.finish()
			})
		})
		if err != nil || done {
			return err
		}
	}
}

// visibleEntry reports whether a read at revision cur shows an entry:
// one a staged import wrote is past it.
func visibleEntry(e *store.Entry, cur uint64) bool { return uint64(e.Revision) <= cur }
