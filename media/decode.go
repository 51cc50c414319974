package media

import (
	"errors"
	"fmt"
	"image"
	"time"
)

// Info describes an input as a viewer would show it, without its pixels.
type Info struct {
	// Format is the format recognised from the content.
	Format Format
	// Width and Height are the displayed size: after the EXIF orientation,
	// unless Options.IgnoreOrientation is set.
	Width, Height int
	// Orientation is the EXIF orientation (1-8) the file declares; 1 when it
	// declares none. Only JPEG and TIFF are read for it.
	Orientation int
	// Frames is the number of frames: counted for GIF, 1 for every other
	// format (an AVIF sequence reports 1 and yields its first frame).
	Frames int
}

// Image is a decoded still image, or the first frame of an animation as it
// is first shown.
type Image struct {
	Info
	// Image holds the pixels, oriented as a viewer shows them. Its concrete
	// type is whatever the decoder produced (*image.YCbCr for most JPEGs,
	// *image.NRGBA for GIF frames and reoriented images, ...).
	Image image.Image
	// Repair is nil for a well-formed file. For a file cut short or
	// slightly damaged that a browser still shows, it says what was
	// missing or ignored, and how much of the picture is the file's own.
	Repair *Repair
}

// Frame is one frame of an animation, as a viewer shows it at Timestamp.
type Frame struct {
	// Index counts frames from 0.
	Index int
	// Image is the whole canvas after this frame was drawn. For animations
	// it is reused for the next frame: it is valid only until the callback
	// returns, so copy it to keep it.
	Image image.Image
	// Timestamp is when the frame is first shown, from the start.
	Timestamp time.Duration
	// Duration is how long the frame is shown; 0 for a still image.
	Duration time.Duration
}

// Probe reads the format, dimensions, orientation and frame count of data
// and checks them against the budgets in opts, without decoding pixels.
func Probe(data []byte, opts Options) (Info, error) {
	p, err := probe(data, opts.withDefaults())
	if err != nil {
		return Info{}, err
	}
	return p.info, nil
}

// Decode decodes a still image, or the first frame of an animation, from
// untrusted bytes. The budgets in opts are checked from the headers before
// any pixel is decoded. Every error wraps ErrInvalid, ErrTooLarge or
// ErrUnsupported.
func Decode(data []byte, opts Options) (*Image, error) {
	opts = opts.withDefaults()
	p, err := probe(data, opts)
	if err != nil {
		return nil, err
	}
	var m image.Image
	var repair *Repair
	if p.gif != nil {
		err = guard(FormatGIF, func() error {
			c := newGIFCanvas(p.gif)
			if err := c.draw(0); err != nil {
				return err
			}
			m, repair = c.img, p.gif.repairs(c)
			return nil
		})
	} else {
		m, repair, err = decodePixels(p, opts)
	}
	if err != nil {
		return nil, err
	}
	return &Image{Info: p.info, Image: m, Repair: repair}, nil
}

// Frames calls fn with each frame of an animated GIF in order, decoding one
// frame at a time onto one canvas, so memory stays at a few canvases however
// long the animation is. For any other format it calls fn once with the image
// that Decode returns. If fn returns an error, Frames stops and returns it
// unchanged. Besides the budgets that Decode checks, the sum of the frame
// areas must fit Options.MaxTotalPixels.
func Frames(data []byte, opts Options, fn func(Frame) error) error {
	_, err := frames(data, opts, fn)
	return err
}

// frames is Frames, also returning what was repaired to show the input.
func frames(data []byte, opts Options, fn func(Frame) error) (*Repair, error) {
	opts = opts.withDefaults()
	p, err := probe(data, opts)
	if err != nil {
		return nil, err
	}
	if p.gif == nil {
		m, repair, err := decodePixels(p, opts)
		if err != nil {
			return nil, err
		}
		return repair, fn(Frame{Image: m})
	}
	c := newGIFCanvas(p.gif)
	var at time.Duration
	var spent int64 // pixels decompressed
	var stopped string
	for i, f := range p.gif.frames {
		// Frames past the budget of pixels are not decoded: the ones
		// before them are shown rather than the file refused, which a
		// pipeline could take for "no match".
		if spent += int64(f.clip.Dx()) * int64(f.rows); spent > opts.MaxTotalPixels {
			stopped = fmt.Sprintf("GIF frames add up to %d pixels; the first %d of %d frames are decoded (the budget of %d)",
				p.gif.totalPixels, i, len(p.gif.frames), opts.MaxTotalPixels)
			break
		}
		// fn runs outside guard: a panic in the caller's code is not ours
		// to turn into ErrInvalid.
		if err := guard(FormatGIF, func() error { return c.draw(i) }); err != nil {
			return nil, err
		}
		d := f.duration()
		if err := fn(Frame{Index: i, Image: c.img, Timestamp: at, Duration: d}); err != nil {
			var enough errEnoughFrames
			if !errors.As(err, &enough) {
				return nil, err
			}
			stopped = enough.why
			break
		}
		at += d
	}
	repair := p.gif.repairs(c)
	if stopped != "" {
		repair = repair.note("%s", stopped)
	}
	if err := repair.enough(opts.MinVisible); err != nil {
		return nil, err
	}
	return repair, nil
}

