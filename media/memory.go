package media

import (
	"encoding/binary"
	"fmt"
	"image/color"
)

// DefaultMaxDecodeMemory bounds the memory one image decode may hold, as
// estimated from its header before decoding (DecodeMemory). 352 MiB takes
// a 50-megapixel 4:2:0 JPEG (the pixel budget's photo: 313 MB with its
// conversion to NRGBA) and every 8-bit PNG, BMP and lossy WebP within the
// pixel budget, and refuses the 16-bit PNGs, interlaced PNGs and lossless
// WebPs of 50 megapixels that used to pass at 290 to 460 MB (a few hundred
// kilobytes of one color; a lossless WebP of 34 bytes): those are held to
// about 46 megapixels, 16-bit TIFF (32 bytes a pixel) to 11, lossy WebP
// with alpha to 33. What decodes at once is bounded by the server's
// budget, not this one.
const DefaultMaxDecodeMemory = 352 << 20

// decodeOverhead is what every decode holds besides its per-pixel buffers:
// the decoder's tables, the reader, the image header.
const decodeOverhead = 1 << 20

// DecodeMemory estimates the most memory decoding data as an image holds
// (Decode, or Frames for an animated GIF, one frame at a time), in bytes,
// from its header alone: the format, the bit depth and channels of the
// pixels the decoder produces, its working buffers (a progressive JPEG's
// coefficients, a TIFF strip, an interlaced PNG's passes, a GIF's canvas)
// and the conversions this package makes (JPEG and lossy WebP to NRGBA,
// EXIF orientation). It checks the other budgets as Probe does; a video
// container is ErrUnsupported. The estimate is an upper bound of all the
// heap a decode allocates, garbage included, so of its peak too, measured
// for each format (TestDecodeMemoryBound).
func DecodeMemory(data []byte, opts Options) (int64, error) {
	opts = opts.withDefaults()
	p, err := probe(data, opts)
	if err != nil {
		return 0, err
	}
	return p.memory(opts), nil
}

// checkMemory refuses a decode whose estimate is over the budget.
func checkMemory(p *probed, opts Options) error {
	limit := opts.MaxDecodeMemory
	if limit <= 0 {
		limit = DefaultMaxDecodeMemory
	}
	if m := p.memory(opts); m > limit {
		return fmt.Errorf("media: decoding this %dx%d %s would take about %d MiB, over the limit of %d MiB per decode: %w",
			p.cfg.Width, p.cfg.Height, p.info.Format, m>>20, limit>>20, ErrTooLarge)
	}
	return nil
}

// memory is the estimate of DecodeMemory for a probed input.
func (p *probed) memory(opts Options) int64 {
	pixels := int64(p.cfg.Width) * int64(p.cfg.Height)
	// perPixel is in eighths of a byte, so that 4:2:0 chroma (1.5 bytes a
	// pixel) is exact.
	var perPixel int64
	switch p.info.Format {
	case FormatJPEG:
		perPixel = jpegEighths(p.data, p.cfg.ColorModel)
	case FormatPNG:
		b := modelBytes(p.cfg.ColorModel)
		perPixel = 8 * b
		if pngInterlaced(p.data) {
			perPixel += 8 * b // the seven passes, each an image of its own
		}
	case FormatGIF:
		return p.gifMemory()
	case FormatWebP:
		switch p.cfg.ColorModel {
		case color.NRGBAModel: // lossless: the pixels, and a second buffer for a color-indexing transform
			perPixel = 8 * 8
		case color.NYCbCrAModel:
			// Lossy with alpha: 4:2:0 and alpha, the alpha plane first
			// decoded as a lossless ARGB image, then NRGBA.
			perPixel = 8 * (4 + 4 + 2 + 1)
		default: // lossy: 4:2:0, then NRGBA
			perPixel = 8*4 + 12
		}
	case FormatTIFF:
		// The image, and one strip or tile as stored (at most as large
		// as the image), which may be the whole image and is read into a
		// buffer that grows as it is read: the old buffers and the new one
		// add up to three times it (measured: 29 bytes a pixel for 16-bit
		// RGBA in one strip, 15 for 8-bit).
		perPixel = 8 * 4 * modelBytes(p.cfg.ColorModel)
	case FormatAVIF:
		perPixel = 8 * avifBytesPerPixel
	default: // BMP
		perPixel = 8 * modelBytes(p.cfg.ColorModel)
	}
	if !opts.IgnoreOrientation && p.info.Orientation > 1 {
		perPixel += 8 * 4 // a reoriented NRGBA copy
	}
	return decodeOverhead + pixels*perPixel/8
}

