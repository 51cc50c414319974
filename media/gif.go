package media

import (
	"compress/lzw"
	"errors"
	"fmt"
	"image"
	"io"
	"time"
)

// A GIF is read in two passes over the bytes. scanGIF walks the block
// structure, skipping the compressed data, to count the frames and locate
// them; nothing is decompressed, so an animation over the frame budget is
// refused at the cost of reading its bytes once. gifCanvas then decodes one
// frame at a time onto a single canvas, honouring the disposal methods, so
// memory is a canvas, one frame of indices and one saved rectangle, however
// many frames there are. image/gif's DecodeAll would hold every frame.

// GIF block introducers and extension labels (GIF89a spec, appendix).
const (
	gifExtension       = 0x21
	gifImageDescriptor = 0x2c
	gifTrailer         = 0x3b
	gifGraphicControl  = 0xf9
)

// GIF disposal methods: what happens to a frame's rectangle before the next
// frame is drawn. Other values (0, 1, 4-7) leave the canvas as it is.
const (
	gifDisposeBackground = 2
	gifDisposePrevious   = 3
)

// gifMinDelay is the shortest frame delay browsers honour, in hundredths of
// a second; shorter delays (0 and 1) are shown for gifDefaultDelay.
const (
	gifMinDelay     = 2
	gifDefaultDelay = 10
)

// gifScan is the structure of a GIF, found without decompressing anything.
type gifScan struct {
	data          []byte
	width, height int // the canvas: the logical screen, grown by frame 0
	frames        []gifFrame
	totalPixels   int64 // pixels that decoding every frame decompresses
	clipped       int   // frames that reach beyond the canvas
	repair        *Repair
}

// gifFrame locates one frame and carries the graphic control in force for it.
type gifFrame struct {
	rect        image.Rectangle // as the frame declares it
	clip        image.Rectangle // rect within the canvas: what is drawn
	rows        int             // rows to decompress: up to the canvas's bottom edge
	cut         bool            // the file ends inside the frame's data
	interlaced  bool
	palette     []byte // RGB triplets: the local color table, else the global one
	transparent int    // palette index drawn as transparent, or -1
	disposal    byte
	delay       int // hundredths of a second
	litWidth    int // LZW minimum code size
	start       int // offset of the first data sub-block
}

// duration is how long a browser shows the frame.
func (f gifFrame) duration() time.Duration {
	d := f.delay
	if d < gifMinDelay {
		d = gifDefaultDelay
	}
	return time.Duration(d) * 10 * time.Millisecond
}

// gifConfig reads the size of the canvas a browser draws on: the logical
// screen, grown to hold the first frame (see scanGIF). It reads the blocks
// up to the first frame's descriptor; a GIF without one has the size its
// screen declares, and is refused by the scan that follows.
func gifConfig(b []byte) (image.Config, error) {
	s, err := walkGIF(b, 0, true)
	if err != nil {
		if len(b) < 13 {
			return image.Config{}, err
		}
		return image.Config{Width: int(le16(b[6:])), Height: int(le16(b[8:]))}, nil
	}
	return image.Config{Width: s.width, Height: s.height}, nil
}

// scanGIF walks the block structure of a GIF. It refuses more than
// maxFrames frames as soon as it sees one more. A defect before the first
// frame is an error; after it, the animation is taken to end where the
// defect is, as a browser shows a truncated download: a frame whose data the
// file ends in is kept, marked cut, and decoded as far as its data goes.
//
// Frames need not lie within the logical screen, and ImageMagick writes
// such files by default (the screen is the first image's size, whatever
// the later ones are). Browsers show them, so they are composed as Chrome
// and Safari do (Blink's and WebKit's GIFImageReader): the canvas is the
// logical screen grown to hold the first frame at its offset (which also
// gives a size to a screen declared 0x0), and every later frame is clipped
// to the canvas. Firefox grows the canvas to the first frame's size only
// and moves that frame to the origin, which comes to the same for the usual
// first frame at (0, 0).
func scanGIF(b []byte, maxFrames int) (*gifScan, error) {
	return walkGIF(b, maxFrames, false)
}

