package exchange

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/pdq"
	"github.com/mediamatch/mediamatch/store"
)

// The native format: JSON Lines that carry everything the store keeps of a
// bank's entries. The first line is the header (NativeHeader); each later
// line holds one entry ({"entry": ...}) or one removal ({"removed": ...}),
// in the order of the changes they come from.
const (
	// NativeFormat names the format in its header.
	NativeFormat = "mediamatch-bank"
	// NativeVersion is the version written; a reader refuses a newer one.
	// New fields do not move it (readers skip what they do not know).
	NativeVersion = 1
)

// NativeHeader is the first line of a native list.
type NativeHeader struct {
	Format   string `json:"format"`
	Version  int    `json:"version"`
	Exporter string `json:"exporter"`
	// Bank is the bank exported, with its settings.
	Bank NativeBank `json:"bank"`
	// FromRevision and ToRevision bound the changes the list holds: those
	// after FromRevision up to ToRevision. A whole bank is from 0.
	FromRevision uint64    `json:"from_revision"`
	ToRevision   uint64    `json:"to_revision"`
	Exported     time.Time `json:"exported"`
}

// NativeBank is a bank's name and settings as the header carries them.
type NativeBank struct {
	Name             string            `json:"name"`
	Description      string            `json:"description,omitempty"`
	Labels           map[string]string `json:"labels,omitempty"`
	Disabled         bool              `json:"disabled,omitempty"`
	Thresholds       map[string]int    `json:"thresholds,omitempty"`
	FalseMatchBudget float64           `json:"false_match_budget,omitempty"`
}

// Removal is an entry that left the bank within the list's revisions.
type Removal struct {
	// Identity is the item's identity (store.Identity), which names it on
	// every server; ID is the exporter's own entry id.
	Identity [32]byte
	ID       uint64
	Revision store.Revision
	Time     time.Time
	Actor    string
}

// NativeItem is one line after the header: an entry or a removal.
type NativeItem struct {
	Entry   *store.Entry
	Removal *Removal
}

// The JSON shapes of the lines.
type (
	nativeLine struct {
		Entry   *nativeEntry   `json:"entry,omitempty"`
		Removed *nativeRemoval `json:"removed,omitempty"`
	}
	// nativeThumbnail is an image's grey thumbnail (store.Thumbnail), its
	// pixels in base64.
	nativeThumbnail struct {
		Width  int    `json:"width"`
		Height int    `json:"height"`
		Grey   []byte `json:"grey"`
	}
	nativeEntry struct {
		Identity  string            `json:"identity"`
		ID        uint64            `json:"id"`
		Kind      string            `json:"kind"`
		Format    string            `json:"format,omitempty"`
		Width     int               `json:"width,omitempty"`
		Height    int               `json:"height,omitempty"`
		Duration  float64           `json:"duration,omitempty"`
		Hashes    []nativeHash      `json:"hashes"`
		Regions   []nativeRegion    `json:"regions,omitempty"`
		Keypoints []nativeKeypoint  `json:"keypoints,omitempty"`
		Thumbnail *nativeThumbnail  `json:"thumbnail,omitempty"`
		Frames    []nativeFrame     `json:"frames,omitempty"`
		Labels    map[string]string `json:"labels,omitempty"`
		Note      string            `json:"note,omitempty"`
		Source    *nativeSource     `json:"source,omitempty"`
		// Provenance says which partner's list the entry was imported
		// from, on the exporter's server; an importer records its own.
		Provenance *nativeProvenance `json:"provenance,omitempty"`
		Created    time.Time         `json:"created"`
		CreatedBy  string            `json:"created_by"`
		Updated    time.Time         `json:"updated"`
		UpdatedBy  string            `json:"updated_by"`
		Revision   uint64            `json:"revision"`
	}
	nativeHash struct {
		Type    string `json:"type"`
		Hex     string `json:"hex"`
		Quality int    `json:"quality,omitempty"`
	}
	nativeRegion struct {
		Kind    string     `json:"kind"`
		Box     [4]float32 `json:"box"` // left, top, width, height
		PDQ     string     `json:"pdq"`
		Quality int        `json:"quality"`
		PHash   string     `json:"phash,omitempty"`
	}
	nativeKeypoint struct {
		X          float32 `json:"x"`
		Y          float32 `json:"y"`
		Level      uint8   `json:"level"`
		Descriptor string  `json:"descriptor"`
	}
	nativeFrame struct {
		Seconds float64 `json:"seconds"`
		PDQ     string  `json:"pdq"`
		Quality int     `json:"quality"`
		Content string  `json:"content,omitempty"`
	}
	nativeSource struct {
		Origin     string `json:"origin,omitempty"`
		ExternalID string `json:"external_id,omitempty"`
		URI        string `json:"uri,omitempty"`
	}
	nativeProvenance struct {
		Partner      string    `json:"partner,omitempty"`
		List         string    `json:"list,omitempty"`
		ListRevision uint64    `json:"list_revision,omitempty"`
		SourceID     string    `json:"source_id,omitempty"`
		Imported     time.Time `json:"imported"`
	}
	nativeRemoval struct {
		Identity string    `json:"identity"`
		ID       uint64    `json:"id"`
		Revision uint64    `json:"revision"`
		Time     time.Time `json:"time"`
		Actor    string    `json:"actor"`
	}
)

