package index

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/store"
)

// Source is what the index reads of a store: a snapshot to start from, the
// change feed to follow, and single entries for the few candidates a
// match compares in full. store.Store satisfies it.
type Source interface {
	Snapshot(ctx context.Context) (store.Snapshot, error)
	Watch(ctx context.Context, after store.Revision, view store.View) <-chan store.WatchResponse
	Entry(ctx context.Context, id uint64, view store.View) (*store.Entry, error)
}

// Options configures New. The zero value is ready to use.
type Options struct {
	// Structures picks the search structure per perceptual hash type
	// ("pdq", "phash", "dhash", KeypointIndex); types left out use
	// DefaultStructure.
	Structures map[string]Structure
	// Logger receives the follower's events (rebuilds, errors). Default
	// slog.Default().
	Logger *slog.Logger

	// tailEntries and fanIn override the segment sizes below, for tests
	// that need merges without thousands of entries.
	tailEntries, fanIn int
}

// Segment sizes. New entries go to a small tail, which only grows (see
// tail); a full tail is frozen into a segment, and segments of one level
// merge, four at a time, into one of the next level in the background.
// Readers search every segment and the tail.
const (
	// tailEntries and tailHashes bound the tail, which is scanned: 4096
	// hashes (128 images with their keypoints) cost an image query about
	// 0.2 ms, its 48 keypoints being the most.
	tailEntries = 256
	tailHashes  = 4 << 10
	// mergeFanIn is how many segments of one level merge into one.
	mergeFanIn = 4
	// purgeShare: a segment whose removed entries reach this share of it
	// is rebuilt without them.
	purgeShare = 0.5
	// retryDelay is the pause before the follower retries after an
	// error reading the feed.
	retryDelay = time.Second
)

// Index is the in-memory search structure over a store's entries. It is
// built from a snapshot and kept current only by applying the store's
// change feed, in order, on every node alike: a node that writes sees its
// writes through the feed, as any other does (WaitFor).
//
// Matches read an immutable view, published atomically after each applied
// commit, and never take a lock: they never wait for the writer, and the
// writer never waits for them.
type Index struct {
	src  Source
	opts Options
	log  *slog.Logger

	view atomic.Pointer[view]

	pubMu sync.Mutex
	pubCh chan struct{} // closed and replaced at every publish

	err    atomic.Pointer[error] // the follower's last error, until it recovers
	merges atomic.Int32          // merges running (0..mergeSlots), for benchmarks
	cancel context.CancelFunc
	done   chan struct{}
}

// view is one state of the index, never changed once published.
type view struct {
	rev      store.Revision
	banks    map[string]*store.Bank
	cat      *catalog
	segments []*segment // frozen, oldest first, then the tail (if any)
	entries  int
	hashes   map[string]int
}

// New builds an index from a snapshot of src and starts following src's
// change feed. It returns once the snapshot is loaded.
func New(ctx context.Context, src Source, opts Options) (*Index, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.tailEntries <= 0 {
		opts.tailEntries = tailEntries
	}
	if opts.fanIn <= 1 {
		opts.fanIn = mergeFanIn
	}
	for name, st := range opts.Structures {
		bits, ok := typeBits(name)
		if !ok {
			return nil, fmt.Errorf("%w: no search structure applies to hash type %q", ErrStructure, name)
		}
		if _, err := Build(st, bits, nil, nil); err != nil {
			return nil, fmt.Errorf("index for %s: %w", name, err)
		}
	}
	x := &Index{src: src, opts: opts, log: opts.Logger, pubCh: make(chan struct{}), done: make(chan struct{})}
	f := &follower{x: x, mergeDone: make(chan mergeResult, mergeSlots), inMerge: map[*segment]bool{}}
	if err := f.load(ctx); err != nil {
		return nil, err
	}
	fctx, cancel := context.WithCancel(context.Background())
	x.cancel = cancel
	go func() {
		defer close(x.done)
		f.run(fctx)
	}()
	return x, nil
}

