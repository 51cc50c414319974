package store

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/mediamatch/mediamatch/hashing"
)

// Limits of the data model, each with the reason for its value. Every
// backend enforces them, so that anything one store accepts another can
// hold and the API can return in one message.
const (
	// MaxBankNameLen bounds a bank name: short enough for file names,
	// metric labels and log lines.
	MaxBankNameLen = 64
	// MaxLabels bounds the labels of one bank or entry; they are returned
	// with every match, so they stay few.
	MaxLabels = 64
	// MaxLabelBytes bounds a label's key and its value.
	MaxLabelBytes = 256
	// MaxTextBytes bounds a bank's description and an entry's note: a
	// paragraph for people, not a document store.
	MaxTextBytes = 4 << 10
	// MaxSourceBytes bounds each field of an entry's source but the URI,
	// and MaxURIBytes the URI (longer than any real link).
	MaxSourceBytes = 256
	MaxURIBytes    = 2 << 10
	// MaxActorBytes bounds the recorded actor of a change.
	MaxActorBytes = 256
	// MaxFormatBytes bounds the recorded media format name.
	MaxFormatBytes = 32
	// MaxRegions bounds the region hashes of one entry.
	MaxRegions = 16
	// MaxKeypoints bounds the keypoints of one entry.
	MaxKeypoints = 64
	// MinThumbnailSide and MaxThumbnailSide bound a thumbnail's sides.
	MinThumbnailSide = 8
	MaxThumbnailSide = 256
	// MaxFrames bounds the frames of one video entry: 5.5 hours at one
	// frame per second, and small enough that the entry with every frame
	// (each with its content hash) fits one 4 MiB API message, so that
	// whatever is stored can be read back and added again whole. Hashing
	// media samples at most 10,000 frames by default.
	MaxFrames = 20_000
	// MaxDimension bounds a recorded width or height.
	MaxDimension = 1 << 20
	// MaxOps bounds the operations of one commit, so that one commit's
	// transaction stays within memory.
	MaxOps = 100_000
	// MaxSyncItems bounds the items (entries, removals, prunes) of one
	// SyncEntries batch: one commit's worth, as MaxOps bounds a commit.
	MaxSyncItems = 10_000
	// MaxSyncSources bounds the sources one bank is kept in step with:
	// their cursors live in the bank's record, read with every bank.
	MaxSyncSources = 64
	// MaxBanks bounds the banks of a store: every match resolves the
	// banks it searches from all of them, and a bank is a source or a
	// partner's list, of which no deployment has thousands.
	MaxBanks = 10_000
	// MaxUpdatePaths bounds the update paths of one update: every label
	// removed and every label set (2*MaxLabels), and the other fields,
	// with room to spare. The paths that change something are recorded in
	// the change log and returned with every change.
	MaxUpdatePaths = 2*MaxLabels + 16
)

// ValidBankName reports whether name may name a bank: 1 to MaxBankNameLen
// characters from ASCII letters, digits, '.', '_' and '-', starting with a
// letter or a digit (so "-" and names like "..", "-rf" are not names).
func ValidBankName(name string) bool {
	if len(name) == 0 || len(name) > MaxBankNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case (c == '.' || c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

func checkBankName(name string) error {
	if !ValidBankName(name) {
		return fmt.Errorf("%w: bank name %q: use 1-%d letters, digits, '.', '_' or '-', starting with a letter or digit", ErrInvalid, Clip(name), MaxBankNameLen)
	}
	return nil
}

func checkText(what, s string, limit int) error {
	if len(s) > limit {
		return fmt.Errorf("%w: %s is %d bytes, over the limit of %d", ErrInvalid, what, len(s), limit)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, what)
	}
	return nil
}

func checkLabels(labels map[string]string) error {
	if len(labels) > MaxLabels {
		return fmt.Errorf("%w: %d labels, over the limit of %d", ErrInvalid, len(labels), MaxLabels)
	}
	for k, v := range labels {
		if k == "" || len(k) > MaxLabelBytes || len(v) > MaxLabelBytes {
			return fmt.Errorf("%w: label %q: keys must be 1-%d bytes and values at most %d", ErrInvalid, Clip(k), MaxLabelBytes, MaxLabelBytes)
		}
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return fmt.Errorf("%w: label %q is not valid UTF-8", ErrInvalid, Clip(k))
		}
	}
	return nil
}

