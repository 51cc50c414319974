// Package pdq computes PDQ perceptual image hashes, bit for bit as the
// reference implementation in Meta's ThreatExchange repository does.
//
// PDQ reduces an image to luminance, blurs it with a two-pass box (tent)
// filter and samples it on a 64x64 grid, takes the 16x16 lowest non-DC
// frequencies of its DCT, and sets one bit per coefficient above their
// median. The gradient energy of the 64x64 grid gives a 0-100 quality
// score: hashes of quality below 50 say little about the image.
//
// # Usage
//
//	res, err := pdq.HashImage(img)          // res.Hash, res.Quality
//	fmt.Println(res.Hash)                   // 64 hex digits, as the reference prints
//	d := pdq.Distance(res.Hash, other)      // Hamming distance; <= 31 is a match
//	all, err := pdq.DihedralImage(img)      // all 8 rotations and mirrors at once
//	h, err := pdq.ParseHex(s)
//
// HashLuma and DihedralLuma take a row-major float32 luminance buffer, the
// reference's "from float luma" entry point, for callers that decode
// images themselves (such as video frames).
//
// # Agreement with the reference
//
// On lossless input the hashes, qualities and dihedral hashes equal the
// reference's exactly: every float32 operation is done in the reference's
// order, and products are rounded on their own so that no platform fuses a
// multiply and an add. HashImage also copies the reference tool's
// nearest-neighbour pre-scaling of images larger than MaxSide. Decoders of
// lossy formats differ in the last bit of some pixels, so hashes of JPEGs
// decoded by Go's image/jpeg are a few bits from the reference's.
//
// The package uses only the standard library.
package pdq
