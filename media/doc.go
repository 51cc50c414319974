// Package media turns untrusted bytes into the pixels a viewer would see,
// within budgets that bound the memory and time one input can cost.
//
// # What it is for
//
// Everything mediamatch hashes passes through here first. The format is
// sniffed from the content, never from a file name: JPEG, PNG, GIF, WebP,
// BMP, TIFF and AVIF are decoded; HEIC, JPEG XL and video containers (MP4,
// QuickTime, WebM, Matroska, AVI, FLV, MPEG-PS) are recognised and refused
// with ErrUnsupported naming the format. The size is read from the header
// and checked against Options.MaxPixels before any pixel is decoded; the
// EXIF orientation of JPEG and TIFF is applied; animated GIFs are decoded
// one frame at a time. Every error wraps one of ErrInvalid, ErrTooLarge and
// ErrUnsupported, which the server maps to status codes.
//
// # Usage
//
//	m, err := media.Decode(data, media.Options{}) // zero Options: the default budgets
//	if errors.Is(err, media.ErrTooLarge) { ... }
//	hash(m.Image)                                 // oriented, first frame of a GIF
//	err = media.Frames(data, media.Options{}, func(f media.Frame) error {
//		return hashAt(f.Timestamp, f.Image) // f.Image is reused: copy to keep
//	})
//
// Probe reports format, size, orientation and frame count without decoding
// pixels; Sniff only names the format.
//
// # Caveats
//
//   - Content is sniffed at offset 0 only. A file that starts as HTML or ZIP
//     is ErrInvalid even if an image follows; an image followed by anything
//     (a PNG with a ZIP appended) decodes as that image.
//   - A decoder panic is recovered into ErrInvalid. Memory is bounded by the
//     budgets checked before decoding, not by a hard limit: at 50 megapixels
//     a JPEG takes 70 MB (260 MB when it must be rotated), a PNG 190 MB, a
//     GIF 240 MB. There is no wall-clock limit beyond what the budgets imply
//     (about a second per 50 megapixels, AVIF aside), so callers that need
//     one run Decode under their own.
//   - GIF: the whole file is scanned for its structure first (no
//     decompression), so an animation over Options.MaxFrames is refused
//     before any frame is decoded, by Decode too. Frames are composed as
//     Chrome and Safari do: the canvas is the logical screen grown to hold
//     the first frame, later frames are clipped to it. A frame whose pixel
//     data is cut short or breaks off is drawn as far as it goes (a file
//     cut inside a frame ends there); a first frame with no pixel at all
//     is an error. Frame
//     durations follow browsers: delays under 20 ms are shown for 100 ms.
//     Transparent pixels come back with alpha 0 over a transparent canvas.
//   - A JPEG, PNG or WebP cut short, a JPEG or PNG without its end marker,
//     and a PNG with a bad checksum in an ancillary chunk are decoded as
//     browsers decode them, not refused: Image.Repair says what is missing
//     (the undecoded rows are PartialFill grey) or was ignored. An
//     interlaced PNG cut short is shown with its whole passes, as browsers
//     show one loading. Such a salvage costs
//     more than a decode: a copy of the file for JPEG, two decodes for
//     WebP.
//   - AVIF is decoded by libavif compiled to WebAssembly and run in wazero,
//     so its C code cannot touch the process memory. It is slow and hungry:
//     the first AVIF in a process compiles the module (about half a second),
//     and a 12-megapixel image takes about 3 s and peaks near 600 MB, so
//     AVIF is capped at 16 megapixels whatever Options.MaxPixels says. The
//     avif package
//     would use a system libavif (1.1 or later, found as libavif.so) instead
//     if one is installed; media then refuses AVIF with ErrUnsupported rather
//     than run native code on untrusted bytes. Only the first frame of an
//     AVIF sequence is decoded, and its rotation/mirror boxes are not
//     applied.
//   - The avif package brings in purego, which makes every binary that
//     imports media dynamically linked (even with CGO_ENABLED=0) and tries to
//     dlopen libavif.so at start-up.
//   - HEIC is refused: the only sandboxed decoder on the module proxy
//     (github.com/gen2brain/heic v0.4.5) returns wrong pixels, silently, at
//     some sizes (every width we tried up to 64 pixels).
//   - Lossy WebP is converted with the BT.601 studio-swing equations, as
//     libwebp does; x/image/webp's raw YCbCr would come out washed out.
//     Animated WebP is refused (x/image/webp reads stills only).
//   - The returned image's concrete type is whatever the decoder produced
//     (*image.YCbCr, *image.NRGBA, *image.Paletted, ...); convert as needed.
package media
