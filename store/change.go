package store

import (
	"fmt"
	"time"
)

// ChangeKind says what a change did.
type ChangeKind uint8

// The kinds of change. Their values are stored: never renumber them.
const (
	BankCreated  ChangeKind = 1
	BankUpdated  ChangeKind = 2
	BankDeleted  ChangeKind = 3
	EntryAdded   ChangeKind = 4
	EntryUpdated ChangeKind = 5
	EntryRemoved ChangeKind = 6
)

var changeNames = map[ChangeKind]string{
	BankCreated:  "bank_created",
	BankUpdated:  "bank_updated",
	BankDeleted:  "bank_deleted",
	EntryAdded:   "entry_added",
	EntryUpdated: "entry_updated",
	EntryRemoved: "entry_removed",
}

// String returns the kind's name, for example "entry_added".
func (k ChangeKind) String() string {
	if s, ok := changeNames[k]; ok {
		return s
	}
	return fmt.Sprintf("change(%d)", uint8(k))
}

// Valid reports whether k is one of the kinds above.
func (k ChangeKind) Valid() bool {
	_, ok := changeNames[k]
	return ok
}

// IsEntry reports whether the change is to an entry (rather than a bank).
func (k ChangeKind) IsEntry() bool { return k >= EntryAdded && k <= EntryRemoved }

// Change is one record of the change log.
//
// The record itself (revision, kind, time, actor, bank, entry, fields) is
// as it was written. The values (BankValue, EntryValue) are the changed
// bank or entry as it is when the change is read, not as it was: a later
// update shows through and a later deletion leaves them nil. Applying every
// change after revision R, in order, to the state at R therefore yields the
// state at the revision the last change was read at, which is all a
// follower needs; the record is what an auditor needs.
type Change struct {
	// Revision is the change's place in the log.
	Revision Revision
	// Kind says what the change did.
	Kind ChangeKind
	// Time is when the change was committed, and Actor who made it.
	Time  time.Time
	Actor string
	// Bank is the bank changed, or the bank of the entry changed.
	Bank string
	// EntryID is the entry changed, for entry changes.
	EntryID uint64
	// Fields are the update paths an update changed (see UpdateBank and
	// UpdateEntry), for BankUpdated and EntryUpdated.
	Fields []string
	// Identity is the removed entry's identity (see Identity), for
	// EntryRemoved: the entry is gone, and a partner's server that holds
	// the same item finds it by this. Zero in records written before it
	// was kept.
	Identity [32]byte
	// CommitEnd is set on the last change of a commit. A follower that
	// publishes its state only after such a change never shows half a
	// commit.
	CommitEnd bool

	// BankValue is the bank as read, for BankCreated and BankUpdated; nil
	// when it has since been deleted or when the read asked for no values.
	BankValue *Bank
	// EntryValue is the entry as read, for EntryAdded and EntryUpdated;
	// nil when it has since been removed or when the read asked for no
	// values.
	EntryValue *Entry
}