// NativeWriter writes a native list.
type NativeWriter struct {
	w   *bufio.Writer
	enc *json.Encoder
}

// NewNativeWriter writes h as the header of a native list to w (setting
// its format and version); Flush ends the list.
func NewNativeWriter(w io.Writer, h NativeHeader) (*NativeWriter, error) {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	h.Format, h.Version = NativeFormat, NativeVersion
	if !store.ValidBankName(h.Bank.Name) {
		return nil, fmt.Errorf("%w: bank name %q", ErrInvalid, clip(h.Bank.Name))
	}
	if err := enc.Encode(h); err != nil {
		return nil, err
	}
	return &NativeWriter{w: bw, enc: enc}, nil
}

// WriteEntry writes one entry.
func (w *NativeWriter) WriteEntry(e *store.Entry) error {
	if err := store.ValidateEntry(e); err != nil {
		return err
	}
	return w.enc.Encode(nativeLine{Entry: entryToNative(e)})
}

// WriteRemoval writes one removal.
func (w *NativeWriter) WriteRemoval(r Removal) error {
	return w.enc.Encode(nativeLine{Removed: &nativeRemoval{Identity: hex.EncodeToString(r.Identity[:]), ID: r.ID,
		Revision: uint64(r.Revision), Time: r.Time, Actor: r.Actor}})
}

// Flush writes what is buffered.
func (w *NativeWriter) Flush() error { return w.w.Flush() }

func entryToNative(e *store.Entry) *nativeEntry {
	id := store.Identity(e)
	n := &nativeEntry{Identity: hex.EncodeToString(id[:]), ID: e.ID, Kind: e.Kind.String(), Format: e.Format,
		Width: e.Width, Height: e.Height, Duration: e.Duration, Labels: e.Labels, Note: e.Note,
		Created: e.Created, CreatedBy: e.CreatedBy, Updated: e.Updated, UpdatedBy: e.UpdatedBy, Revision: uint64(e.Revision),
		Hashes: []nativeHash{}}
	for _, h := range e.Hashes {
		n.Hashes = append(n.Hashes, nativeHash{Type: h.Type, Hex: h.Hex(), Quality: h.Quality})
	}
	for _, r := range e.Regions {
		nr := nativeRegion{Kind: r.Kind.String(), Box: [4]float32{r.Box.Left, r.Box.Top, r.Box.Width, r.Box.Height},
			PDQ: hex.EncodeToString(r.Hash[:]), Quality: r.Quality}
		if r.HasPHash {
			nr.PHash = fmt.Sprintf("%016x", r.PHash)
		}
		n.Regions = append(n.Regions, nr)
	}
	for _, k := range e.Keypoints {
		n.Keypoints = append(n.Keypoints, nativeKeypoint{X: k.X, Y: k.Y, Level: k.Level,
			Descriptor: fmt.Sprintf("%016x%016x%016x%016x", k.Descriptor[0], k.Descriptor[1], k.Descriptor[2], k.Descriptor[3])})
	}
	if t := e.Thumbnail; !t.IsZero() {
		n.Thumbnail = &nativeThumbnail{Width: t.Width, Height: t.Height, Grey: t.Grey}
	}
	for _, f := range e.Frames {
		nf := nativeFrame{Seconds: f.Seconds, PDQ: hex.EncodeToString(f.Hash[:]), Quality: f.Quality}
		if f.HasContent {
			nf.Content = hex.EncodeToString(f.Content[:])
		}
		n.Frames = append(n.Frames, nf)
	}
	if e.Source != (store.Source{}) {
		n.Source = &nativeSource{Origin: e.Source.Origin, ExternalID: e.Source.ExternalID, URI: e.Source.URI}
	}
	if p := e.Provenance; !p.IsZero() {
		n.Provenance = &nativeProvenance{Partner: p.Partner, List: p.List, ListRevision: uint64(p.ListRevision), SourceID: p.SourceID, Imported: p.Imported}
	}
	return n
}

