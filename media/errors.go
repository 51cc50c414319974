package media

import "errors"

// Every error returned by Decode, Probe and Frames wraps exactly one of the
// sentinels below, so callers can classify a failure with errors.Is and show
// the full message to a person. The server maps them to status codes.

// Errors about the input itself.
var (
	// ErrInvalid means the input is not decodable media: empty, truncated
	// before anything a viewer could show, malformed, not an image or video
	// at all, or content that made a decoder fail or panic.
	ErrInvalid = errors.New("invalid media data")
)

// Errors about the budgets in Options.
var (
	// ErrTooLarge means the input is over a budget: more bytes than
	// Options.MaxBytes, more pixels than Options.MaxPixels, more frames than
	// Options.MaxFrames, or more decoded pixels in total than
	// Options.MaxTotalPixels. The check happens before the pixels are decoded.
	ErrTooLarge = errors.New("over the size limit")
)

// Errors about what this package can decode.
var (
	// ErrUnsupported means the input was recognised (its format is named in the
	// message) but cannot be decoded here: a format with no safe decoder
	// (HEIC, JPEG XL, BigTIFF, animated WebP, AVIF when a system libavif is
	// loaded), a video container ("video not supported yet"), or a feature
	// of a supported format that its decoder does not implement.
	ErrUnsupported = errors.New("unsupported format")
)

// Errors about this machine.
var (
	// ErrUnavailable means video decoding needs a program that is not
	// installed here (ffmpeg and ffprobe); the message says what to
	// install.
	ErrUnavailable = errors.New("video decoding unavailable")
)
