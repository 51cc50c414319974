package vpdq

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// atPrecision returns frames with their timestamps rounded as the writers
// round them: SecondsPrecision decimals.
func atPrecision(t *testing.T, frames []Frame) []Frame {
	out := slices.Clone(frames)
	for i := range out {
		s, err := strconv.ParseFloat(string(appendSeconds(nil, out[i].Seconds)), 64)
		if err != nil {
			t.Fatal(err)
		}
		out[i].Seconds = s
	}
	return out
}

// FuzzParse feeds arbitrary bytes to Parse. Whatever parses must be in
// range and survive both writers: written and parsed again, it gives the
// same frames with timestamps rounded to the documented precision (and,
// for JSON, frame numbers replaced by positions). Seeds are the sample
// files in testdata/vpdq and the malformed-input table's shapes.
func FuzzParse(f *testing.F) {
	paths, err := filepath.Glob(filepath.Join(sampleDir, "clip-*"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no seeds in %s: %v", sampleDir, err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	const hx = "d23f0824128b2f330c5c7fd0a6a3a4506513270e269e0d37f2a74de452e6b438"
	for _, s := range []string{
		"",
		"[]",
		"0,100," + hx + ",0.0319\r\n\n1,100," + strings.ToUpper(hx) + ",1.02",
		"7 , 80 , " + hx + " , 2.5e1",
		`["` + hx + `,100,0.0", "` + hx + `,74,1.2e+02"]`,
		`["` + hx + `,100,0.0", 5]`,
		"0,101," + hx + ",nan\n",
		`{"0": {}}`,
	} {
		f.Add([]byte(s))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		frames, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			if frames != nil {
				t.Fatalf("frames returned with error %v", err)
			}
			return
		}
		if frames == nil || len(frames) > MaxFrames {
			t.Fatalf("%d frames (nil: %t)", len(frames), frames == nil)
		}
		for i, fr := range frames {
			if fr.Index < 0 || fr.Index > MaxIndex || fr.Quality < 0 || fr.Quality > 100 ||
				math.IsNaN(fr.Seconds) || fr.Seconds < 0 || fr.Seconds > MaxSeconds {
				t.Fatalf("frame %d out of range: %+v", i, fr)
			}
		}
		want := atPrecision(t, frames)

		var buf bytes.Buffer
		if err := WriteLines(&buf, frames); err != nil {
			t.Fatalf("WriteLines: %v", err)
		}
		lines := buf.Bytes()
		got, err := Parse(lines)
		if err != nil {
			t.Fatalf("Parse(WriteLines) %q: %v", lines, err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("lines round trip:\n got %v\nwant %v", got, want)
		}

		js, err := MarshalJSON(frames)
		if err != nil {
			t.Fatalf("MarshalJSON: %v", err)
		}
		got, err = Parse(js)
		if err != nil {
			t.Fatalf("Parse(MarshalJSON) %s: %v", js, err)
		}
		if !slices.Equal(got, positions(want)) {
			t.Fatalf("JSON round trip:\n got %v\nwant %v", got, positions(want))
		}

		// Once at the written precision, a second round trip changes nothing.
		buf.Reset()
		if err := WriteLines(&buf, want); err != nil || !bytes.Equal(buf.Bytes(), lines) {
			t.Fatalf("second WriteLines differs: %q vs %q (%v)", buf.Bytes(), lines, err)
		}
	})
}
