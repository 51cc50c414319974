package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// meanAbsDiff is the mean absolute difference per RGB channel between a
// and b (0-255), compared as non-premultiplied colors over their common
// bounds.
func meanAbsDiff(a, b image.Image) float64 {
	r := a.Bounds()
	var sum, n float64
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			ca := color.NRGBAModel.Convert(a.At(x, y)).(color.NRGBA)
			cb := color.NRGBAModel.Convert(b.At(x-r.Min.X+b.Bounds().Min.X, y-r.Min.Y+b.Bounds().Min.Y)).(color.NRGBA)
			sum += absDiff(ca.R, cb.R) + absDiff(ca.G, cb.G) + absDiff(ca.B, cb.B)
			n += 3
		}
	}
	return sum / n
}

func absDiff(a, b uint8) float64 {
	if a > b {
		return float64(a - b)
	}
	return float64(b - a)
}

func TestDecodeValid(t *testing.T) {
	pattern := testPattern(37, 23)
	tests := []struct {
		file    string
		format  Format
		w, h    int
		frames  int
		maxDiff float64 // mean absolute difference from testPattern; -1: not that image
	}{
		{"valid.png", FormatPNG, 37, 23, 1, 0},
		{"valid-png-then-zip.png", FormatPNG, 37, 23, 1, 0},
		{"valid.jpg", FormatJPEG, 37, 23, 1, 3},
		{"valid.bmp", FormatBMP, 37, 23, 1, 0},
		{"valid.tiff", FormatTIFF, 37, 23, 1, 0},
		{"valid.webp", FormatWebP, 37, 23, 1, 3},
		{"valid-lossless.webp", FormatWebP, 37, 23, 1, 0},
		{"valid.avif", FormatAVIF, 37, 23, 1, 3},
		{"valid.gif", FormatGIF, 20, 12, 4, -1},
		{"valid-interlaced.gif", FormatGIF, 9, 19, 1, -1},
		{"valid-exif-6.jpg", FormatJPEG, 32, 64, 1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			m, err := Decode(readFixture(t, tt.file), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if m.Format != tt.format || m.Width != tt.w || m.Height != tt.h || m.Frames != tt.frames {
				t.Errorf("got %s %dx%d %d frames, want %s %dx%d %d frames",
					m.Format, m.Width, m.Height, m.Frames, tt.format, tt.w, tt.h, tt.frames)
			}
			if b := m.Image.Bounds(); b.Dx() != tt.w || b.Dy() != tt.h {
				t.Errorf("image bounds %v, want %dx%d", b, tt.w, tt.h)
			}
			if tt.maxDiff >= 0 {
				if d := meanAbsDiff(m.Image, pattern); d > tt.maxDiff {
					t.Errorf("pixels differ from the encoded pattern by %.2f on average, want <= %.2f", d, tt.maxDiff)
				}
			}
			info, err := Probe(readFixture(t, tt.file), Options{})
			if err != nil || info != m.Info {
				t.Errorf("Probe = %+v, %v; want %+v as Decode found", info, err, m.Info)
			}
		})
	}
}

