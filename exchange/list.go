package exchange

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/vpdq"
)

// Format names a list format, as the CLI's --format takes it.
type Format string

// The list formats a whole bank is exported in and imported from.
const (
	// FormatNative is the native JSON Lines format: everything the store
	// keeps, removals included.
	FormatNative Format = "native"
	// FormatPyTXFile is python-threatexchange's local file format.
	FormatPyTXFile Format = "pytx-file"
	// FormatPyTXCSV is python-threatexchange's CSV dataset export.
	FormatPyTXCSV Format = "pytx-csv"
	// FormatVPDQJSON is one video a line, each its frames as the JSON list
	// python-threatexchange stores a vPDQ signal as.
	FormatVPDQJSON Format = "vpdq-json"
)

// Formats are the list formats, in the order help texts name them.
func Formats() []Format {
	return []Format{FormatNative, FormatPyTXFile, FormatPyTXCSV, FormatVPDQJSON}
}

// ParseFormat checks a format name.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats() {
		if string(f) == s {
			return f, nil
		}
	}
	names := make([]string, 0, 4)
	for _, f := range Formats() {
		names = append(names, string(f))
	}
	return "", fmt.Errorf("%w: format %q (known: %s)", ErrInvalid, clip(s), strings.Join(names, ", "))
}

// Labels the CSV format's columns are kept in on an entry.
const (
	LabelCategory = "category"
	LabelTags     = "tags"
)

// ListReader reads a list of any format as items to import
// (store.ImportItem), one at a time.
type ListReader struct {
	next     func() (store.ImportItem, error)
	revision store.Revision
	repeats  bool
}

// NewListReader reads a list of the given format from r. A native list's
// header is read now.
func NewListReader(f Format, r io.Reader) (*ListReader, error) {
	switch f {
	case FormatNative:
		nr, err := NewNativeReader(r)
		if err != nil {
			return nil, err
		}
		return &ListReader{revision: store.Revision(nr.Header().ToRevision), next: func() (store.ImportItem, error) {
			it, err := nr.Next()
			if err != nil {
				return store.ImportItem{}, err
			}
			if it.Removal != nil {
				return store.ImportItem{Remove: it.Removal.Identity, Line: nr.Line()}, nil
			}
			it.Entry.Provenance.SourceID = strconv.FormatUint(it.Entry.ID, 10)
			return store.ImportItem{Entry: it.Entry, Line: nr.Line()}, nil
		}}, nil
	case FormatPyTXFile:
		fr := NewFileReader(r)
		return &ListReader{repeats: true, next: func() (store.ImportItem, error) {
			s, err := fr.Next()
			if err != nil {
				return store.ImportItem{}, err
			}
			return store.ImportItem{Entry: signalEntry(s), Line: fr.Line()}, nil
		}}, nil
	case FormatPyTXCSV:
		cr := NewCSVReader(r)
		return &ListReader{repeats: true, next: func() (store.ImportItem, error) {
			rec, err := cr.Next()
			if err != nil {
				return store.ImportItem{}, err
			}
			e := signalEntry(rec.Signal)
			if rec.Category != "" || len(rec.Tags) > 0 {
				e.Labels = map[string]string{}
			}
			if rec.Category != "" {
				e.Labels[LabelCategory] = rec.Category
			}
			if len(rec.Tags) > 0 {
				e.Labels[LabelTags] = strings.Join(rec.Tags, " ")
			}
			e.Source.Origin = rec.Collab
			return store.ImportItem{Entry: e, Line: cr.Line()}, nil
		}}, nil
	case FormatVPDQJSON:
		vr := newVPDQJSONReader(r)
		return &ListReader{repeats: true, next: func() (store.ImportItem, error) {
			frames, err := vr.next()
			if err != nil {
				return store.ImportItem{}, err
			}
			return store.ImportItem{Entry: signalEntry(Signal{Type: SignalVPDQ, Kind: store.KindVideo, Frames: frames}), Line: vr.line}, nil
		}}, nil
	}
	return nil, fmt.Errorf("%w: format %q", ErrInvalid, clip(string(f)))
}

// Next returns the next item, or io.EOF after the last; errors are
// *LineError.
func (r *ListReader) Next() (store.ImportItem, error) { return r.next() }

// Revision is the revision a native list's header names (its to_revision),
// 0 for the other formats.
func (r *ListReader) Revision() store.Revision { return r.revision }

// Repeats reports whether the format may hold one item twice: a list of
// single hashes does when two of the exporter's entries share a hash, so
// the importer counts a repeat as unchanged; a native list never does.
func (r *ListReader) Repeats() bool { return r.repeats }

