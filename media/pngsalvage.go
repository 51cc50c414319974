package media

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"io"
)

// image/png refuses a PNG whose image data is cut short, whose end chunk
// is missing, or which has an ancillary chunk (a text or color profile
// chunk, say) with a bad checksum. Browsers show all of them: libpng draws
// the rows the data holds, and by default ignores the end chunk and drops
// an ancillary chunk whose checksum is wrong (a critical one is an error
// there too). salvagePNG does the same without a decoder of its own: it
// reads the chunks leniently, inflates the image data as far as it goes,
// and gives image/png a well-formed PNG (streamed, never whole in memory)
// whose missing rows are zeros; those rows are then painted grey.

// pngSignature starts every PNG.
const pngSignature = "\x89PNG\r\n\x1a\n"

// pngChunkData bounds the IDAT chunks the salvage writes.
const pngChunkData = 1 << 16

// salvagePNG decodes a PNG that image/png refused, as far as its data goes.
func salvagePNG(b []byte, cfg image.Config) (image.Image, *Repair, error) {
	if !bytes.HasPrefix(b, []byte(pngSignature)) {
		return nil, nil, errors.New("no signature")
	}
	var (
		repair     *Repair
		ihdr, plte []byte
		trns       []byte
		idat       []byte
		ended, cut bool
	)
	p := len(pngSignature)
	for p < len(b) && !ended {
		if p+8 > len(b) {
			cut = p < len(b)
			break
		}
		n := int(binary.BigEndian.Uint32(b[p:]))
		typ := string(b[p+4 : p+8])
		end := p + 12 + n
		if n < 0 || n > 1<<31-1 || end > len(b) || end < p {
			// The file ends inside this chunk: keep what there is of
			// image data, and stop.
			if typ == "IDAT" && p+8 < len(b) {
				idat = append(idat, b[p+8:min(len(b), p+8+n)]...)
			}
			repair = repair.note("PNG ends inside its %s chunk", printable(typ))
			cut = true
			break
		}
		data := b[p+8 : p+8+n]
		crcOK := crc32.ChecksumIEEE(b[p+4:p+8+n]) == binary.BigEndian.Uint32(b[p+8+n:])
		ancillary := typ[0]&0x20 != 0
		p = end
		if !crcOK {
			if ancillary {
				repair = repair.note("PNG's %s chunk has a bad checksum; it is ignored, as libpng and browsers do", printable(typ))
				continue
			}
			return nil, nil, fmt.Errorf("bad checksum in the critical %s chunk", printable(typ))
		}
		switch typ {
		case "IHDR":
			ihdr = data
		case "PLTE":
			plte = data
		case "tRNS":
			trns = data
		case "IDAT":
			idat = append(idat, data...)
		case "IEND":
			ended = true
		}
	}
	if !ended && !cut {
		repair = repair.note("PNG has no end chunk")
	}
	if len(ihdr) != 13 || len(idat) == 0 {
		return nil, nil, errors.New("no image data")
	}
	if ihdr[12] != 0 {
		return nil, nil, errors.New("an interlaced PNG cut short is not salvaged")
	}
	w, h := int(binary.BigEndian.Uint32(ihdr)), int(binary.BigEndian.Uint32(ihdr[4:]))
	if w != cfg.Width || h != cfg.Height {
		return nil, nil, errors.New("the header changed")
	}
	channels := map[byte]int{0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ihdr[9]]
	if channels == 0 {
		return nil, nil, errors.New("unknown color type")
	}
	rowBytes := int64(1 + (w*channels*int(ihdr[8])+7)/8)
	total := rowBytes * int64(h)

	pr, pw := io.Pipe()
	real := make(chan int64, 1)
	go func() {
		// This goroutine is outside the caller's guard: a panic here
		// must not take the server down either.
		var n int64
		err := errors.New("salvage panicked")
		defer func() {
			recover()
			real <- n
			pw.CloseWithError(err)
		}()
		n, err = writeSalvagedPNG(pw, ihdr, plte, trns, idat, total)
	}()
	m, err := png.Decode(pr)
	pr.CloseWithError(errors.New("decoding stopped"))
	n := <-real
	if err != nil {
		return nil, nil, err
	}
	rows := int(n / rowBytes)
	if rows == 0 {
		return nil, nil, errors.New("not one row of image data")
	}
	if rows < h {
		repair = repair.note("PNG is cut short: %d of its %d rows are decoded, the rest is grey", rows, h)
		repair = repair.seen(float64(rows) / float64(h))
		repair.Shown = image.Rect(0, 0, w, rows)
		m = areaPainted(m, []image.Rectangle{image.Rect(0, rows, w, h)})
	}
	return m, repair, nil
}

// writeSalvagedPNG writes a well-formed PNG to w: the header chunks given,
// the inflated image data (total bytes, zeros after what idat holds)
// deflated again without compression, and an end chunk. It returns how many
// bytes of image data came from idat.
func writeSalvagedPNG(w io.Writer, ihdr, plte, trns, idat []byte, total int64) (int64, error) {
	if _, err := io.WriteString(w, pngSignature); err != nil {
		return 0, err
	}
	for _, c := range []struct {
		typ  string
		data []byte
	}{{"IHDR", ihdr}, {"PLTE", plte}, {"tRNS", trns}} {
		if c.data == nil {
			continue
		}
		if err := writePNGChunk(w, c.typ, c.data); err != nil {
			return 0, err
		}
	}
	cw := &pngIDATWriter{w: w}
	zw, err := zlib.NewWriterLevel(cw, zlib.NoCompression)
	if err != nil {
		return 0, err
	}
	var n int64
	if zr, err := zlib.NewReader(bytes.NewReader(idat)); err == nil {
		// Inflating stops at the end of the data or at the first defect,
		// having passed on everything before it.
		n, _ = io.CopyN(zw, zr, total)
	}
	if _, err := io.CopyN(zw, zeros{}, total-n); err != nil {
		return n, err
	}
	if err := zw.Close(); err != nil {
		return n, err
	}
	if err := cw.flush(); err != nil {
		return n, err
	}
	return n, writePNGChunk(w, "IEND", nil)
}

func writePNGChunk(w io.Writer, typ string, data []byte) error {
	var hdr [8]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(data)))
	copy(hdr[4:], typ)
	crc := crc32.NewIEEE()
	crc.Write(hdr[4:])
	crc.Write(data)
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc.Sum32())
	for _, part := range [][]byte{hdr[:], data, sum[:]} {
		if _, err := w.Write(part); err != nil {
			return err
		}
	}
	return nil
}

// pngIDATWriter cuts what is written to it into IDAT chunks.
type pngIDATWriter struct {
	w   io.Writer
	buf []byte
}

func (c *pngIDATWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), pngChunkData-len(c.buf))
		c.buf = append(c.buf, p[:k]...)
		p = p[k:]
		if len(c.buf) == pngChunkData {
			if err := c.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (c *pngIDATWriter) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	err := writePNGChunk(c.w, "IDAT", c.buf)
	c.buf = c.buf[:0]
	return err
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// printable returns a chunk type for a message, with bytes that are not
// letters replaced.
func printable(typ string) string {
	out := []byte(typ)
	for i, c := range out {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			out[i] = '?'
		}
	}
	return string(out)
}
