package hashing

import (
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

// BenchmarkContentRegion finds the picture in a 1280x720 frame.
func BenchmarkContentRegion(b *testing.B) {
	for _, f := range benchFrames(b) {
		b.Run(f.name+"/1280x720", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ContentRegion(f.img)
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
				ContentRegion(f.img)
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
