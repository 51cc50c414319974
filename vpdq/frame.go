package vpdq

import (
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/mediamatch/mediamatch/pdq"
)

// Frame is the PDQ hash of one sampled video frame.
type Frame struct {
	Index   int      // frame number in the source video, 0..MaxIndex (0 when unknown)
	Hash    pdq.Hash // PDQ hash of the frame
	Quality int      // PDQ quality, 0..100
	Seconds float64  // timestamp in the video, 0..MaxSeconds
}

// Limits on what the parsers accept. Hash files come from partners, so
// every size is bounded before anything grows with it.
const (
	// MaxFrames bounds the frames in one hash: 100000 samples is more than
	// 27 hours at the usual one frame per second, and a parsed hash of that
	// many frames takes about 6 MB.
	MaxFrames = 100000

	// MaxLineLen bounds one line of the lines format and one string of the
	// JSON format, in bytes. A well-formed line is at most 92 bytes; the
	// slack allows spaces around fields and long decimal timestamps.
	MaxLineLen = 256

	// MaxIndex is the largest frame number: the reference stores frame
	// numbers in a C++ int.
	MaxIndex = math.MaxInt32

	// MaxSeconds bounds a timestamp: 10^7 s is about 116 days, beyond any
	// real video, and keeps every millisecond value exactly representable
	// and its written form short.
	MaxSeconds = 1e7

	// maxField bounds a field quoted in an error message.
	maxField = 40
)

// SecondsPrecision is the number of decimal places with which WriteLines
// and MarshalJSON write timestamps, as the reference tool does: a frame
// round-trips exactly when its Seconds is already a whole number of
// milliseconds (as parsed from a three-decimal string).
const SecondsPrecision = 3

// quote shortens an untrusted field for an error message and escapes
// anything unprintable.
func quote(s string) string {
	if len(s) > maxField {
		return strconv.Quote(s[:maxField]) + "..."
	}
	return strconv.Quote(s)
}

// trimField removes the spaces and tabs that both reference readers
// tolerate around numbers.
func trimField(s string) string {
	return strings.Trim(s, " \t")
}

// parseHash parses 64 hex digits of either case.
func parseHash(s string) (pdq.Hash, error) {
	var h pdq.Hash
	if len(s) != pdq.HexLen {
		return h, fmt.Errorf("hash %s: want %d hex digits, got %d characters", quote(s), pdq.HexLen, len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return h, fmt.Errorf("hash %s: character %d is not a hex digit", quote(s), i+1)
		}
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return pdq.Hash{}, fmt.Errorf("hash %s: %v", quote(s), err)
	}
	return h, nil
}

// parseUint parses a decimal integer 0..max made only of digits.
func parseUint(name, s string, max int) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("%s is empty", name)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			if s[0] == '-' {
				return 0, fmt.Errorf("%s %s is negative", name, quote(s))
			}
			return 0, fmt.Errorf("%s %s is not a decimal integer", name, quote(s))
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > max {
		return 0, fmt.Errorf("%s %s is outside 0..%d", name, quote(s), max)
	}
	return n, nil
}

// parseQuality parses a PDQ quality, 0..100.
func parseQuality(s string) (int, error) {
	return parseUint("quality", s, 100)
}

// parseIndex parses a frame number, 0..MaxIndex.
func parseIndex(s string) (int, error) {
	return parseUint("frame number", s, MaxIndex)
}

// parseSeconds parses a timestamp written as the reference tools write
// them: "0.968" (C++ tool), "0.0319" or "3" (older C++ tool), "1.2e+02"
// (python-threatexchange). Only unsigned decimal notation is accepted, so
// NaN, infinities, hex floats and digit separators are rejected.
func parseSeconds(s string) (float64, error) {
	if s == "" {
		return 0, fmt.Errorf("seconds is empty")
	}
	if s[0] == '-' {
		return 0, fmt.Errorf("seconds %s is negative", quote(s))
	}
	if !isDecimal(s) {
		return 0, fmt.Errorf("seconds %s is not a decimal number", quote(s))
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("seconds %s is out of range", quote(s))
	}
	if v > MaxSeconds {
		return 0, fmt.Errorf("seconds %s is above %g", quote(s), float64(MaxSeconds))
	}
	return v, nil
}

// isDecimal reports whether s is digits with an optional fraction and an
// optional exponent, with at least one mantissa digit.
func isDecimal(s string) bool {
	i, digits := 0, 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(s)
}

// checkFrame reports why f cannot be written in a form the parsers read
// back, or nil.
func checkFrame(f Frame) error {
	switch {
	case f.Index < 0 || f.Index > MaxIndex:
		return fmt.Errorf("frame number %d is outside 0..%d", f.Index, MaxIndex)
	case f.Quality < 0 || f.Quality > 100:
		return fmt.Errorf("quality %d is outside 0..100", f.Quality)
	case math.IsNaN(f.Seconds) || f.Seconds < 0 || f.Seconds > MaxSeconds:
		return fmt.Errorf("seconds %g is outside 0..%g", f.Seconds, float64(MaxSeconds))
	}
	return nil
}

// appendSeconds writes a timestamp with SecondsPrecision decimals, as the
// reference C++ tool does ("%.3f").
func appendSeconds(b []byte, s float64) []byte {
	if s == 0 {
		s = 0 // negative zero would print as "-0.000"
	}
	return strconv.AppendFloat(b, s, 'f', SecondsPrecision, 64)
}
