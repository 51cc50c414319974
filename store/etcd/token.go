package etcd

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"

	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/record"
)

// Tokens and the audit log are keys beside the data, outside the change
// log: every replica reads the same tokens without following the feed.
// A revoked token's name stays taken by a tombstone (revoked/NAME), and a
// certificate subject by its own key (subjects/HEX) while its token lives.

func (w *writer) createToken(actor string, t store.Token) (store.OpResult, error) {
	for _, k := range []string{w.s.tokenKey(t.Name), w.s.revokedKey(t.Name)} {
		v, _, err := w.get(k)
		if err != nil {
			return store.OpResult{}, err
		}
		if v != nil {
			if k == w.s.revokedKey(t.Name) {
				return store.OpResult{}, fmt.Errorf("%w: %q was the name of a revoked token, and names are not reused (the change log records them as actors)", store.ErrTokenExists, t.Name)
			}
			return store.OpResult{}, fmt.Errorf("%w: %q", store.ErrTokenExists, t.Name)
		}
	}
	if t.Subject != "" {
		v, _, err := w.get(w.s.subjectKey(t.Subject))
		if err != nil {
			return store.OpResult{}, err
		}
		if v != nil {
			return store.OpResult{}, fmt.Errorf("%w: certificate subject %q is token %q's", store.ErrTokenExists, store.Clip(t.Subject), v)
		}
	}
	if w.h.tokens >= store.MaxTokens {
		return store.OpResult{}, fmt.Errorf("%w: the store holds %d tokens, the most it may; revoke unused ones first", store.ErrInvalid, w.h.tokens)
	}
	t.Banks = append([]string(nil), t.Banks...)
	t.Created, t.CreatedBy = w.now, actor
	if err := w.putRecord(w.s.tokenKey(t.Name), record.EncodeToken(&t)); err != nil {
		return store.OpResult{}, err
	}
	if t.Subject != "" {
		if err := w.put(w.s.subjectKey(t.Subject), []byte(t.Name)); err != nil {
			return store.OpResult{}, err
		}
	}
	w.h.tokens++
	detail := "role " + string(t.Role)
	if len(t.Banks) > 0 {
		detail += ", banks " + strings.Join(t.Banks, ",")
	}
	if t.Subject != "" {
		detail += ", certificate " + t.Subject
	}
	if err := w.audit(store.AuditRecord{Action: store.AuditTokenCreated, Actor: actor, Token: t.Name, Detail: detail}); err != nil {
		return store.OpResult{}, err
	}
	out := t
	out.Banks = append([]string(nil), t.Banks...)
	return store.OpResult{Token: &out, Changed: true}, nil
}

func (w *writer) revokeToken(actor, name string) (store.OpResult, error) {
	_, kv, err := w.get(w.s.tokenKey(name))
	if err != nil {
		return store.OpResult{}, err
	}
	if kv == nil {
		return store.OpResult{}, fmt.Errorf("%w: %q", store.ErrTokenNotFound, name)
	}
	t, err := w.s.decodeToken(kv)
	if err != nil {
		return store.OpResult{}, err
	}
	if err := w.del(w.s.tokenKey(name)); err != nil {
		return store.OpResult{}, err
	}
	if t.Subject != "" {
		if err := w.del(w.s.subjectKey(t.Subject)); err != nil {
			return store.OpResult{}, err
		}
	}
	if err := w.putRecord(w.s.revokedKey(name), record.EncodeUint(uint64(w.now.Unix()))); err != nil {
		return store.OpResult{}, err
	}
	w.h.tokens--
	if err := w.audit(store.AuditRecord{Action: store.AuditTokenRevoked, Actor: actor, Token: name, Detail: "role " + string(t.Role)}); err != nil {
		return store.OpResult{}, err
	}
	return store.OpResult{Token: &t, Changed: true}, nil
}

func (w *writer) audit(a store.AuditRecord) error {
	w.h.auditSeq++
	a.Seq, a.Time = w.h.auditSeq, w.now
	return w.putRecord(w.s.auditKey(a.Seq), record.EncodeAudit(&a))
}

// maxImportRemovals bounds the removals one import holds in memory until
// its end (as store/bolt's).
const maxImportRemovals = store.MaxOps

// importList runs ImportEntries (see store.ImportEntries). The commit
// holds the intent from its start, so it writes the list as it reads it,
// a transaction at a time, holding one transaction's writes in memory;
// the removals are applied at the end, in list order, and the last
// change is marked as the commit's end.
func (w *writer) importList(actor string, imp *store.Import) (store.ImportResult, error) {
	var res store.ImportResult
	if _, err := w.bank(imp.Bank); err != nil {
		return res, err
	}
	prov := imp.Provenance
	prov.Imported = w.now
	firstID := w.h.lastID
	var removals []store.ImportItem
	removalAt := map[[32]byte]int{}
	added := 0
	for {
		if err := w.ctx.Err(); err != nil {
			return res, err
		}
		item, err := imp.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return res, err
		}
		if item.Entry == nil {
			if len(removals) == maxImportRemovals {
				return res, fmt.Errorf("line %d: %w: the list removes more than %d entries; split it", item.Line, store.ErrInvalid, maxImportRemovals)
			}
			removalAt[item.Remove] = len(removals)
			removals = append(removals, item)
			continue
		}
		in := item.Entry
		e := store.Entry{Bank: imp.Bank, Kind: in.Kind, Format: in.Format, Width: in.Width, Height: in.Height,
			Duration: in.Duration, Hashes: in.Hashes, Regions: in.Regions, Keypoints: in.Keypoints, Frames: in.Frames,
			Labels: in.Labels, Note: in.Note, Source: in.Source, Provenance: prov}
		e.Provenance.SourceID = in.Provenance.SourceID
		if err := store.ValidateEntry(&e); err != nil {
			return res, fmt.Errorf("line %d: %w", item.Line, err)
		}
		identity := store.Identity(&e)
		r, err := w.insertEntry(actor, &e, identity)
		switch {
		case err != nil:
			return res, fmt.Errorf("line %d: %w", item.Line, err)
		case !r.Existed:
			res.Imported++
			added++
			continue
		case r.Entry.ID > firstID && !imp.AllowRepeats:
			return res, fmt.Errorf("line %d: %w: the list holds this item twice (the same hashes as an earlier line)", item.Line, store.ErrInvalid)
		}
		res.Unchanged++
		if r.Entry.ID <= firstID && (!maps.Equal(r.Entry.Labels, e.Labels) || r.Entry.Note != e.Note) {
			res.Conflicts++
		}
		if i, ok := removalAt[identity]; ok {
			removals[i] = store.ImportItem{}
			delete(removalAt, identity)
		}
	}
	if added > 0 {
		if err := w.bumpCount(imp.Bank, int64(added)); err != nil {
			return res, err
		}
	}
	for _, item := range removals {
		if item.Line == 0 {
			continue // added again later in the list
		}
		id, err := w.existing(imp.Bank, item.Remove)
		if err != nil {
			return res, fmt.Errorf("line %d: %w", item.Line, err)
		}
		if id == 0 {
			res.Unchanged++
			continue
		}
		e, _, _, err := w.mustEntry(id, store.ViewBasic)
		if err != nil {
			return res, fmt.Errorf("line %d: %w", item.Line, err)
		}
		if e.Provenance.IsZero() || e.Provenance.Partner != prov.Partner {
			res.Unchanged++
			res.Conflicts++
			continue
		}
		if _, err := w.removeEntry(actor, id); err != nil {
			return res, fmt.Errorf("line %d: %w", item.Line, err)
		}
		res.Removed++
	}
	return res, nil
}
