package index

import (
	"context"
	"math/bits"

	"github.com/mediamatch/mediamatch/store"
)

// View is one published state of the index, read-only: what a matcher
// searches. It never changes and takes no lock; a later state of the index
// is a later View. Matching rules live with its consumer (package match),
// not here: a View only finds hashes and says whose they are.
type View struct {
	v   *view
	src Source
}

// View returns the index's current state.
func (x *Index) View() View { return View{x.view.Load(), x.src} }

// Revision is the store revision the view shows.
func (v View) Revision() store.Revision { return v.v.rev }

// Banks are the banks at the view's revision, by name. The map and the
// banks are shared: read-only.
func (v View) Banks() map[string]*store.Bank { return v.v.banks }

// Entry returns what the index keeps of an entry the view shows (shared,
// read-only), or false.
func (v View) Entry(id uint64) (*EntryInfo, bool) {
	info := v.v.cat.get(id)
	if !info.visibleAt(v.v.rev) {
		return nil, false
	}
	return info, true
}

// Read reads an entry in full from the store behind the index, for the few
// candidates a matcher compares in detail. It can fail with
// store.ErrEntryNotFound for an entry removed since the view was taken.
func (v View) Read(ctx context.Context, id uint64) (*store.Entry, error) {
	return v.src.Entry(ctx, id, store.ViewFull)
}

// Ref says which hash of an entry a search found.
type Ref struct {
	Entry uint64
	// Slot is 0 for the entry's whole-media hash of the type; for an image,
	// 1+k for region k; for a video, 1+2i for frame i and 2+2i for its
	// content region; for KeypointIndex, the keypoint's position.
	Slot int
}

// Region is the image region the hash belongs to, or -1 for the whole image.
func (r Ref) Region() int { return r.Slot - 1 }

// Frame is the video frame the hash belongs to, or -1 for slot 0.
func (r Ref) Frame() int { return frameOfSlot(r.Slot) }

// Search calls fn with every stored hash of type typ (a hash type or
// KeypointIndex) within radius of q, in every segment of the view, until fn
// returns false. The same entry can come several times (its regions,
// frames, keypoints); entries the view no longer shows can come too: check
// them with Entry.
func (v View) Search(typ string, q Hash, radius int, fn func(r Ref, dist int) bool) {
	for _, s := range v.v.segments {
		srch := s.search[typ]
		if srch == nil {
			continue
		}
		stop := false
		srch.Search(q, radius, func(r uint64, d int) bool {
			id, slot := splitRef(r)
			if !fn(Ref{id, slot}, d) {
				stop = true
				return false
			}
			return true
		})
		if stop {
			return
		}
	}
}

// Exact calls fn with every entry whose digest of type typ is digest.
func (v View) Exact(typ string, digest []byte, fn func(id uint64)) {
	key := digestKey(digest)
	for _, s := range v.v.segments {
		s.exactIDs(typ, key, fn)
	}
}

// HashOf packs hash bytes (big-endian, as hashing.Hash holds them) as the
// search structures take them.
func HashOf(b []byte) Hash { return toHash(b) }

// Distance is the Hamming distance between two hashes.
func Distance(a, b *Hash) int {
	return bits.OnesCount64(a[0]^b[0]) + bits.OnesCount64(a[1]^b[1]) + bits.OnesCount64(a[2]^b[2]) + bits.OnesCount64(a[3]^b[3])
}