// walkGIF is scanGIF; with firstOnly it returns after the first frame's
// descriptor, having grown the canvas.
func walkGIF(b []byte, maxFrames int, firstOnly bool) (*gifScan, error) {
	if len(b) < 13 {
		return nil, fmt.Errorf("media: GIF is truncated in its header: %w", ErrInvalid)
	}
	s := &gifScan{data: b, width: int(le16(b[6:])), height: int(le16(b[8:]))}
	p := 13
	var global []byte
	if flags := b[10]; flags&0x80 != 0 {
		n := 3 << (1 + flags&7)
		if p+n > len(b) {
			return nil, fmt.Errorf("media: GIF is truncated in its color table: %w", ErrInvalid)
		}
		global, p = b[p:p+n], p+n
	}

	// The graphic control extension applies to the next frame only.
	transparent, disposal, delay := -1, byte(0), 0
	stop := func(why string) (*gifScan, error) {
		if len(s.frames) == 0 {
			return nil, fmt.Errorf("media: GIF %s before its first frame: %w", why, ErrInvalid)
		}
		return s, nil
	}
	for {
		if p >= len(b) {
			return stop("ends")
		}
		switch b[p] {
		case gifTrailer:
			return stop("ends")

		case gifExtension:
			if p+2 > len(b) {
				return stop("is truncated")
			}
			label, q := b[p+1], p+2
			if label == gifGraphicControl && q+5 <= len(b) && b[q] >= 4 {
				fields := b[q+1]
				disposal = (fields >> 2) & 7
				delay = int(le16(b[q+2:]))
				transparent = -1
				if fields&1 != 0 {
					transparent = int(b[q+4])
				}
			}
			if p = skipSubBlocks(b, q); p < 0 {
				return stop("is truncated in an extension")
			}

		case gifImageDescriptor:
			if p+10 > len(b) {
				return stop("is truncated in a frame header")
			}
			left, top := int(le16(b[p+1:])), int(le16(b[p+3:]))
			w, h := int(le16(b[p+5:])), int(le16(b[p+7:]))
			fields := b[p+9]
			rect := image.Rect(left, top, left+w, top+h)
			if len(s.frames) == 0 && (rect.Max.X > s.width || rect.Max.Y > s.height) {
				s.repair = s.repair.note("GIF's first frame (%dx%d at %d,%d) does not fit its %dx%d logical screen: the canvas is grown to hold it, as browsers do",
					w, h, left, top, s.width, s.height)
				s.width, s.height = max(s.width, rect.Max.X), max(s.height, rect.Max.Y)
			}
			if firstOnly {
				return s, nil
			}
			q := p + 10
			palette := global
			if fields&0x80 != 0 {
				n := 3 << (1 + fields&7)
				if q+n > len(b) {
					return stop("is truncated in a local color table")
				}
				palette, q = b[q:q+n], q+n
			}
			if palette == nil {
				return stop("has a frame without a color table")
			}
			if q >= len(b) {
				return stop("is truncated in a frame")
			}
			f := gifFrame{
				rect:        rect,
				clip:        rect.Intersect(image.Rect(0, 0, s.width, s.height)),
				interlaced:  fields&0x40 != 0,
				palette:     palette,
				transparent: transparent,
				disposal:    disposal,
				delay:       delay,
				litWidth:    int(b[q]),
				start:       q + 1,
			}
			// Rows below the canvas need no decompressing unless
			// interlacing sends them before rows that are shown.
			switch {
			case f.clip.Empty():
				f.rows = 0
			case f.interlaced:
				f.rows = h
			default:
				f.rows = f.clip.Max.Y - top
			}
			if !rect.Empty() && f.clip != rect {
				s.clipped++
			}
			if len(s.frames) == maxFrames {
				return nil, fmt.Errorf("media: GIF has more than %d frames: %w", maxFrames, ErrTooLarge)
			}
			p = skipSubBlocks(b, q+1)
			f.cut = p < 0
			s.frames = append(s.frames, f)
			s.totalPixels += int64(w) * int64(f.rows)
			transparent, disposal, delay = -1, 0, 0
			if f.cut {
				s.repair = s.repair.note("GIF ends inside frame %d; it is shown as far as its data goes, as browsers do", len(s.frames)-1)
				return s, nil
			}

		default:
			return stop(fmt.Sprintf("has an unknown block type 0x%02x", b[p]))
		}
	}
}

