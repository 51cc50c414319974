package bolt

import (
	"bytes"
	"fmt"
	"os"
	"testing"
)

// FuzzOpenDamaged is TestCorruption with the fuzzer choosing the damage:
// a real store file with bytes overwritten at an offset is opened, read
// whole and written to, and each step ends in a documented error or in the
// fixture's data, with a write that loses nothing (tryDamaged); never a
// panic, a hang or a wrong answer. FuzzVerify covers the walk at open
// alone, many times faster.
func FuzzOpenDamaged(f *testing.F) {
	fx := makeFixture(f)
	clean, err := os.ReadFile(fx.path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint32(0), []byte{0xff})
	f.Add(uint32(fx.pageSize+16), []byte{0, 0, 0, 0})
	f.Add(uint32(3*fx.pageSize+8), []byte{0x01, 0x00, 0xff, 0xff})
	f.Add(uint32(fx.used-fx.pageSize/2), []byte("A"))
	f.Add(uint32(len(clean)-1), []byte{0x10})
	f.Fuzz(func(t *testing.T, off uint32, patch []byte) {
		data := bytes.Clone(clean)
		at := int(off) % len(data)
		copy(data[at:], patch)
		tryDamaged(t, fx, data, fmt.Sprintf("%d bytes overwritten at %d", min(len(patch), len(data)-at), at))
	})
}
