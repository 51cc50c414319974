package exchange

import (
	"fmt"
	"strings"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/vpdq"
)

// SignalVPDQ is the type name of a vPDQ video hash, in python-threatexchange
// and here.
const SignalVPDQ = "vpdq"

// Signal is one item of a hash list: one hash of ours, or a vPDQ video hash.
type Signal struct {
	// Type is our hash type name (hashing.PDQ, hashing.MD5, ...) or
	// SignalVPDQ.
	Type string
	// Kind is the media the signal is of, when its type says so (a
	// video_md5, a vpdq); KindUnknown otherwise.
	Kind store.MediaKind
	// Hash is the hash, for every type but SignalVPDQ.
	Hash hashing.Hash
	// Frames are the frames of a vPDQ hash.
	Frames []vpdq.Frame
}

// SignalType maps one of python-threatexchange's signal type names to ours.
type SignalType struct {
	// Name is python-threatexchange's name.
	Name string
	// Type is ours: a hashing type or SignalVPDQ.
	Type string
	// Kind is the media the name implies, if any.
	Kind store.MediaKind
}

// SignalTypes are the signal type names read and written, in the order
// their names are tried when writing (the first whose Type and Kind fit).
func SignalTypes() []SignalType {
	return []SignalType{
		{Name: "pdq", Type: hashing.PDQ, Kind: store.KindImage},
		{Name: SignalVPDQ, Type: SignalVPDQ, Kind: store.KindVideo},
		{Name: "video_md5", Type: hashing.MD5, Kind: store.KindVideo},
		{Name: "photo_md5", Type: hashing.MD5, Kind: store.KindImage},
		{Name: "md5", Type: hashing.MD5},
		{Name: "sha256", Type: hashing.SHA256},
		{Name: "phash", Type: hashing.PHash, Kind: store.KindImage},
		{Name: "dhash", Type: hashing.DHash, Kind: store.KindImage},
	}
}

// lookupSignal finds a python-threatexchange name's mapping.
func lookupSignal(name string) (SignalType, error) {
	for _, t := range SignalTypes() {
		if t.Name == name {
			return t, nil
		}
	}
	names := make([]string, 0, 8)
	for _, t := range SignalTypes() {
		names = append(names, t.Name)
	}
	return SignalType{}, fmt.Errorf("%w: %q (known: %s)", ErrUnknownSignal, clip(name), strings.Join(names, ", "))
}

// signalName is the python-threatexchange name a signal is written with.
func signalName(s Signal) (string, error) {
	for _, t := range SignalTypes() {
		if t.Type == s.Type && (t.Kind == s.Kind || t.Kind == store.KindUnknown) {
			return t.Name, nil
		}
	}
	return "", fmt.Errorf("%w: no signal type name for %s of %s", ErrUnknownSignal, s.Type, s.Kind)
}

// parseSignal reads a signal of a python-threatexchange type from its
// string.
func parseSignal(name, value string) (Signal, error) {
	t, err := lookupSignal(name)
	if err != nil {
		return Signal{}, err
	}
	if t.Type == SignalVPDQ {
		frames, err := vpdq.ParseJSON([]byte(value))
		if err != nil {
			return Signal{}, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		if len(frames) == 0 {
			return Signal{}, fmt.Errorf("%w: a vpdq signal with no frames", ErrInvalid)
		}
		return Signal{Type: SignalVPDQ, Kind: store.KindVideo, Frames: frames}, nil
	}
	h, err := hashing.Parse(t.Type, strings.ToLower(value))
	if err != nil {
		return Signal{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return Signal{Type: t.Type, Kind: t.Kind, Hash: h}, nil
}

// signalString is a signal's value as the formats write it.
func signalString(s Signal) (string, error) {
	if s.Type == SignalVPDQ {
		js, err := vpdq.MarshalJSON(s.Frames)
		return string(js), err
	}
	t, err := hashing.Lookup(s.Type)
	if err != nil {
		return "", err
	}
	if s.Hash.Type != s.Type || len(s.Hash.Bytes) != t.Bits/8 {
		return "", fmt.Errorf("%w: a %s signal holding a %d-byte %s hash", ErrInvalid, s.Type, len(s.Hash.Bytes), s.Hash.Type)
	}
	return s.Hash.Hex(), nil
}

// clip keeps echoed input short in error messages.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
