package index

import (
	"sync/atomic"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/store"
)

// EntryInfo is what a match needs of an entry without reading the store:
// its bank, kind and labels, and the PDQ hashes that back matches by other
// types. It is never changed once published (an update publishes a new
// one), so its fields, Labels included, are read-only. Its fields are
// ordered for size: 112 bytes, a size class below 128.
type EntryInfo struct {
	ID     uint64
	Bank   string
	Labels map[string]string
	// Regions are an image's region hashes, by Ref.Region.
	Regions []RegionInfo
	// PDQ is the entry's whole-image PDQ hash, when HasPDQ: one of
	// matchable quality.
	PDQ Hash
	// Frames is a video's number of frames: what comparing it frame by
	// frame costs, known before it is read.
	Frames int32
	Kind   store.MediaKind
	HasPDQ bool
	// added is the revision of the change that added the entry (0 for
	// entries from the snapshot the index was built from): a match at an
	// older revision does not see it.
	added store.Revision
	// removed, when set, is the revision that removed it: a tombstone, for
	// matches at older revisions.
	removed store.Revision
}

// visibleAt reports whether a view at revision rev shows the entry.
func (e *EntryInfo) visibleAt(rev store.Revision) bool {
	return e != nil && e.added <= rev && (e.removed == 0 || e.removed > rev)
}

// RegionInfo is an image entry's region hash, as a match reports it: 56
// bytes.
type RegionInfo struct {
	Kind hashing.RegionKind
	Box  hashing.Box
	// Quality is the region's PDQ quality and PDQ its hash.
	Quality int32
	PDQ     Hash
}

// newEntryInfo makes what the index keeps of e. Its bank's name is the
// one banks holds, when it does: a million entries of a bank then share
// one string, not a copy each as the store decodes them.
func newEntryInfo(e *store.Entry, added store.Revision, banks map[string]*store.Bank) *EntryInfo {
	bank := e.Bank
	if b := banks[bank]; b != nil {
		bank = b.Name
	}
	info := &EntryInfo{ID: e.ID, Bank: bank, Kind: e.Kind, Labels: e.Labels, Frames: int32(len(e.Frames)), added: added}
	if len(e.Regions) > 0 {
		info.Regions = make([]RegionInfo, len(e.Regions))
		for k, r := range e.Regions {
			info.Regions[k] = RegionInfo{Kind: r.Kind, Box: r.Box, Quality: int32(r.Quality), PDQ: toHash(r.Hash[:])}
		}
	}
	if h, ok := e.Hash(hashing.PDQ); ok && h.Quality >= pdqMinQuality {
		info.PDQ, info.HasPDQ = toHash(h.Bytes), true
	}
	return info
}

// catalog maps entry ids to their EntryInfo. Ids are dense (the store
// hands them out in order), so it is an array of chunks, 8 bytes per id;
// one goroutine writes, any number read, without locks.
type catalog struct {
	chunks atomic.Pointer[[]*catalogChunk]
}

const catalogChunkBits = 12

type catalogChunk [1 << catalogChunkBits]atomic.Pointer[EntryInfo]

func newCatalog() *catalog {
	c := &catalog{}
	c.chunks.Store(&[]*catalogChunk{})
	return c
}

// get returns the entry's info, or nil.
func (c *catalog) get(id uint64) *EntryInfo {
	chunks := *c.chunks.Load()
	i := id >> catalogChunkBits
	if i >= uint64(len(chunks)) || chunks[i] == nil {
		return nil
	}
	return chunks[i][id&(1<<catalogChunkBits-1)].Load()
}

// set publishes an entry's info; nil removes it. Only the index's writer
// calls it. A chunk is allocated when its first id is set, by publishing a
// new directory (readers keep the one they loaded), so ids far apart cost
// only the directory's pointers.
func (c *catalog) set(id uint64, info *EntryInfo) {
	chunks := *c.chunks.Load()
	i := id >> catalogChunkBits
	if i >= uint64(len(chunks)) || chunks[i] == nil {
		if info == nil {
			return
		}
		grown := make([]*catalogChunk, max(i+1, uint64(len(chunks))))
		copy(grown, chunks)
		grown[i] = new(catalogChunk)
		c.chunks.Store(&grown)
		chunks = grown
	}
	chunks[i][id&(1<<catalogChunkBits-1)].Store(info)
}
