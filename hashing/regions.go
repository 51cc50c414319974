package hashing

import (
	"fmt"

	"github.com/mediamatch/mediamatch/pdq"
)

// RegionKind says which part of an image a region hash describes.
type RegionKind uint8

// The region kinds. Every region hash is kept in addition to the hash of the
// whole image, never instead of it.
const (
	// RegionWhole is the whole image (the zero value: a hash without a
	// region).
	RegionWhole RegionKind = iota
	// RegionTrimmed is the image without uniform bars and borders
	// (region.TrimBorders).
	RegionTrimmed
	// RegionContent is the main picture: without bars, borders or caption
	// bands (region.Content).
	RegionContent
	// RegionWindow is a fixed sub-window: a central crop of a stored image
	// (so that crops of it still match) or a quarter of a query (so that a
	// known image shown in a collage is found).
	RegionWindow
)

// String names the kind as the API does.
func (k RegionKind) String() string {
	switch k {
	case RegionWhole:
		return "whole"
	case RegionTrimmed:
		return "trimmed"
	case RegionContent:
		return "content"
	case RegionWindow:
		return "window"
	}
	return fmt.Sprintf("RegionKind(%d)", uint8(k))
}

// Box is a rectangle relative to an image: fractions of its width and height
// from the top left.
type Box struct {
	Left, Top, Width, Height float32
}

// RegionHash is the PDQ hash of one region of an image.
type RegionHash struct {
	Kind    RegionKind
	Box     Box
	Hash    pdq.Hash
	Quality int
	// PHash is the region's pHash when HasPHash is set: a stored image's
	// central windows carry one, since a crop a few percent off their
	// centre moves pHash by a few bits and PDQ by tens.
	PHash    uint64
	HasPHash bool
}
