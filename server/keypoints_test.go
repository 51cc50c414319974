package server

import (
	"image"
	"math"
	"testing"

	"github.com/disintegration/imaging"

	"github.com/mediamatch/mediamatch/keypoint"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
)

// TestKeypointMatch checks, end to end over gRPC, that a 15% crop of a
// banked photo, which defeats every whole-image and region hash, is found
// by keypoints, with the part of the entry it shows.
func TestKeypointMatch(t *testing.T) {
	ts := startServer(t, "", Options{})
	ts.createBank("b")
	orig := readImage(t, "bridge-mods-aaa-orig.png")
	entry := ts.addMedia("b", encodePNG(t, orig), nil).GetEntry()
	b := orig.Bounds()
	w, h := b.Dx(), b.Dy()
	cut := image.Rect(w*15/100, 0, w, h*85/100)
	// Keypoint evidence for a crop is weaker than the default budget on
	// the calibration's negatives (BENCHMARKS.md): the crop comes back for
	// review, with what supports it.
	res := ts.matchMedia(encodePNG(t, imaging.Crop(orig, cut)), &pb.MatchOptions{IncludeReview: true})
	m := byMethod(res, entry.GetName(), "keypoints")
	if p := pdqMatch(res, entry.GetName()); p != nil {
		t.Logf("also matched by pdq: %v", p)
	}
	if m == nil {
		t.Fatalf("crop not matched by keypoints: %v", res.GetMatches())
	}
	if m.GetKeypointInliers() < int32(keypoint.MinInliers) {
		t.Errorf("%d inliers", m.GetKeypointInliers())
	}
	r := m.GetEntryRegion()
	if math.Abs(float64(r.GetLeft())-0.15) > 0.02 || math.Abs(float64(r.GetTop())) > 0.02 || math.Abs(float64(r.GetWidth())-0.85) > 0.02 || math.Abs(float64(r.GetHeight())-0.85) > 0.02 {
		t.Errorf("entry region %v, want the crop's", r)
	}
	// An unrelated photo finds nothing by keypoints.
	other := ts.matchMedia(encodePNG(t, readImage(t, "labelme-subset-q2821.png")), nil)
	for _, x := range other.GetMatches() {
		t.Errorf("unrelated photo matched: %v", x)
	}
}

// TestMatchHashTypes checks that a match's hash_types choose what the
// upload is hashed and matched for: "keypoints" alone still finds the crop
// by keypoints, with no whole-image hash computed; "pdq" alone finds the
// photo itself by PDQ, with no keypoint evidence and no pHash or dHash.
func TestMatchHashTypes(t *testing.T) {
	ts := startServer(t, "", Options{})
	ts.createBank("b")
	orig := readImage(t, "bridge-mods-aaa-orig.png")
	entry := ts.addMedia("b", encodePNG(t, orig), nil).GetEntry()
	b := orig.Bounds()
	crop := encodePNG(t, imaging.Crop(orig, image.Rect(b.Dx()*15/100, 0, b.Dx(), b.Dy()*85/100)))

	res := ts.matchMedia(crop, &pb.MatchOptions{IncludeReview: true, HashTypes: []string{"keypoints"}})
	if byMethod(res, entry.GetName(), "keypoints") == nil {
		t.Errorf("hash_types [keypoints]: the crop was not matched by keypoints: %v", res.GetMatches())
	}
	if hs := res.GetQuery().GetHashes(); len(hs) != 0 {
		t.Errorf("hash_types [keypoints]: the query was hashed for %v", hs)
	}
	// The mirrored crop too: dihedral matching (the default) asks for the
	// mirror image's keypoints whatever the hash types.
	mirrored := encodePNG(t, imaging.FlipH(imaging.Crop(orig, image.Rect(b.Dx()*15/100, 0, b.Dx(), b.Dy()*85/100))))
	res = ts.matchMedia(mirrored, &pb.MatchOptions{IncludeReview: true, HashTypes: []string{"keypoints"}})
	if byMethod(res, entry.GetName(), "keypoints") == nil {
		t.Errorf("hash_types [keypoints]: the mirrored crop was not matched by keypoints: %v", res.GetMatches())
	}

	res = ts.matchMedia(encodePNG(t, orig), &pb.MatchOptions{IncludeReview: true, HashTypes: []string{"pdq"}})
	if pdqMatch(res, entry.GetName()) == nil {
		t.Fatalf("hash_types [pdq]: the photo was not matched by pdq: %v", res.GetMatches())
	}
	for _, m := range res.GetMatches() {
		for _, e := range m.GetEvidence() {
			if e.GetHashType() != "pdq" {
				t.Errorf("hash_types [pdq]: evidence of type %q: %v", e.GetHashType(), e)
			}
		}
	}
	hs := res.GetQuery().GetHashes()
	if len(hs) == 0 {
		t.Error("hash_types [pdq]: the query has no hashes")
	}
	for _, h := range hs {
		if h.GetType() != "pdq" { // the image's, its variants' and its regions'
			t.Errorf("hash_types [pdq]: the query was hashed for %q too", h.GetType())
		}
	}
}
