package robustness

import (
	"bytes"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/disintegration/imaging"
)

// photoPath is a real photograph (1600x1004), loaded at 480 px wide to keep
// the tests quick.
const photoPath = "../../testdata/pdq/tolerance/bridge-mods-aaa-orig.jpg"

// photo is the photo as loaded, decoded once: under the race detector
// decoding it takes seconds.
var photo = sync.OnceValues(func() (*image.NRGBA, error) { return Load(photoPath, 480) })

// loadPhoto returns a copy of the photo, 480x301.
func loadPhoto(t *testing.T) *image.NRGBA {
	t.Helper()
	img, err := photo()
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 480 || b.Dy() != 301 {
		t.Fatalf("photo loaded as %v, want 480x301", b)
	}
	return imaging.Clone(img)
}

func rng(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 1)) }

// pixels returns the image's pixels as NRGBA bytes at origin 0,0.
func pixels(img image.Image) *image.NRGBA {
	if e, ok := img.(*Encoded); ok {
		img = e.Image
	}
	return imaging.Clone(img)
}

// sameRegion reports whether a's pixels in ra equal b's from bMin on.
func sameRegion(a *image.NRGBA, ra image.Rectangle, b *image.NRGBA, bMin image.Point) bool {
	for y := ra.Min.Y; y < ra.Max.Y; y++ {
		for x := ra.Min.X; x < ra.Max.X; x++ {
			if a.NRGBAAt(x, y) != b.NRGBAAt(bMin.X+x-ra.Min.X, bMin.Y+y-ra.Min.Y) {
				return false
			}
		}
	}
	return true
}

func transformByName(t *testing.T, fill []image.Image, name string) Transform {
	t.Helper()
	for _, tr := range Transforms(fill) {
		if tr.Name == name {
			return tr
		}
	}
	t.Fatalf("no transform %q", name)
	return Transform{}
}

func TestRobustnessTransformsAreDeterministicAndLeaveTheInput(t *testing.T) {
	img := imaging.Resize(loadPhoto(t), 240, 0, imaging.Lanczos)
	before := slices.Clone(img.Pix)
	fill := []image.Image{imaging.Resize(img, 100, 0, imaging.Box)}
	names := map[string]bool{}
	for _, tr := range Transforms(fill) {
		t.Run(tr.Name, func(t *testing.T) {
			if names[tr.Name] {
				t.Fatalf("duplicate name")
			}
			names[tr.Name] = true
			if tr.Description == "" || (tr.Group != Baseline && tr.Group != Photometric && tr.Group != Geometric) {
				t.Errorf("group %q, description %q", tr.Group, tr.Description)
			}
			a := tr.Apply(img, rng(7))
			b := tr.Apply(img, rng(7))
			if a.Bounds().Empty() {
				t.Fatal("empty output")
			}
			if !bytes.Equal(pixels(a).Pix, pixels(b).Pix) {
				t.Error("same seed, different output")
			}
			da, err := Encode(a)
			if err != nil {
				t.Fatal(err)
			}
			db, _ := Encode(b)
			if !bytes.Equal(da, db) {
				t.Error("same seed, different encoding")
			}
			if !bytes.Equal(img.Pix, before) {
				t.Fatal("the transform modified its input")
			}
		})
	}
	if len(names) < 25 {
		t.Errorf("%d transforms, want at least 25", len(names))
	}
}

func TestRobustnessRandomTransformsDependOnTheSeed(t *testing.T) {
	img := loadPhoto(t)
	for _, name := range []string{"noise-10", "crop-15", "window-70", "corner-logo", "border-5", "collage"} {
		t.Run(name, func(t *testing.T) {
			tr := transformByName(t, nil, name)
			differ := false
			first := pixels(tr.Apply(img, rng(1)))
			for seed := uint64(2); seed < 8 && !differ; seed++ {
				other := pixels(tr.Apply(img, rng(seed)))
				differ = !first.Bounds().Eq(other.Bounds()) || !bytes.Equal(first.Pix, other.Pix)
			}
			if !differ {
				t.Error("seeds 1 to 7 give the same variant")
			}
		})
	}
}

