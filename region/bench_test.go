package region

import (
	"fmt"
	"image"
	"image/color/palette"
	"image/draw"
	"path/filepath"
	"testing"

	"github.com/disintegration/imaging"
)

// benchFrames returns a 1280x720 frame as the matcher sees one: a captioned
// photo pillarboxed to 16:9, decoded from JPEG (*image.YCbCr), and the same
// pixels in the other types: the fast paths, the image.RGBA64Image path
// (RGBA64; Paletted, as GIF frames are, with web-safe colours) and the
// At() fallback.
func benchFrames(b *testing.B) []struct {
	name string
	img  image.Image
} {
	b.Helper()
	photo := imaging.Resize(openPhoto(b, filepath.Join(toleranceDir, "bridge-mods-aaa-orig.jpg")), 0, 600, imaging.Lanczos)
	captioned, _ := addCaptions(b, photo, white, black, true, false)
	frame := imaging.PasteCenter(imaging.New(1280, 720, black), captioned)
	ycc := reencode(b, frame, 85)
	convert := func(dst draw.Image) image.Image {
		draw.Draw(dst, dst.Bounds(), ycc, image.Point{}, draw.Src)
		return dst
	}
	r := ycc.Bounds()
	return []struct {
		name string
		img  image.Image
	}{
		{"YCbCr", ycc},
		{"NRGBA", convert(image.NewNRGBA(r))},
		{"RGBA", convert(image.NewRGBA(r))},
		{"Gray", convert(image.NewGray(r))},
		{"RGBA64", convert(image.NewRGBA64(r))},
		{"Paletted", convert(image.NewPaletted(r, palette.WebSafe))},
		{"generic", generic{ycc}},
	}
}

// BenchmarkContent finds the picture in a 1280x720 frame.
func BenchmarkContent(b *testing.B) {
	for _, f := range benchFrames(b) {
		b.Run(f.name+"/1280x720", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Content(f.img)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}

// BenchmarkRegions is what the matcher does with a frame: both regions.
func BenchmarkRegions(b *testing.B) {
	for _, f := range benchFrames(b) {
		b.Run(f.name+"/1280x720", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				TrimBorders(f.img)
				Content(f.img)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}

// BenchmarkTrimBorders trims the bars of a 1280x720 frame.
func BenchmarkTrimBorders(b *testing.B) {
	for _, f := range benchFrames(b) {
		b.Run(f.name+"/1280x720", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				TrimBorders(f.img)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}

// BenchmarkHashes computes the stored and the query regions' hashes of a
// decoded JPEG photo (*image.YCbCr) at a web size and at full HD.
func BenchmarkHashes(b *testing.B) {
	photo := openPhoto(b, filepath.Join(toleranceDir, "bridge-mods-aaa-orig.jpg"))
	for _, size := range [][2]int{{640, 480}, {1920, 1080}} {
		img := reencode(b, imaging.Resize(photo, size[0], size[1], imaging.Lanczos), 90)
		for _, set := range []struct {
			name string
			set  Set
		}{{"stored", Stored}, {"query", Query}} {
			b.Run(fmt.Sprintf("%s/%dx%d", set.name, size[0], size[1]), func(b *testing.B) {
				for b.Loop() {
					if _, err := Hashes(img, set.set); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
