package pdq

import (
	"image"
	"image/color"
	"runtime"
)

// MaxSide is the largest side HashImage filters at full resolution. As the
// reference's pdq-photo-hasher does, an image with a longer side is first
// sampled to MaxSide x MaxSide by nearest neighbour: the tent filter would
// cost time in proportion to the pixels, for hashes that then differ from
// the reference's by a few bits.
const MaxSide = 512

// HashImage hashes an image as the reference's pdq-photo-hasher does:
// colour images are reduced to luminance with the reference's weights
// (alpha is ignored, as there), greyscale images use their grey level, and
// images with a side over MaxSide are first sampled down to MaxSide x MaxSide.
func HashImage(img image.Image) (Result, error) {
	return fromImage(img, hashLuma)
}

// DihedralImage returns the hashes of all eight dihedral variants of img,
// computed as HashImage computes the original.
func DihedralImage(img image.Image) (DihedralResult, error) {
	return fromImage(img, dihedralLuma)
}

// Luma returns the luminance of every pixel of img as a row-major float32
// buffer in the form HashLuma takes, with its width and height.
func Luma(img image.Image) (luma []float32, width, height int) {
	return lumaAll(img, newBuffer)
}

func lumaAll(img image.Image, alloc func(int) []float32) ([]float32, int, int) {
	b := img.Bounds()
	return lumaGrid(img, b.Dx(), b.Dy(), func(i int) int { return i }, func(i int) int { return i }, alloc)
}

// SampledLuma is Luma for images up to MaxSide on each side. Larger ones
// are sampled to MaxSide x MaxSide by nearest neighbour, taking source pixel
// floor(x*width/MaxSide) as the reference's image library does.
func SampledLuma(img image.Image) (luma []float32, width, height int) {
	return sampledLuma(img, newBuffer)
}

func sampledLuma(img image.Image, alloc func(int) []float32) ([]float32, int, int) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= MaxSide && h <= MaxSide {
		return lumaAll(img, alloc)
	}
	return lumaGrid(img, MaxSide, MaxSide,
		func(x int) int { return x * w / MaxSide },
		func(y int) int { return y * h / MaxSide }, alloc)
}

// lumaGrid returns a width x height buffer, from alloc, whose pixel (x, y)
// is the luminance of img at (srcX(x), srcY(y)) relative to its bounds.
func lumaGrid(img image.Image, width, height int, srcX, srcY func(int) int, alloc func(int) []float32) ([]float32, int, int) {
	row := lumaRow(img)
	min := img.Bounds().Min
	cols := make([]int, width)
	for x := range cols {
		cols[x] = min.X + srcX(x)
	}
	luma := alloc(width * height)
	for y := range height {
		row(min.Y+srcY(y), cols, luma[y*width:(y+1)*width])
	}
	return luma, width, height
}

// lumaRow returns a function that writes into dst the luminance of img's
// pixels (cols[i], y), reading the pixel buffers of the common decoded
// types directly.
func lumaRow(img image.Image) func(y int, cols []int, dst []float32) {
	switch m := img.(type) {
	case *image.Gray:
		return func(y int, cols []int, dst []float32) {
			// base+x indexes pixel x of row y; base alone may be negative
			// when the image is a sub-image.
			base := (y-m.Rect.Min.Y)*m.Stride - m.Rect.Min.X
			for i, x := range cols {
				dst[i] = float32(m.Pix[base+x])
			}
		}
	case *image.NRGBA:
		return func(y int, cols []int, dst []float32) {
			base := (y-m.Rect.Min.Y)*m.Stride - 4*m.Rect.Min.X
			for i, x := range cols {
				p := m.Pix[base+4*x : base+4*x+3 : base+4*x+3]
				dst[i] = lumaOf(p[0], p[1], p[2])
			}
		}
	case *image.RGBA:
		// What image/png returns for opaque truecolour files (most
		// screenshots). Premultiplied: converted as color.NRGBAModel does,
		// without its allocation per pixel.
		return func(y int, cols []int, dst []float32) {
			base := (y-m.Rect.Min.Y)*m.Stride - 4*m.Rect.Min.X
			for i, x := range cols {
				p := m.Pix[base+4*x : base+4*x+4 : base+4*x+4]
				r, g, b := unpremultiply(p[0], p[1], p[2], p[3])
				dst[i] = lumaOf(r, g, b)
			}
		}
	case *image.YCbCr:
		return func(y int, cols []int, dst []float32) {
			for i, x := range cols {
				r, g, b := color.YCbCrToRGB(m.Y[m.YOffset(x, y)], m.Cb[m.COffset(x, y)], m.Cr[m.COffset(x, y)])
				dst[i] = lumaOf(r, g, b)
			}
		}
	case *image.Paletted:
		// The reference's PNG loader expands palettes to RGB, so even a grey
		// palette goes through the colour weights.
		var pal [256]float32
		for i, c := range m.Palette {
			n := color.NRGBAModel.Convert(c).(color.NRGBA)
			pal[i] = lumaOf(n.R, n.G, n.B)
		}
		return func(y int, cols []int, dst []float32) {
			base := (y-m.Rect.Min.Y)*m.Stride - m.Rect.Min.X
			for i, x := range cols {
				dst[i] = pal[m.Pix[base+x]]
			}
		}
	default:
		return func(y int, cols []int, dst []float32) {
			for i, x := range cols {
				switch c := img.At(x, y).(type) {
				case color.Gray:
					dst[i] = float32(c.Y)
				default:
					// Non-premultiplied, as the stored pixels of a PNG are.
					n := color.NRGBAModel.Convert(c).(color.NRGBA)
					dst[i] = lumaOf(n.R, n.G, n.B)
				}
			}
		}
	}
}

