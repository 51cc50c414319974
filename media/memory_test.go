package media

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"

	"github.com/mediamatch/mediamatch/internal/hostile"
)

// peakHeap runs fn and returns the most the live heap grew above where it
// was before, sampled every 100 microseconds (and once more before fn's
// result is dropped), and the bytes fn allocated in all.
func peakHeap(fn func() any) (peak, allocated int64) {
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/allocs:bytes"}}
	read := func() (int64, int64) {
		metrics.Read(samples)
		return int64(samples[0].Value.Uint64()), int64(samples[1].Value.Uint64())
	}
	runtime.GC()
	base, allocs0 := read()
	var top atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(100 * time.Microsecond)
		defer t.Stop()
		for {
			if h, _ := read(); h-base > top.Load() {
				top.Store(h - base)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	keep := fn()
	close(stop)
	<-done
	h, allocs1 := read()
	runtime.KeepAlive(keep)
	return max(top.Load(), h-base), allocs1 - allocs0
}

// memoryCase is an input for TestDecodeMemoryBound.
type memoryCase struct {
	name string
	data []byte
}

func encodeWith(t testing.TB, enc func(*bytes.Buffer) error) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := enc(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// gradient is a w x h image with some detail, so that encoders make
// ordinary files of it.
func gradient(w, h int) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			o := m.PixOffset(x, y)
			m.Pix[o], m.Pix[o+1], m.Pix[o+2], m.Pix[o+3] = byte(x), byte(y), byte(x^y), 255
		}
	}
	return m
}

func memoryCases(t testing.TB) []memoryCase {
	const w, h = 2048, 1536
	g := gradient(w, h)
	gray := image.NewGray(g.Rect)
	for i := range gray.Pix {
		gray.Pix[i] = g.Pix[4*i]
	}
	pal := image.NewPaletted(g.Rect, color.Palette{color.Black, color.White, color.Gray{128}})
	return []memoryCase{
		{"jpeg 4:2:0", encodeWith(t, func(b *bytes.Buffer) error { return jpeg.Encode(b, g, &jpeg.Options{Quality: 85}) })},
		{"jpeg grey", encodeWith(t, func(b *bytes.Buffer) error { return jpeg.Encode(b, gray, nil) })},
		{"jpeg exif-6", withOrientation(t, encodeWith(t, func(b *bytes.Buffer) error { return jpeg.Encode(b, g, nil) }), 6)},
		{"png 8-bit rgba", encodePNG(t, g)},
		{"png paletted", encodeWith(t, func(b *bytes.Buffer) error { return png.Encode(b, pal) })},
		{"png 16-bit rgb", hostile.PNG(w, h, 16, 2, false)},
		{"png 16-bit rgba", hostile.PNG(w, h, 16, 6, false)},
		{"png 16-bit grey", hostile.PNG(w, h, 16, 0, false)},
		{"png 16-bit rgba interlaced", hostile.PNG(w, h, 16, 6, true)},
		{"png 8-bit rgb interlaced", hostile.PNG(w, h, 8, 2, true)},
		{"webp lossless", hostile.LosslessWebP(w, h)},
		{"webp lossy", readFixture(t, "../hostile/lossy-2048.webp")},
		{"webp lossy alpha", readFixture(t, "../hostile/lossy-alpha-2048.webp")},
		{"tiff 16-bit deflate", hostile.TIFF16(w, h)},
		{"tiff 8-bit", encodeWith(t, func(b *bytes.Buffer) error { return tiff.Encode(b, g, nil) })},
		{"bmp", encodeWith(t, func(b *bytes.Buffer) error { return bmp.Encode(b, g) })},
		{"gif canvas", hostile.GIF(w, h, 16, 16, 1, false)},
		{"gif full frames, restore previous", hostile.GIF(w, h, w, h, 3, true)},
	}
}

