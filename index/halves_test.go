package index

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/store"
)

// TestKeypointsInHalves follows adds, removals and updates of entries with
// keypoints until merges hold their keys in halves, and checks the index
// against a fresh one built from the store, and every live entry's keys
// found at the matcher's radius (removed ones hidden).
func TestKeypointsInHalves(t *testing.T) {
	// Segments merge two at a time, so that they grow to one past
	// halvesFrom keys.
	x := openIndexAt(t, filepath.Join(t.TempDir(), "mediamatch.db"), Options{tailEntries: 64, fanIn: 2})
	x.commit(t, store.CreateBank(store.Bank{Name: "b"}))
	r := rand.New(rand.NewPCG(4, 4))
	const entries, points = 5000, 32
	keys := map[uint64][]uint64{}
	for done := 0; done < entries; done += 100 {
		ops := make([]store.Op, 100)
		batch := make([]*store.Entry, 100)
		for i := range ops {
			h := randomHash(r, 4)
			pdq := fromHash(h)
			e := &store.Entry{Bank: "b", Kind: store.KindImage, Keypoints: make([]store.Keypoint, points),
				Hashes: []hashing.Hash{{Type: hashing.PDQ, Bytes: pdq[:], Quality: 100}}}
			for k := range e.Keypoints {
				e.Keypoints[k].Descriptor = [4]uint64{r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64()}
			}
			if i%10 == 5 { // near-duplicate keys, in other entries
				e.Keypoints[0].Descriptor[0] = batch[0].Keypoints[1].Descriptor[0] ^ 1<<uint(r.IntN(64))
			}
			batch[i], ops[i] = e, store.AddEntry(e)
		}
		res := x.commit(t, ops...)
		for i, op := range res.Results {
			for _, kp := range batch[i].Keypoints {
				keys[op.Entry.ID] = append(keys[op.Entry.ID], kp.Descriptor[0])
			}
		}
	}
	var ids []uint64
	for id := range keys {
		ids = append(ids, id)
	}
	removed := map[uint64]bool{}
	for _, id := range ids[:400] {
		x.remove(t, id)
		removed[id] = true
	}
	for _, id := range ids[400:420] {
		x.commit(t, store.UpdateEntry(id, store.Entry{Labels: map[string]string{"case": "7"}}, "labels"))
	}
	settle(t, x.Index)
	inHalves, sizes := 0, []int{}
	for _, s := range x.view.Load().segments {
		sizes = append(sizes, s.entries)
		if h, ok := s.search[KeypointIndex].(*halves); ok {
			inHalves += h.Len()
		}
	}
	if inHalves < halvesFrom {
		t.Fatalf("%d keys held in halves (segments of %v entries): the test does not reach them", inHalves, sizes)
	}
	fresh, err := New(context.Background(), x.st, Options{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if _, ok := fresh.view.Load().segments[0].search[KeypointIndex].(*halves); !ok {
		t.Errorf("a fresh index of %d keys does not hold them in halves", len(ids)*points)
	}
	if a, b := dumpIndex(x.Index), dumpIndex(fresh); !reflect.DeepEqual(a, b) {
		t.Fatalf("followed index differs from a fresh one: %s", diffDumps(a, b))
	}
	for _, idx := range []*Index{x.Index, fresh} {
		v := idx.View()
		for id, ks := range keys {
			for k, key := range ks {
				found := false
				// Two bits off: in the low half, the high one, or one
				// in each.
				flips := [3]uint64{1 | 1<<2, 1<<40 | 1<<50, 1<<10 | 1<<45}[k%3]
				v.Search(KeypointIndex, Hash{key ^ flips}, 3, func(ref Ref, d int) bool {
					if _, ok := v.Entry(ref.Entry); ok && ref.Entry == id && ref.Slot == k && d == 2 {
						found = true
					}
					return !found
				})
				if found == removed[id] {
					t.Fatalf("entry %d (removed %v) key %d: found %v", id, removed[id], k, found)
				}
			}
		}
	}
}

// settle waits until x has no merge to do.
func settle(t *testing.T, x *Index) {
	t.Helper()
	for quiet, i := 0, 0; quiet < 5; i++ {
		if i > 3000 {
			t.Fatal("merges did not settle")
		}
		if x.Merging() == 0 {
			quiet++
		} else {
			quiet = 0
		}
		time.Sleep(20 * time.Millisecond)
	}
}
