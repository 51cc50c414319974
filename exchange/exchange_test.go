package exchange

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/pdq"
	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/vpdq"
)

// sampleSignals is one signal of every type the formats carry.
func sampleSignals(t testing.TB) []Signal {
	r := rand.New(rand.NewPCG(1, 2))
	hash := func(typ string) hashing.Hash {
		ht, err := hashing.Lookup(typ)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, ht.Bits/8)
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return hashing.Hash{Type: typ, Bytes: b}
	}
	var frames []vpdq.Frame
	for i := range 3 {
		var h pdq.Hash
		for j := range h {
			h[j] = byte(r.IntN(256))
		}
		frames = append(frames, vpdq.Frame{Index: i, Hash: h, Quality: 90 + i, Seconds: float64(i)})
	}
	return []Signal{
		{Type: hashing.PDQ, Kind: store.KindImage, Hash: hash(hashing.PDQ)},
		{Type: SignalVPDQ, Kind: store.KindVideo, Frames: frames},
		{Type: hashing.MD5, Kind: store.KindVideo, Hash: hash(hashing.MD5)},
		{Type: hashing.MD5, Kind: store.KindImage, Hash: hash(hashing.MD5)},
		{Type: hashing.MD5, Hash: hash(hashing.MD5)},
		{Type: hashing.SHA256, Hash: hash(hashing.SHA256)},
		{Type: hashing.PHash, Kind: store.KindImage, Hash: hash(hashing.PHash)},
	}
}

// readAll calls next until it returns io.EOF, and returns what it read
// and the error that ended it (nil for io.EOF).
func readAll[T any](next func() (T, error)) ([]T, error) {
	var out []T
	for {
		v, err := next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
}

func readFile(t testing.TB, data string) ([]Signal, error) {
	return readAll(NewFileReader(strings.NewReader(data)).Next)
}

func TestFileRoundTrip(t *testing.T) {
	want := sampleSignals(t)
	var buf bytes.Buffer
	w := NewFileWriter(&buf)
	for _, s := range want {
		if err := w.Write(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	for i, prefix := range []string{"pdq ", "vpdq [", "video_md5 ", "photo_md5 ", "md5 ", "sha256 ", "phash "} {
		if !strings.HasPrefix(lines[i], prefix) {
			t.Errorf("line %d: %.40q, want it to start %q", i+1, lines[i], prefix)
		}
	}
	got, err := readFile(t, "# a comment\n\n"+buf.String())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read back:\n%+v\nwant\n%+v", got, want)
	}
	// Upper case is read, and written back canonical.
	up, err := readFile(t, strings.ToUpper(lines[0][:4])+strings.ToUpper(lines[0][4:])+"\r\n")
	if err == nil {
		t.Errorf("an upper-case signal type name was accepted: %+v", up)
	}
	up, err = readFile(t, "pdq "+strings.ToUpper(lines[0][4:])+"\r\n")
	if err != nil || len(up) != 1 || up[0].Hash.Hex() != lines[0][4:] {
		t.Errorf("upper-case hex: %+v, %v", up, err)
	}
}

func TestFileMalformed(t *testing.T) {
	pdqHex := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name, data string
		line       int
		want       error
	}{
		{"no signal", "pdq\n", 1, ErrInvalid},
		{"only a space", "pdq \n", 1, ErrInvalid},
		{"unknown type", "tmk " + pdqHex + "\n", 1, ErrUnknownSignal},
		{"bad hex", "pdq " + strings.Repeat("zz", 32) + "\n", 1, hashing.ErrBadHex},
		{"short hash", "pdq abcd\n", 1, hashing.ErrBadHex},
		{"md5 of PDQ's length", "video_md5 " + pdqHex + "\n", 1, hashing.ErrBadHex},
		{"after comments and good lines", "# x\npdq " + pdqHex + "\n\nsha256 " + pdqHex + "\npdq 12\n", 5, hashing.ErrBadHex},
		{"bad vpdq", "vpdq [\"abc,100,0.0\"]\n", 1, vpdq.ErrInvalid},
		{"empty vpdq", "vpdq []\n", 1, ErrInvalid},
		{"a line too long", "pdq " + strings.Repeat("a", MaxLineBytes+1) + "\n", 1, ErrInvalid},
		{"two hashes on a line", "pdq " + pdqHex + " " + pdqHex + "\n", 1, hashing.ErrBadHex},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readFile(t, tc.data)
			var le *LineError
			if !errors.As(err, &le) || le.Line != tc.line || !errors.Is(err, tc.want) {
				t.Errorf("got %v, want line %d and %v", err, tc.line, tc.want)
			}
			if len(err.Error()) > 400 {
				t.Errorf("the message echoes too much: %d bytes", len(err.Error()))
			}
		})
	}
}

