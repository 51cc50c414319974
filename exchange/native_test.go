package exchange

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/storetest"
)

func nativeSample(t testing.TB) (NativeHeader, []NativeItem) {
	r := rand.New(rand.NewPCG(5, 6))
	h := NativeHeader{Exporter: "mediamatch test", FromRevision: 0, ToRevision: 40, Exported: time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC),
		Bank: NativeBank{Name: "tvec", Description: "known propaganda", Labels: map[string]string{"source": "gifct"},
			Thresholds: map[string]int{"pdq": 28}, FalseMatchBudget: 1e-6}}
	var items []NativeItem
	for i := range 6 {
		var e *store.Entry
		if i%3 == 2 {
			e = storetest.RandomVideo(r, "tvec", 5+i)
		} else {
			e = storetest.RandomImage(r, "tvec")
			e.Hashes[0].Quality = 90
			if i == 0 {
				e.Thumbnail = store.Thumbnail{Width: 9, Height: 8, Grey: make([]byte, 72)}
				for k := range e.Thumbnail.Grey {
					e.Thumbnail.Grey[k] = byte(r.IntN(256))
				}
			}
		}
		e.ID, e.Revision = uint64(i+1), store.Revision(i+2)
		e.Created = time.Date(2026, 11, i+1, 12, 0, 0, 0, time.UTC)
		e.Updated, e.CreatedBy, e.UpdatedBy = e.Created, "ingest", "ingest"
		items = append(items, NativeItem{Entry: e})
	}
	items = append(items, NativeItem{Removal: &Removal{Identity: store.Identity(items[1].Entry), ID: 2, Revision: 9,
		Time: time.Date(2026, 11, 30, 1, 2, 3, 0, time.UTC), Actor: "curator-a"}})
	return h, items
}

func writeNative(t testing.TB, h NativeHeader, items []NativeItem) []byte {
	var buf bytes.Buffer
	w, err := NewNativeWriter(&buf, h)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.Entry != nil {
			err = w.WriteEntry(it.Entry)
		} else {
			err = w.WriteRemoval(*it.Removal)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readNative(data []byte) (NativeHeader, []NativeItem, error) {
	r, err := NewNativeReader(bytes.NewReader(data))
	if err != nil {
		return NativeHeader{}, nil, err
	}
	items, err := readAll(r.Next)
	return r.Header(), items, err
}

// TestNativeRoundTrip writes entries of every kind, with everything the
// store keeps of them, and a removal, and reads them back the same.
func TestNativeRoundTrip(t *testing.T) {
	h, items := nativeSample(t)
	data := writeNative(t, h, items)
	gotH, got, err := readNative(data)
	if err != nil {
		t.Fatal(err)
	}
	h.Format, h.Version = NativeFormat, NativeVersion
	if !reflect.DeepEqual(gotH, h) {
		t.Errorf("header %+v, want %+v", gotH, h)
	}
	if !reflect.DeepEqual(got, items) {
		t.Errorf("items differ:\n%+v\nwant\n%+v", got, items)
	}
	if n := bytes.Count(data, []byte("\n")); n != len(items)+1 {
		t.Errorf("%d lines for %d items and a header", n, len(items))
	}
}

func TestNativeMalformed(t *testing.T) {
	h, items := nativeSample(t)
	good := writeNative(t, h, items[:2])
	lines := strings.Split(strings.TrimSuffix(string(good), "\n"), "\n")
	header, entry := lines[0], lines[1]
	other := strings.Replace(entry, items[0].Entry.Hashes[0].Hex(), strings.Repeat("0", 64), 1)
	for _, tc := range []struct {
		name, data string
		line       int
		want       error
	}{
		{"empty", "", 1, ErrInvalid},
		{"not JSON", "pdq abc\n", 1, ErrInvalid},
		{"another format", strings.Replace(header, NativeFormat, "other", 1) + "\n", 1, ErrInvalid},
		{"a newer version", strings.Replace(header, `"version":1`, `"version":2`, 1) + "\n", 1, ErrInvalid},
		{"a bad bank name", strings.Replace(header, `"name":"tvec"`, `"name":"../x"`, 1) + "\n", 1, ErrInvalid},
		{"two values on a line", header + " {}\n", 1, ErrInvalid},
		{"an empty line object", header + "\n{}\n", 2, ErrInvalid},
		{"entry and removal", header + "\n" + strings.TrimSuffix(entry, "}") + `,"removed":{"identity":"` + strings.Repeat("0", 64) + `"}}` + "\n", 2, ErrInvalid},
		{"a bad hash", header + "\n" + strings.Replace(entry, items[0].Entry.Hashes[0].Hex(), "zz", 1) + "\n", 2, hashing.ErrBadHex},
		{"an identity of other hashes", header + "\n\n" + other + "\n", 3, ErrInvalid},
		{"an unknown hash type", header + "\n" + strings.Replace(entry, `"type":"pdq"`, `"type":"tmk"`, 1) + "\n", 2, hashing.ErrUnknownType},
		{"a bad kind", header + "\n" + strings.Replace(entry, `"kind":"image"`, `"kind":"sound"`, 1) + "\n", 2, ErrInvalid},
		{"a bad removal", header + "\n" + `{"removed":{"identity":"12"}}` + "\n", 2, ErrInvalid},
		{"a line too long", header + "\n" + strings.Repeat(" ", MaxLineBytes+1) + "\n", 2, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := readNative([]byte(tc.data))
			var le *LineError
			if !errors.As(err, &le) || le.Line != tc.line || !errors.Is(err, tc.want) {
				t.Errorf("got %v, want line %d and %v", err, tc.line, tc.want)
			}
		})
	}
	// What the store refuses is refused (a label key it does not take).
	bad := *items[0].Entry
	bad.Labels = map[string]string{"": "x"}
	var buf bytes.Buffer
	w, _ := NewNativeWriter(&buf, h)
	if err := w.WriteEntry(&bad); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("writing an entry the store would refuse: %v", err)
	}
}

// TestNativeTrailing refuses a line with anything after its JSON value.
func TestNativeTrailing(t *testing.T) {
	h, items := nativeSample(t)
	header := strings.SplitN(string(writeNative(t, h, items[:1])), "\n", 2)[0]
	for _, tail := range []string{"}", "]", " {}", " x"} {
		if _, err := NewNativeReader(strings.NewReader(header + tail + "\n")); !errors.Is(err, ErrInvalid) {
			t.Errorf("a header followed by %q: %v", tail, err)
		}
	}
}
