package index

import (
	"cmp"
	"fmt"
	"slices"
	"sync"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/pdq"
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
// updated after every commit, so that a match never reads the disk.
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
	bank   string
	kind   MediaKind
	labels map[string]string
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
		for _, h := range e.Hashes {
			if b := bulk[h.Type]; b != nil {
				b.ids = append(b.ids, e.ID)
				b.hashes = append(b.hashes, toHash(h.Bytes))
			}
		}
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
	x.entries[e.ID] = &entryInfo{bank: e.Bank, kind: e.Kind, labels: e.Labels}
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
		if ti := x.perceptual[h.Type]; ti != nil {
			ti.search.Delete(e.ID, toHash(h.Bytes))
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
		for _, h := range e.Hashes {
			if ti := x.perceptual[h.Type]; ti != nil {
				ti.search.Insert(e.ID, toHash(h.Bytes))
			}
		}
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

// Query is one match request.
type Query struct {
	// Hashes are the query's hashes, at most one per type. A PDQ hash
	// carries its quality.
	Hashes []hashing.Hash
	// Dihedral, when set, holds the query image's eight PDQ variants in
	// pdq.Dihedral order; each is tried and the best reported.
	Dihedral []pdq.Hash
	// Banks limits the search; empty means every enabled bank.
	Banks []string
	// Thresholds override the largest matching distance per type.
	Thresholds map[string]int
	// MinQuality is the lowest PDQ quality a query hash needs to be used;
	// negative means the type's default (50 for PDQ).
	MinQuality int
	// Types limits matching to these hash types; empty means all.
	Types []string
	// Limit caps the number of matches returned; 0 means DefaultLimit.
	Limit int
}

// Match limits.
const (
	// DefaultLimit is the number of matches returned when a query sets none.
	DefaultLimit = 100
	// MaxLimit caps what a query may ask for: a near-blank query image can
	// match a large share of a bank, and the answer must stay small.
	MaxLimit = 1000
)

// Match is one entry that a query matched with one hash type.
type Match struct {
	EntryID  uint64
	Bank     string
	Labels   map[string]string
	Kind     MediaKind
	Type     string
	Distance int
	// Dihedral is the variant of the query that matched; pdq.Original
	// when the query matched as given or the type has no variants.
	Dihedral pdq.Dihedral
}

// Result is the answer to a Query.
type Result struct {
	// Matches are sorted best first: by distance, then hash type order,
	// then entry id. At most one per entry and hash type.
	Matches []Match
	// LowQuality is set when the query's PDQ hash was below the minimum
	// quality and so was not used.
	LowQuality bool
	// Truncated is set when more matches were found than the limit.
	Truncated bool
}

// Match finds the entries that a query matches. Unknown banks or hash types,
// and hashes of the wrong length, are errors.
func (x *Index) Match(q Query) (Result, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	x.mu.RLock()
	defer x.mu.RUnlock()

	banks := map[string]Bank{}
	if len(q.Banks) == 0 {
		for name, b := range x.banks {
			if !b.Disabled {
				banks[name] = b
			}
		}
	} else {
		for _, name := range q.Banks {
			b, ok := x.banks[name]
			if !ok {
				return Result{}, fmt.Errorf("%w: %q", ErrBankNotFound, clip(name))
			}
			banks[name] = b
		}
	}
	types := map[string]bool{}
	for _, name := range q.Types {
		if _, err := hashing.Lookup(name); err != nil {
			return Result{}, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		types[name] = true
	}
	for name, v := range q.Thresholds {
		t, err := hashing.Lookup(name)
		if err != nil {
			return Result{}, fmt.Errorf("%w: threshold for %v", ErrInvalid, err)
		}
		if v < 0 || v > t.Bits {
			return Result{}, fmt.Errorf("%w: %s threshold %d outside 0..%d", ErrInvalid, name, v, t.Bits)
		}
	}

	var res Result
	best := map[matchKey]Match{}
	consider := func(m Match) {
		k := matchKey{m.EntryID, m.Type}
		if old, ok := best[k]; !ok || m.Distance < old.Distance || (m.Distance == old.Distance && m.Dihedral < old.Dihedral) {
			best[k] = m
		}
	}
	for _, h := range q.Hashes {
		if len(types) > 0 && !types[h.Type] {
			continue
		}
		t, err := hashing.Lookup(h.Type)
		if err != nil {
			return Result{}, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		if len(h.Bytes)*8 != t.Bits {
			return Result{}, fmt.Errorf("%w: %s query hash of %d bytes, want %d", ErrInvalid, h.Type, len(h.Bytes), t.Bits/8)
		}
		if t.Exact {
			for _, id := range x.exact[t.Name][digestKey(h.Bytes)] {
				if info := x.entries[id]; info != nil {
					if _, ok := banks[info.bank]; ok {
						consider(x.match(id, info, t.Name, 0, pdq.Original))
					}
				}
			}
			continue
		}
		if t.HasQuality {
			minQ := q.MinQuality
			if minQ < 0 {
				minQ = t.MinQuality
			}
			if h.Quality < minQ {
				res.LowQuality = true
				continue
			}
		}
		// The search radius is the largest threshold of any bank searched;
		// each candidate is then held to its own bank's threshold.
		radius := -1
		threshold := func(b Bank) int {
			if v, ok := q.Thresholds[t.Name]; ok {
				return v
			}
			if v, ok := b.Thresholds[t.Name]; ok {
				return v
			}
			return t.Threshold
		}
		for _, b := range banks {
			radius = max(radius, threshold(b))
		}
		if radius < 0 {
			continue
		}
		variants := []Hash{toHash(h.Bytes)}
		if t.Name == hashing.PDQ && len(q.Dihedral) == pdq.NumDihedral {
			variants = variants[:0]
			for _, v := range q.Dihedral {
				variants = append(variants, toHash(v[:]))
			}
		}
		ti := x.perceptual[t.Name]
		for vi, v := range variants {
			ti.search.Search(v, radius, func(id uint64, dist int) bool {
				info := x.entries[id]
				if info == nil {
					return true
				}
				b, ok := banks[info.bank]
				if !ok || dist > threshold(b) {
					return true
				}
				consider(x.match(id, info, t.Name, dist, pdq.Dihedral(vi)))
				return true
			})
		}
	}
	order := map[string]int{}
	for i, t := range hashing.Types() {
		order[t.Name] = i
	}
	for _, m := range best {
		res.Matches = append(res.Matches, m)
	}
	slices.SortFunc(res.Matches, func(a, b Match) int {
		return cmp.Or(cmp.Compare(a.Distance, b.Distance), cmp.Compare(order[a.Type], order[b.Type]), cmp.Compare(a.EntryID, b.EntryID))
	})
	if len(res.Matches) > limit {
		res.Matches, res.Truncated = res.Matches[:limit], true
	}
	return res, nil
}

type matchKey struct {
	id  uint64
	typ string
}

func (x *Index) match(id uint64, info *entryInfo, typ string, dist int, d pdq.Dihedral) Match {
	return Match{EntryID: id, Bank: info.bank, Labels: info.labels, Kind: info.kind, Type: typ, Distance: dist, Dihedral: d}
}
