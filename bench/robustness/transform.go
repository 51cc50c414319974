package robustness

import (
	"bytes"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/disintegration/imaging"
)

// Func is one re-edit: it returns a new image and never modifies img. Any
// randomness (crop offsets, noise, caption text) comes from rng, so a
// variant is the same for the same seed.
type Func func(img image.Image, rng *rand.Rand) image.Image

// Group says what kind of re-edit a transform is, so the report can show
// where perceptual hashes hold and where they break.
type Group string

// The groups of transforms.
const (
	// Baseline is the image as added, re-encoded: every matcher should find it.
	Baseline Group = "baseline"
	// Photometric changes pixel values or the encoding but keeps the
	// geometry: resizing, compression, colour, blur, noise.
	Photometric Group = "photometric"
	// Geometric moves, cuts, adds or overlays content: crops, borders,
	// captions, rotations, screenshots, collages.
	Geometric Group = "geometric"
)

// Transform is a named re-edit in the benchmark.
type Transform struct {
	// Name identifies the transform in the report, e.g. "crop-5".
	Name string
	// Group is the kind of re-edit.
	Group Group
	// Description says exactly what is done, with its parameters.
	Description string
	// Apply makes the variant.
	Apply Func
}

// Encoded is an image together with the file bytes it was decoded from. A
// transform that compresses (JPEG) returns one, so that the server receives
// that very file and a client-side hash sees the same decoded pixels.
type Encoded struct {
	image.Image
	// Data is the encoded file.
	Data []byte
}