func TestDecodeGIFFirstFrame(t *testing.T) {
	m, err := Decode(readFixture(t, "valid.gif"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Frame 0 fills the screen with gray 10.
	for _, p := range []image.Point{{0, 0}, {19, 11}, {5, 5}} {
		if got := m.Image.At(p.X, p.Y); got != (color.NRGBA{10, 10, 10, 255}) {
			t.Errorf("pixel %v = %v, want gray 10", p, got)
		}
	}
	m, err = Decode(readFixture(t, "valid-interlaced.gif"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for y := range 19 {
		want := uint8(y * 10)
		if got := m.Image.At(4, y); got != (color.NRGBA{want, want, want, 255}) {
			t.Errorf("interlaced row %d = %v, want gray %d", y, got, want)
		}
	}
}

// malformedCase is an input that must fail with a given sentinel.
type malformedCase struct {
	name string
	data func(t testing.TB) []byte
	opts Options
	want error
	msg  string // a substring the message must contain, if set
}

func fixture(name string) func(testing.TB) []byte {
	return func(t testing.TB) []byte { return readFixture(t, name) }
}

func literal(b []byte) func(testing.TB) []byte { return func(testing.TB) []byte { return b } }

// jpegWithSize rewrites the frame header (SOF0) of a JPEG to claim w x h.
func jpegWithSize(t testing.TB, w, h uint16) []byte {
	b := bytes.Clone(readFixture(t, "valid.jpg"))
	i := bytes.Index(b, []byte{0xff, 0xc0})
	if i < 0 {
		t.Fatal("no SOF0 in valid.jpg")
	}
	binary.BigEndian.PutUint16(b[i+5:], h)
	binary.BigEndian.PutUint16(b[i+7:], w)
	return b
}

func malformedCases() []malformedCase {
	return []malformedCase{
		{name: "zero bytes", data: literal([]byte{}), want: ErrInvalid, msg: "empty"},
		{name: "nil", data: literal(nil), want: ErrInvalid},
		{name: "text named .jpg", data: fixture("invalid-text.jpg"), want: ErrInvalid, msg: "not a recognised image"},
		{name: "truncated JPEG", data: fixture("invalid-truncated.jpg"), want: ErrInvalid, msg: "JPEG"},
		{name: "JPEG cut in its header", data: func(t testing.TB) []byte { return readFixture(t, "valid.jpg")[:30] }, want: ErrInvalid},
		{name: "JPEG marker alone", data: literal([]byte{0xff, 0xd8, 0xff}), want: ErrInvalid},
		{name: "truncated PNG", data: fixture("invalid-truncated.png"), want: ErrInvalid, msg: "PNG"},
		{name: "PNG signature alone", data: literal([]byte("\x89PNG\r\n\x1a\n")), want: ErrInvalid},
		{name: "PNG header 100000x100000", data: fixture("invalid-huge.png"), want: ErrTooLarge, msg: "100000x100000"},
		{name: "PNG header 0x0", data: literal(hugePNG(0, 0)), want: ErrInvalid},
		{name: "PNG header 2^31-1 square", data: literal(hugePNG(1<<31-1, 1<<31-1)), want: ErrTooLarge},
		{name: "PNG header 2^32-1 wide", data: literal(hugePNG(1<<32-1, 1)), want: ErrInvalid},
		{name: "JPEG header 65535x65535", data: func(t testing.TB) []byte { return jpegWithSize(t, 65535, 65535) }, want: ErrTooLarge},
		{name: "JPEG header 0 wide", data: func(t testing.TB) []byte { return jpegWithSize(t, 0, 10) }, want: ErrInvalid},
		{name: "GIF screen 65535x65535", data: literal([]byte("GIF89a\xff\xff\xff\xff\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")), want: ErrTooLarge},
		{name: "GIF screen 0x0", data: literal([]byte("GIF89a\x00\x00\x00\x00\x00\x00\x00;")), want: ErrInvalid},
		{name: "GIF header alone", data: literal([]byte("GIF89a")), want: ErrInvalid},
		{name: "GIF without frames", data: literal([]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;")), want: ErrInvalid},
		{name: "GIF cut in its first frame", data: func(t testing.TB) []byte { return readFixture(t, "valid.gif")[:800] }, want: ErrInvalid},
		{name: "ZIP with a JPEG appended", data: fixture("invalid-zip-then-jpg.jpg"), want: ErrInvalid},
		{name: "HTML with a PNG appended", data: fixture("invalid-html-then-png.png"), want: ErrInvalid},
		{name: "over MaxBytes", data: fixture("valid.jpg"), opts: Options{MaxBytes: 100}, want: ErrTooLarge, msg: "bytes"},
		{name: "over MaxPixels", data: fixture("valid.png"), opts: Options{MaxPixels: 37*23 - 1}, want: ErrTooLarge},
		{name: "BMP cut in its header", data: func(t testing.TB) []byte { return readFixture(t, "valid.bmp")[:20] }, want: ErrInvalid},
		{name: "BigTIFF", data: literal([]byte("II+\x00\x08\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00")), want: ErrUnsupported, msg: "BigTIFF"},
		{name: "TIFF cut in its header", data: func(t testing.TB) []byte { return readFixture(t, "valid.tiff")[:12] }, want: ErrInvalid},
		{name: "animated WebP", data: fixture("unsupported-animated.webp"), want: ErrUnsupported, msg: "animated WebP"},
		{name: "truncated WebP", data: func(t testing.TB) []byte { return readFixture(t, "valid.webp")[:40] }, want: ErrInvalid},
		{name: "truncated AVIF", data: func(t testing.TB) []byte { b := readFixture(t, "valid.avif"); return b[:len(b)/2] }, want: ErrInvalid},
		{name: "HEIC", data: fixture("unsupported.heic"), want: ErrUnsupported, msg: "HEIC"},
		{name: "MP4", data: literal([]byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2")), want: ErrUnsupported, msg: "is a video, not a still image"},
		{name: "QuickTime", data: literal([]byte("\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ")), want: ErrUnsupported, msg: "is a video, not a still image"},
		{name: "WebM", data: literal([]byte("\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01webm")), want: ErrUnsupported, msg: "is a video, not a still image"},
		{name: "AVI", data: literal([]byte("RIFF\x00\x00\x00\x00AVI LIST")), want: ErrUnsupported, msg: "is a video, not a still image"},
		{name: "JPEG XL", data: literal([]byte("\xff\x0a\xfa\x7f")), want: ErrUnsupported, msg: "JPEG XL"},
	}
}

// hangLimit only detects a hang; every case takes well under a second.
const hangLimit = 30 * time.Second

// allocLimit is the most a refused input may cost; the refusals are meant
// to come from headers, long before any pixel buffer.
const allocLimit = 64 << 20

func TestDecodeMalformed(t *testing.T) {
	for _, tt := range malformedCases() {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.data(t)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			done := make(chan error, 1)
			go func() {
				_, err := Decode(data, tt.opts)
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(hangLimit):
				t.Fatalf("Decode did not return within %v", hangLimit)
			}
			runtime.ReadMemStats(&after)
			checkError(t, err, tt.want, tt.msg)
			// AVIF instantiates a WebAssembly module, whose
			// linear memory is counted here too.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > allocLimit {
				t.Errorf("allocated %d MiB, want at most %d MiB", alloc>>20, allocLimit>>20)
			}

			// Frames refuses the same input the same way, and Probe does
			// too unless the defect is past the headers.
			if _, err := Probe(data, tt.opts); err != nil {
				checkError(t, err, tt.want, tt.msg)
			}
			err = Frames(data, tt.opts, func(Frame) error { t.Error("Frames called fn"); return nil })
			checkError(t, err, tt.want, tt.msg)
		})
	}
}

// checkError asserts that err wraps want and no other sentinel, and reads
// like a message for a person.
func checkError(t *testing.T, err, want error, msg string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want one wrapping %q", err, want)
	}
	for _, other := range []error{ErrInvalid, ErrTooLarge, ErrUnsupported} {
		if other != want && errors.Is(err, other) {
			t.Errorf("error %q also wraps %q", err, other)
		}
	}
	var pe *panicError
	if errors.As(err, &pe) {
		t.Errorf("a decoder panicked: %v", err)
	}
	if !strings.HasPrefix(err.Error(), "media: ") || !strings.Contains(err.Error(), msg) {
		t.Errorf("message %q should start with \"media: \" and mention %q", err, msg)
	}
}

func TestHugeHeaderAllocatesLittle(t *testing.T) {
	data := readFixture(t, "invalid-huge.png")
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := Decode(data, Options{}); !errors.Is(err, ErrTooLarge) {
			t.Fatal(err)
		}
	})
	// A header refusal costs the PNG reader and the error message: tens
	// of allocations, none of them a pixel buffer.
	if allocs > 100 {
		t.Errorf("%v allocations to refuse a 100000x100000 header, want at most 100", allocs)
	}
}

func TestDecoderPanicIsRecovered(t *testing.T) {
	for _, stage := range []string{"config", "decode"} {
		t.Run(stage, func(t *testing.T) {
			orig := codecs[FormatPNG]
			t.Cleanup(func() { codecs[FormatPNG] = orig })
			c := *orig
			if stage == "config" {
				c.config = func([]byte) (image.Config, error) { panic("boom in config") }
			} else {
				c.decode = func([]byte) (image.Image, error) { panic("boom in decode") }
			}
			codecs[FormatPNG] = &c

			_, err := Decode(readFixture(t, "valid.png"), Options{})
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error = %v, want ErrInvalid", err)
			}
			var pe *panicError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), "boom in "+stage) {
				t.Errorf("error %q should record the recovered panic", err)
			}
		})
	}
}

