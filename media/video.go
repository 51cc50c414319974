package media

import (
	"context"
	"fmt"
	"image"
	"math"
	"time"
)

// Video budgets. Like the image budgets they bound what one untrusted input
// can cost; a zero field in Options means the default.
const (
	// DefaultMaxDuration bounds a video's length: a long speech or a
	// full-length production, at a few minutes of decoding on one core.
	DefaultMaxDuration = time.Hour

	// DefaultMaxVideoPixels bounds width*height of a video frame: DCI 4K
	// (4096x2160) and square formats up to 4096x4096 pass, 8K does not.
	DefaultMaxVideoPixels = 4096 * 4096

	// DefaultMaxSampledFrames bounds the frames sampled from one video:
	// an hour at one frame per second plus scene changes.
	DefaultMaxSampledFrames = 10_000

	// DefaultVideoTimeout bounds the wall-clock time of one video's
	// decoding, whatever the other budgets allow.
	DefaultVideoTimeout = 5 * time.Minute

	// DefaultVideoMemory bounds the address space of one ffmpeg or
	// ffprobe process.
	DefaultVideoMemory = 4 << 30
)

// Sampling rule, shared by the ffmpeg path and the GIF path: the first frame;
// the first frame of every whole second after it (one frame per second on a
// grid, as vPDQ samples); and, at least MinSceneGap after the previous sampled
// frame, every frame that differs from the one before by more than
// SceneThreshold (a cut). Keyframes are not used as such: encoders place
// them at cuts, which the scene score finds anyway, and also at fixed
// intervals (every 0.5 s for some), which say nothing about the content.
// A GIF frame, which stays on screen for its delay, is sampled when it is
// on screen at one of those times, even if it started before (see
// sampler.take).
const (
	// SceneThreshold is the scene-change score (ffmpeg's select "scene",
	// 0 to 1) above which a frame is sampled off the grid.
	SceneThreshold = 0.3
	// MinSceneGap is the shortest time between an off-grid sample and the
	// sample before it.
	MinSceneGap = 250 * time.Millisecond
)

// VideoInfo describes a video as a viewer would show it.
type VideoInfo struct {
	// Format is the container recognised from the content.
	Format Format
	// Codec names the video codec (ffmpeg's name, "gif" for GIF).
	Codec string
	// Width and Height are the displayed frame size, after rotation.
	Width, Height int
	// Duration is the declared length, or the time of the last frame when
	// the container declares none.
	Duration time.Duration
	// Frames is the number of frames sampled.
	Frames int
	// Repair is nil for a well-formed file; for a GIF cut short or with
	// frames beyond its logical screen, it says what was repaired (see
	// Image.Repair).
	Repair *Repair
}

// IsVideo reports whether data should be hashed as a video: a video
// container, or a GIF with more than one frame. It reads headers only.
func IsVideo(data []byte, opts Options) bool {
	f := Sniff(data)
	if f.IsVideo() {
		return true
	}
	if f != FormatGIF {
		return false
	}
	info, err := Probe(data, opts)
	return err == nil && info.Frames > 1
}

// Video samples frames from a video (see the sampling rule above) and calls
// fn with each, in time order. Frame.Image is an *image.NRGBA valid only
// until fn returns. GIF is decoded here; every other container needs ffmpeg
// and ffprobe (see VideoSupport), run as sandboxed child processes on a
// private copy of the input that is removed before Video returns. Every
// error wraps ErrInvalid, ErrTooLarge, ErrUnsupported or ErrUnavailable,
// or is ctx's error, or is fn's error unchanged.
func Video(ctx context.Context, data []byte, opts Options, fn func(Frame) error) (VideoInfo, error) {
	opts = opts.withDefaults()
	if len(data) == 0 {
		return VideoInfo{}, fmt.Errorf("media: empty input: %w", ErrInvalid)
	}
	if int64(len(data)) > opts.MaxVideoBytes {
		return VideoInfo{}, fmt.Errorf("media: input is %d bytes, over the limit of %d: %w", len(data), opts.MaxVideoBytes, ErrTooLarge)
	}
	f := Sniff(data)
	switch {
	case f == FormatGIF:
		return gifVideo(ctx, data, opts, fn)
	case demuxers[f] == "":
		if f.IsVideo() {
			return VideoInfo{}, fmt.Errorf("media: %s is not a supported video container: %w", f, ErrUnsupported)
		}
		return VideoInfo{}, fmt.Errorf("media: content is not a recognised video format: %w", ErrInvalid)
	}
	return ffmpegVideo(ctx, data, f, opts, fn)
}

