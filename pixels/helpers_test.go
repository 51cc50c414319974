package pixels

import (
	"image"
	"path/filepath"
	"testing"

	"github.com/disintegration/imaging"
)

// photos are real photographs kept in testdata (the PDQ reference's).
// The last is a clear sky, which has nothing to compare (flatPhoto).
var photos = []string{"bridge-mods-aaa-orig", "labelme-subset-q0122", "labelme-subset-q0291", "labelme-subset-q0746",
	"labelme-subset-q1050", "labelme-subset-q2821", "reg-test-input-pen-and-coaster"}

const flatPhoto = -1

func photoFile(i int) string {
	if i == flatPhoto {
		return "labelme-subset-q0003"
	}
	return photos[i]
}

func photo(t testing.TB, i int) image.Image {
	t.Helper()
	img, err := imaging.Open(filepath.Join("..", "testdata", "pdq", "exact", photoFile(i)+".png"))
	if err != nil {
		t.Fatal(err)
	}
	return img
}
