package match

import (
	"image"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/disintegration/imaging"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/index"
	"github.com/mediamatch/mediamatch/keypoint"
	"github.com/mediamatch/mediamatch/pdq"
	"github.com/mediamatch/mediamatch/pixels"
	"github.com/mediamatch/mediamatch/store"
)

// TestMatchKeypoints stores two real photos with their keypoints and
// matches crops of one: found by keypoints alone (the query carries no
// hash that matches), with the part of the entry it shows; kept across a
// restart; gone once the entry is removed; and not run when the query
// asks for particular hash types.
func TestMatchKeypoints(t *testing.T) {
	x, _ := openTestIndex(t)
	var ids []uint64
	var photos []image.Image
	for i, name := range []string{"tolerance/bridge-mods-aaa-orig.jpg", "exact/labelme-subset-q2821.png"} {
		img, err := imaging.Open(filepath.Join("..", "testdata", "pdq", name))
		if err != nil {
			t.Fatal(err)
		}
		b := img.Bounds()
		photos = append(photos, img)
		ids = append(ids, addOne(t, x, &store.Entry{Bank: "b", Kind: store.KindImage, Width: b.Dx(), Height: b.Dy(),
			Hashes:    []hashing.Hash{{Type: hashing.MD5, Bytes: append(make([]byte, 15), byte(i))}},
			Keypoints: StoredKeypoints(keypoint.Detect(img, keypoint.StoredPoints))}))
	}
	b := photos[0].Bounds()
	w, h := b.Dx(), b.Dy()
	cut := image.Rect(w*12/100, h*3/100, w*97/100, h*88/100)
	crop := imaging.Crop(photos[0], cut)
	query := func() Query {
		return Query{Keypoints: keypoint.Detect(crop, keypoint.QueryPoints), Width: cut.Dx(), Height: cut.Dy(), MinQuality: -1}
	}
	check := func(x *testIndex) {
		t.Helper()
		m := onlyMatch(t, mustMatch(t, x, query()), ids[0])
		if m.Type != KeypointType || m.Inliers < x.rules.KeypointMinInliers || m.Distance > keypoint.MaxDistance {
			t.Errorf("match %+v", m)
		}
		want := []float64{float64(cut.Min.X) / float64(w), float64(cut.Min.Y) / float64(h), float64(cut.Dx()) / float64(w), float64(cut.Dy()) / float64(h)}
		got := []float32{m.EntryRegion.Box.Left, m.EntryRegion.Box.Top, m.EntryRegion.Box.Width, m.EntryRegion.Box.Height}
		for i := range want {
			if math.Abs(float64(got[i])-want[i]) > 0.02 {
				t.Errorf("entry region %+v, want the crop %v", m.EntryRegion, want)
				break
			}
		}
	}
	check(x)
	if x.Stats()[index.KeypointIndex] != 2*keypoint.StoredPoints {
		t.Errorf("stats: %v", x.Stats())
	}
	q := query()
	q.Types = []string{hashing.PDQ}
	if res := mustMatch(t, x, q); len(res.Matches) != 0 {
		t.Errorf("keypoints matched with types %v: %+v", q.Types, res.Matches)
	}

	// The keypoints are in the store: a restart finds the crop again.
	x = x.reopen(t)
	check(x)
	x.remove(t, ids[0])
	if res := mustMatch(t, x, query()); len(res.Matches) != 0 {
		t.Errorf("removed entry matched: %+v", res.Matches)
	}
	if x.Entries() != 1 {
		t.Errorf("%d entries after removal, want 1", x.Entries())
	}
}

// TestKeypointsMirroredAndChrome checks the query's mirror image: a
// mirrored crop is found by keypoints (reported as pdq.FlipY), and not
// without the mirrored points; and that shared parts alone are no
// evidence: when only some of the entry's keypoints in what the query shows
// agree (the same sidebar and toolbar, a different page), coverage is
// under Rules.KeypointMinCoverage and nothing matches.
func TestKeypointsMirroredAndChrome(t *testing.T) {
	open := func(name string) image.Image {
		img, err := imaging.Open(filepath.Join("..", "testdata", "pdq", name))
		if err != nil {
			t.Fatal(err)
		}
		return imaging.Resize(img, 640, 480, imaging.Lanczos)
	}
	x, _ := openTestIndex(t)
	add := func(img image.Image, n byte) uint64 {
		b := img.Bounds()
		return addOne(t, x, &store.Entry{Bank: "b", Kind: store.KindImage, Width: b.Dx(), Height: b.Dy(),
			Hashes:    []hashing.Hash{{Type: hashing.MD5, Bytes: append(make([]byte, 15), n)}},
			Keypoints: StoredKeypoints(keypoint.Detect(img, keypoint.StoredPoints))})
	}
	photo := open("tolerance/bridge-mods-aaa-orig.jpg")
	id := add(photo, 1)
	crop := imaging.FlipH(imaging.Crop(photo, image.Rect(40, 20, 600, 450)))
	q := Query{Keypoints: keypoint.Detect(crop, keypoint.QueryPoints), Width: crop.Bounds().Dx(), Height: crop.Bounds().Dy(), MinQuality: -1}
	if res := mustMatch(t, x, q); len(res.Matches) != 0 {
		t.Errorf("a mirrored crop matched without its mirror image's points: %+v", res.Matches)
	}
	q.MirroredKeypoints = keypoint.Detect(imaging.FlipH(crop), keypoint.QueryPoints)
	if m := onlyMatch(t, mustMatch(t, x, q), id); m.Method != MethodKeypoints || m.Dihedral != pdq.FlipY {
		t.Errorf("mirrored crop: %+v", m)
	}

	// Shared parts alone: an entry whose 32 keypoints spread over the
	// picture, and a query showing all of it in which only some points
	// agree (a shared sidebar and toolbar, the rest of the page different).
	rng := rand.New(rand.NewPCG(5, 5))
	entryPts := make([]keypoint.Point, keypoint.StoredPoints)
	for i := range entryPts {
		entryPts[i] = keypoint.Point{X: float32(0.05 + 0.9*rng.Float64()), Y: float32(0.05 + 0.65*rng.Float64())}
		for k := range entryPts[i].D {
			entryPts[i].D[k] = rng.Uint64()
		}
	}
	shared := addOne(t, x, &store.Entry{Bank: "b", Kind: store.KindImage, Width: 1000, Height: 750,
		Hashes:    []hashing.Hash{{Type: hashing.MD5, Bytes: append(make([]byte, 15), 9)}},
		Keypoints: StoredKeypoints(entryPts)})
	query := func(agree int) Query {
		pts := slices.Clone(entryPts)
		for i := agree; i < len(pts); i++ {
			for k := range pts[i].D {
				pts[i].D[k] = rng.Uint64()
			}
		}
		return Query{Keypoints: pts, Width: 1000, Height: 750, MinQuality: -1}
	}
	for _, c := range []struct {
		agree int
		want  bool
	}{{12, false}, {15, false}, {17, true}, {24, true}} {
		found := false
		for _, m := range mustMatch(t, x, query(c.agree)).Matches {
			found = found || (m.EntryID == shared && m.Method == MethodKeypoints)
		}
		if found != c.want {
			t.Errorf("%d of 32 points agreeing (coverage %.2f, rule %.2f): matched %v, want %v", c.agree, float64(c.agree)/32, x.rules.KeypointMinCoverage, found, c.want)
		}
	}

}