func TestRobustnessTransformSizes(t *testing.T) {
	img := loadPhoto(t) // 480x301
	for _, tc := range []struct {
		name string
		w, h int
	}{
		{"original", 480, 301},
		{"resize-50", 240, 150},
		{"jpeg-q30", 480, 301},
		{"crop-5", 480 - 24, 301 - 15},
		{"crop-15", 480 - 72, 301 - 45},
		{"window-70", 336, 211},
		{"caption", 480, 301 + 54},
		{"border-5", 480 + 2*24, 301 + 2*15},
		{"letterbox-16x9", 535, 301},
		{"rotate-90", 301, 480},
		{"rotate-5", 480, 301},
		{"stretch-130", 624, 301},
		{"collage", 480, 300},
		{"crop5+caption+jpeg50", 456, 286 + 51},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := transformByName(t, nil, tc.name).Apply(img, rng(3)).Bounds()
			if b.Dx() != tc.w || b.Dy() != tc.h {
				t.Errorf("size %dx%d, want %dx%d", b.Dx(), b.Dy(), tc.w, tc.h)
			}
		})
	}
}

// findOffset returns where sub sits inside img, searching offsets up to
// maxX, maxY, or ok false.
func findOffset(img, sub *image.NRGBA, maxX, maxY int) (image.Point, bool) {
	for y := 0; y <= maxY; y++ {
		for x := 0; x <= maxX; x++ {
			if sameRegion(sub, sub.Bounds(), img, image.Pt(x, y)) {
				return image.Pt(x, y), true
			}
		}
	}
	return image.Point{}, false
}

func TestRobustnessCropsKeepAWindowOfTheOriginal(t *testing.T) {
	img := loadPhoto(t)
	offsets := map[image.Point]bool{}
	for seed := range uint64(6) {
		out := pixels(Crop(0.05)(img, rng(seed)))
		at, ok := findOffset(img, out, 24, 15)
		if !ok {
			t.Fatalf("seed %d: the crop is not a window of the original", seed)
		}
		offsets[at] = true
	}
	if len(offsets) < 2 {
		t.Errorf("the cut is split the same way for every seed: %v", offsets)
	}

	sides := map[[2]bool]bool{}
	for seed := range uint64(12) {
		out := pixels(Window70(img, rng(seed)))
		at, ok := findOffset(img, out, 480-336, 301-211)
		if !ok {
			t.Fatalf("seed %d: window-70 is not a window of the original", seed)
		}
		// Off centre: in the first or last quarter of the free range on
		// each axis.
		for _, c := range []struct{ off, free int }{{at.X, 480 - 336}, {at.Y, 301 - 211}} {
			if q := c.free / 4; c.off > q && c.off < c.free-q {
				t.Errorf("seed %d: window at %v is near the centre", seed, at)
			}
		}
		sides[[2]bool{at.X > (480-336)/2, at.Y > (301-211)/2}] = true
	}
	if len(sides) < 3 {
		t.Errorf("the window leans towards the same sides for every seed: %v", sides)
	}
}

func TestRobustnessCaptionAddsABandAbove(t *testing.T) {
	img := loadPhoto(t)
	out := pixels(Caption(img, rng(1)))
	band := out.Bounds().Dy() - 301
	if band != 54 {
		t.Fatalf("band of %d px, want 54 (18%%)", band)
	}
	if !sameRegion(out, image.Rect(0, band, 480, band+301), img, image.Point{}) {
		t.Error("the picture below the band is not the original")
	}
	white, black := 0, 0
	for y := range band {
		for x := range 480 {
			switch c := out.NRGBAAt(x, y); {
			case c == color.NRGBA{255, 255, 255, 255}:
				white++
			case c.R < 64 && c.G < 64 && c.B < 64:
				black++
			}
		}
	}
	if total := band * 480; white < total/2 || black < total/50 {
		t.Errorf("band has %d white and %d black pixels of %d: want a white bar with black text", white, black, total)
	}
}

func TestRobustnessTextOverlayCoversTheMiddle(t *testing.T) {
	img := loadPhoto(t)
	out := pixels(TextOverlay(img, rng(2)))
	changed := func(r image.Rectangle) float64 {
		n := 0
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				if out.NRGBAAt(x, y) != img.NRGBAAt(x, y) {
					n++
				}
			}
		}
		return float64(n) / float64(r.Dx()*r.Dy())
	}
	if c := changed(image.Rect(0, 0, 480, 301)); c < 0.10 {
		t.Errorf("%.0f%% of the picture covered, want a good part", 100*c)
	}
	if c := changed(image.Rect(0, 0, 480, 40)); c != 0 {
		t.Errorf("%.0f%% of the top rows changed, want the text in the middle only", 100*c)
	}
}

