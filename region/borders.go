package region

import (
	"image"
	"image/color"
	"slices"
)

// Finding the picture inside a re-edited frame.
//
// Both functions sample the image's colour as Y'CbCr (Y' is the luma
// 0.299R + 0.587G + 0.114B) on a grid of at most gridMax points on the long
// side, and peel bands off the four edges, one band per edge per round,
// until a round peels nothing. Chroma is needed besides luma: a red border
// (luma 81) next to grey ground (luma 85) is no edge in luma at all. Two
// colours differ by the largest of their luma difference and half their
// chroma differences: chroma is coded at half resolution and quantised
// more coarsely, and rings about twice as far at a coloured edge.
//
// Each edge is decided on its own: bars on opposite edges need not share a
// colour or a size (added borders and single caption bands are often
// one-sided). The guard against trimming real picture content is instead
// the clear-edge rule. A line is one grid row (for the top and bottom
// edges) or column (left and right) across the current rectangle; c is the
// per-channel median of the band's first line.
//
//   - A line is clean when all but max(2, 1/32) of its samples are within
//     barTolerance of c and their mean is within barDrift of c in every
//     channel. The drift limit keeps a sky gradient from counting as one
//     long bar: every row of a clear sky is near-constant, but its colour
//     moves from row to row, and a bar's does not.
//   - A bar is a run of clean lines from the edge (or from at most skipPx
//     in, past thin lines left by scaling or a previous cut) that ends,
//     within softEdgePx, at a line where at least edgeShare of the samples
//     differ from c by more than edgeTolerance: a straight, full-length
//     edge. A sky that ends at a treeline or fades into haze has none and
//     is kept.
//   - A caption band (Content only) starts with a margin line (7/8
//     within barTolerance and the outliers within captionTolerance, as
//     compression rings around text), goes on through lines with at least
//     captionLineFlat of their samples within captionTolerance of c (the
//     text rows), and ends with a margin line and a clear edge, as a bar
//     does. It must be captionBandFlat flat overall, two-toned (at most
//     captionBandMid of it between barTolerance and captionTolerance of c:
//     background or marks, not texture), marked (at least captionBandInk
//     beyond edgeTolerance: it has text), and take at most captionMaxShare
//     of the extent. Its deepest possible end is taken, so a caption of
//     several lines goes whole.
//
// The cut is placed where the share of samples beyond edgeTolerance first
// reaches half its peak within the soft edge: in the middle of the blur and
// ringing that JPEG and H.264 leave at a bar boundary. It is then refined
// to the pixel at full resolution between the two grid lines around it:
// PDQ moves by tens of bits when a 254-px picture is cut 1 px off.
const (
	// gridMax is the most samples on the long side of the grid: ~58k
	// samples for a 16:9 frame, one every 4 px of 1280. Each cut is then
	// refined to the pixel, so the grid only has to see the bands.
	gridMax = 384
	// minGridSide is the fewest samples across the short side, for
	// extreme aspect ratios that gridMax alone would leave without lines.
	minGridSide = 16
	// minSide is the smallest image side analysed and the smallest side of
	// a returned region: below it a region has too few pixels to hash.
	minSide = 32
	// minAreaDiv bounds the trimming: a region under 1/minAreaDiv of the
	// image is not believed (a 16:9 picture padded to 9:16 keeps 32%).
	minAreaDiv = 4

	// barTolerance is how far a bar sample may stray from the bar colour:
	// JPEG at quality 50 and H.264 keep flat areas within a few levels,
	// analogue captures within about ten.
	barTolerance = 12
	// barDrift is how far the mean of a clean line may be from the bar
	// colour. A real bar is one colour; a sky gradient drifts away from it.
	barDrift = 4
	// edgeTolerance and edgeShare define a clear edge: a line in which at
	// least edgeShare of the samples differ from the band colour by more
	// than edgeTolerance. A dark picture in black bars may have none, and
	// then that edge is not trimmed.
	edgeTolerance = 24
	edgeShare     = 0.4
	// softEdgePx is how far the blur and ringing of a coded bar boundary
	// reach, in pixels: one 8x8 JPEG block (H.264 deblocking reaches 3 px).
	// It is also the longest ramp accepted as an edge, so it is kept short:
	// a sea or sky that brightens over 15 px is not a step.
	softEdgePx = 8
	// skipPx is how far from an edge a band may start: lines of a few
	// pixels are left at image edges by scalers and at cuts by ringing.
	skipPx = 8

	// captionTolerance is the band tolerance inside a caption band, wider
	// than barTolerance because compression rings around text.
	captionTolerance = 24
	// captionLineFlat is the least flat share of a text line in a caption
	// band: a row through a line of bold capitals is still partly
	// background.
	captionLineFlat = 0.3
	// captionBandFlat is the least flat share of a whole caption band.
	captionBandFlat = 0.65
	// captionBandMid is the largest share of a caption band's samples that
	// may lie between barTolerance and captionTolerance of its colour. A
	// caption is two-toned, flat background or contrasting marks, with only
	// ringing in between (7% at JPEG quality 50); a light texture such as
	// stone, sand or a calm sea has 20-30% there.
	captionBandMid = 0.125
	// captionBandInk is the least share of a caption band in marks, beyond
	// edgeTolerance of its colour: a caption has text (meme captions ink
	// 15-30% of the band). A band without marks is a bar and must pass as
	// one.
	captionBandInk = 1.0 / 32
	// captionMaxShare is the largest share of the extent a caption band may
	// take; meme captions take 10-30%.
	captionMaxShare = 0.4

	// maxRounds bounds the peeling: a border, then a caption, then a bar
	// inside it is three rounds.
	maxRounds = 6
)

