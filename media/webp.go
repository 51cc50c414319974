package media

import (
	"bytes"
	"fmt"
	"image"

	"golang.org/x/image/webp"
)

// webpConfig reads a WebP header, refusing animated WebP: x/image/webp
// decodes only still images and would report an animation as malformed.
func webpConfig(b []byte) (image.Config, error) {
	if isAnimatedWebP(b) {
		return image.Config{}, fmt.Errorf("media: animated WebP: %w", ErrUnsupported)
	}
	return webp.DecodeConfig(bytes.NewReader(b))
}

// webpDecode decodes a still WebP. Lossy WebP (VP8) stores BT.601
// "studio swing" YCbCr (luma 16-235), but x/image/webp returns it as an
// image.YCbCr, which Go converts as full-range JPEG YCbCr: every color
// comes out with too little contrast (mean error about 8 levels). Converting
// here with the studio-swing equations gives the colors libwebp and browsers
// show.
func webpDecode(b []byte) (image.Image, error) {
	m, err := webp.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return webpConvert(m)
}

// webpConvert converts what x/image/webp decoded to the colors browsers
// show (see webpDecode).
func webpConvert(m image.Image) (image.Image, error) {
	switch m := m.(type) {
	case *image.YCbCr:
		return studioToNRGBA(m, nil, 0), nil
	case *image.NYCbCrA:
		return studioToNRGBA(&m.YCbCr, m.A, m.AStride), nil
	}
	return m, nil // lossless WebP is already RGB
}

// studioToNRGBA converts BT.601 studio-swing YCbCr, with an optional alpha
// plane, to NRGBA. The coefficients are the BT.601 ones scaled by 2^16:
// R = 1.164(Y-16) + 1.596(Cr-128), G = 1.164(Y-16) - 0.392(Cb-128) -
// 0.813(Cr-128), B = 1.164(Y-16) + 2.017(Cb-128).
func studioToNRGBA(m *image.YCbCr, alpha []byte, alphaStride int) *image.NRGBA {
	r := m.Rect
	out := image.NewNRGBA(r)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := out.Pix[out.PixOffset(r.Min.X, y):]
		for x := r.Min.X; x < r.Max.X; x++ {
			yy := (int32(m.Y[m.YOffset(x, y)]) - 16) * 76309
			ci := m.COffset(x, y)
			cb, cr := int32(m.Cb[ci])-128, int32(m.Cr[ci])-128
			p := row[4*(x-r.Min.X):][:4]
			p[0] = clamp16(yy + 104597*cr)
			p[1] = clamp16(yy - 25675*cb - 53279*cr)
			p[2] = clamp16(yy + 132201*cb)
			p[3] = 0xff
			if alpha != nil {
				p[3] = alpha[(y-r.Min.Y)*alphaStride+(x-r.Min.X)]
			}
		}
	}
	return out
}

// clamp16 rounds a 16.16 fixed-point value to 0-255.
func clamp16(v int32) uint8 {
	v = (v + 1<<15) >> 16
	switch {
	case v < 0:
		return 0
	case v > 255:
		return 255
	}
	return uint8(v)
}

// isAnimatedWebP reports whether the extended header (VP8X), which must be
// the first chunk when present, has its animation flag set.
func isAnimatedWebP(b []byte) bool {
	const animationFlag = 0x02 // WebP container spec, "Extended File Format"
	return len(b) > 20 && string(b[12:16]) == "VP8X" && b[20]&animationFlag != 0
}
