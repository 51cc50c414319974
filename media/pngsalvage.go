package media

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/draw"
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
// whose missing rows are zeros; those rows are then painted grey. An
// interlaced PNG is shown with the passes that are whole, as browsers show
// one loading.

// pngSignature starts every PNG.
const pngSignature = "\x89PNG\r\n\x1a\n"

// pngChunkData bounds the IDAT chunks the salvage writes.
const pngChunkData = 1 << 16

// salvagePNG decodes a PNG that image/png refused, as far as its data goes.
func salvagePNG(b []byte, cfg image.Config, minVisible float64) (image.Image, *Repair, error) {
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
	w, h := int(binary.BigEndian.Uint32(ihdr)), int(binary.BigEndian.Uint32(ihdr[4:]))
	if w != cfg.Width || h != cfg.Height {
		return nil, nil, errors.New("the header changed")
	}
	channels := map[byte]int{0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ihdr[9]]
	if channels == 0 {
		return nil, nil, errors.New("unknown color type")
	}
	bits := channels * int(ihdr[8])
	rowBytes := int64(1 + (w*bits+7)/8)
	total := rowBytes * int64(h)
	interlaced := ihdr[12] == 1
	if interlaced {
		total = 0
		for _, ps := range adam7 {
			total += ps.bytes(w, h, bits)
		}
	}

	// Deflate expands at most 1032 to 1: image data too short for
	// minVisible of the rows even so is refused before a decode of the
	// whole picture.
	if most := int64(len(idat)) * 1032; !interlaced && most < total {
		if visible := float64(most/rowBytes) / float64(h); visible < minVisible {
			return nil, nil, tooLittleShown(visible, minVisible)
		}
	}

	pr, pw := io.Pipe()
	// Closing the reader however the decode ends (a panic in it too, which
	// the caller's guard recovers) lets the writer goroutine finish.
	defer pr.CloseWithError(errors.New("decoding stopped"))
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
	if interlaced {
		return interlacedShown(m, repair, n, bits)
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

// adam7Pass is one pass of Adam7 interlacing: the pixels it sends, and the
// cells a picture of its pass and the ones before it fills when each of its
// pixels is drawn over the cell it stands for, as browsers show an
// interlaced PNG loading.
type adam7Pass struct {
	x, y, dx, dy int // first pixel, and the steps between pixels
	cw, ch       int // the cells, once this pass is whole
}

var adam7 = [7]adam7Pass{
	{0, 0, 8, 8, 8, 8}, {4, 0, 8, 8, 4, 8}, {0, 4, 4, 8, 4, 4}, {2, 0, 4, 4, 2, 4},
	{0, 2, 2, 4, 2, 2}, {1, 0, 2, 2, 1, 2}, {0, 1, 1, 2, 1, 1},
}

// bytes is how much filtered image data the pass takes in a w x h image of
// bits per pixel.
func (ps adam7Pass) bytes(w, h, bits int) int64 {
	pw, ph := (w-ps.x+ps.dx-1)/ps.dx, (h-ps.y+ps.dy-1)/ps.dy
	if pw <= 0 || ph <= 0 {
		return 0
	}
	return int64(ph) * int64(1+(pw*bits+7)/8)
}

// interlacedShown makes of m, an interlaced PNG of which the first n bytes
// of image data are the file's, what a browser shows: the passes that are
// whole, each pixel of the last drawn over its cell. The picture is shown
// whole, with less detail, like a progressive JPEG cut short.
func interlacedShown(m image.Image, repair *Repair, n int64, bits int) (image.Image, *Repair, error) {
	b := m.Bounds()
	whole := 0
	for _, ps := range adam7 {
		k := ps.bytes(b.Dx(), b.Dy(), bits)
		if k > n {
			break
		}
		n -= k
		whole++
	}
	switch whole {
	case 0:
		return nil, nil, errors.New("not one pass of the interlaced image")
	case len(adam7):
		return m, repair, nil
	}
	ps := adam7[whole-1]
	c := image.NewNRGBA(b)
	draw.Draw(c, b, m, b.Min, draw.Src)
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			sx, sy := x&^(ps.cw-1), y&^(ps.ch-1)
			if sx != x || sy != y {
				copy(c.Pix[c.PixOffset(x, y):][:4], c.Pix[c.PixOffset(sx, sy):][:4])
			}
		}
	}
	repair = repair.note("interlaced PNG is cut short in pass %d of 7; it is shown with the detail of the passes before, as browsers show it loading", whole+1)
	return c, repair, nil
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
