package vpdq

import "errors"

// Errors about the input itself.
var (
	// ErrInvalid means a hash file or list is malformed or over a limit: the
	// message names the line (lines format) or element (JSON format),
	// counted from 1, and what is wrong with it. WriteLines and MarshalJSON
	// return it for frames they could not write in a form Parse reads back.
	ErrInvalid = errors.New("invalid vPDQ hash")
)
