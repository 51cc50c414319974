package index

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the version of the store layout this program writes.
// A file with a higher version is refused rather than misread.
const SchemaVersion = 1

// Bucket names. Keys of entries, bank membership and changes are
// big-endian uint64s, so iteration order is id order and appends are
// sequential writes (bbolt writes those ten times faster than random keys).
var (
	bucketMeta        = []byte("meta")
	bucketBanks       = []byte("banks")
	bucketEntries     = []byte("entries")
	bucketBankEntries = []byte("bank_entries") // one nested bucket per bank: entry id -> empty
	bucketChanges     = []byte("changes")

	keySchema   = []byte("schema")
	keyInstance = []byte("instance")
)

// ChangeOp says what a change did.
type ChangeOp uint8

// The change operations.
const (
	OpAdd    ChangeOp = 1
	OpRemove ChangeOp = 2
)

// String returns "add" or "remove".
func (o ChangeOp) String() string {
	switch o {
	case OpAdd:
		return "add"
	case OpRemove:
		return "remove"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Change is one record of the change log: an entry added to or removed
// from a bank. The log is written in the same transaction as the change,
// so it is complete: partners sync from it and it is the audit trail.
type Change struct {
	Seq     uint64    `json:"seq"`
	Op      ChangeOp  `json:"op"`
	EntryID uint64    `json:"entry"`
	Bank    string    `json:"bank"`
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor,omitempty"`
}

// StoreOptions configures OpenStore.
type StoreOptions struct {
	// LockTimeout bounds the wait for the file lock held by another process
	// using the same file. Default 2 seconds.
	LockTimeout time.Duration
	// Now returns the current time; tests may fix it. Default time.Now.
	Now func() time.Time
}

// defaultLockTimeout is long enough for a restarting server to see the old
// process release the file, short enough to report a second server at once.
const defaultLockTimeout = 2 * time.Second

// Store is the durable record of banks, entries and changes in one bbolt
// file. Every write is one transaction, committed and fsynced before the
// method returns. It is safe for concurrent use.
type Store struct {
	db  *bolt.DB
	now func() time.Time
}

// OpenStore opens or creates the store file at path.
func OpenStore(path string, opts StoreOptions) (*Store, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = defaultLockTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout, FreelistType: bolt.FreelistMapType})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("opening store %s: file is locked by another process", path)
		}
		return nil, fmt.Errorf("opening store %s: %w", path, err)
	}
	s := &Store{db: db, now: opts.Now}
	if err := db.Update(s.init); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening store %s: %w", path, err)
	}
	return s, nil
}

// init creates the buckets of a new file and checks the schema of an old one.
func (s *Store) init(tx *bolt.Tx) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	if v := meta.Get(keySchema); v != nil {
		if len(v) != 4 {
			return fmt.Errorf("%w: schema version record", ErrCorrupt)
		}
		if got := binary.BigEndian.Uint32(v); got > SchemaVersion {
			return fmt.Errorf("%w: file has schema %d, this program writes %d; upgrade mediamatch", ErrSchemaTooNew, got, SchemaVersion)
		}
	} else {
		if err := meta.Put(keySchema, binary.BigEndian.AppendUint32(nil, SchemaVersion)); err != nil {
			return err
		}
		id := make([]byte, 16)
		rand.Read(id)
		if err := meta.Put(keyInstance, id); err != nil {
			return err
		}
	}
	for _, name := range [][]byte{bucketBanks, bucketEntries, bucketBankEntries, bucketChanges} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the file. Writes already returned are on disk.
func (s *Store) Close() error { return s.db.Close() }

// Path returns the file's path.
func (s *Store) Path() string { return s.db.Path() }

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// CreateBank adds a bank. Its Created and Updated times are set here.
func (s *Store) CreateBank(b Bank) (Bank, error) {
	if !ValidBankName(b.Name) {
		return Bank{}, fmt.Errorf("%w: bank name %q: use 1-64 letters, digits, '.', '_' or '-'", ErrInvalid, clip(b.Name))
	}
	now := s.now().UTC()
	b.Created, b.Updated = now, now
	err := s.db.Update(func(tx *bolt.Tx) error {
		banks := tx.Bucket(bucketBanks)
		if banks.Get([]byte(b.Name)) != nil {
			return fmt.Errorf("%w: %q", ErrBankExists, b.Name)
		}
		if _, err := tx.Bucket(bucketBankEntries).CreateBucket([]byte(b.Name)); err != nil {
			return fmt.Errorf("creating bank %q: %w", b.Name, err)
		}
		return putBank(banks, &b)
	})
	if err != nil {
		return Bank{}, err
	}
	return b, nil
}

