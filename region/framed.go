package region

import (
	"cmp"
	"image"
	"math"
	"slices"
)

// Finding pictures framed inside a larger image.
//
// A screenshot shows the picture among an app's bars, text and icons; a
// collage shows it beside other pictures; a slide or a post shows it on a
// plain ground. What all of them keep is the picture's outline: four
// straight edges meeting at right angles, each running the picture's whole
// side, which content inside a picture rarely has. framedBoxes finds such
// rectangles on the sampling grid and refines each side to the pixel.
//
// A grid line boundary is an edge sample where the colours on its two sides
// differ by more than frameTolerance (the colour distance of region.go: a
// white picture on an app's light grey ground differs by 19). A rectangle
// is framed when every side is an edge over at least frameCover of its
// length, or lies on the image's border (a cell of a collage); the whole
// image is not a framed rectangle.
const (
	// frameTolerance is the least colour difference across an edge.
	frameTolerance = 10
	// frameCover is the least share of a side that must be edge.
	frameCover = 0.9
	// frameAside and frameContrast: a side's mean colour change must be
	// frameContrast times that of the quieter of the lines frameAside
	// samples before and after it.
	frameAside    = 2
	frameContrast = 2
	// frameMinSide is the smallest side of a framed rectangle, as a share
	// of the image's side.
	frameMinSide = 0.2
	// frameMaxLines bounds the candidate lines per axis: those with the
	// longest runs of edge.
	frameMaxLines = 48
	// frameMaxFound bounds the rectangles considered: a grid of lines (a
	// spreadsheet, graph paper) frames every combination of them.
	frameMaxFound = 4096
	// frameMax is the most framed rectangles returned, largest first.
	frameMax = 4
)

// framedBoxes returns the largest framed rectangles of img, in img's
// coordinates.
func framedBoxes(img image.Image) []image.Rectangle {
	b := img.Bounds()
	if b.Dx() < 2*minSide || b.Dy() < 2*minSide {
		return nil
	}
	g := newGrid(img)
	// h[j*w+i]: edge between samples (i, j-1) and (i, j); v[j*w+i]: edge
	// between (i-1, j) and (i, j). hsum and vsum are prefix sums along the
	// edge's own line.
	w, ht := g.w, g.h
	hsum := make([]int32, (w+1)*ht)
	vsum := make([]int32, w*(ht+1))
	hdiff := make([]int32, (w+1)*ht)
	vdiff := make([]int32, w*(ht+1))
	diff := func(a, c int) int32 {
		return int32(max(absDiff(int(g.planes[0][a]), int(g.planes[0][c])),
			absDiff(int(g.planes[1][a]), int(g.planes[1][c]))/2,
			absDiff(int(g.planes[2][a]), int(g.planes[2][c]))/2))
	}
	edge := func(d int32) int32 {
		if d > frameTolerance {
			return 1
		}
		return 0
	}
	// rowRun[j] and colRun[i] are the longest runs of edge samples along
	// each boundary line.
	rowRun, colRun := make([]int, ht), make([]int, w)
	for j := 1; j < ht; j++ {
		run := 0
		for i := range w {
			d := diff(j*w+i, (j-1)*w+i)
			o := j*(w+1) + i
			e := edge(d)
			hsum[o+1], hdiff[o+1] = hsum[o]+e, hdiff[o]+d
			run = (run + 1) * int(e)
			rowRun[j] = max(rowRun[j], run)
		}
	}
	for i := 1; i < w; i++ {
		run := 0
		for j := range ht {
			d := diff(j*w+i, j*w+i-1)
			o := i*(ht+1) + j
			e := edge(d)
			vsum[o+1], vdiff[o+1] = vsum[o]+e, vdiff[o]+d
			run = (run + 1) * int(e)
			colRun[i] = max(colRun[i], run)
		}
	}
	// rowCover is the edge share of boundary row j over columns i0..i1-1;
	// the image's top and bottom count as edge throughout.
	rowCover := func(j, i0, i1 int) float64 {
		if j == 0 || j == ht {
			return 1
		}
		return float64(hsum[j*(w+1)+i1]-hsum[j*(w+1)+i0]) / float64(i1-i0)
	}
	colCover := func(i, j0, j1 int) float64 {
		if i == 0 || i == w {
			return 1
		}
		return float64(vsum[i*(ht+1)+j1]-vsum[i*(ht+1)+j0]) / float64(j1-j0)
	}
	// stands reports whether each side of the rectangle stands out from
	// the lines frameAside samples to either side of it: its mean colour
	// change is frameContrast times that of the quieter of the two. A
	// picture's outline against a flat ground or another picture does; in
	// texture or noise, where every line is edge nearly everywhere, a line
	// is like its neighbours and no rectangle is believed.
	stands := func(jt, jb, il, ir int) bool {
		mean := func(sum []int32, stride, k, a, b int) float64 {
			return float64(sum[k*stride+b]-sum[k*stride+a]) / float64(b-a)
		}
		side := func(sum []int32, stride, n, k, a, b int) bool {
			if k == 0 || k == n {
				return true
			}
			quiet := math.Inf(1)
			if k-frameAside > 0 {
				quiet = mean(sum, stride, k-frameAside, a, b)
			}
			if k+frameAside < n {
				quiet = min(quiet, mean(sum, stride, k+frameAside, a, b))
			}
			if math.IsInf(quiet, 1) {
				quiet = 0 // a line too near both borders to compare
			}
			return mean(sum, stride, k, a, b) >= frameContrast*quiet
		}
		return side(hdiff, w+1, ht, jt, il, ir) && side(hdiff, w+1, ht, jb, il, ir) &&
			side(vdiff, ht+1, w, il, jt, jb) && side(vdiff, ht+1, w, ir, jt, jb)
	}
	minW, minH := max(2, int(frameMinSide*float64(w))), max(2, int(frameMinSide*float64(ht)))
	rows := candidateLines(rowRun, minW)
	cols := candidateLines(colRun, minH)
	type rect struct {
		x0, y0, x1, y1 int
		cover          float64
	}
	var found []rect
	sides := make([]int, 0, len(cols)) // the columns that can be sides between jt and jb
	for a, jt := range rows {
		for _, jb := range rows[a+1:] {
			if jb-jt < minH || jt == 0 && jb == ht {
				continue // a strip across the image is a bar's business
			}
			sides = sides[:0]
			for _, i := range cols {
				if colCover(i, jt, jb) >= frameCover {
					sides = append(sides, i)
				}
			}
			for c, il := range sides {
				for _, ir := range sides[c+1:] {
					if ir-il < minW || il == 0 && ir == w || len(found) == frameMaxFound {
						continue
					}
					cover := min(rowCover(jt, il, ir), rowCover(jb, il, ir), colCover(il, jt, jb), colCover(ir, jt, jb))
					if cover >= frameCover && stands(jt, jb, il, ir) {
						found = append(found, rect{il, jt, ir, jb, cover})
					}
				}
			}
		}
	}
	// The best outlined first: a side that runs on past the picture's
	// corner to a bar's edge still covers most of its length, but less.
	slices.SortFunc(found, func(p, q rect) int {
		if d := cmp.Compare(q.cover, p.cover); d != 0 {
			return d
		}
		return (q.x1-q.x0)*(q.y1-q.y0) - (p.x1-p.x0)*(p.y1-p.y0)
	})
	var kept []image.Rectangle // in grid samples
	overlaps := func(r image.Rectangle) bool {
		return slices.ContainsFunc(kept, func(k image.Rectangle) bool {
			in := k.Intersect(r)
			return 2*in.Dx()*in.Dy() > min(k.Dx()*k.Dy(), r.Dx()*r.Dy())
		})
	}
	var out []image.Rectangle
	for _, f := range found {
		if gr := image.Rect(f.x0, f.y0, f.x1, f.y1); overlaps(gr) {
			continue
		} else {
			kept = append(kept, gr)
		}
		r := image.Rect(
			g.refineFrame(left, f.x0, f.y0, f.y1, b.Dx()),
			g.refineFrame(top, f.y0, f.x0, f.x1, b.Dy()),
			g.refineFrame(right, f.x1, f.y0, f.y1, b.Dx()),
			g.refineFrame(bottom, f.y1, f.x0, f.x1, b.Dy()),
		).Add(b.Min)
		if r.Dx() < minSide || r.Dy() < minSide || float64(r.Dx()*r.Dy()) >= minRegionShare*float64(b.Dx()*b.Dy()) || slices.ContainsFunc(out, func(o image.Rectangle) bool { return near(o, r, g.step) }) {
			continue
		}
		out = append(out, r)
		if len(out) == frameMax {
			break
		}
	}
	return out
}

