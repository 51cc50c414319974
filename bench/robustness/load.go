package robustness

import (
	"bytes"
	"fmt"
	"image"
	_ "image/jpeg" // corpus files are JPEG or PNG
	_ "image/png"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/disintegration/imaging"
)

// Limits of loading corpus images.
const (
	// DefaultMaxSide is the longest side an image is scaled down to when
	// loaded: as large as the pictures people post, small enough that a
	// full run fits in minutes on two cores. PDQ itself samples to 512.
	DefaultMaxSide = 1024
	// maxPixels refuses images whose header promises more pixels than any
	// picture in the corpus plausibly has, before decoding them.
	maxPixels = 50_000_000
)

// imageExts are the file name endings read as corpus images.
var imageExts = []string{".png", ".jpg", ".jpeg"}

// isImageName reports whether name ends like a corpus image.
func isImageName(name string) bool {
	return slices.Contains(imageExts, strings.ToLower(filepath.Ext(name)))
}

// ListImages returns the PNG and JPEG files under dir, recursively, in
// lexical order.
func ListImages(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && isImageName(path) {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing images in %s: %w", dir, err)
	}
	slices.Sort(out)
	return out, nil
}

// Load reads an image file as the benchmark uses it: decoded with its EXIF
// orientation applied, flattened onto white and scaled to at most maxSide
// on its longer side (see Normalize).
func Load(path string, maxSide int) (*image.NRGBA, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	img, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return Normalize(img, maxSide), nil
}

// decode decodes a PNG or JPEG after checking its size from the header.
func decode(data []byte) (image.Image, error) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUndecodable, err)
	}
	if int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return nil, fmt.Errorf("%w: %dx%d is over %d pixels", ErrTooLarge, cfg.Width, cfg.Height, maxPixels)
	}
	img, err := imaging.Decode(bytes.NewReader(data), imaging.AutoOrientation(true))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUndecodable, err)
	}
	return img, nil
}

// Normalize returns img flattened onto white (as a viewer shows a
// transparent picture; PDQ would otherwise hash whatever colour the
// transparent pixels happen to hold) and scaled down, keeping its aspect,
// so that its longer side is at most maxSide (0: DefaultMaxSide).
func Normalize(img image.Image, maxSide int) *image.NRGBA {
	if maxSide <= 0 {
		maxSide = DefaultMaxSide
	}
	out := flatten(img)
	if b := out.Bounds(); b.Dx() > maxSide || b.Dy() > maxSide {
		out = imaging.Fit(out, maxSide, maxSide, imaging.Lanczos)
	}
	return out
}

// flatten composites img onto white, returning an opaque copy at origin 0,0.
func flatten(img image.Image) *image.NRGBA {
	out := imaging.Clone(img)
	for i := 0; i < len(out.Pix); i += 4 {
		a := uint32(out.Pix[i+3])
		if a == 255 {
			continue
		}
		for c := range 3 {
			out.Pix[i+c] = uint8((uint32(out.Pix[i+c])*a + 255*(255-a) + 127) / 255)
		}
		out.Pix[i+3] = 255
	}
	return out
}

// transparentShare is the share of img's pixels that are mostly
// transparent (alpha below one half).
func transparentShare(img image.Image) float64 {
	if o, ok := img.(interface{ Opaque() bool }); ok && o.Opaque() {
		return 0
	}
	n := imaging.Clone(img)
	b := n.Bounds()
	if b.Empty() {
		return 0
	}
	clear := 0
	for i := 3; i < len(n.Pix); i += 4 {
		if n.Pix[i] < 128 {
			clear++
		}
	}
	return float64(clear) / float64(b.Dx()*b.Dy())
}
