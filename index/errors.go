package index

import "errors"

// Errors from opening a store.
var (
	// ErrSchemaTooNew reports a store file written by a newer mediamatch,
	// which this one must not modify.
	ErrSchemaTooNew = errors.New("store schema is newer than this program understands")
	// ErrCorrupt reports a store record that cannot be decoded.
	ErrCorrupt = errors.New("store record is corrupt")
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

// Errors about arguments.
var (
	// ErrInvalid reports an argument that breaks a rule of the data model:
	// a bad bank name, an entry without hashes, a hash of the wrong length.
	ErrInvalid = errors.New("invalid argument")
)
