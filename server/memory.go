package server

import (
	"container/list"
	"context"
	"fmt"
	"sync"
)

// memoryBudget is a weighted semaphore over bytes: a decode reserves its
// estimate before it starts and returns it when done, so the decodes
// running at once hold at most the budget however many arrive; the rest
// wait in arrival order (a large one is not starved by a stream of small
// ones) until their context ends.
type memoryBudget struct {
	mu      sync.Mutex
	size    int64
	free    int64
	waiting list.List // of *memoryWaiter, oldest first
}

type memoryWaiter struct {
	n     int64
	ready chan struct{} // closed once the bytes are granted
}

func newMemoryBudget(size int64) *memoryBudget {
	return &memoryBudget{size: size, free: size}
}

// acquire reserves n bytes, waiting for them until ctx ends. A request for
// more than the whole budget fails at once with errOverServerBudget: it
// could never run.
func (b *memoryBudget) acquire(ctx context.Context, n int64, what string) error {
	if n > b.size {
		return fmt.Errorf("%w: %s needs about %d MiB, more than the server's whole budget of %d MiB", errOverServerBudget, what, n>>20, b.size>>20)
	}
	b.mu.Lock()
	if b.waiting.Len() == 0 && b.free >= n {
		b.free -= n
		b.mu.Unlock()
		return nil
	}
	w := &memoryWaiter{n: n, ready: make(chan struct{})}
	elem := b.waiting.PushBack(w)
	b.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	b.mu.Lock()
	select {
	case <-w.ready:
		// Granted as the context ended: give the bytes back.
		b.free += n
	default:
		b.waiting.Remove(elem)
	}
	b.grant()
	b.mu.Unlock()
	return ctx.Err()
}

// tryAcquire reserves n bytes if they are free now and no one waits for
// them, and reports whether it did.
func (b *memoryBudget) tryAcquire(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.waiting.Len() > 0 || b.free < n {
		return false
	}
	b.free -= n
	return true
}

// release returns n bytes reserved by acquire.
func (b *memoryBudget) release(n int64) {
	b.mu.Lock()
	b.free += n
	b.grant()
	b.mu.Unlock()
}

// grant hands free bytes to the waiters in order, stopping at the first
// that does not fit. b.mu is held.
func (b *memoryBudget) grant() {
	for e := b.waiting.Front(); e != nil; e = b.waiting.Front() {
		w := e.Value.(*memoryWaiter)
		if w.n > b.free {
			return
		}
		b.free -= w.n
		b.waiting.Remove(e)
		close(w.ready)
	}
}

// inUse is the bytes reserved now, for tests and metrics.
func (b *memoryBudget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.size - b.free
}
