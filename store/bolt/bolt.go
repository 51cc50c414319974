// Package bolt is the store backend on one bbolt file: mediamatch's
// embedded default.
//
// # Layout
//
// The file holds these buckets (docs/format.md has the full layout):
//
//	meta        schema version, instance id, current and compacted revision,
//	            the number of records in each other bucket
//	banks       bank name -> bank record
//	counts      bank name -> number of entries in the bank
//	entries     entry id (8 bytes, big-endian) -> entry record
//	members     one nested bucket per bank: entry id -> empty record
//	identities  bank name, 0, identity (32 bytes) -> entry id
//	changes     revision (8 bytes, big-endian) -> change record
//	tokens      token name -> token record (never the secret: its SHA-256)
//	audit       sequence number (8 bytes, big-endian) -> audit record
//
// Every value is a record sealed with a checksum over its bucket, key and
// payload (package store/record). Integer keys are big-endian so iteration
// is in numeric order and appends are sequential writes.
//
// # Safety
//
// Open checks the whole file's structure before bbolt maps it (a damaged
// file otherwise crashes bbolt, or makes it loop), refuses an empty file, a
// file of another program and a schema it does not know, and creates a new
// store atomically (written aside, then linked into place). Every read
// checks the records it returns. Writes from concurrent callers are grouped
// into one transaction and one fsync, and each caller returns only after
// its commit is on disk.
package bolt

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/record"
)

// SchemaVersion is the newest version of the layout, the one this package
// writes once a file has held a token. A version moves only when older
// programs must refuse the file: a new record field does not move it (old
// readers skip what they do not know); a new meaning of an old one would.
// Version 1 was the layout before the record format was fixed (records
// without checksums, no change log of bank changes). Version 3 is version
// 2 that holds, or has held, tokens: programs from before authentication
// read version 2 and would serve such a file to anyone, so they must
// refuse it.
const SchemaVersion = 3

// schemaNoTokens is the version of a file that never held a token: such a
// file stays readable by programs from before authentication (version 2),
// so that moving back to one of them stays possible until tokens are used.
const schemaNoTokens = 2

// Bucket names, and the keys of the meta bucket.
const (
	bucketMeta       = "meta"
	bucketBanks      = "banks"
	bucketCounts     = "counts"
	bucketEntries    = "entries"
	bucketMembers    = "members"
	bucketIdentities = "identities"
	bucketChanges    = "changes"
	bucketTokens     = "tokens"
	bucketAudit      = "audit"

	keySchema    = "schema"
	keyInstance  = "instance"
	keyRevision  = "revision"
	keyCompacted = "compacted"
	// keyRecords + bucket name: the number of records in the bucket.
	keyRecords = "records."
)

// dataBuckets are the buckets whose records the meta bucket counts.
var dataBuckets = []string{bucketBanks, bucketCounts, bucketEntries, bucketMembers, bucketIdentities, bucketChanges, bucketTokens, bucketAudit}

// lateBuckets are the data buckets added after schema 2 was fixed: a file
// without them is of the same schema, and gets them at Open.
func lateBuckets() []string { return []string{bucketTokens, bucketAudit} }

// Options configures Open. The zero value is ready to use.
type Options struct {
	// LockTimeout bounds the wait for the file lock another process holds
	// (a restarting server releasing it). Default 2 seconds.
	LockTimeout time.Duration
	// ReadOnly opens an existing file without changing it: a missing file
	// is not created, nothing is upgraded, and every commit and compaction
	// fails with store.ErrReadOnly. Other read-only opens may share the
	// file meanwhile; a writer may not. Default false.
	ReadOnly bool
	// LogRetention, when positive, keeps that many of the newest change
	// records and compacts older ones as commits add more. Zero keeps the
	// whole log: it is the audit trail. Default 0.
	LogRetention uint64
	// AuditRetention is the number of the newest audit records kept
	// (token creations and revocations, refused calls); older ones are
	// deleted as new ones come. Default 100,000.
	AuditRetention uint64
	// Now returns the time recorded with changes. Default time.Now.
	Now func() time.Time
}

const defaultLockTimeout = 2 * time.Second

// DB is a store on one bbolt file. It implements store.Store.
type DB struct {
	path string
	bolt *bolt.DB
	opts Options

	requests chan *request
	closing  chan struct{}
	stopped  chan struct{} // closed when the committer has returned
	close    sync.Once

	// current and compacted mirror the meta bucket, updated after each
	// durable commit.
	current, compacted atomic.Uint64
	// compacting is set, in the committer, while automatic compaction has
	// chunks left to do.
	compacting bool

	notifyMu sync.Mutex
	notifyCh chan struct{} // closed and replaced after every commit

	// importRun, when set (by tests), is the size of an import's runs of
	// identities instead of identSetRun.
	importRun int
}