// Encode returns the bytes sent to the server for a variant: the file of an
// Encoded image, otherwise a PNG (lossless, so the server sees exactly the
// pixels the transform made).
func Encode(img image.Image) ([]byte, error) {
	if e, ok := img.(*Encoded); ok {
		return e.Data, nil
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Transforms returns every transform of the benchmark in report order:
// the baseline, then the photometric ones, then the geometric ones. fill
// supplies the other pictures of a collage (any images; the benchmark uses
// distractors); with none, the collage's other cells get synthetic
// pictures.
func Transforms(fill []image.Image) []Transform {
	return []Transform{
		{"original", Baseline, "the image as added, sent again as PNG", Original},

		{"resize-50", Photometric, "resized to 50% of width and height (Lanczos)", Resize50},
		{"jpeg-q30", Photometric, "re-encoded as JPEG at quality 30", JPEG(30)},
		{"jpeg-q10", Photometric, "re-encoded as JPEG at quality 10", JPEG(10)},
		{"brightness+30", Photometric, "every channel multiplied by 1.3, clipped", Brightness30},
		{"contrast+30", Photometric, "contrast raised 30% around mid-grey (imaging.AdjustContrast 30)", Contrast30},
		{"hue-60", Photometric, "hue rotated by 60 degrees (HSL), lightness and saturation kept", Hue60},
		{"greyscale", Photometric, "converted to grey levels", Greyscale},
		{"blur-2", Photometric, "Gaussian blur, sigma 2 px", Blur2},
		{"noise-10", Photometric, "Gaussian noise, sigma 10 levels, independent per channel", Noise10},
		{"sharpen", Photometric, "unsharp mask, sigma 2 px (imaging.Sharpen)", Sharpen},

		{"crop-5", Geometric, "5% of the width and 5% of the height cut away, split at random between the two sides of each axis (about 10% of the area)", Crop(0.05)},
		{"crop-15", Geometric, "15% of the width and 15% of the height cut away, split at random between the two sides (about 28% of the area)", Crop(0.15)},
		{"window-70", Geometric, "an off-centre window of 70% of the width and height (49% of the area), offset towards a random side on each axis", Window70},
		{"caption", Geometric, "meme caption: a white band of 18% of the height added above, with black text", Caption},
		{"text-overlay", Geometric, "two lines of big white letters with a black outline across the middle, each 20% of the height", TextOverlay},
		{"corner-logo", Geometric, "an opaque round logo with a letter, 10% of the width, in a random corner", CornerLogo},
		{"border-5", Geometric, "a solid border of random colour, 5% of the width (left, right) and height (top, bottom) on each side", Border5},
		{"letterbox-16x9", Geometric, "padded with black bars to a 16:9 frame (pillarbox for images narrower than 16:9)", Letterbox},
		{"mirror", Geometric, "mirrored left to right", Mirror},
		{"rotate-90", Geometric, "rotated 90 degrees counter-clockwise", Rotate90},
		{"rotate-5", Geometric, "rotated 5 degrees counter-clockwise on black, then cropped back to the original size about the centre (black wedges in the corners)", Rotate5},
		{"stretch-130", Geometric, "width stretched by 1.3, height kept", Stretch},
		{"screenshot", Geometric, "a screenshot: the image at 65% of the width in an app frame (top bar, text line, bottom bar, grey background)", Screenshot},
		{"collage", Geometric, "a 2x2 collage: the image at half width and height in a random cell, other pictures in the other three", Collage(fill)},
		{"crop5+caption+jpeg50", Geometric, "crop-5, then caption, then JPEG at quality 50", Chain(Crop(0.05), Caption, JPEG(50))},

		// Re-edits the matcher was not designed on (issue 11's classes),
		// made our own way.
		{"mirror-crop-10", Geometric, "mirrored left to right, then 10% of the width and height cut away, split at random between the sides", Chain(Mirror, Crop(0.10))},
		{"rotate-12-crop", Geometric, "rotated 12 degrees either way on black, then the central 78% of the width and height kept (little black left)", Rotate12Crop},
		{"mirror-crop-bands", Geometric, "mirrored, 8% cut away, then grey bands above and below to a 4:5 frame (or beside, for tall images)", Chain(Mirror, Crop(0.08), Bands45)},
		{"side-by-side", Geometric, "the image beside another picture of the same height, on a random side, with a 2% white gap", SideBySide(fill)},
		{"cut-third", Geometric, "a third of the width (or of the height, at random) cut off one side", CutThird},
		{"screen-photo", Geometric, "a photo of a screen showing it: 82% size on a dark bezel, tilted 2 degrees, darker, softer, noisy, JPEG 70", ScreenPhoto},
	}
}

// Rotate12Crop rotates by 12 degrees (sign at random) and keeps the centre.
func Rotate12Crop(img image.Image, rng *rand.Rand) image.Image {
	b := img.Bounds()
	a := 12.0
	if rng.IntN(2) == 0 {
		a = -a
	}
	r := imaging.Rotate(img, a, color.Black)
	return imaging.CropCenter(r, max(1, b.Dx()*78/100), max(1, b.Dy()*78/100))
}

// Bands45 pads the image with mid-grey bands to a 4:5 (portrait) frame,
// or to 5:4 when it is already taller than 4:5.
func Bands45(img image.Image, _ *rand.Rand) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	fw, fh := w, h
	if w*5 >= h*4 {
		fh = int(math.Round(float64(w) * 5 / 4))
	} else {
		fw = int(math.Round(float64(h) * 5 / 4))
	}
	out := imaging.New(fw, fh, color.NRGBA{128, 128, 128, 255})
	x0, y0 := (fw-w)/2, (fh-h)/2
	draw.Draw(out, image.Rect(x0, y0, x0+w, y0+h), img, b.Min, draw.Src)
	return out
}

// SideBySide puts the image beside another picture (from fill, else a
// synthetic one) of the same height and about the same width.
func SideBySide(fill []image.Image) Func {
	return func(img image.Image, rng *rand.Rand) image.Image {
		b := img.Bounds()
		w, h := b.Dx(), b.Dy()
		ow := max(1, w*(80+rng.IntN(41))/100)
		var other image.Image
		if len(fill) > 0 {
			other = imaging.Fill(fill[rng.IntN(len(fill))], ow, h, imaging.Center, imaging.Lanczos)
		} else {
			other = syntheticPicture(ow, h, rng)
		}
		gap := max(1, (w+ow)/50)
		out := imaging.New(w+gap+ow, h, color.White)
		mineAt, otherAt := 0, w+gap
		if rng.IntN(2) == 0 {
			mineAt, otherAt = ow+gap, 0
		}
		draw.Draw(out, image.Rect(mineAt, 0, mineAt+w, h), img, b.Min, draw.Src)
		draw.Draw(out, image.Rect(otherAt, 0, otherAt+ow, h), other, other.Bounds().Min, draw.Src)
		return out
	}
}

// CutThird cuts a third of the width or of the height off one side.
func CutThird(img image.Image, rng *rand.Rand) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	r := image.Rect(0, 0, w, h)
	switch rng.IntN(4) {
	case 0:
		r.Min.X = w / 3
	case 1:
		r.Max.X = w - w/3
	case 2:
		r.Min.Y = h / 3
	default:
		r.Max.Y = h - h/3
	}
	return imaging.Crop(img, r.Add(b.Min))
}