// probed is what probe learns about an input before decoding pixels.
type probed struct {
	info  Info
	data  []byte
	codec *codec
	cfg   image.Config // stored (not oriented) size, from the header
	gif   *gifScan     // non-nil for GIF
}

// probe sniffs the format, reads the header and checks every budget that can
// be checked without decoding pixels.
func probe(data []byte, opts Options) (*probed, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("media: empty input: %w", ErrInvalid)
	}
	if int64(len(data)) > opts.MaxBytes {
		return nil, fmt.Errorf("media: input is %d bytes, over the limit of %d: %w", len(data), opts.MaxBytes, ErrTooLarge)
	}
	f := Sniff(data)
	switch {
	case f == FormatUnknown:
		return nil, fmt.Errorf("media: content is not a recognised image format: %w", ErrInvalid)
	case f.IsVideo():
		return nil, fmt.Errorf("media: %s is a video, not a still image: %w", f, ErrUnsupported)
	}
	c := codecs[f]
	if c == nil {
		return nil, fmt.Errorf("media: %s images are not supported: %w", f, ErrUnsupported)
	}
	p := &probed{info: Info{Format: f, Orientation: 1, Frames: 1}, data: data, codec: c}
	err := guard(f, func() error {
		var err error
		p.cfg, err = c.config(data)
		if err != nil {
			return decoderError(f, err)
		}
		maxPixels := opts.MaxPixels
		if c.maxPixels > 0 && c.maxPixels < maxPixels {
			maxPixels = c.maxPixels
		}
		if err := checkPixels(f, p.cfg.Width, p.cfg.Height, maxPixels); err != nil {
			return err
		}
		if f == FormatGIF {
			if p.gif, err = scanGIF(data, opts.MaxFrames); err != nil {
				return err
			}
			p.info.Frames = len(p.gif.frames)
		}
		if c.orientation != nil {
			p.info.Orientation = c.orientation(data)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	p.info.Width, p.info.Height = p.cfg.Width, p.cfg.Height
	if !opts.IgnoreOrientation && p.info.Orientation >= 5 {
		p.info.Width, p.info.Height = p.cfg.Height, p.cfg.Width
	}
	if err := checkMemory(p, opts); err != nil {
		return nil, err
	}
	return p, nil
}

// decodePixels decodes a non-GIF image whose header probe accepted, and
// orients it. An input its decoder refuses is given to the codec's salvage,
// if it has one, which decodes as much of it as a browser shows.
func decodePixels(p *probed, opts Options) (image.Image, *Repair, error) {
	f := p.info.Format
	var m image.Image
	var repair *Repair
	err := guard(f, func() error {
		var err error
		m, err = p.codec.decode(p.data)
		if err != nil && p.codec.salvage != nil {
			var serr error
			if m, repair, serr = p.codec.salvage(p.data, p.cfg, opts.MinVisible); serr != nil {
				var little *tooLittleShownError
				if errors.As(serr, &little) {
					return serr
				}
				m = nil
			}
		}
		if m == nil {
			return decoderError(f, err)
		}
		if err := repair.enough(opts.MinVisible); err != nil {
			return err
		}
		// The budget was checked against the header; a decoder that
		// disagrees with its own header has read something else.
		if b := m.Bounds(); b.Dx() != p.cfg.Width || b.Dy() != p.cfg.Height {
			return fmt.Errorf("media: %s decoded to %dx%d but its header says %dx%d: %w",
				f, b.Dx(), b.Dy(), p.cfg.Width, p.cfg.Height, ErrInvalid)
		}
		if !opts.IgnoreOrientation {
			m = orient(m, p.info.Orientation)
			if repair != nil {
				repair.Shown = orientRect(repair.Shown, p.cfg.Width, p.cfg.Height, p.info.Orientation)
			}
		}
		return nil
	})
	return m, repair, err
}

// checkPixels refuses empty images and images over the pixel budget. The
// division keeps it exact for any header values, even 2^32-1 on each side.
func checkPixels(f Format, w, h int, maxPixels int64) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("media: %s header gives a size of %dx%d: %w", f, w, h, ErrInvalid)
	}
	if int64(w) > maxPixels/int64(h) {
		return fmt.Errorf("media: %s is %dx%d, over the limit of %d pixels: %w", f, w, h, maxPixels, ErrTooLarge)
	}
	return nil
}

// panicError records that a decoder panicked. It is wrapped together with
// ErrInvalid, so callers see an invalid input and tests can tell a recovered
// panic from an ordinary decode error.
type panicError struct{ value any }

func (e *panicError) Error() string { return fmt.Sprintf("decoder panicked: %v", e.value) }

// guard runs fn and turns a panic inside it into an error, because the
// decoders are fed untrusted bytes and a panic must not take down the
// server.
func guard(f Format, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("media: %s: %w: %w", f, &panicError{firstLine(fmt.Errorf("%v", r))}, ErrInvalid)
		}
	}()
	return fn()
}
