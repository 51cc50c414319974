package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/index"
	"github.com/mediamatch/mediamatch/media"
	"github.com/mediamatch/mediamatch/pdq"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
)

// hashed is uploaded media, decoded and hashed.
type hashed struct {
	kind          index.MediaKind
	format        string
	width, height int
	hashes        []hashing.Hash // perceptual hashes, then digests
	dihedral      []pdq.Hash     // the 8 PDQ variants, when asked for
}

// hashMedia decodes and hashes uploaded bytes. Decodes are the costly
// part of a request (up to a few hundred MB for a 50-megapixel image), so
// at most Options.MaxConcurrentDecodes run at once; others wait, until
// their deadline.
func (s *Server) hashMedia(ctx context.Context, data []byte, dihedral bool) (*hashed, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: no media given", errInvalidRequest)
	}
	select {
	case s.decodeSlots <- struct{}{}:
		defer func() { <-s.decodeSlots }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	img, err := media.Decode(data, s.opts.Media)
	if err != nil {
		s.metrics.decodeFailure(err)
		return nil, err
	}
	hs, err := hashing.Image(img.Image, hashing.Options{Dihedral: dihedral})
	if err != nil {
		s.metrics.decodeFailure(err)
		return nil, err
	}
	return &hashed{
		kind:     index.KindImage,
		format:   string(img.Format),
		width:    img.Width,
		height:   img.Height,
		hashes:   append(hs.Hashes, hashing.Digests(data)...),
		dihedral: hs.Dihedral,
	}, nil
}

// toProto describes the hashed media in the API's terms, with the dihedral
// variants other than the original marked as such.
func (h *hashed) toProto() *pb.MediaHashes {
	m := &pb.MediaHashes{
		Kind:   kindToProto(h.kind),
		Format: h.format,
		Width:  int32(h.width),
		Height: int32(h.height),
	}
	for _, x := range h.hashes {
		m.Hashes = append(m.Hashes, hashToProto(x))
	}
	quality := 0
	if p, ok := h.pdq(); ok {
		quality = p.Quality
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
	}
	return "other"
}