// ScreenPhoto imitates a phone photo of a screen showing the image.
func ScreenPhoto(img image.Image, rng *rand.Rand) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	pw, ph := max(1, w*82/100), max(1, h*82/100)
	out := imaging.New(w, h, color.NRGBA{18, 18, 22, 255})
	pic := imaging.Resize(img, pw, ph, imaging.Lanczos)
	draw.Draw(out, image.Rect((w-pw)/2, (h-ph)/2, (w-pw)/2+pw, (h-ph)/2+ph), pic, image.Point{}, draw.Src)
	a := 2.0
	if rng.IntN(2) == 0 {
		a = -a
	}
	shot := imaging.CropCenter(imaging.Rotate(out, a, color.NRGBA{18, 18, 22, 255}), w, h)
	shot = imaging.Blur(imaging.AdjustBrightness(imaging.AdjustGamma(shot, 0.9), -8), 0.8)
	noisy := Noise10(shot, rng)
	return JPEG(70)(noisy, rng)
}

// Original returns the image unchanged (as a copy).
func Original(img image.Image, _ *rand.Rand) image.Image { return imaging.Clone(img) }

// Resize50 halves the width and height.
func Resize50(img image.Image, _ *rand.Rand) image.Image {
	b := img.Bounds()
	return imaging.Resize(img, max(1, b.Dx()/2), max(1, b.Dy()/2), imaging.Lanczos)
}

// JPEG returns a transform that encodes as JPEG at quality q and decodes
// again; the result carries the file.
func JPEG(q int) Func {
	return func(img image.Image, _ *rand.Rand) image.Image {
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, opaqueRGBA(img), &jpeg.Options{Quality: q}); err != nil {
			// Encoding to memory fails only on an empty image.
			panic(err)
		}
		dec, err := jpeg.Decode(bytes.NewReader(buf.Bytes()))
		if err != nil {
			panic(err)
		}
		return &Encoded{Image: dec, Data: buf.Bytes()}
	}
}

// opaqueRGBA gives the JPEG encoder its fast path: an opaque NRGBA image has
// the same bytes as an RGBA one.
func opaqueRGBA(img image.Image) image.Image {
	n, ok := img.(*image.NRGBA)
	if !ok || !n.Opaque() {
		return img
	}
	return &image.RGBA{Pix: n.Pix, Stride: n.Stride, Rect: n.Rect}
}

// Brightness30 multiplies every channel by 1.3, as photo editors' and
// augmentation libraries' brightness factors do.
func Brightness30(img image.Image, _ *rand.Rand) image.Image {
	var lut [256]uint8
	for i := range lut {
		lut[i] = uint8(min(255, math.Round(float64(i)*1.3)))
	}
	return imaging.AdjustFunc(img, func(c color.NRGBA) color.NRGBA {
		return color.NRGBA{lut[c.R], lut[c.G], lut[c.B], c.A}
	})
}

// Contrast30 raises the contrast by 30%.
func Contrast30(img image.Image, _ *rand.Rand) image.Image { return imaging.AdjustContrast(img, 30) }

// Hue60 rotates every pixel's hue by 60 degrees.
func Hue60(img image.Image, _ *rand.Rand) image.Image {
	return imaging.AdjustFunc(img, func(c color.NRGBA) color.NRGBA {
		h, s, l := rgbToHSL(c.R, c.G, c.B)
		r, g, b := hslToRGB(math.Mod(h+60.0/360, 1), s, l)
		return color.NRGBA{r, g, b, c.A}
	})
}

// Greyscale drops the colour.
func Greyscale(img image.Image, _ *rand.Rand) image.Image { return imaging.Grayscale(img) }

// Blur2 blurs with a Gaussian of sigma 2 pixels.
func Blur2(img image.Image, _ *rand.Rand) image.Image { return imaging.Blur(img, 2) }

// Noise10 adds Gaussian noise of sigma 10 levels to every channel.
func Noise10(img image.Image, rng *rand.Rand) image.Image {
	out := imaging.Clone(img)
	for i := 0; i < len(out.Pix); i += 4 {
		for c := range 3 {
			v := float64(out.Pix[i+c]) + rng.NormFloat64()*10
			out.Pix[i+c] = uint8(math.Round(min(255, max(0, v))))
		}
	}
	return out
}