func readCSV(t testing.TB, data string) ([]Record, error) {
	return readAll(NewCSVReader(strings.NewReader(data)).Next)
}

func TestCSVRoundTrip(t *testing.T) {
	var want []Record
	for i, s := range sampleSignals(t) {
		rec := Record{Signal: s, Collab: "gifct", Category: "terrorism"}
		switch i {
		case 0:
			rec.Tags = []string{"=HYPERLINK(\"http://example.com\")", "+1", "poster"}
			rec.Collab = "=cmd|' /C calc'!A0"
		case 1:
			rec.Category = "@SUM(1)"
		case 2:
			rec.Collab, rec.Category = "-2+3", "'quoted"
		}
		want = append(want, rec)
	}
	var buf bytes.Buffer
	w := NewCSVWriter(&buf)
	for _, r := range want {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	// As a spreadsheet reads it: no field starts a formula.
	rows, err := csv.NewReader(bytes.NewReader(buf.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != "signal_type,signal_str,collab,category,tags" {
		t.Errorf("header %v", rows[0])
	}
	for _, row := range rows[1:] {
		for _, f := range row {
			if f != "" && strings.ContainsRune("=+-@\t\r", rune(f[0])) {
				t.Errorf("field %q would run as a formula", f)
			}
		}
	}
	got, err := readCSV(t, buf.String())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read back:\n%+v\nwant\n%+v", got, want)
	}
	var empty bytes.Buffer
	ew := NewCSVWriter(&empty)
	if err := ew.Flush(); err != nil || empty.String() != "signal_type,signal_str,collab,category,tags\n" {
		t.Errorf("an empty dataset: %q, %v", empty.String(), err)
	}
}

func TestCSVMalformed(t *testing.T) {
	const header = "signal_type,signal_str,collab,category,tags\n"
	pdqHex := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name, data string
		line       int
		want       error
	}{
		{"empty", "", 1, ErrInvalid},
		{"another header", "type,value,collab,category,tags\n", 1, ErrInvalid},
		{"too few fields", header + "pdq," + pdqHex + ",x,y\n", 2, ErrInvalid},
		{"too many fields", header + "pdq," + pdqHex + ",x,y,z,w\n", 2, ErrInvalid},
		{"a broken quote", header + "pdq,\"" + pdqHex + ",x,y,z\n", 2, ErrInvalid},
		{"unknown type", header + "tmk," + pdqHex + ",x,y,z\n", 2, ErrUnknownSignal},
		{"bad hash on line 3", header + "pdq," + pdqHex + ",x,y,z\npdq,12,x,y,z\n", 3, hashing.ErrBadHex},
		{"a line too long", header + "pdq," + strings.Repeat("a", MaxLineBytes+1) + ",x,y,z\n", 2, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readCSV(t, tc.data)
			var le *LineError
			if !errors.As(err, &le) || le.Line != tc.line || !errors.Is(err, tc.want) {
				t.Errorf("got %v, want line %d and %v", err, tc.line, tc.want)
			}
		})
	}
}

