package robustness

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The open video benchmark's corpus: source videos made with ffmpeg from
// pictures (photos of the repository's testdata and seeded synthetic
// scenes) and synthetic motion, distractors made to share what unrelated
// videos share (an intro, title cards, black frames, test patterns,
// fades), and footage that is in neither, for the re-edits that put a
// source inside other footage. Everything is generated from the seed;
// nothing is downloaded or committed.

// Limits and settings of the generated corpus, each with its reason.
const (
	// videoFPS is the frame rate of every generated video, as broadcast
	// footage in Europe.
	videoFPS = 25
	// crossFade is the length of the cross-fades between shots.
	crossFade = 0.8
	// introSeconds is the length of the intro that half the sources and
	// every distractor open with: long enough to be matched as a still.
	introSeconds = 3.0
	// cardSeconds is the length of a title card.
	cardSeconds = 3.0
	// panMargin is how much larger than the frame a panned still is
	// scaled, so that the pan has room: 15%.
	panMargin = 1.15
	// zoomGrowth is how far a zoomed shot zooms in over its length.
	zoomGrowth = 0.18
	// automatonSize is the grid of the cellular automata, scaled up with
	// nearest neighbours: a grid of single pixels would average to grey in
	// PDQ's 64x64 downsampling.
	automatonW, automatonH = 96, 54
	// fillers is the number of other-footage videos.
	fillers = 3
)

// shotKind is what a shot shows.
type shotKind int

const (
	shotPan       shotKind = iota // a still panned slowly across
	shotZoom                      // a still zoomed into slowly
	shotCard                      // a still title card
	shotFractal                   // ffmpeg's mandelbrot zoom
	shotLife                      // ffmpeg's game of life
	shotAutomaton                 // ffmpeg's elementary cellular automaton
	shotBars                      // SMPTE colour bars, still
	shotTestsrc                   // ffmpeg's testsrc2, a moving test pattern
	shotBlack                     // black frames
)

// shot is one shot of a generated video.
type shot struct {
	kind    shotKind
	picture string // PNG, for the kinds that show a still
	seconds float64
	seed    int
	reverse bool // pan right to left, or from the bottom
}

// VideoItem is one generated video of the corpus.
type VideoItem struct {
	// Name identifies the video in the report ("source-03", ...).
	Name string
	// Path is the file.
	Path string
	// Width, Height and Seconds are its size and length.
	Width, Height int
	Seconds       float64
	// Intro says whether it opens with the shared intro.
	Intro bool
}

// VideoCorpus is the generated corpus.
type VideoCorpus struct {
	// Sources are banked and re-edited; Distractors are banked and matched
	// but are copies of nothing; Fillers are the other footage of the
	// re-edits that put a source inside something else, neither banked nor
	// matched.
	Sources, Distractors, Fillers []VideoItem
	// Logo, Band and Subtitles are the overlays of the re-edits (PNG).
	Logo, Band string
	Subtitles  []string
}

// corpusBuilder makes the corpus's files.
type corpusBuilder struct {
	dir    string
	rng    *rand.Rand
	photos []string
	pics   int // synthetic pictures made so far
	ffmpeg func(ctx context.Context, args ...string) error
}

// videoPhotos are the distinct photos of the repository's testdata that
// sources show (the other files there are re-edits of these).
var videoPhotos = []string{
	"bridge-mods-aaa-orig", "labelme-subset-q0003", "labelme-subset-q0004",
	"labelme-subset-q0122", "labelme-subset-q0291", "labelme-subset-q0746",
	"labelme-subset-q1050", "labelme-subset-q2821", "misc-images-small",
}