func checkThresholds(th map[string]int) error {
	for name, v := range th {
		t, err := hashing.Lookup(name)
		if err != nil {
			return fmt.Errorf("%w: threshold: %v", ErrInvalid, err)
		}
		if t.Exact {
			return fmt.Errorf("%w: %s matches only when equal; it takes no threshold", ErrInvalid, name)
		}
		if v < 0 || v > t.Bits {
			return fmt.Errorf("%w: %s threshold %d outside 0..%d", ErrInvalid, name, v, t.Bits)
		}
	}
	return nil
}

// ValidateBank checks the settable fields of a bank about to be stored.
func ValidateBank(b *Bank) error {
	if err := checkBankName(b.Name); err != nil {
		return err
	}
	if err := checkText("description", b.Description, MaxTextBytes); err != nil {
		return err
	}
	if err := checkLabels(b.Labels); err != nil {
		return err
	}
	if err := checkThresholds(b.Thresholds); err != nil {
		return err
	}
	if v := b.FalseMatchBudget; v != 0 && !(v > 0 && v <= 1) {
		return fmt.Errorf("%w: false-match budget %v outside (0, 1] (0 means the server's default)", ErrInvalid, v)
	}
	return nil
}

// ValidateSyncBatch checks a SyncEntries batch, its entries included
// (each as an entry of b.Bank).
func ValidateSyncBatch(b *SyncBatch) error {
	if err := checkBankName(b.Bank); err != nil {
		return err
	}
	if b.Source == "" {
		return fmt.Errorf("%w: a sync batch names no source", ErrInvalid)
	}
	if err := checkText("sync source", b.Source, MaxSourceBytes); err != nil {
		return err
	}
	if err := checkText("sync partner", b.Partner, MaxSourceBytes); err != nil {
		return err
	}
	if b.To < b.From {
		return fmt.Errorf("%w: a sync batch moves its cursor back, from %d to %d", ErrInvalid, b.From, b.To)
	}
	if n := len(b.Removals) + len(b.Prune) + len(b.Entries); n > MaxSyncItems {
		return fmt.Errorf("%w: %d items in one sync batch, over the limit of %d", ErrInvalid, n, MaxSyncItems)
	}
	for i, e := range b.Entries {
		if e == nil {
			return fmt.Errorf("%w: sync entry %d is empty", ErrInvalid, i)
		}
		c := *e
		c.Bank = b.Bank
		if err := ValidateEntry(&c); err != nil {
			return fmt.Errorf("sync entry %d: %w", i, err)
		}
	}
	return nil
}

// ValidateActor checks the actor a commit records.
func ValidateActor(actor string) error {
	return checkText("actor", actor, MaxActorBytes)
}

