package region

import (
	"image"
	"slices"
)

// Finding a picture drawn on a plain background.
//
// Clip art, icons, logos and posters on a white or flat ground have no
// straight edge for TrimBorders to find: the ground runs into whatever is
// added around it (a white caption band above white-ground art is one
// white area with a line of text in it) and a crop only takes some of it
// away. What is stable is the picture itself, the box of the marks on the
// ground, so that box is hashed on both sides.
//
// Each edge has a ground when its outermost line is clean (as a bar's line
// is, region.go) in its median colour. A sample is a mark when it differs
// from that ground by more than edgeTolerance, as at a bar's edge. Plain
// lines, without marks, are peeled off each edge with a ground, the top
// and bottom first and then the sides within what is left; each cut is
// then refined to the pixel at full resolution. The picture may run off
// the edges without a ground.
//
// A query may also carry marks that are not the picture: a caption's lines
// of text above or below it. A caption is an island: marked lines set
// apart from the rest by a gap of plain lines, at least gapShare of the
// extent and two samples, within islandShare of the extent from its first
// marks. Of such gaps the widest is taken (the gaps between a caption's
// lines are narrower than the one to the picture). The query's boxes are
// the box, and the box with the island at the top, the bottom, or both
// left out.
const (
	// groundShare is the least share of the outermost samples within
	// barTolerance of the ground colour.
	groundShare = 0.95
	// gapShare is the least height, as a share of the extent, of the plain
	// lines that set an island apart.
	gapShare = 0.015
	// islandShare is the largest share of the extent an island may take.
	islandShare = 0.35
	// minObjectDiv bounds the box from below: a box under 1/minObjectDiv of
	// the image is a detail, not the picture.
	minObjectDiv = 16
)

// objectBoxes returns the box of the picture on img's plain ground, in
// img's coordinates; with islands, also the boxes without a line of marks
// set apart at the top, the bottom, or both. It returns nothing when img
// has no plain ground at any edge, or the picture fills it.
func objectBoxes(img image.Image, islands bool) []image.Rectangle {
	b := img.Bounds()
	if b.Dx() < 2*minSide || b.Dy() < 2*minSide {
		return nil
	}
	g := newGrid(img)
	var sides [4]plainSide
	grounded := false
	for e := top; e <= right; e++ {
		sides[e] = g.plainSide(e)
		grounded = grounded || sides[e].ok
	}
	if !grounded {
		return nil
	}
	skips := [][2]bool{{false, false}}
	if islands {
		skips = append(skips, [2]bool{true, false}, [2]bool{false, true}, [2]bool{true, true})
	}
	var out []image.Rectangle
	for _, skip := range skips {
		r, ok := g.plainBox(&sides, skip, b.Dx(), b.Dy())
		if !ok || slices.Contains(out, r) {
			continue
		}
		area, full := r.Dx()*r.Dy(), b.Dx()*b.Dy()
		if r.Dx() < minSide || r.Dy() < minSide || area*minObjectDiv < full || float64(area) >= minRegionShare*float64(full) {
			continue
		}
		out = append(out, r)
	}
	return out
}

// plainSide is the ground at one edge of the image: the colour of its
// outermost line when that line is clean, and which samples differ from it.
type plainSide struct {
	ok   bool
	c    yuv[int]
	mark []bool
}

// plainSide returns the ground at edge e.
func (g *grid) plainSide(e edge) plainSide {
	l := g.line(e, 0)
	c := median(l)
	if !g.stats(l, c).clean(c) {
		return plainSide{}
	}
	return plainSide{ok: true, c: c, mark: g.marks(c)}
}

// marks returns, per grid sample, whether it differs from the ground
// colour c by more than edgeTolerance.
func (g *grid) marks(c yuv[int]) []bool {
	t := g.distFrom(c)
	out := make([]bool, g.w*g.h)
	for i := range out {
		d := max(t.d[0][g.planes[0][i]], t.d[1][g.planes[1][i]], t.d[2][g.planes[2][i]])
		out[i] = d > edgeTolerance
	}
	return out
}

