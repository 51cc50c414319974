package exchange

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxLineBytes bounds one line of a list: a vPDQ signal of 20,000 frames
// (the most an entry holds) takes about 1.5 MB as JSON, and no other signal
// is longer than a hundred bytes.
const MaxLineBytes = 4 << 20

// FileReader reads python-threatexchange's local file format a line at a
// time.
type FileReader struct {
	sc   *bufio.Scanner
	line int
	err  error
}

// NewFileReader reads the local file format from r.
func NewFileReader(r io.Reader) *FileReader { return &FileReader{sc: lineScanner(r)} }

// lineScanner reads lines of at most MaxLineBytes.
func lineScanner(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineBytes)
	return sc
}

// scanEnd is what ends a scanner's lines after line: io.EOF, or its error
// at the next line (an over-long one as ErrInvalid).
func scanEnd(sc *bufio.Scanner, line int) error {
	err := sc.Err()
	if err == nil {
		return io.EOF
	}
	if errors.Is(err, bufio.ErrTooLong) {
		err = fmt.Errorf("%w: a line over %d bytes", ErrInvalid, MaxLineBytes)
	}
	return lineError(line+1, err)
}

// Line is the number of the line of the last signal read.
func (r *FileReader) Line() int { return r.line }

// Next returns the next signal, or io.EOF after the last. After an error
// other than io.EOF, every later call returns it again.
func (r *FileReader) Next() (Signal, error) {
	if r.err != nil {
		return Signal{}, r.err
	}
	for r.sc.Scan() {
		r.line++
		text := strings.TrimRight(r.sc.Text(), "\r")
		if strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#") {
			continue
		}
		name, value, ok := strings.Cut(text, " ")
		if !ok || name == "" || strings.TrimSpace(value) == "" {
			r.err = lineError(r.line, fmt.Errorf("%w: want \"SIGNAL_TYPE SIGNAL\", got %q", ErrInvalid, clip(text)))
			return Signal{}, r.err
		}
		s, err := parseSignal(name, strings.TrimSpace(value))
		if err != nil {
			r.err = lineError(r.line, err)
			return Signal{}, r.err
		}
		return s, nil
	}
	r.err = scanEnd(r.sc, r.line)
	return Signal{}, r.err
}

// FileWriter writes python-threatexchange's local file format.
type FileWriter struct {
	w *bufio.Writer
}

// NewFileWriter writes the local file format to w; Flush ends it.
func NewFileWriter(w io.Writer) *FileWriter { return &FileWriter{w: bufio.NewWriter(w)} }

// Write writes one signal as a line.
func (w *FileWriter) Write(s Signal) error {
	name, err := signalName(s)
	if err != nil {
		return err
	}
	value, err := signalString(s)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w.w, "%s %s\n", name, value)
	return err
}

// Flush writes what is buffered.
func (w *FileWriter) Flush() error { return w.w.Flush() }
