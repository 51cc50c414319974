package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/media"
	"github.com/mediamatch/mediamatch/video"
	"github.com/mediamatch/mediamatch/vpdq"
)

// hashLine is the JSON line printed for one file.
type hashLine struct {
	File     string      `json:"file"`
	Media    string      `json:"media,omitempty"`
	Format   string      `json:"format,omitempty"`
	Width    int         `json:"width,omitempty"`
	Height   int         `json:"height,omitempty"`
	Duration float64     `json:"duration,omitempty"`
	Hashes   []hashJSON  `json:"hashes,omitempty"`
	Frames   []frameJSON `json:"frames,omitempty"`
	Decode   *decodeJSON `json:"decode,omitempty"`
	Error    string      `json:"error,omitempty"`
}

// decodeJSON says how a file that is not well formed was decoded, as the
// API's DecodeReport does.
type decodeJSON struct {
	Partial         bool     `json:"partial"`
	VisibleFraction float64  `json:"visible_fraction"`
	Notes           []string `json:"notes,omitempty"`
}

func decodeOf(r *media.Repair) *decodeJSON {
	if r == nil {
		return nil
	}
	return &decodeJSON{Partial: r.Partial(), VisibleFraction: r.Visible, Notes: r.Notes}
}

// frameJSON is one sampled video frame in a hashLine.
type frameJSON struct {
	TS      float64 `json:"ts"`
	PDQ     string  `json:"pdq"`
	Quality int     `json:"quality"`
	// Content is the PDQ hash of the frame's content region, for frames
	// with bars, borders or caption bands.
	Content string `json:"content_pdq,omitempty"`
}

// hashJSON is one hash in a hashLine.
type hashJSON struct {
	Type     string   `json:"type"`
	Hex      string   `json:"hex"`
	Quality  *int     `json:"quality,omitempty"`
	Dihedral []string `json:"dihedral,omitempty"`
}

// decodeFlags registers the media budgets shared by every command that
// decodes media locally.
func decodeFlags(fs *flag.FlagSet) *media.Options {
	o := &media.Options{}
	fs.Int64Var(&o.MaxBytes, "max-bytes", media.DefaultMaxBytes, "largest input file in bytes")
	fs.Int64Var(&o.MaxPixels, "max-pixels", media.DefaultMaxPixels, "largest image in pixels (width*height), checked before decoding")
	fs.IntVar(&o.MaxFrames, "max-frames", media.DefaultMaxFrames, "most frames of an animated image decoded (the rest are left out, with a note)")
	fs.Int64Var(&o.MaxDecodeMemory, "max-decode-memory", media.DefaultMaxDecodeMemory, "most memory one image decode may hold, in bytes, estimated from its header (format, bit depth, pixels) before decoding")
	fs.Int64Var(&o.MaxVideoBytes, "max-video-bytes", media.DefaultMaxVideoBytes, "largest video file in bytes")
	fs.DurationVar(&o.MaxDuration, "max-duration", media.DefaultMaxDuration, "longest video accepted")
	fs.DurationVar(&o.VideoTimeout, "video-timeout", media.DefaultVideoTimeout, "wall-clock limit for decoding one video")
	return o
}

