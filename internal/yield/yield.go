// Package yield lets long work share the cores: Go preempts a running
// goroutine only every 10 ms, so without it a short match that arrives
// while both cores are busy with long work (a video query's frames, an
// index merge) waits that long, several times over.
package yield

import "runtime"

// Every is the work, in comparisons of two hashes, after which a Counter
// yields the core: a few hundred microseconds.
const Every = 1 << 18

// Counter counts work and yields the core every Every units.
type Counter struct{ n int }

// Did counts work units done, yielding when they reach Every.
func (y *Counter) Did(work int) {
	y.n += work
	if y.n >= Every {
		y.n = 0
		runtime.Gosched()
	}
}
