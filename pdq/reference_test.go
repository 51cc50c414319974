package pdq

import (
	"bufio"
	"image"
	_ "image/png"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The reference vectors: hashes that Meta's C++ pdq-photo-hasher computed
// for the images beside them (see testdata/pdq/README.md).
// The tolerance set, real JPEGs, is checked in package hashing, through the
// decoder the product uses.
const exactDir = "../testdata/pdq/exact"

// readTSV returns the rows of a tab-separated file with a header line.
func readTSV(t testing.TB, path string) (header []string, rows [][]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			continue
		}
		fields := strings.Split(line, "\t")
		if header == nil {
			header = fields
			continue
		}
		if len(fields) != len(header) {
			t.Fatalf("%s: row %q has %d fields, want %d", path, fields[0], len(fields), len(header))
		}
		rows = append(rows, fields)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatalf("%s: no rows", path)
	}
	return header, rows
}

func decodeFile(t testing.TB, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
	return img
}

func TestReferenceExact(t *testing.T) {
	header, rows := readTSV(t, filepath.Join(exactDir, "expected.tsv"))
	want := []string{"file", "pdq", "quality", "rot90", "rot180", "rot270", "flipx", "flipy", "flip_plus1", "flip_minus1"}
	if !slices.Equal(header, want) {
		t.Fatalf("expected.tsv header = %v, want %v", header, want)
	}
	for _, row := range rows {
		t.Run(row[0], func(t *testing.T) {
			img := decodeFile(t, filepath.Join(exactDir, row[0]))
			wantQ, err := strconv.Atoi(row[2])
			if err != nil {
				t.Fatal(err)
			}
			got, err := HashImage(img)
			if err != nil {
				t.Fatal(err)
			}
			if got.Hash.String() != row[1] || got.Quality != wantQ {
				t.Errorf("HashImage = %s q%d, want %s q%d (distance %d)",
					got.Hash, got.Quality, row[1], wantQ, distanceHex(t, got.Hash, row[1]))
			}
			dih, err := DihedralImage(img)
			if err != nil {
				t.Fatal(err)
			}
			if dih.Quality != wantQ {
				t.Errorf("DihedralImage quality = %d, want %d", dih.Quality, wantQ)
			}
			// The reference tool prints the original from its dihedral
			// entry point too, so compare all eight.
			wantHex := append([]string{row[1]}, row[3:]...)
			for d := range Dihedral(NumDihedral) {
				if g := dih.Hashes[d].String(); g != wantHex[d] {
					t.Errorf("%v = %s, want %s (distance %d)", d, g, wantHex[d], distanceHex(t, dih.Hashes[d], wantHex[d]))
				}
			}
		})
	}
}

func distanceHex(t testing.TB, h Hash, s string) int {
	t.Helper()
	w, err := ParseHex(s)
	if err != nil {
		t.Fatal(err)
	}
	return Distance(h, w)
}
