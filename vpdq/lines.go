package vpdq

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ParseLines reads the reference C++ tool's output (vpdq-hash-video): one
// frame a line as "frame_number,quality,hash_hex,seconds", no header.
// Blank lines, CRLF line ends, a missing final newline and spaces around
// fields are accepted; the hash may be in either case; timestamps need not
// be in order. Errors about the content wrap ErrInvalid and name the line.
// An input without frames gives an empty slice and no error.
func ParseLines(r io.Reader) ([]Frame, error) {
	sc := bufio.NewScanner(r)
	// Room for one line, its CR and LF; longer lines stop the scanner.
	sc.Buffer(make([]byte, 0, MaxLineLen+2), MaxLineLen+2)
	frames := []Frame{}
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if len(text) > MaxLineLen {
			return nil, fmt.Errorf("%w: line %d: longer than %d bytes", ErrInvalid, line, MaxLineLen)
		}
		if strings.Trim(text, " \t") == "" {
			continue
		}
		if len(frames) == MaxFrames {
			return nil, fmt.Errorf("%w: line %d: more than %d frames", ErrInvalid, line, MaxFrames)
		}
		f, err := parseLine(text)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrInvalid, line, err)
		}
		frames = append(frames, f)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%w: line %d: longer than %d bytes", ErrInvalid, line+1, MaxLineLen)
		}
		return nil, fmt.Errorf("vpdq: reading hash: %w", err)
	}
	return frames, nil
}

// parseLine parses one non-blank line of the lines format.
func parseLine(text string) (Frame, error) {
	fields := strings.Split(text, ",")
	if len(fields) != 4 {
		return Frame{}, fmt.Errorf("want 4 comma-separated fields (frame,quality,hash,seconds), got %d", len(fields))
	}
	var f Frame
	var err error
	if f.Index, err = parseIndex(trimField(fields[0])); err != nil {
		return Frame{}, err
	}
	if f.Quality, err = parseQuality(trimField(fields[1])); err != nil {
		return Frame{}, err
	}
	if f.Hash, err = parseHash(trimField(fields[2])); err != nil {
		return Frame{}, err
	}
	if f.Seconds, err = parseSeconds(trimField(fields[3])); err != nil {
		return Frame{}, err
	}
	return f, nil
}

// WriteLines writes frames in the reference C++ tool's format: one line
// "frame_number,quality,hash_hex,seconds" a frame, lower-case hex, seconds
// with SecondsPrecision decimals, each line ending in "\n". It checks every
// frame before writing anything: a frame out of range, or more than
// MaxFrames frames, gives an error wrapping ErrInvalid.
func WriteLines(w io.Writer, frames []Frame) error {
	if err := checkFrames(frames); err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	var b []byte
	for _, f := range frames {
		b = b[:0]
		b = fmt.Appendf(b, "%d,%d,%s,", f.Index, f.Quality, f.Hash)
		b = appendSeconds(b, f.Seconds)
		b = append(b, '\n')
		if _, err := bw.Write(b); err != nil {
			return fmt.Errorf("vpdq: writing hash: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("vpdq: writing hash: %w", err)
	}
	return nil
}

// checkFrames reports the first frame the writers cannot write.
func checkFrames(frames []Frame) error {
	if len(frames) > MaxFrames {
		return fmt.Errorf("%w: %d frames, more than %d", ErrInvalid, len(frames), MaxFrames)
	}
	for i, f := range frames {
		if err := checkFrame(f); err != nil {
			return fmt.Errorf("%w: frame %d: %v", ErrInvalid, i+1, err)
		}
	}
	return nil
}
