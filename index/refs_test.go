package index

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestRefList packs refs of every shape a segment holds and reads them
// back, one by one and in order: whole hashes and regions (slots counted
// from 0), keypoints, video frames (slots 1+2i and 2+2i, some missing),
// slots past 255, and refs out of order or too far apart, which are kept
// as they are.
func TestRefList(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	entries := func(slots func(k int) []int) []uint64 {
		var refs []uint64
		id := uint64(7)
		for k := range 500 {
			id += 1 + uint64(r.IntN(3))
			for _, s := range slots(k) {
				refs = append(refs, ref(id, s))
			}
		}
		return refs
	}
	counted := entries(func(k int) []int { return []int{0, 1, 2, 3, 4}[:1+k%5] })
	frames := entries(func(k int) []int {
		var s []int
		for i := range k % 7 {
			s = append(s, 1+2*i)
			if i%2 == 0 {
				s = append(s, 2+2*i)
			}
		}
		return s
	})
	wide := entries(func(k int) []int { return []int{0, 300 + k, 70000 + k} })
	noWhole := entries(func(k int) []int { return []int{1, 2, 3} })
	backwards := slices.Clone(counted)
	slices.Reverse(backwards)
	far := []uint64{ref(1, 0), ref(1<<33, 0), ref(1<<33, 1)}
	for _, c := range []struct {
		name  string
		refs  []uint64
		plain bool
		slots string // "none", "8" or "32"
	}{
		{"counted", counted, false, "none"},
		{"frames", frames, false, "8"},
		{"wide", wide, false, "32"},
		{"noWhole", noWhole, false, "8"},
		{"backwards", backwards, true, ""},
		{"far", far, true, ""},
		{"empty", nil, false, "none"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newRefList(c.refs)
			if l.Len() != len(c.refs) {
				t.Fatalf("Len = %d, want %d", l.Len(), len(c.refs))
			}
			if (l.plain != nil) != c.plain {
				t.Errorf("plain = %v, want %v", l.plain != nil, c.plain)
			}
			if !c.plain {
				got := "none"
				if l.slots8 != nil {
					got = "8"
				} else if l.slots32 != nil {
					got = "32"
				}
				if got != c.slots {
					t.Errorf("slots kept as %s, want %s", got, c.slots)
				}
			}
			for i, want := range c.refs {
				if got := l.at(i); got != want {
					id, s := splitRef(got)
					wid, ws := splitRef(want)
					t.Fatalf("at(%d) = entry %d slot %d, want entry %d slot %d", i, id, s, wid, ws)
				}
			}
			if got := l.all(); !slices.Equal(got, c.refs) && len(c.refs) > 0 {
				t.Errorf("all() differs from the refs packed")
			}
			if !c.plain && len(c.refs) > 0 && l.bytes() >= 8*len(c.refs) {
				t.Errorf("%d refs take %d bytes packed, no less than unpacked", len(c.refs), l.bytes())
			}
		})
	}
}