// Close stops following the feed. Matches already running finish.
func (x *Index) Close() error {
	x.cancel()
	<-x.done
	return nil
}

// Revision is the revision of the latest state the index shows.
func (x *Index) Revision() store.Revision { return x.view.Load().rev }

// Err returns the error that keeps the index from following the feed, or
// nil while it follows.
func (x *Index) Err() error {
	if p := x.err.Load(); p != nil {
		return *p
	}
	return nil
}

// WaitFor waits until the index shows revision rev or a later one. It
// returns early with the follower's error when following fails, and with
// ctx's when ctx ends.
func (x *Index) WaitFor(ctx context.Context, rev store.Revision) error {
	for {
		x.pubMu.Lock()
		ch := x.pubCh
		x.pubMu.Unlock()
		if x.view.Load().rev >= rev {
			return nil
		}
		if err := x.Err(); err != nil {
			return fmt.Errorf("index is behind the store: %w", err)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-x.done:
			return fmt.Errorf("index is closed")
		}
	}
}

func (x *Index) publish(v *view) {
	x.view.Store(v)
	x.pubMu.Lock()
	close(x.pubCh)
	x.pubCh = make(chan struct{})
	x.pubMu.Unlock()
}

// Stats returns the number of hashes held per search structure (hash
// types and KeypointIndex) and per digest type.
func (x *Index) Stats() map[string]int { return maps.Clone(x.view.Load().hashes) }

// Entries returns the number of entries the index holds.
func (x *Index) Entries() int { return x.view.Load().entries }

// Merging is the number of segment merges running: 0 once the index has
// settled after a burst of writes.
func (x *Index) Merging() int { return int(x.merges.Load()) }

// Segments returns the number of segments (the tail included) a match
// searches.
func (x *Index) Segments() int { return len(x.view.Load().segments) }

// Structures returns the search structure configured per perceptual hash
// type (small segments are scanned whatever it says, and keypoint keys
// under halvesFrom in a segment held in MIH by default).
func (x *Index) Structures() map[string]Structure {
	out := map[string]Structure{}
	for _, t := range hashing.Types() {
		if !t.Exact {
			out[t.Name] = DefaultStructure(t.Bits)
		}
	}
	out[KeypointIndex] = Halves
	maps.Copy(out, x.opts.Structures)
	return out
}

// follower is the index's one writer: it applies the feed and runs the
// merges. Nothing else touches its fields.
type follower struct {
	x     *Index
	rev   store.Revision
	banks map[string]*store.Bank
	cat   *catalog
	segs  []*segment // frozen segments, oldest first
	// tail holds the newest entries, appended to with every add.
	tail    *tail
	dead    map[*segment]int
	entries int
	// removed are the entries removed since the last view was published,
	// tombstones in the catalog until it is.
	removed []uint64
	// midCommit is set while the follower has applied part of a commit:
	// nothing is published until it has the rest.
	midCommit bool
	// gen counts rebuilds from a snapshot; a merge begun before one is
	// dropped.
	gen       int
	merging   [mergeSlots]bool
	inMerge   map[*segment]bool
	mergeDone chan mergeResult
	stats     map[string]int
}

type mergeResult struct {
	gen         int
	slot        int
	inputs      []*segment
	deadAtStart []int // f.dead of each input when the merge began
	out         *segment
	err         error
}

