// Package pixels checks a match found by local features against the
// pictures themselves: a stored image keeps a small grey thumbnail, and
// once keypoint.Verify has found the similarity that takes the query onto
// the entry, Compare lays the query over the thumbnail and asks, block by
// block, whether the two show the same thing where they overlap.
//
// Local features agree between unrelated pictures more often than a
// platform can afford: two screenshots of one application share their
// sidebar and buttons, tiles of one texture set share near-identical
// patches, sprites of one game share parts. In each case the agreement is
// confined to what the two share, and the rest of the overlap differs. A
// crop, a mirrored crop, a picture set beside another or cut short agrees
// throughout the part it shows. Compare measures exactly that: the share
// of the overlap's textured blocks that correlate, where a block that is
// flat on one side and textured on the other disagrees.
package pixels

import (
	"image"
	"math"

	"github.com/disintegration/imaging"
)

// Thumbnail sides (the long side, in pixels): a stored image keeps a small
// one; a query is compared at a larger size, so that a crop's part of the
// entry is still sampled finely.
const (
	StoredSide = 64
	QuerySide  = 160
)

// Thumb is a grey image, row by row.
type Thumb struct {
	W, H int
	Pix  []uint8
}

// Valid reports whether t holds W*H pixels of a usable size.
func (t Thumb) Valid() bool {
	return t.W >= BlockSide && t.H >= BlockSide && t.W <= 4*QuerySide && t.H <= 4*QuerySide && len(t.Pix) == t.W*t.H
}

// Make returns img brought down to a grey thumbnail whose long side is at
// most side, each pixel the mean of the pixels it covers; a smaller image
// keeps its size. It returns the zero Thumb for an image under
// BlockSide pixels a side.
func Make(img image.Image, side int) Thumb {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w < BlockSide || h < BlockSide || side < BlockSide {
		return Thumb{}
	}
	long := max(w, h)
	tw, th := w, h
	if long > side {
		tw = max(1, int(math.Round(float64(w)*float64(side)/float64(long))))
		th = max(1, int(math.Round(float64(h)*float64(side)/float64(long))))
	}
	if tw < BlockSide || th < BlockSide {
		return Thumb{}
	}
	sum := make([]uint32, tw*th)
	cnt := make([]uint32, tw*th)
	col := make([]int, w)
	for x := range w {
		col[x] = x * tw / w
	}
	row := make([]uint8, w)
	for y := range h {
		luma(img, b, y, row)
		o := (y * th / h) * tw
		for x, v := range row {
			sum[o+col[x]] += uint32(v)
			cnt[o+col[x]]++
		}
	}
	t := Thumb{W: tw, H: th, Pix: make([]uint8, tw*th)}
	for i := range sum {
		if cnt[i] > 0 {
			t.Pix[i] = uint8((sum[i] + cnt[i]/2) / cnt[i])
		}
	}
	return t
}

// luma writes row y of img (counted from b.Min.Y) as grey values
// (Rec. 601 weights, as JPEG's Y).
func luma(img image.Image, b image.Rectangle, y int, out []uint8) {
	switch m := img.(type) {
	case *image.YCbCr:
		o := m.YOffset(b.Min.X, b.Min.Y+y)
		copy(out, m.Y[o:o+len(out)])
	case *image.Gray:
		o := m.PixOffset(b.Min.X, b.Min.Y+y)
		copy(out, m.Pix[o:o+len(out)])
	case *image.NRGBA:
		// Unpremultiplied: a transparent pixel keeps its colour, as
		// the hashes see it.
		o := m.PixOffset(b.Min.X, b.Min.Y+y)
		px := m.Pix[o : o+4*len(out)]
		for x := range out {
			out[x] = grey(px[4*x], px[4*x+1], px[4*x+2])
		}
	case *image.RGBA:
		o := m.PixOffset(b.Min.X, b.Min.Y+y)
		px := m.Pix[o : o+4*len(out)]
		for x := range out {
			out[x] = grey(px[4*x], px[4*x+1], px[4*x+2])
		}
	default:
		line := imaging.Crop(img, image.Rect(b.Min.X, b.Min.Y+y, b.Max.X, b.Min.Y+y+1))
		for x := range out {
			out[x] = grey(line.Pix[4*x], line.Pix[4*x+1], line.Pix[4*x+2])
		}
	}
}

func grey(r, g, b uint8) uint8 {
	return uint8((19595*uint32(r) + 38470*uint32(g) + 7471*uint32(b) + 1<<15) >> 16)
}

