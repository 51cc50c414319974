package media

import (
	"image"
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