// Sharpen applies an unsharp mask of sigma 2 pixels.
func Sharpen(img image.Image, _ *rand.Rand) image.Image { return imaging.Sharpen(img, 2) }

// Crop returns a transform that cuts away frac of the width and frac of the
// height, split at random between the two sides of each axis.
func Crop(frac float64) Func {
	return func(img image.Image, rng *rand.Rand) image.Image {
		b := img.Bounds()
		w, h := b.Dx(), b.Dy()
		cw, ch := int(math.Round(float64(w)*frac)), int(math.Round(float64(h)*frac))
		x0, y0 := rng.IntN(cw+1), rng.IntN(ch+1)
		return imaging.Crop(img, image.Rect(x0, y0, x0+w-cw, y0+h-ch).Add(b.Min))
	}
}

// Window70 keeps a window of 70% of the width and height, off the centre:
// on each axis its offset is in the first or the last quarter of the free
// range, chosen at random.
func Window70(img image.Image, rng *rand.Rand) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	ww, wh := int(math.Round(float64(w)*0.7)), int(math.Round(float64(h)*0.7))
	off := func(free int) int {
		q := free / 4
		o := rng.IntN(q + 1)
		if rng.IntN(2) == 1 {
			o = free - o
		}
		return o
	}
	x0, y0 := off(w-ww), off(h-wh)
	return imaging.Crop(img, image.Rect(x0, y0, x0+ww, y0+wh).Add(b.Min))
}

// captions are the texts drawn by Caption and TextOverlay: neutral words
// in the shape of meme captions.
var captions = []string{
	"WHEN THE TRUTH COMES OUT",
	"THEY DON'T WANT YOU TO SEE THIS",
	"SHARE BEFORE IT'S DELETED",
	"NOBODY TALKS ABOUT THIS",
	"REMEMBER THIS DAY",
	"THIS IS WHAT THEY HIDE",
}

// overlayWords are the two big lines of TextOverlay.
var overlayWords = [][2]string{
	{"WAKE UP", "RISE NOW"},
	{"NEVER", "FORGET"},
	{"JOIN US", "TODAY"},
	{"THE END", "IS NEAR"},
}

// Caption adds a white band of 18% of the height above the image with a
// line of black text, as meme generators do.
func Caption(img image.Image, rng *rand.Rand) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	band := max(1, int(math.Round(float64(h)*0.18)))
	out := imaging.New(w, h+band, color.White)
	draw.Draw(out, image.Rect(0, band, w, h+band), img, b.Min, draw.Src)
	text := captions[rng.IntN(len(captions))]
	drawText(out, text, image.Rect(w/20, band/5, w-w/20, band-band/5), color.Black, 0)
	return out
}

// TextOverlay writes two lines of big white letters with a black outline
// across the middle of the image.
func TextOverlay(img image.Image, rng *rand.Rand) image.Image {
	out := imaging.Clone(img)
	b := out.Bounds()
	w, h := b.Dx(), b.Dy()
	words := overlayWords[rng.IntN(len(overlayWords))]
	line := int(math.Round(float64(h) * 0.2))
	outline := max(1, line/14)
	top := h/2 - line - line/8
	drawText(out, words[0], image.Rect(w/20, top, w-w/20, top+line), color.White, outline)
	top = h/2 + line/8
	drawText(out, words[1], image.Rect(w/20, top, w-w/20, top+line), color.White, outline)
	return out
}

// CornerLogo puts an opaque round logo of 10% of the width, with a letter
// in it, into a random corner.
func CornerLogo(img image.Image, rng *rand.Rand) image.Image {
	out := imaging.Clone(img)
	b := out.Bounds()
	w, h := b.Dx(), b.Dy()
	s := max(8, int(math.Round(float64(w)*0.10)))
	margin := max(1, w/50)
	x0, y0 := margin, margin
	if rng.IntN(2) == 1 {
		x0 = w - margin - s
	}
	if rng.IntN(2) == 1 {
		y0 = h - margin - s
	}
	fill := saturated(rng)
	r := float64(s) / 2
	cx, cy := float64(x0)+r, float64(y0)+r
	for y := y0; y < y0+s; y++ {
		for x := x0; x < x0+s; x++ {
			dx, dy := float64(x)+0.5-cx, float64(y)+0.5-cy
			switch d := math.Hypot(dx, dy); {
			case d <= r*0.82:
				out.Set(x, y, fill)
			case d <= r:
				out.Set(x, y, color.White)
			}
		}
	}
	letter := string(rune('A' + rng.IntN(26)))
	inner := s * 45 / 100
	drawText(out, letter, image.Rect(x0+(s-inner)/2, y0+(s-inner)/2, x0+(s+inner)/2, y0+(s+inner)/2), color.White, 0)
	return out
}

