package region

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/disintegration/imaging"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/mediamatch/mediamatch/pdq"
)

// regionPhotos are the real photographs re-edited in the tests: landscape
// and portrait, large and small, bright and dark tops, one with a sky over
// a sea horizon. A photo is used at 1/scale of its size (the portrait one
// is the landscape one turned, and halved to keep the tests quick).
var regionPhotos = []struct {
	path  string
	scale int
}{
	{filepath.Join(toleranceDir, "bridge-mods-aaa-orig.jpg"), 1},
	{filepath.Join(toleranceDir, "dih-bridge-2-rotate-90.jpg"), 2},
	{filepath.Join(exactDir, "reg-test-input-pen-and-coaster.png"), 1},
	{filepath.Join(exactDir, "exif-rotn-exif-rotn-1.png"), 1},
	{filepath.Join(exactDir, "labelme-subset-q0122.png"), 1},
}

const (
	// regionTolerance is how far, as a share of the side, each edge of a
	// found region may be from the picture's.
	regionTolerance = 0.015
	// regionMaxPDQ is the largest PDQ distance accepted between the found
	// region of a re-edit and the original photo.
	regionMaxPDQ = 16
	// sliver is the most an unedited photo may lose at one edge.
	sliver = 0.03
)

var (
	red   = color.NRGBA{220, 20, 30, 255}
	black = color.NRGBA{0, 0, 0, 255}
	white = color.NRGBA{255, 255, 255, 255}
)

