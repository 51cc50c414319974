package exchange

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/store"
)

// sampleEntries are an image with every kind of hash, labels and a
// source, and a video with frames and an MD5.
func sampleEntries(t testing.TB) []*store.Entry {
	t.Helper()
	r := rand.New(rand.NewPCG(7, 7))
	hash := func(typ string) hashing.Hash {
		ht, _ := hashing.Lookup(typ)
		b := make([]byte, ht.Bits/8)
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return hashing.Hash{Type: typ, Bytes: b}
	}
	img := &store.Entry{ID: 4, Bank: "b", Kind: store.KindImage, Hashes: []hashing.Hash{hash(hashing.PDQ), hash(hashing.MD5), hash(hashing.SHA256)},
		Labels: map[string]string{LabelCategory: "=cmd", LabelTags: "a b", "group": "x"}, Note: "n", Source: store.Source{Origin: "gifct"}}
	vid := &store.Entry{ID: 9, Bank: "b", Kind: store.KindVideo, Hashes: []hashing.Hash{hash(hashing.MD5)}}
	for i := range 5 {
		f := store.Frame{Seconds: float64(i), Quality: 50 + i}
		copy(f.Hash[:], hash(hashing.PDQ).Bytes)
		vid.Frames = append(vid.Frames, f)
	}
	return []*store.Entry{img, vid}
}

// TestListFormats writes entries and a removal in each format and reads
// them back: each format keeps what docs/format.md says it keeps.
func TestListFormats(t *testing.T) {
	entries := sampleEntries(t)
	removal := Removal{Identity: [32]byte{9, 9}, ID: 3}
	img, vid := entries[0], entries[1]
	single := func(e *store.Entry, h hashing.Hash) *store.Entry {
		out := &store.Entry{Kind: e.Kind, Hashes: []hashing.Hash{h}}
		if h.Type == hashing.SHA256 {
			out.Kind = store.KindUnknown // python-threatexchange's sha256 names no media
		}
		return out
	}
	frames := &store.Entry{Kind: store.KindVideo, Frames: vid.Frames}
	withCSV := func(e *store.Entry) *store.Entry {
		e.Labels = map[string]string{LabelCategory: "=cmd", LabelTags: "a b"}
		e.Source.Origin = "gifct"
		return e
	}
	for _, tc := range []struct {
		format  Format
		want    []*store.Entry
		removes int
		repeats bool
	}{
		{FormatNative, nil, 1, false},
		{FormatPyTXFile, []*store.Entry{single(img, img.Hashes[0]), single(img, img.Hashes[1]), single(img, img.Hashes[2]), single(vid, vid.Hashes[0]), frames}, 0, true},
		{FormatPyTXCSV, []*store.Entry{withCSV(single(img, img.Hashes[0])), withCSV(single(img, img.Hashes[1])), withCSV(single(img, img.Hashes[2])), {Kind: store.KindVideo, Hashes: vid.Hashes}, {Kind: store.KindVideo, Frames: vid.Frames}}, 0, true},
		{FormatVPDQJSON, []*store.Entry{frames}, 0, true},
	} {
		t.Run(string(tc.format), func(t *testing.T) {
			var buf bytes.Buffer
			w, err := NewListWriter(tc.format, &buf, NativeHeader{Bank: NativeBank{Name: "b"}, ToRevision: 12})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if err := w.WriteEntry(e); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.WriteRemoval(removal); err != nil || w.Flush() != nil {
				t.Fatal(err)
			}
			r, err := NewListReader(tc.format, bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			items, err := readAll(r.Next)
			if err != nil {
				t.Fatal(err)
			}
			if r.Repeats() != tc.repeats {
				t.Errorf("Repeats %v", r.Repeats())
			}
			var got []*store.Entry
			removes := 0
			for i, it := range items {
				if it.Line < 1 {
					t.Errorf("item %d at line %d", i, it.Line)
				}
				if it.Entry == nil {
					removes++
					if it.Remove != removal.Identity {
						t.Errorf("removal of %x", it.Remove)
					}
					continue
				}
				got = append(got, it.Entry)
			}
			if removes != tc.removes {
				t.Errorf("%d removals, want %d", removes, tc.removes)
			}
			if tc.format == FormatNative {
				if r.Revision() != 12 || len(got) != 2 {
					t.Fatalf("native: revision %d, %d entries", r.Revision(), len(got))
				}
				for i, e := range got {
					if e.Provenance.SourceID != strconv.FormatUint(entries[i].ID, 10) || store.Identity(e) != store.Identity(entries[i]) || e.Note != entries[i].Note || !reflect.DeepEqual(e.Labels, entries[i].Labels) {
						t.Errorf("native entry %d: %+v", i, e)
					}
				}
				return
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d entries, want %d:\n%s", len(got), len(tc.want), buf.String())
			}
			for i := range got {
				if store.Identity(got[i]) != store.Identity(tc.want[i]) || got[i].Kind != tc.want[i].Kind ||
					!reflect.DeepEqual(got[i].Labels, tc.want[i].Labels) || got[i].Source != tc.want[i].Source {
					t.Errorf("entry %d: %+v, want %+v", i, got[i], tc.want[i])
				}
			}
			if tc.format == FormatPyTXCSV && !strings.Contains(buf.String(), ",'=cmd,") {
				t.Errorf("a formula-like category written unquoted:\n%s", buf.String())
			}
		})
	}
	if _, err := ParseFormat("xml"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseFormat(xml): %v", err)
	}
	if _, err := NewListReader("xml", strings.NewReader("")); !errors.Is(err, ErrInvalid) {
		t.Errorf("NewListReader(xml): %v", err)
	}
}
