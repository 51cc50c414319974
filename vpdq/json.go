package vpdq

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mediamatch/mediamatch/pdq"
)

// ParseJSON reads a vPDQ signal as python-threatexchange serialises it
// (vpdq_to_json): a JSON list of strings "hash_hex,quality,seconds", one a
// sampled frame. The list has no frame numbers, so each Frame's Index is its
// position in the list. Timestamps may use any unsigned decimal notation,
// including the exponent form python-threatexchange writes for 100 s and
// more ("1.2e+02"). Errors about the content wrap ErrInvalid and name the
// element, counted from 1. "[]" gives an empty slice and no error.
func ParseJSON(data []byte) ([]Frame, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonError(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, fmt.Errorf("%w: want a JSON list of strings", ErrInvalid)
	}
	frames := []Frame{}
	for dec.More() {
		n := len(frames) + 1
		if n > MaxFrames {
			return nil, fmt.Errorf("%w: element %d: more than %d frames", ErrInvalid, n, MaxFrames)
		}
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonError(err)
		}
		s, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("%w: element %d: want a string, got %s", ErrInvalid, n, jsonKind(tok))
		}
		if len(s) > MaxLineLen {
			return nil, fmt.Errorf("%w: element %d: longer than %d bytes", ErrInvalid, n, MaxLineLen)
		}
		f, err := parseCompact(s)
		if err != nil {
			return nil, fmt.Errorf("%w: element %d: %v", ErrInvalid, n, err)
		}
		f.Index = len(frames)
		frames = append(frames, f)
	}
	if _, err := dec.Token(); err != nil { // the closing ']'
		return nil, jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the JSON list", ErrInvalid)
	}
	return frames, nil
}

// parseCompact parses one "hash_hex,quality,seconds" string.
func parseCompact(s string) (Frame, error) {
	fields := strings.Split(s, ",")
	if len(fields) != 3 {
		return Frame{}, fmt.Errorf("want 3 comma-separated fields (hash,quality,seconds), got %d", len(fields))
	}
	var f Frame
	var err error
	if f.Hash, err = parseHash(trimField(fields[0])); err != nil {
		return Frame{}, err
	}
	if f.Quality, err = parseQuality(trimField(fields[1])); err != nil {
		return Frame{}, err
	}
	if f.Seconds, err = parseSeconds(trimField(fields[2])); err != nil {
		return Frame{}, err
	}
	return f, nil
}

// jsonError wraps a syntax error from the JSON decoder.
func jsonError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: truncated JSON list", ErrInvalid)
	}
	return fmt.Errorf("%w: malformed JSON: %v", ErrInvalid, err)
}

// jsonKind names the kind of a JSON token for an error message.
func jsonKind(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			return "a list"
		}
		return "an object"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", tok)
}

// MarshalJSON returns frames as python-threatexchange serialises a vPDQ
// signal: a JSON list of "hash_hex,quality,seconds" strings, separated by
// ", " as Python's json.dumps does, lower-case hex, no frame numbers.
// Seconds are written with SecondsPrecision decimals ("30.000") rather than
// python-threatexchange's three significant digits ("30.0", "1.2e+02"),
// which would lose whole seconds past 100 s; its parser reads both. Frames
// out of range, or more than MaxFrames, give an error wrapping ErrInvalid.
func MarshalJSON(frames []Frame) ([]byte, error) {
	if err := checkFrames(frames); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 2+len(frames)*(pdq.HexLen+24))
	b = append(b, '[')
	for i, f := range frames {
		if i > 0 {
			b = append(b, ", "...)
		}
		// The hex digits, digits and '.' need no JSON escaping.
		b = fmt.Appendf(b, "\"%s,%d,", f.Hash, f.Quality)
		b = appendSeconds(b, f.Seconds)
		b = append(b, '"')
	}
	b = append(b, ']')
	return b, nil
}
