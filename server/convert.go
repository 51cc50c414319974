package server

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/match"
	"github.com/mediamatch/mediamatch/pdq"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/store"
)

// Conversions between the API's messages and the store's and index's
// types.

func kindToProto(k store.MediaKind) pb.MediaKind {
	switch k {
	case store.KindImage:
		return pb.MediaKind_MEDIA_KIND_IMAGE
	case store.KindVideo:
		return pb.MediaKind_MEDIA_KIND_VIDEO
	}
	return pb.MediaKind_MEDIA_KIND_UNSPECIFIED
}

func kindFromProto(k pb.MediaKind) (store.MediaKind, error) {
	switch k {
	case pb.MediaKind_MEDIA_KIND_UNSPECIFIED:
		return store.KindUnknown, nil
	case pb.MediaKind_MEDIA_KIND_IMAGE:
		return store.KindImage, nil
	case pb.MediaKind_MEDIA_KIND_VIDEO:
		return store.KindVideo, nil
	}
	return 0, fmt.Errorf("%w: media kind %d is not known", errInvalidRequest, int32(k))
}

// dihedralToProto names a PDQ variant; the API's enum is the reference's
// order shifted by one, zero being "unspecified".
func dihedralToProto(d pdq.Dihedral) pb.DihedralVariant {
	return pb.DihedralVariant(int32(d) + 1)
}

func hashToProto(h hashing.Hash) *pb.Hash {
	out := &pb.Hash{Type: h.Type, Hex: h.Hex()}
	if t, err := hashing.Lookup(h.Type); err == nil && t.HasQuality {
		out.Quality = proto.Int32(int32(h.Quality))
	}
	return out
}

// regionToProto returns a region's hashes: its PDQ hash, and its pHash
// when it has one, each carrying the region.
func regionToProto(r hashing.RegionHash) []*pb.Hash {
	reg := func() *pb.Region {
		return &pb.Region{Kind: pb.RegionKind(r.Kind), Left: r.Box.Left, Top: r.Box.Top, Width: r.Box.Width, Height: r.Box.Height}
	}
	out := hashToProto(hashing.Hash{Type: hashing.PDQ, Bytes: r.Hash[:], Quality: r.Quality})
	out.Region = reg()
	if !r.HasPHash {
		return []*pb.Hash{out}
	}
	ph := hashToProto(hashing.Hash{Type: hashing.PHash, Bytes: binary.BigEndian.AppendUint64(nil, r.PHash)})
	ph.Region = reg()
	return []*pb.Hash{out, ph}
}

func regionFromProto(r *pb.Region) match.Region {
	if r == nil {
		return match.Region{}
	}
	return match.Region{Kind: hashing.RegionKind(r.GetKind()), Box: hashing.Box{Left: r.GetLeft(), Top: r.GetTop(), Width: r.GetWidth(), Height: r.GetHeight()}}
}

// checkRegion refuses a region of an unknown kind or with a box outside
// the frame (each field a finite number from 0 to 1).
func checkRegion(r *pb.Region) error {
	if r == nil {
		return nil
	}
	if k := r.GetKind(); k < pb.RegionKind_REGION_KIND_UNSPECIFIED || k > pb.RegionKind_REGION_KIND_WINDOW {
		return fmt.Errorf("region kind %d is not known", int32(k))
	}
	for _, v := range []float32{r.GetLeft(), r.GetTop(), r.GetWidth(), r.GetHeight()} {
		if !(v >= 0 && v <= 1) {
			return fmt.Errorf("region box %v, %v, %v, %v is not within the frame", r.GetLeft(), r.GetTop(), r.GetWidth(), r.GetHeight())
		}
	}
	return nil
}

func matchRegionToProto(r match.Region) *pb.Region {
	if r.Kind == hashing.RegionWhole {
		return nil
	}
	return &pb.Region{Kind: pb.RegionKind(r.Kind), Left: r.Box.Left, Top: r.Box.Top, Width: r.Box.Width, Height: r.Box.Height}
}

// parsedHashes is what a MediaHashes message says, checked.
type parsedHashes struct {
	kind      store.MediaKind
	hashes    []hashing.Hash // at most one per type, dihedral variants excluded
	dihedral  []pdq.Hash     // all 8 PDQ variants when the message carries them
	regions   []hashing.RegionHash
	frames    []store.Frame
	keypoints []store.Keypoint
	meta      *pb.MediaHashes
}

