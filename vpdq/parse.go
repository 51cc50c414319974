package vpdq

import (
	"bytes"
	"fmt"
)

// Parse reads a vPDQ hash in either format: the python-threatexchange JSON
// list (ParseJSON) when the first byte other than white space is '[', the
// reference tool's lines (ParseLines) otherwise. A line never starts with
// '[', so the choice is never ambiguous. A JSON object, the format of old
// python-threatexchange versions, is rejected with a message saying so.
func Parse(data []byte) ([]Frame, error) {
	t := bytes.TrimLeft(data, " \t\r\n")
	switch {
	case len(t) > 0 && t[0] == '[':
		return ParseJSON(data)
	case len(t) > 0 && t[0] == '{':
		return nil, fmt.Errorf("%w: a JSON object; want a JSON list of \"hash,quality,seconds\" strings", ErrInvalid)
	}
	return ParseLines(bytes.NewReader(data))
}