func TestCallerPanicIsNotSwallowed(t *testing.T) {
	defer func() {
		if r := recover(); r != "caller's bug" {
			t.Errorf("recovered %v, want the caller's own panic", r)
		}
	}()
	_ = Frames(readFixture(t, "valid.gif"), Options{}, func(Frame) error { panic("caller's bug") })
	t.Error("Frames returned after fn panicked")
}

func TestAVIFPixelCap(t *testing.T) {
	if !avifSandboxed() {
		t.Skip("a system libavif is loaded, so AVIF is refused")
	}
	c := *codecs[FormatAVIF]
	orig := codecs[FormatAVIF]
	t.Cleanup(func() { codecs[FormatAVIF] = orig })
	c.maxPixels = 37*23 - 1
	codecs[FormatAVIF] = &c
	_, err := Probe(readFixture(t, "valid.avif"), Options{})
	checkError(t, err, ErrTooLarge, "AVIF")
	if orig.maxPixels != maxAVIFPixels || maxAVIFPixels >= DefaultMaxPixels {
		t.Errorf("AVIF cap %d, want %d, below the default budget", orig.maxPixels, maxAVIFPixels)
	}
}

// TestAVIFConcurrently decodes AVIF from several goroutines at once, as the
// server will: each decode instantiates its own WebAssembly module.
func TestAVIFConcurrently(t *testing.T) {
	if !avifSandboxed() {
		t.Skip("a system libavif is loaded, so AVIF is refused")
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	data := readFixture(t, "valid.avif")
	for range 8 {
		wg.Go(func() {
			m, err := Decode(data, Options{})
			if err == nil && meanAbsDiff(m.Image, testPattern(37, 23)) > 3 {
				err = errors.New("wrong pixels")
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
