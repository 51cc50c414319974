// Package keypoint finds an image inside a crop of it, or a crop inside
// the image, by local features: corners found at several scales, each
// described by a 256-bit binary descriptor of the patch around it, and
// matched under one consistent scale and shift.
//
// Whole-image hashes cannot do this. PDQ moves by about 32 bits when the
// picture shifts by 1% of its side, so a crop of 15% (7.5% off each edge)
// leaves nothing of it; a corner and its patch move with the picture and
// keep their descriptor.
//
// Detect picks the strongest Harris corners of the image brought down to
// baseSide on its long side, at levels levelStep apart in scale, so that a
// crop blown back up to the original size still meets its corners at a
// level near theirs. The descriptor compares the smoothed brightness of
// 256 fixed pairs of points in the patch (BRIEF): no orientation, since
// crops keep it. Positions are fractions of the image's long side.
//
// Verify pairs each query point with its nearest point of the entry within
// MaxDistance, keeps a pair only when that nearest is clearly nearer than
// the second (RatioTest) and the entry point is not taken, then finds the
// scale and shift that the most pairs agree on (within InlierRadius). Two
// unrelated images rarely agree on more than one or two pairs; a crop
// agrees on tens.
package keypoint

import (
	"cmp"
	"image"
	"math"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"

	"github.com/disintegration/imaging"
)

// Point is one keypoint: where it is, as fractions of the image's long
// side, the pyramid level it was found at, and its descriptor.
type Point struct {
	X, Y  float32
	Level uint8
	D     [4]uint64
}

// Key is the point's 64-bit search key: a quarter of its descriptor's
// bits (the comparisons are independent, so any quarter serves).
func (p *Point) Key() uint64 { return p.D[0] }

// Distance is the Hamming distance between two descriptors.
func Distance(a, b *Point) int {
	return bits.OnesCount64(a.D[0]^b.D[0]) + bits.OnesCount64(a.D[1]^b.D[1]) +
		bits.OnesCount64(a.D[2]^b.D[2]) + bits.OnesCount64(a.D[3]^b.D[3])
}

const (
	// baseSide is the long side the image is resized to before detection.
	baseSide = 512
	// levels and levelStep: the pyramid. A crop of 15% resized back to the
	// original size is 1.18 times larger, about one step.
	levels    = 6
	levelStep = 1.19
	// patchRadius is the half-side of the described patch, in level pixels.
	patchRadius = 15
	// smoothRadius is the box filter applied before description and
	// gradients (twice over, close to a Gaussian).
	smoothRadius = 2
	// nms is the half-side of the window a corner must be the maximum of.
	nms = 3
	// minResponse is the least Harris response kept: flat areas and
	// faint texture have none worth describing.
	minResponse = 50
)

// Defaults for the number of points kept: a stored image keeps fewer than
// a query computes, since a crop's strongest corners need not be among
// the image's strongest.
const (
	StoredPoints = 32
	QueryPoints  = 48
)

// pairs are the BRIEF comparison pairs, fixed for all time: stored
// descriptors depend on them.
var pairs = func() [256][4]int8 {
	r := rand.New(rand.NewPCG(0x6b657970, 0x6f696e74))
	var p [256][4]int8
	for i := range p {
		for k := range 4 {
			for {
				v := math.Round(r.NormFloat64() * patchRadius / 2.2)
				if v >= -patchRadius && v <= patchRadius {
					p[i][k] = int8(v)
					break
				}
			}
		}
	}
	return p
}()

// plane is a grey image as float32 values.
type plane struct {
	w, h int
	p    []float32
}

// Detect returns up to limit keypoints of img, strongest first.
func Detect(img image.Image, limit int) []Point {
	pts, _ := detect(img, limit, false)
	return pts
}

// DetectMirrored returns Detect's keypoints of img and of its mirror image
// (left and right swapped), from one scaling of img: the mirror image's
// are those of the scaled image's mirror, which Detect of a mirrored copy
// finds to within the rounding of the scaling.
func DetectMirrored(img image.Image, limit int) (pts, mirrored []Point) {
	return detect(img, limit, true)
}