// NativeReader reads a native list a line at a time.
type NativeReader struct {
	sc     *bufio.Scanner
	line   int
	header NativeHeader
	err    error
}

// NewNativeReader reads the header of a native list from r.
func NewNativeReader(r io.Reader) (*NativeReader, error) {
	nr := &NativeReader{sc: lineScanner(r)}
	text, err := nr.next()
	if err == io.EOF {
		return nil, lineError(1, fmt.Errorf("%w: an empty list (no header)", ErrInvalid))
	}
	if err != nil {
		return nil, err
	}
	if err := strictJSON(text, &nr.header); err != nil {
		return nil, lineError(nr.line, fmt.Errorf("%w: the header: %v", ErrInvalid, err))
	}
	h := nr.header
	switch {
	case h.Format != NativeFormat:
		return nil, lineError(nr.line, fmt.Errorf("%w: format %q, want %q", ErrInvalid, clip(h.Format), NativeFormat))
	case h.Version < 1 || h.Version > NativeVersion:
		return nil, lineError(nr.line, fmt.Errorf("%w: format version %d; this mediamatch reads up to %d", ErrInvalid, h.Version, NativeVersion))
	case !store.ValidBankName(h.Bank.Name):
		return nil, lineError(nr.line, fmt.Errorf("%w: bank name %q", ErrInvalid, clip(h.Bank.Name)))
	case h.ToRevision < h.FromRevision:
		return nil, lineError(nr.line, fmt.Errorf("%w: revisions %d to %d", ErrInvalid, h.FromRevision, h.ToRevision))
	}
	bank := store.Bank{Name: h.Bank.Name, Description: h.Bank.Description, Labels: h.Bank.Labels, Disabled: h.Bank.Disabled,
		Thresholds: h.Bank.Thresholds, FalseMatchBudget: h.Bank.FalseMatchBudget}
	if err := store.ValidateBank(&bank); err != nil {
		return nil, lineError(nr.line, fmt.Errorf("%w: %w", ErrInvalid, err))
	}
	return nr, nil
}

// Header is the list's header.
func (r *NativeReader) Header() NativeHeader { return r.header }

// Line is the number of the line of the last item read.
func (r *NativeReader) Line() int { return r.line }

// next returns the next line that is not blank.
func (r *NativeReader) next() ([]byte, error) {
	for r.sc.Scan() {
		r.line++
		if text := bytes.TrimSpace(r.sc.Bytes()); len(text) > 0 {
			return text, nil
		}
	}
	return nil, scanEnd(r.sc, r.line)
}

// Next returns the next entry or removal, or io.EOF after the last. An
// entry is checked as the store checks what it is given, and its identity
// must be that of its hashes. After an error other than io.EOF, every
// later call returns it again.
func (r *NativeReader) Next() (NativeItem, error) {
	if r.err != nil {
		return NativeItem{}, r.err
	}
	item, err := r.item()
	if err != nil {
		if err != io.EOF {
			err = lineError(r.line, err)
		}
		r.err = err
	}
	return item, err
}