// signalEntry is the entry a signal describes.
func signalEntry(s Signal) *store.Entry {
	e := &store.Entry{Kind: s.Kind}
	if s.Type != SignalVPDQ {
		e.Hashes = []hashing.Hash{s.Hash}
		return e
	}
	for _, f := range s.Frames {
		e.Frames = append(e.Frames, store.Frame{Seconds: f.Seconds, Hash: f.Hash, Quality: f.Quality})
	}
	return e
}

// entrySignals are the signals an entry is written as in the formats of
// single hashes: each whole-item hash that has a signal type name, and a
// video's frames as one vPDQ signal.
func entrySignals(e *store.Entry) []Signal {
	var out []Signal
	for _, h := range e.Hashes {
		s := Signal{Type: h.Type, Kind: e.Kind, Hash: h}
		if _, err := signalName(s); err == nil {
			out = append(out, s)
		}
	}
	if len(e.Frames) > 0 {
		out = append(out, Signal{Type: SignalVPDQ, Kind: store.KindVideo, Frames: vpdqFrames(e.Frames)})
	}
	return out
}

func vpdqFrames(frames []store.Frame) []vpdq.Frame {
	out := make([]vpdq.Frame, len(frames))
	for i, f := range frames {
		out[i] = vpdq.Frame{Index: i, Hash: f.Hash, Quality: f.Quality, Seconds: f.Seconds}
	}
	return out
}

// ListWriter writes entries and removals in any format.
type ListWriter struct {
	native *NativeWriter
	file   *FileWriter
	csv    *CSVWriter
	vpdq   *bufio.Writer
}

// NewListWriter writes a list of the given format to w; h is the native
// format's header (its bank names the CSV's collab where an entry has no
// source origin). Flush ends the list.
func NewListWriter(f Format, w io.Writer, h NativeHeader) (*ListWriter, error) {
	switch f {
	case FormatNative:
		nw, err := NewNativeWriter(w, h)
		return &ListWriter{native: nw}, err
	case FormatPyTXFile:
		return &ListWriter{file: NewFileWriter(w)}, nil
	case FormatPyTXCSV:
		return &ListWriter{csv: NewCSVWriter(w)}, nil
	case FormatVPDQJSON:
		return &ListWriter{vpdq: bufio.NewWriter(w)}, nil
	}
	return nil, fmt.Errorf("%w: format %q", ErrInvalid, clip(string(f)))
}

// WriteEntry writes an entry as its format can: whole in the native one,
// as its signals in the others (a vpdq-json list holds only videos).
func (w *ListWriter) WriteEntry(e *store.Entry) error {
	switch {
	case w.native != nil:
		return w.native.WriteEntry(e)
	case w.vpdq != nil:
		if len(e.Frames) == 0 {
			return nil
		}
		js, err := vpdq.MarshalJSON(vpdqFrames(e.Frames))
		if err == nil {
			js = append(js, '\n')
			_, err = w.vpdq.Write(js)
		}
		return err
	}
	for _, s := range entrySignals(e) {
		var err error
		if w.file != nil {
			err = w.file.Write(s)
		} else {
			rec := Record{Signal: s, Collab: e.Source.Origin, Category: e.Labels[LabelCategory], Tags: strings.Fields(e.Labels[LabelTags])}
			err = w.csv.Write(rec)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// WriteRemoval writes a removal; only the native format holds them, the
// others drop them.
func (w *ListWriter) WriteRemoval(r Removal) error {
	if w.native != nil {
		return w.native.WriteRemoval(r)
	}
	return nil
}

// Flush writes what is buffered.
func (w *ListWriter) Flush() error {
	switch {
	case w.native != nil:
		return w.native.Flush()
	case w.file != nil:
		return w.file.Flush()
	case w.csv != nil:
		return w.csv.Flush()
	}
	return w.vpdq.Flush()
}

// vpdqJSONReader reads one vPDQ JSON list a line.
type vpdqJSONReader struct {
	sc   *bufio.Scanner
	line int
	err  error
}

func newVPDQJSONReader(r io.Reader) *vpdqJSONReader { return &vpdqJSONReader{sc: lineScanner(r)} }

func (r *vpdqJSONReader) next() ([]vpdq.Frame, error) {
	if r.err != nil {
		return nil, r.err
	}
	for r.sc.Scan() {
		r.line++
		text := bytes.TrimSpace(r.sc.Bytes())
		if len(text) == 0 {
			continue
		}
		frames, err := vpdq.ParseJSON(text)
		if err == nil && len(frames) == 0 {
			err = errors.New("a video with no frames")
		}
		if err != nil {
			r.err = lineError(r.line, fmt.Errorf("%w: %w", ErrInvalid, err))
			return nil, r.err
		}
		return frames, nil
	}
	r.err = scanEnd(r.sc, r.line)
	return nil, r.err
}
