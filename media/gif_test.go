package media

import (
	"bytes"
	"errors"
	"image"
	"image/draw"
	"image/gif"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"
)

// referenceFrames composites a GIF the slow way, independently of gif.go:
// image/gif's DecodeAll holds every frame, and image/draw applies them with
// the disposal methods.
func referenceFrames(t *testing.T, data []byte) []*image.NRGBA {
	t.Helper()
	g, err := gif.DecodeAll(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("image/gif: %v", err)
	}
	canvas := image.NewNRGBA(image.Rect(0, 0, g.Config.Width, g.Config.Height))
	var out []*image.NRGBA
	for i, fr := range g.Image {
		var saved *image.NRGBA
		if g.Disposal[i] == gif.DisposalPrevious {
			saved = cloneNRGBA(canvas)
		}
		draw.Draw(canvas, fr.Bounds(), fr, fr.Bounds().Min, draw.Over)
		out = append(out, cloneNRGBA(canvas))
		switch g.Disposal[i] {
		case gif.DisposalBackground:
			draw.Draw(canvas, fr.Bounds(), image.Transparent, image.Point{}, draw.Src)
		case gif.DisposalPrevious:
			canvas = saved
		}
	}
	return out
}

func cloneNRGBA(m *image.NRGBA) *image.NRGBA {
	c := *m
	c.Pix = bytes.Clone(m.Pix)
	return &c
}

