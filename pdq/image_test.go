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
	rgba := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := uint8((x*x/7 + y*3 + x*y/11) % 251)
			nrgba.SetNRGBA(x, y, color.NRGBA{v, v / 2, 255 - v, 255})
			gray.SetGray(x, y, color.Gray{v})
			paletted.SetColorIndex(x, y, v)
			a := uint8(255 - (x+y)%7*40) // opaque, translucent, and (below) clear
			if (x+y)%7 == 6 {
				a = 0
			}
			rgba.SetRGBA(x, y, color.RGBA{min(v, a), min(v/2, a), min(255-v, a), a})
		}
	}
	for _, r := range []image.Rectangle{image.Rect(37, 0, 600, 400), image.Rect(0, 51, 300, 530), image.Rect(13, 29, 690, 520), image.Rect(100, 100, 160, 140)} {
		for name, m := range map[string]interface {
			image.Image
			SubImage(image.Rectangle) image.Image
		}{"nrgba": nrgba, "gray": gray, "paletted": paletted, "rgba": rgba} {
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

// TestUnpremultiply checks the RGBA fast path's conversion against
// color.NRGBAModel for every value and alpha.
func TestUnpremultiply(t *testing.T) {
	for a := range 256 {
		for v := 0; v <= a; v++ {
			want := color.NRGBAModel.Convert(color.RGBA{uint8(v), uint8(v / 2), uint8(a - v), uint8(a)}).(color.NRGBA)
			r, g, b := unpremultiply(uint8(v), uint8(v/2), uint8(a-v), uint8(a))
			if r != want.R || g != want.G || b != want.B {
				t.Fatalf("(%d,%d,%d,%d): %d,%d,%d, NRGBAModel %d,%d,%d", v, v/2, a-v, a, r, g, b, want.R, want.G, want.B)
			}
		}
	}
}

// TestTransformedImage checks that each variant is the hash of the image
// rotated or mirrored by hand, pixel by pixel.
func TestTransformedImage(t *testing.T) {
	const w, h = 97, 61
	src := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := uint8((x*x/5 + y*7 + x*y/3) % 253)
			src.SetNRGBA(x, y, color.NRGBA{v, 255 - v, v / 3, 255})
		}
	}
	// at returns the pixel that variant d shows at (x, y).
	at := map[Dihedral]func(x, y int) (int, int){
		Original:   func(x, y int) (int, int) { return x, y },
		Rotate90:   func(x, y int) (int, int) { return w - 1 - y, x },
		Rotate180:  func(x, y int) (int, int) { return w - 1 - x, h - 1 - y },
		Rotate270:  func(x, y int) (int, int) { return y, h - 1 - x },
		FlipX:      func(x, y int) (int, int) { return x, h - 1 - y },
		FlipY:      func(x, y int) (int, int) { return w - 1 - x, y },
		FlipPlus1:  func(x, y int) (int, int) { return y, x },
		FlipMinus1: func(x, y int) (int, int) { return w - 1 - y, h - 1 - x },
	}
	got, err := TransformedImage(src)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := DihedralImage(src)
	for d, f := range at {
		tw, th := w, h
		if d == Rotate90 || d == Rotate270 || d == FlipPlus1 || d == FlipMinus1 {
			tw, th = h, w
		}
		m := image.NewNRGBA(image.Rect(0, 0, tw, th))
		for y := range th {
			for x := range tw {
				sx, sy := f(x, y)
				m.Set(x, y, src.At(sx, sy))
			}
		}
		want, err := HashImage(m)
		if err != nil {
			t.Fatal(err)
		}
		if got.Hashes[d] != want.Hash {
			t.Errorf("%v: %v, want %v", d, got.Hashes[d], want.Hash)
		}
		// The reference's derivation agrees with it, within the filter's
		// asymmetry, on the same orientation.
		if dist := Distance(ref.Hashes[d], want.Hash); dist > 64 {
			t.Errorf("%v: the reference's variant is %d bits away: wrong orientation?", d, dist)
		}
	}
}
