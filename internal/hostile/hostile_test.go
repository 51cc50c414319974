package hostile

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/hostile from Files")

const dir = "../../testdata/hostile"

// TestFiles: the committed corpus is what Files makes.
func TestFiles(t *testing.T) {
	for name, data := range Files() {
		path := filepath.Join(dir, name)
		if *update {
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./internal/hostile -update)", err)
		}
		if !bytes.Equal(got, data) {
			t.Errorf("%s differs from what Files makes (run go test ./internal/hostile -update)", name)
		}
	}
}
