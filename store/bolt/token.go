package bolt

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/record"
)

// Tokens and the audit log: two buckets outside the change log (see
// package store). Files made before they existed get them, empty, at Open.

// defaultAuditRetention is the denial records kept when Options do not
// say: months of denial summaries at a steady trickle, a few tens of MB at
// most, and an attacker's flood of refused calls cannot grow the file
// without bound. Token creations and revocations are never trimmed: they
// come only from admins, and they are what says who held which token.
const defaultAuditRetention = 100_000

// createToken creates a token and records it in the audit log.
func (w *writer) createToken(actor string, t store.Token) (store.OpResult, error) {
	tokens := w.tx.Bucket([]byte(bucketTokens))
	if tokens.Get([]byte(t.Name)) != nil {
		return store.OpResult{}, fmt.Errorf("%w: %q", store.ErrTokenExists, t.Name)
	}
	if err := w.revokedName(t.Name); err != nil {
		return store.OpResult{}, err
	}
	if t.Subject != "" {
		// One certificate, one identity: a subject two tokens held would
		// take whichever role the lookup met first.
		c := tokens.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			other, err := decodeToken(k, v)
			if err != nil {
				return store.OpResult{}, err
			}
			if other.Subject == t.Subject {
				return store.OpResult{}, fmt.Errorf("%w: certificate subject %q is token %q's", store.ErrTokenExists, store.Clip(t.Subject), other.Name)
			}
		}
	}
	n, err := w.count(bucketTokens)
	if err != nil {
		return store.OpResult{}, err
	}
	if n >= store.MaxTokens {
		return store.OpResult{}, fmt.Errorf("%w: the store holds %d tokens, the most it may; revoke unused ones first", store.ErrInvalid, n)
	}
	if v, err := txSchema(w.tx); err != nil {
		return store.OpResult{}, err
	} else if v < SchemaVersion {
		// From the first token on, programs from before authentication
		// must refuse the file rather than serve it to anyone.
		w.put(w.tx.Bucket([]byte(bucketMeta)), bucketMeta, keySchema, record.EncodeUint(SchemaVersion))
	}
	t.Banks = append([]string(nil), t.Banks...)
	t.Created, t.CreatedBy = w.now, actor
	w.insert(tokens, bucketTokens, bucketTokens, []byte(t.Name), record.EncodeToken(&t))
	detail := "role " + string(t.Role)
	if len(t.Banks) > 0 {
		detail += ", banks " + strings.Join(t.Banks, ",")
	}
	if t.Subject != "" {
		detail += ", certificate " + t.Subject
	}
	w.audit(store.AuditRecord{Action: store.AuditTokenCreated, Actor: actor, Token: t.Name, Detail: detail})
	return store.OpResult{Token: &t, Changed: true}, w.err
}

// revokedName fails with ErrTokenExists when name was a token's that has
// been revoked. The audit log never drops token records, so it is the
// tombstone: a scan, which token creations (rare, an admin's) can afford.
func (w *writer) revokedName(name string) error {
	c := w.tx.Bucket([]byte(bucketAudit)).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		a, err := decodeAudit(k, v)
		if err != nil {
			return err
		}
		if a.Action == store.AuditTokenRevoked && a.Token == name {
			return fmt.Errorf("%w: %q was the name of a token revoked at %s, and names are not reused (the change log records them as actors)",
				store.ErrTokenExists, name, a.Time.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// revokeToken deletes a token and records it in the audit log.
func (w *writer) revokeToken(actor, name string) (store.OpResult, error) {
	t, err := readToken(w.tx, name)
	if err != nil {
		return store.OpResult{}, err
	}
	w.remove(w.tx.Bucket([]byte(bucketTokens)), bucketTokens, []byte(name))
	w.audit(store.AuditRecord{Action: store.AuditTokenRevoked, Actor: actor, Token: name, Detail: "role " + string(t.Role)})
	return store.OpResult{Token: &t, Changed: true}, w.err
}

// audit appends a record to the audit log.
func (w *writer) audit(a store.AuditRecord) {
	if w.err != nil {
		return
	}
	b := w.tx.Bucket([]byte(bucketAudit))
	seq, err := b.NextSequence()
	if err != nil {
		w.err = err
		return
	}
	a.Seq, a.Time = seq, w.now
	w.insert(b, bucketAudit, bucketAudit, u64(seq), record.EncodeAudit(&a))
}

// count is a bucket's record count as the transaction leaves it so far.
func (w *writer) count(bucket string) (uint64, error) {
	m := w.tx.Bucket([]byte(bucketMeta))
	n, err := metaNumber(keyRecords+bucket, m.Get([]byte(keyRecords+bucket)))
	if err != nil {
		return 0, err
	}
	return uint64(int64(n) + w.records[bucket]), nil
}

// trimAudit deletes the oldest denial records while the audit log holds
// more than keep records. Token creations and revocations are skipped,
// never deleted, so a flood of refused calls cannot push them out; they
// count towards keep, so the denials kept are keep less the token records.
func (w *writer) trimAudit(keep uint64) error {
	if w.records[bucketAudit] <= 0 {
		return w.err
	}
	n, err := w.count(bucketAudit)
	if err != nil {
		return err
	}
	c := w.tx.Bucket([]byte(bucketAudit)).Cursor()
	for k, v := c.First(); k != nil && n > keep && w.err == nil; {
		a, err := decodeAudit(k, v)
		if err != nil {
			return err
		}
		if a.Action != store.AuditDenied {
			k, v = c.Next()
			continue
		}
		// Next after Delete can skip a record; seek past the deleted key.
		next := u64(binary.BigEndian.Uint64(k) + 1)
		if w.err = c.Delete(); w.err != nil {
			break
		}
		w.records[bucketAudit]--
		n--
		k, v = c.Seek(next)
	}
	return w.err
}

// lateBucket returns one of lateBuckets, or nil in a file opened
// read-only that was made before it existed (which reads as empty).
func lateBucket(tx *bolt.Tx, name string) *bolt.Bucket { return tx.Bucket([]byte(name)) }

func readToken(tx *bolt.Tx, name string) (store.Token, error) {
	var v []byte
	if b := lateBucket(tx, bucketTokens); b != nil {
		v = b.Get([]byte(name))
	}
	if v == nil {
		return store.Token{}, fmt.Errorf("%w: %q", store.ErrTokenNotFound, store.Clip(name))
	}
	return decodeToken([]byte(name), v)
}

func decodeToken(key, v []byte) (store.Token, error) {
	p, err := record.Open([]byte(bucketTokens), key, v)
	if err != nil {
		return store.Token{}, err
	}
	t, err := record.DecodeToken(p)
	if err != nil {
		return store.Token{}, err
	}
	if t.Name != string(key) {
		return store.Token{}, fmt.Errorf("%w: token record %q names token %q", store.ErrCorrupt, key, store.Clip(t.Name))
	}
	return t, nil
}

// Token implements store.Store.
func (s *DB) Token(ctx context.Context, name string) (t store.Token, err error) {
	err = s.view(ctx, "reading a token", func(tx *bolt.Tx) error {
		t, err = readToken(tx, name)
		return err
	})
	return t, err
}

// ListTokens implements store.Store.
func (s *DB) ListTokens(ctx context.Context) ([]store.Token, error) {
	var out []store.Token
	err := s.view(ctx, "listing tokens", func(tx *bolt.Tx) error {
		b := lateBucket(tx, bucketTokens)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			t, err := decodeToken(k, v)
			if err != nil {
				return err
			}
			out = append(out, t)
			return nil
		})
	})
	return out, err
}

// ListAudit implements store.Store.
func (s *DB) ListAudit(ctx context.Context, after uint64, limit int) ([]store.AuditRecord, error) {
	var out []store.AuditRecord
	err := s.view(ctx, "reading the audit log", func(tx *bolt.Tx) error {
		b := lateBucket(tx, bucketAudit)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			a, err := decodeAudit(k, v)
			if err != nil {
				return err
			}
			out = append(out, a)
		}
		return nil
	})
	return out, err
}

