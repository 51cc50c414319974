package vpdq

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/mediamatch/mediamatch/pdq"
)

const sampleDir = "../testdata/vpdq"

// mustHash parses a hex hash or fails the test.
func mustHash(t testing.TB, s string) pdq.Hash {
	t.Helper()
	h, err := pdq.ParseHex(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// randomHash returns a uniformly random hash.
func randomHash(r *rand.Rand) pdq.Hash {
	var h pdq.Hash
	for i := range h {
		h[i] = byte(r.Uint32())
	}
	return h
}

// randomFrames returns n frames with every field random and in range,
// timestamps in whole milliseconds so that they survive a round trip.
func randomFrames(r *rand.Rand, n int) []Frame {
	frames := make([]Frame, n)
	for i := range frames {
		frames[i] = Frame{
			Index:   r.IntN(MaxIndex + 1),
			Hash:    randomHash(r),
			Quality: r.IntN(101),
			Seconds: float64(r.Int64N(MaxSeconds*1000+1)) / 1000,
		}
	}
	// The extremes, which random draws rarely hit.
	if n >= 2 {
		frames[0] = Frame{Index: 0, Quality: 0, Seconds: 0}
		frames[1] = Frame{Index: MaxIndex, Quality: 100, Seconds: MaxSeconds}
		for i := range frames[1].Hash {
			frames[1].Hash[i] = 0xff
		}
	}
	return frames
}

// positions returns frames with each Index replaced by its position, as
// the JSON format gives them back.
func positions(frames []Frame) []Frame {
	out := slices.Clone(frames)
	for i := range out {
		out[i].Index = i
	}
	return out
}

func TestSampleLines(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(sampleDir, "clip-reference.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Frame{
		{0, mustHash(t, "d23f0824128b2f330c5c7fd0a6a3a4506513270e269e0d37f2a74de452e6b438"), 100, 0},
		{29, mustHash(t, "d23f082452cb2f33045c7fd0a6a3a4506513070e269e0d37f2a65dec72eeb438"), 100, 0.968},
		{58, mustHash(t, "d23f0824508b2733045c7fd0a6b3a4506d15070e269e0d2772a61decb06eb438"), 92, 1.935},
		{87, mustHash(t, "ae97ba94d0eda82f8f6d05584ef8aa38922766581e27a1c08a6a63ec24ede6a4"), 31, 2.903},
		{116, mustHash(t, "ae97ba94d0eda82fcf6d05584ef8aa38922766590e27a1c08a7863ec24ede6a4"), 88, 3.871},
	}
	got, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Parse:\n got %v\nwant %v", got, want)
	}
	// The file is what the reference tool writes, byte for byte.
	var buf bytes.Buffer
	if err := WriteLines(&buf, got); err != nil {
		t.Fatal(err)
	}
	if buf.String() != string(data) {
		t.Errorf("WriteLines:\n got %q\nwant %q", buf.String(), data)
	}
}

func TestSampleJSON(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(sampleDir, "clip-threatexchange.json"))
	if err != nil {
		t.Fatal(err)
	}
	still := mustHash(t, "5f15442430b9b5df9c77e9b00d4205b4007a70c30012f037b64ce6228c38fb29")
	want := []Frame{
		{0, mustHash(t, "7f15052434b9b5df9e7769b10f4205b4907a70c31012f037b64ce4228c38fb29"), 100, 0},
		{1, still, 96, 30},
		{2, still, 96, 60},
		{3, mustHash(t, "830e07bc1e398f1012bd4acefaecbd389be4bcfc49b64a0872e6cc3ababced20"), 100, 90},
		{4, mustHash(t, "c70a05bc1ef98f1012b58acfbaecb9389be4bcfc49a66a0872e64cb03aaced20"), 74, 120},
	}
	got, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Parse:\n got %v\nwant %v", got, want)
	}
	js, err := MarshalJSON(got)
	if err != nil {
		t.Fatal(err)
	}
	// Same layout as python-threatexchange, timestamps with three decimals.
	wantJS := strings.NewReplacer(",0.0\"", ",0.000\"", ",30.0\"", ",30.000\"", ",60.0\"", ",60.000\"",
		",90.0\"", ",90.000\"", ",1.2e+02\"", ",120.000\"").Replace(strings.TrimSpace(string(data)))
	if string(js) != wantJS {
		t.Errorf("MarshalJSON:\n got %s\nwant %s", js, wantJS)
	}
}

func TestRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 7, 1000} {
		frames := randomFrames(r, n)

		var buf bytes.Buffer
		if err := WriteLines(&buf, frames); err != nil {
			t.Fatal(err)
		}
		got, err := ParseLines(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, frames) {
			t.Errorf("%d frames: lines round trip differs", n)
		}

		js, err := MarshalJSON(frames)
		if err != nil {
			t.Fatal(err)
		}
		got, err = ParseJSON(js)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, positions(frames)) {
			t.Errorf("%d frames: JSON round trip differs", n)
		}
	}
}

// TestSecondsRounding pins the documented precision: three decimals,
// rounded to nearest, and negative zero written as zero.
func TestSecondsRounding(t *testing.T) {
	for _, c := range []struct {
		in   float64
		want string
	}{
		{0, "0.000"},
		{math.Copysign(0, -1), "0.000"},
		{1.0 / 3, "0.333"},
		{29.0 / 29.97, "0.968"},
		{0.0004, "0.000"},
		{0.0006, "0.001"},
		{119.98665618896484, "119.987"},
		{MaxSeconds, "10000000.000"},
	} {
		got := string(appendSeconds(nil, c.in))
		if got != c.want {
			t.Errorf("appendSeconds(%v) = %q, want %q", c.in, got, c.want)
		}
		var buf bytes.Buffer
		if err := WriteLines(&buf, []Frame{{Seconds: c.in}}); err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(buf.String(), ","+c.want+"\n") {
			t.Errorf("WriteLines(%v) = %q", c.in, buf.String())
		}
	}
}

