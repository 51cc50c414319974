package media

import (
	"bytes"
	"encoding/binary"
	"image"

	"github.com/disintegration/imaging"
)

// maxJPEGSegments bounds the walk over the JPEG segments that precede the
// image data. Exif sits in the first few (APP1 right after SOI or JFIF);
// real files have fewer than 30 segments before the scan.
const maxJPEGSegments = 512

// tagOrientation is the TIFF/Exif tag that says how stored pixels map to the
// displayed image (Exif 2.3, section 4.6.4).
const tagOrientation = 0x0112

// jpegOrientation returns the orientation (1-8) in the first APP1 Exif
// segment of a JPEG, or 1 when there is none or it cannot be read. It only
// reads: garbage anywhere means "no orientation", never an error.
func jpegOrientation(data []byte) int {
	i := 2 // after SOI
	for n := 0; n < maxJPEGSegments && i+4 <= len(data); n++ {
		if data[i] != 0xff {
			return 1
		}
		marker := data[i+1]
		switch {
		case marker == 0xff: // fill byte before a marker
			i++
			continue
		case marker == 0x01, marker == 0xd8, marker >= 0xd0 && marker <= 0xd7: // no length field
			i += 2
			continue
		case marker == 0xda, marker == 0xd9: // start of scan, end of image: no Exif after this
			return 1
		}
		length := int(binary.BigEndian.Uint16(data[i+2:]))
		if length < 2 || i+2+length > len(data) {
			return 1
		}
		seg := data[i+4 : i+2+length]
		if marker == 0xe1 && bytes.HasPrefix(seg, []byte("Exif\x00")) && len(seg) >= 6 {
			return tiffOrientation(seg[6:])
		}
		i += 2 + length
	}
	return 1
}

// tiffOrientation returns the orientation tag of the first IFD of a TIFF
// structure (a TIFF file, or the body of an Exif segment), or 1 when absent
// or unreadable.
func tiffOrientation(b []byte) int {
	if len(b) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(b[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	if bo.Uint16(b[2:]) != 42 {
		return 1
	}
	off := uint64(bo.Uint32(b[4:]))
	if off < 8 || off+2 > uint64(len(b)) {
		return 1
	}
	count := int(bo.Uint16(b[off:]))
	p := int(off) + 2
	for k := 0; k < count && p+12 <= len(b); k, p = k+1, p+12 {
		if bo.Uint16(b[p:]) != tagOrientation {
			continue
		}
		var v uint32
		switch bo.Uint16(b[p+2:]) { // field type
		case 3: // SHORT, as the spec says
			v = uint32(bo.Uint16(b[p+8:]))
		case 4: // LONG, written by a few tools
			v = bo.Uint32(b[p+8:])
		}
		if v >= 1 && v <= 8 {
			return int(v)
		}
		return 1
	}
	return 1
}

// orient returns m as a viewer shows it given the Exif orientation o, which
// names where the stored first row and column are displayed.
func orient(m image.Image, o int) image.Image {
	switch o {
	case 2: // mirrored left-right
		return imaging.FlipH(m)
	case 3: // upside down
		return imaging.Rotate180(m)
	case 4: // mirrored top-bottom
		return imaging.FlipV(m)
	case 5: // first row on the left, first column on top
		return imaging.Transpose(m)
	case 6: // first row on the right: turn 90 degrees clockwise
		return imaging.Rotate270(m)
	case 7: // first row on the right, first column at the bottom
		return imaging.Transverse(m)
	case 8: // first row on the left: turn 90 degrees counter-clockwise
		return imaging.Rotate90(m)
	}
	return m
}