// candidateLines returns the boundary lines 0..n (0 and n = len(runs) are
// the image's borders) whose longest run of edge samples, runs[k], is at
// least minRun, keeping the frameMaxLines with the longest runs, in order.
func candidateLines(runs []int, minRun int) []int {
	type cand struct{ k, run int }
	var cs []cand
	for k := 1; k < len(runs); k++ {
		if runs[k] >= minRun {
			cs = append(cs, cand{k, runs[k]})
		}
	}
	if len(cs) > frameMaxLines {
		slices.SortFunc(cs, func(a, b cand) int { return b.run - a.run })
		cs = cs[:frameMaxLines]
	}
	out := []int{0, len(runs)}
	for _, c := range cs {
		out = append(out, c.k)
	}
	slices.Sort(out)
	return out
}

// refineFrame returns the pixel position of the framed side at grid
// boundary k of edge e (between samples k-1 and k), spanning samples
// s0..s1-1 along it: the pixel boundary between the two samples across
// which the colour changes most. The image's borders map to 0 and size.
func (g *grid) refineFrame(e edge, k, s0, s1, size int) int {
	n := g.h
	if e == left || e == right {
		n = g.w
	}
	if k == 0 {
		return 0
	}
	if k == n {
		return size
	}
	best, at := -1, g.pos(k)
	for p := g.pos(k-1) + 1; p <= g.pos(k); p++ {
		sum := 0
		for s := s0; s < s1; s++ {
			a := g.pos(s)
			var y0, u0, v0, y1, u1, v1 uint8
			if e == top || e == bottom {
				y0, u0, v0 = g.pixel(g.min.X+a, g.min.Y+p-1)
				y1, u1, v1 = g.pixel(g.min.X+a, g.min.Y+p)
			} else {
				y0, u0, v0 = g.pixel(g.min.X+p-1, g.min.Y+a)
				y1, u1, v1 = g.pixel(g.min.X+p, g.min.Y+a)
			}
			sum += max(absDiff(int(y0), int(y1)), absDiff(int(u0), int(u1))/2, absDiff(int(v0), int(v1))/2)
		}
		if sum > best {
			best, at = sum, p
		}
	}
	return at
}

// near reports whether two rectangles are the same within d pixels on
// every side.
func near(a, b image.Rectangle, d int) bool {
	return absDiff(a.Min.X, b.Min.X) <= d && absDiff(a.Min.Y, b.Min.Y) <= d &&
		absDiff(a.Max.X, b.Max.X) <= d && absDiff(a.Max.Y, b.Max.Y) <= d
}
