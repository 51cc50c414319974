package hashing

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediamatch/mediamatch/pdq"
)

// FuzzParse checks that parsing any string as any hash type either fails
// with a clear error or gives a hash that prints back as the input, and that
// the PDQ package's own parser agrees with the registry's. Seeded with the
// reference hashes in testdata.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"exact", "tolerance"} {
		data, err := os.ReadFile(filepath.Join("../testdata/pdq", dir, "expected.tsv"))
		if err != nil {
			f.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			for _, field := range strings.Split(line, "\t")[1:] {
				for _, ty := range Types() {
					f.Add(ty.Name, field)
				}
			}
		}
	}
	f.Add(MD5, "900150983cd24fb0d6963f7d28e17f72")
	f.Add(PHash, "8000000000000001")
	f.Fuzz(func(t *testing.T, typ, s string) {
		h, err := Parse(typ, s)
		if err != nil {
			if h.Bytes != nil {
				t.Fatalf("Parse(%q, %q) returned bytes with error %v", typ, s, err)
			}
		} else {
			if h.Hex() != strings.ToLower(s) {
				t.Fatalf("Parse(%q, %q) round trip = %q", typ, s, h.Hex())
			}
			if d, err := Distance(h, h); err != nil || d != 0 {
				t.Fatalf("Distance(h, h) = %d, %v", d, err)
			}
		}
		p, perr := pdq.ParseHex(s)
		if typ == PDQ && (perr == nil) != (err == nil) {
			t.Fatalf("pdq.ParseHex and Parse disagree on %q: %v vs %v", s, perr, err)
		}
		if perr == nil && p.String() != strings.ToLower(s) {
			t.Fatalf("pdq.ParseHex(%q) round trip = %q", s, p)
		}
	})
}
