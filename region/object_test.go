package region

import (
	"image"
	"image/color"
	"image/draw"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/disintegration/imaging"

	"github.com/mediamatch/mediamatch/pdq"
)

// artOnWhite draws the photo as a cut-out ellipse of w x h on a white
// canvas of cw x ch at (x, y), as clip art and stickers are drawn, and
// returns the canvas and the ellipse's box. The ellipse may run off the
// canvas.
func artOnWhite(t testing.TB, photo image.Image, cw, ch, x, y, w, h int) (*image.NRGBA, image.Rectangle) {
	t.Helper()
	pic := imaging.Fill(photo, w, h, imaging.Center, imaging.Lanczos)
	canvas := imaging.New(cw, ch, white)
	rx, ry := float64(w)/2, float64(h)/2
	for j := range h {
		for i := range w {
			dx, dy := (float64(i)+0.5-rx)/rx, (float64(j)+0.5-ry)/ry
			if dx*dx+dy*dy <= 1 && image.Pt(x+i, y+j).In(canvas.Bounds()) {
				canvas.Set(x+i, y+j, pic.At(i, j))
			}
		}
	}
	return canvas, image.Rect(x, y, x+w, y+h).Intersect(canvas.Bounds())
}

// hasBox reports whether boxes holds one within tol pixels of want on
// every side.
func hasBox(boxes []image.Rectangle, want image.Rectangle, tol int) bool {
	return slices.ContainsFunc(boxes, func(r image.Rectangle) bool { return near(r, want, tol) })
}

// TestObjectBoxes checks that a picture drawn on a white ground is found
// by its own box on both sides: as banked, under an added caption band of
// the same white (where no edge separates band from ground), when the
// picture runs off an edge, and after a crop of ground.
func TestObjectBoxes(t *testing.T) {
	photo := openPhoto(t, regionPhotos[0].path)
	art, box := artOnWhite(t, photo, 420, 360, 70, 50, 300, 260)
	if got := objectBoxes(art, false); len(got) != 1 || !near(got[0], box, 1) {
		t.Fatalf("stored boxes %v, want %v", got, box)
	}
	want := pdqOf(t, crop(art, box))

	check := func(name string, img image.Image, box image.Rectangle) {
		t.Helper()
		boxes := objectBoxes(img, true)
		if !hasBox(boxes, box, 1) {
			t.Errorf("%s: boxes %v, want %v among them", name, boxes, box)
			return
		}
		for _, r := range boxes {
			if near(r, box, 1) {
				if d := pdq.Distance(pdqOf(t, crop(img, r)), want); d > regionMaxPDQ {
					t.Errorf("%s: the picture's box hashes %d bits from the banked one", name, d)
				}
			}
		}
	}
	captioned, pic := addCaptions(t, art, white, black, true, false)
	check("caption above", captioned, box.Add(pic.Min))
	both, pic := addCaptions(t, art, white, black, true, true)
	check("captions above and below", both, box.Add(pic.Min))
	check("caption, JPEG 50", reencode(t, captioned, 50), box.Add(image.Pt(0, art.Bounds().Dy()*18/100)))
	check("ground cropped away", crop(art, image.Rect(40, 20, 400, 340)), box.Sub(image.Pt(40, 20)))

	// A picture that runs off the bottom edge has ground on three sides.
	low, lowBox := artOnWhite(t, photo, 420, 360, 70, 120, 300, 300)
	if got := objectBoxes(low, false); len(got) != 1 || !near(got[0], lowBox, 1) {
		t.Errorf("picture off the bottom edge: %v, want %v", got, lowBox)
	}
	lowCaptioned, pic := addCaptions(t, low, white, black, true, false)
	if got := objectBoxes(lowCaptioned, true); !hasBox(got, lowBox.Add(pic.Min), 1) {
		t.Errorf("captioned picture off the bottom edge: %v, want %v among them", got, lowBox.Add(pic.Min))
	}

	// Two pictures, the upper one too large to be a caption's line: never
	// split.
	two := imaging.New(420, 520, white)
	draw.Draw(two, image.Rect(60, 20, 360, 240), imaging.Fill(photo, 300, 220, imaging.Center, imaging.Lanczos), image.Point{}, draw.Src)
	draw.Draw(two, image.Rect(60, 270, 360, 500), imaging.Fill(photo, 300, 230, imaging.Top, imaging.Lanczos), image.Point{}, draw.Src)
	if got := objectBoxes(two, true); len(got) != 1 || !near(got[0], image.Rect(60, 20, 360, 500), 1) {
		t.Errorf("two stacked pictures: %v, want only their joint box", got)
	}

	// No ground: a photo, and the same photo under a caption band of its
	// own (the band's ground is not the picture's edge).
	if got := objectBoxes(photo, true); len(got) != 0 {
		t.Errorf("photo: %v, want none", got)
	}
	flat := imaging.New(400, 300, color.NRGBA{40, 90, 160, 255})
	if got := objectBoxes(flat, true); len(got) != 0 {
		t.Errorf("flat image: %v, want none", got)
	}
}

// TestObjectBoxesUnedited checks that no image of the reference set loses
// more than a sliver to ground it does not have.
func TestObjectBoxesUnedited(t *testing.T) {
	for _, path := range testPhotos(t) {
		img := openPhoto(t, path)
		b := img.Bounds()
		name := filepath.Base(path)
		if strings.HasPrefix(name, "synth-") {
			continue // drawn shapes on plain grounds: boxes are their due
		}
		for _, r := range objectBoxes(img, false) {
			if pad, ok := photoPadding[name]; ok && pad.In(r) {
				continue
			}
			if e := edgeError(r, b); e >= sliver {
				t.Errorf("%s: object box %v of %v", path, r, b)
			}
		}
	}
}