func (r *NativeReader) item() (NativeItem, error) {
	text, err := r.next()
	if err != nil {
		return NativeItem{}, err
	}
	var l nativeLine
	if !decodeNativeLine(text, &l) {
		l = nativeLine{}
		if err := strictJSON(text, &l); err != nil {
			return NativeItem{}, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}
	switch {
	case (l.Entry == nil) == (l.Removed == nil):
		return NativeItem{}, fmt.Errorf("%w: a line holds one \"entry\" or one \"removed\"", ErrInvalid)
	case l.Removed != nil:
		id, err := identityOf(l.Removed.Identity)
		if err != nil {
			return NativeItem{}, err
		}
		return NativeItem{Removal: &Removal{Identity: id, ID: l.Removed.ID, Revision: store.Revision(l.Removed.Revision),
			Time: l.Removed.Time, Actor: l.Removed.Actor}}, nil
	}
	e, err := nativeToEntry(l.Entry, r.header.Bank.Name)
	if err != nil {
		return NativeItem{}, err
	}
	return NativeItem{Entry: e}, nil
}

func nativeToEntry(n *nativeEntry, bank string) (*store.Entry, error) {
	e := &store.Entry{ID: n.ID, Bank: bank, Format: n.Format, Width: n.Width, Height: n.Height, Duration: n.Duration,
		Labels: n.Labels, Note: n.Note, Created: n.Created, CreatedBy: n.CreatedBy, Updated: n.Updated, UpdatedBy: n.UpdatedBy,
		Revision: store.Revision(n.Revision)}
	switch n.Kind {
	case store.KindImage.String():
		e.Kind = store.KindImage
	case store.KindVideo.String():
		e.Kind = store.KindVideo
	case store.KindUnknown.String():
	default:
		return nil, fmt.Errorf("%w: kind %q", ErrInvalid, clip(n.Kind))
	}
	for _, h := range n.Hashes {
		hh, err := hashing.Parse(h.Type, h.Hex)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		hh.Quality = h.Quality
		e.Hashes = append(e.Hashes, hh)
	}
	for _, r := range n.Regions {
		kind, err := regionKind(r.Kind)
		if err != nil {
			return nil, err
		}
		rh := hashing.RegionHash{Kind: kind, Box: hashing.Box{Left: r.Box[0], Top: r.Box[1], Width: r.Box[2], Height: r.Box[3]}, Quality: r.Quality}
		if rh.Hash, err = pdqOf("region pdq", r.PDQ); err != nil {
			return nil, err
		}
		if r.PHash != "" {
			ph, err := hashing.Parse(hashing.PHash, r.PHash)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
			}
			for _, b := range ph.Bytes {
				rh.PHash = rh.PHash<<8 | uint64(b)
			}
			rh.HasPHash = true
		}
		e.Regions = append(e.Regions, rh)
	}
	for _, k := range n.Keypoints {
		d, err := pdqOf("keypoint descriptor", k.Descriptor)
		if err != nil {
			return nil, err
		}
		kp := store.Keypoint{X: k.X, Y: k.Y, Level: k.Level}
		for i := range kp.Descriptor {
			for _, b := range d[8*i : 8*i+8] {
				kp.Descriptor[i] = kp.Descriptor[i]<<8 | uint64(b)
			}
		}
		e.Keypoints = append(e.Keypoints, kp)
	}
	if t := n.Thumbnail; t != nil {
		e.Thumbnail = store.Thumbnail{Width: t.Width, Height: t.Height, Grey: t.Grey}
	}
	for _, f := range n.Frames {
		fr := store.Frame{Seconds: f.Seconds, Quality: f.Quality}
		var err error
		if fr.Hash, err = pdqOf("frame pdq", f.PDQ); err != nil {
			return nil, err
		}
		if f.Content != "" {
			if fr.Content, err = pdqOf("frame content", f.Content); err != nil {
				return nil, err
			}
			fr.HasContent = true
		}
		e.Frames = append(e.Frames, fr)
	}
	if n.Source != nil {
		e.Source = store.Source{Origin: n.Source.Origin, ExternalID: n.Source.ExternalID, URI: n.Source.URI}
	}
	if p := n.Provenance; p != nil {
		e.Provenance = store.Provenance{Partner: p.Partner, List: p.List, ListRevision: store.Revision(p.ListRevision), SourceID: p.SourceID, Imported: p.Imported}
	}
	if err := store.ValidateEntry(e); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	want, err := identityOf(n.Identity)
	if err != nil {
		return nil, err
	}
	if store.Identity(e) != want {
		return nil, fmt.Errorf("%w: the identity does not match the entry's hashes and frames", ErrInvalid)
	}
	return e, nil
}

func regionKind(s string) (hashing.RegionKind, error) {
	for k := hashing.RegionWhole; k <= hashing.RegionWindow; k++ {
		if k.String() == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("%w: region kind %q", ErrInvalid, clip(s))
}

// pdqOf reads 256 bits of hex (a PDQ hash, a descriptor, a digest).
func pdqOf(what, s string) (pdq.Hash, error) {
	var h pdq.Hash
	if len(s) != 2*len(h) {
		return h, fmt.Errorf("%w: %s: want %d hex digits, got %d", ErrInvalid, what, 2*len(h), len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("%w: %s: %v", ErrInvalid, what, err)
	}
	return h, nil
}

func identityOf(s string) ([32]byte, error) {
	h, err := pdqOf("identity", s)
	return [32]byte(h), err
}

// strictJSON decodes one JSON value that must be all of text. Unknown
// fields are allowed: newer writers may add them.
func strictJSON(text []byte, v any) error {
	// Unmarshal refuses anything after the value; a second value is
	// reported as such.
	err := json.Unmarshal(text, v)
	var syn *json.SyntaxError
	if errors.As(err, &syn) && syn.Offset > 0 && json.Valid(text[:syn.Offset-1]) {
		return errors.New("more than one JSON value on the line")
	}
	return err
}