// Border5 adds a solid border of a random colour: 5% of the width on the
// left and right, 5% of the height on the top and bottom.
func Border5(img image.Image, rng *rand.Rand) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	px, py := max(1, int(math.Round(float64(w)*0.05))), max(1, int(math.Round(float64(h)*0.05)))
	out := imaging.New(w+2*px, h+2*py, saturated(rng))
	draw.Draw(out, image.Rect(px, py, px+w, py+h), img, b.Min, draw.Src)
	return out
}

// Letterbox pads the image with black bars, centred, to a 16:9 frame: bars
// above and below an image wider than 16:9, left and right otherwise.
func Letterbox(img image.Image, _ *rand.Rand) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	fw, fh := w, h
	if w*9 >= h*16 {
		fh = int(math.Round(float64(w) * 9 / 16))
	} else {
		fw = int(math.Round(float64(h) * 16 / 9))
	}
	out := imaging.New(fw, fh, color.Black)
	x0, y0 := (fw-w)/2, (fh-h)/2
	draw.Draw(out, image.Rect(x0, y0, x0+w, y0+h), img, b.Min, draw.Src)
	return out
}

// Mirror flips the image left to right.
func Mirror(img image.Image, _ *rand.Rand) image.Image { return imaging.FlipH(img) }

// Rotate90 rotates the image 90 degrees counter-clockwise.
func Rotate90(img image.Image, _ *rand.Rand) image.Image { return imaging.Rotate90(img) }

// Rotate5 rotates the image 5 degrees counter-clockwise on a black
// background and crops the result back to the original size about its
// centre, as an editor's "straighten" without auto-crop does.
func Rotate5(img image.Image, _ *rand.Rand) image.Image {
	b := img.Bounds()
	return imaging.CropCenter(imaging.Rotate(img, 5, color.Black), b.Dx(), b.Dy())
}

// Stretch widens the image by 1.3, keeping its height.
func Stretch(img image.Image, _ *rand.Rand) image.Image {
	b := img.Bounds()
	return imaging.Resize(img, int(math.Round(float64(b.Dx())*1.3)), b.Dy(), imaging.Lanczos)
}

// Screenshot shows the image as a screenshot of an app shows it: scaled to
// 65% of the frame's width, under a dark top bar, above a line of text and
// a bottom bar of icons, on a uniform light grey background. The frame is
// as wide as the original image.
func Screenshot(img image.Image, rng *rand.Rand) image.Image {
	b := img.Bounds()
	w := b.Dx()
	iw := max(1, int(math.Round(float64(w)*0.65)))
	ih := max(1, int(math.Round(float64(b.Dy())*float64(iw)/float64(w))))
	pic := imaging.Resize(img, iw, ih, imaging.Lanczos)

	topBar := max(8, w*9/100)
	gap := max(2, w*4/100)
	textLine := max(6, w*6/100)
	bottomBar := max(8, w*10/100)
	h := topBar + gap + ih + gap + textLine + gap + bottomBar
	out := imaging.New(w, h, color.NRGBA{236, 236, 236, 255})

	draw.Draw(out, image.Rect(0, 0, w, topBar), image.NewUniform(color.NRGBA{32, 33, 36, 255}), image.Point{}, draw.Src)
	drawText(out, "12:34   example.social/post", image.Rect(w/30, topBar/4, w*2/3, topBar-topBar/4), color.NRGBA{230, 230, 230, 255}, 0)

	x0 := (w - iw) / 2
	y0 := topBar + gap
	draw.Draw(out, image.Rect(x0, y0, x0+iw, y0+ih), pic, image.Point{}, draw.Src)

	y := y0 + ih + gap
	likes := 100 + rng.IntN(9900)
	drawText(out, "liked by "+strconv.Itoa(likes)+" people  -  reply  -  share", image.Rect(x0, y, x0+iw, y+textLine), color.NRGBA{60, 60, 60, 255}, 0)

	y = h - bottomBar
	draw.Draw(out, image.Rect(0, y, w, h), image.NewUniform(color.NRGBA{250, 250, 250, 255}), image.Point{}, draw.Src)
	icon := bottomBar / 2
	for i := range 5 {
		cx := w*(2*i+1)/10 - icon/2
		draw.Draw(out, image.Rect(cx, y+bottomBar/4, cx+icon, y+bottomBar/4+icon), image.NewUniform(color.NRGBA{120, 120, 128, 255}), image.Point{}, draw.Src)
	}
	return out
}

