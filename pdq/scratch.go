package pdq

import "sync"

// scratchPool keeps the float32 buffers of finished hashes (the luminance
// and the filter's scratch, a megabyte each at 512x512) for the next ones:
// a service or `mediamatch hash` hashing one image after another would
// otherwise leave two or three of them to the garbage collector per image.
var scratchPool sync.Pool

// getScratch returns a buffer of n float32 values whose contents are
// undefined: every user writes a value before it reads it.
func getScratch(n int) []float32 {
	if p, ok := scratchPool.Get().(*[]float32); ok && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]float32, n)
}

// putScratch gives buf back to the pool; the caller no longer uses it.
func putScratch(buf []float32) {
	scratchPool.Put(&buf)
}

// newBuffer allocates a zeroed buffer, for the luminance the package hands
// to its callers.
func newBuffer(n int) []float32 { return make([]float32, n) }
