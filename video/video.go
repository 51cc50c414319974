// Package video hashes videos as vPDQ does, with what mediamatch adds for
// re-edited copies.
//
// Frames are sampled by media.Video (one per second on a grid, plus
// keyframes and scene changes), each is hashed with PDQ and its quality,
// and consecutive frames with identical hashes are collapsed into the first.
// Frames below the matching quality are kept, as vPDQ keeps them, and left
// out of matching later.
//
// Besides the whole-frame hash that vPDQ exchanges, a frame with letterbox
// bars, borders or caption bands gets a second PDQ hash of its main content
// region (region.Content), so that a letterboxed or captioned re-edit
// still matches the original and a poster shown inside a video matches the
// poster.
package video

import (
	"context"
	"fmt"
	"image"
	"time"

	"github.com/mediamatch/mediamatch/media"
	"github.com/mediamatch/mediamatch/pdq"
	"github.com/mediamatch/mediamatch/region"
)

// Frame is one sampled frame's hashes.
type Frame struct {
	// Seconds is the frame's time from the start of the video.
	Seconds float64
	// Hash and Quality are the frame's PDQ hash and quality.
	Hash    pdq.Hash
	Quality int
	// Content is the PDQ hash of the frame's content region, set with
	// HasContent when that region is a real part of the frame (the frame
	// has bars, borders or caption bands).
	Content    pdq.Hash
	HasContent bool
	// Mirror is the PDQ hash of the frame mirrored left to right
	// (pdq.FlipY), for matching a mirrored re-upload. It comes from the
	// frame's one DCT at no extra filtering cost, and is not stored: vPDQ
	// formats carry only Hash.
	Mirror pdq.Hash
}

// Hashes is a hashed video.
type Hashes struct {
	// Info describes the video; Info.Frames counts sampled frames before
	// duplicates were collapsed.
	Info media.VideoInfo
	// Frames are the sampled frames in time order, consecutive duplicates
	// collapsed.
	Frames []Frame
}

// Timings splits the time Hash spent between decoding (ffmpeg or the GIF
// decoder, including waiting for frames) and hashing.
type Timings struct {
	Decode, Hash time.Duration
}

// minContentShare is the largest share of the frame's area a content region
// may cover and still be hashed on its own: above it the region is the
// frame, give or take a sliver, and its hash would repeat the frame's.
const minContentShare = 0.97

// Hash samples and hashes a video.
func Hash(ctx context.Context, data []byte, opts media.Options) (*Hashes, error) {
	h, _, err := HashTimed(ctx, data, opts)
	return h, err
}

// HashTimed is Hash that also reports where the time went.
func HashTimed(ctx context.Context, data []byte, opts media.Options) (*Hashes, Timings, error) {
	var (
		out     Hashes
		timings Timings
	)
	start := time.Now()
	info, err := media.Video(ctx, data, opts, func(f media.Frame) error {
		t := time.Now()
		fr, err := hashFrame(f)
		if err != nil {
			return err
		}
		if n := len(out.Frames); n == 0 || out.Frames[n-1].Hash != fr.Hash || out.Frames[n-1].Content != fr.Content {
			out.Frames = append(out.Frames, fr)
		}
		timings.Hash += time.Since(t)
		return nil
	})
	timings.Decode = time.Since(start) - timings.Hash
	if err != nil {
		return nil, timings, err
	}
	out.Info = info
	return &out, timings, nil
}

// hashFrame computes the hashes of one frame.
func hashFrame(f media.Frame) (Frame, error) {
	luma, w, h := pdq.SampledLuma(f.Image)
	d, err := pdq.DihedralLuma(luma, w, h)
	if err != nil {
		return Frame{}, fmt.Errorf("hashing frame at %v: %w", f.Timestamp, err)
	}
	fr := Frame{Seconds: f.Timestamp.Seconds(), Hash: d.Hashes[pdq.Original], Quality: d.Quality, Mirror: d.Hashes[pdq.FlipY]}
	if w == 64 && h == 64 {
		// The reference hashes a 64x64 frame unfiltered, its dihedral
		// entry point filtered: the frame's own hash is the former's.
		r, err := pdq.HashLuma(luma, w, h)
		if err != nil {
			return Frame{}, fmt.Errorf("hashing frame at %v: %w", f.Timestamp, err)
		}
		fr.Hash, fr.Quality = r.Hash, r.Quality
	}
	b := f.Image.Bounds()
	c := region.Content(f.Image)
	if c != b && float64(c.Dx()*c.Dy()) < minContentShare*float64(b.Dx()*b.Dy()) {
		sub, ok := f.Image.(interface {
			SubImage(image.Rectangle) image.Image
		})
		if ok {
			cr, err := pdq.HashImage(sub.SubImage(c))
			if err != nil {
				return Frame{}, fmt.Errorf("hashing frame at %v: %w", f.Timestamp, err)
			}
			fr.Content, fr.HasContent = cr.Hash, true
		}
	}
	return fr, nil
}
