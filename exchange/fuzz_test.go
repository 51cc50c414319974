package exchange

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/vpdq"
)

// atPrecision returns a timestamp as the vPDQ writers write it, with
// vpdq.SecondsPrecision decimals: a round trip through those formats is
// exact only for whole milliseconds, as package vpdq documents.
func atPrecision(s float64) float64 {
	v, err := strconv.ParseFloat(strconv.FormatFloat(s, 'f', vpdq.SecondsPrecision, 64), 64)
	if err != nil {
		panic(err)
	}
	return v
}

// signalAtPrecision is s with its frames' timestamps at the writers'
// precision.
func signalAtPrecision(s Signal) Signal {
	s.Frames = slices.Clone(s.Frames)
	for i := range s.Frames {
		s.Frames[i].Seconds = atPrecision(s.Frames[i].Seconds)
	}
	return s
}

// framesAtPrecision is frames with their timestamps at the writers'
// precision.
func framesAtPrecision(frames []store.Frame) []store.Frame {
	frames = slices.Clone(frames)
	for i := range frames {
		frames[i].Seconds = atPrecision(frames[i].Seconds)
	}
	return frames
}

// knownError reports whether err is one the readers document.
func knownError(err error) bool {
	var le *LineError
	return errors.As(err, &le) && le.Line >= 1 &&
		(errors.Is(err, ErrInvalid) || errors.Is(err, ErrUnknownSignal))
}

// readChecked reads every item next gives, failing t on an error that is
// not a documented one; a documented error ends the items.
func readChecked[T any](t *testing.T, next func() (T, error)) []T {
	items, err := readAll(next)
	if err != nil && !knownError(err) {
		t.Fatalf("an undocumented error: %v", err)
	}
	return items
}

// FuzzFileReader reads arbitrary bytes as the local file format: every
// error is a documented one with its line, and every signal read is
// written back as a line that reads as the same signal.
func FuzzFileReader(f *testing.F) {
	var buf bytes.Buffer
	w := NewFileWriter(&buf)
	for _, s := range sampleSignals(f) {
		w.Write(s)
	}
	w.Flush()
	f.Add(buf.Bytes())
	f.Add([]byte("# comment\n\npdq " + strings.Repeat("AB", 32) + "\r\n"))
	f.Add([]byte("vpdq [\"" + strings.Repeat("ab", 32) + ",100,0.000\"]\n"))
	f.Add([]byte("pdq\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		signals := readChecked(t, NewFileReader(bytes.NewReader(data)).Next)
		for _, s := range signals {
			var out bytes.Buffer
			w := NewFileWriter(&out)
			if err := w.Write(s); err != nil {
				t.Fatalf("writing %+v: %v", s, err)
			}
			w.Flush()
			again, err := NewFileReader(&out).Next()
			if err != nil || !reflect.DeepEqual(again, signalAtPrecision(s)) {
				t.Fatalf("%q read back as %+v, %v; was %+v", out.String(), again, err, s)
			}
		}
	})
}

// FuzzCSVReader reads arbitrary bytes as a CSV dataset, with the same
// checks, and what it reads is written without a field a spreadsheet
// would run.
func FuzzCSVReader(f *testing.F) {
	var buf bytes.Buffer
	w := NewCSVWriter(&buf)
	for _, s := range sampleSignals(f) {
		w.Write(Record{Signal: s, Collab: "=x", Category: "c", Tags: []string{"a", "+b"}})
	}
	w.Flush()
	f.Add(buf.Bytes())
	f.Add([]byte("signal_type,signal_str,collab,category,tags\npdq,\"" + strings.Repeat("ab", 32) + "\",,,\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, rec := range readChecked(t, NewCSVReader(bytes.NewReader(data)).Next) {
			var out bytes.Buffer
			w := NewCSVWriter(&out)
			if err := w.Write(rec); err != nil {
				t.Fatalf("writing %+v: %v", rec, err)
			}
			w.Flush()
			again, err := NewCSVReader(&out).Next()
			want := rec
			want.Signal = signalAtPrecision(rec.Signal)
			if err != nil || !reflect.DeepEqual(again, want) {
				t.Fatalf("%q read back as %+v, %v; was %+v", out.String(), again, err, rec)
			}
		}
	})
}