func openPhoto(t testing.TB, path string) image.Image {
	t.Helper()
	img, err := imaging.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// reEdit builds a re-edit of a photo and says where the photo is in it.
// (Padding a square photo to a square adds nothing; that case checks that
// nothing is trimmed.)
type reEdit struct {
	name string
	// caption is set when the re-edit adds a caption band, which only
	// Content removes.
	caption bool
	build   func(t testing.TB, img image.Image) (image.Image, image.Rectangle)
}

var reEdits = []reEdit{
	{"letterbox-16x9", false, func(t testing.TB, img image.Image) (image.Image, image.Rectangle) {
		return padToAspect(img, 16, 9, black)
	}},
	{"pillarbox-9x16", false, func(t testing.TB, img image.Image) (image.Image, image.Rectangle) {
		return padToAspect(img, 9, 16, black)
	}},
	{"square-grey", false, func(t testing.TB, img image.Image) (image.Image, image.Rectangle) {
		return padToAspect(img, 1, 1, color.NRGBA{128, 128, 128, 255})
	}},
	{"border-red-5%", false, func(t testing.TB, img image.Image) (image.Image, image.Rectangle) {
		return addBorder(img, red)
	}},
	{"caption-top", true, func(t testing.TB, img image.Image) (image.Image, image.Rectangle) {
		return addCaptions(t, img, white, black, true, false)
	}},
	{"caption-bottom-black", true, func(t testing.TB, img image.Image) (image.Image, image.Rectangle) {
		return addCaptions(t, img, black, white, false, true)
	}},
	{"caption-top-and-bottom", true, func(t testing.TB, img image.Image) (image.Image, image.Rectangle) {
		return addCaptions(t, img, white, black, true, true)
	}},
	{"caption-top+border", true, func(t testing.TB, img image.Image) (image.Image, image.Rectangle) {
		captioned, pic := addCaptions(t, img, white, black, true, false)
		bordered, off := addBorder(captioned, red)
		return bordered, pic.Add(off.Min)
	}},
	{"letterbox+caption", true, func(t testing.TB, img image.Image) (image.Image, image.Rectangle) {
		// A 9:16 upload of a captioned picture.
		captioned, pic := addCaptions(t, img, white, black, true, false)
		boxed, off := padToAspect(captioned, 9, 16, black)
		return boxed, pic.Add(off.Min)
	}},
}

// padToAspect centres img on a canvas of aspect aw:ah filled with bg.
func padToAspect(img image.Image, aw, ah int, bg color.Color) (image.Image, image.Rectangle) {
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	cw, ch := w, h
	if w*ah < h*aw {
		cw = (h*aw + ah/2) / ah
	} else {
		ch = (w*ah + aw/2) / aw
	}
	pic := image.Rect(0, 0, w, h).Add(image.Pt((cw-w)/2, (ch-h)/2))
	return imaging.Paste(imaging.New(cw, ch, bg), img, pic.Min), pic
}

// addBorder frames img with a border 5% of its longer side.
func addBorder(img image.Image, bg color.Color) (image.Image, image.Rectangle) {
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	b := max(w, h) / 20
	pic := image.Rect(b, b, b+w, b+h)
	return imaging.Paste(imaging.New(w+2*b, h+2*b, bg), img, pic.Min), pic
}

// captionText are meme-style captions, cut to length for each band.
var captionText = [2]string{
	"THEY DON'T WANT YOU TO SEE THIS PICTURE - THE MEDIA WILL NEVER SHOW YOU WHAT REALLY HAPPENED",
	"SHARE BEFORE IT IS DELETED AGAIN!!! WAKE UP PEOPLE, THIS IS WHAT THEY ARE HIDING FROM US ALL",
}

// addCaptions puts a caption band of 18% of img's height above and/or
// below it, with two lines of text in fg on bg.
func addCaptions(t testing.TB, img image.Image, bg, fg color.Color, above, below bool) (image.Image, image.Rectangle) {
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	bh := h * 18 / 100
	ch := h
	pic := image.Rect(0, 0, w, h)
	if above {
		ch += bh
		pic = pic.Add(image.Pt(0, bh))
	}
	if below {
		ch += bh
	}
	dst := imaging.New(w, ch, bg)
	dst = imaging.Paste(dst, img, pic.Min)
	if above {
		dst = imaging.Paste(dst, captionBand(t, w, bh, captionText[0], bg, fg), image.Pt(0, 0))
	}
	if below {
		dst = imaging.Paste(dst, captionBand(t, w, bh, captionText[1], bg, fg), image.Pt(0, pic.Max.Y))
	}
	return dst, pic
}

// captionBand draws text in two lines of bold capitals, scaled up from
// basicfont's 7x13 glyphs to fill the w x h band as meme captions do, and
// checks that the ink covers a realistic share of the band.
func captionBand(t testing.TB, w, h int, text string, bg, fg color.Color) image.Image {
	t.Helper()
	// Two lines 29 px high in all: n characters fill the band's aspect.
	n := min(len(text)/2, max(8, int(float64(w)/float64(h)*29/7+0.5)))
	lines := [2]string{strings.TrimSpace(text[:n]), strings.TrimSpace(text[n : 2*n])}
	small := imaging.New(7*n+2, 2*13+3, bg)
	d := font.Drawer{Dst: small, Src: image.NewUniform(fg), Face: basicfont.Face7x13}
	for i, s := range lines {
		for _, o := range []image.Point{{0, 0}, {1, 0}, {0, 1}, {1, 1}} { // overstrike: bold
			d.Dot = fixed.P(1+o.X+(n-len(s))*7/2, 11+o.Y+i*14)
			d.DrawString(s)
		}
	}
	// Fill up to 95% x 85% of the band, keeping the glyphs' aspect.
	scale := min(float64(w)*0.95/float64(small.Bounds().Dx()), float64(h)*0.85/float64(small.Bounds().Dy()))
	glyphs := imaging.Resize(small, int(scale*float64(small.Bounds().Dx())), int(scale*float64(small.Bounds().Dy())), imaging.NearestNeighbor)
	band := imaging.PasteCenter(imaging.New(w, h, bg), glyphs)
	ink := 0
	paper := color.NRGBAModel.Convert(bg).(color.NRGBA)
	for i := 0; i < len(band.Pix); i += 4 {
		if band.Pix[i] != paper.R || band.Pix[i+1] != paper.G || band.Pix[i+2] != paper.B {
			ink++
		}
	}
	share := float64(ink) / float64(w*h)
	if share < 0.15 || share > 0.3 {
		t.Fatalf("caption ink covers %.0f%% of the band, want a realistic 15-30%%", 100*share)
	}
	return band
}

// reencode returns img after a JPEG round trip at the given quality.
func reencode(t testing.TB, img image.Image, quality int) image.Image {
	t.Helper()
	// The encoder reads *image.RGBA directly and anything else pixel by
	// pixel; the re-edits are opaque, so the conversion changes nothing.
	rgba := image.NewRGBA(img.Bounds())
	draw.Draw(rgba, rgba.Bounds(), img, img.Bounds().Min, draw.Src)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, rgba, &jpeg.Options{Quality: quality}); err != nil {
		t.Fatal(err)
	}
	out, err := jpeg.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// edgeError returns the largest distance between the edges of got and
// want, each as a share of the side it lies across.
func edgeError(got, want image.Rectangle) float64 {
	dx, dy := float64(want.Dx()), float64(want.Dy())
	return max(
		abs(got.Min.X-want.Min.X)/dx, abs(got.Max.X-want.Max.X)/dx,
		abs(got.Min.Y-want.Min.Y)/dy, abs(got.Max.Y-want.Max.Y)/dy)
}

func abs(v int) float64 {
	if v < 0 {
		v = -v
	}
	return float64(v)
}

func pdqOf(t testing.TB, img image.Image) pdq.Hash {
	t.Helper()
	r, err := pdq.HashImage(img)
	if err != nil {
		t.Fatal(err)
	}
	return r.Hash
}

// crop copies the region r of img to a new image at the origin. (A
// SubImage is not hashed directly: pdq's fast paths for NRGBA, Gray and
// Paletted index out of range when Bounds().Min.X > 0.)
func crop(img image.Image, r image.Rectangle) image.Image {
	return imaging.Crop(img, r)
}

// TestRegionReEdits re-edits real photos as re-uploads are re-edited, with
// and without a quality-50 JPEG round trip, and checks that the region found
// is the photo and hashes like it.
func TestRegionReEdits(t *testing.T) {
	for _, rp := range regionPhotos {
		name := strings.TrimSuffix(filepath.Base(rp.path), filepath.Ext(rp.path))
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			photo := openPhoto(t, rp.path)
			if r, ok := photoPadding[filepath.Base(rp.path)]; ok {
				photo = imaging.Crop(photo, r)
			}
			if rp.scale > 1 {
				b := photo.Bounds()
				photo = imaging.Resize(photo, b.Dx()/rp.scale, b.Dy()/rp.scale, imaging.Lanczos)
			}
			testReEdits(t, photo)
		})
	}
}