var (
	_ store.Store   = (*DB)(nil)
	_ store.Checker = (*DB)(nil)
)

// Open opens the store file at path, creating a new store if there is no
// file. It refuses, with an error that says what to do, an empty file, a
// file that is not a mediamatch store, a damaged one (store.ErrCorrupt), one
// from an older or newer layout (store.ErrSchemaTooOld, ErrSchemaTooNew)
// and one another process holds (store.ErrLocked).
func Open(path string, opts Options) (*DB, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = defaultLockTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.AuditRetention == 0 {
		opts.AuditRetention = defaultAuditRetention
	}
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && opts.ReadOnly:
		return nil, fmt.Errorf("opening store %s: %w", path, err)
	case errors.Is(err, fs.ErrNotExist):
		if err := create(path); err != nil {
			return nil, fmt.Errorf("creating store %s: %w", path, err)
		}
	case err != nil:
		return nil, fmt.Errorf("opening store %s: %w", path, err)
	case !info.Mode().IsRegular():
		return nil, fmt.Errorf("opening store %s: %w: it is not a regular file", path, store.ErrNotStore)
	case info.Size() == 0:
		return nil, fmt.Errorf("opening store %s: %w: the file is empty (0 bytes), so it holds no store; it may have been truncated. Restore it from a backup, or delete it to start a new, empty store", path, store.ErrNotStore)
	}
	var summary *fileSummary
	lock := lockExclusive
	if opts.ReadOnly {
		lock = lockShared
	}
	err = withFile(path, lock, opts.LockTimeout, func(data []byte) error {
		return guard("verifying the file", func() error {
			var err error
			summary, err = verify(data)
			return err
		})
	})
	if err != nil {
		return nil, openError(path, err)
	}
	s := &DB{
		path:     path,
		opts:     opts,
		requests: make(chan *request, maxGroupRequests),
		closing:  make(chan struct{}),
		stopped:  make(chan struct{}),
		notifyCh: make(chan struct{}),
	}
	// Schema and counts are checked from the verified file, before bbolt
	// opens it for writing.
	if err := s.load(summary); err != nil {
		return nil, openError(path, err)
	}
	err = guard("opening the file", func() error {
		var err error
		s.bolt, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout, FreelistType: bolt.FreelistMapType, ReadOnly: opts.ReadOnly})
		return err
	})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			err = store.ErrLocked
		}
		return nil, openError(path, err)
	}
	if err := s.view(context.Background(), "checking the file", checkBounds); err != nil {
		s.bolt.Close()
		return nil, openError(path, err)
	}
	if opts.ReadOnly {
		go s.commitLoop()
		return s, nil
	}
	// What an import left unpublished (a crash) goes before anything else.
	if err := s.dropStaged(); err != nil {
		s.bolt.Close()
		return nil, openError(path, err)
	}
	if err := removeIdentFiles(path); err != nil {
		s.bolt.Close()
		return nil, openError(path, fmt.Errorf("removing an import's temporary files: %w", err))
	}
	if err := s.upgrade(); err != nil {
		s.bolt.Close()
		return nil, openError(path, err)
	}
	go s.commitLoop()
	return s, nil
}

// fileLock is the advisory lock withFile takes.
type fileLock int

const (
	lockNone      fileLock = iota // the caller holds bbolt's lock already
	lockShared                    // a reader's: other readers may share it
	lockExclusive                 // a writer's
)

// openError says what an open failure means for the operator.
func openError(path string, err error) error {
	switch {
	case errors.Is(err, store.ErrLocked):
		return fmt.Errorf("opening store %s: %w (is another mediamatch server running on it?)", path, err)
	case errors.Is(err, errNotBolt):
		return fmt.Errorf("opening store %s: %w: %v; check the path", path, store.ErrNotStore, err)
	case errors.Is(err, store.ErrCorrupt):
		return fmt.Errorf("opening store %s: %w; restore the file from a backup (the damaged file is left as it is)", path, err)
	}
	return fmt.Errorf("opening store %s: %w", path, err)
}

