package index

// bkTree is a Burkhard-Keller tree kept in flat parallel slices: a node is
// an index, its children a linked list through firstChild/nextSibling, each
// labelled with its distance to the parent. No node is its own allocation,
// so a million hashes cost a few slices, not a million objects.
type bkTree struct {
	packed
	firstChild  []int32
	nextSibling []int32
	edge        []uint16 // distance to the parent
}

var _ Searcher = (*bkTree)(nil)

func buildBKTree(p packed) *bkTree {
	n := p.refs.Len()
	t := &bkTree{packed: p, firstChild: make([]int32, n), nextSibling: make([]int32, n), edge: make([]uint16, n)}
	for i := range n {
		t.firstChild[i], t.nextSibling[i] = -1, -1
	}
	for i := 1; i < n; i++ {
		h := p.hash(i)
		t.insert(int32(i), &h)
	}
	return t
}

// insert hangs node n (with hash h) under the tree.
func (t *bkTree) insert(n int32, h *Hash) {
	node := int32(0)
	for {
		d := uint16(distanceWords(h, t.at(int(node))))
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

func (t *bkTree) Search(q Hash, radius int, fn func(uint64, int) bool) {
	if t.refs.Len() == 0 {
		return
	}
	stack := []int32{0}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		d := distanceWords(&q, t.at(int(n)))
		if d <= radius {
			if !fn(t.refs.at(int(n)), d) {
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