// testReEdits runs every re-edit of one photo.
func testReEdits(t *testing.T, photo image.Image) {
	orig := pdqOf(t, photo)
	// What the JPEG round trip alone does to the photo's hash: where it is
	// over the limit (the flat sea and sky of q0122: 24 bits), the region
	// of a quality-50 re-edit cannot be held to the limit.
	q50 := pdq.Distance(pdqOf(t, reencode(t, photo, 50)), orig)
	for _, re := range reEdits {
		edited, pic := re.build(t, photo)
		for _, q := range []int{0, 50} {
			img := edited
			if q > 0 {
				img = reencode(t, edited, q)
			}
			t.Run(fmt.Sprintf("%s/q%d", re.name, q), func(t *testing.T) {
				content := Content(img)
				trim := TrimBorders(img)
				whole := pdq.Distance(pdqOf(t, img), orig)
				region := pdq.Distance(pdqOf(t, crop(img, content)), orig)
				t.Logf("picture %v in %v: content %v (error %.2f%%), trim %v; pdq region %d, whole %d",
					pic, img.Bounds(), content, 100*edgeError(content, pic), trim, region, whole)
				if e := edgeError(content, pic); e > regionTolerance {
					t.Errorf("Content = %v, want %v: an edge is %.1f%% of the side off", content, pic, 100*e)
				}
				switch {
				case q > 0 && q50 > regionMaxPDQ:
					t.Logf("PDQ not checked: the unedited photo is %d bits off after the round trip", q50)
				case region > regionMaxPDQ:
					t.Errorf("PDQ distance of the region to the original = %d, want <= %d", region, regionMaxPDQ)
				}
				if pic != img.Bounds() && whole <= region {
					t.Errorf("PDQ distance of the whole re-edit = %d, not above the region's %d", whole, region)
				}
				if re.caption {
					// TrimBorders may leave the caption but must not cut
					// into the picture.
					if in := trim.Intersect(pic); edgeError(in, pic) > regionTolerance {
						t.Errorf("TrimBorders = %v cuts into the picture %v", trim, pic)
					}
				} else if e := edgeError(trim, pic); e > regionTolerance {
					t.Errorf("TrimBorders = %v, want %v: an edge is %.1f%% of the side off", trim, pic, 100*e)
				}
			})
		}
	}
}