// ValidateEntry checks the settable fields of an entry about to be added.
func ValidateEntry(e *Entry) error {
	if err := checkBankName(e.Bank); err != nil {
		return err
	}
	if e.Kind > KindVideo {
		return fmt.Errorf("%w: media kind %d", ErrInvalid, e.Kind)
	}
	if err := checkText("format", e.Format, MaxFormatBytes); err != nil {
		return err
	}
	if e.Width < 0 || e.Height < 0 || e.Width > MaxDimension || e.Height > MaxDimension {
		return fmt.Errorf("%w: size %dx%d", ErrInvalid, e.Width, e.Height)
	}
	if math.IsNaN(e.Duration) || math.IsInf(e.Duration, 0) || e.Duration < 0 {
		return fmt.Errorf("%w: duration %v", ErrInvalid, e.Duration)
	}
	if len(e.Hashes) == 0 && len(e.Frames) == 0 {
		return fmt.Errorf("%w: entry has no hashes", ErrInvalid)
	}
	seen := map[string]bool{}
	for _, h := range e.Hashes {
		t, err := hashing.Lookup(h.Type)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		if len(h.Bytes)*8 != t.Bits {
			return fmt.Errorf("%w: %s hash of %d bytes, want %d", ErrInvalid, h.Type, len(h.Bytes), t.Bits/8)
		}
		if h.Quality < 0 || h.Quality > 100 {
			return fmt.Errorf("%w: %s hash quality %d outside 0..100", ErrInvalid, h.Type, h.Quality)
		}
		if seen[h.Type] {
			return fmt.Errorf("%w: two %s hashes", ErrInvalid, h.Type)
		}
		seen[h.Type] = true
	}
	if len(e.Frames) > 0 && (len(e.Regions) > 0 || len(e.Keypoints) > 0) {
		return fmt.Errorf("%w: an entry has frames, or region hashes and keypoints, not both", ErrInvalid)
	}
	if len(e.Regions) > MaxRegions {
		return fmt.Errorf("%w: %d region hashes, over the limit of %d", ErrInvalid, len(e.Regions), MaxRegions)
	}
	for i, r := range e.Regions {
		if r.Kind == hashing.RegionWhole || r.Kind > hashing.RegionWindow {
			return fmt.Errorf("%w: region hash %d has kind %d", ErrInvalid, i, r.Kind)
		}
		for _, v := range []float32{r.Box.Left, r.Box.Top, r.Box.Width, r.Box.Height} {
			if !(v >= 0 && v <= 1) {
				return fmt.Errorf("%w: region hash %d has box %v outside the frame", ErrInvalid, i, r.Box)
			}
		}
		if r.Quality < 0 || r.Quality > 100 {
			return fmt.Errorf("%w: region hash %d has quality %d outside 0..100", ErrInvalid, i, r.Quality)
		}
	}
	if len(e.Keypoints) > MaxKeypoints {
		return fmt.Errorf("%w: %d keypoints, over the limit of %d", ErrInvalid, len(e.Keypoints), MaxKeypoints)
	}
	for i, p := range e.Keypoints {
		if !(p.X >= 0 && p.X <= 1 && p.Y >= 0 && p.Y <= 1) {
			return fmt.Errorf("%w: keypoint %d at (%v, %v), outside the image", ErrInvalid, i, p.X, p.Y)
		}
	}
	if t := e.Thumbnail; !t.IsZero() {
		if len(e.Frames) > 0 {
			return fmt.Errorf("%w: a video entry has a thumbnail", ErrInvalid)
		}
		if t.Width < MinThumbnailSide || t.Height < MinThumbnailSide || t.Width > MaxThumbnailSide || t.Height > MaxThumbnailSide || len(t.Grey) != t.Width*t.Height {
			return fmt.Errorf("%w: a thumbnail of %dx%d with %d bytes, want sides %d to %d and a byte a pixel", ErrInvalid,
				t.Width, t.Height, len(t.Grey), MinThumbnailSide, MaxThumbnailSide)
		}
	}
	if len(e.Frames) > MaxFrames {
		return fmt.Errorf("%w: %d frames, over the limit of %d", ErrInvalid, len(e.Frames), MaxFrames)
	}
	for i, f := range e.Frames {
		if math.IsNaN(f.Seconds) || math.IsInf(f.Seconds, 0) || f.Seconds < 0 {
			return fmt.Errorf("%w: frame %d has time %v", ErrInvalid, i, f.Seconds)
		}
		if i > 0 && f.Seconds < e.Frames[i-1].Seconds {
			return fmt.Errorf("%w: frame %d at %vs is before the previous frame", ErrInvalid, i, f.Seconds)
		}
		if f.Quality < 0 || f.Quality > 100 {
			return fmt.Errorf("%w: frame %d has quality %d outside 0..100", ErrInvalid, i, f.Quality)
		}
	}
	if err := checkLabels(e.Labels); err != nil {
		return err
	}
	if err := checkText("note", e.Note, MaxTextBytes); err != nil {
		return err
	}
	if err := checkText("source origin", e.Source.Origin, MaxSourceBytes); err != nil {
		return err
	}
	if err := checkText("source external id", e.Source.ExternalID, MaxSourceBytes); err != nil {
		return err
	}
	if err := checkText("source URI", e.Source.URI, MaxURIBytes); err != nil {
		return err
	}
	for _, f := range []struct{ what, s string }{
		{"provenance partner", e.Provenance.Partner}, {"provenance list", e.Provenance.List}, {"provenance source id", e.Provenance.SourceID},
	} {
		if err := checkText(f.what, f.s, MaxSourceBytes); err != nil {
			return err
		}
	}
	return nil
}

// Identity is what makes two entries of a bank the same item: the same set
// of whole-item hashes (types and values; qualities aside) and the same
// frames (times and hashes). Regions, keypoints and metadata are derived
// or descriptive and do not count.
func Identity(e *Entry) [32]byte {
	hs := slices.Clone(e.Hashes)
	slices.SortFunc(hs, func(a, b hashing.Hash) int { return strings.Compare(a.Type, b.Type) })
	d := sha256.New()
	var buf []byte
	for _, h := range hs {
		buf = binary.AppendUvarint(buf[:0], uint64(len(h.Type)))
		buf = append(buf, h.Type...)
		buf = binary.AppendUvarint(buf, uint64(len(h.Bytes)))
		buf = append(buf, h.Bytes...)
		d.Write(buf)
	}
	for _, f := range e.Frames {
		buf = binary.BigEndian.AppendUint64(buf[:0], math.Float64bits(f.Seconds))
		d.Write(buf)
		d.Write(f.Hash[:])
	}
	var out [32]byte
	d.Sum(out[:0])
	return out
}

