package media

import (
	"bytes"
	"fmt"
	"image"

	"github.com/gen2brain/avif"
)

// AVIF is decoded by libavif (with dav1d) compiled to WebAssembly and run in
// wazero: the C code sees only its own linear memory, so a memory-safety bug
// in it cannot reach the process. The package would instead call a system
// libavif (>= 1.1) through purego if it finds one at start-up; that would
// run native C code on untrusted bytes, so in that case AVIF is refused.
func init() {
	codecs[FormatAVIF] = &codec{config: avifConfig, decode: avifDecode, maxPixels: maxAVIFPixels}
}

// maxAVIFPixels caps the pixel budget for AVIF (about 4096x4096). The
// WebAssembly decoder's linear memory grows by copying, so a decode peaks
// near 60 bytes per pixel (measured: 700 MB for 12 megapixels); the default
// 50-megapixel budget would allow about 3 GB, close to the 4 GiB a 32-bit
// WebAssembly memory can hold.
const maxAVIFPixels = 16 << 20

// errAVIFNative explains why AVIF is refused when a system libavif is used.
var errAVIFNative = fmt.Errorf("media: AVIF is not decoded here because a system libavif was loaded, "+
	"which would decode it outside the WebAssembly sandbox: %w", ErrUnsupported)

// avifSandboxed reports whether the avif package decodes in WebAssembly.
// Dynamic returns nil exactly when it loaded a system libavif.
func avifSandboxed() bool { return avif.Dynamic() != nil }

func avifConfig(b []byte) (image.Config, error) {
	if !avifSandboxed() {
		return image.Config{}, errAVIFNative
	}
	return avif.DecodeConfig(bytes.NewReader(b))
}

// avifDecode decodes the first frame. For 8-bit images the avif package
// returns pixels that alias the module's whole linear memory (several times
// the image); they are copied out so that memory can be collected as soon
// as we return. Deeper images already come in a buffer of their own.
func avifDecode(b []byte) (image.Image, error) {
	if !avifSandboxed() {
		return nil, errAVIFNative
	}
	m, err := avif.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	if rgba, ok := m.(*image.RGBA); ok {
		c := *rgba
		c.Pix = bytes.Clone(rgba.Pix)
		return &c, nil
	}
	return m, nil
}