// testPhotos lists every photograph and synthetic image in testdata/pdq.
func testPhotos(t testing.TB) []string {
	t.Helper()
	var paths []string
	for _, dir := range []string{exactDir, toleranceDir} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if ext := filepath.Ext(e.Name()); ext == ".png" || ext == ".jpg" {
				paths = append(paths, filepath.Join(dir, e.Name()))
			}
		}
	}
	if len(paths) < 50 {
		t.Fatalf("found %d test images, want the whole reference set", len(paths))
	}
	return paths
}

// photoPadding are the grey padding bars that LabelMe put around some of
// its photos, measured from per-line mean and spread (e.g. q0291: columns
// 0-10 at 128+-0.2, then the picture). They are bars: on the unedited
// files both functions must find them. The re-edits are made of the photo
// inside them, so that the picture to find is the photo (on the flat sea
// and sky of q0122, its 2 px of padding move the PDQ hash by 20 bits).
var photoPadding = map[string]image.Rectangle{
	"labelme-subset-q0122.png":      image.Rect(2, 2, 256, 256),
	"labelme-subset-q0291.png":      image.Rect(11, 0, 256, 249),
	"labelme-subset-q0291.jpg":      image.Rect(11, 0, 256, 249),
	"labelme-subset-q0746.png":      image.Rect(2, 5, 256, 226),
	"labelme-subset-q0746.jpg":      image.Rect(2, 5, 256, 226),
	"gray-labelme-subset-q0746.png": image.Rect(2, 5, 256, 226),
	"labelme-subset-q1050.png":      image.Rect(0, 0, 323, 257),
	"labelme-subset-q1050.jpg":      image.Rect(0, 0, 248, 256),
}

// TestRegionUneditedPhotos checks that every image of the reference set
// keeps all but a sliver at each edge, or exactly loses its padding.
func TestRegionUneditedPhotos(t *testing.T) {
	for _, path := range testPhotos(t) {
		img := openPhoto(t, path)
		b := img.Bounds()
		name := filepath.Base(path)
		for _, f := range []struct {
			name string
			fn   func(image.Image) image.Rectangle
		}{{"TrimBorders", TrimBorders}, {"Content", Content}} {
			got := f.fn(img)
			if got != b {
				t.Logf("%s(%s) = %v of %v", f.name, name, got, b)
			}
			if pad, ok := photoPadding[name]; ok {
				if e := edgeError(got, pad); e > regionTolerance {
					t.Errorf("%s(%s) = %v, want the picture inside the padding, %v", f.name, name, got, pad)
				}
			} else if e := edgeError(got, b); e >= sliver {
				t.Errorf("%s(%s) = %v of %v: trims %.1f%% of a side", f.name, name, got, b, 100*e)
			}
		}
	}
}

// skyImage is a 640x480 picture whose top half is a smooth sky gradient,
// each row one colour, above the texture of a real photo.
func skyImage(t testing.TB, from, to color.NRGBA) *image.NRGBA {
	t.Helper()
	photo := openPhoto(t, filepath.Join(toleranceDir, "bridge-mods-aaa-orig.jpg"))
	img := imaging.Resize(photo, 640, 480, imaging.Box)
	for y := range 240 {
		f := float64(y) / 239
		mix := func(a, b uint8) uint8 { return uint8(float64(a) + f*(float64(b)-float64(a)) + 0.5) }
		c := color.NRGBA{mix(from.R, to.R), mix(from.G, to.G), mix(from.B, to.B), 255}
		for x := range 640 {
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

// constantRows counts the rows at the top of img equal to its first row.
func constantRows(img image.Image) int {
	b := img.Bounds()
	for y := b.Min.Y + 1; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r0, g0, b0, _ := img.At(x, b.Min.Y).RGBA()
			r, g, bb, _ := img.At(x, y).RGBA()
			if r != r0 || g != g0 || bb != b0 {
				return y - b.Min.Y
			}
		}
	}
	return b.Dy()
}

// TestRegionSky checks that a clear sky, every row of it near-constant,
// is not taken for a bar.
func TestRegionSky(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from, to color.NRGBA
	}{
		{"blue", color.NRGBA{70, 120, 200, 255}, color.NRGBA{180, 210, 240, 255}},
		{"pale", color.NRGBA{200, 215, 235, 255}, color.NRGBA{225, 232, 240, 255}},
		{"dusk", color.NRGBA{10, 10, 40, 255}, color.NRGBA{120, 80, 90, 255}},
		// Haze: 8 levels over the whole half, every row within the bar
		// tolerance of the first; only the drift limit tells it from a bar.
		{"haze", color.NRGBA{196, 206, 222, 255}, color.NRGBA{204, 214, 228, 255}},
	} {
		sky := skyImage(t, tc.from, tc.to)
		for _, q := range []int{0, 50} {
			var img image.Image = sky
			if q > 0 {
				img = reencode(t, sky, q)
			}
			t.Run(fmt.Sprintf("%s/q%d", tc.name, q), func(t *testing.T) {
				limit := constantRows(img)
				for _, f := range []func(image.Image) image.Rectangle{TrimBorders, Content} {
					got := f(img)
					t.Logf("region %v of %v, %d constant rows", got, img.Bounds(), limit)
					if cut := got.Min.Y - img.Bounds().Min.Y; cut > limit {
						t.Errorf("region %v: %d rows cut from the sky, only %d constant", got, cut, limit)
					}
					if got.Max.Y != img.Bounds().Max.Y || got.Dx() != img.Bounds().Dx() {
						t.Errorf("region %v of %v: trimmed the textured edges", got, img.Bounds())
					}
				}
			})
		}
	}
}