func detect(img image.Image, limit int, mirror bool) (pts, mirrored []Point) {
	b := img.Bounds()
	long := max(b.Dx(), b.Dy())
	if b.Dx() < 8 || b.Dy() < 8 {
		return nil, nil
	}
	// Larger images are brought down to baseSide; smaller ones are not
	// blown up (that only blurs their corners): the pyramid spans the
	// difference for an image matched against a larger copy of itself.
	scale := min(1, float64(baseSide)/float64(long))
	w, h := int(float64(b.Dx())*scale+0.5), int(float64(b.Dy())*scale+0.5)
	if w < 4*patchRadius || h < 4*patchRadius {
		return nil, nil // too thin to hold a patch
	}
	ws := workspaces.Get().(*workspace)
	defer workspaces.Put(ws)
	ws.size(w, h)
	var base plane
	if scale < 1 {
		base = grey(imaging.Resize(img, w, h, imaging.Linear), ws.lv[0])
	} else {
		base = grey(imaging.Clone(img), ws.lv[0])
	}
	var flipped plane
	if mirror {
		// Kept apart: detecting overwrites the levels' planes.
		if cap(ws.mirror) < len(base.p) {
			ws.mirror = make([]float32, len(base.p))
		}
		flipped = plane{base.w, base.h, ws.mirror[:len(base.p)]}
		for y := range base.h {
			src, dst := base.p[y*base.w:(y+1)*base.w], flipped.p[y*base.w:(y+1)*base.w]
			for x, v := range src {
				dst[len(dst)-1-x] = v
			}
		}
	}
	pts = ws.detect(base, scale, long, limit)
	if mirror {
		mirrored = ws.detect(flipped, scale, long, limit)
	}
	return pts, mirrored
}

// detect finds the keypoints of base, the image scaled by scale (its long
// side long before), level by level.
func (ws *workspace) detect(base plane, scale float64, long, limit int) []Point {
	w, h := base.w, base.h
	type cand struct {
		p     Point
		score float32
	}
	// Only the strongest limit corners are kept, and those of the whole
	// pyramid are among the strongest limit of their level: each level's
	// are described (256 comparisons each), not every corner found.
	// Stable sorts keep ties in the order found, level by level.
	byScore := func(a, b cand) int { return cmp.Compare(b.score, a.score) }
	var all, level []cand
	lv := base
	for l := range levels {
		// Each level from the one before: a step of 1.19 needs no
		// prefilter for bilinear sampling to hold its detail.
		s := math.Pow(levelStep, -float64(l))
		if l > 0 {
			lv = resample(lv, int(float64(w)*s+0.5), int(float64(h)*s+0.5), ws.lv[l%2])
		}
		if lv.w < 4*patchRadius || lv.h < 4*patchRadius {
			break
		}
		// A level is a millisecond or more of filtering: let short calls
		// waiting for a core run between levels (see internal/yield).
		runtime.Gosched()
		sm := ws.blur(ws.blur(lv, smoothRadius, ws.sm1), smoothRadius, ws.sm)
		resp := ws.harris(sm)
		m := patchRadius + 1
		level = level[:0]
		for y := m; y < lv.h-m; y++ {
			row := resp.p[y*lv.w:]
			for x := m; x < lv.w-m; x++ {
				v := row[x]
				if v <= minResponse || !localMax(resp, x, y, v) {
					continue
				}
				// The level position until described.
				level = append(level, cand{Point{X: float32(x), Y: float32(y)}, v})
			}
		}
		slices.SortStableFunc(level, byScore)
		if len(level) > limit {
			level = level[:limit]
		}
		for _, c := range level {
			x, y := int(c.p.X), int(c.p.Y)
			pt := Point{
				X:     float32(float64(x) / (scale * s) / float64(long)),
				Y:     float32(float64(y) / (scale * s) / float64(long)),
				Level: uint8(l),
			}
			for i, pr := range pairs {
				a := sm.p[(y+int(pr[1]))*sm.w+x+int(pr[0])]
				c := sm.p[(y+int(pr[3]))*sm.w+x+int(pr[2])]
				if a < c {
					pt.D[i/64] |= 1 << (i % 64)
				}
			}
			all = append(all, cand{pt, c.score})
		}
	}
	slices.SortStableFunc(all, byScore)
	if len(all) > limit {
		all = all[:limit]
	}
	out := make([]Point, len(all))
	for i, c := range all {
		out[i] = c.p
	}
	return out
}