// repairs returns what the scan and canvas c repaired, or nil.
func (s *gifScan) repairs(c *gifCanvas) *Repair {
	r := s.repair
	if s.clipped > 0 {
		r = r.note("%d GIF frames reach beyond the %dx%d canvas and are clipped to it, as browsers do", s.clipped, s.width, s.height)
	}
	return r.merge(c.repair)
}

// skipSubBlocks returns the offset after the sub-block sequence starting at
// p, including its zero-length terminator, or -1 if the data ends first.
func skipSubBlocks(b []byte, p int) int {
	for p < len(b) {
		n := int(b[p])
		p += 1 + n
		if n == 0 {
			return p
		}
	}
	return -1
}

// subBlockReader presents the data sub-blocks of one frame as one stream to
// the LZW decoder. It implements io.ByteReader so that lzw adds no buffer.
type subBlockReader struct {
	b    []byte
	p    int // next byte to read
	left int // bytes left in the current sub-block
}

func (r *subBlockReader) ReadByte() (byte, error) {
	for r.left == 0 {
		if r.p >= len(r.b) || r.b[r.p] == 0 {
			return 0, io.EOF
		}
		r.left = int(r.b[r.p])
		r.p++
	}
	if r.p >= len(r.b) {
		return 0, io.EOF
	}
	c := r.b[r.p]
	r.p++
	r.left--
	return c, nil
}

func (r *subBlockReader) Read(p []byte) (int, error) {
	for i := range p {
		c, err := r.ReadByte()
		if err != nil {
			return i, err
		}
		p[i] = c
	}
	return len(p), nil
}

// gifCanvas composites the frames of a scanned GIF, one at a time.
type gifCanvas struct {
	scan  *gifScan
	img   *image.NRGBA
	row   []byte // palette indices of one row of the frame being drawn
	saved []byte // the rectangle under a frame with disposal "previous"
	// repair collects the frames drawn with rows missing.
	repair *Repair
}

func newGIFCanvas(s *gifScan) *gifCanvas {
	// Browsers start from transparent, not the background color.
	return &gifCanvas{scan: s, img: image.NewNRGBA(image.Rect(0, 0, s.width, s.height))}
}

// draw disposes of frame i-1 as it asks, then draws frame i. Frames must be
// drawn in order, starting from 0.
func (c *gifCanvas) draw(i int) error {
	frames := c.scan.frames
	if i > 0 {
		prev := frames[i-1]
		switch prev.disposal {
		case gifDisposeBackground:
			c.fill(prev.clip, nil)
		case gifDisposePrevious:
			c.fill(prev.clip, c.saved)
		}
	}
	f := frames[i]
	if f.disposal == gifDisposePrevious {
		c.saved = c.copyRect(f.clip, c.saved)
	}
	shown, err := c.decode(f)
	if err == nil && f.cut && shown < f.clip.Dy() {
		err = errGIFNotEnough
	}
	if err != nil {
		// Browsers draw the rows decoded before the data ran out or went
		// wrong, and leave the rest of the frame as the canvas was.
		if i == 0 && shown == 0 {
			return fmt.Errorf("media: GIF frame 0: %v: %w", err, ErrInvalid)
		}
		missing := float64(f.clip.Dx()) * float64(f.clip.Dy()-shown)
		c.repair = c.repair.seen(1 - missing/float64(c.scan.width*c.scan.height))
		if i == 0 && !f.interlaced && f.clip.Min == (image.Point{}) && f.clip.Dx() == c.scan.width {
			// The first frame, across the canvas from its top: what is
			// shown is the band of rows decoded.
			c.repair.Shown = image.Rect(0, 0, c.scan.width, shown)
		}
		c.repair = c.repair.note("GIF frame %d: %v after %d of its %d rows on the canvas; the rest is not drawn, as browsers do", i, err, shown, f.clip.Dy())
	}
	return nil
}

