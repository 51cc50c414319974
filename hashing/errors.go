package hashing

import "errors"

// Errors from parsing and comparing hashes.
var (
	// ErrUnknownType reports a hash type name that is not registered.
	ErrUnknownType = errors.New("unknown hash type")
	// ErrBadHex reports a hash that is not valid hex of its type's length.
	ErrBadHex = errors.New("malformed hash")
	// ErrMismatch reports two hashes of different types or lengths compared.
	ErrMismatch = errors.New("hashes of different types")
)

// Errors from hashing media.
var (
	// ErrHasher reports a failure inside a hashing library (recovered from
	// a panic), for input the decoder accepted.
	ErrHasher = errors.New("hashing failed")
)