// Bank update paths.
const (
	FieldDescription = "description"
	FieldLabels      = "labels"
	FieldDisabled    = "disabled"
	FieldThresholds  = "thresholds"
	FieldBudget      = "false_match_budget"
	FieldNote        = "note"
)

// ApplyBankUpdate sets the fields of b named by paths (see UpdateBank) to
// their values in from, and returns the paths that changed something, in
// the order given. It leaves b unchanged when it fails.
func ApplyBankUpdate(b *Bank, from *Bank, paths []string) ([]string, error) {
	next := *b
	next.Labels, next.Thresholds = maps.Clone(b.Labels), maps.Clone(b.Thresholds)
	changed, err := applyPaths(paths, func(p, field, key string, keyed bool) (bool, error) {
		switch {
		case field == FieldDescription && !keyed:
			did := next.Description != from.Description
			next.Description = from.Description
			return did, nil
		case field == FieldDisabled && !keyed:
			did := next.Disabled != from.Disabled
			next.Disabled = from.Disabled
			return did, nil
		case field == FieldBudget && !keyed:
			did := next.FalseMatchBudget != from.FalseMatchBudget
			next.FalseMatchBudget = from.FalseMatchBudget
			return did, nil
		case field == FieldLabels:
			return updateMap(&next.Labels, from.Labels, key, keyed), nil
		case field == FieldThresholds:
			if keyed {
				if err := checkThresholds(map[string]int{key: 0}); err != nil {
					return false, err
				}
			}
			return updateMap(&next.Thresholds, from.Thresholds, key, keyed), nil
		}
		return false, fmt.Errorf("%w: bank field %q cannot be updated (use description, labels, labels.KEY, disabled, thresholds, thresholds.TYPE or false_match_budget)", ErrInvalid, Clip(p))
	})
	if err != nil {
		return nil, err
	}
	if err := ValidateBank(&next); err != nil {
		return nil, err
	}
	*b = next
	return changed, nil
}

// ApplyEntryUpdate is ApplyBankUpdate for an entry's settable fields (see
// UpdateEntry).
func ApplyEntryUpdate(e *Entry, from *Entry, paths []string) ([]string, error) {
	next := *e
	next.Labels = maps.Clone(e.Labels)
	changed, err := applyPaths(paths, func(p, field, key string, keyed bool) (bool, error) {
		switch {
		case field == FieldNote && !keyed:
			did := next.Note != from.Note
			next.Note = from.Note
			return did, nil
		case field == FieldLabels:
			return updateMap(&next.Labels, from.Labels, key, keyed), nil
		}
		return false, fmt.Errorf("%w: entry field %q cannot be updated (use labels, labels.KEY or note)", ErrInvalid, Clip(p))
	})
	if err != nil {
		return nil, err
	}
	if err := checkLabels(next.Labels); err != nil {
		return nil, err
	}
	if err := checkText("note", next.Note, MaxTextBytes); err != nil {
		return nil, err
	}
	*e = next
	return changed, nil
}

// applyPaths applies each update path ("field" or "field.key") with apply,
// which reports whether the path changed anything, and returns the paths
// that did, each once.
func applyPaths(paths []string, apply func(p, field, key string, keyed bool) (bool, error)) ([]string, error) {
	if len(paths) > MaxUpdatePaths {
		return nil, fmt.Errorf("%w: %d update paths, over the limit of %d", ErrInvalid, len(paths), MaxUpdatePaths)
	}
	var changed []string
	for _, p := range paths {
		field, key, keyed := strings.Cut(p, ".")
		did, err := apply(p, field, key, keyed)
		if err != nil {
			return nil, err
		}
		if keyed && key == "" {
			return nil, fmt.Errorf("%w: update path %q names no key", ErrInvalid, Clip(p))
		}
		if did && !slices.Contains(changed, p) {
			changed = append(changed, p)
		}
	}
	return changed, nil
}

// updateMap replaces *m by from (whole) or sets or deletes one key, and
// reports whether *m changed. An empty map is stored as nil.
func updateMap[V comparable](m *map[string]V, from map[string]V, key string, keyed bool) bool {
	if !keyed {
		same := maps.Equal(*m, from)
		*m = maps.Clone(from)
		if len(*m) == 0 {
			*m = nil
		}
		return !same
	}
	v, ok := from[key]
	old, had := (*m)[key]
	if !ok {
		if !had {
			return false
		}
		delete(*m, key)
		if len(*m) == 0 {
			*m = nil
		}
		return true
	}
	if had && old == v {
		return false
	}
	if *m == nil {
		*m = map[string]V{}
	}
	(*m)[key] = v
	return true
}

// Clip keeps input echoed in error messages short.
func Clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