// markedBand returns a w x h light band with sparse dark marks over about
// 5% of it, on a texture of the given grain (luma spread). The texture is
// value noise on a 4 px lattice, as the coarse grain of stone or plaster
// that survives JPEG (per-pixel noise does not); the first and last smooth
// rows have a grain of 2 only.
func markedBand(w, h int, grain float64, smooth int, seed uint64) *image.NRGBA {
	rng := rand.New(rand.NewPCG(seed, 7))
	const cell = 4
	lw, lh := w/cell+2, h/cell+2
	lattice := make([]float64, lw*lh)
	for i := range lattice {
		lattice[i] = rng.NormFloat64()
	}
	band := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		g := grain
		if y < smooth || y >= h-smooth {
			g = min(grain, 2)
		}
		fy := float64(y) / cell
		j, ty := int(fy), fy-float64(int(fy))
		for x := range w {
			fx := float64(x) / cell
			i, tx := int(fx), fx-float64(int(fx))
			at := func(i, j int) float64 { return lattice[j*lw+i] }
			n := (1-ty)*((1-tx)*at(i, j)+tx*at(i+1, j)) + ty*((1-tx)*at(i, j+1)+tx*at(i+1, j+1))
			// Bilinear value noise has about 0.6 of the lattice's spread.
			v := uint8(max(0, min(255, 210+g*(n/0.6*0.9+0.45*rng.NormFloat64()))))
			band.SetNRGBA(x, y, color.NRGBA{v, v, v - 6, 255})
		}
	}
	for range w * h / 20 / 36 {
		x, y := rng.IntN(w-6), rng.IntN(h-6)
		draw.Draw(band, image.Rect(x, y, x+6, y+6), image.NewUniform(color.NRGBA{40, 35, 30, 255}), image.Point{}, draw.Src)
	}
	return band
}

// TestRegionTexturedBand tells a caption band, flat with sparse marks,
// from a band of light texture with marks (a wall, sand, stone), which is
// picture: the same marks on a grain of 10 levels are not a caption, even
// with smooth rows at its edges, nor is a flat band of 45% of the height.
func TestRegionTexturedBand(t *testing.T) {
	for _, tc := range []struct {
		name    string
		band    int
		grain   float64
		smooth  int
		caption bool
	}{
		{"flat", 80, 0, 0, true},
		{"grain-10", 80, 10, 0, false},
		{"grain-10-smooth-edges", 80, 10, 8, false},
		{"flat-45%", 216, 0, 0, false},
	} {
		photo := imaging.Resize(openPhoto(t, filepath.Join(toleranceDir, "bridge-mods-aaa-orig.jpg")), 640, 480-tc.band, imaging.Box)
		img := imaging.New(640, 480, white)
		img = imaging.Paste(img, markedBand(640, tc.band, tc.grain, tc.smooth, 1), image.Point{})
		img = imaging.Paste(img, photo, image.Pt(0, tc.band))
		for _, q := range []int{0, 50} {
			var in image.Image = img
			if q > 0 {
				in = reencode(t, img, q)
			}
			t.Run(fmt.Sprintf("%s/q%d", tc.name, q), func(t *testing.T) {
				got := Content(in)
				t.Logf("Content = %v", got)
				want := in.Bounds()
				if tc.caption {
					want = image.Rect(0, tc.band, 640, 480)
				}
				if e := edgeError(got, want); e > regionTolerance {
					t.Errorf("Content = %v, want %v", got, want)
				}
			})
		}
	}
}

