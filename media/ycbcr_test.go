package media

import (
	"image"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestYCbCrColourTransform(t *testing.T) {
	// libjpeg's fixed-point transform (jdcolor.c), results worked out by
	// hand from its tables: neutral greys, saturated colours that clamp,
	// and a mid-range colour where Go's own conversion rounds differently.
	for _, tc := range []struct {
		y, cb, cr uint8
		r, g, b   uint8
	}{
		{128, 128, 128, 128, 128, 128},
		{0, 128, 128, 0, 0, 0},
		{255, 128, 128, 255, 255, 255},
		{76, 85, 255, 254, 0, 0},      // pure red as JPEG stores it
		{29, 255, 107, 0, 0, 254},     // pure blue
		{150, 44, 21, 0, 255, 1},      // pure green
		{100, 140, 120, 89, 102, 121}, // image/color gives (89, 101, 121)
	} {
		m := image.NewYCbCr(image.Rect(0, 0, 1, 1), image.YCbCrSubsampleRatio444)
		m.Y[0], m.Cb[0], m.Cr[0] = tc.y, tc.cb, tc.cr
		p := ycbcrToNRGBA(m).Pix
		if p[0] != tc.r || p[1] != tc.g || p[2] != tc.b || p[3] != 255 {
			t.Errorf("YCbCr(%d,%d,%d) = RGB(%d,%d,%d), want (%d,%d,%d)", tc.y, tc.cb, tc.cr, p[0], p[1], p[2], tc.r, tc.g, tc.b)
		}
	}
}

// chromaRow returns the upsampled Cb values of row y of a 4x4 image whose
// stored Cb plane is given.
func chromaRow(ratio image.YCbCrSubsampleRatio, cb []uint8, y int) []uint8 {
	m := image.NewYCbCr(image.Rect(0, 0, 4, 4), ratio)
	copy(m.Cb, cb)
	out := make([]uint8, 4)
	upsampleRow(m, m.Cb, y, out)
	return out
}

func TestFancyUpsampling(t *testing.T) {
	// A vertical edge in chroma: 0 on the left, 255 on the right. libjpeg
	// interpolates 3:1 towards the nearer sample, rounding alternately.
	for _, tc := range []struct {
		name  string
		ratio image.YCbCrSubsampleRatio
		cb    []uint8
		y     int
		want  []uint8
	}{
		{"4:2:0 edge", image.YCbCrSubsampleRatio420, []uint8{0, 255, 0, 255}, 0, []uint8{0, 64, 191, 255}},
		{"4:2:2 edge", image.YCbCrSubsampleRatio422, []uint8{0, 255, 0, 255, 0, 255, 0, 255}, 1, []uint8{0, 64, 191, 255}},
		// A horizontal edge: rows 0-1 from chroma row 0 (0), rows 2-3 from
		// row 1 (200). Row 1 leans 1/4 towards row 1, row 2 1/4 towards row 0.
		{"4:2:0 row 1", image.YCbCrSubsampleRatio420, []uint8{0, 0, 200, 200}, 1, []uint8{50, 50, 50, 50}},
		{"4:2:0 row 2", image.YCbCrSubsampleRatio420, []uint8{0, 0, 200, 200}, 2, []uint8{150, 150, 150, 150}},
		{"4:4:0 row 1", image.YCbCrSubsampleRatio440, []uint8{0, 0, 0, 0, 200, 200, 200, 200}, 1, []uint8{50, 50, 50, 50}},
		{"4:4:4 copy", image.YCbCrSubsampleRatio444, []uint8{1, 2, 3, 4, 5, 6, 7, 8}, 1, []uint8{5, 6, 7, 8}},
	} {
		if got := chromaRow(tc.ratio, tc.cb, tc.y); !slices.Equal(got, tc.want) {
			t.Errorf("%s: row %d = %v, want %v", tc.name, tc.y, got, tc.want)
		}
	}
}

// TestYCbCrEveryColour converts every (Y, Cb, Cr) triple and compares
// each pixel with libjpeg's fixed-point formula evaluated directly.
func TestYCbCrEveryColour(t *testing.T) {
	m := image.NewYCbCr(image.Rect(0, 0, 1<<16, 256), image.YCbCrSubsampleRatio444)
	for y := range 256 {
		for x := range 1 << 16 {
			i := y*m.YStride + x
			m.Y[i], m.Cb[i], m.Cr[i] = uint8(y), uint8(x>>8), uint8(x)
		}
	}
	out := ycbcrToNRGBA(m)
	for y := range 256 {
		for x := range 1 << 16 {
			yy, cbv, crv := int32(y), int32(x>>8)-128, int32(x&255)-128
			want := [4]uint8{
				clampByte(yy + (fixCrR*crv+ycbcrHalf)>>ycbcrScaleBits),
				clampByte(yy + (-fixCbG*cbv+ycbcrHalf-fixCrG*crv)>>ycbcrScaleBits),
				clampByte(yy + (fixCbB*cbv+ycbcrHalf)>>ycbcrScaleBits),
				0xff,
			}
			o := out.PixOffset(x, y)
			if got := [4]uint8(out.Pix[o : o+4]); got != want {
				t.Fatalf("YCbCr(%d,%d,%d) = %v, want %v", y, x>>8, x&255, got, want)
			}
		}
	}
}

func BenchmarkYCbCrToNRGBA(b *testing.B) {
	m := image.NewYCbCr(image.Rect(0, 0, 640, 480), image.YCbCrSubsampleRatio420)
	for i := range m.Y {
		m.Y[i] = uint8(i * 7)
	}
	for i := range m.Cb {
		m.Cb[i], m.Cr[i] = uint8(i*3), uint8(i*5)
	}
	b.ReportAllocs()
	for b.Loop() {
		ycbcrToNRGBA(m)
	}
}

// TestUpsample420Exact compares the 4:2:0 fancy upsampling with the
// filter written plainly (every column sum computed where it is used) on
// random chroma of every small size, odd ones included, and a few large.
func TestUpsample420Exact(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	sizes := [][2]int{{641, 479}, {1920, 1080}, {3, 1}}
	for w := 1; w <= 9; w++ {
		for h := 1; h <= 9; h++ {
			sizes = append(sizes, [2]int{w, h})
		}
	}
	for _, sz := range sizes {
		m := image.NewYCbCr(image.Rect(0, 0, sz[0], sz[1]), image.YCbCrSubsampleRatio420)
		for i := range m.Cb {
			m.Cb[i] = uint8(r.IntN(256))
		}
		got, want := make([]uint8, sz[0]), make([]uint8, sz[0])
		for y := range sz[1] {
			upsampleRow(m, m.Cb, y, got)
			plainUpsample420(m, m.Cb, y, want)
			for x := range got {
				if got[x] != want[x] {
					t.Fatalf("%dx%d row %d column %d: %d, the plain filter gives %d", sz[0], sz[1], y, x, got[x], want[x])
				}
			}
		}
	}
}

// plainUpsample420 is libjpeg's h2v2 fancy upsampling of one output row.
func plainUpsample420(m *image.YCbCr, plane []uint8, y int, dst []uint8) {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	cw, ch := (w+1)/2, (h+1)/2
	row := func(r int) []uint8 {
		r = min(max(r, 0), ch-1)
		off := r * m.CStride
		return plane[off : off+cw]
	}
	near, far := row(y/2), row(y/2-1)
	if y%2 == 1 {
		far = row(y/2 + 1)
	}
	colsum := func(i int) int32 { return 3*int32(near[i]) + int32(far[i]) }
	for i := range cw {
		this := colsum(i)
		left, right := this*4+8, this*4+7
		if i > 0 {
			left = this*3 + colsum(i-1) + 8
		}
		if i < cw-1 {
			right = this*3 + colsum(i+1) + 7
		}
		if 2*i < len(dst) {
			dst[2*i] = uint8(left >> 4)
		}
		if 2*i+1 < len(dst) {
			dst[2*i+1] = uint8(right >> 4)
		}
	}
}
