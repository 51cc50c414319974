package store

import "errors"

// Errors from opening a store. Each message says what happened; the caller
// adds the file or address and what to do.
var (
	// ErrSchemaTooNew reports a store written by a newer mediamatch whose
	// layout this one must not read or modify.
	ErrSchemaTooNew = errors.New("store schema is newer than this program understands")
	// ErrSchemaTooOld reports a store in a layout this program no longer
	// reads (written before the record format was fixed).
	ErrSchemaTooOld = errors.New("store schema is older than this program reads")
	// ErrNotStore reports a file or database that is not a mediamatch
	// store at all (an empty file, another program's database).
	ErrNotStore = errors.New("not a mediamatch store")
	// ErrLocked reports a store another process holds open.
	ErrLocked = errors.New("store is in use by another process")
)

// Errors from reading a store, at open or later.
var (
	// ErrCorrupt reports damage: a record whose checksum or encoding is
	// wrong, or a file whose structure is broken. Data read without this
	// error is what was written.
	ErrCorrupt = errors.New("store is damaged")
	// ErrClosed reports a call on a closed store.
	ErrClosed = errors.New("store is closed")
	// ErrReadOnly reports a write to a store opened only for reading.
	ErrReadOnly = errors.New("store is open read-only")
)

// Errors from the change log.
var (
	// ErrCompacted reports a revision older than the retained log: the
	// changes after it are gone. The reader reads a fresh Snapshot and
	// follows the log from the snapshot's revision.
	ErrCompacted = errors.New("revision has been compacted")
	// ErrFutureRevision reports a revision beyond the store's current one.
	ErrFutureRevision = errors.New("revision is in the future")
)

// Errors about banks.
var (
	// ErrBankNotFound reports a bank name that does not exist.
	ErrBankNotFound = errors.New("bank not found")
	// ErrBankExists reports creating a bank whose name is taken.
	ErrBankExists = errors.New("bank already exists")
	// ErrBankNotEmpty reports deleting a bank that still holds entries
	// without asking for them to be removed too.
	ErrBankNotEmpty = errors.New("bank is not empty")
)

// Errors about entries.
var (
	// ErrEntryNotFound reports an entry id that does not exist.
	ErrEntryNotFound = errors.New("entry not found")
)

// Errors about syncing.
var (
	// ErrSyncConflict reports a SyncEntries batch whose starting revision
	// is not the bank's cursor for its source: another syncer moved it,
	// or the batch was applied already. The syncer reads the cursor again
	// and resumes from it.
	ErrSyncConflict = errors.New("sync cursor has moved")
)

// Errors about tokens.
var (
	// ErrTokenNotFound reports a token name that does not exist.
	ErrTokenNotFound = errors.New("token not found")
	// ErrTokenExists reports creating a token whose name is taken.
	ErrTokenExists = errors.New("token already exists")
)

// Errors about arguments.
var (
	// ErrInvalid reports an argument that breaks a rule of the data model:
	// a bad bank name, an entry without hashes, a hash of the wrong length,
	// an unknown update path, a field over its limit.
	ErrInvalid = errors.New("invalid argument")
)
