package index

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"

	"github.com/mediamatch/mediamatch/hashing"
)

// Options configures Open.
type Options struct {
	// Structures picks the search structure per perceptual hash type
	// ("pdq", "phash", "dhash"); types left out use DefaultStructure.
	Structures map[string]Structure
	// Store configures the file.
	Store StoreOptions
}

// Index is the matcher's state: the durable store and, in memory, search
// structures over every stored hash, rebuilt from the store at open and
// updated after every commit. A match reads the store only for the few
// candidates it compares in full: videos frame by frame and images by
// their keypoints.
// It is safe for concurrent use; matches run in parallel with each other.
type Index struct {
	store *Store

	// writeMu serialises writes, so that the duplicate check, the commit
	// and the in-memory update of one write are not interleaved with
	// another's.
	writeMu sync.Mutex

	mu         sync.RWMutex // guards everything below
	perceptual map[string]*typeIndex
	exact      map[string]map[[32]byte][]uint64 // digest type -> zero-padded digest -> ids
	entries    map[uint64]*entryInfo
	idents     map[string]map[[32]byte]uint64 // bank -> identity -> id
	banks      map[string]Bank
	bankSize   map[string]int
}

// typeIndex is the range-search structure of one perceptual hash type.
type typeIndex struct {
	typ       hashing.Type
	search    Searcher
	structure Structure
}

// entryInfo is what a match reports about an entry, kept in memory.
type entryInfo struct {
	bank    string
	kind    MediaKind
	labels  map[string]string
	regions []regionInfo // of an image, by slot-1
	// pdq is the entry's whole-image PDQ hash, when it has one of
	// matchable quality: the corroboration for matches by other types.
	pdq    Hash
	hasPDQ bool
}

// regionInfo is what a match reports of an entry's region hash.
type regionInfo struct {
	kind hashing.RegionKind
	box  hashing.Box
	// pdq is the region's PDQ hash, which corroborates a hit on its pHash.
	pdq Hash
}

// Open opens the store at path (creating it if needed) and builds the
// in-memory index from it.
func Open(path string, opts Options) (*Index, error) {
	s, err := OpenStore(path, opts.Store)
	if err != nil {
		return nil, err
	}
	x := &Index{
		store:      s,
		perceptual: map[string]*typeIndex{},
		exact:      map[string]map[[32]byte][]uint64{},
		entries:    map[uint64]*entryInfo{},
		idents:     map[string]map[[32]byte]uint64{},
		banks:      map[string]Bank{},
		bankSize:   map[string]int{},
	}
	for _, t := range hashing.Types() {
		if t.Exact {
			x.exact[t.Name] = map[[32]byte][]uint64{}
			continue
		}
		st := DefaultStructure(t.Bits)
		if v, ok := opts.Structures[t.Name]; ok {
			st = v
		}
		searcher, err := New(st, t.Bits)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("index for %s: %w", t.Name, err)
		}
		x.perceptual[t.Name] = &typeIndex{typ: t, search: searcher, structure: st}
	}
	{
		st := DefaultStructure(64)
		if v, ok := opts.Structures[KeypointIndex]; ok {
			st = v
		}
		searcher, err := New(st, 64)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("index for keypoints: %w", err)
		}
		x.perceptual[KeypointIndex] = &typeIndex{typ: hashing.Type{Name: KeypointIndex, Bits: 64}, search: searcher, structure: st}
	}
	for name := range opts.Structures {
		if _, ok := x.perceptual[name]; !ok {
			s.Close()
			return nil, fmt.Errorf("%w: no search structure applies to hash type %q", ErrInvalid, name)
		}
	}
	if err := x.rebuild(); err != nil {
		s.Close()
		return nil, fmt.Errorf("rebuilding index from %s: %w", path, err)
	}
	return x, nil
}

// rebuild loads banks and entries from the store into memory.
func (x *Index) rebuild() error {
	banks, err := x.store.Banks()
	if err != nil {
		return err
	}
	for _, b := range banks {
		x.banks[b.Name] = b
		x.idents[b.Name] = map[[32]byte]uint64{}
	}
	bulk := map[string]*bulkLoad{}
	for name := range x.perceptual {
		bulk[name] = &bulkLoad{}
	}
	err = x.store.ForEachEntry(func(e *Entry) error {
		x.remember(e)
		searched(e, func(typ string, r uint64, h Hash) {
			if b := bulk[typ]; b != nil {
				b.ids = append(b.ids, r)
				b.hashes = append(b.hashes, h)
			}
		})
		return nil
	})
	if err != nil {
		return err
	}
	for name, b := range bulk {
		ti := x.perceptual[name]
		searcher, err := Build(ti.structure, ti.typ.Bits, b.ids, b.hashes)
		if err != nil {
			return fmt.Errorf("building %s index: %w", name, err)
		}
		ti.search = searcher
	}
	return nil
}