// create writes a new, empty store at path: in a file beside it first,
// then linked into place, so that a crash never leaves a half-made store
// at path and an existing file is never replaced.
func create(path string) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".new-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	tmp.Close()
	defer os.Remove(name)
	if err := os.Remove(name); err != nil { // bbolt must create it
		return err
	}
	bdb, err := bolt.Open(name, 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType})
	if err != nil {
		return err
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		m, err := tx.CreateBucket([]byte(bucketMeta))
		if err != nil {
			return err
		}
		for _, b := range dataBuckets {
			if _, err := tx.CreateBucket([]byte(b)); err != nil {
				return err
			}
		}
		id := make([]byte, 16)
		rand.Read(id)
		w := &writer{tx: tx}
		w.put(m, bucketMeta, keySchema, record.EncodeUint(schemaNoTokens))
		w.put(m, bucketMeta, keyInstance, id)
		w.put(m, bucketMeta, keyRevision, record.EncodeUint(0))
		w.put(m, bucketMeta, keyCompacted, record.EncodeUint(0))
		for _, b := range dataBuckets {
			w.put(m, bucketMeta, keyRecords+b, record.EncodeUint(0))
		}
		return w.err
	})
	if cerr := bdb.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Link(name, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// load checks the schema and the record counts of a freshly opened file
// and reads its revisions.
func (s *DB) load(summary *fileSummary) error {
	raw, ok := summary.meta[keySchema]
	if !ok {
		return fmt.Errorf("%w: a bbolt database without mediamatch's records (another program's file?)", store.ErrNotStore)
	}
	if len(raw) == 4 {
		// Version 1 stored a bare big-endian number.
		return fmt.Errorf("%w: the file has schema %d, from a development build of mediamatch before the store format was fixed, which this version cannot read. Move the file aside and add the banks' media again (no release ever wrote that schema)", store.ErrSchemaTooOld, binary.BigEndian.Uint32(raw))
	}
	version, err := metaUint(summary.meta, keySchema)
	if err != nil {
		return err
	}
	if version > SchemaVersion {
		return fmt.Errorf("%w: the file has schema %d, this mediamatch reads schema %d; run a newer mediamatch (the file is left unchanged)", store.ErrSchemaTooNew, version, SchemaVersion)
	}
	if version < schemaNoTokens {
		return fmt.Errorf("%w: the file has schema %d, this mediamatch reads schemas %d to %d", store.ErrSchemaTooOld, version, schemaNoTokens, SchemaVersion)
	}
	if err := summary.checkCounts(); err != nil {
		return err
	}
	cur, err := metaUint(summary.meta, keyRevision)
	if err != nil {
		return err
	}
	comp, err := metaUint(summary.meta, keyCompacted)
	if err != nil {
		return err
	}
	if comp > cur {
		return fmt.Errorf("%w: compacted revision %d is beyond the current one, %d", store.ErrCorrupt, comp, cur)
	}
	s.current.Store(cur)
	s.compacted.Store(comp)
	return nil
}

// checkBounds checks that the ids and revisions the next commit hands out
// are free: the entry sequence at or past the last entry, the revision at
// the change log's end. A damaged counter would otherwise make a write
// overwrite what it should add to.
func checkBounds(tx *bolt.Tx) error {
	cur, comp, err := txRevisions(tx)
	if err != nil {
		return err
	}
	if _, _, _, err := stagingMark(tx); err != nil {
		return err
	}
	entries := tx.Bucket([]byte(bucketEntries))
	if k, _ := entries.Cursor().Last(); k != nil {
		if len(k) != 8 {
			return fmt.Errorf("%w: entry key %x", store.ErrCorrupt, k)
		}
		if last := binary.BigEndian.Uint64(k); entries.Sequence() < last {
			return fmt.Errorf("%w: the next entry id would be %d, but entry %d exists", store.ErrCorrupt, entries.Sequence()+1, last)
		}
	}
	if audit := tx.Bucket([]byte(bucketAudit)); audit != nil {
		if k, _ := audit.Cursor().Last(); k != nil && (len(k) != 8 || audit.Sequence() < binary.BigEndian.Uint64(k)) {
			return fmt.Errorf("%w: the next audit record number would be %d, but record %x exists", store.ErrCorrupt, audit.Sequence()+1, k)
		}
	}
	c := tx.Bucket([]byte(bucketChanges)).Cursor()
	first, _ := c.First()
	last, _ := c.Last()
	switch {
	case first == nil && cur != comp:
		return fmt.Errorf("%w: the change log is empty but revisions %d..%d are not compacted", store.ErrCorrupt, comp+1, cur)
	case first != nil && (len(first) != 8 || len(last) != 8):
		return fmt.Errorf("%w: change key %x", store.ErrCorrupt, first)
	case first != nil && (binary.BigEndian.Uint64(first) != comp+1 || binary.BigEndian.Uint64(last) != cur) && !staging(tx):
		return fmt.Errorf("%w: the change log holds %d..%d, the store says %d..%d", store.ErrCorrupt, binary.BigEndian.Uint64(first), binary.BigEndian.Uint64(last), comp+1, cur)
	}
	return nil
}

// staging reports whether an unpublished import's records are in the file
// (its changes lie past the current revision until dropStaged runs).
func staging(tx *bolt.Tx) bool {
	_, _, ok, _ := stagingMark(tx)
	return ok
}

// checkCounts compares the records the verifier found in each data bucket
// with the bucket's count in the meta bucket.
func (summary *fileSummary) checkCounts() error {
	for _, b := range dataBuckets {
		if _, counted := summary.meta[keyRecords+b]; !counted && summary.records[b] == 0 && slices.Contains(lateBuckets(), b) {
			continue // made before the bucket existed; Open adds it
		}
		want, err := metaUint(summary.meta, keyRecords+b)
		if err != nil {
			return err
		}
		if got := summary.records[b]; got != want {
			return fmt.Errorf("%w: bucket %s holds %d records, its count says %d: records are missing or extra", store.ErrCorrupt, b, got, want)
		}
	}
	return nil
}

// metaUint decodes a number record of the meta bucket, as the verifier
// found it.
func metaUint(m map[string][]byte, key string) (uint64, error) {
	return metaNumber(key, m[key])
}

// metaNumber decodes the number record v stored under key in the meta
// bucket; a nil v is a missing record.
func metaNumber(key string, v []byte) (uint64, error) {
	if v == nil {
		return 0, fmt.Errorf("%w: meta record %q is missing", store.ErrCorrupt, key)
	}
	p, err := record.Open([]byte(bucketMeta), []byte(key), v)
	if err != nil {
		return 0, err
	}
	return record.DecodeUint(p)
}

// Path returns the file's path.
func (s *DB) Path() string { return s.path }

// Close stops taking commits, waits for the one in progress, and closes
// the file. Commits already returned are on disk.
func (s *DB) Close() error {
	var err error
	s.close.Do(func() {
		close(s.closing)
		<-s.stopped
		s.notify()
		err = s.bolt.Close()
	})
	return err
}

func (s *DB) isClosed() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// notify wakes every watcher after a commit.
func (s *DB) notify() {
	s.notifyMu.Lock()
	close(s.notifyCh)
	s.notifyCh = make(chan struct{})
	s.notifyMu.Unlock()
}

// changed returns a channel closed at the next commit.
func (s *DB) changed() <-chan struct{} {
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	return s.notifyCh
}

// guard runs fn, turning a panic or a memory fault inside it (bbolt's
// answer to a page it cannot make sense of) into an ErrCorrupt error, so
// that damage fails the call and never the process.
func guard(what string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %v", store.ErrCorrupt, what, r)
		}
	}()
	return fn()
}