func putBank(banks *bolt.Bucket, b *Bank) error {
	data, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("encoding bank %q: %w", b.Name, err)
	}
	return banks.Put([]byte(b.Name), data)
}

func getBank(banks *bolt.Bucket, name string) (Bank, error) {
	data := banks.Get([]byte(name))
	if data == nil {
		return Bank{}, fmt.Errorf("%w: %q", ErrBankNotFound, clip(name))
	}
	var b Bank
	if err := json.Unmarshal(data, &b); err != nil {
		return Bank{}, fmt.Errorf("%w: bank %q: %v", ErrCorrupt, name, err)
	}
	return b, nil
}

// Bank returns the named bank.
func (s *Store) Bank(name string) (b Bank, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		b, err = getBank(tx.Bucket(bucketBanks), name)
		return err
	})
	return b, err
}

// Banks returns every bank, in name order.
func (s *Store) Banks() ([]Bank, error) {
	var out []Bank
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBanks).ForEach(func(k, _ []byte) error {
			b, err := getBank(tx.Bucket(bucketBanks), string(k))
			if err != nil {
				return err
			}
			out = append(out, b)
			return nil
		})
	})
	return out, err
}

// UpdateBank applies fn to the named bank and stores the result. fn may
// change anything but the name and the creation time.
func (s *Store) UpdateBank(name string, fn func(*Bank) error) (Bank, error) {
	var out Bank
	err := s.db.Update(func(tx *bolt.Tx) error {
		banks := tx.Bucket(bucketBanks)
		b, err := getBank(banks, name)
		if err != nil {
			return err
		}
		created := b.Created
		if err := fn(&b); err != nil {
			return err
		}
		b.Name, b.Created, b.Updated = name, created, s.now().UTC()
		out = b
		return putBank(banks, &b)
	})
	return out, err
}

// DeleteBank deletes the named bank. A bank that holds entries is deleted
// only with force, and then its entries are removed in the same
// transaction, each logged as a removal. It returns the removed entries.
func (s *Store) DeleteBank(name string, force bool, actor string) ([]*Entry, error) {
	var removed []*Entry
	err := s.db.Update(func(tx *bolt.Tx) error {
		if _, err := getBank(tx.Bucket(bucketBanks), name); err != nil {
			return err
		}
		members := tx.Bucket(bucketBankEntries).Bucket([]byte(name))
		var ids []uint64
		if members != nil {
			if err := members.ForEach(func(k, _ []byte) error {
				ids = append(ids, binary.BigEndian.Uint64(k))
				return nil
			}); err != nil {
				return err
			}
		}
		if len(ids) > 0 && !force {
			return fmt.Errorf("%w: %q holds %d entries; remove them first or delete with force", ErrBankNotEmpty, name, len(ids))
		}
		for _, id := range ids {
			e, err := s.removeEntry(tx, id, actor)
			if err != nil {
				return err
			}
			removed = append(removed, e)
		}
		if members != nil {
			if err := tx.Bucket(bucketBankEntries).DeleteBucket([]byte(name)); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketBanks).Delete([]byte(name))
	})
	if err != nil {
		return nil, err
	}
	return removed, nil
}

// AddEntries stores new entries in one transaction: all are added or none.
// It assigns each its id and creation time, and logs each addition.
func (s *Store) AddEntries(entries []*Entry, actor string) error {
	for _, e := range entries {
		if err := e.validate(); err != nil {
			return err
		}
	}
	now := s.now().UTC()
	return s.db.Update(func(tx *bolt.Tx) error {
		banks := tx.Bucket(bucketBanks)
		entriesB := tx.Bucket(bucketEntries)
		changes := tx.Bucket(bucketChanges)
		var assigned []uint64
		for _, e := range entries {
			if banks.Get([]byte(e.Bank)) == nil {
				return fmt.Errorf("%w: %q", ErrBankNotFound, clip(e.Bank))
			}
			id, err := entriesB.NextSequence()
			if err != nil {
				return err
			}
			e.ID, e.Created, e.Actor = id, now, actor
			assigned = append(assigned, id)
			if err := entriesB.Put(u64(id), encodeEntry(e)); err != nil {
				return err
			}
			if err := tx.Bucket(bucketBankEntries).Bucket([]byte(e.Bank)).Put(u64(id), nil); err != nil {
				return err
			}
			if err := logChange(changes, Change{Op: OpAdd, EntryID: id, Bank: e.Bank, Time: now, Actor: actor}); err != nil {
				return err
			}
		}
		return nil
	})
}

