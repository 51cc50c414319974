package media

import (
	"bytes"
	"image"
	"image/jpeg"
	"sync"
)

// JPEG stores colour as YCbCr, usually with the chroma planes at half
// resolution. Go's image/jpeg leaves the conversion to RGB to the caller
// and, through image.YCbCr.At, repeats each chroma sample over its block
// and rounds differently from libjpeg. libjpeg (and libjpeg-turbo, which
// the PDQ reference tool, browsers and most image tools use) instead
// interpolates chroma with a triangle filter ("fancy upsampling") and
// converts with fixed-point tables. Converting as libjpeg does puts our
// pixels, and so our hashes, closest to what the rest of the industry
// computes: on the reference PDQ vectors it halves the distance to the
// reference hashes (see BENCHMARKS.md).

// Fixed-point constants of libjpeg's YCbCr to RGB conversion: 16
// fractional bits, each factor rounded to nearest.
const (
	ycbcrScaleBits = 16
	ycbcrHalf      = 1 << (ycbcrScaleBits - 1)
	fixCrR         = 91881  // 1.40200 * 2^16
	fixCbB         = 116130 // 1.77200 * 2^16
	fixCbG         = 22554  // 0.34414 * 2^16
	fixCrG         = 46802  // 0.71414 * 2^16
)

// ycbcrToNRGBA converts a decoded JPEG to RGB as libjpeg does by default:
// fancy upsampling of 4:2:0, 4:2:2 and 4:4:0 chroma, replication for other
// ratios, then libjpeg's rounding of the colour transform.
func ycbcrToNRGBA(m *image.YCbCr) *image.NRGBA {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	cb := make([]uint8, w)
	cr := make([]uint8, w)
	t := yccTables()
	for y := range h {
		upsampleRow(m, m.Cb, y, cb)
		upsampleRow(m, m.Cr, y, cr)
		off := m.YOffset(b.Min.X, b.Min.Y+y)
		yrow := m.Y[off : off+w]
		dst := out.Pix[y*out.Stride : y*out.Stride+4*w]
		cb, cr := cb[:len(yrow)], cr[:len(yrow)]
		for x, yv := range yrow {
			yy := int32(yv)
			c1, c2 := cb[x], cr[x]
			p := dst[4*x : 4*x+4 : 4*x+4]
			p[0] = clampByte(yy + t.crR[c2])
			p[1] = clampByte(yy + (t.cbG[c1]+t.crG[c2])>>ycbcrScaleBits)
			p[2] = clampByte(yy + t.cbB[c1])
			p[3] = 0xff
		}
	}
	return out
}

// yccTable holds libjpeg's conversion per chroma value, as its jdcolor.c
// tables do: the red and blue offsets already shifted, the two halves of
// the green offset before the shift (their sum is shifted once, as the
// formula does).
type yccTable struct {
	crR, cbB, cbG, crG [256]int32
}

var yccTables = sync.OnceValue(func() *yccTable {
	var t yccTable
	for c := range 256 {
		v := int32(c) - 128
		t.crR[c] = (fixCrR*v + ycbcrHalf) >> ycbcrScaleBits
		t.cbB[c] = (fixCbB*v + ycbcrHalf) >> ycbcrScaleBits
		t.cbG[c] = -fixCbG*v + ycbcrHalf
		t.crG[c] = -fixCrG * v
	}
	return &t
})

// upsampleRow fills dst (one full-resolution row) with the chroma plane's
// values for image row y.
func upsampleRow(m *image.YCbCr, plane []uint8, y int, dst []uint8) {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	// Chroma geometry relative to the image origin.
	var hs, vs int // horizontal and vertical subsampling: 1 or 2
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio444:
		hs, vs = 1, 1
	case image.YCbCrSubsampleRatio422:
		hs, vs = 2, 1
	case image.YCbCrSubsampleRatio420:
		hs, vs = 2, 2
	case image.YCbCrSubsampleRatio440:
		hs, vs = 1, 2
	default:
		// 4:1:1 and 4:1:0: libjpeg replicates samples; so does At.
		for x := range dst {
			dst[x] = plane[m.COffset(b.Min.X+x, b.Min.Y+y)]
		}
		return
	}
	cw, ch := (w+hs-1)/hs, (h+vs-1)/vs
	row := func(r int) []uint8 {
		r = min(max(r, 0), ch-1) // libjpeg repeats the edge rows
		off := m.COffset(b.Min.X, b.Min.Y+r*vs)
		return plane[off : off+cw]
	}
	if vs == 1 && hs == 1 {
		copy(dst, row(y))
		return
	}
	near := row(y / vs)
	if vs == 1 { // 4:2:2
		upsampleH(near, dst)
		return
	}
	// Vertical triangle: 3/4 of the nearer chroma row, 1/4 of the next
	// nearer one (above for even rows, below for odd).
	far := row(y/2 - 1)
	if y%2 == 1 {
		far = row(y/2 + 1)
	}
	if hs == 1 { // 4:4:0
		bias := int32(1)
		if y%2 == 1 {
			bias = 2
		}
		for x := range dst {
			dst[x] = uint8((3*int32(near[x]) + int32(far[x]) + bias) >> 2)
		}
		return
	}
	// 4:2:0: column sums of the vertical pass, then the horizontal
	// triangle on them, with libjpeg's alternating rounding.
	// Each column sum is computed once and carried along: at the edges
	// the missing neighbour is the column itself (libjpeg's this*4).
	near, far = near[:cw], far[:cw]
	this := 3*int32(near[0]) + int32(far[0])
	prev := this
	for i := range cw {
		next := this
		if i+1 < cw {
			next = 3*int32(near[i+1]) + int32(far[i+1])
		}
		left := this*3 + prev + 8
		right := this*3 + next + 7
		if 2*i+1 < len(dst) {
			dst[2*i] = uint8(left >> 4)
			dst[2*i+1] = uint8(right >> 4)
		} else if 2*i < len(dst) {
			dst[2*i] = uint8(left >> 4)
		}
		prev, this = this, next
	}
}

// upsampleH doubles a chroma row horizontally with libjpeg's triangle
// filter (4:2:2).
func upsampleH(src, dst []uint8) {
	n := len(src)
	for i, v := range src {
		c := 3 * int32(v)
		left, right := int32(v), int32(v) // edges repeat the sample
		if n > 1 {
			if i > 0 {
				left = (c + int32(src[i-1]) + 1) >> 2
			}
			if i < n-1 {
				right = (c + int32(src[i+1]) + 2) >> 2
			}
		}
		if 2*i < len(dst) {
			dst[2*i] = uint8(left)
		}
		if 2*i+1 < len(dst) {
			dst[2*i+1] = uint8(right)
		}
	}
}

func clampByte(v int32) uint8 {
	return uint8(min(max(v, 0), 255))
}

// decodeJPEG decodes a JPEG and converts colour images to RGB as libjpeg
// does; greyscale and CMYK images are returned as the decoder gives them.
func decodeJPEG(b []byte) (image.Image, error) {
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	if y, ok := img.(*image.YCbCr); ok {
		return ycbcrToNRGBA(y), nil
	}
	return img, nil
}