// parseMediaHashes checks precomputed hashes from a caller.
func parseMediaHashes(m *pb.MediaHashes) (*parsedHashes, error) {
	if m == nil {
		return nil, fmt.Errorf("%w: no hashes given", errInvalidRequest)
	}
	kind, err := kindFromProto(m.GetKind())
	if err != nil {
		return nil, err
	}
	p := &parsedHashes{kind: kind, meta: m}
	variants := map[pdq.Dihedral]pdq.Hash{}
	seen := map[string]bool{}
	type regionPHash struct {
		i   int
		reg match.Region
		h   uint64
	}
	if w, h := m.GetWidth(), m.GetHeight(); w < 0 || h < 0 || w > store.MaxDimension || h > store.MaxDimension {
		return nil, fmt.Errorf("%w: size %dx%d", errInvalidRequest, w, h)
	}
	var phashes []regionPHash
	for i, h := range m.GetHashes() {
		parsed, err := hashing.Parse(h.GetType(), h.GetHex())
		if err != nil {
			return nil, fmt.Errorf("hash %d: %w", i, err)
		}
		if q := h.GetQuality(); h.Quality != nil && (q < 0 || q > 100) {
			return nil, fmt.Errorf("%w: hash %d: quality %d outside 0..100", errInvalidRequest, i, q)
		}
		// A type without a quality keeps none, even if one is given, so
		// that the entry reads back as it was sent (the field is unset
		// for such types). A hash supplied without its quality is trusted
		// as good enough.
		if t, _ := hashing.Lookup(parsed.Type); t.HasQuality {
			parsed.Quality = 100
			if h.Quality != nil {
				parsed.Quality = int(h.GetQuality())
			}
		}
		if err := checkRegion(h.GetRegion()); err != nil {
			return nil, fmt.Errorf("%w: hash %d: %v", errInvalidRequest, i, err)
		}
		if reg := regionFromProto(h.GetRegion()); reg.Kind != hashing.RegionWhole {
			if parsed.Type == hashing.PHash && reg.Kind <= hashing.RegionWindow && h.GetDihedral() <= pb.DihedralVariant_DIHEDRAL_VARIANT_ORIGINAL {
				phashes = append(phashes, regionPHash{i, reg, binary.BigEndian.Uint64(parsed.Bytes)})
				continue
			}
			if parsed.Type != hashing.PDQ || reg.Kind > hashing.RegionWindow || h.GetDihedral() > pb.DihedralVariant_DIHEDRAL_VARIANT_ORIGINAL {
				return nil, fmt.Errorf("%w: hash %d: region %v of a %s hash", errInvalidRequest, i, h.GetRegion().GetKind(), parsed.Type)
			}
			if len(p.regions) >= store.MaxRegions {
				return nil, fmt.Errorf("%w: more than %d region hashes", errInvalidRequest, store.MaxRegions)
			}
			p.regions = append(p.regions, hashing.RegionHash{Kind: reg.Kind, Box: reg.Box, Hash: pdq.Hash(parsed.Bytes), Quality: parsed.Quality})
			continue
		}
		if d := h.GetDihedral(); d > pb.DihedralVariant_DIHEDRAL_VARIANT_ORIGINAL {
			if parsed.Type != hashing.PDQ || d > pb.DihedralVariant_DIHEDRAL_VARIANT_FLIP_MINUS_1 {
				return nil, fmt.Errorf("%w: hash %d: dihedral variant %v of a %s hash", errInvalidRequest, i, d, parsed.Type)
			}
			variants[pdq.Dihedral(d-1)] = pdq.Hash(parsed.Bytes)
			continue
		}
		if seen[parsed.Type] {
			return nil, fmt.Errorf("%w: two %s hashes", errInvalidRequest, parsed.Type)
		}
		seen[parsed.Type] = true
		p.hashes = append(p.hashes, parsed)
		if parsed.Type == hashing.PDQ {
			variants[pdq.Original] = pdq.Hash(parsed.Bytes)
		}
	}
	// A region's pHash goes with the PDQ hash of the same region.
	for _, ph := range phashes {
		k := slices.IndexFunc(p.regions, func(r hashing.RegionHash) bool {
			return r.Kind == ph.reg.Kind && r.Box == ph.reg.Box && !r.HasPHash
		})
		if k < 0 {
			return nil, fmt.Errorf("%w: hash %d: a phash of a region needs the pdq hash of the same region, given before it or after", errInvalidRequest, ph.i)
		}
		p.regions[k].PHash, p.regions[k].HasPHash = ph.h, true
	}
	if len(variants) == pdq.NumDihedral {
		p.dihedral = make([]pdq.Hash, pdq.NumDihedral)
		for d, h := range variants {
			p.dihedral[d] = h
		}
	}
	if len(m.GetFrames()) > store.MaxFrames {
		return nil, fmt.Errorf("%w: %d frames, over the limit of %d", errInvalidRequest, len(m.GetFrames()), store.MaxFrames)
	}
	if len(m.GetKeypoints()) > store.MaxKeypoints {
		return nil, fmt.Errorf("%w: %d keypoints, over the limit of %d", errInvalidRequest, len(m.GetKeypoints()), store.MaxKeypoints)
	}
	for i, k := range m.GetKeypoints() {
		d, err := hex.DecodeString(k.GetDescriptorHex())
		if err != nil || len(d) != 32 {
			return nil, fmt.Errorf("%w: keypoint %d: the descriptor is not 64 hex digits", errInvalidRequest, i)
		}
		if l := k.GetLevel(); l < 0 || l > math.MaxUint8 {
			return nil, fmt.Errorf("%w: keypoint %d: level %d", errInvalidRequest, i, l)
		}
		kp := store.Keypoint{X: k.GetX(), Y: k.GetY(), Level: uint8(k.GetLevel())}
		for w := range kp.Descriptor {
			kp.Descriptor[w] = binary.BigEndian.Uint64(d[8*w:])
		}
		p.keypoints = append(p.keypoints, kp)
	}
	for i, f := range m.GetFrames() {
		h, err := pdq.ParseHex(f.GetPdqHex())
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w: %v", i, errInvalidRequest, err)
		}
		fr := store.Frame{Seconds: f.GetTs(), Hash: h, Quality: 100}
		if math.IsNaN(fr.Seconds) || math.IsInf(fr.Seconds, 0) || fr.Seconds < 0 {
			return nil, fmt.Errorf("%w: frame %d: time %v is not a time in the video", errInvalidRequest, i, fr.Seconds)
		}
		if i > 0 && fr.Seconds < p.frames[i-1].Seconds {
			return nil, fmt.Errorf("%w: frame %d: time %v is before the previous frame's", errInvalidRequest, i, fr.Seconds)
		}
		if f.Quality != nil {
			if q := f.GetQuality(); q < 0 || q > 100 {
				return nil, fmt.Errorf("%w: frame %d: quality %d outside 0..100", errInvalidRequest, i, q)
			}
			fr.Quality = int(f.GetQuality())
		}
		if c := f.GetContentPdqHex(); c != "" {
			if fr.Content, err = pdq.ParseHex(c); err != nil {
				return nil, fmt.Errorf("frame %d: content hash: %w: %v", i, errInvalidRequest, err)
			}
			fr.HasContent = true
		}
		p.frames = append(p.frames, fr)
	}
	if d := m.GetDurationSeconds(); math.IsNaN(d) || math.IsInf(d, 0) || d < 0 {
		return nil, fmt.Errorf("%w: duration %v", errInvalidRequest, d)
	}
	if len(p.hashes) == 0 && len(p.frames) == 0 {
		return nil, fmt.Errorf("%w: no hashes given", errInvalidRequest)
	}
	if p.kind == store.KindUnknown {
		p.kind = store.KindImage
		if len(p.frames) > 0 {
			p.kind = store.KindVideo
		}
	}
	return p, nil
}

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// entryToProto describes an entry, leaving out what view leaves out.
func entryToProto(e *store.Entry, view store.View) *pb.Entry {
	m := &pb.MediaHashes{
		Kind:            kindToProto(e.Kind),
		Format:          e.Format,
		Width:           int32(e.Width),
		Height:          int32(e.Height),
		DurationSeconds: e.Duration,
	}
	for _, h := range e.Hashes {
		m.Hashes = append(m.Hashes, hashToProto(h))
	}
	for _, r := range e.Regions {
		m.Hashes = append(m.Hashes, regionToProto(r)...)
	}
	if view == store.ViewFull {
		m.Frames = framesToProto(e.Frames)
		m.Keypoints = keypointsToProto(e.Keypoints)
	}
	out := &pb.Entry{
		Name:       entryName(e.Bank, e.ID),
		Media:      m,
		Labels:     e.Labels,
		Note:       e.Note,
		CreateTime: timestamp(e.Created),
		Creator:    e.CreatedBy,
		UpdateTime: timestamp(e.Updated),
		Updater:    e.UpdatedBy,
		Revision:   int64(e.Revision),
	}
	if e.Source != (store.Source{}) {
		out.Source = &pb.Source{Origin: e.Source.Origin, ExternalId: e.Source.ExternalID, Uri: e.Source.URI}
	}
	if p := e.Provenance; !p.IsZero() {
		out.Provenance = &pb.Provenance{Partner: p.Partner, List: p.List, ListRevision: int64(p.ListRevision),
			SourceId: p.SourceID, ImportTime: timestamp(p.Imported)}
	}
	return out
}

