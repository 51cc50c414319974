package pixels

import (
	"image"
	"image/color"
	"math"
	"testing"

	"github.com/disintegration/imaging"
)

// cropTransform is the transform that takes a crop c of an image of size
// (w, h) to the image.
func cropTransform(w, h int, c image.Rectangle) Transform {
	le := float64(max(w, h))
	lq := float64(max(c.Dx(), c.Dy()))
	return Transform{Scale: lq / le, ShiftX: float64(c.Min.X) / le, ShiftY: float64(c.Min.Y) / le}
}

// sim is Similarity's map, which must exist.
func sim(t *testing.T, entry, query Thumb, tf Transform) Map {
	t.Helper()
	m, ok := Similarity(entry, query, tf)
	if !ok {
		t.Fatalf("no map for %+v", tf)
	}
	return m
}

// same compares two thumbnails of the same framing, whole over whole.
func same(entry, query Thumb) Result {
	m, _ := Boxes(entry, query, Whole, Whole)
	return Compare(entry, query, m)
}

// central is the crop of 80% by 83% of an image of size b.
func central(b image.Rectangle) image.Rectangle {
	return image.Rect(b.Dx()/10, b.Dy()/12, b.Dx()*9/10, b.Dy()*11/12)
}

// TestCompareCrop: a brightened crop of a photograph agrees with the
// photograph's thumbnail throughout under the transform that places it,
// and not when shifted, nor against the same crop of another photograph.
func TestCompareCrop(t *testing.T) {
	for i := range photos {
		orig := photo(t, i)
		b := orig.Bounds()
		c := central(b)
		entry := Make(orig, StoredSide)
		tf := cropTransform(b.Dx(), b.Dy(), c)
		query := Make(imaging.AdjustContrast(imaging.AdjustBrightness(imaging.Crop(orig, c), 20), 20), QuerySide)
		got := Compare(entry, query, sim(t, entry, query, tf))
		// (The sea's fine ripples sit just above flatStd: a few of its
		// blocks fall below agreeNCC once brightened.)
		if got.Blocks < 16 || got.Agreement() < 0.75 {
			t.Errorf("%s: a brightened crop: %+v (agreement %.2f)", photos[i], got, got.Agreement())
		}
		if got.Overlap < 0.4 || got.Overlap > 0.9 {
			t.Errorf("%s: overlap %.2f, want the crop's share of the blocks", photos[i], got.Overlap)
		}
		shifted := tf
		shifted.ShiftX += 0.06
		shifted.ShiftY += 0.06 // across the stairs' stripes too
		if s := Compare(entry, query, sim(t, entry, query, shifted)); s.Agreement() > 0.5 {
			t.Errorf("%s: the crop placed 6%% off both ways: %+v (agreement %.2f)", photos[i], s, s.Agreement())
		}
		for j := range photos {
			if j == i {
				continue
			}
			other := Make(imaging.Crop(imaging.Resize(photo(t, j), b.Dx(), b.Dy(), imaging.Linear), c), QuerySide)
			if o := Compare(entry, other, sim(t, entry, other, tf)); o.Agreement() > 0.3 {
				t.Errorf("%s against %s: %+v (agreement %.2f)", photos[i], photos[j], o, o.Agreement())
			}
		}
	}
}

// TestCompareMirror: a mirrored crop agrees under the transform of its
// mirror image, with Mirror set, and not without.
func TestCompareMirror(t *testing.T) {
	orig := photo(t, 0)
	b := orig.Bounds()
	c := central(b)
	entry := Make(orig, StoredSide)
	query := Make(imaging.FlipH(imaging.Crop(orig, c)), QuerySide)
	tf := cropTransform(b.Dx(), b.Dy(), c)
	tf.Mirror = true
	if got := Compare(entry, query, sim(t, entry, query, tf)); got.Agreement() < 0.85 {
		t.Errorf("a mirrored crop: %+v (agreement %.2f)", got, got.Agreement())
	}
	tf.Mirror = false
	if got := Compare(entry, query, sim(t, entry, query, tf)); got.Agreement() > 0.5 {
		t.Errorf("a mirrored crop taken as is: %+v (agreement %.2f)", got, got.Agreement())
	}
}