// FuzzParseKey reads arbitrary bytes as key files: refused with ErrInvalid
// or read as a key that writes back to a file read as the same key.
func FuzzParseKey(f *testing.F) {
	pub, priv, _ := GenerateKey()
	p1, _ := MarshalPrivateKey(priv)
	p2, _ := MarshalPublicKey(pub)
	f.Add(p1)
	f.Add(p2)
	f.Fuzz(func(t *testing.T, data []byte) {
		if k, err := ParsePrivateKey(data); err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("private: %v", err)
			}
		} else if out, err := MarshalPrivateKey(k); err != nil {
			t.Fatal(err)
		} else if again, err := ParsePrivateKey(out); err != nil || !again.Equal(k) {
			t.Fatalf("private key round trip: %v", err)
		}
		if k, err := ParsePublicKey(data); err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("public: %v", err)
			}
		} else if out, err := MarshalPublicKey(k); err != nil {
			t.Fatal(err)
		} else if again, err := ParsePublicKey(out); err != nil || !again.Equal(k) {
			t.Fatalf("public key round trip: %v", err)
		}
	})
}

// FuzzNativeReader reads arbitrary bytes as a native list: every error is
// a documented one with its line, and every item read writes back to a
// line that reads as the same item.
func FuzzNativeReader(f *testing.F) {
	h, items := nativeSample(f)
	f.Add(writeNative(f, h, items[:1]))
	f.Add(writeNative(f, h, items[2:3]))
	f.Add(writeNative(f, h, items[6:]))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewNativeReader(bytes.NewReader(data))
		if err != nil {
			if !knownError(err) {
				t.Fatalf("an undocumented error: %v", err)
			}
			return
		}
		for _, it := range readChecked(t, r.Next) {
			out := writeNative(t, r.Header(), []NativeItem{it})
			_, again, err := readNative(out)
			if err != nil || len(again) != 1 || !reflect.DeepEqual(again[0], it) {
				t.Fatalf("%q read back as %+v, %v; was %+v", out, again, err, it)
			}
		}
	})
}

// FuzzVPDQJSONReader reads arbitrary bytes as a vpdq-json list: every
// error is a documented one with its line, and every video read is
// written back as a line that reads as the same frames.
func FuzzVPDQJSONReader(f *testing.F) {
	var buf bytes.Buffer
	w, _ := NewListWriter(FormatVPDQJSON, &buf, NativeHeader{Bank: NativeBank{Name: "b"}})
	for _, e := range sampleEntries(f) {
		w.WriteEntry(e)
	}
	w.Flush()
	f.Add(buf.Bytes())
	f.Add([]byte("[]\n"))
	f.Add([]byte("\n[\"" + strings.Repeat("ab", 32) + ",100,0.000\"]\n{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewListReader(FormatVPDQJSON, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range readChecked(t, r.Next) {
			var out bytes.Buffer
			w, _ := NewListWriter(FormatVPDQJSON, &out, NativeHeader{Bank: NativeBank{Name: "b"}})
			if err := w.WriteEntry(it.Entry); err != nil {
				t.Fatalf("writing %+v: %v", it.Entry, err)
			}
			w.Flush()
			back, _ := NewListReader(FormatVPDQJSON, &out)
			again, err := back.Next()
			if err != nil || !reflect.DeepEqual(again.Entry.Frames, framesAtPrecision(it.Entry.Frames)) {
				t.Fatalf("%q read back as %+v, %v; was %+v", out.String(), again.Entry, err, it.Entry)
			}
		}
	})
}
