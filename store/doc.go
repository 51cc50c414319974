// Package store is mediamatch's durable record behind one contract: banks,
// their entries, and the change log that records every change to either.
// It is the project's one shared vocabulary type (as upspin's upspin.go):
// the bbolt backend (package store/bolt) implements it on one machine, and
// a replicated backend implements the same interface and passes the same
// conformance suite (package store/storetest).
//
// # Writes
//
// Every write is a Commit of one or more operations, applied atomically:
// all of them or none. Each change a commit makes (a bank created, updated
// or deleted; an entry added, updated or removed) is appended to the change
// log in the same transaction, with its revision, actor and time: the log
// is the audit trail, the feed the in-memory index follows and the cursor
// partners sync from. A commit returns once it is durable.
//
//	res, err := s.Commit(ctx, "alice",
//		store.CreateBank(store.Bank{Name: "tvec"}),
//		store.AddEntry(&store.Entry{Bank: "tvec", Kind: store.KindImage, Hashes: hs}))
//
// Identity is enforced inside the write: adding to a bank an entry with the
// same hashes as one it holds writes nothing and returns the entry already
// there (OpResult.Existed).
//
// # Reads
//
// Point reads (Bank, Entry), lists (ListBanks, ListEntries), a consistent
// Snapshot at a revision, the changes after a revision (Changes) and a Watch
// that delivers them as they are committed. A revision older than the
// retained log fails with ErrCompacted, and the reader starts again from a
// fresh Snapshot. Changes carry the changed bank or entry as it is when the
// change is read, so applying every change after a snapshot's revision, in
// order, yields the state at the last revision read (see Change).
//
// # Tokens and the audit log
//
// Tokens (CreateToken, RevokeToken; read with Token and ListTokens) are
// the server's credentials: a name, a role, the banks it is limited to,
// an expiry, and the SHA-256 hash of its secret (never the secret) or the
// client certificate subject it is bound to. They are written through
// Commit like everything else, but they are not changes of banks or
// entries: they take no revision and stay out of the change log, which
// partners and followers read. Instead, creating and revoking a token
// writes an audit record in the same transaction; the server adds one for
// every call it refuses (RecordAudit). ListAudit reads the audit log.
package store
