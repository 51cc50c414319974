package robustness

import (
	"bytes"
	"encoding/binary"
)

// Signatures of the embedded images carve looks for.
var (
	pngSignature  = []byte("\x89PNG\r\n\x1a\n")
	jpegSignature = []byte{0xff, 0xd8, 0xff}
)

// maxPNGChunk bounds one PNG chunk's declared length, so that a stray
// signature in other data cannot claim gigabytes.
const maxPNGChunk = 64 << 20

// embedded is one image stream found inside a larger file.
type embedded struct {
	offset int
	ext    string // ".png" or ".jpg"
	data   []byte
}

// carve returns the complete PNG and JPEG streams stored uncompressed in
// data, in order of their offsets, found by walking each format's chunk or
// marker structure from its signature to its end marker. Resource bundles
// (Qt's .rcc files, as GCompris ships its pictures in) store images this
// way. A JPEG's embedded thumbnail is inside its stream and not returned
// separately.
func carve(data []byte) []embedded {
	var out []embedded
	for pos := 0; pos < len(data); {
		p := indexFrom(data, pngSignature, pos)
		j := indexFrom(data, jpegSignature, pos)
		if p < 0 && j < 0 {
			break
		}
		var e embedded
		var end int
		if p >= 0 && (j < 0 || p < j) {
			e, end = embedded{offset: p, ext: ".png"}, pngEnd(data, p)
		} else {
			e, end = embedded{offset: j, ext: ".jpg"}, jpegEnd(data, j)
		}
		if end < 0 {
			pos = e.offset + 1
			continue
		}
		e.data = data[e.offset:end]
		out = append(out, e)
		pos = end
	}
	return out
}

// indexFrom is bytes.Index from position from, or -1.
func indexFrom(data, sep []byte, from int) int {
	i := bytes.Index(data[from:], sep)
	if i < 0 {
		return -1
	}
	return from + i
}

// pngEnd returns the end of the PNG stream starting at off (just after its
// IEND chunk), or -1 if its chunks do not lead to one.
func pngEnd(data []byte, off int) int {
	pos := off + len(pngSignature)
	for {
		if pos+12 > len(data) {
			return -1
		}
		n := binary.BigEndian.Uint32(data[pos:])
		if n > maxPNGChunk {
			return -1
		}
		typ := string(data[pos+4 : pos+8])
		end := pos + 12 + int(n)
		if end > len(data) {
			return -1
		}
		if typ == "IEND" {
			return end
		}
		pos = end
	}
}

// jpegEnd returns the end of the JPEG stream starting at off (just after
// its EOI marker), or -1 if its markers do not lead to one. Segments are
// skipped by their lengths; after a start of scan the entropy-coded data
// runs to the next marker that is not a stuffed 0xff00 or a restart.
func jpegEnd(data []byte, off int) int {
	pos := off + 2
	for {
		if pos+2 > len(data) || data[pos] != 0xff {
			return -1
		}
		m := data[pos+1]
		switch {
		case m == 0xff: // fill byte before a marker
			pos++
			continue
		case m == 0xd9: // end of image
			return pos + 2
		case m == 0x01 || (m >= 0xd0 && m <= 0xd7): // markers without a segment
			pos += 2
			continue
		}
		if pos+4 > len(data) {
			return -1
		}
		n := int(binary.BigEndian.Uint16(data[pos+2:]))
		if n < 2 {
			return -1
		}
		pos += 2 + n
		if m != 0xda { // not a start of scan
			continue
		}
		for ; pos+1 < len(data); pos++ {
			if data[pos] == 0xff && data[pos+1] != 0 && (data[pos+1] < 0xd0 || data[pos+1] > 0xd7) {
				break
			}
		}
	}
}
