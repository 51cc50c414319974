package robustness

import (
	"image"
	"image/color"
	"image/draw"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// boldFont is Go Bold, parsed once. A parsed font is safe for concurrent
// use; the faces made from it are not, so each drawing makes its own.
var boldFont = sync.OnceValue(func() *opentype.Font {
	f, err := opentype.Parse(gobold.TTF)
	if err != nil {
		panic("parsing the embedded Go Bold font: " + err.Error())
	}
	return f
})

// minTextPx is the smallest font size drawn: below it letters are noise.
const minTextPx = 6

// newFace returns Go Bold at size pixels per em.
func newFace(size float64) font.Face {
	face, err := opentype.NewFace(boldFont(), &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingNone})
	if err != nil {
		panic("sizing the embedded Go Bold font: " + err.Error())
	}
	return face
}

// drawText draws one line of text centred in box, as large as fits: its
// capital letters as tall as the box, narrowed to the box's width. With
// outline > 0 the letters get a black outline that many pixels thick.
func drawText(dst draw.Image, text string, box image.Rectangle, col color.Color, outline int) {
	if box.Dx() <= 0 || box.Dy() <= 0 {
		return
	}
	// Go Bold's capitals are about 0.73 em tall.
	size := float64(box.Dy()) / 0.73
	face := newFace(size)
	if adv := font.MeasureString(face, text).Ceil(); adv > box.Dx() {
		face.Close()
		size *= float64(box.Dx()) / float64(adv)
		face = newFace(size)
	}
	defer face.Close()
	if size < minTextPx {
		return
	}
	adv := font.MeasureString(face, text).Ceil()
	capHeight := face.Metrics().CapHeight.Ceil()
	x := box.Min.X + (box.Dx()-adv)/2
	y := box.Min.Y + (box.Dy()+capHeight)/2
	// The letters go into a mask first, so that the outline is one
	// dilation of it rather than the text drawn again at every offset.
	area := box.Inset(-outline - 2).Intersect(dst.Bounds())
	mask := image.NewAlpha(area)
	d := font.Drawer{Dst: mask, Src: image.Opaque, Face: face, Dot: fixed.P(x, y)}
	d.DrawString(text)
	if outline > 0 {
		draw.DrawMask(dst, area, image.NewUniform(color.Black), image.Point{}, dilate(mask, outline), area.Min, draw.Over)
	}
	draw.DrawMask(dst, area, image.NewUniform(col), image.Point{}, mask, area.Min, draw.Over)
}

// dilate returns m with every pixel set to the largest value within r
// pixels on both axes (a square structuring element, in two passes).
func dilate(m *image.Alpha, r int) *image.Alpha {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	tmp := make([]uint8, w*h)
	for y := range h {
		row := m.Pix[y*m.Stride : y*m.Stride+w]
		for x := range w {
			v := uint8(0)
			for k := max(0, x-r); k <= min(w-1, x+r); k++ {
				v = max(v, row[k])
			}
			tmp[y*w+x] = v
		}
	}
	out := image.NewAlpha(b)
	for y := range h {
		for x := range w {
			v := uint8(0)
			for k := max(0, y-r); k <= min(h-1, y+r); k++ {
				v = max(v, tmp[k*w+x])
			}
			out.Pix[y*out.Stride+x] = v
		}
	}
	return out
}
