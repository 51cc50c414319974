package index

// bkTree is a Burkhard-Keller tree kept in flat parallel slices: a node is
// an index, its children a linked list through firstChild/nextSibling, each
// labelled with its distance to the parent. No node is its own allocation,
// so a million hashes cost a few slices, not a million objects.
//
// Deletion marks a node dead (it still routes searches); when the dead
// outnumber the living the tree is rebuilt from the living.
type bkTree struct {
	words       int
	hashes      []Hash
	ids         []uint64
	dead        []bool
	firstChild  []int32
	nextSibling []int32
	edge        []uint16 // distance to the parent
	pos         map[uint64]int32
	nDead       int
}

var _ Searcher = (*bkTree)(nil)

func buildBKTree(words int, ids []uint64, hashes []Hash) *bkTree {
	t := &bkTree{words: words, pos: make(map[uint64]int32, len(ids))}
	for i := range ids {
		t.Insert(ids[i], hashes[i])
	}
	return t
}

func (t *bkTree) Len() int { return len(t.pos) }

func (t *bkTree) Insert(id uint64, h Hash) {
	if _, ok := t.pos[id]; ok {
		t.Delete(id, h)
	}
	n := int32(len(t.hashes))
	t.hashes = append(t.hashes, h)
	t.ids = append(t.ids, id)
	t.dead = append(t.dead, false)
	t.firstChild = append(t.firstChild, -1)
	t.nextSibling = append(t.nextSibling, -1)
	t.edge = append(t.edge, 0)
	t.pos[id] = n
	if n == 0 {
		return
	}
	node := int32(0)
	for {
		d := uint16(distance(&t.hashes[node], &h, t.words))
		child := t.firstChild[node]
		for child >= 0 && t.edge[child] != d {
			child = t.nextSibling[child]
		}
		if child < 0 {
			t.edge[n] = d
			t.nextSibling[n] = t.firstChild[node]
			t.firstChild[node] = n
			return
		}
		node = child
	}
}

func (t *bkTree) Delete(id uint64, _ Hash) bool {
	n, ok := t.pos[id]
	if !ok {
		return false
	}
	delete(t.pos, id)
	t.dead[n] = true
	t.nDead++
	if t.nDead > len(t.pos) && t.nDead > 1024 {
		t.rebuild()
	}
	return true
}

// rebuild makes a new tree of the living nodes.
func (t *bkTree) rebuild() {
	var ids []uint64
	var hashes []Hash
	for i, dead := range t.dead {
		if !dead {
			ids = append(ids, t.ids[i])
			hashes = append(hashes, t.hashes[i])
		}
	}
	*t = *buildBKTree(t.words, ids, hashes)
}

func (t *bkTree) Search(q Hash, radius int, fn func(uint64, int) bool) {
	if len(t.hashes) == 0 {
		return
	}
	stack := []int32{0}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		d := distance(&q, &t.hashes[n], t.words)
		if d <= radius && !t.dead[n] {
			if !fn(t.ids[n], d) {
				return
			}
		}
		// By the triangle inequality only children whose edge is within
		// radius of d can hold matches.
		for c := t.firstChild[n]; c >= 0; c = t.nextSibling[c] {
			if e := int(t.edge[c]); e >= d-radius && e <= d+radius {
				stack = append(stack, c)
			}
		}
	}
}
