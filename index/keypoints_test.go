package index

import (
	"image"
	"math"
	"path/filepath"
	"testing"

	"github.com/disintegration/imaging"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/keypoint"
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
		if m.Type != KeypointIndex || m.Inliers < keypoint.MinInliers || m.Distance > keypoint.MaxDistance {
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
	if x.Stats()[KeypointIndex] != 2*keypoint.StoredPoints {
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
