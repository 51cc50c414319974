package index

// linear is the brute-force scan: hashes in one contiguous slice, each
// query compared with all of them. It is the baseline the other structures
// are measured and tested against.
type linear struct {
	words  int
	ids    []uint64
	hashes []Hash
	pos    map[uint64]int // id -> index in ids and hashes
}

var _ Searcher = (*linear)(nil)

func newLinear(words int) *linear {
	return &linear{words: words, pos: map[uint64]int{}}
}

func (l *linear) Len() int { return len(l.ids) }

func (l *linear) Insert(id uint64, h Hash) {
	if i, ok := l.pos[id]; ok {
		l.hashes[i] = h
		return
	}
	l.pos[id] = len(l.ids)
	l.ids = append(l.ids, id)
	l.hashes = append(l.hashes, h)
}

// Delete swaps the last hash into the removed one's place.
func (l *linear) Delete(id uint64, _ Hash) bool {
	i, ok := l.pos[id]
	if !ok {
		return false
	}
	last := len(l.ids) - 1
	l.ids[i], l.hashes[i] = l.ids[last], l.hashes[last]
	l.pos[l.ids[i]] = i
	l.ids, l.hashes = l.ids[:last], l.hashes[:last]
	delete(l.pos, id)
	return true
}

func (l *linear) Search(q Hash, radius int, fn func(uint64, int) bool) {
	for i := range l.hashes {
		if d := distance(&q, &l.hashes[i], l.words); d <= radius {
			if !fn(l.ids[i], d) {
				return
			}
		}
	}
}
