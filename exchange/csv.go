package exchange

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// csvHeader is the header of python-threatexchange's CSV dataset export.
func csvHeader() []string { return []string{"signal_type", "signal_str", "collab", "category", "tags"} }

// Record is one row of a CSV dataset: a signal and what the exporter said
// of it.
type Record struct {
	Signal Signal
	// Collab is the collaboration (exchange) the signal came from.
	Collab string
	// Category is the exporter's classification.
	Category string
	// Tags are the exporter's tags.
	Tags []string
}

// CSVReader reads python-threatexchange's CSV dataset export a row at a
// time.
type CSVReader struct {
	r      *csv.Reader
	in     *limitedRecord
	line   int
	header bool // the header was read
	err    error
}

// NewCSVReader reads a CSV dataset from r. The header is checked at the
// first Next.
func NewCSVReader(r io.Reader) *CSVReader {
	in := &limitedRecord{r: r}
	c := csv.NewReader(in)
	c.FieldsPerRecord = len(csvHeader())
	c.ReuseRecord = true
	return &CSVReader{r: c, in: in}
}

// Line is the line of the last record read.
func (r *CSVReader) Line() int { return r.line }

// Next returns the next record, or io.EOF after the last. After an error
// other than io.EOF, every later call returns it again.
func (r *CSVReader) Next() (Record, error) {
	if r.err != nil {
		return Record{}, r.err
	}
	rec, err := r.read()
	if err == nil && !r.header {
		r.header = true
		if err = checkHeader(rec); err == nil {
			rec, err = r.read()
		}
	}
	if err != nil {
		r.err = err
		return Record{}, err
	}
	s, err := parseSignal(unquoteFormula(rec[0]), unquoteFormula(rec[1]))
	if err != nil {
		r.err = lineError(r.line, err)
		return Record{}, r.err
	}
	out := Record{Signal: s, Collab: unquoteFormula(rec[2]), Category: unquoteFormula(rec[3])}
	if tags := strings.Fields(unquoteFormula(rec[4])); len(tags) > 0 {
		out.Tags = tags
	}
	return out, nil
}

// read reads one row, keeping its line.
func (r *CSVReader) read() ([]string, error) {
	rec, err := r.r.Read()
	if err == io.EOF {
		if !r.header {
			return nil, lineError(1, fmt.Errorf("%w: an empty CSV file (no header)", ErrInvalid))
		}
		return nil, io.EOF
	}
	if err != nil {
		line := r.line + 1
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			line = pe.StartLine
		}
		if errors.Is(err, errLineTooLong) {
			err = fmt.Errorf("%w: a line over %d bytes", ErrInvalid, MaxLineBytes)
		} else {
			err = fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		return nil, lineError(line, err)
	}
	r.line, _ = r.r.FieldPos(0)
	r.in.recordStart = r.r.InputOffset()
	return rec, nil
}

func checkHeader(rec []string) error {
	for i, want := range csvHeader() {
		if strings.TrimPrefix(rec[i], "\ufeff") != want {
			return lineError(1, fmt.Errorf("%w: the header must be %s", ErrInvalid, strings.Join(csvHeader(), ",")))
		}
	}
	return nil
}

// CSVWriter writes python-threatexchange's CSV dataset export.
type CSVWriter struct {
	w      *csv.Writer
	header bool
}

// NewCSVWriter writes a CSV dataset to w; Flush ends it.
func NewCSVWriter(w io.Writer) *CSVWriter { return &CSVWriter{w: csv.NewWriter(w)} }

// Write writes one record, with the header first.
func (w *CSVWriter) Write(r Record) error {
	if !w.header {
		if err := w.w.Write(csvHeader()); err != nil {
			return err
		}
		w.header = true
	}
	name, err := signalName(r.Signal)
	if err != nil {
		return err
	}
	value, err := signalString(r.Signal)
	if err != nil {
		return err
	}
	return w.w.Write([]string{name, value, quoteFormula(r.Collab), quoteFormula(r.Category), quoteFormula(strings.Join(r.Tags, " "))})
}

// Flush writes what is buffered (the header alone for an empty dataset).
func (w *CSVWriter) Flush() error {
	if !w.header {
		if err := w.w.Write(csvHeader()); err != nil {
			return err
		}
		w.header = true
	}
	w.w.Flush()
	return w.w.Error()
}

// quoteFormula keeps a spreadsheet from running a field as a formula: one
// that starts with a character that begins a formula gets a leading
// apostrophe, which spreadsheets show as text and do not display.
func quoteFormula(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r'", rune(s[0])) {
		return "'" + s
	}
	return s
}

// unquoteFormula undoes quoteFormula.
func unquoteFormula(s string) string {
	if len(s) > 1 && s[0] == '\'' && strings.ContainsRune("=+-@\t\r'", rune(s[1])) {
		return s[1:]
	}
	return s
}

// limitedRecord passes r through, failing once the record being read
// (from recordStart, the end of the last one) has grown past
// MaxLineBytes, so the CSV reader never holds much more than that: a quoted
// field may span lines, so lines are not the unit to bound. What the
// reader's buffer reads ahead counts too, so a record within its size of
// the limit may be refused.
type limitedRecord struct {
	r           io.Reader
	read        int64 // bytes read in all
	recordStart int64 // offset where the record being read starts
}

func (l *limitedRecord) Read(p []byte) (int, error) {
	room := MaxLineBytes + 1 - (l.read - l.recordStart)
	if room <= 0 {
		return 0, errLineTooLong
	}
	k, err := l.r.Read(p[:min(int64(len(p)), room)])
	l.read += int64(k)
	return k, err
}