func keypointsToProto(ks []store.Keypoint) []*pb.Keypoint {
	var out []*pb.Keypoint
	for _, k := range ks {
		var d [32]byte
		for w, v := range k.Descriptor {
			binary.BigEndian.PutUint64(d[8*w:], v)
		}
		out = append(out, &pb.Keypoint{X: k.X, Y: k.Y, Level: int32(k.Level), DescriptorHex: hex.EncodeToString(d[:])})
	}
	return out
}

// viewFromProto returns the store's view for a request's, with def for
// unspecified.
func viewFromProto(v pb.EntryView, def store.View) (store.View, error) {
	switch v {
	case pb.EntryView_ENTRY_VIEW_UNSPECIFIED:
		return def, nil
	case pb.EntryView_ENTRY_VIEW_BASIC:
		return store.ViewBasic, nil
	case pb.EntryView_ENTRY_VIEW_FULL:
		return store.ViewFull, nil
	}
	return 0, fmt.Errorf("%w: entry view %d is not known", errInvalidRequest, int32(v))
}

func changeKindToProto(k store.ChangeKind) pb.ChangeKind {
	switch k {
	case store.BankCreated:
		return pb.ChangeKind_CHANGE_KIND_BANK_CREATED
	case store.BankUpdated:
		return pb.ChangeKind_CHANGE_KIND_BANK_UPDATED
	case store.BankDeleted:
		return pb.ChangeKind_CHANGE_KIND_BANK_DELETED
	case store.EntryAdded:
		return pb.ChangeKind_CHANGE_KIND_ENTRY_CREATED
	case store.EntryUpdated:
		return pb.ChangeKind_CHANGE_KIND_ENTRY_UPDATED
	case store.EntryRemoved:
		return pb.ChangeKind_CHANGE_KIND_ENTRY_DELETED
	}
	return pb.ChangeKind_CHANGE_KIND_UNSPECIFIED
}

