// Package robustness is mediamatch's open robustness benchmark: how often
// re-edited copies of known images are still found (recall per re-edit),
// and how often unrelated images are matched (the false-match rate), for
// plain whole-image PDQ, plain pHash and mediamatch's own matcher.
//
// Platforms fight re-uploads of known propaganda that has been cropped,
// captioned, framed or recoloured. Published measurements show PDQ catching
// blur, JPEG and noise almost always but few crops and paddings; this
// package measures that on a corpus anyone can rebuild, against the real
// server, so that changes to the matcher show up as numbers.
//
// # Usage
//
//	scripts/fetch-corpus     # Debian packages -> corpus/originals, corpus/distractors
//	go run ./cmd/mediamatch bench robustness --originals corpus/originals --distractors corpus/distractors
//
// From Go:
//
//	rep, err := robustness.Run(ctx, robustness.Options{Conn: conn, Originals: origs, Distractors: others, Seed: 1})
//	rep.WriteTable(os.Stdout)
//
// # What is measured
//
// Every image is loaded the same way (Load): EXIF orientation applied,
// flattened onto white, scaled down to at most 1024 px on its longer side.
// Each original is added to a new bank as the PNG of that image. Each
// Transform then makes one variant of every original, with its randomness
// drawn from the seed, the file name and the transform name; the variant
// is sent as PNG (lossless), except that JPEG transforms send their JPEG
// file. A variant counts as found:
//
//   - pdq: when the PDQ hash of the variant, computed client-side with
//     pdq.HashImage, is within distance 31 of the original's. Whole image
//     only: no rotations or mirrors, no region hashes, no quality gate.
//   - phash: the same with goimagehash's pHash (as the server stores it),
//     within distance 10.
//   - mediamatch: when the server's Match, with default options except that
//     the search is limited to the run's bank, lists the original's entry.
//     Whatever the server does by default (dihedral variants, extra hash
//     types, region hashes) is what is measured.
//
// Each distractor is matched once. For pdq and phash every (distractor,
// original) pair is compared; for mediamatch the pairs are the entries each
// distractor's Match returns. Both rates are reported per pair and per
// distractor, so the three matchers compare directly.
//
// # Corpus
//
// BuildCorpus (`mediamatch bench corpus`, run by scripts/fetch-corpus)
// selects originals and distractors from different packages: images of at
// least 128 px a side that are neither mostly transparent nor flat,
// originals of PDQ quality 50 or more, without exact or near duplicates
// (judged on grey 16x16 thumbnails, not on the hashes measured). It copies
// the files byte for byte and writes a MANIFEST.tsv naming each one's
// package and path.
//
// # Caveats
//
// The corpus is what Debian ships: game art, icons, clip art, renders and
// a few photographs, many of them small. Numbers from it say how the
// matchers compare and where they break, not what a platform's traffic
// will see. The false-match rate counts any match to an original; a
// distractor that truly shows an original's content would count too, which
// is why duplicates are removed across the split and every false match is
// listed for a person to check.
package robustness