// TestCompareRotated: a photograph turned by 10 degrees (and grown to hold
// it) agrees under that rotation about its centre, and not upright.
func TestCompareRotated(t *testing.T) {
	orig := photo(t, 6)
	b := orig.Bounds()
	entry := Make(orig, StoredSide)
	const deg = 10.0
	rot := imaging.Rotate(orig, deg, color.Black) // counter-clockwise on screen
	query := Make(rot, QuerySide)
	rb := rot.Bounds()
	lq, le := float64(max(rb.Dx(), rb.Dy())), float64(max(b.Dx(), b.Dy()))
	// e = s R(a) q + shift: the query's centre goes to the entry's, and
	// with y pointing down the screen's counter-clockwise turn is undone
	// by a positive angle.
	tf := Transform{Scale: lq / le, Angle: deg * math.Pi / 180}
	qx, qy := float64(rb.Dx())/2/lq, float64(rb.Dy())/2/lq
	ca, sa := math.Cos(tf.Angle), math.Sin(tf.Angle)
	tf.ShiftX = float64(b.Dx())/2/le - tf.Scale*(ca*qx-sa*qy)
	tf.ShiftY = float64(b.Dy())/2/le - tf.Scale*(sa*qx+ca*qy)
	if got := Compare(entry, query, sim(t, entry, query, tf)); got.Agreement() < 0.85 {
		t.Errorf("turned by %v degrees: %+v (agreement %.2f)", deg, got, got.Agreement())
	}
	tf.Angle = 0
	if got := Compare(entry, query, sim(t, entry, query, tf)); got.Agreement() > 0.5 {
		t.Errorf("turned by %v degrees, taken upright: %+v (agreement %.2f)", deg, got, got.Agreement())
	}
}

// TestCompareSharedPart: two pictures sharing their left quarter (a
// sidebar) and differing in the rest agree on about that quarter.
func TestCompareSharedPart(t *testing.T) {
	a := imaging.Resize(photo(t, 5), 600, 400, imaging.Linear)
	b := imaging.Resize(photo(t, 6), 600, 400, imaging.Linear)
	b = imaging.Paste(b, imaging.Crop(a, image.Rect(0, 0, 150, 400)), image.Pt(0, 0))
	got := same(Make(a, StoredSide), Make(b, QuerySide))
	if ag := got.Agreement(); ag < 0.1 || ag > 0.4 {
		t.Errorf("a quarter shared: %+v (agreement %.2f, want about 0.25)", got, ag)
	}
}

// TestCompareFlat: near-blank pictures (a clear sky) have next to no
// textured blocks to compare (fewer than package match asks for); a flat
// entry against a textured query disagrees.
func TestCompareFlat(t *testing.T) {
	sky := photo(t, flatPhoto)
	if got := same(Make(sky, StoredSide), Make(sky, QuerySide)); got.Blocks >= 8 {
		t.Errorf("a clear sky against itself: %+v, want next to no blocks", got)
	}
	flat := imaging.New(400, 400, color.NRGBA{200, 200, 200, 255})
	got := same(Make(flat, StoredSide), Make(imaging.Resize(photo(t, 6), 400, 400, imaging.Linear), QuerySide))
	if got.Blocks < 16 || got.Agreeing != 0 {
		t.Errorf("flat against a photograph: %+v, want blocks and none agreeing", got)
	}
}

// TestMake: every pixel layout gives the same thumbnail, of the right size.
func TestMake(t *testing.T) {
	src := imaging.Clone(photo(t, 0))
	want := Make(src, 64)
	if want.W != 64 || want.H != 40 {
		t.Fatalf("a 400x251 photograph: %dx%d, want 64x40", want.W, want.H)
	}
	rgba := image.NewRGBA(src.Bounds())
	copy(rgba.Pix, src.Pix) // opaque: premultiplied is the same
	grey := imaging.Grayscale(src)
	greyImg := image.NewGray(src.Bounds())
	for i := range greyImg.Pix {
		greyImg.Pix[i] = grey.Pix[4*i]
	}
	for name, img := range map[string]image.Image{"rgba": rgba, "generic": struct{ image.Image }{src}} {
		got := Make(img, 64)
		if got.W != want.W || got.H != want.H {
			t.Fatalf("%s: %dx%d, want %dx%d", name, got.W, got.H, want.W, want.H)
		}
		for i := range got.Pix {
			if d := int(got.Pix[i]) - int(want.Pix[i]); d < -1 || d > 1 {
				t.Fatalf("%s: pixel %d is %d, want %d", name, i, got.Pix[i], want.Pix[i])
			}
		}
	}
	if g := Make(greyImg, 64); g.W != 64 || g.H != 40 || same(want, Make(greyImg, QuerySide)).Agreement() < 0.95 {
		t.Errorf("a grey copy: %dx%d, agreement with the colour one %.2f", g.W, g.H, same(want, Make(greyImg, QuerySide)).Agreement())
	}
	if small := Make(imaging.Resize(src, 40, 30, imaging.Linear), 64); small.W != 40 || small.H != 30 {
		t.Errorf("a 40x30 image: %dx%d, want its own size", small.W, small.H)
	}
	if tiny := Make(imaging.Resize(src, 6, 30, imaging.Linear), 64); tiny.Valid() {
		t.Errorf("a 6x30 image gave a thumbnail")
	}
}

