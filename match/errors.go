package match

import "errors"

// ErrInvalid reports a query that breaks the rules: an unknown hash type,
// a threshold outside the type's range, a hash of the wrong length, a
// percentage outside 0..100. Unknown banks are store.ErrBankNotFound.
var ErrInvalid = errors.New("invalid query")