// view runs fn in a read transaction, guarded.
func (s *DB) view(ctx context.Context, what string, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.isClosed() {
		return store.ErrClosed
	}
	return guard(what, func() error {
		err := s.bolt.View(fn)
		if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
			return store.ErrClosed
		}
		return err
	})
}

// Check verifies the whole file: its structure (as at Open), bbolt's own
// consistency check, the record counts, and every record's checksum and
// encoding. Commits wait while it runs.
func (s *DB) Check(ctx context.Context) error {
	return s.exclusive(ctx, func() error {
		// This process holds the file's lock (bbolt's), and no commit
		// runs meanwhile, so the file is read as it is, unlocked.
		var summary *fileSummary
		err := withFile(s.path, lockNone, 0, func(data []byte) error {
			return guard("verifying the file", func() error {
				var err error
				summary, err = verify(data)
				return err
			})
		})
		if err != nil {
			return err
		}
		if err := summary.checkCounts(); err != nil {
			return err
		}
		return s.view(ctx, "checking records", func(tx *bolt.Tx) error {
			for err := range tx.Check() {
				return fmt.Errorf("%w: %v", store.ErrCorrupt, err)
			}
			if err := checkRecords(tx); err != nil {
				return err
			}
			return checkTokens(tx)
		})
	})
}