func runHash(e *env, args []string) int {
	fs := flag.NewFlagSet("hash", flag.ContinueOnError)
	dihedral := fs.Bool("dihedral", false, "also print the PDQ hashes of the 8 rotations and mirrors")
	vpdqOut := fs.Bool("vpdq", false, "for one video, print its frame hashes as vPDQ lines (frame,quality,hex,seconds) instead of JSON")
	typesFlag := fs.String("types", "", "comma-separated hash types to compute and print, of "+strings.Join(typeNames(), ", ")+" (default every one; a video's frames are always hashed)")
	// One a core, up to 4: each decode may hold up to --max-decode-memory.
	jobs := jobsFlag(fs, min(runtime.GOMAXPROCS(0), 4), "hashed")
	opts := decodeFlags(fs)
	if !parseCommand(e, fs, args, "usage: mediamatch hash [--dihedral] [--types T,...] [--jobs N] FILE|FOLDER...  (FILE '-' is standard input)\n       mediamatch hash --vpdq VIDEO", func() bool { return fs.NArg() > 0 }) {
		return exitUsage
	}
	if *vpdqOut {
		return hashVPDQ(e, fs.Args(), *opts)
	}
	var types []string
	if *typesFlag != "" {
		for t := range strings.SplitSeq(*typesFlag, ",") {
			t = strings.TrimSpace(t)
			if _, err := hashing.Lookup(t); err != nil {
				fmt.Fprintf(e.stderr, "mediamatch hash: --types: %v\n", err)
				return exitUsage
			}
			types = append(types, t)
		}
		if *dihedral && !slices.Contains(types, hashing.PDQ) {
			fmt.Fprintf(e.stderr, "mediamatch hash: --dihedral prints PDQ variants: give pdq among --types\n")
			return exitUsage
		}
	}
	names, err := expandInputs(fs.Args())
	if err != nil {
		fmt.Fprintf(e.stderr, "mediamatch hash: %v\n", err)
		return exitFail
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetEscapeHTML(false)
	code := exitOK
	prog := newProgress(e, "files", int64(len(names)))
	defer prog.finish()
	inOrder(len(names), *jobs, func(i int) hashLine {
		defer prog.add(1)
		return hashFile(e, names[i], *opts, hashing.Options{Dihedral: *dihedral, Types: types})
	}, func(_ int, line hashLine) bool {
		if line.Error != "" {
			code = exitFail
		}
		prog.clear()
		if err := enc.Encode(line); err != nil {
			fmt.Fprintf(e.stderr, "mediamatch: writing output: %v\n", err)
			code = exitFail
			return false
		}
		return true
	})
	return code
}

// hashFile hashes one named file (or standard input for "-"), reporting any
// failure in the line's Error.
func hashFile(e *env, name string, mo media.Options, ho hashing.Options) hashLine {
	line := hashLine{File: name}
	data, err := readInput(e, name, max(mo.MaxBytes, mo.MaxVideoBytes))
	if err != nil {
		line.Error = err.Error()
		return line
	}
	if media.IsVideo(data, mo) {
		return hashVideoFile(line, data, mo, ho.Types)
	}
	img, err := media.Decode(data, mo)
	if err != nil {
		line.Error = err.Error()
		return line
	}
	hs, err := hashing.Image(img.Image, ho)
	if err != nil {
		line.Error = err.Error()
		return line
	}
	line.Media, line.Format = "image", string(img.Format)
	line.Width, line.Height = img.Width, img.Height
	line.Decode = decodeOf(img.Repair)
	for _, h := range append(hs.Hashes, hashing.Digests(data, ho.Types...)...) {
		j := hashJSON{Type: h.Type, Hex: h.Hex()}
		if t, _ := hashing.Lookup(h.Type); t.HasQuality {
			q := h.Quality
			j.Quality = &q
		}
		if h.Type == hashing.PDQ {
			for _, d := range hs.Dihedral {
				j.Dihedral = append(j.Dihedral, d.String())
			}
		}
		line.Hashes = append(line.Hashes, j)
	}
	return line
}

// hashVideoFile fills a hashLine for a video.
func hashVideoFile(line hashLine, data []byte, mo media.Options, types []string) hashLine {
	v, err := video.Hash(context.Background(), data, mo)
	if err != nil {
		line.Error = err.Error()
		return line
	}
	line.Media, line.Format = "video", string(v.Info.Format)
	line.Width, line.Height, line.Duration = v.Info.Width, v.Info.Height, v.Info.Duration.Seconds()
	line.Decode = decodeOf(v.Info.Repair)
	for _, h := range hashing.Digests(data, types...) {
		line.Hashes = append(line.Hashes, hashJSON{Type: h.Type, Hex: h.Hex()})
	}
	for _, f := range v.Frames {
		j := frameJSON{TS: f.Seconds, PDQ: f.Hash.String(), Quality: f.Quality}
		if f.HasContent {
			j.Content = f.Content.String()
		}
		line.Frames = append(line.Frames, j)
	}
	return line
}

// hashVPDQ prints one video's frame hashes in the vPDQ reference format.
func hashVPDQ(e *env, names []string, mo media.Options) int {
	if len(names) != 1 {
		fmt.Fprintln(e.stderr, "mediamatch hash --vpdq: give exactly one video")
		return exitUsage
	}
	data, err := readInput(e, names[0], max(mo.MaxBytes, mo.MaxVideoBytes))
	if err != nil {
		fmt.Fprintf(e.stderr, "mediamatch hash: %v\n", err)
		return exitFail
	}
	v, err := video.Hash(context.Background(), data, mo)
	if err != nil {
		fmt.Fprintf(e.stderr, "mediamatch hash: %s: %v\n", names[0], err)
		return exitFail
	}
	frames := make([]vpdq.Frame, len(v.Frames))
	for i, f := range v.Frames {
		frames[i] = vpdq.Frame{Index: i, Hash: f.Hash, Quality: f.Quality, Seconds: f.Seconds}
	}
	if err := vpdq.WriteLines(e.stdout, frames); err != nil {
		fmt.Fprintf(e.stderr, "mediamatch: writing output: %v\n", err)
		return exitFail
	}
	return exitOK
}

// errInputTooLarge reports a file over the --max-bytes budget, found while
// reading so that a huge file is never read whole.
var errInputTooLarge = errors.New("input over the size limit")

// readInput reads a named file, or standard input for "-", refusing
// anything over max bytes.
func readInput(e *env, name string, max int64) ([]byte, error) {
	var r io.Reader
	if name == "-" {
		r = e.stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	if max <= 0 {
		max = media.DefaultMaxBytes
	}
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w: more than %d bytes (raise --max-bytes)", errInputTooLarge, max)
	}
	return data, nil
}

// typeNames lists the hash types' names, in registry order.
func typeNames() []string {
	var names []string
	for _, t := range hashing.Types() {
		names = append(names, t.Name)
	}
	return names
}
