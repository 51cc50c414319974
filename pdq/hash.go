package pdq

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	"strings"
)

// Bits is the length of a PDQ hash in bits.
const Bits = 256

// HexLen is the length of a PDQ hash in hex digits.
const HexLen = Bits / 4

// Hash is a 256-bit PDQ hash.
//
// The bytes are in the order of the reference implementation's hex output:
// bit k of the hash (k = 16*row + column of the 16x16 DCT block) has weight
// 2^k when the 32 bytes are read as one big-endian integer. So hex-encoding
// the array gives the reference's hex string, and byte 31 holds bits 0-7.
type Hash [Bits / 8]byte

// ErrBadHex reports a string that is not a PDQ hash in hex.
var ErrBadHex = errors.New("pdq: malformed hex hash")

// bit reports whether bit k (0..255) is set.
func (h *Hash) bit(k int) bool {
	return h[31-k/8]&(1<<(k%8)) != 0
}

// setBit sets bit k (0..255).
func (h *Hash) setBit(k int) {
	h[31-k/8] |= 1 << (k % 8)
}

// String returns the hash as 64 lowercase hex digits, as the reference prints it.
func (h Hash) String() string {
	return hex.EncodeToString(h[:])
}

// IsZero reports whether every bit of the hash is clear. The reference
// returns the zero hash for images too small to hash.
func (h Hash) IsZero() bool {
	return h == Hash{}
}

// ParseHex parses a hash from exactly 64 hex digits (either case).
func ParseHex(s string) (Hash, error) {
	var h Hash
	if len(s) != HexLen {
		return h, fmt.Errorf("%w: want %d hex digits, got %d", ErrBadHex, HexLen, len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return Hash{}, fmt.Errorf("%w: %q: %v", ErrBadHex, truncate(s), err)
	}
	return h, nil
}

// truncate keeps error messages short when the input is long.
func truncate(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

// Distance returns the Hamming distance between two hashes: the number of
// bits in which they differ, 0..256.
func Distance(a, b Hash) int {
	n := 0
	for i := 0; i < len(a); i += 8 {
		x := uint64(a[i])<<56 | uint64(a[i+1])<<48 | uint64(a[i+2])<<40 | uint64(a[i+3])<<32 |
			uint64(a[i+4])<<24 | uint64(a[i+5])<<16 | uint64(a[i+6])<<8 | uint64(a[i+7])
		y := uint64(b[i])<<56 | uint64(b[i+1])<<48 | uint64(b[i+2])<<40 | uint64(b[i+3])<<32 |
			uint64(b[i+4])<<24 | uint64(b[i+5])<<16 | uint64(b[i+6])<<8 | uint64(b[i+7])
		n += bits.OnesCount64(x ^ y)
	}
	return n
}

// Dihedral names one of the eight symmetries of the square. A hash of an
// image transformed by one of them can be derived from the DCT of the
// original without hashing the transformed image again.
type Dihedral int

// The dihedral variants in the reference implementation's order.
const (
	Original   Dihedral = iota // the image as given
	Rotate90                   // rotated 90 degrees counter-clockwise
	Rotate180                  // rotated 180 degrees
	Rotate270                  // rotated 270 degrees counter-clockwise
	FlipX                      // mirrored top to bottom
	FlipY                      // mirrored left to right
	FlipPlus1                  // transposed over the main diagonal
	FlipMinus1                 // transposed over the anti-diagonal
)

// NumDihedral is the number of dihedral variants.
const NumDihedral = 8

var dihedralNames = [NumDihedral]string{
	"original", "rot90", "rot180", "rot270", "flipx", "flipy", "flip_plus1", "flip_minus1",
}

// String returns the variant's name as the reference's tools spell it.
func (d Dihedral) String() string {
	if d < 0 || d >= NumDihedral {
		return fmt.Sprintf("dihedral(%d)", int(d))
	}
	return dihedralNames[d]
}

// ParseDihedral returns the variant with the given name (see String).
func ParseDihedral(name string) (Dihedral, error) {
	for i, n := range dihedralNames {
		if strings.EqualFold(n, name) {
			return Dihedral(i), nil
		}
	}
	return 0, fmt.Errorf("pdq: unknown dihedral variant %q", truncate(name))
}