type bulkLoad struct {
	ids    []uint64
	hashes []Hash
}

// remember records an entry's metadata, identity and exact digests. The
// caller holds mu (or has the index to itself).
func (x *Index) remember(e *Entry) {
	info := &entryInfo{bank: e.Bank, kind: e.Kind, labels: e.Labels}
	for _, r := range e.Regions {
		info.regions = append(info.regions, regionInfo{r.Kind, r.Box, toHash(r.Hash[:])})
	}
	if h, ok := e.Hash(hashing.PDQ); ok && h.Quality >= pdqMinQuality {
		info.pdq, info.hasPDQ = toHash(h.Bytes), true
	}
	x.entries[e.ID] = info
	if x.idents[e.Bank] == nil {
		x.idents[e.Bank] = map[[32]byte]uint64{}
	}
	x.idents[e.Bank][e.identity()] = e.ID
	x.bankSize[e.Bank]++
	for _, h := range e.Hashes {
		if m := x.exact[h.Type]; m != nil {
			k := digestKey(h.Bytes)
			m[k] = append(m[k], e.ID)
		}
	}
}

// forget undoes remember and removes the entry's perceptual hashes.
func (x *Index) forget(e *Entry) {
	delete(x.entries, e.ID)
	if ids := x.idents[e.Bank]; ids != nil && ids[e.identity()] == e.ID {
		delete(ids, e.identity())
	}
	x.bankSize[e.Bank]--
	for _, h := range e.Hashes {
		if m := x.exact[h.Type]; m != nil {
			k := digestKey(h.Bytes)
			ids := slices.DeleteFunc(m[k], func(id uint64) bool { return id == e.ID })
			if len(ids) == 0 {
				delete(m, k)
			} else {
				m[k] = ids
			}
		}
	}
	searched(e, func(typ string, r uint64, h Hash) {
		if ti := x.perceptual[typ]; ti != nil {
			ti.search.Delete(r, h)
		}
	})
}

// KeypointIndex names the search structure of keypoint keys (in Stats,
// Structures and Options.Structures), beside the hash types'. Slot k of an
// entry is its keypoint k.
const KeypointIndex = "keypoints"

// The search structures hold references to hashes rather than entry ids:
// the entry id in the high bits and a slot in the low slotBits. Slot 0 is
// the entry's whole-media hash of the type; an image's region hash k is
// slot 1+k; a video's frame i is slot 1+2i for the whole frame and 2+2i for
// its content region.
const slotBits = 20

func ref(id uint64, slot int) uint64 { return id<<slotBits | uint64(slot) }

func splitRef(r uint64) (id uint64, slot int) { return r >> slotBits, int(r & (1<<slotBits - 1)) }

// frameOfSlot returns the frame index a slot refers to, or -1 for slot 0.
func frameOfSlot(slot int) int {
	if slot == 0 {
		return -1
	}
	return (slot - 1) / 2
}

// searched calls fn with every hash of e that the search structures hold:
// its perceptual hashes, and the PDQ hashes of its frames that are of
// matchable quality (frames below it are kept in the store but, as vPDQ
// does, not matched).
func searched(e *Entry, fn func(typ string, r uint64, h Hash)) {
	for _, h := range e.Hashes {
		fn(h.Type, ref(e.ID, 0), toHash(h.Bytes))
	}
	for k, r := range e.Regions {
		if r.Quality >= pdqMinQuality {
			fn(hashing.PDQ, ref(e.ID, 1+k), toHash(r.Hash[:]))
		}
		if r.HasPHash {
			fn(hashing.PHash, ref(e.ID, 1+k), toHash(binary.BigEndian.AppendUint64(nil, r.PHash)))
		}
	}
	for k := range e.Keypoints {
		fn(KeypointIndex, ref(e.ID, k), Hash{e.Keypoints[k].Key()})
	}
	for i, f := range e.Frames {
		if f.Quality < pdqMinQuality {
			continue
		}
		fn(hashing.PDQ, ref(e.ID, 1+2*i), toHash(f.Hash[:]))
		if f.HasContent {
			fn(hashing.PDQ, ref(e.ID, 2+2*i), toHash(f.Content[:]))
		}
	}
}

func digestKey(b []byte) [32]byte {
	var k [32]byte
	copy(k[:], b)
	return k
}

// Close closes the store.
func (x *Index) Close() error {
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	return x.store.Close()
}

// Store returns the durable store, for reads such as listing entries.
// Writes must go through the Index so that memory follows the file.
func (x *Index) Store() *Store { return x.store }

// Stats returns the number of hashes indexed per hash type.
func (x *Index) Stats() map[string]int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := map[string]int{}
	for name, ti := range x.perceptual {
		out[name] = ti.search.Len()
	}
	for name, m := range x.exact {
		n := 0
		for _, ids := range m {
			n += len(ids)
		}
		out[name] = n
	}
	return out
}