func decodeAudit(k, v []byte) (store.AuditRecord, error) {
	if len(k) != 8 {
		return store.AuditRecord{}, fmt.Errorf("%w: audit key %x", store.ErrCorrupt, k)
	}
	p, err := record.Open([]byte(bucketAudit), k, v)
	if err != nil {
		return store.AuditRecord{}, err
	}
	a, err := record.DecodeAudit(p)
	if err != nil {
		return store.AuditRecord{}, err
	}
	if a.Seq != binary.BigEndian.Uint64(k) {
		return store.AuditRecord{}, fmt.Errorf("%w: audit record %d holds number %d", store.ErrCorrupt, binary.BigEndian.Uint64(k), a.Seq)
	}
	return a, nil
}

// checkTokens decodes every token and audit record (Check).
func checkTokens(tx *bolt.Tx) error {
	tokens, b := lateBucket(tx, bucketTokens), lateBucket(tx, bucketAudit)
	if tokens == nil || b == nil {
		if tokens != nil || b != nil {
			return fmt.Errorf("%w: one of the token and audit buckets without the other", store.ErrCorrupt)
		}
		return nil // made before both; read-only, so not given them
	}
	err := tokens.ForEach(func(k, v []byte) error {
		t, err := decodeToken(k, v)
		if err != nil {
			return err
		}
		if err := store.ValidateToken(&t); err != nil {
			return fmt.Errorf("%w: token %q breaks the data model: %v", store.ErrCorrupt, k, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return b.ForEach(func(k, v []byte) error {
		a, err := decodeAudit(k, v)
		if err == nil && a.Seq > b.Sequence() {
			err = fmt.Errorf("%w: audit record %d is beyond the log's sequence %d", store.ErrCorrupt, a.Seq, b.Sequence())
		}
		return err
	})
}

// upgrade brings a file opened for writing up to what this package
// writes, without changing what it holds: the buckets added after schema 2
// was fixed (empty), and schema 3 for a file that holds tokens but is
// marked 2 (made before the schema moved for them).
func (s *DB) upgrade() error {
	var missing []string
	raise := false
	err := s.view(context.Background(), "checking the buckets", func(tx *bolt.Tx) error {
		for _, b := range lateBuckets() {
			if tx.Bucket([]byte(b)) == nil {
				missing = append(missing, b)
			}
		}
		if t := tx.Bucket([]byte(bucketTokens)); t != nil {
			if k, _ := t.Cursor().First(); k != nil {
				v, err := txSchema(tx)
				raise = err == nil && v < SchemaVersion
				return err
			}
		}
		return nil
	})
	if err != nil || (len(missing) == 0 && !raise) {
		return err
	}
	return guard("upgrading the file", func() error {
		return s.bolt.Update(func(tx *bolt.Tx) error {
			w := &writer{tx: tx}
			m := tx.Bucket([]byte(bucketMeta))
			for _, b := range missing {
				if _, err := tx.CreateBucket([]byte(b)); err != nil {
					return err
				}
				w.put(m, bucketMeta, keyRecords+b, record.EncodeUint(0))
			}
			if raise {
				w.put(m, bucketMeta, keySchema, record.EncodeUint(SchemaVersion))
			}
			return w.err
		})
	})
}

// txSchema reads the file's schema version.
func txSchema(tx *bolt.Tx) (uint64, error) {
	return metaNumber(keySchema, tx.Bucket([]byte(bucketMeta)).Get([]byte(keySchema)))
}
