package pdq

import (
	"fmt"
	"math"
	"slices"
)

// MinDim is the smallest width or height the reference hashes; smaller
// images get the zero hash and quality 0, as there.
const MinDim = 5

// The PDQ pipeline downsamples to a fixed grid and keeps the lowest
// frequencies of its DCT, minus the DC row and column.
const (
	gridSize = 64 // side of the downsampled image
	dctSize  = 16 // side of the kept block of DCT coefficients
	// jaroszPasses is the number of box-filter passes per axis: two box
	// filters make a tent filter, as the reference does.
	jaroszPasses = 2
)

// Luma weights, the 'Y' of YUV, as float32 exactly as the reference holds them.
const (
	lumaR float32 = 0.299
	lumaG float32 = 0.587
	lumaB float32 = 0.114
)

// dctMatrix holds rows 1..16 of the 64-point DCT-II basis, row-major
// (dctSize rows of gridSize columns), computed in float64 and rounded to
// float32 as the reference does.
var dctMatrix = func() [dctSize * gridSize]float32 {
	var m [dctSize * gridSize]float32
	scale := float64(float32(math.Sqrt(2.0 / gridSize)))
	for i := range dctSize {
		for j := range gridSize {
			m[i*gridSize+j] = float32(scale * math.Cos((math.Pi/2.0/gridSize)*float64(i+1)*float64(2*j+1)))
		}
	}
	return m
}()

// Result is the outcome of hashing one image.
type Result struct {
	// Hash is the PDQ hash of the image as given.
	Hash Hash
	// Quality is the reference's 0-100 gradient-energy score. Hashes of
	// quality below 50 are unreliable for matching.
	Quality int
}

// DihedralResult holds the hashes of all eight dihedral variants of an image,
// indexed by Dihedral, and the quality (which is the same for all of them).
type DihedralResult struct {
	Hashes  [NumDihedral]Hash
	Quality int
}

// HashLuma hashes a width x height image given as row-major luminance
// values (0-255 scale), the reference's "from float luma" entry point.
// luma is not modified.
func HashLuma(luma []float32, width, height int) (Result, error) {
	return fromLuma(luma, width, height, hashLuma)
}

// hashLuma is HashLuma on a checked buffer that it may overwrite, with tmp
// (as long) as the filter's scratch.
func hashLuma(work, tmp []float32, width, height int) Result {
	if width < MinDim || height < MinDim {
		return Result{}
	}
	var grid [gridSize * gridSize]float32
	if width == gridSize && height == gridSize {
		// The reference takes a 64x64 input as already downsampled (as
		// when ffmpeg scaled a video frame) and skips the filter.
		copy(grid[:], work)
	} else {
		downsample(work, tmp, width, height, &grid)
	}
	var coef [dctSize * dctSize]float32
	q := quality(&grid)
	dct(&grid, &coef)
	return Result{Hash: toBits(&coef), Quality: q}
}

// DihedralLuma is HashLuma for all eight dihedral variants at once: the
// variants are derived from the one DCT by sign changes and transposes.
func DihedralLuma(luma []float32, width, height int) (DihedralResult, error) {
	return fromLuma(luma, width, height, dihedralLuma)
}

// dihedralLuma is DihedralLuma on a checked buffer that it may overwrite,
// with tmp (as long) as the filter's scratch.
func dihedralLuma(work, tmp []float32, width, height int) DihedralResult {
	if width < MinDim || height < MinDim {
		return DihedralResult{}
	}
	// Unlike HashLuma, the reference's dihedral entry point filters 64x64
	// input too; follow it so that both agree with their reference.
	var grid [gridSize * gridSize]float32
	downsample(work, tmp, width, height, &grid)
	var coef, aux [dctSize * dctSize]float32
	res := DihedralResult{Quality: quality(&grid)}
	dct(&grid, &coef)
	for d := range Dihedral(NumDihedral) {
		transform(d, &coef, &aux)
		res.Hashes[d] = toBits(&aux)
	}
	return res
}

// checkLuma rejects buffers that do not hold width x height values.
func checkLuma(luma []float32, width, height int) error {
	if width < 0 || height < 0 {
		return fmt.Errorf("pdq: negative dimensions %dx%d", width, height)
	}
	if width != 0 && height > math.MaxInt/width || len(luma) != width*height {
		return fmt.Errorf("pdq: luma buffer has %d values, want %dx%d", len(luma), width, height)
	}
	return nil
}