// TestParseAccepts covers input the reference tools produce or tolerate
// beyond what WriteLines writes.
func TestParseAccepts(t *testing.T) {
	const lower = "d23f0824128b2f330c5c7fd0a6a3a4506513270e269e0d37f2a74de452e6b438"
	h := mustHash(t, lower)
	upper := strings.ToUpper(lower)
	for _, c := range []struct {
		name string
		in   string
		want []Frame
	}{
		{"empty", "", []Frame{}},
		{"blank lines only", "\n \n\t\n", []Frame{}},
		{"empty JSON list", " [ ] ", []Frame{}},
		{"no final newline", "3,50," + lower + ",1.500", []Frame{{3, h, 50, 1.5}}},
		{"CRLF and blank lines", "\r\n1,99," + lower + ",0.033\r\n\r\n2,98," + lower + ",0.067\r\n",
			[]Frame{{1, h, 99, 0.033}, {2, h, 98, 0.067}}},
		{"upper-case hex", "0,100," + upper + ",0.000\n", []Frame{{0, h, 100, 0}}},
		{"older tool: three significant digits", "0,100," + lower + ",0\n1,100," + lower + ",0.0319\n32,100," + lower + ",1.02\n",
			[]Frame{{0, h, 100, 0}, {1, h, 100, 0.0319}, {32, h, 100, 1.02}}},
		{"spaces around fields", " 7 , 80 , " + lower + " , 2.5 \n", []Frame{{7, h, 80, 2.5}}},
		{"timestamps out of order", "1,100," + lower + ",2.000\n0,100," + lower + ",1.000\n",
			[]Frame{{1, h, 100, 2}, {0, h, 100, 1}}},
		{"JSON python formatting", `["` + lower + `,100,0.0", "` + upper + `,74,1.2e+02", "` + lower + `,0,1e-05"]`,
			[]Frame{{0, h, 100, 0}, {1, h, 74, 120}, {2, h, 0, 1e-5}}},
		{"JSON spaces and newlines", "\n[\n  \"" + lower + ", 60 , 3.25\"\n]\n", []Frame{{0, h, 60, 3.25}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse([]byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			if got == nil || !slices.Equal(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	const hx = "d23f0824128b2f330c5c7fd0a6a3a4506513270e269e0d37f2a74de452e6b438"
	line := func(index, quality, hash, seconds string) string {
		return index + "," + quality + "," + hash + "," + seconds + "\n"
	}
	good := line("0", "100", hx, "0.000")
	elem := func(s string) string { return `["` + hx + `,100,0.0", "` + s + `"]` }
	for _, c := range []struct {
		name string
		in   string
		want []string // substrings of the error message
	}{
		{"short hash", line("0", "100", hx[:63], "0.0"), []string{"line 1", "want 64 hex digits, got 63"}},
		{"long hash", good + line("1", "100", hx+"0", "0.0"), []string{"line 2", "got 65"}},
		{"non-hex hash", line("0", "100", hx[:10]+"g"+hx[11:], "0.0"), []string{"line 1", "character 11 is not a hex digit"}},
		{"empty hash", line("0", "100", "", "0.0"), []string{"want 64 hex digits, got 0"}},
		{"quality above 100", good + good + line("2", "101", hx, "0.0"), []string{"line 3", `quality "101" is outside 0..100`}},
		{"negative quality", line("0", "-1", hx, "0.0"), []string{`quality "-1" is negative`}},
		{"quality not a number", line("0", "high", hx, "0.0"), []string{`quality "high" is not a decimal integer`}},
		{"quality with sign", line("0", "+50", hx, "0.0"), []string{"not a decimal integer"}},
		{"quality fraction", line("0", "99.5", hx, "0.0"), []string{"not a decimal integer"}},
		{"empty quality", line("0", "", hx, "0.0"), []string{"quality is empty"}},
		{"huge quality", line("0", "99999999999999999999999", hx, "0.0"), []string{"outside 0..100"}},
		{"negative frame", line("-3", "100", hx, "0.0"), []string{`frame number "-3" is negative`}},
		{"frame above int32", line("2147483648", "100", hx, "0.0"), []string{"outside 0..2147483647"}},
		{"negative seconds", line("0", "100", hx, "-0.033"), []string{`seconds "-0.033" is negative`}},
		{"negative zero seconds", line("0", "100", hx, "-0.000"), []string{"is negative"}},
		{"NaN seconds", line("0", "100", hx, "nan"), []string{`seconds "nan" is not a decimal number`}},
		{"Inf seconds", line("0", "100", hx, "Inf"), []string{"not a decimal number"}},
		{"hex float seconds", line("0", "100", hx, "0x1p3"), []string{"not a decimal number"}},
		{"separator in seconds", line("0", "100", hx, "1_000"), []string{"not a decimal number"}},
		{"garbage seconds", line("0", "100", hx, "1.0s"), []string{"not a decimal number"}},
		{"bare dot seconds", line("0", "100", hx, "."), []string{"not a decimal number"}},
		{"dangling exponent", line("0", "100", hx, "1e"), []string{"not a decimal number"}},
		{"empty seconds", line("0", "100", hx, ""), []string{"seconds is empty"}},
		{"overflowing seconds", line("0", "100", hx, "1e400"), []string{"out of range"}},
		{"seconds above the limit", line("0", "100", hx, "10000000.001"), []string{"above 1e+07"}},
		{"three fields", "0,100," + hx + "\n", []string{"line 1", "want 4 comma-separated fields", "got 3"}},
		{"python CLI order", hx + ",100,0.000\n", []string{"want 4", "got 3"}},
		{"five fields", good[:len(good)-1] + ",extra\n", []string{"got 5"}},
		{"header line", "frame,quality,hash,seconds\n" + good, []string{"line 1", `frame number "frame" is not a decimal integer`}},
		{"tab separated", "0\t100\t" + hx + "\t0.0\n", []string{"got 1"}},
		{"line too long", good + strings.Repeat(" ", MaxLineLen+10) + "\n", []string{"line 2", "longer than 256 bytes"}},
		{"last line too long", good + strings.Repeat("1", MaxLineLen+1), []string{"line 2", "longer than 256 bytes"}},
		{"control characters", "0,100," + hx + ",0.0\x00\n", []string{`"0.0\x00"`}},
		{"binary", "\x89PNG\r\n\x1a\n", []string{"line 1", "got 1"}},

		{"JSON bad hash", elem(hx[:60] + ",100,1.0"), []string{"element 2", "want 64 hex digits, got 60"}},
		{"JSON bad quality", elem(hx + ",101,1.0"), []string{"element 2", "outside 0..100"}},
		{"JSON NaN seconds", elem(hx + ",100,NaN"), []string{"element 2", "not a decimal number"}},
		{"JSON negative seconds", elem(hx + ",100,-1.0"), []string{"element 2", "negative"}},
		{"JSON four fields", elem("0," + hx + ",100,1.0"), []string{"element 2", "want 3 comma-separated fields", "got 4"}},
		{"JSON number element", `["` + hx + `,100,0.0", 5]`, []string{"element 2", "want a string, got a number"}},
		{"JSON nested list", `[["` + hx + `,100,0.0"]]`, []string{"element 1", "got a list"}},
		{"JSON object element", `[{"hash": "x"}]`, []string{"element 1", "got an object"}},
		{"JSON null element", `[null]`, []string{"element 1", "got null"}},
		{"JSON old dict format", ` {"0": {"quality": 100}}`, []string{"a JSON object; want a JSON list"}},
		{"JSON truncated", `["` + hx + `,100,0.0", `, []string{"truncated JSON list"}},
		{"JSON unterminated string", `["` + hx, []string{"truncated JSON list"}},
		{"JSON trailing comma", `["` + hx + `,100,0.0",]`, []string{"malformed JSON"}},
		{"JSON trailing data", `["` + hx + `,100,0.0"] x`, []string{"data after the JSON list"}},
		{"JSON second list", `[] []`, []string{"data after the JSON list"}},
		{"JSON element too long", `["` + strings.Repeat("a", MaxLineLen+1) + `"]`, []string{"element 1", "longer than 256 bytes"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			frames, err := Parse([]byte(c.in))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, %v; want an ErrInvalid error", frames, err)
			}
			if frames != nil {
				t.Errorf("frames %v returned with the error", frames)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestParseMaxFrames checks the frame limit in both formats: MaxFrames
// frames parse, one more does not.
func TestParseMaxFrames(t *testing.T) {
	frames := make([]Frame, MaxFrames)
	var buf bytes.Buffer
	if err := WriteLines(&buf, frames); err != nil {
		t.Fatal(err)
	}
	lines := buf.Bytes()
	js, err := MarshalJSON(frames)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"lines": lines, "JSON": js} {
		got, err := Parse(data)
		if err != nil || len(got) != MaxFrames {
			t.Fatalf("%s: %d frames, %v", name, len(got), err)
		}
	}

	extra := slices.Concat(lines, []byte("\n\n"), lines[:bytes.IndexByte(lines, '\n')+1])
	_, err = Parse(extra)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "line 100003: more than 100000 frames") {
		t.Errorf("lines: %v", err)
	}
	extraJS := slices.Concat(js[:len(js)-1], []byte(`, "`+pdq.Hash{}.String()+`,0,0.000"]`))
	_, err = Parse(extraJS)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "element 100001: more than 100000 frames") {
		t.Errorf("JSON: %v", err)
	}

	if err := WriteLines(&buf, append(frames, Frame{})); !errors.Is(err, ErrInvalid) {
		t.Errorf("WriteLines of %d frames: %v", MaxFrames+1, err)
	}
	if _, err := MarshalJSON(append(frames, Frame{})); !errors.Is(err, ErrInvalid) {
		t.Errorf("MarshalJSON of %d frames: %v", MaxFrames+1, err)
	}
}

func TestWriteRejects(t *testing.T) {
	for _, c := range []struct {
		name string
		f    Frame
		want string
	}{
		{"negative index", Frame{Index: -1}, "frame number -1 is outside"},
		{"index above int32", Frame{Index: MaxIndex + 1}, "frame number 2147483648 is outside 0..2147483647"},
		{"quality above 100", Frame{Quality: 101}, "quality 101 is outside 0..100"},
		{"negative quality", Frame{Quality: -5}, "quality -5"},
		{"negative seconds", Frame{Seconds: -0.001}, "seconds -0.001 is outside"},
		{"NaN seconds", Frame{Seconds: math.NaN()}, "seconds NaN"},
		{"infinite seconds", Frame{Seconds: math.Inf(1)}, "seconds +Inf"},
		{"seconds above the limit", Frame{Seconds: MaxSeconds + 1}, "seconds 1.0000001e+07 is outside 0..1e+07"},
	} {
		t.Run(c.name, func(t *testing.T) {
			frames := []Frame{{}, c.f}
			var buf bytes.Buffer
			err := WriteLines(&buf, frames)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "frame 2: "+c.want) {
				t.Errorf("WriteLines: %v", err)
			}
			if buf.Len() != 0 {
				t.Errorf("WriteLines wrote %q before failing", buf.String())
			}
			js, err := MarshalJSON(frames)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "frame 2: "+c.want) || js != nil {
				t.Errorf("MarshalJSON: %q, %v", js, err)
			}
		})
	}
}

// TestReadError checks that a failing reader is reported as such, not as
// invalid data.
func TestReadError(t *testing.T) {
	boom := errors.New("boom")
	_, err := ParseLines(iotest.ErrReader(boom))
	if !errors.Is(err, boom) || errors.Is(err, ErrInvalid) {
		t.Errorf("got %v", err)
	}
}
