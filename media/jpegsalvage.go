package media

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
)

// A JPEG cut short (a download broken off, or a file truncated on purpose)
// is refused by image/jpeg ("short Huffman data", "unexpected EOF"), while
// browsers show it: libjpeg decodes the blocks the data holds and leaves the
// rest at zero, which is mid-grey. salvageJPEG does the same without a
// decoder of its own: it walks the entropy-coded data block by block (the
// Huffman codes only, no pixels) to find the last complete MCU, and gives
// image/jpeg a copy of the file that ends there, completed with the
// shortest valid coding of the missing blocks (no change of DC, end of
// block) and an EOI marker; the missing blocks are then painted grey.
//
// Which scans are walked: every scan of a sequential JPEG, and the DC scans
// of a progressive one. A progressive JPEG cut in a later (AC or
// refinement) scan keeps the scans before it, whole, and is shown with the
// detail they carry, as a browser shows a progressive JPEG still loading.

// JPEG markers (ITU T.81, table B.1) that the walk must tell apart.
const (
	jpegSOF0 = 0xc0 // baseline
	jpegSOF1 = 0xc1 // extended sequential, Huffman
	jpegSOF2 = 0xc2 // progressive, Huffman
	jpegDHT  = 0xc4
	jpegRST0 = 0xd0
	jpegRST7 = 0xd7
	jpegSOI  = 0xd8
	jpegEOI  = 0xd9
	jpegSOS  = 0xda
	jpegDRI  = 0xdd
)

// errNothingMissing says a salvage found nothing missing: the decoder's error
// is not one a salvage can mend.
var errNothingMissing = errors.New("nothing is missing")

// jpegHuffman is one Huffman table in the form of T.81 F.2.2.3: the
// largest code of each length and where its values start.
type jpegHuffman struct {
	maxCode [17]int32 // -1 when no code has that length
	valPtr  [17]int32
	minCode [17]int32
	vals    []byte
	code    map[byte]jpegCode // each value's code, for the filler
}

type jpegCode struct {
	bits uint32
	n    uint8
}

// jpegComponent is one component of the frame header.
type jpegComponent struct {
	id   byte
	h, v int
}

// jpegWalk is the state of a walk through a JPEG's structure.
type jpegWalk struct {
	b           []byte
	progressive bool
	width       int
	height      int
	comps       []jpegComponent
	hmax, vmax  int
	tables      [2][4]*jpegHuffman // [class][id]: class 0 DC, 1 AC
	restart     int                // MCUs per restart interval, 0 for none
	scans       int                // scans seen so far
}

// jpegScan is one scan's header.
type jpegScan struct {
	comps  []int // indices into jpegWalk.comps
	dc, ac []int // table ids per scan component
	ss, se int
	ah     int
}

// jpegCut is where a salvage ends a JPEG and how it completes it.
type jpegCut struct {
	keep   int    // bytes of the file to keep
	filler []byte // entropy-coded data completing the cut scan, then EOI
	// greyFrom is the first MCU of the first scan not decoded; -1 when
	// the first scan is whole.
	greyFrom int
	scan     jpegScan // the cut scan, when greyFrom >= 0
	note     string
}

// salvageJPEG decodes a JPEG that image/jpeg refused, as far as its data
// goes (see above).
func salvageJPEG(b []byte, cfg image.Config, minVisible float64) (image.Image, *Repair, error) {
	w := &jpegWalk{b: b}
	cut, err := w.find()
	if err != nil {
		return nil, nil, err
	}
	// What the walk found is what will show: a file that shows too little
	// is refused before a decode of the whole picture (a few hundred bytes
	// can claim 7000x7000).
	var grey []image.Rectangle
	visible := 1.0
	if cut.greyFrom >= 0 {
		grey = w.greyArea(cut.scan, cut.greyFrom)
		if visible = 1 - float64(countArea(grey))/float64(w.width*w.height); visible < minVisible {
			return nil, nil, tooLittleShown(visible, minVisible)
		}
	}
	fixed := make([]byte, 0, cut.keep+len(cut.filler))
	fixed = append(append(fixed, b[:cut.keep]...), cut.filler...)
	m, err := decodeJPEG(fixed)
	if err != nil {
		return nil, nil, err
	}
	repair := (*Repair)(nil).note("%s", cut.note)
	if cut.greyFrom >= 0 {
		m = areaPainted(m, grey)
		repair = repair.seen(visible)
		// The band shown leaves out the row of MCUs the cut runs across,
		// and the rows above it whose colors the conversion from
		// subsampled chroma interpolates from that row's.
		perRow, _, _ := w.mcus(cut.scan)
		_, mh := w.mcuSize(cut.scan)
		rows := min(w.height, cut.greyFrom/perRow*mh-(w.vmax-1))
		repair.Shown = image.Rect(0, 0, w.width, max(rows, 0))
	}
	return m, repair, nil
}