// downsample blurs buf (width x height, row-major) in place with the
// two-pass Jarosz tent filter, using tmp as scratch, and samples it at the
// centres of a 64x64 grid.
func downsample(buf, tmp []float32, width, height int, grid *[gridSize * gridSize]float32) {
	winX := windowSize(width)
	winY := windowSize(height)
	var rows, cols [gridSize]int
	for i := range gridSize {
		rows[i] = int((float64(i) + 0.5) * float64(height) / gridSize)
		cols[i] = int((float64(i) + 0.5) * float64(width) / gridSize)
	}
	for pass := range jaroszPasses {
		if pass < jaroszPasses-1 {
			boxRows(buf, tmp, width, height, winX, nil)
			boxCols(tmp, buf, width, height, winY)
			continue
		}
		// The last pass is needed only where the grid samples it: along
		// the rows, at the 64 sampled columns; down those columns, at the
		// 64 sampled rows. Each value computed is the one the whole pass
		// computes, to the bit.
		boxRows(buf, tmp, width, height, winX, &cols)
		sampleCols(tmp, width, height, winY, &rows, &cols, grid)
	}
}

// boxRows runs boxRow along every row of in (width x height) into out,
// four rows at a time: their running sums are independent, and one loop
// over four of them keeps the processor's adders busy where a single sum,
// each step waiting on the last, does not. Each row gets the same float32
// operations in the same order as boxRow's. With at set, only the columns
// it lists (in increasing order) are written, which saves the divisions of
// the others.
func boxRows(in, out []float32, width, height, win int, at *[gridSize]int) {
	var stops [gridSize + 1]int
	if at != nil {
		copy(stops[:], at[:])
		stops[gridSize] = -1
	}
	r := 0
	for ; r+4 <= height; r += 4 {
		if at == nil {
			boxRow4(in[r*width:(r+4)*width], out[r*width:(r+4)*width], width, win)
		} else {
			boxRow4At(in[r*width:(r+4)*width], out[r*width:(r+4)*width], width, win, &stops)
		}
	}
	for ; r < height; r++ {
		boxRow(in[r*width:(r+1)*width], out[r*width:(r+1)*width], win)
	}
}

// boxRow4 is boxRow on four consecutive rows of width values.
func boxRow4(in, out []float32, width, win int) {
	a, b, c, d := in[:width:width], in[width:2*width:2*width], in[2*width:3*width:3*width], in[3*width:4*width:4*width]
	oa, ob, oc, od := out[:width:width], out[width:2*width:2*width], out[2*width:3*width:3*width], out[3*width:4*width:4*width]
	lead, grow, full, shrink := boxPhases(width, win)
	var sa, sb, sc, sd float32
	count := 0
	ri, li, oi := 0, 0, 0
	for range lead {
		sa += a[ri]
		sb += b[ri]
		sc += c[ri]
		sd += d[ri]
		ri++
		count++
	}
	for range grow {
		sa += a[ri]
		sb += b[ri]
		sc += c[ri]
		sd += d[ri]
		ri++
		count++
		n := float32(count)
		oa[oi], ob[oi], oc[oi], od[oi] = sa/n, sb/n, sc/n, sd/n
		oi++
	}
	n := float32(count)
	for range full {
		sa += a[ri]
		sb += b[ri]
		sc += c[ri]
		sd += d[ri]
		sa -= a[li]
		sb -= b[li]
		sc -= c[li]
		sd -= d[li]
		ri++
		li++
		oa[oi], ob[oi], oc[oi], od[oi] = sa/n, sb/n, sc/n, sd/n
		oi++
	}
	for range shrink {
		sa -= a[li]
		sb -= b[li]
		sc -= c[li]
		sd -= d[li]
		li++
		count--
		n := float32(count)
		oa[oi], ob[oi], oc[oi], od[oi] = sa/n, sb/n, sc/n, sd/n
		oi++
	}
}

