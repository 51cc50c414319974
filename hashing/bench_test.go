package hashing

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"path/filepath"
	"testing"

	"github.com/corona10/goimagehash"
	"github.com/disintegration/imaging"

	"github.com/mediamatch/mediamatch/media"
	"github.com/mediamatch/mediamatch/pdq"
)

// benchSizes are the image sizes benchmarked: a web image, a full-HD frame
// and a 12-megapixel phone photo.
var benchSizes = []struct {
	name string
	w, h int
}{
	{"640x480", 640, 480},
	{"1920x1080", 1920, 1080},
	{"4000x3000", 4000, 3000},
}

// benchJPEG returns a real photograph scaled to w x h and encoded as a
// quality-90 JPEG.
func benchJPEG(b *testing.B, w, h int) []byte {
	b.Helper()
	src, err := imaging.Open(filepath.Join("../testdata/pdq/tolerance", "bridge-mods-aaa-orig.jpg"))
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, imaging.Resize(src, w, h, imaging.Lanczos), &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// hashers are what the benchmarks compare; goimagehash's pHash is the baseline.
var hashers = []struct {
	name string
	fn   func(image.Image) error
}{
	{"pdq", func(img image.Image) error { _, err := pdq.HashImage(img); return err }},
	{"pdq-dihedral", func(img image.Image) error { _, err := pdq.DihedralImage(img); return err }},
	{"pdq-fullres", func(img image.Image) error {
		// PDQ without the reference's pre-scaling: the tent filter over
		// every pixel.
		luma, w, h := pdq.Luma(img)
		_, err := pdq.HashLuma(luma, w, h)
		return err
	}},
	{"phash", func(img image.Image) error { _, err := goimagehash.PerceptionHash(img); return err }},
	{"pdq-transformed", func(img image.Image) error { _, err := pdq.TransformedImage(img); return err }},
	{"all", func(img image.Image) error { _, err := Image(img, Options{}); return err }},
	{"all-query", func(img image.Image) error {
		// What the server computes for an image query besides regions
		// (package region) and keypoints.
		_, err := Image(img, Options{Dihedral: true, Transformed: true})
		return err
	}},
}

// BenchmarkHashPixels hashes an already decoded JPEG (*image.YCbCr).
func BenchmarkHashPixels(b *testing.B) {
	for _, size := range benchSizes {
		img, err := jpeg.Decode(bytes.NewReader(benchJPEG(b, size.w, size.h)))
		if err != nil {
			b.Fatal(err)
		}
		for _, h := range hashers {
			b.Run(fmt.Sprintf("%s/%s", h.name, size.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := h.fn(img); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
			})
		}
	}
}

// BenchmarkHashJPEG goes from JPEG bytes to hash: sniffing, budget checks
// and decoding through package media, then hashing.
func BenchmarkHashJPEG(b *testing.B) {
	for _, size := range benchSizes {
		data := benchJPEG(b, size.w, size.h)
		for _, h := range hashers {
			if h.name == "pdq-fullres" || h.name == "pdq-dihedral" {
				continue
			}
			b.Run(fmt.Sprintf("%s/%s", h.name, size.name), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					img, err := media.Decode(data, media.Options{})
					if err != nil {
						b.Fatal(err)
					}
					if err := h.fn(img.Image); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
			})
		}
	}
}
