package robustness

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/disintegration/imaging"

	"github.com/mediamatch/mediamatch/pdq"
)

// Criteria of corpus images, each with the reason for its value.
const (
	// DefaultMinSide is the smallest width and height kept: smaller files
	// are icons and sprites, not pictures anyone re-uploads.
	DefaultMinSide = 128
	// maxTransparentShare drops images most of whose pixels are
	// transparent: once flattened they are a small drawing on white.
	maxTransparentShare = 0.6
	// minGreyStdDev drops flat images (grey levels 0-255 over a 64x64
	// thumbnail): backgrounds and fills carry no picture to recognise.
	minGreyStdDev = 12.0
	// maxDominantShare drops images where one colour (4 bits per channel)
	// covers more of the thumbnail than this.
	maxDominantShare = 0.8
	// minOriginalQuality is PDQ's own bar for a useful hash: an original
	// below it would be a bank entry no hash-sharing programme keeps.
	minOriginalQuality = 50
	// nearDupCorrelation and nearDupAspect say when two images are the same
	// picture: grey 16x16 thumbnails, each brought to zero mean and unit
	// variance, correlate at least this much, and the aspect ratios differ
	// by at most nearDupAspect (as a log ratio). That catches copies at
	// other sizes, re-encodings and recolourings without using the hashes
	// the benchmark measures.
	nearDupCorrelation = 0.9
	nearDupAspect      = 0.1
	// sigSide is the side of the thumbnail compared for near duplicates.
	sigSide = 16
	// maxNameLen bounds the file names written, well under file systems'
	// 255-byte limit.
	maxNameLen = 150
)

// Source is a folder of candidate images, for example one Debian package
// extracted with dpkg-deb -x.
type Source struct {
	// Name identifies the source in file names and the summary, e.g. the
	// package name.
	Name string
	// Dir is the folder, searched recursively for PNG and JPEG files and for
	// images stored inside Qt resource bundles (.rcc).
	Dir string
}

// CorpusOptions configures BuildCorpus.
type CorpusOptions struct {
	// Originals and Distractors are the sources of each split. Keep them
	// disjoint (different packages), so that near duplicates across the
	// split are unlikely even before deduplication.
	Originals, Distractors []Source
	// Out is the folder that receives originals/, distractors/ and
	// MANIFEST.tsv. Existing originals/ and distractors/ folders are
	// replaced if they hold only images.
	Out string
	// NumOriginals and NumDistractors are how many images to select.
	// Defaults 200 and 2000.
	NumOriginals, NumDistractors int
	// Seed drives the selection among the usable images.
	Seed uint64
	// MinSide is the smallest width and height kept. Default DefaultMinSide.
	MinSide int
	// Workers decode in parallel. Default: the number of CPUs.
	Workers int
	// Log receives progress lines; nil for none.
	Log io.Writer
}

// CorpusSummary says what BuildCorpus found, dropped and wrote.
type CorpusSummary struct {
	// Sources holds the counts per source, in the order given.
	Sources []SourceSummary
	// Originals and Distractors are the numbers of files written.
	Originals, Distractors int
	// OriginalBytes and DistractorBytes are their total sizes.
	OriginalBytes, DistractorBytes int64
}

// SourceSummary counts one source's candidates by fate.
type SourceSummary struct {
	Name  string
	Split string
	// Files are image files found; Carved are images found inside
	// resource bundles.
	Files, Carved int
	// Rejected counts candidates dropped, by reason.
	Rejected map[string]int
	// Usable candidates passed every criterion and deduplication; Selected
	// of them were written.
	Usable, Selected int
}

// Reasons a candidate is dropped.
const (
	rejectUndecodable = "undecodable"
	rejectSmall       = "smaller than the minimum side"
	rejectTransparent = "mostly transparent"
	rejectFlat        = "flat"
	rejectQuality     = "PDQ quality below 50"
	rejectExactDup    = "exact duplicate"
	rejectNearDup     = "near duplicate"
)

