package store

import (
	"context"
	"io"
)

// Store is the durable record of banks, entries and their change log. Every
// method is safe for concurrent use. Reads never wait for writes.
type Store interface {
	// Commit applies ops atomically (all or none) as actor, and returns
	// once the result is durable. An operation that fails fails the commit
	// with its error, wrapped with the operation's position; nothing is
	// then written.
	Commit(ctx context.Context, actor string, ops ...Op) (CommitResult, error)

	// Bank returns the named bank.
	Bank(ctx context.Context, name string) (Bank, error)
	// ListBanks returns up to limit banks with names after the given one,
	// in name order.
	ListBanks(ctx context.Context, after string, limit int) ([]Bank, error)
	// Entry returns the entry with the given id.
	Entry(ctx context.Context, id uint64, view View) (*Entry, error)
	// ListEntries calls fn for the entries q selects, in id order, until
	// fn returns false. The entries are read from one consistent state.
	ListEntries(ctx context.Context, q EntryQuery, fn func(*Entry) bool) error

	// Token returns the named token.
	Token(ctx context.Context, name string) (Token, error)
	// ListTokens returns every token, in name order (at most MaxTokens).
	ListTokens(ctx context.Context) ([]Token, error)
	// ListAudit returns up to limit audit records with Seq after the
	// given one, oldest first.
	ListAudit(ctx context.Context, after uint64, limit int) ([]AuditRecord, error)

	// Snapshot returns a consistent view of the whole store at its current
	// revision, to be closed when done. Writes go on meanwhile.
	Snapshot(ctx context.Context) (Snapshot, error)
	// Changes returns up to limit changes after the given revision, in
	// order, ending on a commit boundary unless one commit holds more than
	// limit changes (Change.CommitEnd marks where a commit ends). The
	// values are read as view says. A revision below the compacted one
	// fails with ErrCompacted, one above the current with
	// ErrFutureRevision.
	Changes(ctx context.Context, after Revision, limit int, view View) ([]Change, error)
	// Watch delivers every change after the given revision, as Changes
	// would, and then each commit as it becomes durable, until ctx ends or
	// an error (ErrCompacted, ErrClosed, damage) ends it; the last response
	// then carries the error, or ctx's. The channel is closed after it.
	Watch(ctx context.Context, after Revision, view View) <-chan WatchResponse
	// Revisions returns the current and the compacted revision.
	Revisions(ctx context.Context) (Revisions, error)
	// Compact discards the change records up to and including through,
	// which must not be beyond the current revision. Banks and entries are
	// untouched; readers of older revisions get ErrCompacted.
	Compact(ctx context.Context, through Revision) error

	// Close releases the store. Commits already returned are durable;
	// calls after Close fail with ErrClosed.
	Close() error
}

// Snapshot is a consistent, read-only view of a store at one revision.
type Snapshot interface {
	// Revision is the revision the snapshot shows.
	Revision() Revision
	// Banks calls fn for every bank, in name order.
	Banks(fn func(Bank) error) error
	// Entries calls fn for every entry, in id order, read as view says.
	Entries(view View, fn func(*Entry) error) error
	// Bank returns the named bank as the snapshot shows it.
	Bank(name string) (Bank, error)
	// ListEntries is Store.ListEntries on the snapshot's state.
	ListEntries(ctx context.Context, q EntryQuery, fn func(*Entry) bool) error
	// Changes calls fn for every change after the given revision up to
	// the snapshot's, in order, with values read as view says from the
	// snapshot's state, until fn returns false. A revision below the
	// compacted one fails with ErrCompacted, one above the snapshot's
	// with ErrFutureRevision.
	Changes(ctx context.Context, after Revision, view View, fn func(Change) bool) error
	// Close releases the snapshot.
	Close() error
}

// EntryQuery selects entries to list.
type EntryQuery struct {
	// Bank limits the list to one bank; empty lists every bank's.
	Bank string
	// Banks, when Bank is empty, limits the list to these banks, reading
	// only their entries; banks that do not exist are skipped. Empty
	// (with Bank empty) lists every bank's.
	Banks []string
	// After skips the entries with ids up to it.
	After uint64
	// View says how much of each entry to read.
	View View
}

// WatchResponse is one delivery of a Watch.
type WatchResponse struct {
	// Changes are the next changes, in order, ending where a commit ends
	// unless one commit is larger than a delivery holds: then it spans
	// deliveries, and a follower shows it only once it has the change
	// with CommitEnd.
	Changes []Change
	// Err, in the last response only, says why the watch ended.
	Err error
}

// Revisions are a store's bounds of its change log.
type Revisions struct {
	// Current is the revision of the last change; 0 for a new store.
	Current Revision
	// Compacted is the highest revision whose record has been discarded;
	// Changes and Watch need a revision at or above it.
	Compacted Revision
}

// Backuper is implemented by backends that can copy themselves while they
// serve.
type Backuper interface {
	// Backup writes a consistent copy of the whole store to w, in the
	// backend's own format (for bbolt, a file Open accepts), while commits
	// go on: those after the copy began are not in it. It returns the
	// revision the copy shows and the bytes written, and stops with ctx.
	Backup(ctx context.Context, w io.Writer) (Revision, int64, error)
}

// Checker is implemented by backends that can verify their own integrity
// beyond what every read checks (the conformance suite runs it after every
// test).
type Checker interface {
	// Check verifies the whole store and returns the first problem found,
	// wrapping ErrCorrupt.
	Check(ctx context.Context) error
}
