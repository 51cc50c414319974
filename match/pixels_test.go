package match

import (
	"image"
	"image/color"
	"path/filepath"
	"testing"

	"github.com/disintegration/imaging"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/keypoint"
	"github.com/mediamatch/mediamatch/pixels"
	"github.com/mediamatch/mediamatch/region"
	"github.com/mediamatch/mediamatch/store"
)

// imageEntry is what the server stores of an image: its hashes, regions,
// keypoints and thumbnail.
func imageEntry(t *testing.T, img image.Image) *store.Entry {
	t.Helper()
	hs, err := hashing.Image(img, hashing.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := region.Hashes(img, region.Stored)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	return &store.Entry{Bank: "b", Kind: store.KindImage, Width: b.Dx(), Height: b.Dy(), Hashes: hs.Hashes, Regions: rs,
		Keypoints: StoredKeypoints(keypoint.Detect(img, keypoint.StoredPoints)),
		Thumbnail: StoredThumbnail(pixels.Make(img, pixels.StoredSide))}
}

// imageQuery is what the server asks of an image query.
func imageQuery(t *testing.T, img image.Image) Query {
	t.Helper()
	hs, err := hashing.Image(img, hashing.Options{Dihedral: true, Transformed: true})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := region.Hashes(img, region.Query)
	if err != nil {
		t.Fatal(err)
	}
	kps, mirrored := keypoint.DetectMirrored(img, keypoint.QueryPoints)
	b := img.Bounds()
	return Query{Hashes: hs.Hashes, Dihedral: hs.Dihedral, Regions: rs, Keypoints: kps, MirroredKeypoints: mirrored,
		Thumb: pixels.Make(img, pixels.QuerySide), Width: b.Dx(), Height: b.Dy()}
}

// TestPixelPlacements: PDQ, region and keypoint evidence each place the
// query over the entry, and the pixels agree there: a turned and
// brightened copy (by its dihedral variant), the picture framed in a
// screenshot-like canvas (by its region), a crop (by keypoints). An
// unrelated photograph gets no strong pixel evidence.
func TestPixelPlacements(t *testing.T) {
	x, _ := openTestIndex(t)
	var photos []image.Image
	var ids []uint64
	for _, name := range []string{"tolerance/bridge-mods-aaa-orig.jpg", "exact/labelme-subset-q2821.png", "exact/labelme-subset-q1050.png"} {
		img, err := imaging.Open(filepath.Join("..", "testdata", "pdq", name))
		if err != nil {
			t.Fatal(err)
		}
		photos = append(photos, img)
		ids = append(ids, addOne(t, x, imageEntry(t, img)))
	}
	bridge := photos[0]
	b := bridge.Bounds()
	canvas := imaging.Paste(imaging.New(b.Dx()*2, b.Dy()*2, color.NRGBA{236, 236, 236, 255}), bridge, image.Pt(b.Dx()/3, b.Dy()/2))
	cases := []struct {
		name  string
		query image.Image
		check func(px flatMatch) bool
	}{
		{"turned and brightened", imaging.AdjustBrightness(imaging.Rotate90(bridge), 25), func(px flatMatch) bool { return px.Dihedral != 0 }},
		{"framed in a canvas", canvas, func(px flatMatch) bool { return px.QueryRegion.Kind != hashing.RegionWhole || px.Inliers > 0 }},
		{"cropped", imaging.Crop(bridge, image.Rect(b.Dx()/8, b.Dy()/10, b.Dx(), b.Dy()*9/10)), func(flatMatch) bool { return true }},
	}
	for _, c := range cases {
		res := mustMatch(t, x, imageQuery(t, c.query))
		var px *flatMatch
		for i, r := range res.Matches {
			if r.Method == MethodPixels && r.EntryID == ids[0] {
				px = &res.Matches[i]
			}
		}
		if px != nil {
			t.Logf("%s: %d dihedral %v q %+v inliers %d", c.name, px.Distance, px.Dihedral, px.QueryRegion, px.Inliers)
		}
		if px == nil || px.Distance > PixelSteps/5 || !c.check(*px) {
			t.Errorf("%s: pixel evidence %+v, want the bridge within %d", c.name, px, PixelSteps/5)
		}
	}
	other, err := imaging.Open(filepath.Join("..", "testdata", "pdq", "exact", "labelme-subset-q0291.png"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range mustMatch(t, x, imageQuery(t, other)).Matches {
		if r.Method == MethodPixels && r.Distance < PixelSteps/2 {
			t.Errorf("an unrelated photograph: pixel evidence %+v", r)
		}
	}
}
