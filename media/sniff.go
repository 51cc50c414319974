package media

import (
	"bytes"
	"encoding/binary"
	"strings"
)

// Format names a file format recognised from its content.
type Format string

// Image formats that Decode can decode.
const (
	FormatJPEG Format = "jpeg"
	FormatPNG  Format = "png"
	FormatGIF  Format = "gif"
	FormatWebP Format = "webp"
	FormatBMP  Format = "bmp"
	FormatTIFF Format = "tiff"
	FormatAVIF Format = "avif"
)

// Formats that are recognised so that the error can name them, but are not
// decoded.
const (
	FormatHEIC   Format = "heic" // HEIF with HEVC, as phones write it
	FormatJPEGXL Format = "jxl"
	FormatMP4    Format = "mp4"  // ISO base media: MP4, QuickTime MOV, 3GP
	FormatWebM   Format = "webm" // EBML: WebM and Matroska
	FormatAVI    Format = "avi"
	FormatFLV    Format = "flv"
	FormatMPEGPS Format = "mpeg"
)

// FormatUnknown is what Sniff returns for content it does not recognise.
const FormatUnknown Format = ""

// IsVideo reports whether f is a video container.
func (f Format) IsVideo() bool {
	switch f {
	case FormatMP4, FormatWebM, FormatAVI, FormatFLV, FormatMPEGPS:
		return true
	}
	return false
}

// String returns the name people use for the format, such as "JPEG".
func (f Format) String() string {
	switch f {
	case FormatJPEG, FormatPNG, FormatGIF, FormatBMP, FormatTIFF, FormatAVIF, FormatHEIC, FormatAVI, FormatFLV:
		return strings.ToUpper(string(f))
	case FormatWebP:
		return "WebP"
	case FormatJPEGXL:
		return "JPEG XL"
	case FormatMP4:
		return "MP4/QuickTime video"
	case FormatWebM:
		return "WebM/Matroska video"
	case FormatMPEGPS:
		return "MPEG program stream"
	case FormatUnknown:
		return "unknown format"
	}
	return string(f)
}

// Sniff returns the format of data judged from its first bytes alone, never
// from a file name. Content is only recognised at offset 0: a file that
// starts as HTML or ZIP is FormatUnknown even if an image follows, and an
// image followed by other data is that image.
func Sniff(data []byte) Format {
	switch {
	case bytes.HasPrefix(data, []byte("\xff\xd8\xff")):
		return FormatJPEG
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return FormatPNG
	case bytes.HasPrefix(data, []byte("GIF87a")), bytes.HasPrefix(data, []byte("GIF89a")):
		return FormatGIF
	case len(data) >= 12 && bytes.HasPrefix(data, []byte("RIFF")):
		switch string(data[8:12]) {
		case "WEBP":
			return FormatWebP
		case "AVI ":
			return FormatAVI
		}
	case len(data) >= 10 && bytes.HasPrefix(data, []byte("BM")) &&
		binary.LittleEndian.Uint32(data[6:10]) == 0:
		// "BM" alone is too weak a signature; the four reserved bytes after
		// the file size are zero in every BMP writer, as x/image/bmp expects.
		return FormatBMP
	case bytes.HasPrefix(data, []byte("II*\x00")), bytes.HasPrefix(data, []byte("MM\x00*")),
		bytes.HasPrefix(data, []byte("II+\x00")), bytes.HasPrefix(data, []byte("MM\x00+")):
		return FormatTIFF // BigTIFF ("+") is refused later with a clear error.
	case len(data) >= 12 && string(data[4:8]) == "ftyp":
		return sniffISOBMFF(data)
	case len(data) >= 8 && isQuickTimeAtom(string(data[4:8])):
		return FormatMP4
	case bytes.HasPrefix(data, []byte("\x1a\x45\xdf\xa3")):
		return FormatWebM
	case bytes.HasPrefix(data, []byte("\xff\x0a")),
		bytes.HasPrefix(data, []byte("\x00\x00\x00\x0cJXL \r\n\x87\n")):
		return FormatJPEGXL
	case bytes.HasPrefix(data, []byte("FLV\x01")):
		return FormatFLV
	case bytes.HasPrefix(data, []byte("\x00\x00\x01\xba")):
		return FormatMPEGPS
	}
	return FormatUnknown
}

// maxBrands bounds how many compatible brands of an ftyp box are examined;
// real files list fewer than ten.
const maxBrands = 64

// sniffISOBMFF tells still images (AVIF, HEIC) from video in an ISO base
// media file by the brands of its ftyp box. An image brand anywhere in the
// list wins, because phones write HEIC with major brand "mif1".
func sniffISOBMFF(data []byte) Format {
	size := int(binary.BigEndian.Uint32(data[0:4]))
	if size < 16 || size > len(data) {
		size = min(len(data), 16+4*maxBrands)
	}
	brands := []string{string(data[8:12])}
	for i := 16; i+4 <= size && len(brands) <= maxBrands; i += 4 {
		brands = append(brands, string(data[i:i+4]))
	}
	heif := false
	for _, b := range brands {
		switch b {
		case "avif", "avis":
			return FormatAVIF
		case "heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1":
			heif = true
		}
	}
	if heif {
		return FormatHEIC
	}
	return FormatMP4
}

// isQuickTimeAtom reports whether typ is a top-level atom that old QuickTime
// files start with instead of ftyp.
func isQuickTimeAtom(typ string) bool {
	switch typ {
	case "moov", "mdat", "wide", "free", "skip", "pnot":
		return true
	}
	return false
}
