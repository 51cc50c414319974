package pdq

import (
	"errors"
	"image"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseHexRoundTrip(t *testing.T) {
	const s = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"
	h, err := ParseHex(s)
	if err != nil {
		t.Fatal(err)
	}
	if h.String() != s {
		t.Fatalf("round trip = %s, want %s", h, s)
	}
	up, err := ParseHex(strings.ToUpper(s))
	if err != nil || up != h {
		t.Fatalf("upper case: %v, %v", up, err)
	}
}

func TestParseHexRejects(t *testing.T) {
	for name, s := range map[string]string{
		"empty":     "",
		"short":     "d8f8",
		"long":      strings.Repeat("0", 65),
		"non-hex":   strings.Repeat("g", 64),
		"space":     " " + strings.Repeat("0", 63),
		"odd-utf8":  strings.Repeat("é", 32),
		"prefix-0x": "0x" + strings.Repeat("0", 62),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseHex(s); !errors.Is(err, ErrBadHex) {
				t.Fatalf("ParseHex(%q) error = %v, want ErrBadHex", s, err)
			}
		})
	}
}

func TestBitOrder(t *testing.T) {
	// Bit k has weight 2^k in the hex string read as a big-endian number.
	for _, tc := range []struct {
		bit  int
		want string
	}{
		{0, strings.Repeat("0", 63) + "1"},
		{4, strings.Repeat("0", 62) + "10"},
		{255, "8" + strings.Repeat("0", 63)},
		{16, strings.Repeat("0", 59) + "10000"},
	} {
		var h Hash
		h.setBit(tc.bit)
		if h.String() != tc.want || !h.bit(tc.bit) {
			t.Errorf("bit %d: %s, want %s", tc.bit, h, tc.want)
		}
	}
}

func TestDistance(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		var a, b Hash
		for i := range a {
			a[i], b[i] = byte(r.Uint32()), byte(r.Uint32())
		}
		want := 0
		for k := range Bits {
			if a.bit(k) != b.bit(k) {
				want++
			}
		}
		if got := Distance(a, b); got != want {
			t.Fatalf("Distance = %d, want %d", got, want)
		}
		if Distance(a, a) != 0 {
			t.Fatal("Distance(a, a) != 0")
		}
	}
	var zero, ones Hash
	for i := range ones {
		ones[i] = 0xff
	}
	if Distance(zero, ones) != Bits {
		t.Fatalf("Distance(zero, ones) = %d", Distance(zero, ones))
	}
}

func TestDihedralNames(t *testing.T) {
	for d := range Dihedral(NumDihedral) {
		got, err := ParseDihedral(d.String())
		if err != nil || got != d {
			t.Errorf("ParseDihedral(%q) = %v, %v", d.String(), got, err)
		}
	}
	if _, err := ParseDihedral("sideways"); err == nil {
		t.Error("ParseDihedral accepted an unknown name")
	}
}

// transformGray returns img transformed by d, computed on pixels.
func transformGray(src *image.Gray, d Dihedral) *image.Gray {
	w, h := src.Bounds().Dx(), src.Bounds().Dy()
	ow, oh := w, h
	if d == Rotate90 || d == Rotate270 || d == FlipPlus1 || d == FlipMinus1 {
		ow, oh = h, w
	}
	dst := image.NewGray(image.Rect(0, 0, ow, oh))
	for y := range h {
		for x := range w {
			var dx, dy int
			switch d {
			case Original:
				dx, dy = x, y
			case Rotate90: // counter-clockwise
				dx, dy = y, w-1-x
			case Rotate180:
				dx, dy = w-1-x, h-1-y
			case Rotate270:
				dx, dy = h-1-y, x
			case FlipX: // top to bottom
				dx, dy = x, h-1-y
			case FlipY: // left to right
				dx, dy = w-1-x, y
			case FlipPlus1:
				dx, dy = y, x
			case FlipMinus1:
				dx, dy = h-1-y, w-1-x
			}
			dst.Pix[dy*dst.Stride+dx] = src.Pix[y*src.Stride+x]
		}
	}
	return dst
}