// find walks the markers up to the scan the data ends in, and says how to
// complete the file.
func (w *jpegWalk) find() (*jpegCut, error) {
	b := w.b
	if len(b) < 2 || b[0] != 0xff || b[1] != jpegSOI {
		return nil, errors.New("no start of image")
	}
	p := 2
	for {
		// Markers may be preceded by any number of fill bytes (0xff).
		for p < len(b) && b[p] != 0xff {
			p++ // junk between segments, which libjpeg also skips
		}
		for p+1 < len(b) && b[p+1] == 0xff {
			p++
		}
		if p+1 >= len(b) {
			if w.scans == 0 {
				return nil, errors.New("the data ends before the first scan")
			}
			// Every scan is whole; only the end marker is missing.
			return &jpegCut{keep: len(b), filler: []byte{0xff, jpegEOI}, greyFrom: -1,
				note: "JPEG has no end marker; its scans are all there"}, nil
		}
		marker, start := b[p+1], p
		p += 2
		switch {
		case marker == jpegEOI:
			return nil, errNothingMissing
		case marker >= jpegRST0 && marker <= jpegRST7, marker == 0x01, marker == 0x00:
			continue // no segment follows
		}
		if p+2 > len(b) {
			return w.cutBetween(start)
		}
		n := int(b[p])<<8 | int(b[p+1])
		if n < 2 || p+n > len(b) {
			return w.cutBetween(start)
		}
		seg := b[p+2 : p+n]
		p += n
		var err error
		switch marker {
		case jpegSOF0, jpegSOF1, jpegSOF2:
			err = w.frame(seg, marker == jpegSOF2)
		case jpegDHT:
			err = w.huffman(seg)
		case jpegDRI:
			if len(seg) < 2 {
				err = errors.New("short DRI")
			} else {
				w.restart = int(seg[0])<<8 | int(seg[1])
			}
		case jpegSOS:
			var sc jpegScan
			if sc, err = w.scanHeader(seg); err != nil {
				break
			}
			var cut *jpegCut
			var end int
			cut, end, err = w.entropy(sc, start, p)
			if cut != nil || err != nil {
				return cut, err
			}
			w.scans++
			p = end
		default:
			if marker >= 0xc3 && marker <= 0xcf && marker != jpegDHT && marker != 0xc8 && marker != 0xcc {
				err = fmt.Errorf("frame type 0x%02x", marker)
			}
		}
		if err != nil {
			return nil, err
		}
	}
}

// cutBetween handles data that ends in a segment header, before the scan
// starting at start: the scans before it are kept.
func (w *jpegWalk) cutBetween(start int) (*jpegCut, error) {
	if w.scans == 0 {
		return nil, errors.New("the data ends before the first scan")
	}
	return &jpegCut{keep: start, filler: []byte{0xff, jpegEOI}, greyFrom: -1,
		note: fmt.Sprintf("JPEG ends after %d whole scans; it is shown with the detail they carry, as browsers do", w.scans)}, nil
}

func (w *jpegWalk) frame(seg []byte, progressive bool) error {
	if w.comps != nil {
		return errors.New("a second frame header")
	}
	if len(seg) < 6 {
		return errors.New("short frame header")
	}
	w.progressive = progressive
	w.height, w.width = int(seg[1])<<8|int(seg[2]), int(seg[3])<<8|int(seg[4])
	n := int(seg[5])
	if n == 0 || n > 4 || len(seg) < 6+3*n || w.width == 0 || w.height == 0 {
		return errors.New("bad frame header")
	}
	for i := range n {
		c := seg[6+3*i:]
		h, v := int(c[1]>>4), int(c[1]&15)
		if h < 1 || h > 4 || v < 1 || v > 4 {
			return errors.New("bad sampling factor")
		}
		w.comps = append(w.comps, jpegComponent{id: c[0], h: h, v: v})
		w.hmax, w.vmax = max(w.hmax, h), max(w.vmax, v)
	}
	return nil
}