// TestRegionDegenerate checks inputs with nothing to find.
func TestRegionDegenerate(t *testing.T) {
	uniform := func(w, h int, c color.Color) image.Image {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		draw.Draw(img, img.Bounds(), image.NewUniform(c), image.Point{}, draw.Src)
		return img
	}
	noise := image.NewGray(image.Rect(0, 0, 200, 200))
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range noise.Pix {
		noise.Pix[i] = uint8(rng.IntN(256))
	}
	// A thin picture in a wide bar: the rest, 20% of the image, is not
	// believed.
	thin, _ := padToAspect(imaging.Resize(noise, 200, 40, imaging.Box), 1, 1, black)
	for _, tc := range []struct {
		name string
		img  image.Image
	}{
		{"0x0", image.NewRGBA(image.Rectangle{})},
		{"0x100", image.NewRGBA(image.Rect(0, 0, 0, 100))},
		{"1x1", uniform(1, 1, color.White)},
		{"2x2", uniform(2, 2, color.Black)},
		{"31x300", uniform(31, 300, color.Black)},
		{"black-100x100", uniform(100, 100, color.Black)},
		{"red-640x360", uniform(640, 360, red)},
		{"noise-200x200", noise},
		{"thin-picture-200x40", thin},
		{"strip-35x15000", uniform(35, 15000, color.Black)},
		{"strip-15000x40-noise", imaging.Resize(noise, 15000, 40, imaging.NearestNeighbor)},
		{"32x32-noise", imaging.Resize(noise, 32, 32, imaging.Box)},
		{"offset-empty", image.NewRGBA(image.Rect(50, 50, 50, 50))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.img.Bounds()
			if got := TrimBorders(tc.img); got != b {
				t.Errorf("TrimBorders = %v, want %v", got, b)
			}
			if got := Content(tc.img); got != b {
				t.Errorf("Content = %v, want %v", got, b)
			}
		})
	}
}

// TestRegionInvariants checks, on random images of every size from 0 to
// 300 px, at random offsets and in several pixel types, with random bars,
// that the region is inside the bounds, and is either the bounds or at
// least 32 px on a side and a quarter of the image.
func TestRegionInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	trimmed := 0
	for i := range 400 {
		w, h := rng.IntN(301), rng.IntN(301)
		at := image.Pt(rng.IntN(200)-100, rng.IntN(200)-100)
		img := image.NewNRGBA(image.Rect(0, 0, w, h).Add(at))
		for j := range img.Pix {
			img.Pix[j] = uint8(rng.IntN(256))
		}
		// Up to four bars of random colours and widths, some of them
		// covering most of the image.
		for range rng.IntN(5) {
			c := color.NRGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255}
			r := img.Rect
			switch d := rng.IntN(w*h/2 + 1); rng.IntN(4) {
			case 0:
				r.Max.Y = r.Min.Y + d/max(w, 1)
			case 1:
				r.Min.Y = r.Max.Y - d/max(w, 1)
			case 2:
				r.Max.X = r.Min.X + d/max(h, 1)
			default:
				r.Min.X = r.Max.X - d/max(h, 1)
			}
			draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
		}
		var in image.Image = img
		switch i % 3 {
		case 1:
			in = convertTo(image.NewGray(img.Rect), img)
		case 2:
			in = generic{img}
		}
		b := in.Bounds()
		for _, got := range []image.Rectangle{TrimBorders(in), Content(in)} {
			if got == b {
				continue
			}
			trimmed++
			if !got.In(b) || got.Dx() < 32 || got.Dy() < 32 || 4*got.Dx()*got.Dy() < b.Dx()*b.Dy() {
				t.Errorf("image %d, %v: region %v", i, b, got)
			}
		}
	}
	t.Logf("%d of 800 regions trimmed", trimmed)
	if trimmed < 100 {
		t.Errorf("only %d of 800 regions trimmed: the bars do not exercise the trimming", trimmed)
	}
}

// convertTo draws src into dst and returns dst.
func convertTo(dst draw.Image, src image.Image) image.Image {
	draw.Draw(dst, dst.Bounds(), src, src.Bounds().Min, draw.Src)
	return dst
}

