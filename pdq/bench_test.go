package pdq

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkHashLuma measures the algorithm alone, from a luminance buffer.
func BenchmarkHashLuma(b *testing.B) {
	for _, side := range []int{64, 512, 1024} {
		r := rand.New(rand.NewPCG(1, uint64(side)))
		luma := make([]float32, side*side)
		for i := range luma {
			luma[i] = float32(r.IntN(256))
		}
		b.Run(fmt.Sprintf("%dx%d", side, side), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := HashLuma(luma, side, side); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
