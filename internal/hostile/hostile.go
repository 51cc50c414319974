// Package hostile builds hostile media for tests: small files whose
// decodes are large (16-bit and interlaced PNGs, lossless WebP of one
// color, deflated 16-bit TIFF, GIFs of a huge canvas), written block by
// block so that making one costs little memory whatever it decodes to.
// The tests of media measure what decoding them costs; the server's
// hostile corpus sends them through the API.
package hostile

import (
	"bytes"
	"compress/lzw"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"

	"golang.org/x/image/tiff"
)

// PNG is a w x h PNG of one color, its rows written one at a time.
// depth is 8 or 16; color type 2 is RGB, 6 RGBA, 0 grey, 4 grey and alpha.
// With interlaced it is Adam7-interlaced, which image/png decodes pass by
// pass into images of their own.
func PNG(w, h, depth int, colorType byte, interlaced bool) []byte {
	return png(w, h, depth, colorType, interlaced, h)
}

// PNGHeader is PNG with only its first row of pixels: a file whose header
// says what PNG's does, for tests that need only what is read before
// decoding (making the whole one deflates every row, seconds at 50
// megapixels, minutes under the race detector).
func PNGHeader(w, h, depth int, colorType byte, interlaced bool) []byte {
	return png(w, h, depth, colorType, interlaced, 1)
}

func png(w, h, depth int, colorType byte, interlaced bool, rows int) []byte {
	channels := map[byte]int{0: 1, 2: 3, 4: 2, 6: 4}[colorType]
	bpp := channels * depth / 8
	var idat bytes.Buffer
	z, _ := zlib.NewWriterLevel(&idat, zlib.BestCompression)
	row := func(width int) {
		line := make([]byte, 1+width*bpp) // filter 0, then zero samples
		z.Write(line)
	}
	if interlaced {
		// The seven Adam7 passes: origin and step in x and y.
		for _, p := range [7][4]int{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}} {
			pw, ph := (w-p[0]+p[2]-1)/p[2], (h-p[1]+p[3]-1)/p[3]
			if pw <= 0 || ph <= 0 {
				continue
			}
			for range min(ph, rows) {
				row(pw)
			}
		}
	} else {
		for range rows {
			row(w)
		}
	}
	z.Close()
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = byte(depth), colorType
	if interlaced {
		ihdr[12] = 1
	}
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	pngChunk(&b, "IHDR", ihdr)
	pngChunk(&b, "IDAT", idat.Bytes())
	pngChunk(&b, "IEND", nil)
	return b.Bytes()
}

func pngChunk(b *bytes.Buffer, typ string, data []byte) {
	binary.Write(b, binary.BigEndian, uint32(len(data)))
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(data)
	b.WriteString(typ)
	b.Write(data)
	binary.Write(b, binary.BigEndian, crc.Sum32())
}

// LosslessWebP is a w x h lossless WebP (VP8L) of one color: every prefix
// code has a single symbol, so its pixels take no bits at all and the
// file is a few dozen bytes whatever its size (at most 16384 a side).
func LosslessWebP(w, h int) []byte {
	var bw bitWriter
	bw.write(0x2f, 8) // signature
	bw.write(uint32(w-1), 14)
	bw.write(uint32(h-1), 14)
	bw.write(0, 1) // no alpha used
	bw.write(0, 3) // version 0
	bw.write(0, 1) // no transform
	bw.write(0, 1) // no color cache
	bw.write(0, 1) // one prefix code group
	// Five simple prefix codes of one symbol each: green (a literal),
	// red, blue, alpha, distance.
	for _, sym := range []uint32{0x80, 0x40, 0x20, 0xff, 0} {
		bw.write(1, 1) // simple code
		bw.write(0, 1) // one symbol
		bw.write(1, 1) // of 8 bits
		bw.write(sym, 8)
	}
	data := bw.bytes()
	var b bytes.Buffer
	size := 4 + 8 + len(data) + len(data)%2
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(size))
	b.WriteString("WEBPVP8L")
	binary.Write(&b, binary.LittleEndian, uint32(len(data)))
	b.Write(data)
	if len(data)%2 == 1 {
		b.WriteByte(0)
	}
	return b.Bytes()
}

// bitWriter writes bits least significant first, as VP8L reads them.
type bitWriter struct {
	buf   []byte
	acc   uint64
	nbits uint
}

func (b *bitWriter) write(v uint32, n uint) {
	b.acc |= uint64(v) << b.nbits
	b.nbits += n
	for b.nbits >= 8 {
		b.buf = append(b.buf, byte(b.acc))
		b.acc >>= 8
		b.nbits -= 8
	}
}

func (b *bitWriter) bytes() []byte {
	if b.nbits > 0 {
		return append(b.buf, byte(b.acc))
	}
	return b.buf
}