func TestRobustnessCornerLogoIsSmallAndInACorner(t *testing.T) {
	img := loadPhoto(t)
	corners := map[image.Point]bool{}
	for seed := range uint64(8) {
		out := pixels(CornerLogo(img, rng(seed)))
		var box image.Rectangle
		for y := range 301 {
			for x := range 480 {
				if out.NRGBAAt(x, y) != img.NRGBAAt(x, y) {
					box = box.Union(image.Rect(x, y, x+1, y+1))
				}
			}
		}
		if box.Empty() || box.Dx() > 48 || box.Dy() > 48 || box.Dx() < 40 {
			t.Fatalf("seed %d: changed area %v, want a logo of about 48 px (10%%)", seed, box)
		}
		corner := image.Pt(box.Min.X*2/480, box.Min.Y*2/301)
		near := func(v, lo, hi int) bool { return v-lo < 20 || hi-v < 20 }
		if !near(box.Min.X, 0, 480-box.Dx()) || !near(box.Min.Y, 0, 301-box.Dy()) {
			t.Errorf("seed %d: logo at %v is not in a corner", seed, box)
		}
		corners[corner] = true
	}
	if len(corners) < 2 {
		t.Errorf("the logo is always in the same corner")
	}
}

func TestRobustnessBorderAndLetterbox(t *testing.T) {
	img := loadPhoto(t)

	b := pixels(Border5(img, rng(4)))
	edge := b.NRGBAAt(0, 0)
	for _, p := range []image.Point{{527, 0}, {0, 330}, {527, 330}, {23, 100}, {200, 14}, {504, 200}, {200, 316}} {
		if c := b.NRGBAAt(p.X, p.Y); c != edge {
			t.Errorf("border pixel %v is %v, want the border colour %v", p, c, edge)
		}
	}
	if !sameRegion(b, image.Rect(24, 15, 24+480, 15+301), img, image.Point{}) {
		t.Error("the picture inside the border is not the original")
	}

	l := pixels(Letterbox(img, nil))
	w, h := l.Bounds().Dx(), l.Bounds().Dy()
	if math.Abs(float64(w)/float64(h)-16.0/9) > 1.0/float64(h) {
		t.Errorf("letterbox is %dx%d, not 16:9", w, h)
	}
	black := color.NRGBA{0, 0, 0, 255}
	for _, p := range []image.Point{{0, 0}, {0, h - 1}, {w - 1, 0}, {w - 1, h / 2}, {26, h / 2}, {w - 28, h / 3}} {
		if c := l.NRGBAAt(p.X, p.Y); c != black {
			t.Errorf("bar pixel %v is %v, want black", p, c)
		}
	}
	if !sameRegion(l, image.Rect(27, 0, 27+480, 301), img, image.Point{}) {
		t.Error("the picture between the bars is not the original, centred")
	}

	// A panorama wider than 16:9 gets bars above and below.
	wide := imaging.Resize(img, 480, 200, imaging.Box)
	lw := Letterbox(wide, nil).Bounds()
	if lw.Dx() != 480 || lw.Dy() != 270 {
		t.Errorf("letterboxed panorama is %v, want 480x270", lw)
	}
}

func TestRobustnessRotationsAndMirror(t *testing.T) {
	img := loadPhoto(t)
	if twice := pixels(Mirror(Mirror(img, nil), nil)); !bytes.Equal(twice.Pix, img.Pix) {
		t.Error("mirror of the mirror is not the original")
	}
	m := pixels(Mirror(img, nil))
	if m.NRGBAAt(0, 10) != img.NRGBAAt(479, 10) || bytes.Equal(m.Pix, img.Pix) {
		t.Error("mirror does not flip left to right")
	}
	var r image.Image = img
	for range 4 {
		r = Rotate90(r, nil)
	}
	if !bytes.Equal(pixels(r).Pix, img.Pix) {
		t.Error("four quarter turns are not the original")
	}
	// Counter-clockwise: the top right corner comes to the top left.
	if q := pixels(Rotate90(img, nil)); q.NRGBAAt(0, 0) != img.NRGBAAt(479, 0) {
		t.Error("rotate-90 is not counter-clockwise")
	}

	r5 := pixels(Rotate5(img, nil))
	black := color.NRGBA{0, 0, 0, 255}
	for _, p := range []image.Point{{0, 0}, {479, 0}, {0, 300}, {479, 300}} {
		if c := r5.NRGBAAt(p.X, p.Y); c != black {
			t.Errorf("rotate-5 corner %v is %v, want the black background", p, c)
		}
	}
	if d := colourDiff(r5.NRGBAAt(240, 150), img.NRGBAAt(240, 150)); d > 60 {
		t.Errorf("rotate-5 moved the centre: %v vs %v", r5.NRGBAAt(240, 150), img.NRGBAAt(240, 150))
	}
}