// TestDihedralMatchesPixelTransforms checks that each variant derived in
// the DCT domain matches, at the usual PDQ threshold of 31, the hash of the
// image actually transformed. They are not equal: the box filter's window
// leans right when its width is even, so a mirrored image is blurred
// slightly differently.
func TestDihedralMatchesPixelTransforms(t *testing.T) {
	img := decodeFile(t, filepath.Join(exactDir, "bridge-mods-aaa-orig.png"))
	luma, w, h := Luma(img)
	gray := image.NewGray(image.Rect(0, 0, w, h))
	for i, v := range luma {
		gray.Pix[i] = uint8(v + 0.5)
	}
	dih, err := DihedralImage(gray)
	if err != nil {
		t.Fatal(err)
	}
	for d := range Dihedral(NumDihedral) {
		got, err := HashImage(transformGray(gray, d))
		if err != nil {
			t.Fatal(err)
		}
		dist := Distance(got.Hash, dih.Hashes[d])
		t.Logf("%v: %d bits", d, dist)
		if dist > 31 {
			t.Errorf("%v: hash of transformed pixels is %d bits from the derived variant", d, dist)
		}
		if d != Original {
			if other := Distance(got.Hash, dih.Hashes[Original]); other < 64 {
				t.Errorf("%v: transformed image is only %d bits from the original; test image too symmetric", d, other)
			}
		}
	}
}

func TestSmallImagesHashToZero(t *testing.T) {
	for _, size := range [][2]int{{0, 0}, {4, 100}, {100, 4}, {1, 1}} {
		res, err := HashLuma(make([]float32, size[0]*size[1]), size[0], size[1])
		if err != nil {
			t.Fatal(err)
		}
		if !res.Hash.IsZero() || res.Quality != 0 {
			t.Errorf("%v: got %s q%d, want zero hash q0", size, res.Hash, res.Quality)
		}
	}
}

func TestHashLumaRejectsBadBuffers(t *testing.T) {
	for _, tc := range []struct {
		n, w, h int
	}{
		{10, 5, 5}, {25, -5, -5}, {26, 5, 5},
	} {
		if _, err := HashLuma(make([]float32, tc.n), tc.w, tc.h); err == nil {
			t.Errorf("HashLuma(len %d, %dx%d) accepted a buffer of the wrong size", tc.n, tc.w, tc.h)
		}
	}
}

func TestHashLumaDoesNotModifyInput(t *testing.T) {
	luma := make([]float32, 100*80)
	for i := range luma {
		luma[i] = float32(i % 251)
	}
	before := append([]float32(nil), luma...)
	if _, err := HashLuma(luma, 100, 80); err != nil {
		t.Fatal(err)
	}
	if _, err := DihedralLuma(luma, 100, 80); err != nil {
		t.Fatal(err)
	}
	for i := range luma {
		if luma[i] != before[i] {
			t.Fatalf("luma[%d] changed from %v to %v", i, before[i], luma[i])
		}
	}
}

// TestDownsampleExact checks the filter's shortcuts (four rows at a time,
// the last pass down the columns only where the grid samples it) against
// the filter written out plainly, to the bit, on sizes from the smallest
// hashed to a few hundred, odd and even, under and over the grid's 64.
func TestDownsampleExact(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	sizes := [][2]int{{MinDim, MinDim}, {63, 5}, {64, 64}, {65, 7}, {7, 130}, {127, 129}, {512, 384}, {301, 512}}
	for range 20 {
		sizes = append(sizes, [2]int{MinDim + r.IntN(300), MinDim + r.IntN(300)})
	}
	for _, sz := range sizes {
		w, h := sz[0], sz[1]
		luma := make([]float32, w*h)
		for i := range luma {
			luma[i] = float32(r.IntN(256)) + r.Float32()
		}
		var got, want [gridSize * gridSize]float32
		// The scratch comes from a pool with an earlier hash's values in
		// it: NaN in every cell, so that one read before it is written
		// shows in the grid.
		tmp := make([]float32, w*h)
		for i := range tmp {
			tmp[i] = float32(math.NaN())
		}
		downsample(slices.Clone(luma), tmp, w, h, &got)
		plainDownsample(slices.Clone(luma), make([]float32, w*h), w, h, &want)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%dx%d: grid cell %d is %v, the plain filter gives %v", w, h, i, got[i], want[i])
			}
		}
	}
}

// plainDownsample is the two-pass tent filter over every pixel, a row and
// then every column at a time, sampled at the grid's centres.
func plainDownsample(buf, tmp []float32, width, height int, grid *[gridSize * gridSize]float32) {
	winX, winY := windowSize(width), windowSize(height)
	for range jaroszPasses {
		for r := range height {
			boxRow(buf[r*width:(r+1)*width], tmp[r*width:(r+1)*width], winX)
		}
		col, out := make([]float32, height), make([]float32, height)
		for c := range width {
			for r := range height {
				col[r] = tmp[r*width+c]
			}
			boxRow(col, out, winY)
			for r := range height {
				buf[r*width+c] = out[r]
			}
		}
	}
	for gi := range gridSize {
		r := int((float64(gi) + 0.5) * float64(height) / gridSize)
		for gj := range gridSize {
			c := int((float64(gj) + 0.5) * float64(width) / gridSize)
			grid[gi*gridSize+gj] = buf[r*width+c]
		}
	}
}