// TrimBorders returns the part of img left after removing uniform bars at
// each edge: letterbox and pillarbox bars and added borders of any single
// colour, tolerant of compression noise and of the soft edge that JPEG and
// H.264 leave at a bar boundary. A bar is one colour throughout (its lines
// within 12 levels of it but for 1/32 of outliers, their means within 4)
// and is trimmed only where it ends at a clear, straight edge. Bars on
// opposite edges are judged independently and need not share a colour or
// a size. It returns img.Bounds() when nothing is trimmed, and when the rest
// would be under 1/4 of the image or 32 px on a side. The region is in
// img's coordinates, exact to about a pixel.
func TrimBorders(img image.Image) image.Rectangle {
	return region(img, false)
}

// Content returns the main picture of img: what TrimBorders returns,
// with caption bands also removed. A caption band lies at an edge, across
// the full width (or height), takes at most 40% of it, and is one flat
// colour (at least 65% of it within 24 levels) with sparse, contrasting
// text or graphics on it (at least 1/32 of it), not texture; it starts with
// a flat margin line and is separated from the picture by another and a
// clear edge. Bars and caption bands are peeled repeatedly, in any order,
// so a border around a captioned picture, or captions above and below, all
// go. The same limits as TrimBorders apply.
func Content(img image.Image) image.Rectangle {
	return region(img, true)
}

func region(img image.Image, captions bool) image.Rectangle {
	b := img.Bounds()
	if b.Dx() < minSide || b.Dy() < minSide {
		return b
	}
	g := newGrid(img)
	var last [4]boundary
	// An edge is looked at again only when its lines changed: after a cut
	// at that edge or across them.
	dirty := [4]bool{true, true, true, true}
	for range maxRounds {
		changed := false
		for e := top; e <= right; e++ {
			if !dirty[e] {
				continue
			}
			dirty[e] = false
			bd := g.peelBar(e)
			if captions {
				if cb := g.peelCaption(e); cb.cut > bd.cut {
					bd = cb
				}
			}
			if bd.cut > 0 {
				g.shrink(e, bd.cut)
				last[e], changed = bd, true
				dirty[e] = true
				for _, across := range e.across() {
					dirty[across] = true
				}
			}
		}
		if !changed {
			break
		}
	}
	r := image.Rect(0, 0, b.Dx(), b.Dy())
	if last[top].cut > 0 {
		r.Min.Y = g.refine(top, last[top])
	}
	if last[bottom].cut > 0 {
		r.Max.Y = g.refine(bottom, last[bottom])
	}
	if last[left].cut > 0 {
		r.Min.X = g.refine(left, last[left])
	}
	if last[right].cut > 0 {
		r.Max.X = g.refine(right, last[right])
	}
	r = r.Add(b.Min)
	if r.Dx() < minSide || r.Dy() < minSide || r.Dx()*r.Dy()*minAreaDiv < b.Dx()*b.Dy() {
		return b
	}
	return r
}