// Collage returns a transform that makes a 2x2 grid as large as the image:
// the image, resized to half its width and height, in a random cell, and
// pictures from fill (cropped to fill their cells) in the three others.
func Collage(fill []image.Image) Func {
	return func(img image.Image, rng *rand.Rand) image.Image {
		b := img.Bounds()
		cw, ch := max(1, b.Dx()/2), max(1, b.Dy()/2)
		out := imaging.New(2*cw, 2*ch, color.White)
		mine := rng.IntN(4)
		for cell := range 4 {
			var pic image.Image
			if cell == mine {
				pic = imaging.Resize(img, cw, ch, imaging.Lanczos)
			} else if len(fill) > 0 {
				pic = imaging.Fill(fill[rng.IntN(len(fill))], cw, ch, imaging.Center, imaging.Lanczos)
			} else {
				pic = syntheticPicture(cw, ch, rng)
			}
			at := image.Pt((cell%2)*cw, (cell/2)*ch)
			draw.Draw(out, image.Rectangle{at, at.Add(image.Pt(cw, ch))}, pic, pic.Bounds().Min, draw.Src)
		}
		return out
	}
}

// syntheticPicture is a smooth random two-colour picture, for collages
// without fill images.
func syntheticPicture(w, h int, rng *rand.Rand) *image.NRGBA {
	a, c := saturated(rng), saturated(rng)
	fx, fy := 1+rng.Float64()*3, 1+rng.Float64()*3
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			t := 0.5 + 0.5*math.Sin(fx*math.Pi*float64(x)/float64(w))*math.Cos(fy*math.Pi*float64(y)/float64(h))
			out.SetNRGBA(x, y, color.NRGBA{
				uint8(float64(a.R)*t + float64(c.R)*(1-t)),
				uint8(float64(a.G)*t + float64(c.G)*(1-t)),
				uint8(float64(a.B)*t + float64(c.B)*(1-t)),
				255,
			})
		}
	}
	return out
}

// Chain returns the transform that applies fns in order, all drawing from
// the same rng.
func Chain(fns ...Func) Func {
	return func(img image.Image, rng *rand.Rand) image.Image {
		for _, f := range fns {
			img = f(img, rng)
		}
		return img
	}
}

// saturated returns a random fully saturated colour of medium lightness.
func saturated(rng *rand.Rand) color.NRGBA {
	r, g, b := hslToRGB(rng.Float64(), 0.85, 0.45)
	return color.NRGBA{r, g, b, 255}
}

// rgbToHSL converts to hue, saturation and lightness, each 0..1.
func rgbToHSL(r8, g8, b8 uint8) (h, s, l float64) {
	r, g, b := float64(r8)/255, float64(g8)/255, float64(b8)/255
	mx, mn := max(r, g, b), min(r, g, b)
	l = (mx + mn) / 2
	if mx == mn {
		return 0, 0, l
	}
	d := mx - mn
	if l > 0.5 {
		s = d / (2 - mx - mn)
	} else {
		s = d / (mx + mn)
	}
	switch mx {
	case r:
		h = (g - b) / d
		if g < b {
			h += 6
		}
	case g:
		h = (b-r)/d + 2
	default:
		h = (r-g)/d + 4
	}
	return h / 6, s, l
}

// hslToRGB is the inverse of rgbToHSL.
func hslToRGB(h, s, l float64) (r, g, b uint8) {
	if s == 0 {
		v := uint8(math.Round(l * 255))
		return v, v, v
	}
	var q float64
	if l < 0.5 {
		q = l * (1 + s)
	} else {
		q = l + s - l*s
	}
	p := 2*l - q
	ch := func(t float64) uint8 {
		t = t - math.Floor(t)
		var v float64
		switch {
		case t < 1.0/6:
			v = p + (q-p)*6*t
		case t < 0.5:
			v = q
		case t < 2.0/3:
			v = p + (q-p)*(2.0/3-t)*6
		default:
			v = p
		}
		return uint8(math.Round(min(1, max(0, v)) * 255))
	}
	return ch(h + 1.0/3), ch(h), ch(h - 1.0/3)
}
