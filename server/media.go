package server

import (
	"context"
	"errors"
	"fmt"
	"image"
	"runtime"
	"slices"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/keypoint"
	"github.com/mediamatch/mediamatch/match"
	"github.com/mediamatch/mediamatch/media"
	"github.com/mediamatch/mediamatch/pdq"
	"github.com/mediamatch/mediamatch/pixels"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/region"
	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/video"
)

// hashed is uploaded media, decoded and hashed.
type hashed struct {
	kind           store.MediaKind
	format         string
	width, height  int
	duration       float64        // seconds, for a video
	hashes         []hashing.Hash // perceptual hashes, then digests
	dihedral       []pdq.Hash     // the 8 PDQ variants, when asked for
	regions        []hashing.RegionHash
	keypoints      []keypoint.Point // an image's, with its regions
	mirrored       []keypoint.Point // a query image's mirror image's, with dihedral variants
	thumb          pixels.Thumb     // an image's, with its regions (package pixels)
	frames         []store.Frame    // a video's sampled frames
	mirroredFrames []pdq.Hash       // a video's frames mirrored left to right, one per frame
	repair         *media.Repair    // how media not well formed was shown; nil when it was
}

// hashMedia decodes and hashes uploaded bytes. Decodes are the costly
// part of a request (up to several hundred MB for a 50-megapixel image),
// so each reserves its estimated memory (decodeCost) from
// Options.MaxDecodeMemory, and at most Options.MaxConcurrentDecodes run at
// once; others wait, until their deadline.
//
// types, when not empty, names the hash types a match will use (a
// request's MatchOptions.hash_types): an image is then hashed only for
// those, pdq taking its variants and regions with it and
// match.KeypointType the keypoints. A video's frames are hashed whatever
// it names.
func (s *Server) hashMedia(ctx context.Context, data []byte, dihedral bool, regions region.Set, types []string) (*hashed, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: no media given", errInvalidRequest)
	}
	cost, err := s.decodeCost(data)
	if err != nil {
		s.metrics.decodeFailure(err)
		return nil, err
	}
	if err := s.decodeMemory.acquire(ctx, cost, "decoding this media"); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("waiting for decode memory (%d MiB of the server's %d MiB): %w", cost>>20, s.opts.MaxDecodeMemory>>20, err)
		}
		return nil, err
	}
	defer s.decodeMemory.release(cost)
	select {
	case s.decodeSlots <- struct{}{}:
		defer func() { <-s.decodeSlots }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if media.IsVideo(data, s.opts.Media) {
		return s.hashVideo(ctx, data)
	}
	img, err := media.Decode(data, s.opts.Media)
	if err != nil {
		s.metrics.decodeFailure(err)
		return nil, err
	}
	// Decoding, hashing, regions and keypoints are each milliseconds of
	// one core, and the packages yield within them: on a busy machine a
	// match by hashes waits for a core that long rather than the
	// scheduler's 10 ms slices of each (see internal/yield).
	runtime.Gosched()
	// Variants used for matching are hashes of the really transformed
	// image; the Hash call returns the reference's derivation.
	wants := func(t string) bool { return len(types) == 0 || slices.Contains(types, t) }
	// The PDQ variants only when pdq is wanted; dihedral still asks for
	// the mirror image's keypoints below.
	variants := dihedral && wants(hashing.PDQ)
	hs, err := hashing.Image(img.Image, hashing.Options{Dihedral: variants, Transformed: variants && regions == region.Query, Types: types})
	if err != nil {
		s.metrics.decodeFailure(err)
		return nil, err
	}
	if r := img.Repair; r.Partial() && !r.Shown.Empty() {
		// A file cut short is hashed whole as a browser shows it, grey and
		// all, and its parts and keypoints are found in the band of rows it
		// holds: the edge of the grey field is no part of the picture, and
		// a crop is what keypoints match.
		if sub, ok := img.Image.(interface {
			SubImage(image.Rectangle) image.Image
		}); ok {
			img.Image = sub.SubImage(r.Shown.Add(img.Image.Bounds().Min))
			img.Width, img.Height = r.Shown.Dx(), r.Shown.Dy()
		}
	}
	var rs []hashing.RegionHash
	var kps, mirrored []keypoint.Point
	var thumb pixels.Thumb
	if regions != 0 {
		if wants(hashing.PDQ) {
			if rs, err = region.Hashes(img.Image, regions); err != nil {
				s.metrics.decodeFailure(err)
				return nil, err
			}
		}
		n := keypoint.StoredPoints
		if regions == region.Query {
			n = keypoint.QueryPoints
		}
		runtime.Gosched()
		switch {
		case !wants(match.KeypointType):
		case regions == region.Query && dihedral:
			kps, mirrored = keypoint.DetectMirrored(img.Image, n)
		default:
			kps = keypoint.Detect(img.Image, n)
		}
		side := pixels.StoredSide
		if regions == region.Query {
			side = pixels.QuerySide
		}
		thumb = pixels.Make(img.Image, side)
	}
	return &hashed{
		kind:      store.KindImage,
		format:    string(img.Format),
		width:     img.Width,
		height:    img.Height,
		hashes:    append(hs.Hashes, hashing.Digests(data, types...)...),
		dihedral:  hs.Dihedral,
		regions:   rs,
		keypoints: kps,
		mirrored:  mirrored,
		thumb:     thumb,
		repair:    img.Repair,
	}, nil
}