// edge names a side of the rectangle being peeled.
type edge int

const (
	top edge = iota
	bottom
	left
	right
)

// across returns the edges whose lines a cut at e shortens.
func (e edge) across() [2]edge {
	if e == top || e == bottom {
		return [2]edge{left, right}
	}
	return [2]edge{top, bottom}
}

// yuv is a colour, or a plane of colours, one entry per Y'CbCr channel.
type yuv[T any] [3]T

// grid is the sampled colour of an image, row-major, one plane per
// channel, and the rectangle of it still to peel.
type grid struct {
	w, h, step int
	planes     yuv[[]uint8]
	// x0, y0, x1, y1 is the rectangle still to peel, in grid samples.
	x0, y0, x1, y1 int
	// soft and skip are softEdgePx and skipPx in samples.
	soft, skip int
	// min is the image's Bounds().Min and pixel samples it at full
	// resolution, for refining cuts.
	min   image.Point
	pixel func(x, y int) (uint8, uint8, uint8)
	// dist is the distance table of the band colour last used.
	dist distTable
}

// boundary is where a band ends: cut lines from the edge, with the band's
// colour c and the share of samples beyond edgeTolerance of c (half the
// peak across the soft edge) that marks the first line of the picture.
type boundary struct {
	cut   int
	c     yuv[int]
	level float64
}

// line is one row or column of samples: sample i of channel ch is
// ch[i*stride].
type line struct {
	ch     yuv[[]uint8]
	stride int
	n      int
}

// newGrid samples img at the centres of step x step cells.
func newGrid(img image.Image) *grid {
	b := img.Bounds()
	step := (max(b.Dx(), b.Dy()) + gridMax - 1) / gridMax
	// A strip as thin as a sample or two would have no lines to judge.
	step = max(1, min(step, min(b.Dx(), b.Dy())/minGridSide))
	w, h := b.Dx()/step, b.Dy()/step
	g := &grid{w: w, h: h, step: step, x1: w, y1: h}
	g.soft = (softEdgePx + step - 1) / step
	g.skip = (skipPx + step - 1) / step
	g.min, g.pixel = b.Min, pixelSampler(img)
	xs := make([]int, w)
	for i := range xs {
		xs[i] = b.Min.X + g.pos(i)
	}
	sample := rowSampler(img, xs)
	for ch := range g.planes {
		g.planes[ch] = make([]uint8, w*h)
	}
	for j := range h {
		o := j * w
		sample(b.Min.Y+g.pos(j), yuv[[]uint8]{g.planes[0][o : o+w], g.planes[1][o : o+w], g.planes[2][o : o+w]})
	}
	return g
}

// pos is the pixel position, relative to the image's Min, of grid sample i.
func (g *grid) pos(i int) int {
	return i*g.step + g.step/2
}

