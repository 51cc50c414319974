package store

import (
	"time"

	"github.com/mediamatch/mediamatch/hashing"
)

// Revision is the position of a change in the change log: the first change
// a store records is revision 1, and every later change takes the next
// number. The revision of a store is that of its last change.
type Revision uint64

// MediaKind says whether an entry is an image or a video.
type MediaKind uint8

// The media kinds.
const (
	KindUnknown MediaKind = iota
	KindImage
	KindVideo
)

// String returns "image", "video" or "unknown".
func (k MediaKind) String() string {
	switch k {
	case KindImage:
		return "image"
	case KindVideo:
		return "video"
	}
	return "unknown"
}

// Bank is a named list of known media, such as one partner's hash list or
// one team's bank for one organisation's propaganda.
type Bank struct {
	// Name identifies the bank (ValidBankName). It cannot change.
	Name string
	// Description says what the bank holds, for people.
	Description string
	// Labels describe the bank as a whole.
	Labels map[string]string
	// Disabled banks are skipped by a match that names no banks.
	Disabled bool
	// Thresholds override the default match distance per hash type.
	Thresholds map[string]int
	// FalseMatchBudget, when above 0, is the bank's operating point: the
	// largest estimated false-match probability per comparison of an
	// automatic match with its entries (package match). 0 means the
	// server's default.
	FalseMatchBudget float64

	// The fields below are set by the store.

	// Synced is, per source the bank is kept in step with (SyncEntries),
	// the source's revision up to which its changes have been applied:
	// the cursor a syncer resumes from. Only SyncEntries changes it, in the
	// same commit as the changes it covers.
	Synced map[string]Revision

	// Entries is the number of entries the bank holds.
	Entries int64
	// Created and CreatedBy say when and by whom the bank was created;
	// Updated and UpdatedBy the same of its last settings change (equal to
	// the creation until then).
	Created, Updated     time.Time
	CreatedBy, UpdatedBy string
	// Revision is the revision of the bank's last settings change.
	Revision Revision
}

// Source records where an entry came from.
type Source struct {
	// Origin names the provider (a partner, a team, a tool).
	Origin string
	// ExternalID is the item's identifier at the origin.
	ExternalID string
	// URI points at the original or its case record.
	URI string
}

// Provenance records the list an entry was imported from (ImportEntries),
// so that a later import or sync from the same partner can find the entry
// again by its id there.
type Provenance struct {
	// Partner is the partner whose signature the list carried; empty for
	// a list imported without one.
	Partner string
	// List names the list (its file name), and ListRevision is the
	// revision its exporter's header names (0 for formats without one).
	List         string
	ListRevision Revision
	// SourceID is the entry's id at its source, when the list's format
	// carries it (the native format does).
	SourceID string
	// Imported is when the entry was imported (the commit's time).
	Imported time.Time
}

// IsZero reports whether p records no import.
func (p Provenance) IsZero() bool { return p == Provenance{} }

// Frame is the PDQ hash of one sampled video frame.
type Frame struct {
	// Seconds is the frame's time from the start of the video.
	Seconds float64
	// Hash is the frame's PDQ hash.
	Hash [32]byte
	// Quality is the PDQ quality of the frame, 0-100.
	Quality int
	// Content is the PDQ hash of the frame's main content region (without
	// letterbox bars, borders or caption bands), when HasContent is set.
	Content    [32]byte
	HasContent bool
}

// Keypoint is one local feature of an image (package keypoint computes
// them): a position, the pyramid level it was found at and a 256-bit
// descriptor of the patch around it.
type Keypoint struct {
	// X and Y are the position as fractions (0 to 1) of the image's width
	// and height.
	X, Y float32
	// Level is the pyramid level.
	Level uint8
	// Descriptor is the patch descriptor, most significant word first.
	Descriptor [4]uint64
}

// Thumbnail is a grey image, row by row: Width*Height bytes.
type Thumbnail struct {
	Width, Height int
	Grey          []byte
}

// IsZero reports whether there is no thumbnail.
func (t Thumbnail) IsZero() bool { return t.Width == 0 && t.Height == 0 && len(t.Grey) == 0 }

// Entry is one known item in a bank: its hashes and what is known of it.
type Entry struct {
	// ID identifies the entry across every bank. The store assigns it, in
	// increasing order, when the entry is added.
	ID uint64
	// Bank is the name of the bank holding the entry. It cannot change.
	Bank string
	// Kind says whether the hashes are of an image or a video.
	Kind MediaKind
	// Format, Width, Height and Duration (seconds) describe the media,
	// when known.
	Format        string
	Width, Height int
	Duration      float64
	// Hashes are the whole item's hashes, at most one per type.
	Hashes []hashing.Hash
	// Regions are PDQ hashes (and for windows pHashes) of parts of an
	// image: its picture without bars or captions, central windows.
	Regions []hashing.RegionHash
	// Keypoints are an image's local features.
	Keypoints []Keypoint
	// Thumbnail is a small grey copy of an image, against which a match by
	// local features is checked pixel by pixel (package pixels); empty for
	// videos, entries added by hashes and entries imported from lists.
	Thumbnail Thumbnail
	// Frames are the hashes of a video's sampled frames, in time order.
	Frames []Frame
	// Labels classify the item (for example "group": "...").
	Labels map[string]string
	// Note is free text for people.
	Note string
	// Source says where the item came from.
	Source Source
	// Provenance says which partner's list the entry was imported from;
	// zero for an entry added here. The store sets its Imported time.
	Provenance Provenance

	// The fields below are set by the store.

	// Created and CreatedBy say when and by whom the entry was added;
	// Updated and UpdatedBy the same of its last update (equal to the
	// addition until then).
	Created, Updated     time.Time
	CreatedBy, UpdatedBy string
	// Revision is the revision of the entry's last change.
	Revision Revision
}

// Hash returns the entry's whole-item hash of the given type, if it has one.
func (e *Entry) Hash(typ string) (hashing.Hash, bool) {
	for _, h := range e.Hashes {
		if h.Type == typ {
			return h, true
		}
	}
	return hashing.Hash{}, false
}

// View says how much of an entry a read returns.
type View uint8

// The views.
const (
	// ViewFull is the whole entry.
	ViewFull View = iota
	// ViewBasic leaves out the bulky parts: a video's frames and an
	// image's keypoints and thumbnail. Everything else is there.
	ViewBasic
	// ViewNone, for Changes and Watch, returns the change records without
	// the banks and entries they changed.
	ViewNone
)
