// Package etcd is a store.Store on an etcd cluster: the same contract as
// store/bolt, passing the same conformance suite (store/storetest), for
// many matcher replicas that follow one replicated store.
//
//	s, err := etcd.Open(ctx, etcd.Options{Endpoints: []string{"https://10.0.0.1:2379"}, TLS: cfg})
//
// # Layout
//
// Every key is under Options.Prefix: the head (meta/head: the store's
// revision, compacted revision, last entry id, audit number, bank and
// token counts, commit number), banks/NAME and counts/NAME, entries/ID
// (an entry without its frames and keypoints), bulk/ID/N (those, as one
// record cut into chunks of Options.ChunkBytes), members/BANK/ID,
// idents/BANK/IDENTITY (the entry id: identity is a key, so dedupe is a
// read inside the commit's transaction), changes/REV, tokens/NAME,
// revoked/NAME, subjects/HEX, audit/SEQ. Values are records of package
// record, sealed with their key. DESIGN.md ("The etcd backend") has the
// details.
//
// # Commits, limits and revisions
//
// A commit reads the state at one etcd revision and holds its writes in
// memory. If they fit one etcd transaction (Options.MaxTxnOps operations
// and Options.MaxRequestBytes, etcd's defaults 128 and 1.5 MiB), one
// transaction writes them with the head, on condition that the head is
// still the one read: commits are serialized by the head's mod revision,
// and a commit that loses the race is computed again. A larger commit (a
// big batch, a forced delete, an import, a long video) takes an intent
// key first and then writes in as many transactions as it needs; readers
// meanwhile read at the revision before the intent, so no read, snapshot
// or watch sees part of a commit. A commit that fails half way is rolled
// back from etcd's history; so is one whose writer died (its lease
// expired), by the next writer. The store's revisions are its own
// (consecutive, one per change, as the contract says); etcd's revision
// is the cursor: a reader and a snapshot read at one etcd revision, and
// Watch watches the head natively, reading the changes of each commit at
// the revision that ended it.
//
// Compact deletes the change records up to a revision (one range
// delete) and, unless Options.KeepHistory, compacts etcd's history up to
// the revision of the last one deleted; a snapshot or watch that needs
// what is gone gets store.ErrCompacted, and reads a fresh snapshot.
//
// # Not supported on etcd
//
// store.Backuper: the cluster's own snapshot (etcdctl snapshot save) is
// the backup; the server answers an API backup of this store with
// UNIMPLEMENTED. store.Checker is implemented (the suite runs it). The
// audit log is not trimmed (bolt's Options.AuditRetention): etcd's quota
// bounds it. An operator's etcd auto-compaction must keep more history
// than the longest import takes, or a rollback of one cut short fails
// with ErrCorrupt, naming the cause.
package etcd