// rowSampler returns a function that writes into dst the Y'CbCr colour of
// img's pixels (xs[i], y), reading the pixel buffers of the common decoded
// types directly. Alpha is ignored.
func rowSampler(img image.Image, xs []int) func(y int, dst yuv[[]uint8]) {
	switch m := img.(type) {
	case *image.YCbCr:
		// Both offsets are a row part plus a column part, whatever the
		// subsampling, so the column parts are computed once.
		yx, cx := make([]int, len(xs)), make([]int, len(xs))
		for i, x := range xs {
			yx[i] = m.YOffset(x, m.Rect.Min.Y)
			cx[i] = m.COffset(x, m.Rect.Min.Y)
		}
		return func(y int, dst yuv[[]uint8]) {
			yr := m.YOffset(m.Rect.Min.X, y) - m.YOffset(m.Rect.Min.X, m.Rect.Min.Y)
			cr := m.COffset(m.Rect.Min.X, y) - m.COffset(m.Rect.Min.X, m.Rect.Min.Y)
			ys, cbs, crs := m.Y[yr:], m.Cb[cr:], m.Cr[cr:]
			dy, dcb, dcr := dst[0][:len(yx)], dst[1][:len(yx)], dst[2][:len(yx)]
			for i, o := range yx {
				c := cx[i]
				dy[i], dcb[i], dcr[i] = ys[o], cbs[c], crs[c]
			}
		}
	case *image.Gray:
		return func(y int, dst yuv[[]uint8]) {
			pix := m.Pix[m.PixOffset(m.Rect.Min.X, y):]
			dy, dcb, dcr := dst[0][:len(xs)], dst[1][:len(xs)], dst[2][:len(xs)]
			for i, x := range xs {
				dy[i], dcb[i], dcr[i] = pix[x-m.Rect.Min.X], 128, 128
			}
		}
	case *image.Paletted:
		pal := paletteYCC(m.Palette)
		return func(y int, dst yuv[[]uint8]) {
			pix := m.Pix[m.PixOffset(m.Rect.Min.X, y):]
			dy, dcb, dcr := dst[0][:len(xs)], dst[1][:len(xs)], dst[2][:len(xs)]
			for i, x := range xs {
				c := &pal[pix[x-m.Rect.Min.X]]
				dy[i], dcb[i], dcr[i] = c[0], c[1], c[2]
			}
		}
	case *image.NRGBA:
		return rgbRows(m.Pix, m.Stride, m.Rect.Min, xs)
	case *image.RGBA:
		return rgbRows(m.Pix, m.Stride, m.Rect.Min, xs)
	default:
		pixel := pixelSampler(img)
		return func(y int, dst yuv[[]uint8]) {
			for i, x := range xs {
				dst[0][i], dst[1][i], dst[2][i] = pixel(x, y)
			}
		}
	}
}

// rgbRows is rowSampler for 4-byte RGB pixels, stored from min on.
func rgbRows(pix []uint8, stride int, min image.Point, xs []int) func(y int, dst yuv[[]uint8]) {
	offs := make([]int, len(xs))
	for i, x := range xs {
		offs[i] = 4 * (x - min.X)
	}
	return func(y int, dst yuv[[]uint8]) {
		row := pix[(y-min.Y)*stride:]
		dy, dcb, dcr := dst[0][:len(offs)], dst[1][:len(offs)], dst[2][:len(offs)]
		for i, o := range offs {
			p := row[o : o+3 : o+3]
			dy[i], dcb[i], dcr[i] = ycc(p[0], p[1], p[2])
		}
	}
}

// pixelSampler returns a function that reads the Y'CbCr colour of one
// pixel of img, as rowSampler does.
func pixelSampler(img image.Image) func(x, y int) (uint8, uint8, uint8) {
	switch m := img.(type) {
	case *image.YCbCr:
		return func(x, y int) (uint8, uint8, uint8) {
			c := m.COffset(x, y)
			return m.Y[m.YOffset(x, y)], m.Cb[c], m.Cr[c]
		}
	case *image.Gray:
		return func(x, y int) (uint8, uint8, uint8) { return m.Pix[m.PixOffset(x, y)], 128, 128 }
	case *image.Paletted:
		pal := paletteYCC(m.Palette)
		return func(x, y int) (uint8, uint8, uint8) {
			c := &pal[m.Pix[m.PixOffset(x, y)]]
			return c[0], c[1], c[2]
		}
	case *image.NRGBA:
		return func(x, y int) (uint8, uint8, uint8) {
			p := m.Pix[m.PixOffset(x, y):]
			return ycc(p[0], p[1], p[2])
		}
	case *image.RGBA:
		return func(x, y int) (uint8, uint8, uint8) {
			p := m.Pix[m.PixOffset(x, y):]
			return ycc(p[0], p[1], p[2])
		}
	case image.RGBA64Image:
		// Every other standard type (Paletted for GIF frames, NYCbCrA,
		// CMYK, the 16-bit ones) reads without allocating through this.
		return func(x, y int) (uint8, uint8, uint8) {
			c := m.RGBA64At(x, y)
			return ycc(unpremultiply(c.R, c.A), unpremultiply(c.G, c.A), unpremultiply(c.B, c.A))
		}
	default:
		return func(x, y int) (uint8, uint8, uint8) {
			// Non-premultiplied, as package pdq reads other types.
			n := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			return ycc(n.R, n.G, n.B)
		}
	}
}