func (w *jpegWalk) huffman(seg []byte) error {
	for len(seg) > 0 {
		if len(seg) < 17 {
			return errors.New("short DHT")
		}
		class, id := seg[0]>>4, seg[0]&15
		if class > 1 || id > 3 {
			return errors.New("bad DHT")
		}
		t := &jpegHuffman{code: map[byte]jpegCode{}}
		total := 0
		for i := 1; i <= 16; i++ {
			total += int(seg[i])
		}
		if len(seg) < 17+total || total > 256 {
			return errors.New("short DHT")
		}
		t.vals = seg[17 : 17+total]
		code, k := int32(0), int32(0)
		for l := 1; l <= 16; l++ {
			count := int32(seg[l])
			t.maxCode[l] = -1
			if count > 0 {
				t.valPtr[l], t.minCode[l] = k, code
				for range count {
					if _, dup := t.code[t.vals[k]]; !dup {
						t.code[t.vals[k]] = jpegCode{bits: uint32(code), n: uint8(l)}
					}
					code++
					k++
				}
				t.maxCode[l] = code - 1
			}
			code <<= 1
		}
		w.tables[class][id] = t
		seg = seg[17+total:]
	}
	return nil
}

func (w *jpegWalk) scanHeader(seg []byte) (jpegScan, error) {
	var sc jpegScan
	if w.comps == nil {
		return sc, errors.New("a scan before the frame header")
	}
	if len(seg) < 1 {
		return sc, errors.New("short scan header")
	}
	n := int(seg[0])
	if n < 1 || n > 4 || len(seg) < 1+2*n+3 {
		return sc, errors.New("bad scan header")
	}
	for i := range n {
		id, tables := seg[1+2*i], seg[2+2*i]
		ci := -1
		for j, c := range w.comps {
			if c.id == id {
				ci = j
			}
		}
		if ci < 0 {
			return sc, errors.New("unknown component in a scan")
		}
		sc.comps = append(sc.comps, ci)
		sc.dc = append(sc.dc, int(tables>>4&3))
		sc.ac = append(sc.ac, int(tables&3))
	}
	s := seg[1+2*n:]
	sc.ss, sc.se, sc.ah = int(s[0]), int(s[1]), int(s[2]>>4)
	return sc, nil
}

// walkable reports whether the walk decodes sc block by block: a
// sequential scan, or a progressive DC scan.
func (w *jpegWalk) walkable(sc jpegScan) bool {
	return !w.progressive || (sc.ss == 0 && sc.ah == 0)
}

// mcus returns the MCU grid of a scan: MCUs per row and rows, and the
// blocks of each scan component in one MCU.
func (w *jpegWalk) mcus(sc jpegScan) (perRow, rows int, blocks []int) {
	if len(sc.comps) == 1 {
		c := w.comps[sc.comps[0]]
		bw := (ceilDiv(w.width*c.h, w.hmax) + 7) / 8
		bh := (ceilDiv(w.height*c.v, w.vmax) + 7) / 8
		return bw, bh, []int{1}
	}
	for _, ci := range sc.comps {
		blocks = append(blocks, w.comps[ci].h*w.comps[ci].v)
	}
	return ceilDiv(w.width, 8*w.hmax), ceilDiv(w.height, 8*w.vmax), blocks
}