// candidate is one image found in a source.
type candidate struct {
	split  int // 0 originals, 1 distractors
	source int // index into the summary's sources
	name   string
	ext    string
	path   string // file to copy, or "" when data holds a carved image
	data   []byte

	reject string
	w, h   int
	sum    [32]byte
	sig    [sigSide * sigSide]float32
}

// splitNames are the output folders of the two splits.
var splitNames = [2]string{"originals", "distractors"}

// BuildCorpus selects images for the benchmark from opts' sources and
// copies them, byte for byte, into Out/originals and Out/distractors, with
// a MANIFEST.tsv naming each file's source. Images are kept when both
// sides are at least MinSide, at most 60% of the pixels are transparent,
// they are not flat, and (originals only) their PDQ quality is at least
// 50; exact and near duplicates are dropped, across the split too (a
// distractor that is an original's copy would count as a false match).
// The selection is a seeded shuffle of the usable images in lexical order,
// so the same packages and seed give the same corpus.
func BuildCorpus(opts CorpusOptions) (*CorpusSummary, error) {
	if opts.NumOriginals <= 0 {
		opts.NumOriginals = 200
	}
	if opts.NumDistractors <= 0 {
		opts.NumDistractors = 2000
	}
	if opts.MinSide <= 0 {
		opts.MinSide = DefaultMinSide
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.NumCPU()
	}
	logf := func(format string, args ...any) {
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, format+"\n", args...)
		}
	}
	for _, split := range splitNames {
		if err := clearCorpusDir(filepath.Join(opts.Out, split)); err != nil {
			return nil, err
		}
	}

	sum := &CorpusSummary{}
	var cands []*candidate
	for split, sources := range [2][]Source{opts.Originals, opts.Distractors} {
		for _, src := range sources {
			ss := SourceSummary{Name: src.Name, Split: splitNames[split], Rejected: map[string]int{}}
			found, err := scanSource(src, split, len(sum.Sources))
			if err != nil {
				return nil, err
			}
			for _, c := range found {
				if c.path != "" {
					ss.Files++
				} else {
					ss.Carved++
				}
			}
			logf("%s (%s): %d image files, %d images inside resource bundles", src.Name, ss.Split, ss.Files, ss.Carved)
			sum.Sources = append(sum.Sources, ss)
			cands = append(cands, found...)
		}
	}

	logf("decoding and checking %d candidates with %d workers", len(cands), opts.Workers)
	var wg sync.WaitGroup
	next := make(chan *candidate)
	for range opts.Workers {
		wg.Go(func() {
			for c := range next {
				c.evaluate(opts.MinSide)
			}
		})
	}
	for _, c := range cands {
		next <- c
	}
	close(next)
	wg.Wait()

	dedupe(cands)

	var usable [2][]*candidate
	for _, c := range cands {
		ss := &sum.Sources[c.source]
		if c.reject != "" {
			ss.Rejected[c.reject]++
			continue
		}
		ss.Usable++
		usable[c.split] = append(usable[c.split], c)
	}
	want := [2]int{opts.NumOriginals, opts.NumDistractors}
	var manifest strings.Builder
	manifest.WriteString("split\tfile\tsource\tsource_path\twidth\theight\tsha256\n")
	for split := range 2 {
		dir := filepath.Join(opts.Out, splitNames[split])
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		pool := usable[split]
		rng := rand.New(rand.NewPCG(opts.Seed, uint64(split)))
		rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
		if len(pool) < want[split] {
			logf("warning: only %d usable %s, %d asked for", len(pool), splitNames[split], want[split])
		}
		pool = pool[:min(len(pool), want[split])]
		slices.SortFunc(pool, func(a, b *candidate) int {
			return cmp.Or(cmp.Compare(a.source, b.source), cmp.Compare(a.name, b.name))
		})
		used := map[string]bool{}
		for _, c := range pool {
			data, err := c.bytes()
			if err != nil {
				return nil, err
			}
			name := outName(sum.Sources[c.source].Name, c.name, c.ext, used)
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				return nil, err
			}
			sum.Sources[c.source].Selected++
			if split == 0 {
				sum.Originals++
				sum.OriginalBytes += int64(len(data))
			} else {
				sum.Distractors++
				sum.DistractorBytes += int64(len(data))
			}
			fmt.Fprintf(&manifest, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", splitNames[split], name,
				sum.Sources[c.source].Name, c.name, c.w, c.h, hex.EncodeToString(c.sum[:]))
		}
	}
	if err := os.WriteFile(filepath.Join(opts.Out, "MANIFEST.tsv"), []byte(manifest.String()), 0o644); err != nil {
		return nil, err
	}
	return sum, nil
}