// gifVideo samples an animated GIF by the same rule as ffmpegVideo, with a
// scene score computed here, since GIF decoding needs no ffmpeg.
func gifVideo(ctx context.Context, data []byte, opts Options, fn func(Frame) error) (VideoInfo, error) {
	info, err := Probe(data, opts)
	if err != nil {
		return VideoInfo{}, err
	}
	vi := VideoInfo{Format: FormatGIF, Codec: "gif", Width: info.Width, Height: info.Height}
	var (
		s         sampler
		prev      []float32 // thumbnail of the previous frame
		prevMAFD  = math.NaN()
		prevShown time.Duration
		out       *image.NRGBA
	)
	vi.Repair, err = frames(data, opts, func(fr Frame) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if fr.Timestamp > opts.MaxDuration {
			return fmt.Errorf("media: GIF runs past %v, over the limit: %w", opts.MaxDuration, ErrTooLarge)
		}
		vi.Duration = fr.Timestamp + fr.Duration
		thumb := thumbnail(fr.Image)
		score := 0.0
		if prev != nil {
			if prevShown >= 100*time.Millisecond {
				// The previous picture stood still for a while, as a
				// video's repeated frames would before a cut.
				prevMAFD = 0
			}
			score, prevMAFD = sceneScore(prev, thumb, prevMAFD)
		}
		prev, prevShown = thumb, fr.Duration
		if !s.take(fr.Timestamp, fr.Duration, score > SceneThreshold) {
			return nil
		}
		if vi.Frames >= opts.MaxSampledFrames {
			return fmt.Errorf("media: GIF has more than %d sampled frames: %w", opts.MaxSampledFrames, ErrTooLarge)
		}
		out = toNRGBA(fr.Image, out)
		fr.Image = out
		fr.Index = vi.Frames
		vi.Frames++
		return fn(fr)
	})
	return vi, err
}

// sampler applies the sampling rule to a sequence of frames.
type sampler struct {
	started bool
	last    time.Duration
}

// take reports whether the frame shown from t for d is sampled; special
// marks a scene change. A GIF frame is a picture on screen for a while, not
// an instant, so it is sampled when the rule would sample while it is
// shown: when it is still on screen at the next whole second, or (a scene
// change) once MinSceneGap has passed since the last sample, although it
// started before. Otherwise a picture shown for most of a second between
// two others, or from just before a second to long after, would never be
// sampled.
func (s *sampler) take(t, d time.Duration, special bool) bool {
	if !s.started {
		s.started, s.last = true, t
		return true
	}
	end := t + max(d, 1)    // the frame is on screen from t to end
	at := time.Duration(-1) // when it is sampled; -1: not
	if next := (s.last/time.Second + 1) * time.Second; next < end {
		at = max(t, next)
	}
	if c := max(t, s.last+MinSceneGap); special && c < end && (at < 0 || c < at) {
		at = c
	}
	if at < 0 {
		return false
	}
	s.last = at
	return true
}

const thumbSide = 32

// thumbnail returns the mean luma of a thumbSide x thumbSide grid of cells.
func thumbnail(m image.Image) []float32 {
	b := m.Bounds()
	out := make([]float32, thumbSide*thumbSide)
	var count [thumbSide * thumbSide]int
	nrgba, _ := m.(*image.NRGBA)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		cy := (y - b.Min.Y) * thumbSide / b.Dy()
		for x := b.Min.X; x < b.Max.X; x++ {
			cx := (x - b.Min.X) * thumbSide / b.Dx()
			var r, g, bl uint32
			if nrgba != nil {
				p := nrgba.Pix[nrgba.PixOffset(x, y):]
				r, g, bl = uint32(p[0])<<8, uint32(p[1])<<8, uint32(p[2])<<8
			} else {
				r, g, bl, _ = m.At(x, y).RGBA()
			}
			i := cy*thumbSide + cx
			out[i] += (0.299*float32(r) + 0.587*float32(g) + 0.114*float32(bl)) / 257
			count[i]++
		}
	}
	for i := range out {
		if count[i] > 0 {
			out[i] /= float32(count[i])
		}
	}
	return out
}

// sceneScore follows ffmpeg's select filter: the mean absolute frame
// difference (on the 0-255 scale) against the previous frame, less its
// change from the previous difference, over 100.
func sceneScore(prev, cur []float32, prevMAFD float64) (score, mafd float64) {
	var sum float64
	for i := range cur {
		sum += math.Abs(float64(cur[i] - prev[i]))
	}
	mafd = sum / float64(len(cur))
	diff := mafd
	if !math.IsNaN(prevMAFD) {
		diff = math.Abs(mafd - prevMAFD)
	}
	return math.Min(math.Max(math.Min(mafd, diff)/100, 0), 1), mafd
}

// toNRGBA copies m into dst (reallocated when the size differs).
func toNRGBA(m image.Image, dst *image.NRGBA) *image.NRGBA {
	b := m.Bounds()
	if dst == nil || dst.Bounds().Size() != b.Size() {
		dst = image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	}
	if src, ok := m.(*image.NRGBA); ok {
		for y := 0; y < b.Dy(); y++ {
			copy(dst.Pix[y*dst.Stride:y*dst.Stride+4*b.Dx()], src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):])
		}
		return dst
	}
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			dst.Set(x, y, m.At(b.Min.X+x, b.Min.Y+y))
		}
	}
	return dst
}
