package index

import "slices"

// refList holds the refs of a search structure's hashes, position by
// position, in little memory. A segment's hashes come entry by entry in
// ascending id order, each entry's slots usually 0, 1, 2, ... (its whole
// hash, then its regions; its keypoints): so the list keeps, per entry, its
// id (as an offset from the first) and the position of its first hash, and
// a slot per hash only when the slots are not that count. A million
// entries with 32 keypoint keys each cost 8 MB of refs, not 256 MB. Refs
// in any other order are kept as they are.
type refList struct {
	n int
	// plain holds the refs when they are not in ascending entry order (or
	// an entry's id is too far from the first); the fields below are
	// unused then.
	plain []uint64
	// base is the first entry's id; ids[k] is entry k's id less base and
	// starts[k] the position of its first hash.
	base   uint64
	ids    []uint32
	starts []uint32
	// slots8 or slots32 hold each hash's slot when some slot is not its
	// position less its entry's start; both are nil when every slot is.
	slots8  []uint8
	slots32 []uint32
}

// newRefList packs refs (which it does not keep).
func newRefList(refs []uint64) refList {
	l := refList{n: len(refs)}
	if len(refs) == 0 {
		return l
	}
	l.base, _ = splitRef(refs[0])
	implicit, maxSlot, runs := true, 0, 0
	lastID := uint64(0)
	for i, r := range refs {
		id, slot := splitRef(r)
		if i > 0 && id < lastID || id-l.base > 1<<32-1 || len(refs) > 1<<32-1 {
			return refList{n: len(refs), plain: slices.Clone(refs)}
		}
		if i == 0 || id != lastID {
			runs++
			lastID = id
		}
		maxSlot = max(maxSlot, slot)
	}
	l.ids, l.starts = make([]uint32, 0, runs), make([]uint32, 0, runs)
	start := 0
	for i, r := range refs {
		id, slot := splitRef(r)
		if i == 0 || uint32(id-l.base) != l.ids[len(l.ids)-1] {
			l.ids = append(l.ids, uint32(id-l.base))
			l.starts = append(l.starts, uint32(i))
			start = i
		}
		if slot != i-start {
			implicit = false
		}
	}
	if implicit {
		return l
	}
	if maxSlot < 1<<8 {
		l.slots8 = make([]uint8, len(refs))
		for i, r := range refs {
			_, slot := splitRef(r)
			l.slots8[i] = uint8(slot)
		}
		return l
	}
	l.slots32 = make([]uint32, len(refs))
	for i, r := range refs {
		_, slot := splitRef(r)
		l.slots32[i] = uint32(slot)
	}
	return l
}

// Len is the number of refs.
func (l *refList) Len() int { return l.n }

// at returns the ref at position i.
func (l *refList) at(i int) uint64 {
	if l.plain != nil {
		return l.plain[i]
	}
	// The last entry starting at or before i.
	k, found := slices.BinarySearch(l.starts, uint32(i))
	if !found {
		k--
	}
	return l.ref(k, i)
}

// ref is the ref at position i, of the k-th entry.
func (l *refList) ref(k, i int) uint64 {
	slot := i - int(l.starts[k])
	switch {
	case l.slots8 != nil:
		slot = int(l.slots8[i])
	case l.slots32 != nil:
		slot = int(l.slots32[i])
	}
	return ref(l.base+uint64(l.ids[k]), slot)
}

// each calls fn with every position and its ref, in order.
func (l *refList) each(fn func(i int, r uint64)) {
	if l.plain != nil {
		for i, r := range l.plain {
			fn(i, r)
		}
		return
	}
	k := 0
	for i := range l.n {
		for k+1 < len(l.starts) && int(l.starts[k+1]) <= i {
			k++
		}
		fn(i, l.ref(k, i))
	}
}

// all returns the refs unpacked.
func (l *refList) all() []uint64 {
	out := make([]uint64, 0, l.n)
	l.each(func(_ int, r uint64) { out = append(out, r) })
	return out
}

// bytes is the memory the list holds.
func (l *refList) bytes() int {
	return 8*len(l.plain) + 4*len(l.ids) + 4*len(l.starts) + len(l.slots8) + 4*len(l.slots32)
}