// unpremultiply returns the 8-bit non-premultiplied value of a 16-bit
// channel v premultiplied by alpha a, as color.NRGBAModel computes it.
func unpremultiply(v, a uint16) uint8 {
	switch a {
	case 0xffff:
		return uint8(v >> 8)
	case 0:
		return 0
	}
	return uint8(uint32(v) * 0xffff / uint32(a) >> 8)
}

// paletteYCC returns the Y'CbCr colours of a palette, indexed by pixel
// value; values past its end (invalid in a GIF) read as black.
func paletteYCC(p color.Palette) *[256]yuv[uint8] {
	var pal [256]yuv[uint8]
	for i := range pal {
		pal[i] = yuv[uint8]{0, 128, 128}
	}
	for i, c := range p[:min(len(p), 256)] {
		r, g, b, a := c.RGBA()
		pal[i][0], pal[i][1], pal[i][2] = ycc(unpremultiply(uint16(r), uint16(a)), unpremultiply(uint16(g), uint16(a)), unpremultiply(uint16(b), uint16(a)))
	}
	return &pal
}

// ycc is color.RGBToYCbCr (JFIF, Y' = 0.299R + 0.587G + 0.114B) in a form
// the compiler inlines.
func ycc(r, g, b uint8) (uint8, uint8, uint8) {
	r1, g1, b1 := int32(r), int32(g), int32(b)
	y := (19595*r1 + 38470*g1 + 7471*b1 + 1<<15) >> 16
	cb := (-11056*r1 - 21712*g1 + 32768*b1 + 257<<15) >> 16
	cr := (32768*r1 - 27440*g1 - 5328*b1 + 257<<15) >> 16
	return uint8(y), uint8(min(cb, 255)), uint8(min(cr, 255))
}

// refine returns the pixel position, relative to the image's Min, of the
// boundary bd at edge e: between the last sample of the band and the first
// of the picture, the first pixel line whose share of samples beyond
// edgeTolerance of the band colour reaches bd.level. Its result is the
// rectangle's Min for the top and left edges and its Max for the others.
func (g *grid) refine(e edge, bd boundary) int {
	horizontal := e == top || e == bottom
	var along []int // sample positions along the line
	if horizontal {
		for i := g.x0; i < g.x1; i++ {
			along = append(along, g.pos(i))
		}
	} else {
		for j := g.y0; j < g.y1; j++ {
			along = append(along, g.pos(j))
		}
	}
	l := line{ch: yuv[[]uint8]{make([]uint8, len(along)), make([]uint8, len(along)), make([]uint8, len(along))}, stride: 1, n: len(along)}
	reaches := func(p int) bool {
		for i, a := range along {
			x, y := a, p
			if !horizontal {
				x, y = p, a
			}
			l.ch[0][i], l.ch[1][i], l.ch[2][i] = g.pixel(g.min.X+x, g.min.Y+y)
		}
		st := g.stats(l, bd.c)
		return float64(st.far) >= bd.level*float64(st.n)
	}
	switch e {
	case top, left:
		k := g.y0
		if e == left {
			k = g.x0
		}
		for p := g.pos(k-1) + 1; p < g.pos(k); p++ {
			if reaches(p) {
				return p
			}
		}
		return g.pos(k)
	default:
		k := g.y1
		if e == right {
			k = g.x1
		}
		for p := g.pos(k) - 1; p > g.pos(k-1); p-- {
			if reaches(p) {
				return p + 1
			}
		}
		return g.pos(k-1) + 1
	}
}

// extent is the number of lines left to peel from edge e.
func (g *grid) extent(e edge) int {
	if e == top || e == bottom {
		return g.y1 - g.y0
	}
	return g.x1 - g.x0
}