// clearCorpusDir removes a previous run's split folder, refusing one that
// holds anything but image files.
func clearCorpusDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !isImageName(e.Name()) {
			return fmt.Errorf("%s: %w (%s); remove it or choose another --out", dir, ErrNotCorpusDir, e.Name())
		}
	}
	return os.RemoveAll(dir)
}

// scanSource lists a source's image files and the images inside its
// resource bundles, in lexical order of their paths.
func scanSource(src Source, split, source int) ([]*candidate, error) {
	var out []*candidate
	err := filepath.WalkDir(src.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(src.Dir, path)
		if err != nil {
			return err
		}
		switch {
		case isImageName(path):
			out = append(out, &candidate{split: split, source: source, name: rel, ext: normExt(path), path: path})
		case strings.EqualFold(filepath.Ext(path), ".rcc"):
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, e := range carve(data) {
				out = append(out, &candidate{
					split: split, source: source, ext: e.ext, data: e.data,
					name: fmt.Sprintf("%s@%d%s", rel, e.offset, e.ext),
				})
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scanning %s: %w", src.Dir, err)
	}
	return out, nil
}

// normExt is a file's image extension in the form written.
func normExt(path string) string {
	if ext := strings.ToLower(filepath.Ext(path)); ext != ".jpeg" {
		return ext
	}
	return ".jpg"
}

// bytes returns the candidate's file.
func (c *candidate) bytes() ([]byte, error) {
	if c.path == "" {
		return c.data, nil
	}
	return os.ReadFile(c.path)
}

// evaluate decodes the candidate and records why it is unusable, if it is,
// and otherwise the measures deduplication needs.
func (c *candidate) evaluate(minSide int) {
	data, err := c.bytes()
	if err != nil {
		c.reject = rejectUndecodable
		return
	}
	c.sum = sha256.Sum256(data)
	img, err := decode(data)
	if err != nil {
		c.reject = rejectUndecodable
		return
	}
	b := img.Bounds()
	c.w, c.h = b.Dx(), b.Dy()
	if c.w < minSide || c.h < minSide {
		c.reject = rejectSmall
		return
	}
	if transparentShare(img) > maxTransparentShare {
		c.reject = rejectTransparent
		return
	}
	flat := Normalize(img, DefaultMaxSide)
	thumb := imaging.Resize(flat, 64, 64, imaging.Box)
	if isFlat(thumb) {
		c.reject = rejectFlat
		return
	}
	if c.split == 0 {
		if r, err := pdq.HashImage(flat); err != nil || r.Quality < minOriginalQuality {
			c.reject = rejectQuality
			return
		}
	}
	c.sig = signature(thumb)
}

// isFlat reports whether a thumbnail has too little variation to be a
// picture.
func isFlat(thumb *image.NRGBA) bool {
	var sum, sq float64
	counts := map[uint16]int{}
	n := 0
	for i := 0; i < len(thumb.Pix); i += 4 {
		r, g, b := thumb.Pix[i], thumb.Pix[i+1], thumb.Pix[i+2]
		y := 0.299*float64(r) + 0.587*float64(g) + 0.114*float64(b)
		sum += y
		sq += y * y
		counts[uint16(r>>4)<<8|uint16(g>>4)<<4|uint16(b>>4)]++
		n++
	}
	mean := sum / float64(n)
	if math.Sqrt(max(0, sq/float64(n)-mean*mean)) < minGreyStdDev {
		return true
	}
	for _, k := range counts {
		if float64(k) > maxDominantShare*float64(n) {
			return true
		}
	}
	return false
}

// signature is the grey 16x16 version of a thumbnail, standardised to zero
// mean and unit variance, so the dot product of two signatures divided by
// their length is their correlation.
func signature(thumb *image.NRGBA) [sigSide * sigSide]float32 {
	small := imaging.Resize(thumb, sigSide, sigSide, imaging.Box)
	var s [sigSide * sigSide]float32
	var mean float64
	for i := range s {
		p := small.Pix[4*i:]
		s[i] = float32(0.299*float64(p[0]) + 0.587*float64(p[1]) + 0.114*float64(p[2]))
		mean += float64(s[i])
	}
	mean /= float64(len(s))
	var v float64
	for i := range s {
		s[i] -= float32(mean)
		v += float64(s[i]) * float64(s[i])
	}
	sd := math.Sqrt(v / float64(len(s)))
	if sd == 0 {
		return s
	}
	for i := range s {
		s[i] = float32(float64(s[i]) / sd)
	}
	return s
}

// correlation of two signatures, -1..1.
func correlation(a, b *[sigSide * sigSide]float32) float64 {
	var d float32
	for i := range a {
		d += a[i] * b[i]
	}
	return float64(d) / float64(len(a))
}

// dedupe marks exact and near duplicates among the usable candidates. Of
// each group it keeps an original over a distractor (so that a distractor
// never survives as a copy of an original candidate), then the largest
// image, then the first in the order given.
func dedupe(cands []*candidate) {
	seen := map[[32]byte]bool{}
	var kept []*candidate
	for _, c := range cands {
		if c.reject != "" {
			continue
		}
		if seen[c.sum] {
			c.reject = rejectExactDup
			continue
		}
		seen[c.sum] = true
		kept = append(kept, c)
	}
	// Only candidates of similar aspect can be near duplicates: sort by it
	// and compare each with the following ones up to the aspect window.
	order := make([]int, len(kept))
	aspect := make([]float64, len(kept))
	for i, c := range kept {
		order[i] = i
		aspect[i] = math.Log(float64(c.w) / float64(c.h))
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(aspect[a], aspect[b]) })
	parent := make([]int, len(kept))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	for oi, i := range order {
		for _, j := range order[oi+1:] {
			if aspect[j]-aspect[i] > nearDupAspect {
				break
			}
			if correlation(&kept[i].sig, &kept[j].sig) >= nearDupCorrelation {
				parent[find(i)] = find(j)
			}
		}
	}
	better := func(a, b int) bool {
		ca, cb := kept[a], kept[b]
		if ca.split != cb.split {
			return ca.split < cb.split
		}
		if pa, pb := ca.w*ca.h, cb.w*cb.h; pa != pb {
			return pa > pb
		}
		return a < b
	}
	best := map[int]int{}
	for i := range kept {
		r := find(i)
		if b, ok := best[r]; !ok || better(i, b) {
			best[r] = i
		}
	}
	for i, c := range kept {
		if best[find(i)] != i {
			c.reject = rejectNearDup
		}
	}
}

// outName makes a unique, flat file name for a selected image.
func outName(source, name, ext string, used map[string]bool) string {
	base := strings.TrimSuffix(name, filepath.Ext(name))
	base = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		}
		return '_'
	}, source+"--"+base)
	if len(base) > maxNameLen {
		base = base[len(base)-maxNameLen:]
	}
	out := base + ext
	for k := 2; used[out]; k++ {
		out = fmt.Sprintf("%s-%d%s", base, k, ext)
	}
	used[out] = true
	return out
}