// TIFF16 is a w x h deflated TIFF of 16-bit RGBA of one color, in one
// strip: x/image/tiff inflates the strip whole, then fills an RGBA64
// image from it.
func TIFF16(w, h int) []byte {
	var b bytes.Buffer
	m := image.NewRGBA64(image.Rect(0, 0, w, h))
	fill := color.RGBA64{0x8000, 0x4000, 0x2000, 0xffff}
	for y := range h {
		for x := range w {
			m.SetRGBA64(x, y, fill)
		}
	}
	if err := tiff.Encode(&b, m, &tiff.Options{Compression: tiff.Deflate}); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// GIF is a GIF whose logical screen is w x h, with frames frames each
// covering fw x fh at the top left, of one color: the canvas is decoded
// at full size however small the frames. With previous, every frame asks
// for the canvas under it to be restored afterwards (disposal 3), so the
// decoder keeps a copy of it.
func GIF(w, h, fw, fh, frames int, previous bool) []byte {
	var b bytes.Buffer
	le := func(v int) { b.WriteByte(byte(v)); b.WriteByte(byte(v >> 8)) }
	b.WriteString("GIF89a")
	le(w)
	le(h)
	b.WriteByte(0x80) // global table of 2 entries
	b.WriteByte(0)
	b.WriteByte(0)
	b.Write([]byte{0, 0, 0, 255, 255, 255})
	disposal := byte(1)
	if previous {
		disposal = 3
	}
	// One frame's data, compressed once: LZW of fw*fh indices 1.
	var pix bytes.Buffer
	lzwIndices(&pix, fw*fh)
	for range frames {
		b.Write([]byte{0x21, 0xf9, 4, disposal << 2, 2, 0, 0, 0}) // graphic control: 2/100 s
		b.WriteByte(0x2c)
		le(0)
		le(0)
		le(fw)
		le(fh)
		b.WriteByte(0)
		b.WriteByte(2) // LZW minimum code size
		GIFSubBlocks(&b, pix.Bytes())
	}
	b.WriteByte(0x3b)
	return b.Bytes()
}

// GIFSubBlocks writes data as a GIF's data sub-blocks (at most 255 bytes
// each, with their lengths) and the empty block that ends them.
func GIFSubBlocks(b *bytes.Buffer, data []byte) {
	for len(data) > 0 {
		n := min(len(data), 255)
		b.WriteByte(byte(n))
		b.Write(data[:n])
		data = data[n:]
	}
	b.WriteByte(0)
}

// lzwIndices writes n palette indices of 1 as GIF LZW with a minimum code
// size of 2: runs of one index compress to a few bytes in a thousand.
func lzwIndices(w *bytes.Buffer, n int) {
	z := lzw.NewWriter(w, lzw.LSB, 2)
	ones := bytes.Repeat([]byte{1}, 1<<16)
	for n > 0 {
		k := min(n, len(ones))
		z.Write(ones[:k])
		n -= k
	}
	z.Close()
}

// TIFFHeader is a small 16-bit RGBA TIFF whose header claims w x h: all
// that a refusal before decoding reads (x/image/tiff would find its one
// strip too short).
func TIFFHeader(w, h int) []byte {
	b := TIFF16(8, 8)
	// x/image/tiff writes a little-endian IFD at offset 8 of
	// 12-byte entries: tag, type, count, value.
	ifd := int(binary.LittleEndian.Uint32(b[4:]))
	n := int(binary.LittleEndian.Uint16(b[ifd:]))
	for i := range n {
		e := b[ifd+2+12*i:]
		var v uint32
		switch binary.LittleEndian.Uint16(e) {
		case 256: // ImageWidth
			v = uint32(w)
		case 257: // ImageLength
			v = uint32(h)
		default:
			continue
		}
		switch binary.LittleEndian.Uint16(e[2:]) {
		case 3: // SHORT
			binary.LittleEndian.PutUint16(e[8:], uint16(v))
		case 4: // LONG
			binary.LittleEndian.PutUint32(e[8:], v)
		}
	}
	return b
}

// Files are the hostile corpus's small files, by name, as
// testdata/hostile holds them (regenerated with go test
// ./internal/hostile -update); the server's corpus test generates the
// large ones itself.
func Files() map[string][]byte {
	const side = 7071 // 50 megapixels, the default pixel budget
	return map[string][]byte{
		"png16-rgba-50mp.png":           PNG(side, side, 16, 6, false),
		"png8-rgba-interlaced-50mp.png": PNG(side, side, 8, 6, true),
		"webp-lossless-50mp.webp":       LosslessWebP(side, side),
		"webp-lossless-16383.webp":      LosslessWebP(16383, 16383),
		"tiff16-header-50mp.tif":        TIFFHeader(side, side),
		"tiff16-2000.tif":               TIFF16(2000, 2000),
		"gif-canvas-50mp.gif":           GIF(side, side, 16, 16, 1, false),
		"gif-canvas-65535.gif":          GIF(65535, 65535, 1, 1, 1, false),
		"gif-frames-1001.gif":           GIF(16, 16, 16, 16, 1001, false),
	}
}
