package media

import "time"

// Default budgets. Each bounds the memory or time one untrusted input can
// cost; a zero or negative field in Options means the default.
const (
	// DefaultMaxBytes bounds the input size: larger than any 50-megapixel
	// JPEG, WebP or AVIF and nearly every PNG, small enough that a handful of
	// concurrent requests cannot exhaust the server's memory.
	DefaultMaxBytes = 64 << 20

	// DefaultMaxPixels bounds width*height of the decoded image (50
	// megapixels): above nearly every phone camera. What its decode may
	// hold depends on the format and the bit depth (4 to 16 bytes a
	// pixel): DefaultMaxDecodeMemory bounds that.
	DefaultMaxPixels = 50_000_000

	// DefaultMaxFrames bounds the frames of an animation decoded: minutes
	// of a typical GIF, while of a crafted file with tens of thousands of
	// tiny frames only the first thousand are read.
	DefaultMaxFrames = 1000

	// DefaultMaxTotalPixels bounds the sum of the frame areas that Frames
	// decompresses (one gigapixel, a few seconds of LZW on one core), since
	// a small file can describe many large frames.
	DefaultMaxTotalPixels = 1_000_000_000

	// DefaultMinVisible is the least fraction of a picture's area a file
	// cut short or damaged must decode to: below a tenth, what is shown is
	// mostly the grey painted for the rest, which matches nothing known
	// and would match other such files, and a file of a few hundred bytes
	// claiming a large picture costs a whole decode for it.
	DefaultMinVisible = 0.1
)

// Options are the budgets and switches for one decode. The zero value is
// ready to use and means the defaults above.
type Options struct {
	// MaxBytes is the largest input accepted, in bytes.
	MaxBytes int64
	// MaxPixels is the largest width*height accepted, checked from the
	// header before any pixel is decoded. AVIF is held to at most 16
	// megapixels whatever this says (see the package doc).
	MaxPixels int64
	// MaxFrames is the most frames of an animated GIF that are decoded;
	// the scan that finds them decodes no pixels, and stops there. Frames
	// beyond it are left out, with a note in the Repair.
	MaxFrames int
	// MaxTotalPixels is the largest sum of frame areas Frames decodes; the
	// frames beyond it are left out, with a note in the Repair.
	MaxTotalPixels int64
	// MinVisible is the least fraction of the picture's area a file not
	// well formed must decode to (Repair.Visible); less is refused with
	// ErrInvalid, as a file with no pixel is.
	MinVisible float64
	// MaxDecodeMemory is the most memory one image decode may hold, as
	// DecodeMemory estimates it from the header before decoding. Default
	// DefaultMaxDecodeMemory.
	MaxDecodeMemory int64
	// IgnoreOrientation returns pixels in stored order, without applying
	// the EXIF orientation.
	IgnoreOrientation bool

	// MaxVideoBytes is the largest video input accepted, in bytes.
	MaxVideoBytes int64
	// MaxDuration is the longest video accepted: by its declared length
	// before decoding, and by the time of its frames while decoding.
	MaxDuration time.Duration
	// MaxVideoPixels is the largest width*height of a video frame.
	MaxVideoPixels int64
	// MaxSampledFrames is the largest number of frames sampled from one
	// video.
	MaxSampledFrames int
	// VideoTimeout bounds the wall-clock time of one video's decoding;
	// the ffmpeg process group is killed when it runs out.
	VideoTimeout time.Duration
	// VideoMemory bounds the address space of each ffmpeg and ffprobe
	// process, in bytes.
	VideoMemory int64
	// SkipNonReferenceFrames makes ffmpeg skip the frames no other frame
	// is predicted from (most B-frames), which decodes a typical H.264
	// stream in about two thirds of the time. The default (false) decodes
	// every frame: skipping moves each second's sample to the first
	// decoded frame, a frame or two after the grid, and the scene score
	// then compares frames further apart, so two encodings of one video
	// are sampled at different moments; the open video benchmark found
	// fewer re-edits with it (BENCHMARKS.md, "Video hashing"). A stream
	// that marks too few frames as references to sample every second from
	// them is decoded again, every frame (see videoJob.frames).
	SkipNonReferenceFrames bool
	// FFmpeg and FFprobe are the programs to run; empty means "ffmpeg" and
	// "ffprobe" found on PATH.
	FFmpeg, FFprobe string
	// TempDir is where video inputs are spooled, each in a private
	// directory removed afterwards; empty means os.TempDir().
	TempDir string
}

// DefaultMaxVideoBytes bounds a video upload: ten minutes of 1080p at a
// typical social-media bitrate several times over.
const DefaultMaxVideoBytes = 512 << 20

// withDefaults returns o with every unset budget replaced by its default.
func (o Options) withDefaults() Options {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxPixels <= 0 {
		o.MaxPixels = DefaultMaxPixels
	}
	if o.MaxFrames <= 0 {
		o.MaxFrames = DefaultMaxFrames
	}
	if o.MaxTotalPixels <= 0 {
		o.MaxTotalPixels = DefaultMaxTotalPixels
	}
	if o.MinVisible <= 0 {
		o.MinVisible = DefaultMinVisible
	}
	if o.MaxDecodeMemory <= 0 {
		o.MaxDecodeMemory = DefaultMaxDecodeMemory
	}
	if o.MaxVideoBytes <= 0 {
		o.MaxVideoBytes = DefaultMaxVideoBytes
	}
	if o.MaxDuration <= 0 {
		o.MaxDuration = DefaultMaxDuration
	}
	if o.MaxVideoPixels <= 0 {
		o.MaxVideoPixels = DefaultMaxVideoPixels
	}
	if o.MaxSampledFrames <= 0 {
		o.MaxSampledFrames = DefaultMaxSampledFrames
	}
	if o.VideoTimeout <= 0 {
		o.VideoTimeout = DefaultVideoTimeout
	}
	if o.VideoMemory <= 0 {
		o.VideoMemory = DefaultVideoMemory
	}
	if o.FFmpeg == "" {
		o.FFmpeg = "ffmpeg"
	}
	if o.FFprobe == "" {
		o.FFprobe = "ffprobe"
	}
	return o
}
