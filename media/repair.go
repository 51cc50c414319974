package media

import (
	"fmt"
	"image"
)

// Repair says how an input that is not a well-formed file was shown: what a
// browser shows of a file cut short or slightly damaged, rather than an
// error. Decode and Video return a nil *Repair for a well-formed input.
type Repair struct {
	// Visible is the fraction of the picture's area decoded from the
	// input's own data, in (0, 1]; for an animation, that of its worst
	// frame. Below 1 the picture is partial: the rest is mid-grey
	// (PartialFill) in a still image, and left as the canvas was in a GIF
	// frame, as browsers leave it.
	Visible float64
	// Shown, for a partial still image, is the band of whole rows decoded
	// from the file's data, in the coordinates of the returned image:
	// decoders fill a picture from the top, so what a file cut short shows
	// is such a band (a band of columns once an EXIF rotation is applied).
	// Empty when the picture is whole, or when what is missing is not the
	// rest of a band (an interlaced GIF, a frame drawn over an earlier one).
	Shown image.Rectangle
	// Notes say, one sentence each, what was missing, repaired or
	// ignored, for a person to read. At most maxRepairNotes.
	Notes []string
}

// Partial reports whether part of the picture is missing.
func (r *Repair) Partial() bool { return r != nil && r.Visible < 1 }

// maxRepairNotes bounds the notes of one input, so that a crafted file with
// a defect in every one of its thousand frames cannot grow an answer.
const maxRepairNotes = 8

// PartialFill is the grey that the undecoded part of a partial still image
// is painted with: what libjpeg-based decoders show for the missing part of
// a truncated JPEG (all-zero coefficients decode to level 128), and a flat
// area that the region finder trims away like a border, so the part
// actually shown is also hashed on its own.
const PartialFill = 128

// note adds a note to r, allocating r when it is nil, and returns it.
func (r *Repair) note(format string, args ...any) *Repair {
	if r == nil {
		r = &Repair{Visible: 1}
	}
	if len(r.Notes) < maxRepairNotes {
		r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
	}
	return r
}

// seen lowers r's visible fraction to v, allocating r when needed.
func (r *Repair) seen(v float64) *Repair {
	if r == nil {
		r = &Repair{Visible: 1}
	}
	r.Visible = min(r.Visible, v)
	return r
}

// merge adds o's notes and visible fraction to r.
func (r *Repair) merge(o *Repair) *Repair {
	if o == nil {
		return r
	}
	r = r.seen(o.Visible)
	if !o.Shown.Empty() {
		r.Shown = o.Shown
	}
	for _, n := range o.Notes {
		r = r.note("%s", n)
	}
	return r
}

// orientRect maps rectangle r of a w x h image in stored order to where
// orient(m, o) puts it.
func orientRect(r image.Rectangle, w, h, o int) image.Rectangle {
	if r.Empty() {
		return r
	}
	pt := func(x, y int) image.Point {
		switch o {
		case 2:
			return image.Pt(w-1-x, y)
		case 3:
			return image.Pt(w-1-x, h-1-y)
		case 4:
			return image.Pt(x, h-1-y)
		case 5:
			return image.Pt(y, x)
		case 6:
			return image.Pt(h-1-y, x)
		case 7:
			return image.Pt(h-1-y, w-1-x)
		case 8:
			return image.Pt(y, w-1-x)
		}
		return image.Pt(x, y)
	}
	a, b := pt(r.Min.X, r.Min.Y), pt(r.Max.X-1, r.Max.Y-1)
	return image.Rect(min(a.X, b.X), min(a.Y, b.Y), max(a.X, b.X)+1, max(a.Y, b.Y)+1)
}

// enough refuses a repair that shows less than min of the picture.
func (r *Repair) enough(min float64) error {
	if r.Partial() && r.Visible < min {
		return tooLittleShown(r.Visible, min)
	}
	return nil
}

// tooLittleShownError refuses a partial file that shows less than
// Options.MinVisible of its picture. A salvage returns it before decoding
// when it can tell the share from the file's structure alone.
type tooLittleShownError struct{ visible, min float64 }

func tooLittleShown(visible, min float64) error { return &tooLittleShownError{visible, min} }

func (e *tooLittleShownError) Error() string {
	return fmt.Sprintf("media: only %.1f%% of the picture is in the file, less than the %.0f%% a partial file must show", 100*e.visible, 100*e.min)
}

func (e *tooLittleShownError) Unwrap() error { return ErrInvalid }
