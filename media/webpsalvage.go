package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"

	"golang.org/x/image/webp"
)

// x/image/webp refuses a WebP cut short; libwebp, and so browsers, show
// the rows the data holds. salvageWebP pads the image chunk to the size it
// declares and decodes it twice: padded with zeros, and with one byte of
// ones then zeros. The decoder reads the padding as data, so a row that
// comes out the same either way was decided by the file's own bytes, and
// the first row that differs is where the file's data ran out. From that
// row's macroblock row on, the picture is painted grey. (Zeros, which VP8's
// arithmetic decoder reads as the likeliest symbols, end every block soon;
// padding made of other bytes makes it read past the padding and fail.)

// webpMacroblock is the height of a row of VP8 macroblocks.
const webpMacroblock = 16

// webpFiltered is how many rows above a macroblock row VP8's loop filter
// changes when it filters that row's top edge: three of chroma, which is
// half the height of luma.
const webpFiltered = 8

// salvageWebP decodes a still WebP that x/image/webp refused, as far as its
// data goes. Only the image chunk is kept: an alpha chunk, if any, is
// dropped with the rest of the extended format.
func salvageWebP(b []byte, cfg image.Config, _ float64) (image.Image, *Repair, error) {
	p := 12
	for p+8 <= len(b) {
		typ := string(b[p : p+4])
		n := int64(binary.LittleEndian.Uint32(b[p+4:]))
		if typ != "VP8 " && typ != "VP8L" {
			p += 8 + int(n+n&1)
			if int64(p) > int64(len(b)) {
				break
			}
			continue
		}
		have := int64(len(b) - p - 8)
		if have >= n {
			return nil, nil, errNothingMissing // the chunk is whole: not a cut
		}
		if typ == "VP8 " && have >= 3 {
			// A cut before the token partitions leaves the modes of
			// every macroblock to the padding: nothing shown is the
			// file's. The frame tag gives the first partition's size;
			// the partition sizes table after it takes at most 21 bytes.
			first := int64(b[p+8]) | int64(b[p+9])<<8 | int64(b[p+10])<<16
			if have < 10+first>>5+21 {
				return nil, nil, errors.New("the data ends before the frame's token data")
			}
		}
		// The padding is bounded by what a frame of this size can hold,
		// whatever the chunk claims.
		n = min(n, have+int64(cfg.Width)*int64(cfg.Height)*2+1<<10, DefaultMaxBytes)
		// Compared as decoded (YCbCr for lossy WebP, 1.5 bytes a pixel),
		// and only the first converted, to hold the memory near one
		// decode's.
		zeros, err := webpPadded(typ, b[p+8:], n, 0x00)
		if err != nil {
			return nil, nil, err
		}
		ones, err := webpPadded(typ, b[p+8:], n, 0xff)
		if err != nil {
			// The one byte of ones made the decoder fail: the cut is
			// in the frame's header or its partition table.
			return nil, nil, err
		}
		row := firstDifferentRow(zeros, ones)
		ones = nil
		if zeros, err = webpConvert(zeros); err != nil {
			return nil, nil, err
		}
		// The loop filter of the first macroblock row decoded from the
		// padding changes the three rows of chroma (six of luma) above it:
		// the band shown ends webpFiltered rows above that row.
		row -= row%webpMacroblock + webpFiltered
		if row <= 0 {
			return nil, nil, errors.New("not one row of image data")
		}
		h := zeros.Bounds().Dy()
		var repair *Repair
		if row < h {
			repair = repair.note("WebP is cut short: %d of its %d rows are decoded, the rest is grey", row, h)
			repair = repair.seen(float64(row) / float64(h))
			repair.Shown = image.Rect(0, 0, zeros.Bounds().Dx(), row)
			return areaPainted(zeros, []image.Rectangle{image.Rect(0, row, zeros.Bounds().Dx(), h)}), repair, nil
		}
		return zeros, repair.note("WebP is cut short after its last row"), nil
	}
	return nil, nil, errors.New("no image chunk")
}

// webpPadded decodes a simple WebP holding the chunk typ made of data
// padded to n bytes with the byte first, then zeros.
func webpPadded(typ string, data []byte, n int64, first byte) (image.Image, error) {
	var f bytes.Buffer
	f.Grow(int(n) + 21)
	f.WriteString("RIFF")
	binary.Write(&f, binary.LittleEndian, uint32(4+8+n+n&1))
	f.WriteString("WEBP")
	f.WriteString(typ)
	binary.Write(&f, binary.LittleEndian, uint32(n))
	f.Write(data)
	f.WriteByte(first)
	for range n - int64(len(data)) - 1 + n&1 {
		f.WriteByte(0)
	}
	return webp.Decode(bytes.NewReader(f.Bytes()))
}

// firstDifferentRow returns the first row where a and b, two decodes of
// the same size, differ, or their height when none does.
func firstDifferentRow(a, b image.Image) int {
	r := a.Bounds()
	if b.Bounds() != r {
		return 0
	}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		if !sameRow(a, b, y) {
			return y - r.Min.Y
		}
	}
	return r.Dy()
}

// sameRow reports whether row y of a and b holds the same pixels.
func sameRow(a, b image.Image, y int) bool {
	r := a.Bounds()
	switch a := a.(type) {
	case *image.YCbCr:
		if b, ok := b.(*image.YCbCr); ok {
			ci, cj := a.COffset(r.Min.X, y), a.COffset(r.Max.X-1, y)+1
			return bytes.Equal(a.Y[a.YOffset(r.Min.X, y):a.YOffset(r.Max.X-1, y)+1], b.Y[b.YOffset(r.Min.X, y):b.YOffset(r.Max.X-1, y)+1]) &&
				bytes.Equal(a.Cb[ci:cj], b.Cb[ci:cj]) && bytes.Equal(a.Cr[ci:cj], b.Cr[ci:cj])
		}
	case *image.NYCbCrA:
		if b, ok := b.(*image.NYCbCrA); ok {
			i, j := a.AOffset(r.Min.X, y), a.AOffset(r.Max.X-1, y)+1
			return sameRow(&a.YCbCr, &b.YCbCr, y) && bytes.Equal(a.A[i:j], b.A[i:j])
		}
	case *image.NRGBA:
		if b, ok := b.(*image.NRGBA); ok {
			i, j := a.PixOffset(r.Min.X, y), a.PixOffset(r.Max.X, y)
			return bytes.Equal(a.Pix[i:j], b.Pix[i:j])
		}
	}
	for x := r.Min.X; x < r.Max.X; x++ {
		if a.At(x, y) != b.At(x, y) {
			return false
		}
	}
	return true
}