func colourDiff(a, b color.NRGBA) int {
	abs := func(x int) int { return max(x, -x) }
	return abs(int(a.R)-int(b.R)) + abs(int(a.G)-int(b.G)) + abs(int(a.B)-int(b.B))
}

func TestRobustnessPhotometric(t *testing.T) {
	img := loadPhoto(t)

	g := pixels(Greyscale(img, nil))
	for i := 0; i < len(g.Pix); i += 4 {
		if g.Pix[i] != g.Pix[i+1] || g.Pix[i] != g.Pix[i+2] {
			t.Fatalf("greyscale pixel %d has colour %v", i/4, g.Pix[i:i+3])
		}
	}

	br := pixels(Brightness30(img, nil))
	for i := 0; i < len(br.Pix); i += 997 {
		want := uint8(min(255, math.Round(float64(img.Pix[i])*1.3)))
		if i%4 != 3 && br.Pix[i] != want {
			t.Fatalf("brightness: channel %d -> %d, want %d", img.Pix[i], br.Pix[i], want)
		}
	}

	h := pixels(Hue60(img, nil))
	shifted := 0
	for i := 0; i < len(img.Pix); i += 4 * 37 {
		h0, s0, l0 := rgbToHSL(img.Pix[i], img.Pix[i+1], img.Pix[i+2])
		h1, s1, l1 := rgbToHSL(h.Pix[i], h.Pix[i+1], h.Pix[i+2])
		if s0 < 0.3 || l0 < 0.2 || l0 > 0.8 {
			continue
		}
		d := math.Mod(h1-h0+1, 1) * 360
		if math.Abs(d-60) > 3 || math.Abs(s1-s0) > 0.05 || math.Abs(l1-l0) > 0.02 {
			t.Fatalf("hue %.0f -> %.0f (shift %.1f), s %.2f -> %.2f, l %.2f -> %.2f", h0*360, h1*360, d, s0, s1, l0, l1)
		}
		shifted++
	}
	if shifted < 50 {
		t.Errorf("only %d saturated pixels checked", shifted)
	}

	n := pixels(Noise10(img, rng(1)))
	var sum float64
	for i := 0; i < len(n.Pix); i++ {
		if i%4 != 3 {
			sum += math.Abs(float64(n.Pix[i]) - float64(img.Pix[i]))
		}
	}
	// E|N(0, 10)| is 7.98; clipping at 0 and 255 lowers it a little.
	if mad := sum / float64(len(n.Pix)/4*3); mad < 6 || mad > 9 {
		t.Errorf("noise: mean absolute change %.2f, want about 8", mad)
	}

	for _, name := range []string{"contrast+30", "blur-2", "sharpen"} {
		out := pixels(transformByName(t, nil, name).Apply(img, rng(1)))
		if !out.Bounds().Eq(img.Bounds()) || bytes.Equal(out.Pix, img.Pix) {
			t.Errorf("%s: size %v, changed %v", name, out.Bounds(), !bytes.Equal(out.Pix, img.Pix))
		}
	}
}