// TestDecodeMemoryBound decodes inputs of every format, bit depth and
// layout the estimate distinguishes and checks that what a decode
// allocates, and so the heap it holds at its peak, is within DecodeMemory's
// estimate (and not far below it: an estimate many times too high would
// refuse what fits).
func TestDecodeMemoryBound(t *testing.T) {
	if raceDetector {
		t.Skip("the heap measures nothing under the race detector (race_test.go)")
	}
	for _, c := range memoryCases(t) {
		t.Run(c.name, func(t *testing.T) {
			est, err := DecodeMemory(c.data, Options{})
			if err != nil {
				t.Fatal(err)
			}
			info, err := Probe(c.data, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var derr error
			peak, allocated := peakHeap(func() any {
				if info.Format == FormatGIF {
					frames := 0
					derr = Frames(c.data, Options{}, func(Frame) error { frames++; return nil })
					return frames
				}
				m, err := Decode(c.data, Options{})
				derr = err
				return m
			})
			if derr != nil {
				t.Fatal(derr)
			}
			px := float64(info.Width * info.Height)
			t.Logf("%d bytes, %dx%d: estimate %.1f MB (%.1f B/px), peak heap %.1f MB (%.1f B/px), allocated %.1f MB",
				len(c.data), info.Width, info.Height, float64(est)/1e6, float64(est)/px, float64(peak)/1e6, float64(peak)/px, float64(allocated)/1e6)
			// All the decode allocates bounds its peak, whenever the
			// collector runs: the estimate must cover it.
			if allocated > est || peak > est {
				t.Errorf("allocated %d bytes, peak %d, over the estimate of %d", allocated, peak, est)
			}
			if est > 4*allocated+4<<20 {
				t.Errorf("estimate %d bytes, over four times the %d allocated", est, allocated)
			}
		})
	}
}

// TestDecodeMemoryBudget: the amplifiers that used to pass at 50
// megapixels are refused before a pixel is decoded, naming the budget,
// while ordinary 8-bit images of the same size pass; a budget set lower
// refuses what the default takes.
func TestDecodeMemoryBudget(t *testing.T) {
	const w, h = 7071, 7071 // 50 megapixels, within DefaultMaxPixels
	for _, c := range []struct {
		name string
		data []byte
		want error
	}{
		{"png 16-bit rgba", hostile.PNGHeader(w, h, 16, 6, false), ErrTooLarge},
		{"png 8-bit rgba interlaced", hostile.PNGHeader(w, h, 8, 6, true), ErrTooLarge},
		{"webp lossless", hostile.LosslessWebP(w, h), ErrTooLarge},
		{"tiff 16-bit", hostile.TIFFHeader(w, h), ErrTooLarge},
		{"jpeg 4:2:0", jpegWithSize(t, w, h), nil},
		{"png 8-bit grey", hostile.PNGHeader(w, h, 8, 0, false), nil},
		{"png 8-bit rgba", hostile.PNGHeader(w, h, 8, 6, false), nil},
		{"gif canvas", hostile.GIF(w, h, 16, 16, 1, false), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			est, err := DecodeMemory(c.data, Options{})
			if !errors.Is(err, c.want) {
				t.Fatalf("%d bytes: estimate %d, error %v, want %v", len(c.data), est, err, c.want)
			}
			if c.want != nil {
				if !strings.Contains(err.Error(), "MiB per decode") {
					t.Errorf("message %q does not name the budget", err)
				}
				if _, err := Decode(c.data, Options{}); !errors.Is(err, c.want) {
					t.Errorf("Decode: %v, want %v", err, c.want)
				}
				return
			}
			if _, err := DecodeMemory(c.data, Options{MaxDecodeMemory: est - 1}); !errors.Is(err, ErrTooLarge) {
				t.Errorf("with a budget one byte under its estimate of %d: %v, want ErrTooLarge", est, err)
			}
		})
	}
}

// TestJPEGFrame reads the frame header of the encoder's output and of a
// progressive header.
func TestJPEGFrame(t *testing.T) {
	g := gradient(64, 48)
	prog, comps, ok := jpegFrame(encodeWith(t, func(b *bytes.Buffer) error { return jpeg.Encode(b, g, nil) }))
	if !ok || prog || len(comps) != 3 || comps[0] != [2]int{2, 2} || comps[1] != [2]int{1, 1} {
		t.Errorf("baseline 4:2:0: progressive %v, components %v, ok %v", prog, comps, ok)
	}
	// SOI, then SOF2 for 3 components at 1x1.
	sof2 := []byte{0xff, 0xd8, 0xff, 0xc2, 0, 17, 8, 0, 48, 0, 64, 3, 1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1}
	prog, comps, ok = jpegFrame(sof2)
	if !ok || !prog || len(comps) != 3 || comps[2] != [2]int{1, 1} {
		t.Errorf("progressive 4:4:4: progressive %v, components %v, ok %v", prog, comps, ok)
	}
	if e := jpegEighths(sof2, color.YCbCrModel); e < 8*(3+12+4) {
		t.Errorf("progressive 4:4:4 estimated at %d eighths a pixel, want at least %d", e, 8*(3+12+4))
	}
	if _, _, ok := jpegFrame([]byte{0xff, 0xd8, 0xff, 0xda, 0, 2}); ok {
		t.Error("a scan before any frame header was read as a frame")
	}
}