// The memory of hashing, beside the decode's (measured: TestDecodeCost).
const (
	// hashOverhead is what hashing an image holds whatever its size:
	// regions and keypoints work on images brought down to a few hundred
	// pixels a side (measured: 16 to 30 MB at 0.8 megapixels).
	hashOverhead = 24 << 20
	// hashBytesPerPixel is what it holds per pixel of the decoded image:
	// the border and frame analysis, the keypoints' grey copy, a query's
	// mirror image (measured: 8 to 9 at 12 megapixels).
	hashBytesPerPixel = 10
	// videoFrameCopies is how many frame-sized NRGBA buffers a video's
	// decoding holds in this process (the frame read from ffmpeg, a scaled
	// copy); ffmpeg's own memory is bounded by Media.VideoMemory, outside
	// the heap.
	videoFrameCopies = 2
)

// decodeCost estimates the memory that decoding and hashing data holds,
// from its header: media.DecodeMemory for images and GIFs, plus hashing;
// for a video, its frame buffers at the largest frame allowed. It fails
// for media refused before decoding (over a budget, not media at all).
func (s *Server) decodeCost(data []byte) (int64, error) {
	opts := s.opts.Media
	if media.Sniff(data).IsVideo() {
		pixels := opts.MaxVideoPixels
		if pixels <= 0 {
			pixels = media.DefaultMaxVideoPixels
		}
		return hashOverhead + videoFrameCopies*4*pixels, nil
	}
	m, err := media.DecodeMemory(data, opts)
	if err != nil {
		return 0, err
	}
	info, err := media.Probe(data, opts)
	if err != nil {
		return 0, err
	}
	if info.Frames > 1 { // an animated GIF: hashed a frame at a time, brought down first
		return m + hashOverhead, nil
	}
	return m + hashOverhead + hashBytesPerPixel*int64(info.Width)*int64(info.Height), nil
}

// hashVideo samples and hashes a video (or an animated GIF).
// An animated GIF decodes here, frame by frame, within
// Options.GIFTimeout; other videos decode in ffmpeg, within
// Media.VideoTimeout.
func (s *Server) hashVideo(ctx context.Context, data []byte) (*hashed, error) {
	call := ctx
	if media.Sniff(data) == media.FormatGIF {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, s.opts.GIFTimeout, errGIFTimeout)
		defer cancel()
	}
	v, err := video.Hash(ctx, data, s.opts.Media)
	if err != nil {
		if call.Err() == nil && errors.Is(context.Cause(ctx), errGIFTimeout) {
			err = fmt.Errorf("%w: the animated GIF took longer than %v to decode", errGIFTimeout, s.opts.GIFTimeout)
		}
		if call.Err() == nil {
			s.metrics.decodeFailure(err)
		}
		return nil, err
	}
	h := &hashed{
		kind:     store.KindVideo,
		format:   string(v.Info.Format),
		width:    v.Info.Width,
		height:   v.Info.Height,
		duration: v.Info.Duration.Seconds(),
		hashes:   hashing.Digests(data),
		repair:   v.Info.Repair,
	}
	for _, f := range v.Frames {
		h.frames = append(h.frames, store.Frame{
			Seconds: f.Seconds, Hash: f.Hash, Quality: f.Quality,
			Content: f.Content, HasContent: f.HasContent,
		})
		h.mirroredFrames = append(h.mirroredFrames, f.Mirror)
	}
	return h, nil
}

// toProto describes the hashed media in the API's terms, with the dihedral
// variants other than the original marked as such.
func (h *hashed) toProto() *pb.MediaHashes {
	m := &pb.MediaHashes{
		Kind:            kindToProto(h.kind),
		Format:          h.format,
		Width:           int32(h.width),
		Height:          int32(h.height),
		DurationSeconds: h.duration,
		Frames:          framesToProto(h.frames),
	}
	for _, x := range h.hashes {
		m.Hashes = append(m.Hashes, hashToProto(x))
	}
	quality := 0
	if p, ok := h.pdq(); ok {
		quality = p.Quality
	}
	for _, r := range h.regions {
		m.Hashes = append(m.Hashes, regionToProto(r)...)
	}
	for d, v := range h.dihedral {
		if pdq.Dihedral(d) == pdq.Original {
			continue
		}
		ph := hashToProto(hashing.Hash{Type: hashing.PDQ, Bytes: v[:], Quality: quality})
		ph.Dihedral = dihedralToProto(pdq.Dihedral(d))
		m.Hashes = append(m.Hashes, ph)
	}
	return m
}

// decodeReport describes how media not well formed was shown, or is nil.
func (h *hashed) decodeReport() *pb.DecodeReport {
	if h.repair == nil {
		return nil
	}
	return &pb.DecodeReport{
		Partial:         h.repair.Partial(),
		VisibleFraction: h.repair.Visible,
		Notes:           h.repair.Notes,
	}
}

func (h *hashed) pdq() (hashing.Hash, bool) {
	for _, x := range h.hashes {
		if x.Type == hashing.PDQ {
			return x, true
		}
	}
	return hashing.Hash{}, false
}

// classify names a decode failure for the metrics.
func classify(err error) string {
	switch {
	case errors.Is(err, media.ErrTooLarge):
		return "too_large"
	case errors.Is(err, media.ErrUnsupported):
		return "unsupported"
	case errors.Is(err, media.ErrInvalid):
		return "invalid"
	case errors.Is(err, media.ErrUnavailable):
		return "unavailable"
	}
	return "other"
}
