package index

import "runtime"

// yieldEvery is the work, in comparisons of two hashes, after which long
// work (a video query's frames, a merge) lets other goroutines have the
// core: a few hundred microseconds. Go preempts a running goroutine only
// every 10 ms, so without it a short image match that arrives while both
// cores are busy with long work waits that long, several times over.
const yieldEvery = 1 << 18

// yielder counts work and yields the core now and then.
type yielder struct{ n int }

func (y *yielder) did(work int) {
	y.n += work
	if y.n >= yieldEvery {
		y.n = 0
		runtime.Gosched()
	}
}