// load (re)builds the follower's state from a fresh snapshot and
// publishes it.
func (f *follower) load(ctx context.Context) error {
	start := time.Now()
	snap, err := f.x.src.Snapshot(ctx)
	if err != nil {
		return fmt.Errorf("reading a snapshot: %w", err)
	}
	defer snap.Close()
	banks := map[string]*store.Bank{}
	err = snap.Banks(func(b store.Bank) error {
		banks[b.Name] = &b
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading a snapshot's banks: %w", err)
	}
	cat := newCatalog()
	b := newSegmentBuilder()
	var total int64
	for _, bank := range banks {
		total += bank.Entries
	}
	// Most entries hold one whole-image PDQ hash: room for as many, not
	// the copies of an array doubled again and again (seconds at 10M).
	// The banks' counts are only a hint, bounded here (32M, 1.3 GB).
	if total > 0 {
		b.expect(hashing.PDQ, int(min(total, maxExpected)))
	}
	n := 0
	err = snap.Entries(store.ViewFull, func(e *store.Entry) error {
		cat.set(e.ID, newEntryInfo(e, 0, banks))
		b.add(e)
		n++
		return ctx.Err()
	})
	if err != nil {
		return fmt.Errorf("reading a snapshot's entries: %w", err)
	}
	var segs []*segment
	if n > 0 {
		seg, err := b.build(f.x.opts.Structures, levelFor(n, f.x.opts.tailEntries, f.x.opts.fanIn))
		if err != nil {
			return err
		}
		segs = []*segment{seg}
	}
	f.gen++
	f.rev, f.banks, f.cat, f.segs = snap.Revision(), banks, cat, segs
	f.tail = newTail()
	f.dead, f.entries = map[*segment]int{}, n
	f.removed, f.midCommit = nil, false
	f.recount()
	f.publish()
	f.x.log.Info("index built from a snapshot", "revision", uint64(f.rev), "entries", n, "ms", time.Since(start).Milliseconds())
	return nil
}

// maxExpected bounds the hashes a snapshot's load makes room for ahead.
const maxExpected = 1 << 25

// levelFor is the merge level of a segment of n entries.
func levelFor(n, tail, fanIn int) int {
	level, size := 0, tail
	for size*fanIn <= n {
		size *= fanIn
		level++
	}
	return level
}

// run follows the feed until ctx ends.
func (f *follower) run(ctx context.Context) {
	for ctx.Err() == nil {
		err := f.follow(ctx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, store.ErrCompacted) {
			f.x.log.Warn("index fell behind the compacted change log; rebuilding from a snapshot", "revision", uint64(f.rev))
			err = f.load(ctx)
		}
		if err != nil && ctx.Err() == nil {
			f.x.err.Store(&err)
			f.x.log.Error("index cannot follow the store's changes; retrying", "revision", uint64(f.rev), "error", err.Error())
			select {
			case <-time.After(retryDelay):
			case <-ctx.Done():
			}
		}
	}
}

// follow applies the feed from the follower's revision until it fails.
func (f *follower) follow(ctx context.Context) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watch := f.x.src.Watch(wctx, f.rev, store.ViewFull)
	for {
		select {
		case resp, ok := <-watch:
			if !ok {
				return ctx.Err()
			}
			if resp.Err != nil {
				return resp.Err
			}
			if err := f.apply(resp.Changes); err != nil {
				return err
			}
			if n := len(resp.Changes); n > 0 {
				// A commit larger than one delivery spans several: the
				// index shows it only once it has all of it.
				f.midCommit = !resp.Changes[n-1].CommitEnd
			}
			f.x.err.Store(nil)
		case res := <-f.mergeDone:
			f.install(res)
		}
		f.maybeMerge()
		f.publish()
	}
}

