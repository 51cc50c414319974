package media

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"strings"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

// decoderError turns an error from a decoder into one that wraps one of the
// package's sentinels, keeping the decoder's words for a person to read.
func decoderError(f Format, err error) error {
	if errors.Is(err, ErrInvalid) || errors.Is(err, ErrTooLarge) || errors.Is(err, ErrUnsupported) {
		return err
	}
	var (
		pngUnsupported  png.UnsupportedError
		jpegUnsupported jpeg.UnsupportedError
		tiffUnsupported tiff.UnsupportedError
	)
	switch {
	case errors.As(err, &pngUnsupported), errors.As(err, &jpegUnsupported),
		errors.As(err, &tiffUnsupported), errors.Is(err, bmp.ErrUnsupported):
		return fmt.Errorf("media: %s uses a feature the decoder does not implement (%s): %w", f, firstLine(err), ErrUnsupported)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("media: %s is truncated: %w", f, ErrInvalid)
	}
	return fmt.Errorf("media: malformed %s (%s): %w", f, firstLine(err), ErrInvalid)
}

// maxDetail bounds how much of a decoder's own message is passed on.
const maxDetail = 200

// firstLine returns the first line of err's message, cut to maxDetail
// bytes: a WebAssembly trap appends a stack trace that is no use to the
// person reading the error.
func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > maxDetail {
		s = s[:maxDetail] + "..."
	}
	return s
}

// codec is how one format is read: its header, its pixels, its orientation.
type codec struct {
	config      func(data []byte) (image.Config, error)
	decode      func(data []byte) (image.Image, error)
	orientation func(data []byte) int // nil: the format carries none we apply
	// salvage, when set, decodes what a browser shows of an input that
	// decode refused (cut short, or with a defect browsers ignore), with
	// the header's size, or fails when there is nothing to show.
	// It may refuse, with tooLittleShown, a file it can tell shows less
	// than minVisible of its picture before decoding it.
	salvage func(data []byte, cfg image.Config, minVisible float64) (image.Image, *Repair, error)
	// maxPixels, when set, caps Options.MaxPixels for a decoder that costs
	// far more memory per pixel than the others.
	maxPixels int64
}

// codecs holds the decodable formats. GIF has no decode entry: gif.go
// decodes it frame by frame. AVIF adds itself from avif.go.
var codecs = map[Format]*codec{
	FormatJPEG: {
		config:      func(b []byte) (image.Config, error) { return jpeg.DecodeConfig(bytes.NewReader(b)) },
		decode:      decodeJPEG,
		salvage:     salvageJPEG,
		orientation: jpegOrientation,
	},
	FormatPNG: {
		config:  pngConfig,
		decode:  func(b []byte) (image.Image, error) { return png.Decode(bytes.NewReader(b)) },
		salvage: salvagePNG,
	},
	FormatGIF: {
		config: gifConfig, // pixels: see gif.go
	},
	FormatWebP: {
		config:  webpConfig,
		decode:  webpDecode,
		salvage: salvageWebP,
	},
	FormatBMP: {
		config: func(b []byte) (image.Config, error) { return bmp.DecodeConfig(bytes.NewReader(b)) },
		decode: func(b []byte) (image.Image, error) { return bmp.Decode(bytes.NewReader(b)) },
	},
	FormatTIFF: {
		config:      tiffConfig,
		decode:      func(b []byte) (image.Image, error) { return tiff.Decode(bytes.NewReader(b)) },
		orientation: tiffOrientation,
	},
}

// pngConfig reads a PNG header. image/png calls a size whose pixel count
// overflows an unsupported feature; such sizes are returned here as they
// are, so that the pixel budget refuses them as too large like any other.
func pngConfig(b []byte) (image.Config, error) {
	const maxPNGSide = 1<<31 - 1 // PNG spec, section 11.2.2
	if len(b) >= 24 && string(b[12:16]) == "IHDR" {
		w, h := be32(b[16:]), be32(b[20:])
		if w > maxPNGSide || h > maxPNGSide {
			return image.Config{}, fmt.Errorf("media: PNG header gives a size of %dx%d, beyond the format's limit: %w", w, h, ErrInvalid)
		}
		if w > 0 && h > 0 && uint64(w)*uint64(h) > 1<<40 {
			return image.Config{Width: int(w), Height: int(h)}, nil
		}
	}
	return png.DecodeConfig(bytes.NewReader(b))
}

// tiffConfig reads a TIFF header, refusing BigTIFF, which x/image/tiff does
// not read.
func tiffConfig(b []byte) (image.Config, error) {
	if len(b) >= 4 && (b[2] == '+' || b[3] == '+') {
		return image.Config{}, fmt.Errorf("media: BigTIFF: %w", ErrUnsupported)
	}
	return tiff.DecodeConfig(bytes.NewReader(b))
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