// mcuSize is the size in pixels of one MCU of sc.
func (w *jpegWalk) mcuSize(sc jpegScan) (int, int) {
	if len(sc.comps) == 1 {
		c := w.comps[sc.comps[0]]
		return 8 * w.hmax / c.h, 8 * w.vmax / c.v
	}
	return 8 * w.hmax, 8 * w.vmax
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// entropy walks the entropy-coded data of scan sc, whose SOS marker is at
// sos and whose data starts at p. It returns the offset after the data
// when the scan is whole, or how to complete the file when it is not.
func (w *jpegWalk) entropy(sc jpegScan, sos, p int) (*jpegCut, int, error) {
	if !w.walkable(sc) {
		// Skip to the next marker; a scan the file ends in is dropped.
		for q := p; q+1 < len(w.b); q++ {
			if w.b[q] == 0xff && w.b[q+1] != 0 && (w.b[q+1] < jpegRST0 || w.b[q+1] > jpegRST7) && w.b[q+1] != 0xff {
				return nil, q, nil
			}
		}
		cut, err := w.cutBetween(sos)
		return cut, 0, err
	}
	perRow, rows, blocks := w.mcus(sc)
	total := perRow * rows
	for i := range sc.comps {
		if w.tables[0][sc.dc[i]] == nil || (!w.progressive && w.tables[1][sc.ac[i]] == nil) {
			return nil, 0, errors.New("a scan uses a Huffman table not defined")
		}
	}
	r := &jpegBits{b: w.b, p: p}
	for mcu := 0; mcu < total; mcu++ {
		if w.restart > 0 && mcu > 0 && mcu%w.restart == 0 {
			r.align()
			if !r.marker(jpegRST0 + byte((mcu/w.restart-1)&7)) {
				return w.cutIn(sc, mcu, r)
			}
		}
		r.mark()
		for i, n := range blocks {
			dc, ac := w.tables[0][sc.dc[i]], w.tables[1][sc.ac[i]]
			for range n {
				if !w.skipBlock(r, dc, ac) {
					r.rewind()
					return w.cutIn(sc, mcu, r)
				}
			}
		}
	}
	r.align()
	return nil, r.p, nil
}

// skipBlock reads one block's codes, reporting false when the data ends
// or breaks first.
func (w *jpegWalk) skipBlock(r *jpegBits, dc, ac *jpegHuffman) bool {
	t, ok := r.decode(dc)
	if !ok || t > 16 || !r.skip(int(t)) {
		return false
	}
	if w.progressive {
		return true
	}
	for k := 1; k < 64; {
		rs, ok := r.decode(ac)
		if !ok {
			return false
		}
		run, size := int(rs>>4), int(rs&15)
		if size == 0 {
			if run != 15 {
				return true // end of block
			}
			k += 16
			continue
		}
		k += run + 1
		if k > 64 || !r.skip(size) {
			return false
		}
	}
	return true
}

// cutIn completes scan sc, whose data ends before MCU mcu, where r stands.
func (w *jpegWalk) cutIn(sc jpegScan, mcu int, r *jpegBits) (*jpegCut, int, error) {
	if mcu == 0 && w.scans == 0 {
		return nil, 0, errors.New("the data ends before the first block")
	}
	perRow, rows, blocks := w.mcus(sc)
	total := perRow * rows
	// The kept data ends at r's byte; the bits of that byte already read
	// start the filler.
	keep := r.p
	f := &jpegBitWriter{}
	if r.n > 0 && r.n < 8 {
		keep = r.p - r.size // the byte (and its stuffed zero) read last
		f.put(uint32(r.cur)>>(8-r.n), uint8(r.n))
	}
	for m := mcu; m < total; m++ {
		if w.restart > 0 && m > 0 && m%w.restart == 0 {
			f.align()
			f.out = append(f.out, 0xff, jpegRST0+byte((m/w.restart-1)&7))
		}
		for i, n := range blocks {
			dc, ac := w.tables[0][sc.dc[i]], w.tables[1][sc.ac[i]]
			for range n {
				if !f.block(dc, ac, w.progressive) {
					return nil, 0, errors.New("the Huffman tables cannot code an empty block")
				}
			}
		}
	}
	f.align()
	f.out = append(f.out, 0xff, jpegEOI)
	cut := &jpegCut{keep: keep, filler: f.out, greyFrom: -1}
	if w.scans == 0 {
		cut.greyFrom, cut.scan = mcu, sc
		cut.note = fmt.Sprintf("JPEG is cut short: %d of its %d rows of blocks are decoded (%d of %d MCUs), the rest is grey, as libjpeg shows it",
			mcu/perRow, rows, mcu, total)
	} else {
		cut.note = fmt.Sprintf("JPEG is cut short in scan %d; the scans before it are whole, so the picture is shown whole with less detail or color", w.scans+1)
	}
	return cut, 0, nil
}

// greyArea returns the rectangles of the MCUs of sc from the first one not
// decoded, which areaPainted paints grey.
func (w *jpegWalk) greyArea(sc jpegScan, from int) []image.Rectangle {
	perRow, _, _ := w.mcus(sc)
	mw, mh := w.mcuSize(sc)
	row, col := from/perRow, from%perRow
	bounds := image.Rect(0, 0, w.width, w.height)
	return []image.Rectangle{
		image.Rect(col*mw, row*mh, w.width, (row+1)*mh).Intersect(bounds),
		image.Rect(0, (row+1)*mh, w.width, w.height).Intersect(bounds),
	}
}

func countArea(rs []image.Rectangle) int {
	n := 0
	for _, r := range rs {
		n += r.Dx() * r.Dy()
	}
	return n
}

// areaPainted paints rectangles of m with PartialFill, in place when m's
// type allows, else on an NRGBA copy, and returns the result.
func areaPainted(m image.Image, rs []image.Rectangle) image.Image {
	grey := color.NRGBA{PartialFill, PartialFill, PartialFill, 0xff}
	for _, r := range rs {
		r = r.Add(m.Bounds().Min).Intersect(m.Bounds())
		switch d := m.(type) {
		case *image.NRGBA:
			for y := r.Min.Y; y < r.Max.Y; y++ {
				row := d.Pix[d.PixOffset(r.Min.X, y):d.PixOffset(r.Max.X, y)]
				for i := 0; i < len(row); i += 4 {
					row[i], row[i+1], row[i+2], row[i+3] = grey.R, grey.G, grey.B, grey.A
				}
			}
		case *image.Gray:
			for y := r.Min.Y; y < r.Max.Y; y++ {
				row := d.Pix[d.PixOffset(r.Min.X, y):d.PixOffset(r.Max.X, y)]
				for i := range row {
					row[i] = PartialFill
				}
			}
		default:
			c := image.NewNRGBA(m.Bounds())
			draw.Draw(c, c.Bounds(), m, m.Bounds().Min, draw.Src)
			return areaPainted(c, rs)
		}
	}
	return m
}

// jpegBits reads entropy-coded data bit by bit, undoing byte stuffing.
// Data that ends, or a marker where data should be, reads as no bits.
type jpegBits struct {
	b    []byte
	p    int  // next byte to read
	cur  byte // the byte being read
	n    int  // bits of cur already read, 0 when none is started
	size int  // bytes cur took in the data: 1, or 2 for a stuffed 0xff
	// saved state at the start of the MCU being read
	sp, sn, ssize int
	scur          byte
}

func (r *jpegBits) mark() { r.sp, r.sn, r.scur, r.ssize = r.p, r.n, r.cur, r.size }
func (r *jpegBits) rewind() {
	r.p, r.n, r.cur, r.size = r.sp, r.sn, r.scur, r.ssize
}

func (r *jpegBits) bit() (uint32, bool) {
	if r.n == 0 || r.n == 8 {
		if r.p >= len(r.b) {
			return 0, false
		}
		c := r.b[r.p]
		size := 1
		if c == 0xff {
			if r.p+1 >= len(r.b) || r.b[r.p+1] != 0 {
				return 0, false // a marker, or the data ends
			}
			size = 2
		}
		r.cur, r.size, r.n = c, size, 0
		r.p += size
	}
	v := uint32(r.cur>>(7-r.n)) & 1
	r.n++
	return v, true
}

func (r *jpegBits) skip(n int) bool {
	for range n {
		if _, ok := r.bit(); !ok {
			return false
		}
	}
	return true
}

func (r *jpegBits) decode(h *jpegHuffman) (byte, bool) {
	code := int32(0)
	for l := 1; l <= 16; l++ {
		v, ok := r.bit()
		if !ok {
			return 0, false
		}
		code = code<<1 | int32(v)
		if h.maxCode[l] >= 0 && code <= h.maxCode[l] {
			return h.vals[h.valPtr[l]+code-h.minCode[l]], true
		}
	}
	return 0, false // no such code: the data is broken here
}

// align drops the rest of the byte being read, as a restart does.
func (r *jpegBits) align() {
	if r.n > 0 {
		r.n = 0
	}
}

// marker reads restart marker m, and reports whether it was there.
func (r *jpegBits) marker(m byte) bool {
	for r.p+1 < len(r.b) && r.b[r.p] == 0xff && r.b[r.p+1] == 0xff {
		r.p++
	}
	if r.p+1 < len(r.b) && r.b[r.p] == 0xff && r.b[r.p+1] == m {
		r.p += 2
		r.n = 0
		return true
	}
	return false
}

// jpegBitWriter writes entropy-coded data, stuffing a zero after 0xff.
type jpegBitWriter struct {
	out []byte
	acc uint32
	n   uint8
}

func (f *jpegBitWriter) put(bits uint32, n uint8) {
	for i := int(n) - 1; i >= 0; i-- {
		f.acc = f.acc<<1 | (bits>>uint(i))&1
		f.n++
		if f.n == 8 {
			f.emit(byte(f.acc))
		}
	}
}

func (f *jpegBitWriter) emit(c byte) {
	f.out = append(f.out, c)
	if c == 0xff {
		f.out = append(f.out, 0)
	}
	f.acc, f.n = 0, 0
}

// align pads the byte being written with ones, as encoders do.
func (f *jpegBitWriter) align() {
	if f.n > 0 {
		f.emit(byte(f.acc<<(8-f.n) | (1<<(8-f.n) - 1)))
	}
}

// block writes one block with no change of DC and no AC coefficient: the
// codes for DC difference 0 and for end of block. It reports false when a
// table has no such code.
func (f *jpegBitWriter) block(dc, ac *jpegHuffman, dcOnly bool) bool {
	c, ok := dc.code[0]
	if !ok {
		return false
	}
	f.put(c.bits, c.n)
	if dcOnly {
		return true
	}
	if c, ok = ac.code[0x00]; !ok {
		return false
	}
	f.put(c.bits, c.n)
	return true
}