// errGIFNotEnough reports LZW data that ends before the frame is filled.
var errGIFNotEnough = errors.New("the image data ends")

// decode decompresses frame f row by row onto the canvas, and returns how
// many of its rows within the canvas were drawn. Interlaced rows arrive in
// four passes: every 8th row from 0, every 8th from 4, every 4th from 2,
// every 2nd from 1.
func (c *gifCanvas) decode(f gifFrame) (shown int, err error) {
	if f.rows == 0 {
		return 0, nil
	}
	if f.litWidth < 2 || f.litWidth > 8 {
		return 0, fmt.Errorf("LZW code size %d out of range", f.litWidth)
	}
	w := f.rect.Dx()
	if cap(c.row) < w {
		c.row = make([]byte, w)
	}
	c.row = c.row[:w]
	r := lzw.NewReader(&subBlockReader{b: c.scan.data, p: f.start}, lzw.LSB, f.litWidth)
	defer r.Close()
	// Data after the last pixel is ignored, as giflib and browsers do; the
	// scan already knows where the next block starts.
	read := 0
	for _, pass := range gifPasses(f.interlaced) {
		for y := f.rect.Min.Y + pass.start; y < f.rect.Max.Y; y += pass.step {
			if read == f.rows {
				return shown, nil
			}
			if _, err := io.ReadFull(r, c.row); err != nil {
				if err == io.EOF || err == io.ErrUnexpectedEOF {
					err = errGIFNotEnough
				}
				return shown, err
			}
			read++
			if y >= f.clip.Min.Y && y < f.clip.Max.Y {
				c.composite(f, y, c.row)
				shown++
			}
		}
	}
	return shown, nil
}

// composite draws one row of palette indices of f, at canvas row y, within
// the frame's clip. Indices beyond the palette are drawn black.
func (c *gifCanvas) composite(f gifFrame, y int, src []byte) {
	pal := f.palette
	src = src[f.clip.Min.X-f.rect.Min.X : f.clip.Max.X-f.rect.Min.X]
	dst := c.img.Pix[c.img.PixOffset(f.clip.Min.X, y):]
	for x, ix := range src {
		if int(ix) == f.transparent {
			continue
		}
		d := dst[4*x : 4*x+4 : 4*x+4]
		if j := 3 * int(ix); j+3 <= len(pal) {
			d[0], d[1], d[2] = pal[j], pal[j+1], pal[j+2]
		} else {
			d[0], d[1], d[2] = 0, 0, 0
		}
		d[3] = 0xff
	}
}

type gifPass struct{ start, step int }

var (
	gifSequential = []gifPass{{0, 1}}
	gifInterlaced = []gifPass{{0, 8}, {4, 8}, {2, 4}, {1, 2}}
)

func gifPasses(interlaced bool) []gifPass {
	if interlaced {
		return gifInterlaced
	}
	return gifSequential
}

// fill sets rectangle r of the canvas from src (row-major RGBA, as copyRect
// saved it), or to transparent when src is nil.
func (c *gifCanvas) fill(r image.Rectangle, src []byte) {
	n := 4 * r.Dx()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		dst := c.img.Pix[c.img.PixOffset(r.Min.X, y):][:n]
		if src == nil {
			clear(dst)
			continue
		}
		copy(dst, src[:n])
		src = src[n:]
	}
}

// copyRect saves rectangle r of the canvas into buf, reusing its memory.
func (c *gifCanvas) copyRect(r image.Rectangle, buf []byte) []byte {
	n := 4 * r.Dx()
	buf = buf[:0]
	for y := r.Min.Y; y < r.Max.Y; y++ {
		buf = append(buf, c.img.Pix[c.img.PixOffset(r.Min.X, y):][:n]...)
	}
	return buf
}

func le16(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 }
