package pdq

import (
	"image"
	"image/color"
	"testing"
)

// TestHashSubImage checks that a sub-image (bounds not at the origin) hashes
// as a copy of its pixels does, for every pixel layout read directly.
func TestHashSubImage(t *testing.T) {
	const w, h = 700, 530 // larger than MaxSide, so the sampled path runs too
	nrgba := image.NewNRGBA(image.Rect(0, 0, w, h))
	gray := image.NewGray(image.Rect(0, 0, w, h))
	pal := make(color.Palette, 256)
	for i := range pal {
		pal[i] = color.RGBA{uint8(i), uint8(255 - i), uint8(i * 7), 255}
	}
	paletted := image.NewPaletted(image.Rect(0, 0, w, h), pal)
	for y := range h {
		for x := range w {
			v := uint8((x*x/7 + y*3 + x*y/11) % 251)
			nrgba.SetNRGBA(x, y, color.NRGBA{v, v / 2, 255 - v, 255})
			gray.SetGray(x, y, color.Gray{v})
			paletted.SetColorIndex(x, y, v)
		}
	}
	for _, r := range []image.Rectangle{image.Rect(37, 0, 600, 400), image.Rect(0, 51, 300, 530), image.Rect(13, 29, 690, 520), image.Rect(100, 100, 160, 140)} {
		for name, m := range map[string]interface {
			image.Image
			SubImage(image.Rectangle) image.Image
		}{"nrgba": nrgba, "gray": gray, "paletted": paletted} {
			sub := m.SubImage(r)
			cp := image.NewNRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
			for y := range r.Dy() {
				for x := range r.Dx() {
					cp.Set(x, y, sub.At(r.Min.X+x, r.Min.Y+y))
				}
			}
			got, err := HashImage(sub)
			if err != nil {
				t.Fatal(err)
			}
			want, err := HashImage(cp)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%s sub-image %v: hash %v, copy hashes to %v", name, r, got, want)
			}
		}
	}
}