// TestBoxes: a picture framed in a larger canvas (a screenshot's window)
// agrees when its box in the query is laid over the whole entry, and a
// picture squeezed to another aspect agrees whole over whole.
func TestBoxes(t *testing.T) {
	orig := photo(t, 4)
	entry := Make(orig, StoredSide)
	canvas := imaging.New(1000, 800, color.NRGBA{240, 240, 240, 255})
	b := orig.Bounds()
	at := image.Pt(300, 200)
	shot := Make(imaging.Paste(canvas, orig, at), QuerySide)
	q := Box{float64(at.X) / 1000, float64(at.Y) / 800, float64(b.Dx()) / 1000, float64(b.Dy()) / 800}
	m, ok := Boxes(entry, shot, Whole, q)
	if got := Compare(entry, shot, m); !ok || got.Agreement() < 0.85 || got.Overlap < 0.99 {
		t.Errorf("framed in a canvas: %+v (agreement %.2f)", got, got.Agreement())
	}
	m, _ = Boxes(entry, shot, Whole, Whole)
	if got := Compare(entry, shot, m); got.Agreement() > 0.3 {
		t.Errorf("the canvas taken whole: %+v (agreement %.2f)", got, got.Agreement())
	}
	squeezed := Make(imaging.Resize(orig, b.Dx(), b.Dy()*2/3, imaging.Linear), QuerySide)
	if got := same(entry, squeezed); got.Agreement() < 0.85 {
		t.Errorf("squeezed to two thirds of its height: %+v (agreement %.2f)", got, got.Agreement())
	}
}

// TestTurned: a thumbnail turned as pdq turns an image is the thumbnail of
// the image pdq turned, for each of the eight variants.
func TestTurned(t *testing.T) {
	src := imaging.Clone(photo(t, 0))
	thumb := Make(src, StoredSide)
	turn := map[int]func(image.Image) *image.NRGBA{
		0: imaging.Clone, 1: imaging.Rotate90, 2: imaging.Rotate180, 3: imaging.Rotate270,
		4: imaging.FlipV, 5: imaging.FlipH, 6: imaging.Transpose, 7: imaging.Transverse,
	}
	for d := range 8 {
		want := Make(turn[d](src), StoredSide)
		got := thumb.Turned(d)
		if got.W != want.W || got.H != want.H {
			t.Fatalf("variant %d: %dx%d, want %dx%d", d, got.W, got.H, want.W, want.H)
		}
		if r := same(want, got); r.Agreement() < 0.95 {
			t.Errorf("variant %d: agreement %.2f with the turned image's thumbnail", d, r.Agreement())
		}
	}
}

// TestAssured: the bound is below the share, rises with the number of
// blocks at the same share, and is 0 without blocks.
func TestAssured(t *testing.T) {
	few, many := Result{Blocks: 8, Agreeing: 8}, Result{Blocks: 64, Agreeing: 64}
	if a := few.Assured(); a < 0.70 || a > 0.80 {
		t.Errorf("8 of 8 assure %.3f, want about 0.75", a)
	}
	if a := many.Assured(); a < 0.95 || a >= 1 {
		t.Errorf("64 of 64 assure %.3f, want about 0.96", a)
	}
	half, halfMany := Result{Blocks: 10, Agreeing: 5}, Result{Blocks: 60, Agreeing: 30}
	if a, b := half.Assured(), halfMany.Assured(); a >= b || b >= 0.5 {
		t.Errorf("5 of 10 assure %.3f, 30 of 60 %.3f: want both under 0.5, the first lower", a, b)
	}
	if a := (Result{}).Assured(); a != 0 {
		t.Errorf("no blocks assure %.3f, want 0", a)
	}
	if a := (Result{Blocks: 9}).Assured(); a != 0 {
		t.Errorf("none of 9 agreeing assure %.3f, want 0", a)
	}
}