// Transform takes a position in the query to one in the entry, both as
// fractions of the image's long side: e = Scale * R(Angle) * q + Shift
// (keypoint.Result's). Mirror says the transform was found for the query's
// mirror image (left and right swapped).
type Transform struct {
	Scale, Angle   float64
	ShiftX, ShiftY float64
	Mirror         bool
}

// Map takes a pixel of the entry's thumbnail (x, y) to a position in the
// query's: (AX*x + BX*y + CX, AY*x + BY*y + CY), in pixels, 0 being the
// first pixel's centre.
type Map struct {
	AX, BX, CX float64
	AY, BY, CY float64
}

// Similarity is the Map of t between thumbnails of the entry and query.
func Similarity(entry, query Thumb, t Transform) (Map, bool) {
	if !(t.Scale > 0) || math.IsInf(t.Scale, 0) || math.IsNaN(t.Angle+t.ShiftX+t.ShiftY) || entry.W == 0 || query.W == 0 {
		return Map{}, false
	}
	el := float64(max(entry.W, entry.H))
	ql := float64(max(query.W, query.H))
	// e = s R q + shift, so q = R(-a) (e - shift) / s; the entry pixel
	// (x, y) is at e = ((x+0.5)/el, (y+0.5)/el), and a query position q at
	// pixel q*ql - 0.5 (for the mirror image, W-1 less that across).
	c, s := math.Cos(t.Angle)/t.Scale, math.Sin(t.Angle)/t.Scale
	m := Map{
		AX: c * ql / el, BX: s * ql / el, CX: ql*(c*(0.5/el-t.ShiftX)+s*(0.5/el-t.ShiftY)) - 0.5,
		AY: -s * ql / el, BY: c * ql / el, CY: ql*(-s*(0.5/el-t.ShiftX)+c*(0.5/el-t.ShiftY)) - 0.5,
	}
	if t.Mirror {
		m.AX, m.BX, m.CX = -m.AX, -m.BX, float64(query.W)-1-m.CX
	}
	return m, true
}

// Box is a part of an image, as fractions of its width and height.
type Box struct {
	Left, Top, Width, Height float64
}

// Whole is the whole image.
var Whole = Box{0, 0, 1, 1}

// Boxes is the Map that lays the query's box q over the entry's box e,
// stretching each way as it must (a region match: the two parts hashed
// alike).
func Boxes(entry, query Thumb, e, q Box) (Map, bool) {
	if !(e.Width > 0 && e.Height > 0 && q.Width > 0 && q.Height > 0) || entry.W == 0 || query.W == 0 {
		return Map{}, false
	}
	// The entry pixel x is at (x+0.5)/W of the entry's width, u =
	// (that - e.Left)/e.Width across its box; the query's pixel there is
	// (q.Left + u*q.Width)*W' - 0.5.
	sx := q.Width / e.Width * float64(query.W) / float64(entry.W)
	sy := q.Height / e.Height * float64(query.H) / float64(entry.H)
	return Map{
		AX: sx, CX: (q.Left+(0.5/float64(entry.W)-e.Left)*q.Width/e.Width)*float64(query.W) - 0.5,
		BY: sy, CY: (q.Top+(0.5/float64(entry.H)-e.Top)*q.Height/e.Height)*float64(query.H) - 0.5,
	}, true
}

// Comparison constants.
const (
	// BlockSide is a block's side in the entry's thumbnail, in pixels.
	BlockSide = 8
	// flatStd is the standard deviation (grey levels) under which a block
	// is flat: it says nothing by its pattern.
	flatStd = 6
	// agreeNCC is the least normalised correlation of an agreeing block.
	agreeNCC = 0.5
)

// Result is what Compare found.
type Result struct {
	// Blocks is the number of the entry's blocks inside the query's
	// footprint that are textured on at least one side.
	Blocks int
	// Agreeing is how many of them correlate (both textured, normalised
	// correlation at least 0.5).
	Agreeing int
	// Overlap is the share of the entry's blocks inside the query's
	// footprint.
	Overlap float64
}

// Agreement is Agreeing over Blocks (0 without blocks).
func (r Result) Agreement() float64 {
	if r.Blocks == 0 {
		return 0
	}
	return float64(r.Agreeing) / float64(r.Blocks)
}

// assuredZ is the one-sided normal quantile of Assured's bound (95%).
const assuredZ = 1.645

// Assured is a lower bound of the agreement the overlap would show were
// it made of many more blocks: the Wilson score bound at 95% of Agreeing
// out of Blocks. Eight blocks out of eight assure 0.75, sixty of sixty-two
// 0.92: a few agreeing blocks, all a near-blank picture or a small shared
// patch offers, say less than many.
func (r Result) Assured() float64 {
	if r.Blocks == 0 {
		return 0
	}
	n, p, z2 := float64(r.Blocks), r.Agreement(), assuredZ*assuredZ
	centre := p + z2/(2*n)
	spread := assuredZ * math.Sqrt(p*(1-p)/n+z2/(4*n*n))
	return max(0, (centre-spread)/(1+z2/n))
}

