package exchange

import (
	"errors"
	"fmt"
)

// Errors from reading lists and keys.
var (
	// ErrInvalid reports a list, a line or a key that does not follow its
	// format.
	ErrInvalid = errors.New("invalid hash list")
	// ErrUnknownSignal reports a signal type name with no mapping to ours.
	ErrUnknownSignal = errors.New("unknown signal type")
	// ErrBadSignature reports a signature that does not verify: the list
	// was changed, or signed with another key.
	ErrBadSignature = errors.New("signature does not verify")

	// errLineTooLong reports a line over MaxLineBytes in a CSV file.
	errLineTooLong = errors.New("line too long")
)

// LineError is a problem with one line of a list.
type LineError struct {
	// Line is the line's number, from 1.
	Line int
	// Err says what is wrong with it.
	Err error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

func (e *LineError) Unwrap() error { return e.Err }

// lineError wraps err with its line, unless it already names one.
func lineError(line int, err error) error {
	var le *LineError
	if errors.As(err, &le) {
		return err
	}
	return &LineError{Line: line, Err: err}
}