// line returns the line at depth d from edge e, across the current
// rectangle.
func (g *grid) line(e edge, d int) line {
	var o, stride, n int
	switch e {
	case top, bottom:
		r := g.y0 + d
		if e == bottom {
			r = g.y1 - 1 - d
		}
		o, stride, n = r*g.w+g.x0, 1, g.x1-g.x0
	default:
		c := g.x0 + d
		if e == right {
			c = g.x1 - 1 - d
		}
		o, stride, n = g.y0*g.w+c, g.w, g.y1-g.y0
	}
	end := o + (n-1)*stride + 1
	return line{ch: yuv[[]uint8]{g.planes[0][o:end], g.planes[1][o:end], g.planes[2][o:end]}, stride: stride, n: n}
}

// shrink removes the first cut lines at edge e.
func (g *grid) shrink(e edge, cut int) {
	switch e {
	case top:
		g.y0 += cut
	case bottom:
		g.y1 -= cut
	case left:
		g.x0 += cut
	default:
		g.x1 -= cut
	}
}

// median returns the per-channel median of a line.
func median(l line) yuv[int] {
	var c yuv[int]
	for ch, s := range l.ch {
		var hist [256]uint16
		for i := 0; i < len(s); i += l.stride {
			hist[s[i]]++
		}
		half, n := (l.n+1)/2, 0
		for v, k := range hist {
			if n += int(k); n >= half {
				c[ch] = v
				break
			}
		}
	}
	return c
}

// distTable holds the distance of every channel value from a colour c:
// luma differences whole, chroma differences halved (see above).
type distTable struct {
	c     yuv[int]
	valid bool
	d     yuv[[256]uint8]
}

// lineStats counts a line's samples against a band colour.
type lineStats struct {
	n    int      // samples
	in   int      // within barTolerance
	sum  yuv[int] // sum of those
	flat int      // within captionTolerance
	far  int      // beyond edgeTolerance
}

// stats counts the samples of l against colour c.
func (g *grid) stats(l line, c yuv[int]) lineStats {
	t := g.distFrom(c)
	s := lineStats{n: l.n}
	y, cb, cr := l.ch[0], l.ch[1][:len(l.ch[0])], l.ch[2][:len(l.ch[0])]
	for i := 0; i < len(y); i += l.stride {
		v, u, w := y[i], cb[i], cr[i]
		d := max(t.d[0][v], t.d[1][u], t.d[2][w])
		if d <= barTolerance {
			s.in++
			s.sum[0] += int(v)
			s.sum[1] += int(u)
			s.sum[2] += int(w)
		}
		if d <= captionTolerance {
			s.flat++
		} else if d > edgeTolerance {
			s.far++
		}
	}
	return s
}

// distFrom returns the distance table of colour c.
func (g *grid) distFrom(c yuv[int]) *distTable {
	t := &g.dist
	if !t.valid || t.c != c {
		for v := range 256 {
			t.d[0][v] = uint8(absDiff(v, c[0]))
			t.d[1][v] = uint8(absDiff(v, c[1]) / 2)
			t.d[2][v] = uint8(absDiff(v, c[2]) / 2)
		}
		t.c, t.valid = c, true
	}
	return t
}

func absDiff(a, b int) int {
	if a < b {
		return b - a
	}
	return a - b
}

// clean reports whether a line is of the one flat colour c, but for a few
// outliers.
func (s lineStats) clean(c yuv[int]) bool {
	return s.n-s.in <= max(2, s.n/32) && s.steady(c)
}

// steady reports whether the mean of the samples within barTolerance is
// within barDrift of c (chroma at half weight).
func (s lineStats) steady(c yuv[int]) bool {
	for ch := range c {
		d := absDiff(s.sum[ch], c[ch]*s.in)
		if ch > 0 {
			d /= 2
		}
		if d > barDrift*s.in {
			return false
		}
	}
	return true
}

// margin reports whether a line is a caption band's margin in colour c:
// clean but for compression ringing, which the text leaves in the whole
// 8x8 block row around it. Ringing keeps 7/8 of a flat background within
// barTolerance; the texture of a calm sea or a wall does not.
func (s lineStats) margin(c yuv[int]) bool {
	return s.n-s.flat <= max(2, s.n/32) && 8*s.in >= 7*s.n && s.steady(c)
}