// unpremultiply is color.NRGBAModel's conversion of an 8-bit
// premultiplied pixel, to the bit.
func unpremultiply(r8, g8, b8, a8 uint8) (uint8, uint8, uint8) {
	switch a8 {
	case 0xff:
		return r8, g8, b8
	case 0:
		return 0, 0, 0
	}
	r, g, b, a := uint32(r8)*0x101, uint32(g8)*0x101, uint32(b8)*0x101, uint32(a8)*0x101
	return uint8((r * 0xffff / a) >> 8), uint8((g * 0xffff / a) >> 8), uint8((b * 0xffff / a) >> 8)
}

// lumaOf is the reference's RGB to luminance conversion, in its order of
// float32 operations.
func lumaOf(r, g, b uint8) float32 {
	return float32(lumaR*float32(r)) + float32(lumaG*float32(g)) + float32(lumaB*float32(b))
}

// TransformedImage hashes each of the eight rotations and mirrors of img as
// if that transformed image had been hashed with HashImage: the sampled
// luminance is rotated or mirrored and filtered again for each variant.
// DihedralImage derives the variants from one DCT, as the reference does,
// which is exact only where the downsampling filter is symmetric; on small,
// sharp images (icons, sprites) its variants land 15-50 bits from the hash
// of the image really mirrored. This costs eight hashes instead of one.
func TransformedImage(img image.Image) (DihedralResult, error) {
	luma, w, h := sampledLuma(img, getScratch)
	defer putScratch(luma)
	if err := checkLuma(luma, w, h); err != nil {
		return DihedralResult{}, err
	}
	var res DihedralResult
	// One buffer takes each variant in turn and the filter overwrites it;
	// one more is the filter's scratch.
	buf, tmp := getScratch(len(luma)), getScratch(len(luma))
	defer putScratch(buf)
	defer putScratch(tmp)
	for d := range Dihedral(NumDihedral) {
		// Each variant is a whole filter pass: let short calls waiting for
		// a core run between them (see package internal/yield).
		runtime.Gosched()
		tw, th := transformLuma(d, luma, w, h, buf)
		r := hashLuma(buf, tmp, tw, th)
		res.Hashes[d] = r.Hash
		if d == Original {
			res.Quality = r.Quality
		}
	}
	return res, nil
}

// transformLuma writes the variant d of the w x h buffer src into dst and
// returns its size. The variants are those of the Dihedral constants:
// Rotate90 turns counter-clockwise, FlipX swaps top and bottom, FlipY left
// and right, FlipPlus1 transposes and FlipMinus1 transposes about the other
// diagonal.
func transformLuma(d Dihedral, src []float32, w, h int, dst []float32) (int, int) {
	tw, th := w, h
	if d == Rotate90 || d == Rotate270 || d == FlipPlus1 || d == FlipMinus1 {
		tw, th = h, w
	}
	for y := range th {
		row := dst[y*tw : (y+1)*tw]
		for x := range row {
			var sx, sy int
			switch d {
			case Original:
				sx, sy = x, y
			case Rotate90:
				sx, sy = w-1-y, x
			case Rotate180:
				sx, sy = w-1-x, h-1-y
			case Rotate270:
				sx, sy = y, h-1-x
			case FlipX:
				sx, sy = x, h-1-y
			case FlipY:
				sx, sy = w-1-x, y
			case FlipPlus1:
				sx, sy = y, x
			case FlipMinus1:
				sx, sy = w-1-y, h-1-x
			}
			row[x] = src[sy*w+sx]
		}
	}
	return tw, th
}
