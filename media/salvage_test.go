package media

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Photographs from the PDQ reference data: real camera JPEGs (baseline,
// with restart markers, progressive) and a PNG.
const (
	photoDir = "../testdata/pdq"
	photoPNG = "exact/bridge-mods-aaa-orig.png"
)

func readPhoto(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(photoDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rowsDiffer returns the first of the top rows of a and b where they
// differ, or -1.
func rowsDiffer(a, b image.Image, rows int) int {
	r := a.Bounds()
	for y := r.Min.Y; y < r.Min.Y+rows; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if color.NRGBAModel.Convert(a.At(x, y)) != color.NRGBAModel.Convert(b.At(x, y)) {
				return y
			}
		}
	}
	return -1
}

// allGrey reports whether rows from y on are PartialFill.
func allGrey(m image.Image, from int) bool {
	r := m.Bounds()
	for y := from; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if c := color.NRGBAModel.Convert(m.At(x, y)).(color.NRGBA); c != (color.NRGBA{PartialFill, PartialFill, PartialFill, 255}) {
				return false
			}
		}
	}
	return true
}

// checkPartial decodes a cut copy of full and checks that the band it
// reports as shown holds exactly the whole file's pixels, that the rest of
// the picture below the band's last row of blocks is grey, and that the
// visible fraction agrees.
func checkPartial(t *testing.T, full, cut []byte, block int) *Image {
	t.Helper()
	want, err := Decode(full, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(cut, Options{})
	if err != nil {
		t.Fatalf("cut at %d of %d bytes: %v", len(cut), len(full), err)
	}
	r := m.Repair
	if !r.Partial() || r.Shown.Empty() || len(r.Notes) == 0 {
		t.Fatalf("repair = %+v, want a partial image with the band shown", r)
	}
	if m.Image.Bounds() != want.Image.Bounds() || r.Shown.Min != (image.Point{}) || r.Shown.Dx() != m.Width {
		t.Fatalf("bounds %v, shown %v, want a band of %v", m.Image.Bounds(), r.Shown, want.Image.Bounds())
	}
	if y := rowsDiffer(m.Image, want.Image, r.Shown.Dy()); y >= 0 {
		t.Errorf("row %d of the %d shown differs from the whole file's", y, r.Shown.Dy())
	}
	if !allGrey(m.Image, min(m.Height, r.Shown.Max.Y+block)) {
		t.Errorf("rows below %d are not all grey", r.Shown.Max.Y+block)
	}
	h := float64(m.Height)
	if v := r.Visible; v < float64(r.Shown.Dy())/h || v > float64(r.Shown.Dy()+block)/h {
		t.Errorf("visible %.3f, but %d of %d rows are shown", v, r.Shown.Dy(), m.Height)
	}
	return m
}

func TestSalvageJPEG(t *testing.T) {
	for _, name := range []string{
		"tolerance/bridge-mods-aaa-orig.jpg",      // baseline, 4:2:0
		"tolerance/bridge-mods-blur-a-little.jpg", // restart markers
		"tolerance/labelme-subset-q0746.jpg",
	} {
		full := readPhoto(t, name)
		for _, frac := range []float64{0.3, 0.6, 0.9} {
			t.Run(fmt.Sprintf("%s/%.0f%%", filepath.Base(name), 100*frac), func(t *testing.T) {
				// The band may end a row short of its last row of
				// blocks (the chroma interpolation reaches past it).
				checkPartial(t, full, full[:int(frac*float64(len(full)))], 17)
			})
		}
	}
}

func TestSalvageJPEGWhole(t *testing.T) {
	full := readPhoto(t, "tolerance/labelme-subset-q0746.jpg")
	want, err := Decode(full, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// No end marker: every scan is there, nothing is grey.
	m, err := Decode(full[:len(full)-2], Options{})
	if err != nil || m.Repair == nil || m.Repair.Partial() || !m.Repair.Shown.Empty() {
		t.Fatalf("without EOI: %+v, %v", m, err)
	}
	if y := rowsDiffer(m.Image, want.Image, m.Height); y >= 0 {
		t.Errorf("without EOI, row %d differs", y)
	}
	// Junk after the end marker is not the picture's concern.
	m, err = Decode(append(bytes.Clone(full), "\xff\xd8junk"...), Options{})
	if err != nil || m.Repair != nil {
		t.Fatalf("junk after EOI: %+v, %v", m, err)
	}
	// Cut in the headers, before any block: nothing to show.
	if _, err := Decode(full[:300], Options{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("cut in the headers: %v, want ErrInvalid", err)
	}
}

func TestSalvageProgressiveJPEG(t *testing.T) {
	full := readPhoto(t, "tolerance/dih-bridge-2-rotate-90.jpg")
	want, err := Decode(full, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, frac := range []float64{0.3, 0.6, 0.95} {
		m, err := Decode(full[:int(frac*float64(len(full)))], Options{})
		if err != nil {
			t.Fatalf("cut at %.0f%%: %v", 100*frac, err)
		}
		// The scans before the cut cover the whole picture: it is shown
		// whole, with less detail.
		if m.Repair == nil || m.Repair.Partial() || !strings.Contains(m.Repair.Notes[0], "whole scans") {
			t.Errorf("cut at %.0f%%: repair %+v", 100*frac, m.Repair)
		}
		if d := meanAbsDiff(m.Image, want.Image); d > 15 {
			t.Errorf("cut at %.0f%%: %.1f levels from the whole file on average, want a coarser copy", 100*frac, d)
		}
	}
}

func TestSalvagePNG(t *testing.T) {
	full := readPhoto(t, photoPNG)
	for _, frac := range []float64{0.2, 0.5, 0.95} {
		checkPartial(t, full, full[:int(frac*float64(len(full)))], 0)
	}
	want, err := Decode(full, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// An ancillary chunk with a bad checksum is skipped, as libpng does;
	// a critical one is still an error.
	text := []byte("\x00\x00\x00\x05tEXtab\x00cd\x00\x00\x00\x00")
	damaged := append(append(bytes.Clone(full[:33]), text...), full[33:]...)
	m, err := Decode(damaged, Options{})
	if err != nil || m.Repair == nil || m.Repair.Partial() || !strings.Contains(m.Repair.Notes[0], "tEXt") {
		t.Fatalf("bad tEXt checksum: %+v, %v", m, err)
	}
	if y := rowsDiffer(m.Image, want.Image, m.Height); y >= 0 {
		t.Errorf("bad tEXt checksum: row %d differs", y)
	}
	i := bytes.Index(full, []byte("IDAT"))
	n := int(binary.BigEndian.Uint32(full[i-4:]))
	badIDAT := bytes.Clone(full)
	badIDAT[i+4+n] ^= 1
	if _, err := Decode(badIDAT, Options{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad IDAT checksum: %v, want ErrInvalid", err)
	}
	// No end chunk.
	m, err = Decode(full[:len(full)-12], Options{})
	if err != nil || m.Repair == nil || m.Repair.Partial() {
		t.Fatalf("no IEND: %+v, %v", m, err)
	}
}

// interlacedPNG encodes m as an 8-bit RGB PNG with Adam7 interlacing,
// which image/png does not write.
func interlacedPNG(t *testing.T, m image.Image) []byte {
	t.Helper()
	b := m.Bounds()
	var raw bytes.Buffer
	for _, ps := range adam7 {
		for y := ps.y; y < b.Dy(); y += ps.dy {
			if ps.x >= b.Dx() {
				break
			}
			raw.WriteByte(0) // filter: none
			for x := ps.x; x < b.Dx(); x += ps.dx {
				c := color.NRGBAModel.Convert(m.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				raw.Write([]byte{c.R, c.G, c.B})
			}
		}
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(raw.Bytes())
	zw.Close()
	var out bytes.Buffer
	out.WriteString(pngSignature)
	ihdr := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, uint32(b.Dx())), uint32(b.Dy()))
	ihdr = append(ihdr, 8, 2, 0, 0, 1)
	for _, c := range []struct {
		typ  string
		data []byte
	}{{"IHDR", ihdr}, {"IDAT", z.Bytes()}, {"IEND", nil}} {
		if err := writePNGChunk(&out, c.typ, c.data); err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes()
}

func TestSalvageInterlacedPNG(t *testing.T) {
	photo, err := png.Decode(bytes.NewReader(readPhoto(t, photoPNG)))
	if err != nil {
		t.Fatal(err)
	}
	full := interlacedPNG(t, photo)
	if m, err := Decode(full, Options{}); err != nil || m.Repair != nil || meanAbsDiff(m.Image, photo) != 0 {
		t.Fatalf("the whole interlaced PNG: %v, %v", m, err)
	}
	for _, frac := range []float64{0.1, 0.3, 0.6} {
		m, err := Decode(full[:int(frac*float64(len(full)))], Options{})
		if err != nil {
			t.Fatalf("cut at %.0f%%: %v", 100*frac, err)
		}
		r := m.Repair
		if r == nil || r.Partial() || !strings.Contains(strings.Join(r.Notes, " "), "pass") {
			t.Fatalf("cut at %.0f%%: repair %+v", 100*frac, r)
		}
		// Every 8th pixel of every 8th row is in the first pass, which
		// every cut here holds whole: those are the photograph's.
		for y := 0; y < m.Height; y += 8 {
			for x := 0; x < m.Width; x += 8 {
				if got, want := color.NRGBAModel.Convert(m.Image.At(x, y)), color.NRGBAModel.Convert(photo.At(x, y)); got != want {
					t.Fatalf("cut at %.0f%%: pixel %d,%d = %v, want %v", 100*frac, x, y, got, want)
				}
			}
		}
		// The rest is drawn from them: a coarser copy, not black holes.
		if d := meanAbsDiff(m.Image, photo); d > 20 {
			t.Errorf("cut at %.0f%%: %.1f levels from the photograph on average", 100*frac, d)
		}
	}
	// Cut inside the first pass: nothing whole to show.
	if _, err := Decode(full[:200], Options{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("cut in the first pass: %v, want ErrInvalid", err)
	}
}

func TestSalvageWebP(t *testing.T) {
	full := readFixture(t, "valid-photo.webp")
	for _, frac := range []float64{0.5, 0.7, 0.9} {
		// The band ends a few rows short of a macroblock row, where the
		// loop filter of the next one reaches; the grey starts at it.
		checkPartial(t, full, full[:int(frac*float64(len(full)))], webpFiltered)
	}
	// Cut in the first partition: the modes of every block would be the
	// padding's.
	if _, err := Decode(full[:len(full)/20], Options{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("cut in the first partition: %v, want ErrInvalid", err)
	}
}

// photoFrame quantizes part of the photograph to a grey GIF frame at rect.
func photoFrame(t *testing.T, rect image.Rectangle, disposal byte, delay int) gifFrameSpec {
	t.Helper()
	m, err := png.Decode(bytes.NewReader(readPhoto(t, photoPNG)))
	if err != nil {
		t.Fatal(err)
	}
	pix := make([]byte, 0, rect.Dx()*rect.Dy())
	for y := range rect.Dy() {
		for x := range rect.Dx() {
			g := color.GrayModel.Convert(m.At(x%400, y%251)).(color.Gray)
			pix = append(pix, g.Y)
		}
	}
	return gifFrameSpec{rect: rect, pix: pix, disposal: disposal, delay: delay, transparent: -1}
}

// composeClipped draws the frames of s as browsers do: on a canvas grown
// to hold the first frame, every frame clipped to it; each frame here is
// opaque and disposes of nothing.
func composeClipped(s gifSpec) *image.NRGBA {
	w, h := max(s.width, s.frames[0].rect.Max.X), max(s.height, s.frames[0].rect.Max.Y)
	canvas := image.NewNRGBA(image.Rect(0, 0, w, h))
	for _, f := range s.frames {
		src := image.NewGray(f.rect)
		copy(src.Pix, f.pix)
		draw.Draw(canvas, f.rect, src, f.rect.Min, draw.Src)
	}
	return canvas
}

func TestGIFFramesBeyondTheScreen(t *testing.T) {
	tests := []struct {
		name string
		spec gifSpec
		note string
	}{
		{"later frame larger than the screen", gifSpec{width: 60, height: 40, global: grayPalette(), frames: []gifFrameSpec{
			photoFrame(t, image.Rect(0, 0, 60, 40), 1, 10), photoFrame(t, image.Rect(0, 0, 90, 70), 1, 10)}}, "clipped"},
		{"later frame offset past the edge", gifSpec{width: 60, height: 40, global: grayPalette(), frames: []gifFrameSpec{
			photoFrame(t, image.Rect(0, 0, 60, 40), 1, 10), photoFrame(t, image.Rect(50, 30, 80, 50), 1, 10),
			photoFrame(t, image.Rect(0, 0, 10, 10), 1, 10)}}, "clipped"},
		{"later frame wholly outside", gifSpec{width: 60, height: 40, global: grayPalette(), frames: []gifFrameSpec{
			photoFrame(t, image.Rect(0, 0, 60, 40), 1, 10), photoFrame(t, image.Rect(70, 50, 80, 60), 1, 10)}}, "clipped"},
		{"first frame larger than the screen", gifSpec{width: 30, height: 20, global: grayPalette(), frames: []gifFrameSpec{
			photoFrame(t, image.Rect(0, 0, 60, 40), 1, 10)}}, "grown"},
		{"first frame offset beyond a zero screen", gifSpec{width: 0, height: 0, global: grayPalette(), frames: []gifFrameSpec{
			photoFrame(t, image.Rect(5, 3, 60, 40), 1, 10), photoFrame(t, image.Rect(0, 0, 100, 100), 1, 10)}}, "grown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := buildGIF(t, tt.spec)
			var last *image.NRGBA
			n := 0
			repair, err := frames(data, Options{}, func(f Frame) error {
				n++
				last = cloneNRGBA(f.Image.(*image.NRGBA))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if n != len(tt.spec.frames) {
				t.Errorf("%d frames, want %d", n, len(tt.spec.frames))
			}
			want := composeClipped(tt.spec)
			if last.Bounds() != want.Bounds() || !bytes.Equal(last.Pix, want.Pix) {
				t.Errorf("last frame %v differs from the clipped composition %v", last.Bounds(), want.Bounds())
			}
			if repair == nil || repair.Partial() || !strings.Contains(strings.Join(repair.Notes, " "), tt.note) {
				t.Errorf("repair %+v, want a note of %q", repair, tt.note)
			}
			info, err := Probe(data, Options{})
			if err != nil || info.Width != want.Bounds().Dx() || info.Height != want.Bounds().Dy() || info.Frames != n {
				t.Errorf("Probe = %+v, %v", info, err)
			}
		})
	}
}

func TestGIFCutInsideAFrame(t *testing.T) {
	s := gifSpec{width: 60, height: 40, global: grayPalette(), frames: []gifFrameSpec{photoFrame(t, image.Rect(0, 0, 60, 40), 0, 0)}}
	full := buildGIF(t, s)
	want, err := Decode(full, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(full[:len(full)*2/3], Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := m.Repair
	if !r.Partial() || r.Shown.Empty() || r.Shown.Dy() >= 40 {
		t.Fatalf("repair %+v, want a band", r)
	}
	if y := rowsDiffer(m.Image, want.Image, r.Shown.Dy()); y >= 0 {
		t.Errorf("row %d differs", y)
	}
	// Below the band nothing is drawn: the canvas stays transparent.
	if c := m.Image.At(5, 39).(color.NRGBA); c.A != 0 {
		t.Errorf("pixel below the cut = %v, want transparent", c)
	}
	// A frame of an animation cut short: the frames before it whole.
	anim := gifSpec{width: 60, height: 40, global: grayPalette(), frames: []gifFrameSpec{
		{rect: image.Rect(0, 0, 60, 40), pix: filled(image.Rect(0, 0, 60, 40), 10), delay: 10, transparent: -1},
		photoFrame(t, image.Rect(0, 0, 60, 40), 0, 10)}}
	b := buildGIF(t, anim)
	repair, err := frames(b[:len(b)-200], Options{}, func(Frame) error { return nil })
	if err != nil || !repair.Partial() || repair.Visible <= 0 {
		t.Errorf("animation cut in its last frame: %+v, %v", repair, err)
	}
}

// TestGIFShortFrameSampled checks that a picture shown for most of a second
// between two others is sampled, although it starts within MinSceneGap of
// the first frame and ends before the next whole second.
func TestGIFShortFrameSampled(t *testing.T) {
	r := image.Rect(0, 0, 60, 40)
	s := gifSpec{width: 60, height: 40, global: grayPalette(), frames: []gifFrameSpec{
		{rect: r, pix: filled(r, 10), delay: 20, transparent: -1},
		photoFrame(t, r, 1, 60),
		{rect: r, pix: filled(r, 10), delay: 150, transparent: -1},
	}}
	var times []time.Duration
	_, err := Video(context.Background(), buildGIF(t, s), Options{}, func(f Frame) error {
		times = append(times, f.Timestamp)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(times) != 3 || times[1] != 200*time.Millisecond {
		t.Errorf("sampled at %v, want the photograph at 200ms among 3", times)
	}
}

func TestSalvageJPEGOriented(t *testing.T) {
	photo, err := png.Decode(bytes.NewReader(readPhoto(t, photoPNG)))
	if err != nil {
		t.Fatal(err)
	}
	// EXIF 6: the stored top rows are shown as the right-hand columns.
	full := withOrientation(t, encodeJPEG(t, photo), 6)
	want, err := Decode(full, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(full[:len(full)/2], Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, b := m.Repair.Shown, m.Image.Bounds()
	if b != want.Image.Bounds() || s.Max.X != b.Max.X || s.Min.Y != 0 || s.Max.Y != b.Max.Y || s.Dx() >= b.Dx() || s.Dx() == 0 {
		t.Fatalf("shown %v of %v, want a band on the right", s, b)
	}
	for y := s.Min.Y; y < s.Max.Y; y++ {
		for x := s.Min.X; x < s.Max.X; x++ {
			if m.Image.At(x, y) != want.Image.At(x, y) {
				t.Fatalf("pixel %d,%d in the band differs", x, y)
			}
		}
	}
}

// TestSalvageRefusesBeforeDecoding sends files whose headers claim
// 7000x7000 while their data holds a few rows of blocks: what a salvage
// would show is under MinVisible, and it is refused as such without a
// second decode of the whole claimed picture (a few hundred bytes made the
// server hold 332 MiB for two seconds before). The allocation measured is
// at most the failed first decode's and a little more.
func TestSalvageRefusesBeforeDecoding(t *testing.T) {
	src := image.NewNRGBA(image.Rect(0, 0, 64, 48))
	for i := range src.Pix {
		src.Pix[i] = uint8(i * 7)
	}
	var jb, pb bytes.Buffer
	if err := jpeg.Encode(&jb, src, &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(&pb, src); err != nil {
		t.Fatal(err)
	}
	const side = 7000
	lyingJPEG := bytes.Clone(jb.Bytes())
	sof := bytes.Index(lyingJPEG, []byte{0xff, jpegSOF0})
	binary.BigEndian.PutUint16(lyingJPEG[sof+5:], side) // height
	binary.BigEndian.PutUint16(lyingJPEG[sof+7:], side) // width
	lyingPNG := bytes.Clone(pb.Bytes())
	binary.BigEndian.PutUint32(lyingPNG[16:], side)
	binary.BigEndian.PutUint32(lyingPNG[20:], side)
	binary.BigEndian.PutUint32(lyingPNG[29:], crc32.ChecksumIEEE(lyingPNG[12:29]))
	for _, c := range []struct {
		name  string
		data  []byte
		first func([]byte) error // the decoder's own attempt
	}{
		{"jpeg", lyingJPEG, func(b []byte) error { _, err := jpeg.Decode(bytes.NewReader(b)); return err }},
		{"png", lyingPNG, func(b []byte) error { _, err := png.Decode(bytes.NewReader(b)); return err }},
	} {
		t.Run(c.name, func(t *testing.T) {
			first := allocated(func() {
				if c.first(c.data) == nil {
					t.Fatal("the decoder accepts the lying file")
				}
			})
			var err error
			total := allocated(func() { _, err = Decode(c.data, Options{}) })
			var little *tooLittleShownError
			if !errors.As(err, &little) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode: %v, want the refusal of a file showing too little", err)
			}
			if total > first+32<<20 {
				t.Errorf("Decode allocated %d MiB, the decoder's failed attempt alone %d MiB: the salvage decoded the picture", total>>20, first>>20)
			}
			t.Logf("%v; %d MiB allocated, the decoder's attempt %d MiB", err, total>>20, first>>20)
		})
	}
}

// allocated returns the bytes fn allocates.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
