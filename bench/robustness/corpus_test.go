package robustness

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/disintegration/imaging"
)

const (
	toleranceDir = "../../testdata/pdq/tolerance"
	exactDir     = "../../testdata/pdq/exact"
)

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func saveImage(t *testing.T, path string, img image.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := imaging.Save(img, path); err != nil {
		t.Fatal(err)
	}
}

func junk(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestRobustnessCarveFindsEmbeddedImages(t *testing.T) {
	jpg := readFile(t, filepath.Join(toleranceDir, "labelme-subset-q1050.jpg"))
	png := readFile(t, filepath.Join(exactDir, "synth-plasma.png"))
	var blob []byte
	blob = append(blob, junk(1000, 1)...)
	blob = append(blob, 0xff, 0xd8, 0xff, 0x00, 0x01) // a stray signature
	blob = append(blob, junk(500, 2)...)
	jpgAt := len(blob)
	blob = append(blob, jpg...)
	blob = append(blob, junk(700, 3)...)
	pngAt := len(blob)
	blob = append(blob, png...)
	blob = append(blob, junk(300, 4)...)
	blob = append(blob, png[:len(png)/2]...) // truncated: no IEND
	got := carve(blob)
	if len(got) != 2 {
		t.Fatalf("carved %d images, want 2", len(got))
	}
	if got[0].offset != jpgAt || got[0].ext != ".jpg" || !bytes.Equal(got[0].data, jpg) {
		t.Errorf("first: %s at %d, %d bytes; want the JPEG at %d, %d bytes", got[0].ext, got[0].offset, len(got[0].data), jpgAt, len(jpg))
	}
	if got[1].offset != pngAt || got[1].ext != ".png" || !bytes.Equal(got[1].data, png) {
		t.Errorf("second: %s at %d, %d bytes; want the PNG at %d, %d bytes", got[1].ext, got[1].offset, len(got[1].data), pngAt, len(png))
	}
}

// corpusSources lays out two sources as extracted packages, with a file of
// every kind BuildCorpus must keep or drop.
func corpusSources(t *testing.T) (orig, dist Source) {
	dir := t.TempDir()
	orig = Source{Name: "pkg-a", Dir: filepath.Join(dir, "pkg-a")}
	dist = Source{Name: "pkg-b", Dir: filepath.Join(dir, "pkg-b")}
	// The photo is a smaller copy of the bridge, to keep the race detector
	// quick.
	bridgePath := filepath.Join(dir, "bridge.jpg")
	full, err := imaging.Open(filepath.Join(toleranceDir, "bridge-mods-aaa-orig.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	saveImage(t, bridgePath, imaging.Resize(full, 400, 0, imaging.Lanczos))
	bridge, err := imaging.Open(bridgePath)
	if err != nil {
		t.Fatal(err)
	}

	// Originals: three photos, one inside a resource bundle...
	writeFile(t, filepath.Join(orig.Dir, "usr/share/a/bridge.jpg"), readFile(t, bridgePath))
	writeFile(t, filepath.Join(orig.Dir, "usr/share/a/q0122.jpg"), readFile(t, filepath.Join(toleranceDir, "labelme-subset-q0122.jpg")))
	writeFile(t, filepath.Join(orig.Dir, "usr/share/a/q0291.JPEG"), readFile(t, filepath.Join(toleranceDir, "labelme-subset-q0291.jpg")))
	bundle := slices.Concat(junk(333, 5), readFile(t, filepath.Join(toleranceDir, "labelme-subset-q1050.jpg")), junk(99, 6))
	writeFile(t, filepath.Join(orig.Dir, "usr/share/a/rcc/pictures.rcc"), bundle)
	// ...and what must go: a smaller copy, a flat fill, a thumbnail, a
	// mostly transparent sprite, a smooth gradient PDQ cannot hash well,
	// and a file that is not an image.
	saveImage(t, filepath.Join(orig.Dir, "usr/share/a/bridge-small.png"), imaging.Resize(bridge, 250, 0, imaging.Lanczos))
	saveImage(t, filepath.Join(orig.Dir, "usr/share/a/flat.png"), imaging.New(300, 200, color.NRGBA{20, 90, 200, 255}))
	saveImage(t, filepath.Join(orig.Dir, "usr/share/a/tiny.png"), imaging.Resize(bridge, 100, 0, imaging.Lanczos))
	sprite := imaging.New(300, 300, color.NRGBA{})
	sprite = imaging.Paste(sprite, imaging.Resize(bridge, 80, 80, imaging.Box), image.Pt(110, 110))
	saveImage(t, filepath.Join(orig.Dir, "usr/share/a/sprite.png"), sprite)
	grad := image.NewNRGBA(image.Rect(0, 0, 256, 256))
	for y := range 256 {
		for x := range 256 {
			grad.SetNRGBA(x, y, color.NRGBA{uint8(x), uint8(y / 2), 128, 255})
		}
	}
	saveImage(t, filepath.Join(orig.Dir, "usr/share/a/gradient.png"), grad)
	writeFile(t, filepath.Join(orig.Dir, "usr/share/a/broken.png"), []byte("\x89PNG\r\n\x1a\nnot really"))

	// Distractors: four other pictures, an exact copy of an original and a
	// recoloured one.
	for _, name := range []string{"synth-plasma.png", "labelme-subset-q0746.png", "labelme-subset-q2821.png", "reg-test-input-pen-and-coaster.png"} {
		writeFile(t, filepath.Join(dist.Dir, "usr/share/b", name), readFile(t, filepath.Join(exactDir, name)))
	}
	writeFile(t, filepath.Join(dist.Dir, "usr/share/b/copy.jpg"), readFile(t, filepath.Join(toleranceDir, "labelme-subset-q0291.jpg")))
	saveImage(t, filepath.Join(dist.Dir, "usr/share/b/recoloured.png"), Greyscale(imaging.Resize(bridge, 300, 0, imaging.Lanczos), nil))
	return orig, dist
}

func TestRobustnessBuildCorpus(t *testing.T) {
	orig, dist := corpusSources(t)
	out := filepath.Join(t.TempDir(), "corpus")
	var log bytes.Buffer
	sum, err := BuildCorpus(CorpusOptions{
		Originals: []Source{orig}, Distractors: []Source{dist}, Out: out,
		NumOriginals: 10, NumDistractors: 10, Seed: 1, Log: &log,
	})
	if err != nil {
		t.Fatal(err)
	}
	a, b := sum.Sources[0], sum.Sources[1]
	wantA := map[string]int{rejectNearDup: 1, rejectFlat: 1, rejectSmall: 1, rejectTransparent: 1, rejectQuality: 1, rejectUndecodable: 1}
	if a.Files != 9 || a.Carved != 1 || a.Usable != 4 || a.Selected != 4 || !mapsEqual(a.Rejected, wantA) {
		t.Errorf("originals: %+v, want 9 files, 1 carved, 4 usable and selected, rejected %v", a, wantA)
	}
	wantB := map[string]int{rejectExactDup: 1, rejectNearDup: 1}
	if b.Files != 6 || b.Usable != 4 || b.Selected != 4 || !mapsEqual(b.Rejected, wantB) {
		t.Errorf("distractors: %+v, want 6 files, 4 usable and selected, rejected %v", b, wantB)
	}
	if !strings.Contains(log.String(), "only 4 usable originals, 10 asked for") {
		t.Errorf("no warning about the shortfall in:\n%s", log.String())
	}

	origFiles := listNames(t, filepath.Join(out, "originals"))
	wantOrig := []string{
		"pkg-a--usr_share_a_bridge.jpg", "pkg-a--usr_share_a_q0122.jpg", "pkg-a--usr_share_a_q0291.jpg",
		"pkg-a--usr_share_a_rcc_pictures.rcc_333.jpg",
	}
	if !slices.Equal(origFiles, wantOrig) {
		t.Errorf("originals written: %v, want %v", origFiles, wantOrig)
	}
	// Files are copied byte for byte, carved ones included.
	if got := readFile(t, filepath.Join(out, "originals", wantOrig[3])); !bytes.Equal(got, readFile(t, filepath.Join(toleranceDir, "labelme-subset-q1050.jpg"))) {
		t.Error("the carved JPEG is not the embedded file")
	}
	if got := readFile(t, filepath.Join(out, "originals", wantOrig[0])); !bytes.Equal(got, readFile(t, filepath.Join(filepath.Dir(orig.Dir), "bridge.jpg"))) {
		t.Error("the bridge is not copied byte for byte")
	}
	distFiles := listNames(t, filepath.Join(out, "distractors"))
	for _, f := range distFiles {
		if strings.Contains(f, "copy") || strings.Contains(f, "recoloured") {
			t.Errorf("distractor %s is an original's copy", f)
		}
	}
	if len(distFiles) != 4 || sum.Originals != 4 || sum.Distractors != 4 {
		t.Errorf("wrote %d distractors, summary %d/%d", len(distFiles), sum.Originals, sum.Distractors)
	}
	manifest := string(readFile(t, filepath.Join(out, "MANIFEST.tsv")))
	if lines := strings.Split(strings.TrimSpace(manifest), "\n"); len(lines) != 9 ||
		!strings.Contains(manifest, "originals\tpkg-a--usr_share_a_rcc_pictures.rcc_333.jpg\tpkg-a\tusr/share/a/rcc/pictures.rcc@333.jpg\t256\t256\t") {
		t.Errorf("manifest:\n%s", manifest)
	}
}

func TestRobustnessBuildCorpusSelectsBySeed(t *testing.T) {
	orig, dist := corpusSources(t)
	pick := func(seed uint64) []string {
		out := filepath.Join(t.TempDir(), "corpus")
		if _, err := BuildCorpus(CorpusOptions{
			Originals: []Source{orig}, Distractors: []Source{dist}, Out: out,
			NumOriginals: 2, NumDistractors: 2, Seed: seed,
		}); err != nil {
			t.Fatal(err)
		}
		return append(listNames(t, filepath.Join(out, "originals")), listNames(t, filepath.Join(out, "distractors"))...)
	}
	first := pick(1)
	if len(first) != 4 {
		t.Fatalf("selected %v, want 2 + 2", first)
	}
	if again := pick(1); !slices.Equal(first, again) {
		t.Errorf("seed 1 selected %v, then %v", first, again)
	}
	differs := false
	for seed := uint64(2); seed < 10 && !differs; seed++ {
		differs = !slices.Equal(first, pick(seed))
	}
	if !differs {
		t.Error("every seed selects the same images")
	}
}

func TestRobustnessBuildCorpusReplacesOnlyItsOwnFolders(t *testing.T) {
	orig, dist := corpusSources(t)
	out := t.TempDir()
	opts := CorpusOptions{Originals: []Source{orig}, Distractors: []Source{dist}, Out: out, NumOriginals: 1, NumDistractors: 1}
	writeFile(t, filepath.Join(out, "originals", "stale.png"), []byte("x"))
	if _, err := BuildCorpus(opts); err != nil {
		t.Fatal(err)
	}
	if names := listNames(t, filepath.Join(out, "originals")); len(names) != 1 || names[0] == "stale.png" {
		t.Errorf("originals after a rebuild: %v", names)
	}
	writeFile(t, filepath.Join(out, "distractors", "notes.txt"), []byte("mine"))
	if _, err := BuildCorpus(opts); !errors.Is(err, ErrNotCorpusDir) {
		t.Errorf("rebuild over a folder with other files: %v, want ErrNotCorpusDir", err)
	}
	if _, err := os.Stat(filepath.Join(out, "distractors", "notes.txt")); err != nil {
		t.Errorf("the other file is gone: %v", err)
	}
}

func listNames(t *testing.T, dir string) []string {
	t.Helper()
	files, err := ListImages(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	return names
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestRobustnessNormalizeFlattensOntoWhiteAndCaps(t *testing.T) {
	img := image.NewNRGBA(image.Rect(10, 20, 2010, 1020)) // offset bounds, 2000x1000
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = 0, 0, 0, 0 // transparent black
	}
	img.SetNRGBA(10, 20, color.NRGBA{255, 0, 0, 128})
	flat := flatten(img)
	if c := flat.NRGBAAt(1, 1); c != (color.NRGBA{255, 255, 255, 255}) {
		t.Errorf("transparent pixel flattened to %v, want white", c)
	}
	if c := flat.NRGBAAt(0, 0); c != (color.NRGBA{255, 127, 127, 255}) {
		t.Errorf("half-transparent red flattened to %v, want pink", c)
	}
	out := Normalize(img, 500)
	if b := out.Bounds(); b.Dx() != 500 || b.Dy() != 250 || !out.Opaque() {
		t.Errorf("normalized to %v (opaque %v), want 500x250 opaque", b, out.Opaque())
	}
	if s := transparentShare(img); s < 0.99 {
		t.Errorf("transparent share %.3f", s)
	}
}

func TestRobustnessNearDuplicateSignature(t *testing.T) {
	sig := func(img image.Image) [sigSide * sigSide]float32 {
		return signature(imaging.Resize(Normalize(img, 480), 64, 64, imaging.Box))
	}
	open := func(path string) image.Image {
		img, err := imaging.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	bridge := loadPhoto(t)
	ref := sig(bridge)
	for name, img := range map[string]image.Image{
		"smaller":   imaging.Resize(bridge, 300, 0, imaging.Lanczos),
		"greyscale": Greyscale(bridge, nil),
		"hue-60":    Hue60(bridge, nil),
		"jpeg-q10":  JPEG(10)(bridge, nil),
		"blurred":   Blur2(bridge, nil),
	} {
		s := sig(img)
		if c := correlation(&ref, &s); c < nearDupCorrelation {
			t.Errorf("%s copy correlates %.3f, below the near-duplicate bar %.2f", name, c, nearDupCorrelation)
		}
	}
	for _, path := range []string{
		filepath.Join(toleranceDir, "labelme-subset-q0122.jpg"),
		filepath.Join(toleranceDir, "labelme-subset-q0291.jpg"),
		filepath.Join(toleranceDir, "labelme-subset-q1050.jpg"),
		filepath.Join(exactDir, "synth-plasma.png"),
		filepath.Join(exactDir, "reg-test-input-pen-and-coaster.png"),
	} {
		s := sig(open(path))
		if c := correlation(&ref, &s); c >= nearDupCorrelation-0.2 {
			t.Errorf("%s correlates %.3f with the bridge: too close to the near-duplicate bar", filepath.Base(path), c)
		}
	}
}