// TestPixelEvidence stores real photos with their keypoints and
// thumbnails. A mirrored, brightened crop of one is checked against its
// thumbnail under the similarity its keypoints found, and nearly all of
// what it shows agrees; a picture that shares only its left part with
// the entry, and the same crop against an entry stored without a
// thumbnail, give no strong pixel evidence.
func TestPixelEvidence(t *testing.T) {
	x, _ := openTestIndex(t)
	var ids []uint64
	var photos []image.Image
	for i, name := range []string{"tolerance/bridge-mods-aaa-orig.jpg", "exact/labelme-subset-q2821.png", "exact/labelme-subset-q1050.png"} {
		img, err := imaging.Open(filepath.Join("..", "testdata", "pdq", name))
		if err != nil {
			t.Fatal(err)
		}
		b := img.Bounds()
		photos = append(photos, img)
		e := &store.Entry{Bank: "b", Kind: store.KindImage, Width: b.Dx(), Height: b.Dy(),
			Hashes:    []hashing.Hash{{Type: hashing.MD5, Bytes: append(make([]byte, 15), byte(i))}},
			Keypoints: StoredKeypoints(keypoint.Detect(img, keypoint.StoredPoints))}
		if i < 2 {
			e.Thumbnail = StoredThumbnail(pixels.Make(img, pixels.StoredSide))
		}
		ids = append(ids, addOne(t, x, e))
	}
	query := func(img image.Image) Query {
		b := img.Bounds()
		kps, mirrored := keypoint.DetectMirrored(img, keypoint.QueryPoints)
		return Query{Keypoints: kps, MirroredKeypoints: mirrored, Thumb: pixels.Make(img, pixels.QuerySide), Width: b.Dx(), Height: b.Dy(), MinQuality: -1}
	}
	crop := func(img image.Image) image.Image {
		b := img.Bounds()
		return imaging.Crop(img, image.Rect(b.Dx()*8/100, b.Dy()*5/100, b.Dx()*93/100, b.Dy()*90/100))
	}
	res := mustMatch(t, x, query(imaging.AdjustBrightness(imaging.FlipH(crop(photos[0])), 15)))
	px := methodRow(t, res, MethodPixels)
	t.Logf("pixels %d inliers %d; %d rows", px.Distance, px.Inliers, len(res.Matches))
	if px.EntryID != ids[0] || px.Distance > PixelSteps/5 || px.Dihedral != pdq.FlipY || px.Inliers < x.rules.PixelMinInliers {
		t.Errorf("a mirrored, brightened crop: pixel evidence %+v, want entry %d within %d, mirrored", px, ids[0], PixelSteps/5)
	}
	// The left 40% of the bridge beside the right 60% of another photo,
	// at the bridge's size: its keypoints may agree on the shared part,
	// but the rest of what the transform lays over the entry differs.
	b := photos[0].Bounds()
	mixed := imaging.Paste(imaging.Resize(photos[1], b.Dx(), b.Dy(), imaging.Linear), imaging.Crop(photos[0], image.Rect(0, 0, b.Dx()*4/10, b.Dy())), image.Pt(0, 0))
	for _, r := range mustMatch(t, x, query(mixed)).Matches {
		if r.Method == MethodPixels && r.Distance < PixelSteps/2 {
			t.Errorf("a picture sharing 40%% with entry %d: pixel evidence %+v", ids[0], r)
		}
	}
	for _, r := range mustMatch(t, x, query(crop(photos[2]))).Matches {
		if r.Method == MethodPixels {
			t.Errorf("an entry without a thumbnail gave pixel evidence %+v", r)
		}
	}
}