// avifBytesPerPixel is the measured peak of the WebAssembly AVIF decoder
// (see maxAVIFPixels).
const avifBytesPerPixel = 60

// modelBytes is the bytes a pixel takes in the image a decoder returns for
// color model m: 8 for 16-bit color, 2 for 16-bit grey, 1 for 8-bit grey
// and palettes, 4 for anything else.
func modelBytes(m color.Model) int64 {
	switch m {
	case color.RGBA64Model, color.NRGBA64Model:
		return 8
	case color.Gray16Model:
		return 2
	case color.GrayModel, color.AlphaModel:
		return 1
	}
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	return 4
}

// gifMemory: the NRGBA canvas, the palette indices of the largest frame,
// and, when a frame is to be restored (disposal "previous"), a copy of the
// canvas under it, which grows by appending a row at a time: the buffers
// left behind add up to about five times the copy before the collector
// takes them (measured: 23 bytes a pixel at the peak, 27 allocated, for
// full-canvas frames).
func (p *probed) gifMemory() int64 {
	canvas := int64(p.gif.width) * int64(p.gif.height)
	var largest int64
	previous := false
	for _, f := range p.gif.frames {
		largest = max(largest, int64(f.rect.Dx())*int64(f.rect.Dy()))
		previous = previous || f.disposal == gifDisposePrevious
	}
	m := decodeOverhead + 4*canvas + largest
	if previous {
		m += 6 * 4 * largest
	}
	return m
}

// pngInterlaced reports whether a PNG's header declares Adam7 interlacing.
func pngInterlaced(b []byte) bool {
	return len(b) > 28 && string(b[12:16]) == "IHDR" && b[28] == 1
}

// jpegEighths is the eighths of a byte a JPEG decode holds per pixel: the
// decoded planes (one per component, at its sampling), a progressive
// JPEG's coefficients (64 int32 for each 8x8 block of each component),
// and the NRGBA that YCbCr is converted to. Without a readable frame
// header it assumes the worst: three full-resolution progressive
// components.
func jpegEighths(b []byte, m color.Model) int64 {
	progressive, comps, ok := jpegFrame(b)
	if !ok {
		progressive, comps = true, [][2]int{{1, 1}, {1, 1}, {1, 1}}
	}
	hmax, vmax := 1, 1
	for _, c := range comps {
		hmax, vmax = max(hmax, c[0]), max(vmax, c[1])
	}
	var planes int64 // eighths per pixel, for the components' planes
	for _, c := range comps {
		planes += int64(8*c[0]*c[1]) / int64(hmax*vmax)
	}
	e := planes
	if progressive {
		e += 4 * planes
	}
	switch {
	case m == color.YCbCrModel:
		e += 8 * 4
	case len(comps) == 4:
		e += 8 * 4 // CMYK: a converted copy in some decoders; counted to be safe
	}
	// Planes are padded to whole blocks (MCUs); an eighth more covers
	// the padding of any image at least 64 pixels a side.
	return e + e/8 + 1
}

// jpegFrame reads the frame header (SOFn) of a JPEG: whether it is
// progressive, and each component's sampling factors.
func jpegFrame(b []byte) (progressive bool, comps [][2]int, ok bool) {
	i := 2
	for i+4 <= len(b) {
		if b[i] != 0xff {
			return false, nil, false
		}
		marker := b[i+1]
		if marker == 0xff { // fill byte
			i++
			continue
		}
		if marker == 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker == 0x01 {
			i += 2 // no length
			continue
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return false, nil, false
		}
		seg := b[i+4 : i+2+n]
		switch {
		case marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc:
			if len(seg) < 6 {
				return false, nil, false
			}
			nc := int(seg[5])
			if nc == 0 || len(seg) < 6+3*nc {
				return false, nil, false
			}
			for k := range nc {
				s := seg[6+3*k+1]
				h, v := int(s>>4), int(s&15)
				if h == 0 || v == 0 {
					return false, nil, false
				}
				comps = append(comps, [2]int{h, v})
			}
			return marker == 0xc2 || marker == 0xc6 || marker == 0xca || marker == 0xce, comps, true
		case marker == 0xda || marker == 0xd9: // scan or end before a frame
			return false, nil, false
		}
		i += 2 + n
	}
	return false, nil, false
}
