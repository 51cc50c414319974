package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/media"
)

// hashLine is the JSON line printed for one file.
type hashLine struct {
	File   string     `json:"file"`
	Media  string     `json:"media,omitempty"`
	Format string     `json:"format,omitempty"`
	Width  int        `json:"width,omitempty"`
	Height int        `json:"height,omitempty"`
	Hashes []hashJSON `json:"hashes,omitempty"`
	Error  string     `json:"error,omitempty"`
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
	fs.IntVar(&o.MaxFrames, "max-frames", media.DefaultMaxFrames, "most frames an animated image may have")
	return o
}

func runHash(e *env, args []string) int {
	fs := flag.NewFlagSet("hash", flag.ContinueOnError)
	dihedral := fs.Bool("dihedral", false, "also print the PDQ hashes of the 8 rotations and mirrors")
	opts := decodeFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: mediamatch hash [--dihedral] FILE...  (FILE '-' is standard input)")
		fs.PrintDefaults()
	}
	if err := parseFlags(e, fs, args); err != nil {
		return exitUsage
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitUsage
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetEscapeHTML(false)
	code := exitOK
	for _, name := range fs.Args() {
		line := hashFile(e, name, *opts, hashing.Options{Dihedral: *dihedral})
		if line.Error != "" {
			code = exitFail
		}
		if err := enc.Encode(line); err != nil {
			fmt.Fprintf(e.stderr, "mediamatch: writing output: %v\n", err)
			return exitFail
		}
	}
	return code
}

// hashFile hashes one named file (or standard input for "-"), reporting any
// failure in the line's Error.
func hashFile(e *env, name string, mo media.Options, ho hashing.Options) hashLine {
	line := hashLine{File: name}
	data, err := readInput(e, name, mo.MaxBytes)
	if err != nil {
		line.Error = err.Error()
		return line
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
	for _, h := range append(hs.Hashes, hashing.Digests(data)...) {
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