// RemoveEntry deletes an entry and logs the removal. It returns the entry
// as it was.
func (s *Store) RemoveEntry(id uint64, actor string) (*Entry, error) {
	var e *Entry
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		e, err = s.removeEntry(tx, id, actor)
		return err
	})
	return e, err
}

func (s *Store) removeEntry(tx *bolt.Tx, id uint64, actor string) (*Entry, error) {
	entries := tx.Bucket(bucketEntries)
	data := entries.Get(u64(id))
	if data == nil {
		return nil, fmt.Errorf("%w: %d", ErrEntryNotFound, id)
	}
	e, err := decodeEntry(id, data)
	if err != nil {
		return nil, err
	}
	if err := entries.Delete(u64(id)); err != nil {
		return nil, err
	}
	if members := tx.Bucket(bucketBankEntries).Bucket([]byte(e.Bank)); members != nil {
		if err := members.Delete(u64(id)); err != nil {
			return nil, err
		}
	}
	err = logChange(tx.Bucket(bucketChanges), Change{Op: OpRemove, EntryID: id, Bank: e.Bank, Time: s.now().UTC(), Actor: actor})
	return e, err
}

// The change record format, after the sequence number key: version, op,
// entry id, bank, time, actor.
const changeRecordV1 = 1

func logChange(changes *bolt.Bucket, c Change) error {
	seq, err := changes.NextSequence()
	if err != nil {
		return err
	}
	b := []byte{changeRecordV1, byte(c.Op)}
	b = binary.BigEndian.AppendUint64(b, c.EntryID)
	b = appendString(b, c.Bank)
	b = binary.AppendVarint(b, c.Time.UnixNano())
	b = appendString(b, c.Actor)
	return changes.Put(u64(seq), b)
}

func decodeChange(seq uint64, data []byte) (Change, error) {
	r := reader{b: data}
	if v := r.byte(); v != changeRecordV1 {
		return Change{}, fmt.Errorf("%w: change %d has record version %d", ErrCorrupt, seq, v)
	}
	c := Change{Seq: seq, Op: ChangeOp(r.byte()), EntryID: r.uint64(), Bank: r.string()}
	c.Time = time.Unix(0, r.varint()).UTC()
	c.Actor = r.string()
	if r.err != nil {
		return Change{}, fmt.Errorf("%w: change %d: %v", ErrCorrupt, seq, r.err)
	}
	return c, nil
}

// Entry returns the entry with the given id.
func (s *Store) Entry(id uint64) (*Entry, error) {
	var e *Entry
	err := s.db.View(func(tx *bolt.Tx) error {
		data := tx.Bucket(bucketEntries).Get(u64(id))
		if data == nil {
			return fmt.Errorf("%w: %d", ErrEntryNotFound, id)
		}
		var err error
		e, err = decodeEntry(id, data)
		return err
	})
	return e, err
}

// ListEntries returns up to limit entries of a bank with ids above after,
// in id order, and whether more follow.
func (s *Store) ListEntries(bank string, after uint64, limit int) ([]*Entry, bool, error) {
	var out []*Entry
	more := false
	if after == math.MaxUint64 {
		return nil, false, nil
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		if _, err := getBank(tx.Bucket(bucketBanks), bank); err != nil {
			return err
		}
		members := tx.Bucket(bucketBankEntries).Bucket([]byte(bank))
		entries := tx.Bucket(bucketEntries)
		c := members.Cursor()
		for k, _ := c.Seek(u64(after + 1)); k != nil; k, _ = c.Next() {
			if len(out) == limit {
				more = true
				break
			}
			id := binary.BigEndian.Uint64(k)
			e, err := decodeEntry(id, entries.Get(k))
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out, more, err
}

// ForEachEntry calls fn for every entry in id order, in one read
// transaction; it stops at the first error fn returns.
func (s *Store) ForEachEntry(fn func(*Entry) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEntries).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			e, err := decodeEntry(binary.BigEndian.Uint64(k), v)
			if err != nil {
				return err
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	})
}

// Changes returns up to limit changes with sequence numbers above after.
func (s *Store) Changes(after uint64, limit int) ([]Change, error) {
	var out []Change
	if after == math.MaxUint64 {
		return nil, nil
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketChanges).Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			ch, err := decodeChange(binary.BigEndian.Uint64(k), v)
			if err != nil {
				return err
			}
			out = append(out, ch)
		}
		return nil
	})
	return out, err
}

// clip keeps echoed input short in error messages.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
