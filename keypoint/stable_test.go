package keypoint

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"image"
	"math"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/disintegration/imaging"
)

// TestDetectStable pins what Detect returns, to the bit, on the reference
// photographs (whole, as a sub-image, at the stored and the query count):
// banks hold the points Detect found when each entry was added, and a
// query's must be found the same way to meet them. A change of the
// detector that moves any point or descriptor bit fails here; one meant
// to (a new detector) needs stored points computed again.
//
// Pinned on amd64: Go may fuse a multiply and an add into one instruction
// on other architectures (arm64, ppc64le, s390x), which rounds once
// instead of twice.
func TestDetectStable(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skipf("the pinned points are amd64's; %s may fuse multiply-adds", runtime.GOARCH)
	}
	h := sha256.New()
	var buf [4 + 4 + 1 + 32]byte
	for _, name := range scenes {
		img := open(t, name)
		b := img.Bounds()
		sub := img.(interface {
			SubImage(image.Rectangle) image.Image
		}).SubImage(image.Rect(b.Min.X+b.Dx()/7, b.Min.Y+b.Dy()/9, b.Max.X-b.Dx()/11, b.Max.Y))
		for _, in := range []image.Image{img, sub} {
			for _, n := range []int{StoredPoints, QueryPoints} {
				for _, p := range Detect(in, n) {
					binary.LittleEndian.PutUint32(buf[0:], math.Float32bits(p.X))
					binary.LittleEndian.PutUint32(buf[4:], math.Float32bits(p.Y))
					buf[8] = p.Level
					for i, d := range p.D {
						binary.LittleEndian.PutUint64(buf[9+8*i:], d)
					}
					h.Write(buf[:])
				}
			}
		}
	}
	const want = "e76ac5e0225721aea36072e85c59e3642c2fcda226939ac03bad33e7c07fa214"
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		t.Errorf("Detect's points on the reference photographs hash to %s, pinned %s", got, want)
	}
}

// TestDetectMirrored checks DetectMirrored against Detect: the image's
// points are Detect's to the bit; the mirror image's are Detect's of a
// mirrored copy to the bit when the image is not scaled (long side up to
// baseSide), and otherwise within the scaling's rounding: nearly all of
// them agree under Verify.
func TestDetectMirrored(t *testing.T) {
	for _, name := range scenes[:4] {
		img := open(t, name)
		for _, side := range []int{400, 1000} {
			im := imaging.Resize(img, side, 0, imaging.Lanczos)
			pts, mirrored := DetectMirrored(im, QueryPoints)
			if !slices.Equal(pts, Detect(im, QueryPoints)) {
				t.Errorf("%s at %d: the image's points differ from Detect's", name, side)
			}
			want := Detect(imaging.FlipH(im), QueryPoints)
			if side <= baseSide {
				if !slices.Equal(mirrored, want) {
					t.Errorf("%s at %d: the mirror image's points differ from Detect's of a mirrored copy", name, side)
				}
				continue
			}
			b := im.Bounds().Size()
			r := Verify(mirrored, want, b, b)
			t.Logf("%s at %d: %d of %d agree", name, side, r.Inliers, len(want))
			if r.Inliers < len(want)*3/4 {
				t.Errorf("%s at %d: %d of %d mirror image points agree with Detect's of a mirrored copy, want 3/4", name, side, r.Inliers, len(want))
			}
		}
	}
}

// TestDetectConcurrent runs detections of different sizes at once: each
// takes a workspace from the pool, and none may see another's planes.
func TestDetectConcurrent(t *testing.T) {
	var imgs []image.Image
	var want [][]Point
	for i, name := range scenes[:4] {
		im := imaging.Resize(open(t, name), 200+60*i, 0, imaging.Linear)
		imgs = append(imgs, im)
		want = append(want, Detect(im, QueryPoints))
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for k := range 3 {
				i := (g + k) % len(imgs)
				if got := Detect(imgs[i], QueryPoints); !slices.Equal(got, want[i]) {
					t.Errorf("goroutine %d: image %d detected differently beside other detections", g, i)
				}
			}
		})
	}
	wg.Wait()
}
