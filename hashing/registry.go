package hashing

import (
	"encoding/hex"
	"fmt"
	"math/bits"
	"strings"
)

// Names of the hash types.
const (
	PDQ    = "pdq"
	PHash  = "phash"
	DHash  = "dhash"
	MD5    = "md5"
	SHA256 = "sha256"
)

// Type describes one kind of hash: how long it is, how it is written, and
// when two hashes of the kind are taken to show the same media.
type Type struct {
	// Name is the type's identifier on the wire and in files.
	Name string
	// Bits is the hash length in bits.
	Bits int
	// Exact is true for cryptographic digests, which match only when equal.
	Exact bool
	// Threshold is the default largest Hamming distance at which two
	// perceptual hashes of this type match; 0 for exact types.
	Threshold int
	// HasQuality is true when the hasher reports a 0-100 quality score.
	HasQuality bool
	// MinQuality is the lowest query quality for which a perceptual match
	// is trusted by default; 0 when the type has no quality score.
	MinQuality int
}

// registry lists the hash types in the order they are computed and printed.
// The PDQ rule is the one the reference project recommends; the 64-bit
// goimagehash thresholds are starting points until a benchmark calibrates
// them (about 15% of the bits, close to PDQ's 31 of 256 in spirit but
// stricter, as short hashes collide more).
var registry = []Type{
	{Name: PDQ, Bits: 256, Threshold: 31, HasQuality: true, MinQuality: 50},
	{Name: PHash, Bits: 64, Threshold: 10},
	{Name: DHash, Bits: 64, Threshold: 10},
	{Name: MD5, Bits: 128, Exact: true},
	{Name: SHA256, Bits: 256, Exact: true},
}

// Types returns every registered hash type, in their canonical order.
func Types() []Type {
	return append([]Type(nil), registry...)
}

// Lookup returns the hash type with the given name.
func Lookup(name string) (Type, error) {
	for _, t := range registry {
		if t.Name == name {
			return t, nil
		}
	}
	return Type{}, fmt.Errorf("%w: %q (known: %s)", ErrUnknownType, clip(name), strings.Join(names(), ", "))
}

func names() []string {
	out := make([]string, len(registry))
	for i, t := range registry {
		out[i] = t.Name
	}
	return out
}

// HexLen is the length of the type's hashes in hex digits.
func (t Type) HexLen() int { return t.Bits / 4 }

// Parse decodes a hash of this type from hex (either case), checking its length.
func (t Type) Parse(s string) (Hash, error) {
	if len(s) != t.HexLen() {
		return Hash{}, fmt.Errorf("%w: %s hash needs %d hex digits, got %d", ErrBadHex, t.Name, t.HexLen(), len(s))
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return Hash{}, fmt.Errorf("%w: %s hash %q: %v", ErrBadHex, t.Name, clip(s), err)
	}
	return Hash{Type: t.Name, Bytes: b}, nil
}

// Parse decodes a hash of the named type from hex.
func Parse(typeName, s string) (Hash, error) {
	t, err := Lookup(typeName)
	if err != nil {
		return Hash{}, err
	}
	return t.Parse(s)
}

// Hash is one hash value of a registered type.
type Hash struct {
	// Type is the name of a registered type.
	Type string
	// Bytes holds the hash, most significant byte first, so that its hex
	// encoding is the type's written form.
	Bytes []byte
	// Quality is the hasher's 0-100 quality score, for types that have one.
	Quality int
}

// Hex returns the hash in lowercase hex, its wire and file encoding.
func (h Hash) Hex() string { return hex.EncodeToString(h.Bytes) }

// Distance returns the Hamming distance between two hashes of the same type.
func Distance(a, b Hash) (int, error) {
	if a.Type != b.Type || len(a.Bytes) != len(b.Bytes) {
		return 0, fmt.Errorf("%w: %s (%d bytes) and %s (%d bytes)", ErrMismatch, a.Type, len(a.Bytes), b.Type, len(b.Bytes))
	}
	n := 0
	for i := range a.Bytes {
		n += bits.OnesCount8(a.Bytes[i] ^ b.Bytes[i])
	}
	return n, nil
}

// clip keeps echoed input short in error messages.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
