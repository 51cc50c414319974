package media

import (
	"archive/zip"
	"bytes"
	"compress/lzw"
	"encoding/binary"
	"flag"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/gen2brain/avif"
	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

// update rewrites the fixtures that Go makes (see generatedFixtures). The
// WebP and HEIC fixtures come from command-line tools: testdata/media/README.md.
var update = flag.Bool("update", false, "rewrite the generated fixtures in testdata/media")

// fixtureDir holds the sample inputs shared with the fuzz seeds.
const fixtureDir = "../testdata/media"

// TestUpdateFixtures writes the generated fixtures when run with -update, and
// otherwise checks that each one is present.
func TestUpdateFixtures(t *testing.T) {
	for name, data := range generatedFixtures(t) {
		path := filepath.Join(fixtureDir, name)
		if *update {
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, err := os.Stat(path); err != nil {
			t.Errorf("fixture missing (run go test ./media -run TestUpdateFixtures -update): %v", err)
		}
	}
}

// generatedFixtures returns the fixtures made with Go, by file name.
func generatedFixtures(t testing.TB) map[string][]byte {
	pattern := testPattern(37, 23)
	pngData := encodePNG(t, pattern)
	jpegData := encodeJPEG(t, pattern)
	var bmpData, tiffData bytes.Buffer
	if err := bmp.Encode(&bmpData, pattern); err != nil {
		t.Fatal(err)
	}
	if err := tiff.Encode(&tiffData, pattern, &tiff.Options{Compression: tiff.Deflate}); err != nil {
		t.Fatal(err)
	}
	zipData := makeZip(t)
	files := map[string][]byte{
		"valid.png":                 pngData,
		"valid.jpg":                 jpegData,
		"valid.gif":                 buildGIF(t, animatedGIFSpec()),
		"valid-interlaced.gif":      buildGIF(t, interlacedGIFSpec()),
		"valid.bmp":                 bmpData.Bytes(),
		"valid.tiff":                tiffData.Bytes(),
		"valid-exif-6.jpg":          withOrientation(t, encodeJPEG(t, cornerImage()), 6),
		"valid-png-then-zip.png":    append(append([]byte{}, pngData...), zipData...),
		"invalid-text.jpg":          []byte("This is a text file that someone named .jpg.\n"),
		"invalid-truncated.jpg":     jpegData[:len(jpegData)/2],
		"invalid-truncated.png":     pngData[:len(pngData)/2],
		"invalid-huge.png":          hugePNG(100000, 100000),
		"invalid-zip-then-jpg.jpg":  append(append([]byte{}, zipData...), jpegData...),
		"invalid-html-then-png.png": append([]byte("<!doctype html><html><body>hi</body></html>\n"), pngData...),
	}
	if *update {
		// Encoding AVIF compiles a large WebAssembly encoder, so the
		// fixture is made only when asked for.
		var b bytes.Buffer
		if err := avif.Encode(&b, pattern, avif.Options{Quality: 90, Speed: 8}); err != nil {
			t.Fatal(err)
		}
		files["valid.avif"] = b.Bytes()
	}
	return files
}

// testPattern is an opaque image with distinct rows and columns, so that a
// transposed or shifted decode would not look the same, and smooth, so that
// lossy encoders keep it close.
func testPattern(w, h int) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x + y) * 255 / (w + h)), 255})
		}
	}
	return m
}

// Corner marks of cornerImage, in stored orientation.
var (
	markTopLeft     = color.NRGBA{255, 0, 0, 255}
	markTopRight    = color.NRGBA{0, 200, 0, 255}
	markBottomLeft  = color.NRGBA{0, 0, 255, 255}
	markBottomRight = color.NRGBA{128, 128, 128, 255}
)

// cornerImage is a 64x32 image with a 16x16 block of a different color in
// each corner, large enough that JPEG keeps the colors.
func cornerImage() *image.NRGBA {
	const w, h, b = 64, 32, 16
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.NRGBA{255, 255, 255, 255}
			switch {
			case x < b && y < b:
				c = markTopLeft
			case x >= w-b && y < b:
				c = markTopRight
			case x < b && y >= h-b:
				c = markBottomLeft
			case x >= w-b && y >= h-b:
				c = markBottomRight
			}
			m.SetNRGBA(x, y, c)
		}
	}
	return m
}

