package region

import (
	"fmt"
	"image"
	"runtime"
	"slices"

	"github.com/corona10/goimagehash"
	"github.com/disintegration/imaging"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/pdq"
)

// Set selects the region hashes Regions computes.
type Set uint8

// The region sets: what a stored image keeps, and what a query computes.
// Crops are caught on the stored side (the query is a window of the
// original); captions, borders, screenshots and collages on the query side
// (the original is a region of the query). Bars and captions are looked for
// on both sides, since a banked image may itself carry them.
const (
	// Stored: trimmed and content regions when they differ from the
	// whole image, the picture on a plain ground, and central windows at
	// 95%, 90% and 85% of each side with their pHash as well as PDQ.
	Stored Set = iota + 1
	// Query: trimmed and content regions when they differ from the
	// whole image, the picture on a plain ground (also without a caption's
	// lines), pictures framed inside the image, and the four quarters.
	Query
)

// minRegionShare is the largest share of the image's area that a trimmed or
// content region may cover and still be hashed on its own: above it the
// region is the image, give or take a sliver.
const minRegionShare = 0.97

// phashSide is the longest side a stored image is scaled down to before
// the pHash of its windows.
const phashSide = 512

// windowScales are the central windows kept for a stored image, as a share
// of each side. A crop of 5-15% of each side lands near one of them when it
// is not far off centre.
var windowScales = []float32{0.95, 0.9, 0.85}

// Regions computes the PDQ hashes of the regions of img that set selects.
func Hashes(img image.Image, set Set) (out []hashing.RegionHash, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("%w: regions: %v", hashing.ErrHasher, r)
		}
	}()
	b := img.Bounds()
	if b.Dx() < 2*minSide || b.Dy() < 2*minSide {
		return nil, nil // too small to have parts worth hashing
	}
	sub, ok := img.(interface {
		SubImage(image.Rectangle) image.Image
	})
	if !ok {
		return nil, nil
	}
	add := func(kind hashing.RegionKind, r image.Rectangle) error {
		// Each region is a PDQ hash of its own: let short calls waiting
		// for a core run between them (see internal/yield).
		runtime.Gosched()
		res, err := pdq.HashImage(sub.SubImage(r))
		if err != nil {
			return fmt.Errorf("pdq of %s region: %w", kind, err)
		}
		out = append(out, hashing.RegionHash{Kind: kind, Box: relative(b, r), Hash: res.Hash, Quality: res.Quality})
		return nil
	}
	full := float64(b.Dx() * b.Dy())
	trimmed := TrimBorders(img)
	if float64(trimmed.Dx()*trimmed.Dy()) < minRegionShare*full {
		if err := add(hashing.RegionTrimmed, trimmed); err != nil {
			return nil, err
		}
	}
	content := Content(img)
	if content != trimmed && float64(content.Dx()*content.Dy()) < minRegionShare*full {
		if err := add(hashing.RegionContent, content); err != nil {
			return nil, err
		}
	}
	seen := []image.Rectangle{b, trimmed, content}
	boxes := objectBoxes(img, set == Query)
	if set == Query {
		boxes = append(boxes, framedBoxes(img)...)
	}
	for _, r := range boxes {
		if slices.ContainsFunc(seen, func(o image.Rectangle) bool { return near(o, r, 1) }) {
			continue
		}
		seen = append(seen, r)
		if err := add(hashing.RegionContent, r); err != nil {
			return nil, err
		}
	}
	switch set {
	case Stored:
		// pHash resizes the whole window to 32x32; a copy of the image at
		// most phashSide on a side gives the same bits within one or two,
		// at a fraction of the cost on large images.
		small := img
		if max(b.Dx(), b.Dy()) > phashSide {
			small = imaging.Fit(img, phashSide, phashSide, imaging.Box)
		}
		sb := small.Bounds()
		for _, s := range windowScales {
			w, h := int(float32(b.Dx())*s+0.5), int(float32(b.Dy())*s+0.5)
			x, y := b.Min.X+(b.Dx()-w)/2, b.Min.Y+(b.Dy()-h)/2
			if err := add(hashing.RegionWindow, image.Rect(x, y, x+w, y+h)); err != nil {
				return nil, err
			}
			sw, sh := int(float32(sb.Dx())*s+0.5), int(float32(sb.Dy())*s+0.5)
			sx, sy := sb.Min.X+(sb.Dx()-sw)/2, sb.Min.Y+(sb.Dy()-sh)/2
			ph, err := goimagehash.PerceptionHash(imaging.Crop(small, image.Rect(sx, sy, sx+sw, sy+sh)))
			if err != nil {
				return nil, fmt.Errorf("phash of window: %w", err)
			}
			out[len(out)-1].PHash, out[len(out)-1].HasPHash = ph.GetHash(), true
		}
	case Query:
		mx, my := b.Min.X+b.Dx()/2, b.Min.Y+b.Dy()/2
		for _, r := range []image.Rectangle{
			image.Rect(b.Min.X, b.Min.Y, mx, my), image.Rect(mx, b.Min.Y, b.Max.X, my),
			image.Rect(b.Min.X, my, mx, b.Max.Y), image.Rect(mx, my, b.Max.X, b.Max.Y),
		} {
			if err := add(hashing.RegionWindow, r); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func relative(b, r image.Rectangle) hashing.Box {
	w, h := float32(b.Dx()), float32(b.Dy())
	return hashing.Box{
		Left: float32(r.Min.X-b.Min.X) / w, Top: float32(r.Min.Y-b.Min.Y) / h,
		Width: float32(r.Dx()) / w, Height: float32(r.Dy()) / h,
	}
}
