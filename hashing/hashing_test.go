package hashing

import (
	"bytes"
	"errors"
	"image"
	"image/draw"
	"image/jpeg"
	_ "image/png"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/disintegration/imaging"

	"github.com/mediamatch/mediamatch/pdq"
)

const exactDir = "../testdata/pdq/exact"

func TestRegistry(t *testing.T) {
	want := map[string]int{PDQ: 256, PHash: 64, DHash: 64, MD5: 128, SHA256: 256}
	types := Types()
	if len(types) != len(want) {
		t.Fatalf("Types() has %d entries, want %d", len(types), len(want))
	}
	for _, ty := range types {
		if want[ty.Name] != ty.Bits {
			t.Errorf("%s: %d bits, want %d", ty.Name, ty.Bits, want[ty.Name])
		}
		if ty.Exact == (ty.Threshold > 0) {
			t.Errorf("%s: exact=%v but threshold %d", ty.Name, ty.Exact, ty.Threshold)
		}
		got, err := Lookup(ty.Name)
		if err != nil || got != ty {
			t.Errorf("Lookup(%q) = %v, %v", ty.Name, got, err)
		}
	}
	if _, err := Lookup("crc32"); !errors.Is(err, ErrUnknownType) {
		t.Errorf("Lookup(crc32) error = %v, want ErrUnknownType", err)
	}
	if p, _ := Lookup(PDQ); p.Threshold != 31 || p.MinQuality != 50 {
		t.Errorf("pdq rule = distance <= %d, quality >= %d; want 31, 50", p.Threshold, p.MinQuality)
	}
}

func TestParse(t *testing.T) {
	for _, ty := range Types() {
		t.Run(ty.Name, func(t *testing.T) {
			s := strings.Repeat("a1", ty.HexLen()/2)
			h, err := ty.Parse(strings.ToUpper(s))
			if err != nil {
				t.Fatal(err)
			}
			if h.Hex() != s || len(h.Bytes)*8 != ty.Bits || h.Type != ty.Name {
				t.Fatalf("Parse round trip = %s %q (%d bytes)", h.Type, h.Hex(), len(h.Bytes))
			}
			for _, bad := range []string{"", s[1:], s + "00", strings.Repeat("z", ty.HexLen())} {
				if _, err := ty.Parse(bad); !errors.Is(err, ErrBadHex) {
					t.Errorf("Parse(%q) error = %v, want ErrBadHex", bad, err)
				}
			}
		})
	}
	if _, err := Parse("nope", "00"); !errors.Is(err, ErrUnknownType) {
		t.Errorf("Parse(nope) error = %v", err)
	}
}

func TestDistance(t *testing.T) {
	a, _ := Parse(PHash, "ffffffffffffffff")
	b, _ := Parse(PHash, "0f0f0f0f0f0f0f0f")
	if d, err := Distance(a, b); err != nil || d != 32 {
		t.Errorf("Distance = %d, %v; want 32", d, err)
	}
	c, _ := Parse(DHash, "ffffffffffffffff")
	if _, err := Distance(a, c); !errors.Is(err, ErrMismatch) {
		t.Errorf("Distance across types error = %v, want ErrMismatch", err)
	}
}

