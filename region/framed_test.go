package region

import (
	"image"
	"image/color"
	"image/draw"
	"path/filepath"
	"testing"

	"github.com/disintegration/imaging"

	"github.com/mediamatch/mediamatch/pdq"
)

// screenshotOf shows pic as an app's screenshot shows a post: scaled to
// 65% of a frame w wide, under a dark top bar with text, above a caption
// line and a bottom bar of icons, on light grey. It returns the frame and
// where the picture is.
func screenshotOf(t testing.TB, pic image.Image, w int) (*image.NRGBA, image.Rectangle) {
	t.Helper()
	iw := w * 65 / 100
	ih := pic.Bounds().Dy() * iw / pic.Bounds().Dx()
	scaled := imaging.Resize(pic, iw, ih, imaging.Lanczos)
	bar, gap, line, bottom := w*9/100, w*4/100, w*6/100, w*10/100
	h := bar + gap + ih + gap + line + gap + bottom
	out := imaging.New(w, h, color.NRGBA{236, 236, 236, 255})
	fill := func(r image.Rectangle, c color.NRGBA) {
		draw.Draw(out, r, image.NewUniform(c), image.Point{}, draw.Src)
	}
	fill(image.Rect(0, 0, w, bar), color.NRGBA{32, 33, 36, 255})
	for i := range 8 { // status text and icons
		x := w/30 + i*w/12
		fill(image.Rect(x, bar/3, x+w/20, bar*2/3), color.NRGBA{230, 230, 230, 255})
	}
	at := image.Rect((w-iw)/2, bar+gap, (w-iw)/2+iw, bar+gap+ih)
	draw.Draw(out, at, scaled, image.Point{}, draw.Src)
	out = imaging.Paste(out, captionBand(t, iw, line, "LIKED BY 1234 PEOPLE AND OTHERS - REPLY - SHARE - SAVE  VIEW ALL 56 COMMENTS - POSTED 3 HOURS AGO", color.NRGBA{236, 236, 236, 255}, color.NRGBA{60, 60, 60, 255}), image.Pt(at.Min.X, at.Max.Y+gap))
	fill(image.Rect(0, h-bottom, w, h), color.NRGBA{250, 250, 250, 255})
	for i := range 5 {
		x := w*(2*i+1)/10 - bottom/4
		fill(image.Rect(x, h-bottom*3/4, x+bottom/2, h-bottom/4), color.NRGBA{120, 120, 128, 255})
	}
	return out, at
}

// TestFramedBoxes checks that a picture shown inside a screenshot, or in a
// collage cell, is found to the pixel and hashes as the picture does.
func TestFramedBoxes(t *testing.T) {
	photo := imaging.Resize(openPhoto(t, regionPhotos[0].path), 320, 0, imaging.Lanczos)
	art, _ := artOnWhite(t, photo, 320, 260, 30, 20, 260, 220)
	for _, c := range []struct {
		name string
		pic  image.Image
	}{{"photo", photo}, {"white-ground art", art}} {
		shot, at := screenshotOf(t, c.pic, 480)
		boxes := framedBoxes(shot)
		if !hasBox(boxes, at, 0) {
			t.Errorf("%s in a screenshot: boxes %v, want %v among them", c.name, boxes, at)
			continue
		}
		want := pdqOf(t, imaging.Resize(c.pic, at.Dx(), at.Dy(), imaging.Lanczos))
		if d := pdq.Distance(pdqOf(t, crop(shot, at)), pdqOf(t, c.pic)); d > regionMaxPDQ {
			t.Errorf("%s in a screenshot: %d bits from the picture (%d from it scaled)", c.name, d, pdq.Distance(pdqOf(t, crop(shot, at)), want))
		}
		if jpg := reencode(t, shot, 75); !hasBox(framedBoxes(jpg), at, 1) {
			t.Errorf("%s in a screenshot, JPEG 75: boxes %v, want %v among them", c.name, framedBoxes(jpg), at)
		}
	}

	// A 2x2 collage: every cell is framed by the others and the border.
	others := []string{"reg-test-input-pen-and-coaster.png", "exif-rotn-exif-rotn-1.png", "dih-bridge-3-rotate-180.png"}
	collage := imaging.New(400, 300, white)
	cells := []image.Rectangle{image.Rect(0, 0, 200, 150), image.Rect(200, 0, 400, 150), image.Rect(0, 150, 200, 300), image.Rect(200, 150, 400, 300)}
	for i, r := range cells {
		var pic image.Image = photo
		if i > 0 {
			pic = openPhoto(t, filepath.Join(exactDir, others[i-1]))
		}
		draw.Draw(collage, r, imaging.Fill(pic, 200, 150, imaging.Center, imaging.Lanczos), image.Point{}, draw.Src)
	}
	boxes := framedBoxes(collage)
	for _, r := range cells {
		if !hasBox(boxes, r, 0) {
			t.Errorf("collage: boxes %v, want cell %v among them", boxes, r)
		}
	}
}

// TestFramedBoxesUnedited checks that on unedited photos, a framed box is
// never the photo itself again, give or take a sliver (that hash would be
// the whole image's, a second time).
func TestFramedBoxesUnedited(t *testing.T) {
	found := 0
	for _, path := range testPhotos(t) {
		img := openPhoto(t, path)
		for _, r := range framedBoxes(img) {
			found++
			if edgeError(r, img.Bounds()) < sliver {
				t.Errorf("%s: framed box %v is the image", path, r)
			}
		}
	}
	t.Logf("%d framed boxes in %d unedited images", found, len(testPhotos(t)))
}
