package media

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"testing"
)

// displayed maps a stored pixel (x, y) of a w x h image to where a viewer
// shows it under Exif orientation o, from the definitions in Exif 2.3
// section 4.6.4 (which side the stored 0th row and 0th column are shown
// on), independently of the transforms in exif.go.
func displayed(o, x, y, w, h int) (int, int) {
	switch o {
	case 2: // 0th row top, 0th column right
		return w - 1 - x, y
	case 3: // 0th row bottom, 0th column right
		return w - 1 - x, h - 1 - y
	case 4: // 0th row bottom, 0th column left
		return x, h - 1 - y
	case 5: // 0th row left, 0th column top
		return y, x
	case 6: // 0th row right, 0th column top
		return h - 1 - y, x
	case 7: // 0th row right, 0th column bottom
		return h - 1 - y, w - 1 - x
	case 8: // 0th row left, 0th column bottom
		return y, w - 1 - x
	}
	return x, y
}

func near(a color.Color, b color.NRGBA) bool {
	c := color.NRGBAModel.Convert(a).(color.NRGBA)
	return absDiff(c.R, b.R) < 40 && absDiff(c.G, b.G) < 40 && absDiff(c.B, b.B) < 40
}

func TestEXIFOrientation(t *testing.T) {
	const w, h = 64, 32 // cornerImage
	marks := []struct {
		x, y int // a stored pixel inside the mark, away from its edges
		c    color.NRGBA
	}{
		{4, 4, markTopLeft}, {w - 5, 4, markTopRight},
		{4, h - 5, markBottomLeft}, {w - 5, h - 5, markBottomRight},
	}
	plain := encodeJPEG(t, cornerImage())
	for _, bo := range []binary.ByteOrder{binary.BigEndian, binary.LittleEndian} {
		for o := 1; o <= 8; o++ {
			t.Run(bo.String()+"/"+string(rune('0'+o)), func(t *testing.T) {
				data := insertAPP1(t, plain, exifOrientation(bo, uint16(o)))
				m, err := Decode(data, Options{})
				if err != nil {
					t.Fatal(err)
				}
				wantW, wantH := w, h
				if o >= 5 {
					wantW, wantH = h, w
				}
				b := m.Image.Bounds()
				if m.Orientation != o || m.Width != wantW || m.Height != wantH || b.Dx() != wantW || b.Dy() != wantH {
					t.Fatalf("orientation %d, %dx%d, bounds %v; want %d, %dx%d", m.Orientation, m.Width, m.Height, b, o, wantW, wantH)
				}
				for _, mk := range marks {
					x, y := displayed(o, mk.x, mk.y, w, h)
					if got := m.Image.At(b.Min.X+x, b.Min.Y+y); !near(got, mk.c) {
						t.Errorf("stored (%d,%d) should show at (%d,%d) as %v, found %v", mk.x, mk.y, x, y, mk.c, got)
					}
				}

				// IgnoreOrientation returns stored pixels, but still
				// reports what the file declares.
				m, err = Decode(data, Options{IgnoreOrientation: true})
				if err != nil {
					t.Fatal(err)
				}
				if m.Orientation != o || m.Width != w || m.Height != h || !near(m.Image.At(4, 4), markTopLeft) {
					t.Errorf("IgnoreOrientation: orientation %d, %dx%d", m.Orientation, m.Width, m.Height)
				}
			})
		}
	}
}

func TestEXIFOrientationFixture(t *testing.T) {
	m, err := Decode(readFixture(t, "valid-exif-6.jpg"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Orientation 6: the stored top-left corner is shown top-right.
	if !near(m.Image.At(31-4, 4), markTopLeft) || !near(m.Image.At(4, 63-4), markBottomRight) {
		t.Errorf("marks not where a viewer shows them")
	}
}

func TestTIFFOrientationReader(t *testing.T) {
	body := func(bo binary.ByteOrder, o uint16) []byte { return exifOrientation(bo, o)[6:] }
	long := body(binary.LittleEndian, 0)
	binary.LittleEndian.PutUint16(long[10+2:], 4) // type LONG
	binary.LittleEndian.PutUint32(long[10+8:], 6)
	manyEntries := body(binary.BigEndian, 3)
	binary.BigEndian.PutUint16(manyEntries[8:], 0xffff) // count far beyond the data
	otherTagFirst := body(binary.BigEndian, 3)
	binary.BigEndian.PutUint16(otherTagFirst[10:], 0x0100)
	tests := []struct {
		name string
		b    []byte
		want int
	}{
		{"big-endian 8", body(binary.BigEndian, 8), 8},
		{"little-endian 5", body(binary.LittleEndian, 5), 5},
		{"LONG 6", long, 6},
		{"value 0", body(binary.BigEndian, 0), 1},
		{"value 9", body(binary.BigEndian, 9), 1},
		{"entry count beyond data", manyEntries, 3},
		{"no orientation tag", otherTagFirst, 1},
		{"empty", nil, 1},
		{"bad byte order", []byte("XX\x00*\x00\x00\x00\x08"), 1},
		{"bad magic", []byte("MM\x00+\x00\x00\x00\x08\x00\x00"), 1},
		{"IFD offset past end", []byte("MM\x00*\xff\xff\xff\xf0"), 1},
		{"IFD offset inside header", []byte("MM\x00*\x00\x00\x00\x02\x00\x01"), 1},
		{"cut in the entry", body(binary.BigEndian, 6)[:15], 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tiffOrientation(tt.b); got != tt.want {
				t.Errorf("tiffOrientation = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestJPEGOrientationReader(t *testing.T) {
	plain := encodeJPEG(t, image.NewGray(image.Rect(0, 0, 8, 8)))
	app1 := func(body string) []byte { return insertAPP1(t, plain, []byte(body)) }
	xmpThenExif := insertAPP1(t, app1("http://ns.adobe.com/xap/1.0/\x00<x/>"), exifOrientation(binary.BigEndian, 3))
	// Exif after the scan is not metadata: it is not read.
	afterScan := append(bytes.Clone(plain[:len(plain)-2]), 0xff, 0xe1, 0, 8, 'E', 'x', 'i', 'f', 0, 0, 0xff, 0xd9)
	fill := append([]byte{0xff, 0xd8, 0xff, 0xff, 0xff}, withOrientation(t, plain, 7)[3:]...)
	tests := []struct {
		name string
		b    []byte
		want int
	}{
		{"none", plain, 1},
		{"exif 7", withOrientation(t, plain, 7), 7},
		{"XMP then Exif", xmpThenExif, 3},
		{"fill bytes before a marker", fill, 7},
		{"Exif after the scan", afterScan, 1},
		{"Exif header only", app1("Exif"), 1},
		{"garbage Exif", app1("Exif\x00\x00garbage garbage garbage"), 1},
		{"segment length past the end", []byte{0xff, 0xd8, 0xff, 0xe1, 0xff, 0xff, 'E'}, 1},
		{"segment length 0", []byte{0xff, 0xd8, 0xff, 0xe1, 0x00, 0x00, 0xff, 0xd9}, 1},
		{"not at a marker", []byte{0xff, 0xd8, 0x12, 0x34, 0x56, 0x78}, 1},
		{"SOI alone", []byte{0xff, 0xd8}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := jpegOrientation(tt.b); got != tt.want {
				t.Errorf("jpegOrientation = %d, want %d", got, tt.want)
			}
		})
	}
}