// Structures returns the search structure in use per perceptual hash type.
func (x *Index) Structures() map[string]Structure {
	out := map[string]Structure{}
	for name, ti := range x.perceptual {
		out[name] = ti.structure
	}
	return out
}

// BankSize returns the number of entries in a bank.
func (x *Index) BankSize(name string) int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.bankSize[name]
}

// CreateBank creates a bank.
func (x *Index) CreateBank(b Bank) (Bank, error) {
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	b, err := x.store.CreateBank(b)
	if err != nil {
		return Bank{}, err
	}
	x.mu.Lock()
	x.banks[b.Name] = b
	x.idents[b.Name] = map[[32]byte]uint64{}
	x.mu.Unlock()
	return b, nil
}

// UpdateBank changes a bank's settings (see Store.UpdateBank).
func (x *Index) UpdateBank(name string, fn func(*Bank) error) (Bank, error) {
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	b, err := x.store.UpdateBank(name, fn)
	if err != nil {
		return Bank{}, err
	}
	x.mu.Lock()
	x.banks[name] = b
	x.mu.Unlock()
	return b, nil
}

// DeleteBank deletes a bank, and with force its entries (see
// Store.DeleteBank). It returns how many entries were removed.
func (x *Index) DeleteBank(name string, force bool, actor string) (int, error) {
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	removed, err := x.store.DeleteBank(name, force, actor)
	if err != nil {
		return 0, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, e := range removed {
		x.forget(e)
	}
	delete(x.banks, name)
	delete(x.idents, name)
	delete(x.bankSize, name)
	return len(removed), nil
}

// AddResult reports what Add did with one entry.
type AddResult struct {
	// ID is the entry's id: new, or that of the entry already holding the
	// same hashes in the bank.
	ID uint64
	// Existed is true when the bank already held the item, so nothing was
	// written.
	Existed bool
}

// Add stores entries and indexes their hashes, all in one transaction:
// all are added or none. An entry whose hashes its bank already holds (the
// same set of hash values) is not added again; its result names the
// existing entry. Entries of one call that repeat each other are added once.
func (x *Index) Add(entries []*Entry, actor string) ([]AddResult, error) {
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	results := make([]AddResult, len(entries))
	// repeatOf[i] is the index of an earlier entry of this call with the
	// same identity in the same bank, or -1.
	repeatOf := make([]int, len(entries))
	firstOf := map[string]map[[32]byte]int{} // bank -> identity -> index in entries
	var fresh []*Entry
	x.mu.RLock()
	for i, e := range entries {
		repeatOf[i] = -1
		if err := e.validate(); err != nil {
			x.mu.RUnlock()
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		if _, ok := x.banks[e.Bank]; !ok {
			x.mu.RUnlock()
			return nil, fmt.Errorf("entry %d: %w: %q", i, ErrBankNotFound, clip(e.Bank))
		}
		id := e.identity()
		if existing, ok := x.idents[e.Bank][id]; ok {
			results[i] = AddResult{ID: existing, Existed: true}
			continue
		}
		if firstOf[e.Bank] == nil {
			firstOf[e.Bank] = map[[32]byte]int{}
		}
		if j, ok := firstOf[e.Bank][id]; ok {
			repeatOf[i] = j
			continue
		}
		firstOf[e.Bank][id] = i
		fresh = append(fresh, e)
	}
	x.mu.RUnlock()
	if len(fresh) > 0 {
		if err := x.store.AddEntries(fresh, actor); err != nil {
			return nil, err
		}
	}
	x.mu.Lock()
	for _, e := range fresh {
		x.remember(e)
		searched(e, func(typ string, r uint64, h Hash) {
			if ti := x.perceptual[typ]; ti != nil {
				ti.search.Insert(r, h)
			}
		})
	}
	x.mu.Unlock()
	for i, e := range entries {
		switch {
		case results[i].Existed:
		case repeatOf[i] >= 0:
			results[i] = AddResult{ID: entries[repeatOf[i]].ID, Existed: true}
		default:
			results[i] = AddResult{ID: e.ID}
		}
	}
	return results, nil
}

// Remove deletes an entry from the store and the index, returning it.
func (x *Index) Remove(id uint64, actor string) (*Entry, error) {
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	e, err := x.store.RemoveEntry(id, actor)
	if err != nil {
		return nil, err
	}
	x.mu.Lock()
	x.forget(e)
	x.mu.Unlock()
	return e, nil
}

// Bank returns a bank from memory.
func (x *Index) Bank(name string) (Bank, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	b, ok := x.banks[name]
	if !ok {
		return Bank{}, fmt.Errorf("%w: %q", ErrBankNotFound, clip(name))
	}
	return b, nil
}

// Banks returns every bank, in name order.
func (x *Index) Banks() []Bank {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make([]Bank, 0, len(x.banks))
	for _, b := range x.banks {
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b Bank) int { return cmp.Compare(a.Name, b.Name) })
	return out
}