// apply applies one delivery of changes (whole commits).
func (f *follower) apply(changes []store.Change) error {
	banksCopied := false
	touchBanks := func() {
		if !banksCopied {
			f.banks = maps.Clone(f.banks)
			banksCopied = true
		}
	}
	for _, c := range changes {
		if c.Revision <= f.rev {
			continue // already applied (a delivery after a reconnect)
		}
		switch c.Kind {
		case store.BankCreated, store.BankUpdated:
			if c.BankValue != nil {
				touchBanks()
				b := *c.BankValue
				f.banks[b.Name] = &b
			}
		case store.BankDeleted:
			touchBanks()
			delete(f.banks, c.Bank)
		case store.EntryAdded:
			e := c.EntryValue
			if e == nil {
				break // removed since; its removal follows
			}
			if old := f.cat.get(e.ID); old != nil {
				// Seen already (the snapshot was newer than the change):
				// only its metadata can differ.
				info := newEntryInfo(e, old.added, f.banks)
				f.cat.set(e.ID, info)
				break
			}
			f.cat.set(e.ID, newEntryInfo(e, c.Revision, f.banks))
			f.entries++
			f.tail.add(e)
			if err := f.maybeFreeze(); err != nil {
				return err
			}
		case store.EntryUpdated:
			if e := c.EntryValue; e != nil {
				if old := f.cat.get(e.ID); old != nil && old.removed == 0 {
					f.cat.set(e.ID, newEntryInfo(e, old.added, f.banks))
				}
			}
		case store.EntryRemoved:
			old := f.cat.get(c.EntryID)
			if old == nil || old.removed != 0 {
				break
			}
			// A tombstone until the next view is published, so a match of
			// the current view still sees the entry: a commit's removals
			// take effect together, with its other changes.
			gone := *old
			gone.removed = c.Revision
			f.cat.set(c.EntryID, &gone)
			f.removed = append(f.removed, c.EntryID)
			f.entries--
			if c.EntryID >= f.tail.minID && c.EntryID <= f.tail.maxID {
				if t, found := f.tail.without(c.EntryID); found {
					f.tail = t
					break
				}
			}
			if s := f.segmentOf(c.EntryID); s != nil {
				f.dead[s]++
			}
		default:
			return fmt.Errorf("%w: change %d has kind %v", store.ErrCorrupt, c.Revision, c.Kind)
		}
		f.rev = c.Revision
	}
	return nil
}

// segmentOf returns the frozen segment whose ids span id.
func (f *follower) segmentOf(id uint64) *segment {
	i, found := slices.BinarySearchFunc(f.segs, id, func(s *segment, id uint64) int {
		switch {
		case id < s.minID:
			return 1
		case id > s.maxID:
			return -1
		}
		return 0
	})
	if !found {
		return nil
	}
	return f.segs[i]
}

// maybeFreeze freezes a full tail into a segment.
func (f *follower) maybeFreeze() error {
	if len(f.tail.entries) < f.x.opts.tailEntries && f.tail.n < tailHashes {
		return nil
	}
	seg, err := f.tail.freeze(f.x.opts.Structures, levelFor(len(f.tail.entries), f.x.opts.tailEntries, f.x.opts.fanIn))
	if err != nil {
		return err
	}
	f.segs = append(f.segs, seg)
	f.tail = newTail()
	return nil
}

// Merge slots: one for small merges and one for large ones, so that the
// segments new adds keep making are merged while a large merge (seconds,
// at millions of hashes) runs.
const (
	slotSmall = iota
	slotLarge
	mergeSlots
	// smallMerge is the most entries a small merge makes.
	smallMerge = 16 << 10
	// maxFanIn bounds the segments one merge takes: after a burst of adds
	// a backlog of small segments merges in one go.
	maxFanIn = 16
)

// maybeMerge starts background merges when the segments call for them,
// one per free slot: a segment that is mostly removed entries is rebuilt
// alone; otherwise a run of no more than maxFanIn segments, none of a
// level above the first's and at least fanIn of the first's, merges into
// one. A segment's level follows from its size (levelFor), so merges make
// bigger segments rarely and small ones often. Smaller segments between
// those of the first's level belong to the run because merges of up to
// maxFanIn segments leave runs such as levels 2, 2, 1, 2, 2, 1 (a
// commit's frozen tails), which runs of one level never merge: 1M entries
// added by 10k were about 300 segments, each searched by every query.
func (f *follower) maybeMerge() {
	for slot := range mergeSlots {
		if f.merging[slot] {
			continue
		}
		job := f.mergeJob(slot)
		if job == nil {
			continue
		}
		f.startMerge(slot, job)
	}
}