// findPhotos returns the paths of videoPhotos under root, the repository
// root; missing ones are left out (synthetic pictures replace them).
func findPhotos(root string) []string {
	var out []string
	for _, name := range videoPhotos {
		p := filepath.Join(root, "testdata", "pdq", "tolerance", name+".jpg")
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// runFFmpeg runs ffmpeg quietly, returning its messages with an error.
func runFFmpeg(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "ffmpeg", append([]string{"-nostdin", "-v", "error", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ffmpeg %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// exists reports whether path is a file: generated files are written
// under a temporary name and renamed, so one that exists is complete.
func exists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Size() > 0
}

// BuildVideoCorpus generates (or finds, from an earlier run into the same
// dir with the same seed) nSources sources and nDistractors distractors
// under dir, and the other footage when withFillers is set. root is the
// repository root, for the photos.
func BuildVideoCorpus(ctx context.Context, dir, root string, nSources, nDistractors int, withFillers bool, seed uint64, logf func(string, ...any)) (*VideoCorpus, error) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		return nil, fmt.Errorf("%w: the video benchmark makes its videos with ffmpeg (Debian: apt-get install -y ffmpeg)", ErrNoFFmpeg)
	}
	// The files depend on the counts as well as the seed.
	dir = corpusDir(dir, nSources, nDistractors, seed)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	b := &corpusBuilder{dir: dir, rng: rand.New(rand.NewPCG(seed, 14)), photos: findPhotos(root), ffmpeg: runFFmpeg}
	c := &VideoCorpus{}
	intro, err := b.card("intro", "MEDIAMATCH NEWS", "", color.NRGBA{20, 30, 90, 255})
	if err != nil {
		return nil, err
	}
	var cards []string
	for i := range nSources {
		size := image.Pt(640, 360)
		if i%3 == 2 {
			size = image.Pt(1280, 720)
		}
		card, err := b.card(fmt.Sprintf("card-%02d", i), fmt.Sprintf("REPORT %d", i+1), cardWords[i%len(cardWords)],
			color.NRGBA{uint8(40 + b.rng.IntN(120)), uint8(20 + b.rng.IntN(80)), uint8(20 + b.rng.IntN(120)), 255})
		if err != nil {
			return nil, err
		}
		cards = append(cards, card)
		var shots []shot
		if i%2 == 0 {
			shots = append(shots, shot{kind: shotCard, picture: intro, seconds: introSeconds})
		}
		shots = append(shots, shot{kind: shotCard, picture: card, seconds: cardSeconds})
		var photo string
		if i < len(b.photos)-3 {
			photo = b.photos[i] // the last three photos are the distractors' and fillers'
		}
		content, err := b.content(20+b.rng.Float64()*12, photo, i)
		if err != nil {
			return nil, err
		}
		item, err := b.render(ctx, fmt.Sprintf("source-%02d", i), size, append(shots, content...))
		if err != nil {
			return nil, err
		}
		item.Intro = i%2 == 0
		c.Sources = append(c.Sources, item)
		logf("source %s: %dx%d, %.1f s", item.Name, size.X, size.Y, item.Seconds)
	}
	for j := range nDistractors {
		size := image.Pt(640, 360)
		if j%3 == 1 {
			size = image.Pt(1280, 720)
		}
		shots := []shot{{kind: shotCard, picture: intro, seconds: introSeconds}}
		switch j % 4 {
		case 0: // a source's own title card, then other pictures
			if len(cards) > 0 {
				shots = append(shots, shot{kind: shotCard, picture: cards[j%len(cards)], seconds: cardSeconds})
			}
		case 1: // black, colour bars
			shots = append(shots, shot{kind: shotBlack, seconds: 3}, shot{kind: shotBars, seconds: 4})
		case 2: // a moving test pattern
			shots = append(shots, shot{kind: shotTestsrc, seconds: 4}, shot{kind: shotBlack, seconds: 2})
		case 3: // the intro again, through black
			shots = append(shots, shot{kind: shotBlack, seconds: 2}, shot{kind: shotCard, picture: intro, seconds: introSeconds})
		}
		// The first two show a photo of their own; no two distractors
		// share footage beyond what they were made to share.
		photo := ""
		if n := len(b.photos); n >= 3 && j < 2 {
			photo = b.photos[n-3+j]
		}
		content, err := b.content(14+b.rng.Float64()*8, photo, 100+j)
		if err != nil {
			return nil, err
		}
		shots = append(shots, content...)
		if j%4 == 3 {
			shots = append(shots, shot{kind: shotBlack, seconds: 2}, shot{kind: shotBars, seconds: 3})
		}
		item, err := b.render(ctx, fmt.Sprintf("distractor-%02d", j), size, shots)
		if err != nil {
			return nil, err
		}
		item.Intro = true
		c.Distractors = append(c.Distractors, item)
		logf("distractor %s: %dx%d, %.1f s", item.Name, size.X, size.Y, item.Seconds)
	}
	for k := range fillers {
		if !withFillers {
			break // made last: skipping them changes nothing else
		}
		photo := ""
		if n := len(b.photos); n >= 1 && k == 0 {
			photo = b.photos[n-1]
		}
		content, err := b.content(34, photo, 200+k)
		if err != nil {
			return nil, err
		}
		item, err := b.render(ctx, fmt.Sprintf("filler-%02d", k), image.Pt(1280, 720), content)
		if err != nil {
			return nil, err
		}
		c.Fillers = append(c.Fillers, item)
	}
	if c.Logo, err = b.overlay("logo", image.Pt(220, 80), "CH 9 NEWS", color.NRGBA{200, 20, 30, 200}, color.White); err != nil {
		return nil, err
	}
	if c.Band, err = b.overlay("band", image.Pt(1280, 130), "BREAKING: FOOTAGE SHARED ONLINE", color.NRGBA{245, 245, 245, 255}, color.Black); err != nil {
		return nil, err
	}
	for k, line := range subtitleLines {
		p, err := b.overlay(fmt.Sprintf("subtitle-%d", k), image.Pt(1280, 90), line, color.NRGBA{0, 0, 0, 0}, color.NRGBA{255, 240, 80, 255})
		if err != nil {
			return nil, err
		}
		c.Subtitles = append(c.Subtitles, p)
	}
	return c, nil
}

// cardWords and subtitleLines are the texts of title cards and subtitles.
var (
	cardWords     = []string{"HARBOUR", "BORDER", "MARKET", "BRIDGE", "VALLEY", "STATION", "RIVER", "SUMMIT", "ISLAND", "CANYON", "FOREST", "DESERT"}
	subtitleLines = []string{"They said it would never happen here", "Nobody was ready for what came next", "Watch until the end and share it"}
)

// content returns shots of synthetic motion and stills, about seconds
// long, the first a pan over photo when it is set; variety is the index
// of the video, so that no two videos show the same synthetic footage.
func (b *corpusBuilder) content(seconds float64, photo string, variety int) ([]shot, error) {
	var shots []shot
	total := 0.0
	for k := 0; total < seconds; k++ {
		s := shot{seconds: 4 + b.rng.Float64()*3, seed: variety*10 + k, reverse: b.rng.IntN(2) == 0}
		switch (variety + k) % 5 {
		case 0, 3:
			s.kind = shotPan
		case 1:
			s.kind = shotZoom
		case 2:
			s.kind = []shotKind{shotFractal, shotLife, shotAutomaton}[b.rng.IntN(3)]
		case 4:
			s.kind = shotLife
		}
		if k == 0 && photo != "" {
			s.kind, s.picture = shotPan, photo
		}
		if (s.kind == shotPan || s.kind == shotZoom) && s.picture == "" {
			p, err := b.picture()
			if err != nil {
				return nil, err
			}
			s.picture = p
		}
		shots = append(shots, s)
		total += s.seconds - crossFade
	}
	return shots, nil
}

// picture writes the next synthetic scene: a two-colour gradient with
// shapes of several sizes, as varied as a photo at PDQ's scale.
func (b *corpusBuilder) picture() (string, error) {
	b.pics++
	path := filepath.Join(b.dir, fmt.Sprintf("picture-%03d.png", b.pics))
	const w, h = 1280, 720
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	c0, c1 := b.colour(), b.colour()
	for y := range h {
		for x := range w {
			t := (float64(x)/w + float64(y)/h) / 2
			img.SetNRGBA(x, y, mix(c0, c1, t))
		}
	}
	for range 40 {
		r := 20 + b.rng.IntN(220)
		cx, cy := b.rng.IntN(w), b.rng.IntN(h)
		col := b.colour()
		if b.rng.IntN(2) == 0 {
			for y := max(0, cy-r); y < min(h, cy+r); y++ {
				for x := max(0, cx-r); x < min(w, cx+r); x++ {
					if (x-cx)*(x-cx)+(y-cy)*(y-cy) <= r*r {
						img.SetNRGBA(x, y, col)
					}
				}
			}
			continue
		}
		rect := image.Rect(cx-r, cy-r/2-b.rng.IntN(r), cx+r+b.rng.IntN(r), cy+r/2).Intersect(img.Bounds())
		draw.Draw(img, rect, image.NewUniform(col), image.Point{}, draw.Src)
	}
	return path, b.writePNG(path, img)
}

// colour is a random opaque colour.
func (b *corpusBuilder) colour() color.NRGBA {
	return color.NRGBA{uint8(b.rng.IntN(256)), uint8(b.rng.IntN(256)), uint8(b.rng.IntN(256)), 255}
}

// mix blends two colours, t of the way from a to b.
func mix(a, b color.NRGBA, t float64) color.NRGBA {
	f := func(x, y uint8) uint8 { return uint8(math.Round(float64(x)*(1-t) + float64(y)*t)) }
	return color.NRGBA{f(a.R, b.R), f(a.G, b.G), f(a.B, b.B), 255}
}

// card writes a 1280x720 title card: a title line over a ground colour,
// a rule, and a smaller line under it.
func (b *corpusBuilder) card(name, title, sub string, ground color.NRGBA) (string, error) {
	path := filepath.Join(b.dir, name+".png")
	img := image.NewNRGBA(image.Rect(0, 0, 1280, 720))
	draw.Draw(img, img.Bounds(), image.NewUniform(ground), image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(160, 400, 1120, 412), image.NewUniform(color.NRGBA{230, 190, 40, 255}), image.Point{}, draw.Src)
	drawText(img, title, image.Rect(120, 250, 1160, 370), color.White, 0)
	if sub != "" {
		drawText(img, sub, image.Rect(320, 450, 960, 510), color.NRGBA{230, 230, 230, 255}, 0)
	}
	return path, b.writePNG(path, img)
}

// overlay writes a picture of size with text on a ground (transparent
// when its alpha is 0, the text then outlined).
func (b *corpusBuilder) overlay(name string, size image.Point, text string, ground color.NRGBA, ink color.Color) (string, error) {
	path := filepath.Join(b.dir, name+".png")
	img := image.NewNRGBA(image.Rectangle{Max: size})
	draw.Draw(img, img.Bounds(), image.NewUniform(ground), image.Point{}, draw.Src)
	outline := 0
	if ground.A == 0 {
		outline = 3
	}
	pad := size.Y / 5
	drawText(img, text, image.Rect(pad, pad, size.X-pad, size.Y-pad), ink, outline)
	return path, b.writePNG(path, img)
}

// writePNG writes img to path unless a file is already there.
func (b *corpusBuilder) writePNG(path string, img image.Image) error {
	if exists(path) {
		return nil
	}
	data, err := Encode(img)
	if err != nil {
		return err
	}
	return writeAtomic(path, func(tmp string) error { return os.WriteFile(tmp, data, 0o644) })
}

// writeAtomic writes path through make(tmp) and a rename, so that an
// interrupted run leaves no partial file under the final name.
func writeAtomic(path string, make func(tmp string) error) error {
	tmp := strings.TrimSuffix(path, filepath.Ext(path)) + ".partial" + filepath.Ext(path)
	if err := make(tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// render writes the shots as one H.264 video of size at videoFPS, joined
// by cross-fades, fading in from black and out to black.
func (b *corpusBuilder) render(ctx context.Context, name string, size image.Point, shots []shot) (VideoItem, error) {
	if len(shots) == 0 {
		return VideoItem{}, errors.New("a video of no shots")
	}
	path := filepath.Join(b.dir, name+".mp4")
	total := 0.0
	for i, s := range shots {
		total += s.seconds
		if i > 0 {
			total -= crossFade
		}
	}
	item := VideoItem{Name: name, Path: path, Width: size.X, Height: size.Y, Seconds: total}
	if exists(path) {
		return item, nil
	}
	w, h := size.X, size.Y
	var args []string
	var f strings.Builder
	for i, s := range shots {
		dur := fmt.Sprintf("%.3f", s.seconds)
		still := func() {
			args = append(args, "-loop", "1", "-framerate", fmt.Sprint(videoFPS), "-t", dur, "-i", s.picture)
		}
		lavfi := func(src string) { args = append(args, "-f", "lavfi", "-t", dur, "-i", src) }
		var chain string
		switch s.kind {
		case shotPan:
			still()
			pw, ph := even(float64(w)*panMargin), even(float64(h)*panMargin)
			x, y := fmt.Sprintf("(iw-ow)*t/%s", dur), fmt.Sprintf("(ih-oh)*t/%s/2", dur)
			if s.reverse {
				x, y = fmt.Sprintf("(iw-ow)*(1-t/%s)", dur), fmt.Sprintf("(ih-oh)*(1-t/%s/2)", dur)
			}
			chain = fmt.Sprintf("scale=%d:%d:force_original_aspect_ratio=increase,crop=%d:%d,crop=%d:%d:x='%s':y='%s'", pw, ph, pw, ph, w, h, x, y)
		case shotZoom:
			still()
			frames := int(s.seconds * videoFPS)
			chain = fmt.Sprintf("scale=%d:%d:force_original_aspect_ratio=increase,crop=%d:%d,zoompan=z='1+%g*on/%d':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':d=1:s=%dx%d:fps=%d",
				w, h, w, h, zoomGrowth, frames, w, h, videoFPS)
		case shotCard:
			still()
			chain = fmt.Sprintf("scale=%d:%d", w, h)
		case shotFractal:
			// Rendered small (the fractal is slow) and scaled up.
			x := -0.743643887 + 0.01*float64(s.seed%7)
			lavfi(fmt.Sprintf("mandelbrot=size=320x180:rate=%d:maxiter=256:start_x=%g:start_y=0.131825904:start_scale=%g:end_scale=0.01:end_pts=%d", videoFPS, x, 0.5+0.1*float64(s.seed%5), 200))
			chain = fmt.Sprintf("scale=%d:%d", w, h)
		case shotLife:
			lavfi(fmt.Sprintf("life=size=%dx%d:rate=%d:seed=%d:ratio=0.3:mold=25:life_color=#f0d020:death_color=#102040:mold_color=#c03030", automatonW, automatonH, videoFPS, s.seed+1))
			chain = fmt.Sprintf("scale=%d:%d:flags=neighbor", w, h)
		case shotAutomaton:
			lavfi(fmt.Sprintf("cellauto=rule=%d:size=%dx%d:rate=%d:random_fill_ratio=0.5:random_seed=%d:scroll=1", []int{30, 90, 110, 150}[s.seed%4], automatonW, automatonH, videoFPS, s.seed+1))
			chain = fmt.Sprintf("scale=%d:%d:flags=neighbor", w, h)
		case shotBars:
			lavfi(fmt.Sprintf("smptebars=size=%dx%d:rate=%d", w, h, videoFPS))
			chain = "null"
		case shotTestsrc:
			lavfi(fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", w, h, videoFPS))
			chain = "null"
		case shotBlack:
			lavfi(fmt.Sprintf("color=c=black:size=%dx%d:rate=%d", w, h, videoFPS))
			chain = "null"
		}
		fmt.Fprintf(&f, "[%d:v]%s,fps=%d,format=yuv420p,setsar=1,settb=AVTB[v%d];", i, chain, videoFPS, i)
	}
	last := "v0"
	offset := 0.0
	for i := 1; i < len(shots); i++ {
		offset += shots[i-1].seconds - crossFade
		fmt.Fprintf(&f, "[%s][v%d]xfade=transition=fade:duration=%g:offset=%.3f[x%d];", last, i, crossFade, offset, i)
		last = fmt.Sprintf("x%d", i)
	}
	fmt.Fprintf(&f, "[%s]fade=t=in:st=0:d=0.6,fade=t=out:st=%.3f:d=1[out]", last, total-1)
	args = append(args, "-filter_complex", f.String(), "-map", "[out]", "-t", fmt.Sprintf("%.3f", total),
		"-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", "-r", fmt.Sprint(videoFPS))
	err := writeAtomic(path, func(tmp string) error { return b.ffmpeg(ctx, append(args, tmp)...) })
	if err != nil {
		return VideoItem{}, fmt.Errorf("making %s: %w", name, err)
	}
	return item, nil
}

// even rounds x to an even number of pixels (H.264 wants even sizes).
func even(x float64) int { return int(math.Round(x/2)) * 2 }

// corpusDir is the folder of the corpus of these counts and seed under
// dir.
func corpusDir(dir string, nSources, nDistractors int, seed uint64) string {
	return filepath.Join(dir, fmt.Sprintf("seed-%d-%dx%d", seed, nSources, nDistractors))
}
