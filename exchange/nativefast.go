package exchange

import (
	"encoding/base64"
	"strconv"
	"time"
)

// decodeNativeLine decodes a native line of the shape NativeWriter writes
// into l, as encoding/json would, without reflection: an import of a long
// list spends most of its parsing here. It reports false for anything it
// does not handle, and the caller then decodes the line with strictJSON,
// which also reports what is wrong with it. It handles only what it can
// decode exactly as encoding/json does: keys spelled as the fields are,
// each once; strings of printable ASCII without escapes; numbers as JSON
// writes them that fit their fields; no nulls; no unknown fields; nothing
// after the value. FuzzNativeFastPath holds the two decoders to the same
// result.
func decodeNativeLine(text []byte, l *nativeLine) bool {
	d := fastJSON{b: text}
	ok := d.object(func(key string) bool {
		switch key {
		case "entry":
			l.Entry = &nativeEntry{}
			return d.entry(l.Entry)
		case "removed":
			l.Removed = &nativeRemoval{}
			return d.removal(l.Removed)
		}
		return false
	})
	d.space()
	return ok && d.i == len(d.b)
}

// fastJSON reads the JSON of one line; every method reports false at the
// first thing it does not handle.
type fastJSON struct {
	b []byte
	i int
}

func (d *fastJSON) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *fastJSON) byte(c byte) bool {
	d.space()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// rawString returns a string literal's contents, quotes excluded.
func (d *fastJSON) rawString() ([]byte, bool) {
	if !d.byte('"') {
		return nil, false
	}
	start := d.i
	for ; d.i < len(d.b); d.i++ {
		switch c := d.b[d.i]; {
		case c == '"':
			d.i++
			return d.b[start : d.i-1], true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return nil, false
		}
	}
	return nil, false
}

func (d *fastJSON) string(s *string) bool {
	raw, ok := d.rawString()
	*s = string(raw)
	return ok
}

// number returns a number literal, checked against JSON's grammar.
func (d *fastJSON) number() (string, bool) {
	d.space()
	start := d.i
	digits := func() int {
		n := 0
		for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if d.i < len(d.b) && d.b[d.i] == '-' {
		d.i++
	}
	lead := d.i
	if n := digits(); n == 0 || (n > 1 && d.b[lead] == '0') {
		return "", false
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if digits() == 0 {
			return "", false
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return "", false
		}
	}
	return string(d.b[start:d.i]), true
}

func (d *fastJSON) int(v *int) bool {
	s, ok := d.number()
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(s, 10, strconv.IntSize)
	*v = int(n)
	return err == nil
}

func (d *fastJSON) uint(v *uint64, bits int) bool {
	s, ok := d.number()
	if !ok {
		return false
	}
	n, err := strconv.ParseUint(s, 10, bits)
	*v = n
	return err == nil
}

func (d *fastJSON) float(v *float64, bits int) bool {
	s, ok := d.number()
	if !ok {
		return false
	}
	f, err := strconv.ParseFloat(s, bits)
	*v = f
	return err == nil
}

func (d *fastJSON) float32(v *float32) bool {
	var f float64
	ok := d.float(&f, 32)
	*v = float32(f)
	return ok
}

// time reads a time as encoding/json does: time.Time's own UnmarshalJSON
// of the literal.
func (d *fastJSON) time(t *time.Time) bool {
	d.space()
	start := d.i
	if _, ok := d.rawString(); !ok {
		return false
	}
	return t.UnmarshalJSON(d.b[start:d.i]) == nil
}

// bytes reads base64, as encoding/json does a []byte.
func (d *fastJSON) bytes(v *[]byte) bool {
	raw, ok := d.rawString()
	if !ok {
		return false
	}
	b := make([]byte, base64.StdEncoding.DecodedLen(len(raw)))
	n, err := base64.StdEncoding.Decode(b, raw)
	*v = b[:n]
	return err == nil
}

// object reads an object, calling field for each key with the reader at
// its value; a key seen twice is not handled (encoding/json would merge).
func (d *fastJSON) object(field func(key string) bool) bool {
	if !d.byte('{') {
		return false
	}
	if d.byte('}') {
		return true
	}
	var seenAt [16]string
	seen := seenAt[:0]
	for {
		raw, ok := d.rawString()
		if !ok || !d.byte(':') {
			return false
		}
		key := string(raw)
		for _, k := range seen {
			if k == key {
				return false
			}
		}
		seen = append(seen, key)
		if !field(key) {
			return false
		}
		if d.byte(',') {
			continue
		}
		return d.byte('}')
	}
}

// array reads an array, calling elem for each element.
func (d *fastJSON) array(elem func() bool) bool {
	if !d.byte('[') {
		return false
	}
	if d.byte(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if d.byte(',') {
			continue
		}
		return d.byte(']')
	}
}

func (d *fastJSON) entry(e *nativeEntry) bool {
	return d.object(func(key string) bool {
		switch key {
		case "identity":
			return d.string(&e.Identity)
		case "id":
			return d.uint(&e.ID, 64)
		case "kind":
			return d.string(&e.Kind)
		case "format":
			return d.string(&e.Format)
		case "width":
			return d.int(&e.Width)
		case "height":
			return d.int(&e.Height)
		case "duration":
			return d.float(&e.Duration, 64)
		case "hashes":
			e.Hashes = []nativeHash{}
			return d.array(func() bool {
				var h nativeHash
				ok := d.object(func(key string) bool {
					switch key {
					case "type":
						return d.string(&h.Type)
					case "hex":
						return d.string(&h.Hex)
					case "quality":
						return d.int(&h.Quality)
					}
					return false
				})
				e.Hashes = append(e.Hashes, h)
				return ok
			})
		case "regions":
			e.Regions = []nativeRegion{}
			return d.array(func() bool {
				var r nativeRegion
				ok := d.region(&r)
				e.Regions = append(e.Regions, r)
				return ok
			})
		case "keypoints":
			e.Keypoints = []nativeKeypoint{}
			return d.array(func() bool {
				var k nativeKeypoint
				ok := d.object(func(key string) bool {
					switch key {
					case "x":
						return d.float32(&k.X)
					case "y":
						return d.float32(&k.Y)
					case "level":
						var v uint64
						ok := d.uint(&v, 8)
						k.Level = uint8(v)
						return ok
					case "descriptor":
						return d.string(&k.Descriptor)
					}
					return false
				})
				e.Keypoints = append(e.Keypoints, k)
				return ok
			})
		case "thumbnail":
			e.Thumbnail = &nativeThumbnail{}
			t := e.Thumbnail
			return d.object(func(key string) bool {
				switch key {
				case "width":
					return d.int(&t.Width)
				case "height":
					return d.int(&t.Height)
				case "grey":
					return d.bytes(&t.Grey)
				}
				return false
			})
		case "frames":
			e.Frames = []nativeFrame{}
			return d.array(func() bool {
				var f nativeFrame
				ok := d.object(func(key string) bool {
					switch key {
					case "seconds":
						return d.float(&f.Seconds, 64)
					case "pdq":
						return d.string(&f.PDQ)
					case "quality":
						return d.int(&f.Quality)
					case "content":
						return d.string(&f.Content)
					}
					return false
				})
				e.Frames = append(e.Frames, f)
				return ok
			})
		case "labels":
			e.Labels = map[string]string{}
			return d.object(func(key string) bool {
				var v string
				ok := d.string(&v)
				e.Labels[key] = v
				return ok
			})
		case "note":
			return d.string(&e.Note)
		case "source":
			e.Source = &nativeSource{}
			s := e.Source
			return d.object(func(key string) bool {
				switch key {
				case "origin":
					return d.string(&s.Origin)
				case "external_id":
					return d.string(&s.ExternalID)
				case "uri":
					return d.string(&s.URI)
				}
				return false
			})
		case "provenance":
			e.Provenance = &nativeProvenance{}
			p := e.Provenance
			return d.object(func(key string) bool {
				switch key {
				case "partner":
					return d.string(&p.Partner)
				case "list":
					return d.string(&p.List)
				case "list_revision":
					return d.uint(&p.ListRevision, 64)
				case "source_id":
					return d.string(&p.SourceID)
				case "imported":
					return d.time(&p.Imported)
				}
				return false
			})
		case "created":
			return d.time(&e.Created)
		case "created_by":
			return d.string(&e.CreatedBy)
		case "updated":
			return d.time(&e.Updated)
		case "updated_by":
			return d.string(&e.UpdatedBy)
		case "revision":
			return d.uint(&e.Revision, 64)
		}
		return false
	})
}

func (d *fastJSON) region(r *nativeRegion) bool {
	return d.object(func(key string) bool {
		switch key {
		case "kind":
			return d.string(&r.Kind)
		case "box":
			// Exactly four: encoding/json leaves the rest of a shorter
			// array zero and skips the extra of a longer one.
			n := 0
			return d.array(func() bool {
				if n == len(r.Box) {
					return false
				}
				n++
				return d.float32(&r.Box[n-1])
			}) && n == len(r.Box)
		case "pdq":
			return d.string(&r.PDQ)
		case "quality":
			return d.int(&r.Quality)
		case "phash":
			return d.string(&r.PHash)
		}
		return false
	})
}

func (d *fastJSON) removal(r *nativeRemoval) bool {
	return d.object(func(key string) bool {
		switch key {
		case "identity":
			return d.string(&r.Identity)
		case "id":
			return d.uint(&r.ID, 64)
		case "revision":
			return d.uint(&r.Revision, 64)
		case "time":
			return d.time(&r.Time)
		case "actor":
			return d.string(&r.Actor)
		}
		return false
	})
}
