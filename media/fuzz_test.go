package media

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fuzzOptions keeps each fuzz input cheap: budgets far below the defaults,
// so the fuzzer spends its time on parsing, not on big allocations.
var fuzzOptions = Options{MaxPixels: 1 << 20, MaxFrames: 64, MaxTotalPixels: 1 << 22}

// FuzzDecode feeds arbitrary bytes to Decode, Probe and Frames. Seeds are
// every file in testdata/media and the inputs the other tests generate.
func FuzzDecode(f *testing.F) {
	paths, err := filepath.Glob(filepath.Join(fixtureDir, "*"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no seeds in %s: %v", fixtureDir, err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, c := range malformedCases() {
		// Large seeds slow every mutation; fuzzOptions.MaxFrames lets a
		// 100-frame GIF stand in for the 10000-frame one.
		if b := c.data(f); len(b) <= 64<<10 {
			f.Add(b)
		}
	}
	f.Add(manyFrameGIF(f, 100))
	plain := encodeJPEG(f, cornerImage())
	f.Add(withOrientation(f, plain, 8))
	f.Add(insertAPP1(f, plain, exifOrientation(binary.LittleEndian, 5)))
	f.Add(buildGIF(f, animatedGIFSpec()))
	f.Add(manyFrameGIF(f, 3))

	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data, fuzzOptions)
		checkFuzzError(t, "Decode", err)
		info, perr := Probe(data, fuzzOptions)
		checkFuzzError(t, "Probe", perr)
		if err == nil {
			b := m.Image.Bounds()
			if b.Dx() != m.Width || b.Dy() != m.Height || int64(b.Dx())*int64(b.Dy()) > fuzzOptions.MaxPixels {
				t.Fatalf("image %v, info %+v", b, m.Info)
			}
			if m.Frames < 1 || m.Frames > fuzzOptions.MaxFrames {
				t.Fatalf("%d frames", m.Frames)
			}
			if perr != nil || info != m.Info {
				t.Fatalf("Probe = %+v, %v; Decode found %+v", info, perr, m.Info)
			}
		}
		if Sniff(data) != FormatGIF {
			// Frames decodes anything else exactly as Decode does; skip
			// it to spend the time on new inputs.
			return
		}
		n := 0
		ferr := Frames(data, fuzzOptions, func(fr Frame) error {
			if fr.Index != n || fr.Image == nil {
				t.Fatalf("frame %d has index %d", n, fr.Index)
			}
			if n == 0 && err == nil && fr.Image.Bounds() != m.Image.Bounds() {
				t.Fatalf("first frame %v, Decode %v", fr.Image.Bounds(), m.Image.Bounds())
			}
			n++
			return nil
		})
		checkFuzzError(t, "Frames", ferr)
		if err != nil && ferr == nil {
			t.Fatalf("Frames succeeded where Decode failed: %v", err)
		}
		if ferr == nil && n != info.Frames {
			t.Fatalf("Frames yielded %d frames, Probe counted %d", n, info.Frames)
		}
	})
}

// checkFuzzError fails on a recovered panic (a bug to fix, even though the
// caller got an error) and on an error that wraps no sentinel or several.
func checkFuzzError(t *testing.T, what string, err error) {
	if err == nil {
		return
	}
	var pe *panicError
	if errors.As(err, &pe) {
		t.Fatalf("%s: %v", what, err)
	}
	n := 0
	for _, s := range []error{ErrInvalid, ErrTooLarge, ErrUnsupported} {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%s: error %q wraps %d sentinels, want 1", what, err, n)
	}
}