// workspace holds the planes of one detection, sized for its first level
// and reused by every level after it (each smaller): a detection at 512
// pixels a side would otherwise allocate about 30 MB, which the collector
// then spends as much time on as the filters.
type workspace struct {
	lv       [2][]float32 // a level and the next, in turn
	tmp, sum []float32    // a blur's row pass and its column sums
	sm1, sm  []float32    // the first smoothing and the second
	ixx      []float32    // gradient products, and then the response
	iyy, ixy []float32
	sxx, syy []float32 // the products summed over a box
	sxy      []float32
	mirror   []float32 // the base level mirrored, for DetectMirrored
}

// workspaces keeps workspaces between detections; each is a few MB.
var workspaces = sync.Pool{New: func() any { return new(workspace) }}

// size makes every plane of ws hold at least a w x h level.
func (ws *workspace) size(w, h int) {
	n := w * h
	for _, b := range []*[]float32{&ws.lv[0], &ws.lv[1], &ws.tmp, &ws.sm1, &ws.sm, &ws.ixx, &ws.iyy, &ws.ixy, &ws.sxx, &ws.syy, &ws.sxy} {
		if cap(*b) < n {
			*b = make([]float32, n)
		}
	}
	if cap(ws.sum) < w {
		ws.sum = make([]float32, w)
	}
}

// grey converts to luma (Y' of BT.601), into buf.
func grey(n *image.NRGBA, buf []float32) plane {
	b := n.Bounds()
	g := plane{b.Dx(), b.Dy(), buf[:b.Dx()*b.Dy()]}
	for y := range g.h {
		row := n.Pix[y*n.Stride:]
		for x := range g.w {
			o := 4 * x
			g.p[y*g.w+x] = 0.299*float32(row[o]) + 0.587*float32(row[o+1]) + 0.114*float32(row[o+2])
		}
	}
	return g
}

// resample scales a plane to w x h by bilinear interpolation, into buf.
func resample(src plane, w, h int, buf []float32) plane {
	out := plane{w, h, buf[:w*h]}
	sx, sy := float64(src.w)/float64(w), float64(src.h)/float64(h)
	// Every row samples the same columns: their sources and weights once.
	type col struct {
		x0, x1 int
		t      float32
	}
	cols := make([]col, w)
	for x := range cols {
		fx := (float64(x)+0.5)*sx - 0.5
		x0 := int(math.Floor(fx))
		cols[x] = col{clamp(x0, src.w), clamp(x0+1, src.w), float32(fx - float64(x0))}
	}
	for y := range h {
		fy := (float64(y)+0.5)*sy - 0.5
		y0 := int(math.Floor(fy))
		ty := float32(fy - float64(y0))
		y0c, y1c := clamp(y0, src.h), clamp(y0+1, src.h)
		for x, cx := range cols {
			x0c, x1c, tx := cx.x0, cx.x1, cx.t
			a := src.p[y0c*src.w+x0c]*(1-tx) + src.p[y0c*src.w+x1c]*tx
			c := src.p[y1c*src.w+x0c]*(1-tx) + src.p[y1c*src.w+x1c]*tx
			out.p[y*w+x] = a*(1-ty) + c*ty
		}
	}
	return out
}

func clamp(v, n int) int {
	if v < 0 {
		return 0
	}
	if v >= n {
		return n - 1
	}
	return v
}

