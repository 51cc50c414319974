package hashing

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"image"
	"slices"
	"strings"

	"github.com/corona10/goimagehash"

	"github.com/mediamatch/mediamatch/pdq"
)

// Options selects optional work when hashing an image.
type Options struct {
	// Dihedral also computes the PDQ hashes of the image's seven other
	// rotations and mirrors (cheap: they come from the same DCT, as the
	// reference derives them).
	Dihedral bool
	// Transformed, with Dihedral, hashes each rotation and mirror of the
	// image itself instead (pdq.TransformedImage): eight hashes' work, but
	// each variant is what the rotated or mirrored image hashes to, where
	// the reference's derivation is off by 15-50 bits on small, sharp
	// images. Matching uses this; the reference form is for exchange.
	Transformed bool
	// Types names the perceptual hashes to compute (pdq, phash, dhash, by
	// their registry names; other names are ignored here, as Digests
	// takes the digests by the same list); empty computes every one.
	// Dihedral needs pdq.
	Types []string
}

// wants reports whether opts asks for the hash type named t.
func (opts Options) wants(t string) bool { return wanted(opts.Types, t) }

func wanted(types []string, t string) bool {
	return len(types) == 0 || slices.Contains(types, t)
}

// ImageHashes is what Image computes for one image.
type ImageHashes struct {
	// Hashes holds the perceptual hashes in registry order: pdq (with its
	// quality), phash, dhash.
	Hashes []Hash
	// Dihedral holds the eight PDQ variants, indexed by pdq.Dihedral, when
	// Options.Dihedral was set; nil otherwise.
	Dihedral []pdq.Hash
}

// Image computes every perceptual hash of a decoded image.
func Image(img image.Image, opts Options) (res ImageHashes, err error) {
	defer func() {
		// goimagehash and the resizer below it are not written for hostile
		// input; a panic there must not take the process down.
		if r := recover(); r != nil {
			res, err = ImageHashes{}, fmt.Errorf("%w: %v", ErrHasher, r)
		}
	}()
	var p pdq.Result
	if opts.Dihedral && opts.Transformed {
		d, err := pdq.TransformedImage(img)
		if err != nil {
			return ImageHashes{}, fmt.Errorf("pdq: %w", err)
		}
		res.Dihedral = d.Hashes[:]
		p = pdq.Result{Hash: d.Hashes[pdq.Original], Quality: d.Quality}
	} else if opts.Dihedral {
		d, err := pdq.DihedralImage(img)
		if err != nil {
			return ImageHashes{}, fmt.Errorf("pdq: %w", err)
		}
		res.Dihedral = d.Hashes[:]
		p = pdq.Result{Hash: d.Hashes[pdq.Original], Quality: d.Quality}
	}
	if opts.Dihedral && !opts.wants(PDQ) {
		return ImageHashes{}, fmt.Errorf("the dihedral variants are PDQ hashes, and the types asked (%s) leave pdq out", strings.Join(opts.Types, ", "))
	}
	if b := img.Bounds(); opts.wants(PDQ) && (!opts.Dihedral || (!opts.Transformed && b.Dx() == 64 && b.Dy() == 64)) {
		// The reference's single-hash entry point skips the tent filter on
		// 64x64 input and its dihedral one does not; everywhere else the
		// dihedral original is the same hash, so it is not computed twice.
		if p, err = pdq.HashImage(img); err != nil {
			return ImageHashes{}, fmt.Errorf("pdq: %w", err)
		}
	}
	if opts.wants(PDQ) {
		res.Hashes = append(res.Hashes, Hash{Type: PDQ, Bytes: p.Hash[:], Quality: p.Quality})
	}
	if opts.wants(PHash) {
		ph, err := goimagehash.PerceptionHash(img)
		if err != nil {
			return ImageHashes{}, fmt.Errorf("phash: %w", err)
		}
		res.Hashes = append(res.Hashes, Hash{Type: PHash, Bytes: binary.BigEndian.AppendUint64(nil, ph.GetHash())})
	}
	if opts.wants(DHash) {
		dh, err := goimagehash.DifferenceHash(img)
		if err != nil {
			return ImageHashes{}, fmt.Errorf("dhash: %w", err)
		}
		res.Hashes = append(res.Hashes, Hash{Type: DHash, Bytes: binary.BigEndian.AppendUint64(nil, dh.GetHash())})
	}
	return res, nil
}

// Digests returns the exact digests of the uploaded bytes, in registry
// order: md5, sha256; given types (registry names, others ignored), only
// those.
func Digests(data []byte, types ...string) []Hash {
	var out []Hash
	if wanted(types, MD5) {
		m := md5.Sum(data)
		out = append(out, Hash{Type: MD5, Bytes: m[:]})
	}
	if wanted(types, SHA256) {
		s := sha256.Sum256(data)
		out = append(out, Hash{Type: SHA256, Bytes: s[:]})
	}
	return out
}