func TestDigests(t *testing.T) {
	got := Digests([]byte("abc"))
	want := []struct{ typ, hex string }{
		{MD5, "900150983cd24fb0d6963f7d28e17f72"},
		{SHA256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	}
	if len(got) != len(want) {
		t.Fatalf("Digests returned %d hashes", len(got))
	}
	for i, w := range want {
		if got[i].Type != w.typ || got[i].Hex() != w.hex {
			t.Errorf("digest %d = %s %s, want %s %s", i, got[i].Type, got[i].Hex(), w.typ, w.hex)
		}
	}
}

func decode(t testing.TB, name string) image.Image {
	t.Helper()
	img, err := imaging.Open(filepath.Join(exactDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// expectedPDQ reads the reference PDQ hash of a test image, and its 8
// dihedral hashes in Dihedral order.
func expectedPDQ(t testing.TB, name string) (string, []string) {
	t.Helper()
	for _, f := range readTSV(t, filepath.Join(exactDir, "expected.tsv")) {
		if f[0] == name {
			return f[1], append([]string{f[1]}, f[3:]...)
		}
	}
	t.Fatalf("%s not in expected.tsv", name)
	return "", nil
}

func TestImage(t *testing.T) {
	const name = "bridge-mods-aaa-orig.png"
	img := decode(t, name)
	res, err := Image(img, Options{Dihedral: true})
	if err != nil {
		t.Fatal(err)
	}
	wantPDQ, wantDih := expectedPDQ(t, name)
	if len(res.Hashes) != 3 || res.Hashes[0].Type != PDQ || res.Hashes[1].Type != PHash || res.Hashes[2].Type != DHash {
		t.Fatalf("Image hashes = %+v, want pdq, phash, dhash", res.Hashes)
	}
	if res.Hashes[0].Hex() != wantPDQ || res.Hashes[0].Quality != 100 {
		t.Errorf("pdq = %s q%d, want %s q100", res.Hashes[0].Hex(), res.Hashes[0].Quality, wantPDQ)
	}
	if len(res.Dihedral) != pdq.NumDihedral {
		t.Fatalf("%d dihedral hashes", len(res.Dihedral))
	}
	for i, h := range res.Dihedral {
		if h.String() != wantDih[i] {
			t.Errorf("dihedral %v = %s, want %s", pdq.Dihedral(i), h, wantDih[i])
		}
	}
	plain, err := Image(img, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if plain.Dihedral != nil {
		t.Error("dihedral hashes computed without being asked for")
	}

	// A resized, re-encoded copy stays within every type's threshold; an
	// unrelated image does not.
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, imaging.Resize(img, 200, 0, imaging.Lanczos), &jpeg.Options{Quality: 60}); err != nil {
		t.Fatal(err)
	}
	edited, err := jpeg.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	near, err := Image(edited, Options{})
	if err != nil {
		t.Fatal(err)
	}
	far, err := Image(decode(t, "labelme-subset-q2821.png"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range plain.Hashes {
		ty, _ := Lookup(h.Type)
		dNear, _ := Distance(h, near.Hashes[i])
		dFar, _ := Distance(h, far.Hashes[i])
		t.Logf("%s: edited copy %d bits, unrelated %d bits", h.Type, dNear, dFar)
		if dNear > ty.Threshold {
			t.Errorf("%s: edited copy is %d bits away, threshold %d", h.Type, dNear, ty.Threshold)
		}
		if dFar <= ty.Threshold {
			t.Errorf("%s: unrelated image is only %d bits away, threshold %d", h.Type, dFar, ty.Threshold)
		}
	}
}

func TestImageTinyAndDegenerate(t *testing.T) {
	// Images the decoder accepts but that are too small to hash still hash
	// without error: PDQ gives the zero hash at quality 0. (A 3x1000 image
	// is not too small: like the reference, PDQ first scales it to 512x512.)
	for _, r := range []image.Rectangle{image.Rect(0, 0, 1, 1), image.Rect(0, 0, 3, 500), image.Rect(5, 5, 9, 9)} {
		img := image.NewRGBA(r)
		draw.Draw(img, r, image.White, image.Point{}, draw.Src)
		res, err := Image(img, Options{Dihedral: true})
		if err != nil {
			t.Fatalf("%v: %v", r, err)
		}
		if res.Hashes[0].Quality != 0 || !bytes.Equal(res.Hashes[0].Bytes, make([]byte, 32)) {
			t.Errorf("%v: pdq %s q%d, want zero hash q0", r, res.Hashes[0].Hex(), res.Hashes[0].Quality)
		}
	}
}

// TestDihedralOptionKeepsTheHash checks that asking for the dihedral
// variants never changes the PDQ hash reported, on every reference image.
func TestDihedralOptionKeepsTheHash(t *testing.T) {
	rows := readTSV(t, filepath.Join(exactDir, "expected.tsv"))
	for _, row := range rows[1:] {
		img := decode(t, row[0])
		with, err := Image(img, Options{Dihedral: true})
		if err != nil {
			t.Fatal(err)
		}
		without, err := Image(img, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if with.Hashes[0].Hex() != row[1] || without.Hashes[0].Hex() != row[1] || with.Hashes[0].Quality != without.Hashes[0].Quality {
			t.Errorf("%s: pdq %s with dihedral, %s without, reference %s", row[0], with.Hashes[0].Hex(), without.Hashes[0].Hex(), row[1])
		}
	}
}

// TestImageTypes: Options.Types computes only the hashes named, each as
// Image computes it with every type; the dihedral variants need pdq.
func TestImageTypes(t *testing.T) {
	img := decode(t, "bridge-mods-aaa-orig.png")
	all, err := Image(img, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, types := range [][]string{{PDQ}, {PHash}, {DHash, MD5}, {PDQ, DHash}} {
		res, err := Image(img, Options{Types: types})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, h := range res.Hashes {
			got = append(got, h.Type)
			for _, a := range all.Hashes {
				if a.Type == h.Type && (a.Hex() != h.Hex() || a.Quality != h.Quality) {
					t.Errorf("%v: %s %s q%d, with every type %s q%d", types, h.Type, h.Hex(), h.Quality, a.Hex(), a.Quality)
				}
			}
		}
		want := [][]string{{PDQ}, {PHash}, {DHash}, {PDQ, DHash}}[i]
		if !slices.Equal(got, want) {
			t.Errorf("%v: computed %v, want %v", types, got, want)
		}
	}
	if _, err := Image(img, Options{Dihedral: true, Types: []string{PHash}}); err == nil {
		t.Error("dihedral variants without pdq: no error")
	}
	if d := Digests([]byte("x"), SHA256); len(d) != 1 || d[0].Type != SHA256 {
		t.Errorf("Digests of sha256 alone: %+v", d)
	}
}