func TestRobustnessJPEGCarriesItsFile(t *testing.T) {
	img := loadPhoto(t)
	for _, q := range []int{10, 30} {
		out := JPEG(q)(img, nil)
		e, ok := out.(*Encoded)
		if !ok {
			t.Fatalf("JPEG(%d) returned %T, want *Encoded", q, out)
		}
		data, err := Encode(out)
		if err != nil || !bytes.Equal(data, e.Data) || !bytes.HasPrefix(data, []byte{0xff, 0xd8}) {
			t.Fatalf("Encode of a JPEG variant: %v, %d bytes", err, len(data))
		}
		dec, err := imaging.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(pixels(dec).Pix, pixels(e.Image).Pix) {
			t.Error("the variant's pixels are not its file's")
		}
	}
	small, _ := Encode(JPEG(10)(img, nil))
	large, _ := Encode(JPEG(30)(img, nil))
	if len(small) >= len(large) {
		t.Errorf("quality 10 gives %d bytes, quality 30 %d", len(small), len(large))
	}
	// Other variants go out as PNG with exactly their pixels.
	data, err := Encode(Mirror(img, nil))
	if err != nil {
		t.Fatal(err)
	}
	dec, err := imaging.Decode(bytes.NewReader(data))
	if err != nil || !bytes.Equal(pixels(dec).Pix, pixels(Mirror(img, nil)).Pix) {
		t.Errorf("PNG round trip: %v", err)
	}
}

func TestRobustnessScreenshotFramesTheImage(t *testing.T) {
	img := loadPhoto(t)
	out := pixels(Screenshot(img, rng(1)))
	w, h := out.Bounds().Dx(), out.Bounds().Dy()
	if w != 480 || h <= 301*65/100 {
		t.Fatalf("screenshot %dx%d", w, h)
	}
	// Layout for 480 px: top bar 43, gap 19, picture 312x196 at x=84.
	pic := imaging.Resize(img, 312, 196, imaging.Lanczos)
	if !sameRegion(out, image.Rect(84, 62, 84+312, 62+196), pic, image.Point{}) {
		t.Error("the picture is not at 65% of the width under the top bar")
	}
	if c := out.NRGBAAt(470, 2); c != (color.NRGBA{32, 33, 36, 255}) {
		t.Errorf("top bar pixel %v", c)
	}
	if c := out.NRGBAAt(3, 100); c != (color.NRGBA{236, 236, 236, 255}) {
		t.Errorf("background pixel %v", c)
	}
	if c := out.NRGBAAt(1, h-1); c != (color.NRGBA{250, 250, 250, 255}) {
		t.Errorf("bottom bar pixel %v", c)
	}
}

func TestRobustnessCollageHoldsTheImageAtHalfSize(t *testing.T) {
	img := loadPhoto(t)
	fill := []image.Image{
		imaging.New(50, 50, color.NRGBA{200, 30, 30, 255}),
		imaging.Grayscale(imaging.Rotate180(img)),
	}
	half := imaging.Resize(img, 240, 150, imaging.Lanczos)
	cells := map[int]bool{}
	for seed := range uint64(8) {
		out := pixels(Collage(fill)(img, rng(seed)))
		found := -1
		for cell := range 4 {
			at := image.Pt((cell%2)*240, (cell/2)*150)
			if sameRegion(out, image.Rectangle{at, at.Add(image.Pt(240, 150))}, half, image.Point{}) {
				if found >= 0 {
					t.Fatalf("seed %d: the image in cells %d and %d", seed, found, cell)
				}
				found = cell
			}
		}
		if found < 0 {
			t.Fatalf("seed %d: no cell holds the image at half size", seed)
		}
		cells[found] = true
	}
	if len(cells) < 2 {
		t.Errorf("the image is always in the same cell")
	}
	// Without fill pictures the other cells are still not blank.
	out := pixels(Collage(nil)(img, rng(1)))
	if c := out.NRGBAAt(5, 5); c == (color.NRGBA{255, 255, 255, 255}) && out.NRGBAAt(245, 155) == c {
		t.Error("collage without fill pictures left blank cells")
	}
}

func TestRobustnessHSLRoundTrip(t *testing.T) {
	for _, c := range [][3]uint8{{0, 0, 0}, {255, 255, 255}, {255, 0, 0}, {12, 200, 99}, {240, 240, 10}, {33, 34, 200}, {128, 128, 128}} {
		h, s, l := rgbToHSL(c[0], c[1], c[2])
		r, g, b := hslToRGB(h, s, l)
		if [3]uint8{r, g, b} != c {
			t.Errorf("%v -> h %.3f s %.3f l %.3f -> %v", c, h, s, l, [3]uint8{r, g, b})
		}
	}
}
