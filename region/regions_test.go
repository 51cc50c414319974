package region

import (
	"image"
	"image/color"
	"math"
	"math/bits"
	"testing"

	"github.com/corona10/goimagehash"
	"github.com/disintegration/imaging"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/pdq"
)

// TestRegions checks which region hashes each side computes, and that the
// trimmed region of a bordered photo hashes as the photo does.
func TestRegions(t *testing.T) {
	photo, err := imaging.Open("../testdata/pdq/tolerance/bridge-mods-aaa-orig.jpg")
	if err != nil {
		t.Fatal(err)
	}
	photo = imaging.Resize(photo, 400, 0, imaging.Lanczos)
	want, err := pdq.HashImage(photo)
	if err != nil {
		t.Fatal(err)
	}
	pb := photo.Bounds()
	framed := imaging.Paste(imaging.New(pb.Dx()+40, pb.Dy()+40, color.NRGBA{200, 20, 20, 255}), photo, image.Pt(20, 20))

	kinds := func(rs []hashing.RegionHash) map[hashing.RegionKind]int {
		m := map[hashing.RegionKind]int{}
		for _, r := range rs {
			m[r.Kind]++
		}
		return m
	}
	stored, err := Hashes(photo, Stored)
	if err != nil {
		t.Fatal(err)
	}
	if k := kinds(stored); k[hashing.RegionWindow] != 3 || k[hashing.RegionTrimmed] != 0 || k[hashing.RegionContent] != 0 {
		t.Errorf("stored regions of a plain photo: %v", k)
	}
	for _, r := range stored {
		if math.Abs(float64(r.Box.Left+r.Box.Width/2)-0.5) > 0.01 || math.Abs(float64(r.Box.Top+r.Box.Height/2)-0.5) > 0.01 {
			t.Errorf("window %+v is not central", r.Box)
		}
		// Its pHash is the window's, within a bit or two (it is taken
		// from a smaller copy when the image is large; this one is not).
		x0, y0 := int(r.Box.Left*float32(pb.Dx())+0.5), int(r.Box.Top*float32(pb.Dy())+0.5)
		win := imaging.Crop(photo, image.Rect(x0, y0, x0+int(r.Box.Width*float32(pb.Dx())+0.5), y0+int(r.Box.Height*float32(pb.Dy())+0.5)))
		ph, err := goimagehash.PerceptionHash(win)
		if err != nil {
			t.Fatal(err)
		}
		if d := bits.OnesCount64(ph.GetHash() ^ r.PHash); !r.HasPHash || d > 2 {
			t.Errorf("window %+v: pHash set %v, %d bits from the window's", r.Box, r.HasPHash, d)
		}
	}
	// On a large image, from the smaller copy: still within a few bits.
	large := imaging.Resize(photo, 1600, 0, imaging.Lanczos)
	big, err := Hashes(large, Stored)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range big {
		if r.Kind != hashing.RegionWindow || r.Box.Width < 0.94 {
			continue
		}
		lb := large.Bounds()
		x0, y0 := int(r.Box.Left*float32(lb.Dx())+0.5), int(r.Box.Top*float32(lb.Dy())+0.5)
		win := imaging.Crop(large, image.Rect(x0, y0, x0+int(r.Box.Width*float32(lb.Dx())+0.5), y0+int(r.Box.Height*float32(lb.Dy())+0.5)))
		ph, err := goimagehash.PerceptionHash(win)
		if err != nil {
			t.Fatal(err)
		}
		if d := bits.OnesCount64(ph.GetHash() ^ r.PHash); d > 4 {
			t.Errorf("large image's 95%% window: pHash %d bits from the window's", d)
		}
	}
	query, err := Hashes(framed, Query)
	if err != nil {
		t.Fatal(err)
	}
	k := kinds(query)
	if k[hashing.RegionTrimmed] != 1 || k[hashing.RegionWindow] != 4 {
		t.Fatalf("query regions of a framed photo: %v", k)
	}
	for _, r := range query {
		if r.Kind != hashing.RegionTrimmed {
			continue
		}
		if d := pdq.Distance(r.Hash, want.Hash); d > 8 {
			t.Errorf("trimmed region is %d bits from the photo", d)
		}
		fw, fh := float32(framed.Bounds().Dx()), float32(framed.Bounds().Dy())
		if math.Abs(float64(r.Box.Left-20/fw)) > 0.005 || math.Abs(float64(r.Box.Width-float32(pb.Dx())/fw)) > 0.005 || math.Abs(float64(r.Box.Height-float32(pb.Dy())/fh)) > 0.005 {
			t.Errorf("trimmed box %+v", r.Box)
		}
	}
	// Too small to have parts.
	if rs, err := Hashes(imaging.New(40, 40, color.White), Query); err != nil || len(rs) != 0 {
		t.Errorf("tiny image: %v, %v", rs, err)
	}
}