func encodePNG(t testing.TB, m image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(t testing.TB, m image.Image) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// withOrientation inserts an APP1 Exif segment declaring orientation o right
// after the SOI marker of a JPEG.
func withOrientation(t testing.TB, jpg []byte, o uint16) []byte {
	return insertAPP1(t, jpg, exifOrientation(binary.BigEndian, o))
}

// exifOrientation is an Exif APP1 body ("Exif\0\0" and a TIFF structure)
// whose first IFD holds a single orientation entry.
func exifOrientation(bo binary.ByteOrder, o uint16) []byte {
	var b bytes.Buffer
	b.WriteString("Exif\x00\x00")
	if bo == binary.ByteOrder(binary.LittleEndian) {
		b.WriteString("II")
	} else {
		b.WriteString("MM")
	}
	w := func(v any) { _ = binary.Write(&b, bo, v) }
	w(uint16(42))
	w(uint32(8))              // IFD0 offset
	w(uint16(1))              // one entry
	w(uint16(tagOrientation)) // tag
	w(uint16(3))              // SHORT
	w(uint32(1))              // count
	w(uint16(o))              // value, left-justified
	w(uint16(0))              // padding
	w(uint32(0))              // no next IFD
	return b.Bytes()
}

func insertAPP1(t testing.TB, jpg, body []byte) []byte {
	if !bytes.HasPrefix(jpg, []byte{0xff, 0xd8}) {
		t.Fatal("not a JPEG")
	}
	seg := []byte{0xff, 0xe1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(body)+2))
	out := append([]byte{0xff, 0xd8}, seg...)
	out = append(out, body...)
	return append(out, jpg[2:]...)
}

