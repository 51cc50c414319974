package keypoint

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"path/filepath"
	"testing"

	"github.com/disintegration/imaging"

	"github.com/mediamatch/mediamatch/internal/benchlat"
)

// scenes are distinct photographs of the reference set (each of a
// different scene, so no two should match), the detailed ones first.
var scenes = []string{
	"tolerance/bridge-mods-aaa-orig.jpg",
	"exact/reg-test-input-pen-and-coaster.png",
	"exact/labelme-subset-q0291.png",
	"exact/labelme-subset-q0746.png",
	"exact/labelme-subset-q1050.png",
	"exact/labelme-subset-q2821.png",
	"exact/labelme-subset-q0122.png",
	"exact/labelme-subset-q0003.png",
	"exact/labelme-subset-q0004.png",
	"exact/misc-images-small.png",
}

func open(t testing.TB, name string) image.Image {
	t.Helper()
	img, err := imaging.Open(filepath.Join("..", "testdata", "pdq", name))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func jpegRoundTrip(t testing.TB, img image.Image, q int) image.Image {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	out, err := jpeg.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDetect(t *testing.T) {
	img := open(t, scenes[0])
	pts := Detect(img, QueryPoints)
	if len(pts) != QueryPoints {
		t.Fatalf("%d points on a detailed photo, want %d", len(pts), QueryPoints)
	}
	b := img.Bounds()
	wx, wy := float32(b.Dx())/float32(max(b.Dx(), b.Dy())), float32(b.Dy())/float32(max(b.Dx(), b.Dy()))
	for _, p := range pts {
		if p.X < 0 || p.X > wx || p.Y < 0 || p.Y > wy || p.Level >= levels {
			t.Errorf("point %+v outside the image (%v x %v)", p, wx, wy)
		}
	}
	// The same image always gives the same points: stored descriptors
	// depend on it.
	again := Detect(img, QueryPoints)
	for i := range pts {
		if pts[i] != again[i] {
			t.Fatalf("point %d differs between runs", i)
		}
	}
	// Fewer asked, the strongest of the same.
	if few := Detect(img, StoredPoints); len(few) != StoredPoints || few[0] != pts[0] {
		t.Errorf("%d stored points", len(few))
	}
	// Nothing to find on flat or tiny images, nor on a photo of a clear
	// sky.
	if p := Detect(open(t, "exact/labelme-subset-q0003.png"), QueryPoints); len(p) != 0 {
		t.Errorf("%d points on a clear sky", len(p))
	}
	if p := Detect(imaging.New(300, 200, image.White.C), QueryPoints); len(p) != 0 {
		t.Errorf("%d points on a flat image", len(p))
	}
	if p := Detect(imaging.New(5, 5, image.Black.C), QueryPoints); len(p) != 0 {
		t.Errorf("%d points on a 5x5 image", len(p))
	}
	// Odd shapes: a line, a strip, a thin banner of a huge image.
	for _, name := range []string{"exact/synth-1x300.png", "exact/synth-512x17.png", "exact/synth-63x65.png", "exact/synth-checker.png", "exact/synth-noise64.png"} {
		for _, p := range Detect(open(t, name), QueryPoints) {
			if !(p.X >= 0 && p.X <= 1 && p.Y >= 0 && p.Y <= 1) {
				t.Errorf("%s: point %+v outside the image", name, p)
			}
		}
	}
	if p := Detect(imaging.New(20000, 9, image.White.C), QueryPoints); len(p) != 0 {
		t.Errorf("%d points on a 20000x9 banner", len(p))
	}
}

// TestVerifyCrops checks that crops of real photos, plain, scaled back up,
// JPEG-compressed, or small windows of them, match the photo, and that the
// scale and shift found put the crop where it was cut from.
func TestVerifyCrops(t *testing.T) {
	for _, name := range scenes[:6] {
		img := open(t, name)
		b := img.Bounds()
		w, h := b.Dx(), b.Dy()
		long := float64(max(w, h))
		stored := Detect(img, StoredPoints)
		for _, c := range []struct {
			name    string
			r       image.Rectangle
			resize  bool
			quality int
		}{
			{"crop 15% off the top left", image.Rect(w*15/100, h*15/100, w, h), false, 0},
			{"crop 15% split", image.Rect(w*5/100, h*10/100, w*90/100, h*95/100), false, 0},
			{"crop 15% blown up to the original size", image.Rect(w*10/100, h*5/100, w*95/100, h*90/100), true, 0},
			{"crop 15%, JPEG 50", image.Rect(0, h*15/100, w*85/100, h), false, 50},
			{"window of 70%", image.Rect(w*25/100, h*5/100, w*95/100, h*75/100), false, 0},
		} {
			t.Run(fmt.Sprintf("%s/%s", filepath.Base(name), c.name), func(t *testing.T) {
				var q image.Image = imaging.Crop(img, c.r.Add(b.Min))
				if c.resize {
					q = imaging.Resize(q, w, 0, imaging.Lanczos)
				}
				if c.quality > 0 {
					q = jpegRoundTrip(t, q, c.quality)
				}
				res := Verify(Detect(q, QueryPoints), stored, q.Bounds().Size(), b.Size())
				if !res.Matched(MinInliers, MinSpread) {
					t.Fatalf("%d inliers spread over %.2f, want at least %d over %.2f", res.Inliers, res.Spread, MinInliers, MinSpread)
				}
				// The query's origin lands at the crop's corner; its scale
				// is crop pixels to query pixels over the long sides.
				qb := q.Bounds()
				wantScale := float64(c.r.Dx()) / float64(qb.Dx()) * float64(max(qb.Dx(), qb.Dy())) / long
				if math.Abs(res.ShiftX-float64(c.r.Min.X)/long) > 0.01 || math.Abs(res.ShiftY-float64(c.r.Min.Y)/long) > 0.01 || math.Abs(res.Scale/wantScale-1) > 0.015 {
					t.Errorf("transform %+v, want scale %.3f shift (%.3f, %.3f)", res, wantScale, float64(c.r.Min.X)/long, float64(c.r.Min.Y)/long)
				}
			})
		}
	}
}

// TestVerifyRotated checks a turned re-post: the picture rotated by a few
// degrees, then cropped to lose the wedges, is found with its angle in
// most cases (the descriptors are sampled upright, so agreement thins out
// as the angle grows: 13 of these 18 on the day this was written).
func TestVerifyRotated(t *testing.T) {
	found, tried := 0, 0
	for _, name := range scenes[:6] {
		img := open(t, name)
		stored := Detect(img, StoredPoints)
		b := img.Bounds()
		for _, deg := range []float64{-8, 5, 12} {
			tried++
			q := imaging.CropCenter(imaging.Rotate(img, deg, color.Black), b.Dx()*8/10, b.Dy()*8/10)
			res := Verify(Detect(q, QueryPoints), stored, q.Bounds().Size(), b.Size())
			if !res.Matched(MinInliers, MinSpread) {
				t.Logf("%s turned %g degrees: %d inliers spread over %.2f", filepath.Base(name), deg, res.Inliers, res.Spread)
				continue
			}
			found++
			// imaging.Rotate turns counter-clockwise; the transform takes
			// the query back, in image coordinates (y down).
			if got := res.Angle * 180 / math.Pi; math.Abs(got-deg) > 1.5 {
				t.Errorf("%s turned %g degrees: angle %.1f", filepath.Base(name), deg, got)
			}
		}
	}
	if found < tried*2/3 {
		t.Errorf("%d of %d turned pictures found, want at least %d", found, tried, tried*2/3)
	}
}

// TestVerifyUnrelated checks that distinct photos never match, even when
// one is cropped, and keeps the largest agreement well under MinInliers.
func TestVerifyUnrelated(t *testing.T) {
	var pts [][]Point
	var sizes []image.Point
	for _, name := range scenes {
		img := open(t, name)
		pts = append(pts, Detect(img, QueryPoints))
		sizes = append(sizes, img.Bounds().Size())
	}
	most := 0
	for i := range scenes {
		for j := range scenes {
			if i == j {
				continue
			}
			res := Verify(pts[i], pts[j][:min(len(pts[j]), StoredPoints)], sizes[i], sizes[j])
			most = max(most, res.Inliers)
			if res.Matched(MinInliers, MinSpread) {
				t.Errorf("%s matched %s: %+v", scenes[i], scenes[j], res)
			}
		}
	}
	t.Logf("most agreeing pairs between distinct photos: %d", most)
	if most > MinInliers/2 {
		t.Errorf("distinct photos agree on %d pairs, too near the %d of a match", most, MinInliers)
	}
	// A shared corner: the query's bottom right is the entry's top left
	// (a watermark in opposite corners). The points agree, but the images
	// overlap in a sliver, which is not a match.
	img := open(t, scenes[0])
	b := img.Bounds()
	corner := imaging.Crop(img, image.Rect(0, 0, b.Dx()/3, b.Dy()/3))
	query := imaging.Paste(imaging.New(b.Dx(), b.Dy(), image.White.C), corner, image.Pt(b.Dx()-corner.Bounds().Dx(), b.Dy()-corner.Bounds().Dy()))
	entry := imaging.Paste(imaging.New(b.Dx(), b.Dy(), image.White.C), corner, image.Point{})
	res := Verify(Detect(query, QueryPoints), Detect(entry, StoredPoints), b.Size(), b.Size())
	if res.Matched(MinInliers, MinSpread) {
		t.Errorf("a corner shared in opposite corners matched: %+v", res)
	}
	if res.Inliers < MinInliers {
		// Then the test would pass without the overlap rule.
		t.Errorf("the shared corner gave only %d inliers: the case no longer tests the overlap rule", res.Inliers)
	}
	if r := Verify(nil, pts[0], sizes[0], sizes[0]); r.Inliers != 0 || r.Matched(MinInliers, MinSpread) {
		t.Errorf("empty query: %+v", r)
	}
}

func BenchmarkDetect(b *testing.B) {
	img := open(b, scenes[0])
	for _, size := range []int{640, 1920} {
		im := imaging.Resize(img, size, 0, imaging.Lanczos)
		b.Run(fmt.Sprintf("%dx%d", im.Bounds().Dx(), im.Bounds().Dy()), func(b *testing.B) {
			b.ReportAllocs()
			cpu := benchlat.CPUTime()
			for b.Loop() {
				Detect(im, QueryPoints)
			}
			benchlat.ReportCPU(b, cpu)
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	img := open(b, scenes[0])
	stored := Detect(img, StoredPoints)
	query := Detect(open(b, scenes[1]), QueryPoints)
	for b.Loop() {
		Verify(query, stored, image.Pt(640, 480), image.Pt(640, 480))
	}
}
