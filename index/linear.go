package index

// linear is the brute-force scan: hashes in one contiguous slice, each
// query compared with all of them. It is the baseline the other structures
// are measured and tested against, and what the index uses for small
// segments, where any index costs more than it saves.
type linear struct{ packed }

var _ Searcher = (*linear)(nil)

func (l *linear) Search(q Hash, radius int, fn func(uint64, int) bool) { l.scan(q, radius, fn) }
