package store

// OpKind says what an operation does.
type OpKind uint8

// The operations a commit can hold.
const (
	OpCreateBank OpKind = iota + 1
	OpUpdateBank
	OpDeleteBank
	OpAddEntry
	OpUpdateEntry
	OpRemoveEntry
	OpCreateToken
	OpRevokeToken
	OpRecordAudit
	OpImportEntries
	OpSyncEntries
)

// Op is one operation of a commit. Build it with the functions below; a
// backend reads its fields.
type Op struct {
	// Kind says what the operation does.
	Kind OpKind
	// Bank is the bank to create, or for UpdateBank the new values of the
	// fields named in Fields. Its Name names the bank for every bank
	// operation.
	Bank Bank
	// Force, for DeleteBank, removes a bank's entries with it.
	Force bool
	// Entry is the entry to add, or for UpdateEntry the new values of the
	// fields named in Fields.
	Entry *Entry
	// ID names the entry for UpdateEntry and RemoveEntry.
	ID uint64
	// Fields are the update paths of UpdateBank and UpdateEntry.
	Fields []string
	// Token is the token to create; its Name names the token to revoke.
	Token *Token
	// Audit is the audit record to write.
	Audit *AuditRecord
	// Import is the list ImportEntries reads.
	Import *Import
	// Sync is the batch SyncEntries applies.
	Sync *SyncBatch
}

// CreateBank creates a bank. A bank of the same name fails the commit with
// ErrBankExists.
func CreateBank(b Bank) Op { return Op{Kind: OpCreateBank, Bank: b} }

// UpdateBank changes the named bank's fields given as update paths, taking
// their values from b:
//
//	description             the description
//	labels                  every label (replaced by b.Labels)
//	labels.KEY              one label: set to b.Labels[KEY], or removed when b has none
//	disabled                whether the bank is disabled
//	thresholds              every threshold (replaced by b.Thresholds)
//	thresholds.TYPE         one threshold: set, or removed when b has none
//
// An unknown bank fails with ErrBankNotFound; an unknown path with
// ErrInvalid. An update that changes nothing records no change.
func UpdateBank(name string, b Bank, fields ...string) Op {
	b.Name = name
	return Op{Kind: OpUpdateBank, Bank: b, Fields: fields}
}

// DeleteBank deletes the named bank. A bank that holds entries fails with
// ErrBankNotEmpty unless force is set; then each of its entries is removed
// in the same commit, and each removal is a change of its own.
func DeleteBank(name string, force bool) Op {
	return Op{Kind: OpDeleteBank, Bank: Bank{Name: name}, Force: force}
}

// AddEntry adds an entry to the bank e.Bank names; the store sets its ID,
// times and actor. An entry whose hashes the bank already holds (the same
// identity, see Identity) is not added again: the result names the entry
// already there, with Existed set.
func AddEntry(e *Entry) Op { return Op{Kind: OpAddEntry, Entry: e} }

// UpdateEntry changes an entry's fields given as update paths, taking their
// values from e:
//
//	labels        every label (replaced by e.Labels)
//	labels.KEY    one label: set to e.Labels[KEY], or removed when e has none
//	note          the note
//
// Hashes, bank and source cannot change. An unknown entry fails with
// ErrEntryNotFound. An update that changes nothing records no change.
func UpdateEntry(id uint64, e Entry, fields ...string) Op {
	return Op{Kind: OpUpdateEntry, ID: id, Entry: &e, Fields: fields}
}

// RemoveEntry removes an entry. An unknown entry fails with
// ErrEntryNotFound.
func RemoveEntry(id uint64) Op { return Op{Kind: OpRemoveEntry, ID: id} }

// CreateToken creates a token; the store sets its creation time and
// actor and writes an AuditTokenCreated record in the same transaction.
// Tokens are not changes of banks or entries: they take no revision and
// are not in the change log. A token of the same name as another, or as
// a revoked one (names are never reused), or of a certificate subject
// another token has, fails with ErrTokenExists; more
// than MaxTokens fail with ErrInvalid.
func CreateToken(t Token) Op { return Op{Kind: OpCreateToken, Token: &t} }

// RevokeToken deletes the named token, so that it is no longer accepted,
// and writes an AuditTokenRevoked record in the same transaction. An
// unknown token fails with ErrTokenNotFound.
func RevokeToken(name string) Op { return Op{Kind: OpRevokeToken, Token: &Token{Name: name}} }

// RecordAudit appends a record to the audit log; the store sets its Seq
// and Time. It takes no revision.
func RecordAudit(a AuditRecord) Op { return Op{Kind: OpRecordAudit, Audit: &a} }

// ImportEntries adds a partner's list to a bank, all or nothing: every
// entry the list holds that the bank lacks is added (with imp.Provenance,
// its Imported time set), and every removal removes the entry of that
// identity if it was imported from the same partner. The commit holds
// this operation alone (Commit refuses others beside it) and runs alone,
// never grouped with other commits: its items are read once. A backend
// may write a long list in parts, but no read sees a part: until the
// commit returns, reads, snapshots and the change feed show the store as
// it was, and then the feed shows the import as one commit, in list
// order. Other commits wait while an import runs.
//
// An entry whose identity the bank holds already is left as it is, local
// labels and note included: it counts as unchanged, and also as a conflict
// when the list's labels or note differ. A removal of an entry the bank
// lacks counts as unchanged; of one added here or imported from another
// partner, as a conflict (it is kept). An item the list repeats (an entry
// this import added already) fails the commit with ErrInvalid naming its
// line unless imp.AllowRepeats is set, when it counts as unchanged. An
// item that fails validation, or an error from Next, fails the commit:
// nothing is written.
func ImportEntries(imp *Import) Op {
	return Op{Kind: OpImportEntries, Import: imp, Bank: Bank{Name: imp.Bank}}
}