// boxRow4At is boxRow4 writing only the columns listed in stops, in
// increasing order and ended by -1 (a column may be listed twice).
func boxRow4At(in, out []float32, width, win int, stops *[gridSize + 1]int) {
	a, b, c, d := in[:width:width], in[width:2*width:2*width], in[2*width:3*width:3*width], in[3*width:4*width:4*width]
	oa, ob, oc, od := out[:width:width], out[width:2*width:2*width], out[2*width:3*width:3*width], out[3*width:4*width:4*width]
	lead, grow, full, shrink := boxPhases(width, win)
	var sa, sb, sc, sd float32
	count := 0
	ri, li, oi := 0, 0, 0
	next := 0
	want := stops[0]
	for range lead {
		sa += a[ri]
		sb += b[ri]
		sc += c[ri]
		sd += d[ri]
		ri++
		count++
	}
	for range grow {
		sa += a[ri]
		sb += b[ri]
		sc += c[ri]
		sd += d[ri]
		ri++
		count++
		if oi == want {
			n := float32(count)
			oa[oi], ob[oi], oc[oi], od[oi] = sa/n, sb/n, sc/n, sd/n
			for want == oi && next < gridSize {
				next++
				want = stops[next]
			}
		}
		oi++
	}
	for range full {
		sa += a[ri]
		sb += b[ri]
		sc += c[ri]
		sd += d[ri]
		sa -= a[li]
		sb -= b[li]
		sc -= c[li]
		sd -= d[li]
		ri++
		li++
		if oi == want {
			n := float32(count)
			oa[oi], ob[oi], oc[oi], od[oi] = sa/n, sb/n, sc/n, sd/n
			for want == oi && next < gridSize {
				next++
				want = stops[next]
			}
		}
		oi++
	}
	for range shrink {
		sa -= a[li]
		sb -= b[li]
		sc -= c[li]
		sd -= d[li]
		li++
		count--
		if oi == want {
			n := float32(count)
			oa[oi], ob[oi], oc[oi], od[oi] = sa/n, sb/n, sc/n, sd/n
			for want == oi && next < gridSize {
				next++
				want = stops[next]
			}
		}
		oi++
	}
}

// sampleCols is boxCols of in (width x height) read only at the grid's
// rows and columns, into grid: the running sums of the 64 sampled
// columns alone, emitted at the 64 sampled rows.
func sampleCols(in []float32, width, height, win int, rows, cols *[gridSize]int, grid *[gridSize * gridSize]float32) {
	lead, grow, full, shrink := boxPhases(height, win)
	var sums [gridSize]float32
	count := 0
	ri, li, oi := 0, 0, 0
	next := 0 // the next grid row to emit
	add := func(row int) {
		src := in[row*width : (row+1)*width]
		for j, c := range cols {
			sums[j] += src[c]
		}
	}
	sub := func(row int) {
		src := in[row*width : (row+1)*width]
		for j, c := range cols {
			sums[j] -= src[c]
		}
	}
	emit := func(row int) {
		// Several grid rows fall on one image row when the image is
		// under 64 rows high.
		n := float32(count)
		for next < gridSize && rows[next] == row {
			dst := grid[next*gridSize : (next+1)*gridSize]
			for j, s := range sums {
				dst[j] = s / n
			}
			next++
		}
	}
	for range lead {
		add(ri)
		ri++
		count++
	}
	for range grow {
		add(ri)
		ri++
		count++
		emit(oi)
		oi++
	}
	for range full {
		add(ri)
		sub(li)
		ri++
		li++
		emit(oi)
		oi++
	}
	for range shrink {
		sub(li)
		li++
		count--
		emit(oi)
		oi++
	}
}

// windowSize is the box filter's width along an axis of n pixels: half of
// what maps to one grid cell, rounded up, since two passes are made.
func windowSize(n int) int {
	return (n + 2*gridSize - 1) / (2 * gridSize)
}

// boxPhases splits a box filter of width win over n values into the
// reference's four phases: accumulate without output (lead), output while
// the window grows (grow), output with a full window (full), output while
// the window shrinks (shrink). The window is centred, leaning right when
// win is even.
func boxPhases(n, win int) (lead, grow, full, shrink int) {
	half := (win + 2) / 2
	return half - 1, win - half + 1, n - win, half - 1
}

// boxRow is a 1-D box filter of width win from in to out. The order of
// float32 operations is the reference's, which bit-exactness requires.
func boxRow(in, out []float32, win int) {
	lead, grow, full, shrink := boxPhases(len(in), win)
	var sum float32
	count := 0
	ri, li, oi := 0, 0, 0
	for range lead {
		sum += in[ri]
		ri++
		count++
	}
	for range grow {
		sum += in[ri]
		ri++
		count++
		out[oi] = sum / float32(count)
		oi++
	}
	for range full {
		sum += in[ri]
		sum -= in[li]
		ri++
		li++
		out[oi] = sum / float32(count)
		oi++
	}
	for range shrink {
		sum -= in[li]
		li++
		count--
		out[oi] = sum / float32(count)
		oi++
	}
}