// hugePNG is a PNG signature and a valid IHDR (correct CRC) claiming w x h
// RGB pixels, followed by an empty IDAT and IEND.
func hugePNG(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		_ = binary.Write(&b, binary.BigEndian, uint32(len(data)))
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		b.WriteString(typ)
		b.Write(data)
		_ = binary.Write(&b, binary.BigEndian, crc.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	chunk("IHDR", ihdr)
	chunk("IDAT", nil)
	chunk("IEND", nil)
	return b.Bytes()
}

func makeZip(t testing.TB) []byte {
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	f, err := z.Create("readme.txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("hello from inside a zip\n")); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// gifSpec describes a GIF for buildGIF, which writes the block structure
// itself so tests can make what image/gif's encoder cannot: interlaced
// frames, any disposal, thousands of frames.
type gifSpec struct {
	width, height int
	global        []byte // RGB triplets; a power of two entries, 2-256
	frames        []gifFrameSpec
}

type gifFrameSpec struct {
	rect        image.Rectangle
	local       []byte // RGB triplets, or nil for the global table
	pix         []byte // palette indices, row-major, rect.Dx()*rect.Dy()
	interlaced  bool
	disposal    byte
	delay       int
	transparent int // -1: none
}

func buildGIF(t testing.TB, s gifSpec) []byte {
	var b bytes.Buffer
	le := func(v uint16) { b.WriteByte(byte(v)); b.WriteByte(byte(v >> 8)) }
	tableBits := func(table []byte) byte {
		n := len(table) / 3
		for bits := byte(0); bits < 8; bits++ {
			if 2<<bits == n {
				return bits
			}
		}
		t.Fatalf("color table of %d entries", n)
		return 0
	}
	b.WriteString("GIF89a")
	le(uint16(s.width))
	le(uint16(s.height))
	if s.global != nil {
		b.WriteByte(0x80 | 0x70 | tableBits(s.global))
	} else {
		b.WriteByte(0)
	}
	b.WriteByte(0) // background index
	b.WriteByte(0) // aspect
	b.Write(s.global)
	for _, f := range s.frames {
		fields := f.disposal << 2
		if f.transparent >= 0 {
			fields |= 1
		}
		b.Write([]byte{0x21, 0xf9, 4, fields})
		le(uint16(f.delay))
		b.WriteByte(byte(max(f.transparent, 0)))
		b.WriteByte(0)

		b.WriteByte(0x2c)
		le(uint16(f.rect.Min.X))
		le(uint16(f.rect.Min.Y))
		le(uint16(f.rect.Dx()))
		le(uint16(f.rect.Dy()))
		var fields2 byte
		if f.local != nil {
			fields2 |= 0x80 | tableBits(f.local)
		}
		if f.interlaced {
			fields2 |= 0x40
		}
		b.WriteByte(fields2)
		b.Write(f.local)

		// Rows go in transmission order: interlaced frames in four passes.
		w, h := f.rect.Dx(), f.rect.Dy()
		var rows []byte
		for _, pass := range gifPasses(f.interlaced) {
			for y := pass.start; y < h; y += pass.step {
				rows = append(rows, f.pix[y*w:(y+1)*w]...)
			}
		}
		const litWidth = 8
		var comp bytes.Buffer
		lw := lzw.NewWriter(&comp, lzw.LSB, litWidth)
		if _, err := lw.Write(rows); err != nil {
			t.Fatal(err)
		}
		if err := lw.Close(); err != nil {
			t.Fatal(err)
		}
		b.WriteByte(litWidth)
		data := comp.Bytes()
		for len(data) > 0 {
			n := min(len(data), 255)
			b.WriteByte(byte(n))
			b.Write(data[:n])
			data = data[n:]
		}
		b.WriteByte(0)
	}
	b.WriteByte(0x3b)
	return b.Bytes()
}

// grayPalette is a 256-entry palette where index i is gray level i, so that
// decoded colors are easy to predict.
func grayPalette() []byte {
	p := make([]byte, 3*256)
	for i := range 256 {
		p[3*i], p[3*i+1], p[3*i+2] = byte(i), byte(i), byte(i)
	}
	return p
}

func filled(r image.Rectangle, ix byte) []byte {
	return bytes.Repeat([]byte{ix}, r.Dx()*r.Dy())
}

// animatedGIFSpec exercises every disposal method and transparency:
// frame 0 fills the 20x12 screen with gray 10 and is left in place; frame 1
// draws gray 20 at (2,2)-(8,8), disposed to background (transparent);
// frame 2 draws gray 30 at (10,2)-(16,8) with a transparent hole, disposed
// to the previous state; frame 3 draws gray 40 at (0,0)-(4,4).
func animatedGIFSpec() gifSpec {
	screen := image.Rect(0, 0, 20, 12)
	hole := filled(image.Rect(10, 2, 16, 8), 30)
	hole[0] = 255 // top-left pixel of frame 2 is transparent
	return gifSpec{
		width: 20, height: 12, global: grayPalette(),
		frames: []gifFrameSpec{
			{rect: screen, pix: filled(screen, 10), disposal: 1, delay: 50, transparent: -1},
			{rect: image.Rect(2, 2, 8, 8), pix: filled(image.Rect(2, 2, 8, 8), 20), disposal: 2, delay: 0, transparent: -1},
			{rect: image.Rect(10, 2, 16, 8), pix: hole, disposal: 3, delay: 7, transparent: 255},
			{rect: image.Rect(0, 0, 4, 4), pix: filled(image.Rect(0, 0, 4, 4), 40), disposal: 0, delay: 100, transparent: -1},
		},
	}
}

// interlacedGIFSpec is one interlaced frame whose row y is gray y*10, on a
// local 256-entry palette.
func interlacedGIFSpec() gifSpec {
	r := image.Rect(0, 0, 9, 19)
	pix := make([]byte, 0, r.Dx()*r.Dy())
	for y := range r.Dy() {
		pix = append(pix, bytes.Repeat([]byte{byte(y * 10)}, r.Dx())...)
	}
	return gifSpec{
		width: 9, height: 19,
		frames: []gifFrameSpec{{rect: r, local: grayPalette(), pix: pix, interlaced: true, transparent: -1}},
	}
}

// manyFrameGIF has n frames of one pixel each.
func manyFrameGIF(t testing.TB, n int) []byte {
	r := image.Rect(0, 0, 1, 1)
	s := gifSpec{width: 1, height: 1, global: grayPalette()[:6]}
	for i := range n {
		s.frames = append(s.frames, gifFrameSpec{rect: r, pix: []byte{byte(i % 2)}, delay: 1, transparent: -1})
	}
	return buildGIF(t, s)
}
