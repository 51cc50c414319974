package media

import "testing"

func TestSniff(t *testing.T) {
	tests := []struct {
		name string
		data string
		want Format
	}{
		{"JPEG", "\xff\xd8\xff\xe0", FormatJPEG},
		{"PNG", "\x89PNG\r\n\x1a\n", FormatPNG},
		{"GIF87a", "GIF87a", FormatGIF},
		{"GIF89a", "GIF89a", FormatGIF},
		{"WebP", "RIFF\x00\x00\x00\x00WEBPVP8 ", FormatWebP},
		{"AVI", "RIFF\x00\x00\x00\x00AVI LIST", FormatAVI},
		{"WAVE is not an image", "RIFF\x00\x00\x00\x00WAVEfmt ", FormatUnknown},
		{"BMP", "BM\x36\x00\x00\x00\x00\x00\x00\x00\x36\x00", FormatBMP},
		{"BM text is not a BMP", "BM is a nice band", FormatUnknown},
		{"TIFF little-endian", "II*\x00\x08\x00\x00\x00", FormatTIFF},
		{"TIFF big-endian", "MM\x00*\x00\x00\x00\x08", FormatTIFF},
		{"BigTIFF", "II+\x00\x08\x00\x00\x00", FormatTIFF},
		{"AVIF", "\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", FormatAVIF},
		{"AVIF sequence", "\x00\x00\x00\x1cftypavis\x00\x00\x00\x00avismsf1miaf", FormatAVIF},
		{"AVIF under mif1", "\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1avif", FormatAVIF},
		{"HEIC", "\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", FormatHEIC},
		{"HEIF under mif1", "\x00\x00\x00\x14ftypmif1\x00\x00\x00\x00mif1", FormatHEIC},
		{"MP4", "\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", FormatMP4},
		{"MP4 with a bogus box size", "\xff\xff\xff\xffftypmp42\x00\x00\x00\x00mp42", FormatMP4},
		{"MOV", "\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ", FormatMP4},
		{"old QuickTime", "\x00\x00\x00\x08wide\x00\x00\x00\x00mdat", FormatMP4},
		{"WebM", "\x1a\x45\xdf\xa3\x9f\x42\x86\x81", FormatWebM},
		{"FLV", "FLV\x01\x05", FormatFLV},
		{"MPEG-PS", "\x00\x00\x01\xba\x44", FormatMPEGPS},
		{"JPEG XL codestream", "\xff\x0a\xfa", FormatJPEGXL},
		{"JPEG XL container", "\x00\x00\x00\x0cJXL \r\n\x87\n", FormatJPEGXL},
		{"empty", "", FormatUnknown},
		{"HTML", "<!doctype html>", FormatUnknown},
		{"ZIP", "PK\x03\x04", FormatUnknown},
		{"PDF", "%PDF-1.7", FormatUnknown},
		{"UTF-8 BOM then PNG", "\xef\xbb\xbf\x89PNG\r\n\x1a\n", FormatUnknown},
		{"short ftyp", "\x00\x00\x00\x08ftyp", FormatUnknown},
		{"short RIFF", "RIFF\x00\x00", FormatUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sniff([]byte(tt.data)); got != tt.want {
				t.Errorf("Sniff = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFormatNames(t *testing.T) {
	for f, want := range map[Format]string{
		FormatJPEG: "JPEG", FormatWebP: "WebP", FormatAVIF: "AVIF", FormatHEIC: "HEIC",
		FormatJPEGXL: "JPEG XL", FormatMP4: "MP4/QuickTime video", FormatUnknown: "unknown format",
	} {
		if got := f.String(); got != want {
			t.Errorf("%q.String() = %q, want %q", string(f), got, want)
		}
	}
	if !FormatWebM.IsVideo() || FormatGIF.IsVideo() || FormatAVIF.IsVideo() {
		t.Error("IsVideo is wrong")
	}
}
