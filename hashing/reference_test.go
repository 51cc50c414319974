package hashing

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mediamatch/mediamatch/media"
)

const toleranceDir = "../testdata/pdq/tolerance"

// readTSV returns the rows of a tab-separated file, header first.
func readTSV(t testing.TB, path string) [][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		rows = append(rows, strings.Split(strings.TrimRight(line, "\r"), "\t"))
	}
	if len(rows) < 2 {
		t.Fatalf("%s: no rows", path)
	}
	return rows
}

// TestReferenceTolerance hashes the reference's real-world JPEGs the way
// the product does (media.Decode, then Image) and compares with the hashes
// the reference tool computed from libjpeg's pixels. The reference project
// accepts ports within 10 bits on images of quality 80 or more; the
// distribution is logged for the record.
func TestReferenceTolerance(t *testing.T) {
	const (
		minQuality  = 80
		maxDistance = 10
	)
	rows := readTSV(t, filepath.Join(toleranceDir, "expected.tsv"))
	if !slices.Equal(rows[0], []string{"file", "pdq", "quality"}) {
		t.Fatalf("header = %v", rows[0])
	}
	hist := map[int]int{}
	checked := 0
	for _, row := range rows[1:] {
		wantQ, err := strconv.Atoi(row[2])
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(toleranceDir, row[0]))
		if err != nil {
			t.Fatal(err)
		}
		// The reference hashes pixels in stored order.
		img, err := media.Decode(data, media.Options{IgnoreOrientation: true})
		if err != nil {
			t.Fatalf("%s: %v", row[0], err)
		}
		res, err := Image(img.Image, Options{})
		if err != nil {
			t.Fatal(err)
		}
		want, err := Parse(PDQ, row[1])
		if err != nil {
			t.Fatal(err)
		}
		d, _ := Distance(res.Hashes[0], want)
		t.Logf("%-36s distance %3d quality %3d (reference %3d)", row[0], d, res.Hashes[0].Quality, wantQ)
		if wantQ < minQuality {
			continue
		}
		checked++
		hist[d]++
		if d > maxDistance {
			t.Errorf("%s: distance %d to the reference, want <= %d", row[0], d, maxDistance)
		}
	}
	if checked < 20 {
		t.Fatalf("only %d images of reference quality >= %d checked", checked, minQuality)
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(hist)) {
		fmt.Fprintf(&b, " d%d:%d", k, hist[k])
	}
	t.Logf("distance histogram over %d images of quality >= %d:%s", checked, minQuality, b.String())
}
