package pdq

import (
	"image"
	"sync"
)

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

// fromLuma runs hash on a pooled copy of the caller's luma, which stays
// as it was, with a pooled scratch buffer.
func fromLuma[R any](luma []float32, width, height int, hash func(work, tmp []float32, width, height int) R) (R, error) {
	if err := checkLuma(luma, width, height); err != nil {
		var zero R
		return zero, err
	}
	work, tmp := getScratch(len(luma)), getScratch(len(luma))
	defer putScratch(work)
	defer putScratch(tmp)
	copy(work, luma)
	return hash(work, tmp, width, height), nil
}

// fromImage runs hash on img's sampled luminance and a scratch buffer,
// both pooled.
func fromImage[R any](img image.Image, hash func(work, tmp []float32, width, height int) R) (R, error) {
	luma, w, h := sampledLuma(img, getScratch)
	defer putScratch(luma)
	if err := checkLuma(luma, w, h); err != nil {
		var zero R
		return zero, err
	}
	tmp := getScratch(len(luma))
	defer putScratch(tmp)
	return hash(luma, tmp, w, h), nil
}