// Compare lays query over entry by m (entry pixel to query pixel) and
// compares them block by block over the entry's blocks that the query
// covers. Sampling is bilinear; brightness and contrast do not matter
// (each block is normalised).
func Compare(entry, query Thumb, m Map) Result {
	if !entry.Valid() || !query.Valid() || math.IsNaN(m.AX+m.BX+m.CX+m.AY+m.BY+m.CY) || math.IsInf(m.AX+m.BX+m.CX+m.AY+m.BY+m.CY, 0) {
		return Result{}
	}
	var r Result
	var ev, qv [BlockSide * BlockSide]float64
	total, inside := 0, 0
	for by0 := 0; by0+BlockSide <= entry.H; by0 += BlockSide {
	blocks:
		for bx0 := 0; bx0+BlockSide <= entry.W; bx0 += BlockSide {
			total++
			k := 0
			for y := by0; y < by0+BlockSide; y++ {
				for x := bx0; x < bx0+BlockSide; x++ {
					qx := m.AX*float64(x) + m.BX*float64(y) + m.CX
					qy := m.AY*float64(x) + m.BY*float64(y) + m.CY
					if qx < 0 || qy < 0 || qx > float64(query.W-1) || qy > float64(query.H-1) {
						continue blocks
					}
					ev[k] = float64(entry.Pix[y*entry.W+x])
					qv[k] = bilinear(query, qx, qy)
					k++
				}
			}
			inside++
			se, sq := std(ev[:]), std(qv[:])
			if se < flatStd && sq < flatStd {
				continue // flat on both sides: says nothing
			}
			r.Blocks++
			if se >= flatStd && sq >= flatStd && ncc(ev[:], qv[:]) >= agreeNCC {
				r.Agreeing++
			}
		}
	}
	if total > 0 {
		r.Overlap = float64(inside) / float64(total)
	}
	return r
}

// Turned returns t turned or mirrored as pdq's dihedral variant d turns
// an image (pdq.Dihedral's constants, in the same order): the query's
// variant that matched an entry, laid over it.
func (t Thumb) Turned(d int) Thumb {
	w, h := t.W, t.H
	tw, th := w, h
	if d == 1 || d == 3 || d == 6 || d == 7 {
		tw, th = h, w
	}
	out := Thumb{W: tw, H: th, Pix: make([]uint8, len(t.Pix))}
	for y := range th {
		for x := range tw {
			var sx, sy int
			switch d {
			case 0: // original
				sx, sy = x, y
			case 1: // rotated 90 degrees counter-clockwise
				sx, sy = w-1-y, x
			case 2: // rotated 180 degrees
				sx, sy = w-1-x, h-1-y
			case 3: // rotated 270 degrees counter-clockwise
				sx, sy = y, h-1-x
			case 4: // mirrored top to bottom
				sx, sy = x, h-1-y
			case 5: // mirrored left to right
				sx, sy = w-1-x, y
			case 6: // transposed over the main diagonal
				sx, sy = y, x
			case 7: // transposed over the anti-diagonal
				sx, sy = w-1-y, h-1-x
			}
			out.Pix[y*tw+x] = t.Pix[sy*w+sx]
		}
	}
	return out
}

func bilinear(t Thumb, x, y float64) float64 {
	x0, y0 := int(x), int(y)
	x1, y1 := min(x0+1, t.W-1), min(y0+1, t.H-1)
	fx, fy := x-float64(x0), y-float64(y0)
	p := t.Pix
	a := float64(p[y0*t.W+x0])*(1-fx) + float64(p[y0*t.W+x1])*fx
	b := float64(p[y1*t.W+x0])*(1-fx) + float64(p[y1*t.W+x1])*fx
	return a*(1-fy) + b*fy
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func std(v []float64) float64 {
	m := mean(v)
	var s float64
	for _, x := range v {
		s += (x - m) * (x - m)
	}
	return math.Sqrt(s / float64(len(v)))
}

// ncc is the normalised correlation of a and b (both with some variance).
func ncc(a, b []float64) float64 {
	ma, mb := mean(a), mean(b)
	var sab, saa, sbb float64
	for i := range a {
		da, db := a[i]-ma, b[i]-mb
		sab += da * db
		saa += da * da
		sbb += db * db
	}
	if saa == 0 || sbb == 0 {
		return 0
	}
	return sab / math.Sqrt(saa*sbb)
}