// plainBox peels the plain lines off each edge with a ground, top and
// bottom first and then left and right within what is left, and refines
// the box to the pixel. skip says whether an island at the top and at the
// bottom is peeled too.
func (g *grid) plainBox(sides *[4]plainSide, skip [2]bool, width, height int) (image.Rectangle, bool) {
	x0, y0, x1, y1 := 0, 0, g.w, g.h
	marked := func(e edge, k int) bool {
		m := sides[e].mark
		if e == top || e == bottom {
			for _, v := range m[k*g.w+x0 : k*g.w+x1] {
				if v {
					return true
				}
			}
			return false
		}
		for j := y0; j < y1; j++ {
			if m[j*g.w+k] {
				return true
			}
		}
		return false
	}
	// first returns the first marked line from edge e, inwards, between
	// lo and hi (exclusive). With island, it returns instead the first
	// marked line after the widest gap within islandShare of the first
	// marks, when there is one: a caption of several lines has gaps
	// between its lines too, narrower than the one to the picture.
	first := func(e edge, lo, hi int, island bool) int {
		dir, k := 1, lo
		if e == bottom || e == right {
			dir, k = -1, hi-1
		}
		n := hi - lo
		gapMin := max(2, int(gapShare*float64(n)+0.5))
		limit := int(islandShare * float64(n))
		found, kFound, gap := -1, -1, 0
		best, kBest := 0, -1
		for i := 0; i < n; i, k = i+1, k+dir {
			if !marked(e, k) {
				gap++
				continue
			}
			if found < 0 {
				if !island {
					return k
				}
				found, kFound, gap = i, k, 0
				continue
			}
			if i-found-gap > limit {
				break
			}
			if gap >= gapMin && gap >= best {
				best, kBest = gap, k
			}
			gap = 0
		}
		if kBest >= 0 {
			return kBest
		}
		return kFound
	}
	for _, e := range []edge{top, bottom, left, right} {
		if !sides[e].ok {
			continue
		}
		island := (e == top && skip[0]) || (e == bottom && skip[1])
		switch e {
		case top:
			if k := first(e, y0, y1, island); k >= 0 {
				y0 = k
			}
		case bottom:
			if k := first(e, y0, y1, island); k >= 0 {
				y1 = k + 1
			}
		case left:
			if k := first(e, x0, x1, false); k >= 0 {
				x0 = k
			}
		default:
			if k := first(e, x0, x1, false); k >= 0 {
				x1 = k + 1
			}
		}
		if y0 >= y1 || x0 >= x1 {
			return image.Rectangle{}, false
		}
	}
	// To the pixel: each peeled edge moves out from its first marked
	// sample line while the pixel line beyond it is still marked.
	r := image.Rect(g.pos(x0), g.pos(y0), g.pos(x1-1)+1, g.pos(y1-1)+1)
	if x0 == 0 && (!sides[left].ok || g.pos(0) == 0) {
		r.Min.X = 0
	}
	if y0 == 0 && (!sides[top].ok || g.pos(0) == 0) {
		r.Min.Y = 0
	}
	if x1 == g.w && !sides[right].ok {
		r.Max.X = width
	}
	if y1 == g.h && !sides[bottom].ok {
		r.Max.Y = height
	}
	pixelMarked := func(e edge, x0, y0, x1, y1 int) bool {
		t := g.distFrom(sides[e].c)
		for y := y0; y < y1; y++ {
			for x := x0; x < x1; x++ {
				v, u, w := g.pixel(g.min.X+x, g.min.Y+y)
				if max(t.d[0][v], t.d[1][u], t.d[2][w]) > edgeTolerance {
					return true
				}
			}
		}
		return false
	}
	if sides[top].ok {
		for lo := g.lo(y0); r.Min.Y > lo && pixelMarked(top, r.Min.X, r.Min.Y-1, r.Max.X, r.Min.Y); {
			r.Min.Y--
		}
	}
	if sides[bottom].ok {
		for hi := g.hi(y1-1, g.h, height); r.Max.Y < hi && pixelMarked(bottom, r.Min.X, r.Max.Y, r.Max.X, r.Max.Y+1); {
			r.Max.Y++
		}
	}
	if sides[left].ok {
		for lo := g.lo(x0); r.Min.X > lo && pixelMarked(left, r.Min.X-1, r.Min.Y, r.Min.X, r.Max.Y); {
			r.Min.X--
		}
	}
	if sides[right].ok {
		for hi := g.hi(x1-1, g.w, width); r.Max.X < hi && pixelMarked(right, r.Max.X, r.Min.Y, r.Max.X+1, r.Max.Y); {
			r.Max.X++
		}
	}
	return r.Add(g.min), true
}

// lo is the first pixel after grid sample i-1 (0 for the first sample).
func (g *grid) lo(i int) int {
	if i == 0 {
		return 0
	}
	return g.pos(i-1) + 1
}

// hi is the pixel just before grid sample i+1 (the image's extent past the
// last sample; n is the number of samples, size the pixels they cover).
func (g *grid) hi(i, n, size int) int {
	if i == n-1 {
		return size
	}
	return g.pos(i + 1)
}