// generic hides an image's type, leaving only the image.Image methods, so
// that it is read through At.
type generic struct{ image.Image }

// greys returns img as a paletted image of 256 greys, as a GIF frame.
func greys(img *image.Gray) *image.Paletted {
	pal := make(color.Palette, 256)
	for i := range pal {
		pal[i] = color.Gray{uint8(i)}
	}
	p := image.NewPaletted(img.Rect, pal)
	copy(p.Pix, img.Pix)
	return p
}

// TestRegionOffsetAndTypes checks that images with a non-zero Bounds().Min
// and every pixel type, read by the fast paths or the generic one, give the
// same region.
func TestRegionOffsetAndTypes(t *testing.T) {
	photo := openPhoto(t, filepath.Join(exactDir, "reg-test-input-pen-and-coaster.png"))
	edited, pic := addCaptions(t, photo, white, black, true, false)
	edited, off := padToAspect(edited, 16, 9, black)
	pic = pic.Add(off.Min)
	ycc := reencode(t, edited, 85).(*image.YCbCr)

	// The same pixels placed at (37, 53) in a larger image, then cut out.
	at := image.Pt(37, 53)
	big := image.NewYCbCr(image.Rect(0, 0, ycc.Rect.Dx()+80, ycc.Rect.Dy()+90), ycc.SubsampleRatio)
	sub := big.SubImage(ycc.Rect.Add(at)).(*image.YCbCr)
	for y := range ycc.Rect.Dy() {
		for x := range ycc.Rect.Dx() {
			sub.Y[sub.YOffset(x+at.X, y+at.Y)] = ycc.Y[ycc.YOffset(x, y)]
			sub.Cb[sub.COffset(x+at.X, y+at.Y)] = ycc.Cb[ycc.COffset(x, y)]
			sub.Cr[sub.COffset(x+at.X, y+at.Y)] = ycc.Cr[ycc.COffset(x, y)]
		}
	}
	r := sub.Rect
	convert := func(dst draw.Image) image.Image {
		draw.Draw(dst, r, sub, r.Min, draw.Src)
		return dst
	}
	images := []struct {
		name string
		img  image.Image
	}{
		{"YCbCr", sub},
		{"NRGBA", convert(image.NewNRGBA(r))},
		{"RGBA", convert(image.NewRGBA(r))},
		{"Gray", convert(image.NewGray(r))},
		{"RGBA64", convert(image.NewRGBA64(r))},
		{"Paletted-grey", greys(convert(image.NewGray(r)).(*image.Gray))},
		{"generic", generic{sub}},
		{"NRGBA-subimage", convert(image.NewNRGBA(r.Inset(-20))).(*image.NRGBA).SubImage(r)},
	}
	want := pic.Add(at)
	for _, f := range []struct {
		name string
		fn   func(image.Image) image.Rectangle
	}{{"TrimBorders", TrimBorders}, {"Content", Content}} {
		var first image.Rectangle
		for i, tc := range images {
			got := f.fn(tc.img)
			t.Logf("%s(%s) = %v, picture %v", f.name, tc.name, got, want)
			if !got.In(tc.img.Bounds()) {
				t.Errorf("%s(%s) = %v, outside the bounds %v", f.name, tc.name, got, tc.img.Bounds())
			}
			if i == 0 {
				first = got
			} else if got != first {
				// The same picture in another type (RGB a level off
				// after the conversion, Gray without its chroma) must
				// give the same region.
				t.Errorf("%s(%s) = %v, but %v for the YCbCr original", f.name, tc.name, got, first)
			}
		}
		if f.name == "Content" {
			if e := edgeError(first, want); e > regionTolerance {
				t.Errorf("Content = %v, want %v", first, want)
			}
		} else {
			// The pillarbox goes; the caption above the picture may stay.
			tol := int(regionTolerance * float64(want.Dx()))
			if abs(first.Min.X-want.Min.X) > float64(tol) || abs(first.Max.X-want.Max.X) > float64(tol) ||
				first.Min.Y > want.Min.Y || first.Max.Y < want.Max.Y-tol {
				t.Errorf("TrimBorders = %v, want the pillarbox beside the picture %v removed", first, want)
			}
		}
	}
}

const toleranceDir = "../testdata/pdq/tolerance"
const exactDir = "../testdata/pdq/exact"