// collectFrames runs Frames and keeps a copy of every frame.
func collectFrames(t *testing.T, data []byte, opts Options) ([]Frame, []*image.NRGBA) {
	t.Helper()
	var frames []Frame
	var images []*image.NRGBA
	err := Frames(data, opts, func(f Frame) error {
		frames = append(frames, f)
		images = append(images, cloneNRGBA(f.Image.(*image.NRGBA)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return frames, images
}

// randomGIF makes a GIF with random frame rectangles, palettes, disposal,
// transparency and interlacing, all valid.
func randomGIF(t *testing.T, r *rand.Rand) []byte {
	s := gifSpec{width: 1 + r.IntN(40), height: 1 + r.IntN(40)}
	palette := func() []byte {
		p := make([]byte, 3<<(1+r.IntN(8)))
		for i := range p {
			p[i] = byte(r.IntN(256))
		}
		return p
	}
	if r.IntN(4) > 0 {
		s.global = palette()
	}
	for range 1 + r.IntN(8) {
		x0, y0 := r.IntN(s.width), r.IntN(s.height)
		rect := image.Rect(x0, y0, x0+1+r.IntN(s.width-x0), y0+1+r.IntN(s.height-y0))
		f := gifFrameSpec{rect: rect, disposal: byte(r.IntN(4)), delay: r.IntN(30),
			interlaced: r.IntN(2) == 0, transparent: -1}
		if s.global == nil || r.IntN(3) == 0 {
			f.local = palette()
		}
		n := len(s.global) / 3
		if f.local != nil {
			n = len(f.local) / 3
		}
		if r.IntN(2) == 0 {
			f.transparent = r.IntN(n)
		}
		f.pix = make([]byte, rect.Dx()*rect.Dy())
		for i := range f.pix {
			f.pix[i] = byte(r.IntN(n))
		}
		s.frames = append(s.frames, f)
	}
	return buildGIF(t, s)
}

func TestGIFFramesMatchReference(t *testing.T) {
	inputs := map[string][]byte{
		"valid.gif":            readFixture(t, "valid.gif"),
		"valid-interlaced.gif": readFixture(t, "valid-interlaced.gif"),
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		inputs["random-"+string(rune('a'+i/26))+string(rune('a'+i%26))] = randomGIF(t, r)
	}
	for name, data := range inputs {
		t.Run(name, func(t *testing.T) {
			want := referenceFrames(t, data)
			frames, got := collectFrames(t, data, Options{})
			if len(got) != len(want) {
				t.Fatalf("%d frames, want %d", len(got), len(want))
			}
			for i := range got {
				if frames[i].Index != i {
					t.Errorf("frame %d has Index %d", i, frames[i].Index)
				}
				if !bytes.Equal(got[i].Pix, want[i].Pix) || got[i].Rect != want[i].Rect {
					t.Fatalf("frame %d differs from image/gif composited with image/draw", i)
				}
			}
			m, err := Decode(data, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(m.Image.(*image.NRGBA).Pix, want[0].Pix) || m.Frames != len(want) {
				t.Errorf("Decode differs from the first frame, or counts %d frames", m.Frames)
			}
		})
	}
}

func TestGIFDisposalAndTiming(t *testing.T) {
	frames, images := collectFrames(t, readFixture(t, "valid.gif"), Options{})
	// See animatedGIFSpec. Delays 50, 0, 7, 100: a delay under 2 is shown
	// for 10, as browsers do.
	wantDur := []time.Duration{500 * time.Millisecond, 100 * time.Millisecond, 70 * time.Millisecond, time.Second}
	wantAt := []time.Duration{0, 500 * time.Millisecond, 600 * time.Millisecond, 670 * time.Millisecond}
	gray := func(v uint8) [4]uint8 { return [4]uint8{v, v, v, 255} }
	transparent := [4]uint8{}
	// Pixels to check after each frame: (x, y) -> RGBA.
	want := []map[image.Point][4]uint8{
		{{0, 0}: gray(10), {3, 3}: gray(10), {11, 3}: gray(10)},
		{{0, 0}: gray(10), {3, 3}: gray(20), {11, 3}: gray(10)},
		// Frame 1 was disposed to background: its rectangle is clear.
		// Frame 2's top-left pixel is transparent, showing frame 1's
		// disposal below it.
		{{3, 3}: transparent, {10, 2}: gray(10), {11, 3}: gray(30)},
		// Frame 2 was disposed to previous: its rectangle is back to gray
		// 10; frame 3 covers (0,0)-(4,4) with gray 40.
		{{1, 1}: gray(40), {3, 3}: gray(40), {5, 5}: transparent, {11, 3}: gray(10)},
	}
	if len(frames) != len(want) {
		t.Fatalf("%d frames, want %d", len(frames), len(want))
	}
	for i, f := range frames {
		if f.Duration != wantDur[i] || f.Timestamp != wantAt[i] {
			t.Errorf("frame %d at %v for %v, want at %v for %v", i, f.Timestamp, f.Duration, wantAt[i], wantDur[i])
		}
		for p, c := range want[i] {
			o := images[i].PixOffset(p.X, p.Y)
			if got := [4]uint8(images[i].Pix[o : o+4]); got != c {
				t.Errorf("frame %d pixel %v = %v, want %v", i, p, got, c)
			}
		}
	}
}

func TestGIFTruncatedAfterFirstFrame(t *testing.T) {
	data := readFixture(t, "valid.gif")
	full := referenceFrames(t, data)
	// Cut inside each of the later frames, and right before the trailer.
	for _, cut := range []int{len(data) - 1, len(data) - 20, len(data) - 60} {
		b := data[:cut]
		frames, images := collectFrames(t, b, Options{})
		if len(frames) == 0 || len(frames) >= len(full) && cut < len(data)-1 {
			t.Errorf("cut at %d: %d frames", cut, len(frames))
		}
		for i := range images {
			if !bytes.Equal(images[i].Pix, full[i].Pix) {
				t.Errorf("cut at %d: frame %d differs", cut, i)
			}
		}
		info, err := Probe(b, Options{})
		if err != nil || info.Frames != len(frames) {
			t.Errorf("cut at %d: Probe = %+v, %v; want %d frames", cut, info, err, len(frames))
		}
	}
}

func TestGIFJunkAfterFirstFrame(t *testing.T) {
	data := readFixture(t, "valid-interlaced.gif")
	b := append(bytes.Clone(data[:len(data)-1]), []byte("PK\x03\x04 zip or whatever")...)
	m, err := Decode(b, Options{})
	if err != nil || m.Frames != 1 {
		t.Fatalf("Decode = %v, %v; want one frame", m, err)
	}
}

func TestGIFCorruptFrameData(t *testing.T) {
	// One 4x4 frame whose LZW data is a clear code and an end code: no
	// pixels at all.
	b := []byte("GIF89a\x04\x00\x04\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff" +
		",\x00\x00\x00\x00\x04\x00\x04\x00\x00\x02\x01\x2c\x00;")
	_, err := Decode(b, Options{})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("error = %v, want ErrInvalid", err)
	}
}

// TestFramesBudgets checks that an animation over a budget of frames,
// of their pixels, of sampled frames or of duration is shown as far as the
// budget goes, with a note, rather than refused (which a pipeline could
// take for "no match").
func TestFramesBudgets(t *testing.T) {
	data := readFixture(t, "valid.gif") // frame areas 240+36+36+16 = 328
	count := func(opts Options) (int, *Repair) {
		n := 0
		repair, err := frames(data, opts, func(Frame) error { n++; return nil })
		if err != nil {
			t.Fatalf("frames(%+v): %v", opts, err)
		}
		return n, repair
	}
	if n, r := count(Options{MaxTotalPixels: 327}); n != 3 || r.Partial() || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "the first 3 of 4 frames") {
		t.Errorf("over MaxTotalPixels: %d frames, %+v", n, r)
	}
	if n, r := count(Options{MaxTotalPixels: 328}); n != 4 || r != nil {
		t.Errorf("at exactly MaxTotalPixels: %d frames, %+v", n, r)
	}
	if n, r := count(Options{MaxFrames: 3}); n != 3 || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "more than 3 frames") {
		t.Errorf("over MaxFrames: %d frames, %+v", n, r)
	}
	if n, r := count(Options{MaxFrames: 4}); n != 4 || r != nil {
		t.Errorf("at exactly MaxFrames: %d frames, %+v", n, r)
	}
	if _, err := Decode(data, Options{MaxTotalPixels: 327}); err != nil {
		t.Errorf("Decode decodes one frame and ignores MaxTotalPixels: %v", err)
	}
	many := manyFrameGIF(t, 10000)
	n := 0
	repair, err := frames(many, Options{}, func(Frame) error { n++; return nil })
	if err != nil || n != DefaultMaxFrames || len(repair.Notes) == 0 {
		t.Errorf("a GIF of 10,000 frames: %d decoded, %+v, %v", n, repair, err)
	}
}

func TestFramesStopsWhenFnFails(t *testing.T) {
	stop := errors.New("enough")
	n := 0
	err := Frames(readFixture(t, "valid.gif"), Options{}, func(Frame) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if err != stop || n != 2 {
		t.Errorf("Frames returned %v after %d calls, want the callback's error after 2", err, n)
	}
}

func TestFramesOfStillImage(t *testing.T) {
	var got []Frame
	err := Frames(readFixture(t, "valid-exif-6.jpg"), Options{}, func(f Frame) error {
		got = append(got, f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Index != 0 || got[0].Timestamp != 0 || got[0].Duration != 0 {
		t.Fatalf("got %+v, want one frame at 0", got)
	}
	if b := got[0].Image.Bounds(); b.Dx() != 32 || b.Dy() != 64 {
		t.Errorf("frame is %v, want the oriented 32x64", b)
	}
}

// TestFramesMemoryIsBounded streams a 1000-frame 200x200 animation (40 MB
// of frames if all were held, as image/gif's DecodeAll does) and checks that
// the heap never holds more than a few canvases.
func TestFramesMemoryIsBounded(t *testing.T) {
	const n, side = 1000, 200
	r := image.Rect(0, 0, side, side)
	s := gifSpec{width: side, height: side, global: grayPalette()}
	pix := make([]byte, side*side)
	for i := range pix {
		pix[i] = byte(i * 7)
	}
	for range n {
		s.frames = append(s.frames, gifFrameSpec{rect: r, pix: pix, disposal: 3, transparent: -1})
	}
	data := buildGIF(t, s)
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak uint64
	count := 0
	err := Frames(data, Options{}, func(Frame) error {
		count++
		if count%100 == 0 {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
		}
		return nil
	})
	if err != nil || count != n {
		t.Fatalf("Frames: %v after %d frames", err, count)
	}
	// Canvas, saved rectangle and indices: 360 kB; allow garbage not yet
	// collected, far below the 40 MB of holding every frame.
	if grew := int64(peak) - int64(base.HeapAlloc); grew > 16<<20 {
		t.Errorf("heap grew by %d MiB while streaming frames", grew>>20)
	}
}