// mergeJob picks the segments of the next merge for a slot, or nil.
func (f *follower) mergeJob(slot int) []*segment {
	fits := func(run []*segment) bool {
		n := 0
		for _, s := range run {
			if f.inMerge[s] {
				return false
			}
			n += s.entries
		}
		return (n <= smallMerge) == (slot == slotSmall)
	}
	for _, s := range f.segs {
		if f.dead[s] > 0 && float64(f.dead[s]) >= purgeShare*float64(max(s.entries, 1)) && fits([]*segment{s}) {
			return []*segment{s}
		}
	}
	fanIn := f.x.opts.fanIn
	for i := 0; i+fanIn <= len(f.segs); i++ {
		level := f.segs[i].level
		j, top := i, 0
		for j < len(f.segs) && j-i < maxFanIn && f.segs[j].level <= level {
			if f.segs[j].level == level {
				top++
			}
			j++
		}
		if top >= fanIn {
			if run := f.segs[i:j]; fits(run) {
				return slices.Clone(run)
			}
			if run := f.segs[i : i+fanIn]; fits(run) {
				return slices.Clone(run)
			}
		}
	}
	return nil
}

func (f *follower) startMerge(slot int, job []*segment) {
	f.merging[slot] = true
	for _, s := range job {
		f.inMerge[s] = true
	}
	f.x.merges.Add(1)
	gen, cat, structures := f.gen, f.cat, f.x.opts.Structures
	tail, fanIn := f.x.opts.tailEntries, f.x.opts.fanIn
	deadAtStart := make([]int, len(job))
	for k, s := range job {
		deadAtStart[k] = f.dead[s]
	}
	go func() {
		b := newSegmentBuilder()
		b.reserve(job)
		for _, s := range job {
			b.addSegment(s, func(id uint64) bool { info := cat.get(id); return info != nil && info.removed == 0 })
		}
		out, err := b.build(structures, levelFor(b.entries, tail, fanIn))
		f.mergeDone <- mergeResult{gen: gen, slot: slot, inputs: job, deadAtStart: deadAtStart, out: out, err: err}
	}()
}

// install puts a finished merge in place of its inputs.
func (f *follower) install(res mergeResult) {
	f.merging[res.slot] = false
	defer f.x.merges.Add(-1)
	for _, s := range res.inputs {
		delete(f.inMerge, s)
	}
	if res.gen != f.gen {
		return
	}
	if res.err != nil {
		f.x.log.Error("index merge failed", "error", res.err.Error())
		return
	}
	i := slices.Index(f.segs, res.inputs[0])
	if i < 0 || i+len(res.inputs) > len(f.segs) || !slices.Equal(f.segs[i:i+len(res.inputs)], res.inputs) {
		return // cannot happen: only the follower changes f.segs
	}
	// Entries removed while the merge ran are still in its output.
	dead := 0
	for k, s := range res.inputs {
		dead += f.dead[s] - res.deadAtStart[k]
		delete(f.dead, s)
	}
	f.segs = slices.Replace(f.segs, i, i+len(res.inputs), res.out)
	if dead > 0 {
		f.dead[res.out] = dead
	}
}

// recount refreshes the hash counts reported by Stats.
func (f *follower) recount() {
	stats := map[string]int{KeypointIndex: 0}
	for _, t := range hashing.Types() {
		stats[t.Name] = 0
	}
	for _, s := range f.allSegments() {
		for typ, n := range s.counts {
			stats[typ] += n
		}
	}
	f.stats = stats
}

// allSegments returns a new slice of the segments a match searches: a
// published view never shares the follower's slice, which changes.
func (f *follower) allSegments() []*segment {
	out := make([]*segment, 0, len(f.segs)+1)
	out = append(out, f.segs...)
	if t := f.tail.segment(); t != nil {
		out = append(out, t)
	}
	return out
}

// publish makes the follower's state the index's view.
func (f *follower) publish() {
	if f.midCommit {
		return
	}
	f.recount()
	f.x.publish(&view{rev: f.rev, banks: f.banks, cat: f.cat, segments: f.allSegments(), entries: f.entries, hashes: f.stats})
	for _, id := range f.removed {
		f.cat.set(id, nil)
	}
	f.removed = f.removed[:0]
}