// blur is a box filter of radius r, by running sums, with the window
// shrunk at the borders, into buf (not g's). The vertical pass runs along
// rows, a running sum per column, to read memory in order.
func (ws *workspace) blur(g plane, r int, buf []float32) plane {
	tmp := ws.tmp[:len(g.p)]
	for y := range g.h {
		boxLine(g.p[y*g.w:(y+1)*g.w], tmp[y*g.w:(y+1)*g.w], r)
	}
	out := plane{g.w, g.h, buf[:len(g.p)]}
	sum := ws.sum[:g.w]
	clear(sum)
	cnt := 0
	for y := 0; y < r && y < g.h; y++ {
		addRow(sum, tmp[y*g.w:(y+1)*g.w], 1)
		cnt++
	}
	for y := range g.h {
		if j := y + r; j < g.h {
			addRow(sum, tmp[j*g.w:(j+1)*g.w], 1)
			cnt++
		}
		if j := y - r - 1; j >= 0 {
			addRow(sum, tmp[j*g.w:(j+1)*g.w], -1)
			cnt--
		}
		inv := 1 / float32(cnt)
		dst := out.p[y*g.w : (y+1)*g.w]
		for x, v := range sum {
			dst[x] = v * inv
		}
	}
	return out
}

func addRow(sum, row []float32, sign float32) {
	row = row[:len(sum)]
	for i, v := range row {
		sum[i] += sign * v
	}
}

// boxLine filters one row.
func boxLine(src, dst []float32, r int) {
	n := len(src)
	var sum float32
	cnt := 0
	for i := 0; i < r && i < n; i++ {
		sum += src[i]
		cnt++
	}
	for i := range n {
		if j := i + r; j < n {
			sum += src[j]
			cnt++
		}
		if j := i - r - 1; j >= 0 {
			sum -= src[j]
			cnt--
		}
		dst[i] = sum / float32(cnt)
	}
}

// harris returns the Harris corner response (k = 0.04) of the structure
// tensor summed over a box of radius 2, in ws.ixx.
func (ws *workspace) harris(sm plane) plane {
	w, h := sm.w, sm.h
	ixx, iyy, ixy := ws.ixx[:w*h], ws.iyy[:w*h], ws.ixy[:w*h]
	// The border pixels have no gradient: zero, as the loop leaves them.
	clear(ixx)
	clear(iyy)
	clear(ixy)
	for y := 1; y < h-1; y++ {
		for x := 1; x < w-1; x++ {
			i := y*w + x
			gx := sm.p[i+1] - sm.p[i-1]
			gy := sm.p[i+w] - sm.p[i-w]
			ixx[i], iyy[i], ixy[i] = gx*gx, gy*gy, gx*gy
		}
	}
	sxx, syy, sxy := ws.blur(plane{w, h, ixx}, 2, ws.sxx), ws.blur(plane{w, h, iyy}, 2, ws.syy), ws.blur(plane{w, h, ixy}, 2, ws.sxy)
	out := plane{w, h, ixx} // reused
	for i := range out.p {
		a, c, b := sxx.p[i], syy.p[i], sxy.p[i]
		out.p[i] = a*c - b*b - 0.04*(a+c)*(a+c)
	}
	return out
}

// localMax reports whether v at (x, y) is above every other response in
// the window of half-side nms. The nearest ring is looked at first: most
// pixels that are not a maximum have a larger neighbour.
func localMax(r plane, x, y int, v float32) bool {
	if x > 0 && y > 0 && x < r.w-1 && y < r.h-1 {
		i := y*r.w + x
		if r.p[i-1] >= v || r.p[i+1] >= v ||
			r.p[i-r.w-1] >= v || r.p[i-r.w] >= v || r.p[i-r.w+1] >= v ||
			r.p[i+r.w-1] >= v || r.p[i+r.w] >= v || r.p[i+r.w+1] >= v {
			return false
		}
	}
	for dy := -nms; dy <= nms; dy++ {
		yy := y + dy
		if yy < 0 || yy >= r.h {
			continue
		}
		row := r.p[yy*r.w:]
		for dx := -nms; dx <= nms; dx++ {
			xx := x + dx
			if xx < 0 || xx >= r.w || (dx == 0 && dy == 0) {
				continue
			}
			if row[xx] >= v {
				return false
			}
		}
	}
	return true
}