// TestReadersStream reads a list of a million lines from a reader that
// makes it as it goes: the readers hold a line at a time.
func TestReadersStream(t *testing.T) {
	if testing.Short() {
		t.Skip("a million lines")
	}
	const n = 1_000_000
	line := "pdq " + strings.Repeat("ab", 32) + "\n"
	r := NewFileReader(&repeatReader{line: line, n: n})
	count := 0
	for {
		if _, err := r.Next(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		count++
	}
	if count != n || r.Line() != n {
		t.Errorf("read %d signals, up to line %d, want %d", count, r.Line(), n)
	}
}

// repeatReader yields line n times without holding more than it.
type repeatReader struct {
	line string
	n    int
	rest string
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.rest == "" {
		if r.n == 0 {
			return 0, io.EOF
		}
		r.n--
		r.rest = r.line
	}
	k := copy(p, r.rest)
	r.rest = r.rest[k:]
	return k, nil
}

func TestSign(t *testing.T) {
	pub, priv, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	privPEM, err := MarshalPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := MarshalPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(privPEM, []byte("BEGIN PRIVATE KEY")) || !bytes.Contains(pubPEM, []byte("BEGIN PUBLIC KEY")) {
		t.Errorf("key files:\n%s\n%s", privPEM, pubPEM)
	}
	priv2, err := ParsePrivateKey(privPEM)
	if err != nil || !priv2.Equal(priv) {
		t.Fatalf("private key round trip: %v", err)
	}
	pub2, err := ParsePublicKey(pubPEM)
	if err != nil || !pub2.Equal(pub) {
		t.Fatalf("public key round trip: %v", err)
	}
	if _, err := ParsePublicKey(privPEM); !errors.Is(err, ErrInvalid) {
		t.Errorf("a private key read as public: %v", err)
	}
	if _, err := ParsePrivateKey([]byte("not a key")); !errors.Is(err, ErrInvalid) {
		t.Errorf("garbage read as a key: %v", err)
	}

	list := []byte("pdq " + strings.Repeat("ab", 32) + "\n")
	sig, err := Sign(priv2, bytes.NewReader(list))
	if err != nil || len(sig) != SignatureSize {
		t.Fatalf("Sign: %d bytes, %v", len(sig), err)
	}
	if err := Verify(pub2, bytes.NewReader(list), sig); err != nil {
		t.Errorf("Verify: %v", err)
	}
	for i := range list {
		tampered := bytes.Clone(list)
		tampered[i] ^= 1
		if err := Verify(pub, bytes.NewReader(tampered), sig); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("byte %d changed: %v", i, err)
		}
	}
	if err := Verify(pub, bytes.NewReader(append(bytes.Clone(list), '\n')), sig); !errors.Is(err, ErrBadSignature) {
		t.Errorf("a byte added: %v", err)
	}
	other, _, _ := GenerateKey()
	if err := Verify(other, bytes.NewReader(list), sig); !errors.Is(err, ErrBadSignature) {
		t.Errorf("another key: %v", err)
	}
	if err := Verify(pub, bytes.NewReader(list), sig[:10]); !errors.Is(err, ErrBadSignature) {
		t.Errorf("a short signature: %v", err)
	}
}

// TestSamples reads hand-written lists in python-threatexchange's formats
// (testdata/exchange): every signal, of every type they hold.
func TestSamples(t *testing.T) {
	data, err := os.ReadFile("../testdata/exchange/signals.txt")
	if err != nil {
		t.Fatal(err)
	}
	signals, err := readFile(t, string(data))
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, s := range signals {
		types = append(types, s.Type+"/"+s.Kind.String())
	}
	if want := "pdq/image pdq/image md5/video md5/image vpdq/video pdq/image"; strings.Join(types, " ") != want {
		t.Errorf("signals.txt: %s, want %s", strings.Join(types, " "), want)
	}
	if len(signals[4].Frames) != 3 || signals[4].Frames[1].Quality != 98 {
		t.Errorf("the vpdq signal: %+v", signals[4])
	}
	data, err = os.ReadFile("../testdata/exchange/dataset.csv")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := readCSV(t, string(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 || recs[0].Collab != "tvec-sharing" || strings.Join(recs[0].Tags, ",") != "poster,propaganda" ||
		recs[2].Category != "" || len(recs[3].Signal.Frames) != 2 || recs[1].Signal.Kind != store.KindVideo {
		t.Errorf("dataset.csv: %+v", recs)
	}
}

// BenchmarkFileReader reads PDQ lines of the local file format.
func BenchmarkFileReader(b *testing.B) {
	const n = 100_000
	line := "pdq " + strings.Repeat("ab", 32) + "\n"
	b.SetBytes(int64(n * len(line)))
	for b.Loop() {
		r := NewFileReader(&repeatReader{line: line, n: n})
		for {
			if _, err := r.Next(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "signals/s")
}

// TestCSVRecordBounded feeds a quoted field of many short lines, longer
// in all than MaxLineBytes: refused, without holding it.
func TestCSVRecordBounded(t *testing.T) {
	head := "signal_type,signal_str,collab,category,tags\npdq," + strings.Repeat("ab", 32) + ",\""
	r := NewCSVReader(io.MultiReader(strings.NewReader(head), &repeatReader{line: strings.Repeat("x", 1000) + "\n", n: 50_000}))
	_, err := r.Next()
	var le *LineError
	if !errors.As(err, &le) || le.Line != 2 || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "over") {
		t.Errorf("a record of 50 MB: %v", err)
	}
}