// start returns the depth of the first line at depth from..g.skip from
// edge e that passes ok in its own median colour, and that colour; or -1.
func (g *grid) start(e edge, from int, ok func(lineStats, yuv[int]) bool) (int, yuv[int]) {
	for d := from; d <= min(g.skip, g.extent(e)-1); d++ {
		l := g.line(e, d)
		c := median(l)
		if ok(g.stats(l, c), c) {
			return d, c
		}
	}
	return -1, yuv[int]{}
}

// edgeAt looks for a clear edge from colour c in the soft edge that starts
// at depth k from edge e, and returns the boundary there.
func (g *grid) edgeAt(e edge, k int, c yuv[int]) (boundary, bool) {
	end := min(k+g.soft, g.extent(e)-1)
	var far [softEdgePx + 1]float64
	peak := 0.0
	for d := k; d <= end; d++ {
		s := g.stats(g.line(e, d), c)
		far[d-k] = float64(s.far) / float64(s.n)
		peak = max(peak, far[d-k])
	}
	if peak < edgeShare {
		return boundary{}, false
	}
	d := k
	for far[d-k] < peak/2 {
		d++
	}
	return boundary{cut: d, c: c, level: peak / 2}, true
}

// peelBar returns the boundary of a uniform bar at edge e, or a zero one.
func (g *grid) peelBar(e edge) boundary {
	n := g.extent(e)
	for from := 0; ; {
		s, c := g.start(e, from, lineStats.clean)
		if s < 0 {
			return boundary{}
		}
		k := s + 1
		for k < n && g.stats(g.line(e, k), c).clean(c) {
			k++
		}
		if k >= n {
			return boundary{} // uniform to the far side: no picture to find
		}
		if bd, ok := g.edgeAt(e, k, c); ok {
			return bd
		}
		from = k // a later start inside this run ends at the same line
	}
}

// peelCaption returns the boundary of a caption band at edge e, or a zero
// one. Every margin line within g.skip of the edge is tried as the start,
// once per colour: the first ones may carry the chroma of a border just
// cut away.
func (g *grid) peelCaption(e edge) boundary {
	var best boundary
	var tried []yuv[int]
	for from := 0; ; from++ {
		s, c := g.start(e, from, lineStats.margin)
		if s < 0 {
			return best
		}
		if !slices.ContainsFunc(tried, func(t yuv[int]) bool { return sameColour(t, c) }) {
			tried = append(tried, c)
			if bd := g.captionFrom(e, s, c); bd.cut > best.cut {
				best = bd
			}
		}
		from = s
	}
}

// sameColour reports whether two band colours are within barDrift of each
// other (chroma at half weight), so that a band of one is a band of both.
func sameColour(a, b yuv[int]) bool {
	return absDiff(a[0], b[0]) <= barDrift && absDiff(a[1], b[1]) <= 2*barDrift && absDiff(a[2], b[2]) <= 2*barDrift
}

// captionFrom returns the deepest boundary of a caption band of colour c
// whose first margin line is at depth s from edge e, or a zero one. The
// lines skipped before s are part of the band and count in its flat
// shares, not its ink.
func (g *grid) captionFrom(e edge, s int, c yuv[int]) boundary {
	n := g.extent(e)
	limit := min(n-1, int(captionMaxShare*float64(n)))
	var near, flat, total, ink, inked int
	var best boundary
	st := g.stats(g.line(e, 0), c)
	for d := 0; d < limit; d++ {
		next := g.stats(g.line(e, d+1), c)
		if d >= s && float64(st.flat) < captionLineFlat*float64(st.n) {
			break
		}
		near += st.in
		flat += st.flat
		total += st.n
		if d >= s {
			ink += st.far
			inked += st.n
			// The band can end after a margin line that the picture, not
			// more margin, follows.
			if st.margin(c) && !next.margin(c) &&
				float64(flat) >= captionBandFlat*float64(total) &&
				float64(flat-near) <= captionBandMid*float64(total) &&
				float64(ink) >= captionBandInk*float64(inked) {
				if bd, ok := g.edgeAt(e, d+1, c); ok && bd.cut <= limit {
					best = bd
				}
			}
		}
		st = next
	}
	return best
}
