package match

import "errors"

// ErrInvalid reports a query that breaks the rules: an unknown hash type,
// a threshold outside the type's range, a hash of the wrong length, a
// percentage outside 0..100. Unknown banks are store.ErrBankNotFound.
var ErrInvalid = errors.New("invalid query")

// ErrOverBudget reports a query whose work is over Rules.MaxVideoWork:
// more video frames to compare than one request may, whatever its
// deadline.
var ErrOverBudget = errors.New("over the match work budget")