// boxCols runs boxRow down every column of in (width x height) into out.
// It sweeps whole rows at a time with one running sum per column, which
// does the same float32 operations per column in the same order as a
// column-at-a-time filter but reads memory sequentially.
func boxCols(in, out []float32, width, height, win int) {
	lead, grow, full, shrink := boxPhases(height, win)
	sums := make([]float32, width)
	count := 0
	ri, li, oi := 0, 0, 0
	add := func(row int) {
		src := in[row*width : (row+1)*width]
		for c, v := range src {
			sums[c] += v
		}
	}
	sub := func(row int) {
		src := in[row*width : (row+1)*width]
		for c, v := range src {
			sums[c] -= v
		}
	}
	emit := func(row int) {
		dst := out[row*width : (row+1)*width]
		n := float32(count)
		for c, s := range sums {
			dst[c] = s / n
		}
	}
	for range lead {
		add(ri)
		ri++
		count++
	}
	for range grow {
		add(ri)
		ri++
		count++
		emit(oi)
		oi++
	}
	for range full {
		add(ri)
		sub(li)
		ri++
		li++
		emit(oi)
		oi++
	}
	for range shrink {
		sub(li)
		li++
		count--
		emit(oi)
		oi++
	}
}

// quality is the reference's heuristic: the sum of quantised absolute
// gradients of the 64x64 grid, scaled to at most 100.
func quality(grid *[gridSize * gridSize]float32) int {
	sum := 0
	step := func(u, v float32) {
		d := int((u - v) * 100 / 255)
		if d < 0 {
			d = -d
		}
		sum += d
	}
	for i := range gridSize - 1 {
		for j := range gridSize {
			step(grid[i*gridSize+j], grid[(i+1)*gridSize+j])
		}
	}
	for i := range gridSize {
		for j := range gridSize - 1 {
			step(grid[i*gridSize+j], grid[i*gridSize+j+1])
		}
	}
	return min(sum/90, 100)
}

// dct computes coef = D * grid * D^T for the 16 lowest non-DC frequencies,
// summing in the reference's order. The float32 conversions keep each
// product rounded on its own, so no platform fuses multiply and add.
func dct(grid *[gridSize * gridSize]float32, coef *[dctSize * dctSize]float32) {
	var t [dctSize * gridSize]float32
	for i := range dctSize {
		row := dctMatrix[i*gridSize : (i+1)*gridSize]
		for j := range gridSize {
			var s float32
			for k, d := range row {
				s += float32(d * grid[k*gridSize+j])
			}
			t[i*gridSize+j] = s
		}
	}
	for i := range dctSize {
		trow := t[i*gridSize : (i+1)*gridSize]
		for j := range dctSize {
			drow := dctMatrix[j*gridSize : (j+1)*gridSize]
			var s float32
			for k, v := range trow {
				s += float32(v * drow[k])
			}
			coef[i*dctSize+j] = s
		}
	}
}

// transform writes into b the DCT block of the variant d of the image
// whose DCT block is a. Mirroring an axis negates that axis's odd-index
// basis functions (numbered from 1 here, so the even indexes of the block);
// rotations and diagonal flips also transpose.
func transform(d Dihedral, a, b *[dctSize * dctSize]float32) {
	for i := range dctSize {
		for j := range dctSize {
			v := a[i*dctSize+j]
			iEven, jEven := i%2 == 0, j%2 == 0
			var neg, transpose bool
			switch d {
			case Original:
			case Rotate90:
				neg, transpose = jEven, true
			case Rotate180:
				neg = iEven != jEven
			case Rotate270:
				neg, transpose = iEven, true
			case FlipX:
				neg = iEven
			case FlipY:
				neg = jEven
			case FlipPlus1:
				transpose = true
			case FlipMinus1:
				neg, transpose = iEven != jEven, true
			}
			if neg {
				v = -v
			}
			if transpose {
				b[j*dctSize+i] = v
			} else {
				b[i*dctSize+j] = v
			}
		}
	}
}

// toBits sets bit 16*i+j of the hash where coefficient (i, j) exceeds the
// median of the block. The median is the lower one (element 127 of 256 in
// sorted order), which is what the reference's Torben median returns.
func toBits(coef *[dctSize * dctSize]float32) Hash {
	sorted := *coef
	slices.Sort(sorted[:])
	median := sorted[len(sorted)/2-1]
	var h Hash
	for k, v := range coef {
		if v > median {
			h.setBit(k)
		}
	}
	return h
}