func changeToProto(c store.Change) *pb.Change {
	out := &pb.Change{
		Revision: int64(c.Revision),
		Kind:     changeKindToProto(c.Kind),
		Time:     timestamp(c.Time),
		Actor:    c.Actor,
		Bank:     bankName(c.Bank),
		WriteEnd: c.CommitEnd,
	}
	if c.Kind.IsEntry() {
		out.Entry = entryName(c.Bank, c.EntryID)
	}
	if len(c.Fields) > 0 {
		out.UpdateMask = &fieldmaskpb.FieldMask{Paths: maskFromStore(c.Fields)}
	}
	return out
}

func framesToProto(frames []store.Frame) []*pb.VideoFrameHash {
	var out []*pb.VideoFrameHash
	for _, f := range frames {
		v := &pb.VideoFrameHash{Ts: f.Seconds, PdqHex: pdq.Hash(f.Hash).String(), Quality: proto.Int32(int32(f.Quality))}
		if f.HasContent {
			v.ContentPdqHex = pdq.Hash(f.Content).String()
		}
		out = append(out, v)
	}
	return out
}

func bankToProto(b store.Bank) *pb.Bank {
	out := &pb.Bank{
		Name:        bankName(b.Name),
		Description: b.Description,
		Labels:      b.Labels,
		Enabled:     proto.Bool(!b.Disabled),
		EntryCount:  b.Entries,
		CreateTime:  timestamp(b.Created),
		UpdateTime:  timestamp(b.Updated),
		Creator:     b.CreatedBy,
		Revision:    int64(b.Revision),
	}
	if b.FalseMatchBudget > 0 {
		out.FalseMatchBudget = proto.Float64(b.FalseMatchBudget)
	}
	if len(b.Synced) > 0 {
		out.SyncedRevisions = map[string]int64{}
		for k, v := range b.Synced {
			out.SyncedRevisions[k] = int64(v)
		}
	}
	if len(b.Thresholds) > 0 {
		out.Thresholds = map[string]int32{}
		for k, v := range b.Thresholds {
			out.Thresholds[k] = int32(v)
		}
	}
	return out
}

// thresholdsFromProto checks per-type thresholds from a request.
func thresholdsFromProto(m map[string]int32) (map[string]int, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := map[string]int{}
	for name, v := range m {
		t, err := hashing.Lookup(name)
		if err != nil {
			return nil, fmt.Errorf("threshold: %w", err)
		}
		if t.Exact {
			return nil, fmt.Errorf("%w: %s matches only when equal; it takes no threshold", errInvalidRequest, name)
		}
		if v < 0 || int(v) > t.Bits {
			return nil, fmt.Errorf("%w: %s threshold %d outside 0..%d", errInvalidRequest, name, v, t.Bits)
		}
		out[name] = int(v)
	}
	return out, nil
}