// SyncEntries applies one batch of another store's changes to a bank and
// moves the bank's cursor for that source (Bank.Synced[b.Source]) from
// b.From to b.To, in the same commit: a syncer that dies at any point
// finds the cursor exactly where the changes applied end. A cursor that is
// not at b.From (another syncer moved it, or this batch was applied
// already) fails the commit with ErrSyncConflict, and nothing is written.
//
// The batch's removals are applied first, then its entries, which is the
// order of the source's feed: an identity removed and added again there
// is removed and added again here. A removal removes the entry of that
// identity (Removals) or id (Prune) only if it was synced from the same
// source (Provenance.List equal to b.Source); others are kept and counted
// as conflicts. An entry the bank lacks is added with the batch's
// provenance (its SourceID and ListRevision are the entry's id and
// revision at the source); one synced from the same source entry gets the
// source's labels and note (an update that changes nothing writes
// nothing); one synced from an earlier source entry of the same identity
// is replaced; a local entry of the same identity is kept as it is and
// counted as a conflict.
func SyncEntries(b *SyncBatch) Op {
	return Op{Kind: OpSyncEntries, Sync: b, Bank: Bank{Name: b.Bank}}
}

// SyncBatch is the input of SyncEntries.
type SyncBatch struct {
	// Bank is the bank kept in step; it must exist.
	Bank string
	// Source names the source (its server and bank): the key of the
	// bank's cursor, and the Provenance.List of every entry synced from
	// it. Partner is recorded as their Provenance.Partner.
	Source, Partner string
	// From is the cursor the batch starts from (0 before the first) and
	// To where it leaves it; To is not below From.
	From, To Revision
	// Removals are the identities of entries removed at the source.
	Removals [][32]byte
	// Prune are ids of this bank's entries to remove: those a fresh
	// snapshot of the source no longer holds.
	Prune []uint64
	// Entries are the source's entries as they are there, each with
	// Provenance.SourceID (its id there) and ListRevision (its revision
	// there) set; their Bank is ignored.
	Entries []*Entry
}

// SyncResult counts what SyncEntries did.
type SyncResult struct {
	// Added, Updated and Removed count the entries written.
	Added, Updated, Removed int64
	// Unchanged items needed no change: an entry as it is already, a
	// removal of an entry the bank lacks.
	Unchanged int64
	// Conflicts are local entries (not synced from the source) that an
	// item would have changed or removed, kept as they are.
	Conflicts int64
}

// Import is the input of ImportEntries.
type Import struct {
	// Bank is the bank the list goes into; it must exist.
	Bank string
	// Provenance is recorded on every entry added; Imported is set by the
	// store.
	Provenance Provenance
	// AllowRepeats counts an item the list repeats as unchanged instead
	// of failing the import (lists of single hashes can hold one hash
	// twice legitimately: two entries of the exporter's bank sharing it).
	AllowRepeats bool
	// Next returns the list's next item, or io.EOF after the last. It is
	// called inside the write transaction, so it should read from a local
	// file, not a network.
	Next func() (ImportItem, error)
}

// ImportItem is one item of a list to import: an entry to add, or the
// identity of an entry to remove.
type ImportItem struct {
	// Entry is the entry to add; its Bank is ignored (the import's is
	// used), and so are its store-set fields.
	Entry *Entry
	// Remove, when Entry is nil, is the identity of the entry to remove.
	Remove [32]byte
	// Line is where the item is in its list, for errors.
	Line int
}

// ImportResult counts what ImportEntries did.
type ImportResult struct {
	// Imported entries were added; Removed entries were removed.
	Imported, Removed int64
	// Unchanged items needed no change.
	Unchanged int64
	// Conflicts are unchanged items whose labels or note differ from the
	// local entry's, and removals of local entries, all kept as they are.
	Conflicts int64
}

// CommitResult reports what a commit did.
type CommitResult struct {
	// Revision is the store's revision after the commit: that of its last
	// change, or the revision it found when it changed nothing.
	Revision Revision
	// Results has one element per operation, in order.
	Results []OpResult
}

// OpResult reports what one operation did.
type OpResult struct {
	// Bank is the bank as created or updated (DeleteBank: as it was).
	Bank *Bank
	// Entry is the entry as added (or the one already there), as updated,
	// or as it was before its removal, in full.
	Entry *Entry
	// Existed is set when AddEntry found the entry already in its bank and
	// wrote nothing.
	Existed bool
	// Token is the token as created, or as it was before its revocation.
	Token *Token
	// Removed is the number of entries DeleteBank removed with the bank.
	Removed int
	// Import is what ImportEntries did.
	Import *ImportResult
	// Sync is what SyncEntries did.
	Sync *SyncResult
	// Changed is false when the operation changed nothing (an AddEntry
	// that existed, an update to the values already there).
	Changed bool
}
