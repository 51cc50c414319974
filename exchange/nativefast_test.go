package exchange

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

// sameAsJSON fails t unless the fast decoder either declines text or
// decodes it exactly as strictJSON does, and reports whether it took it.
func sameAsJSON(t *testing.T, text []byte) bool {
	t.Helper()
	var fast nativeLine
	if !decodeNativeLine(text, &fast) {
		return false
	}
	var slow nativeLine
	if err := strictJSON(text, &slow); err != nil {
		t.Fatalf("the fast decoder took %q, which encoding/json refuses: %v", text, err)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%q: the fast decoder gives\n%#v\nencoding/json\n%#v", text, fast, slow)
	}
	return true
}

// lines returns a native list's lines after the header.
func lines(data []byte) [][]byte {
	all := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	return all[1:]
}

// TestNativeFastPath: every line NativeWriter writes (images with regions,
// keypoints, a thumbnail, labels and a source; videos with frames; a
// provenance; a removal) is decoded by the fast path, to what
// encoding/json gives.
func TestNativeFastPath(t *testing.T) {
	h, items := nativeSample(t)
	e := *items[0].Entry
	e.Provenance.Partner, e.Provenance.List, e.Provenance.ListRevision = "partner-b", "list-7", 12
	e.Provenance.SourceID, e.Provenance.Imported = "b-17", time.Date(2026, 11, 3, 4, 5, 6, 789, time.UTC)
	items = append(items, NativeItem{Entry: &e})
	n := 0
	for _, line := range lines(writeNative(t, h, items)) {
		if !sameAsJSON(t, line) {
			t.Errorf("the fast decoder declined %q", line)
		}
		n++
	}
	if n != len(items) {
		t.Fatalf("%d lines for %d items", n, len(items))
	}
}

// TestNativeFastPathDeclines: what encoding/json decodes its own way (keys
// in another case or twice, nulls, escapes, short or long arrays, numbers
// that do not fit, unknown fields, trailing data) is left to it.
func TestNativeFastPathDeclines(t *testing.T) {
	for _, line := range []string{
		`{"Entry":{"id":1}}`,
		`{"entry":{"ID":1}}`,
		`{"entry":{"id":1,"id":2}}`,
		`{"entry":{"labels":{"a":"1","a":"2"}}}`,
		`{"entry":null}`,
		`{"entry":{"note":null}}`,
		`{"entry":{"note":"a\u0041"}}`,
		`{"entry":{"note":"a\"b"}}`,
		"{\"entry\":{\"note\":\"caf\xc3\xa9\"}}",
		"{\"entry\":{\"note\":\"\xff\"}}",
		`{"entry":{"regions":[{"box":[0.1,0.2,0.3]}]}}`,
		`{"entry":{"regions":[{"box":[0.1,0.2,0.3,0.4,0.5]}]}}`,
		`{"entry":{"id":-1}}`,
		`{"entry":{"id":1.0}}`,
		`{"entry":{"id":1e2}}`,
		`{"entry":{"id":18446744073709551616}}`,
		`{"entry":{"width":01}}`,
		`{"entry":{"keypoints":[{"level":256}]}}`,
		`{"entry":{"regions":[{"box":[1e39,0,0,0]}]}}`,
		`{"entry":{"unknown":1}}`,
		`{"entry":{"created":"2026-13-01T00:00:00Z"}}`,
		`{"entry":{"thumbnail":{"grey":"!!"}}}`,
		`{"entry":{"thumbnail":{"grey":[1,2]}}}`,
		`{"entry":{}} {}`,
		`{"entry":{}}x`,
		`{"entry":{},}`,
		`[]`,
	} {
		if sameAsJSON(t, []byte(line)) {
			t.Errorf("the fast decoder took %q", line)
		}
	}
	// And what it does take, beside what NativeWriter writes.
	for _, line := range []string{
		`{"entry":{}}`,
		` { "entry" : { "id" : 7 , "hashes" : [ ] , "labels" : { } } } `,
		`{"entry":{"duration":-0.5e-3,"width":-0,"thumbnail":{"grey":""}}}`,
		`{"removed":{"identity":"ab","id":3,"revision":4,"time":"2026-01-02T03:04:05.5+01:00","actor":"x"}}`,
		`{"entry":{"id":1},"removed":{"id":2}}`,
	} {
		if !sameAsJSON(t, []byte(line)) {
			t.Errorf("the fast decoder declined %q", line)
		}
	}
}

// FuzzNativeFastPath holds the fast decoder to encoding/json's result on
// arbitrary lines: whatever it takes, json takes the same way.
func FuzzNativeFastPath(f *testing.F) {
	h, items := nativeSample(f)
	for _, line := range lines(writeNative(f, h, items)) {
		f.Add(line)
	}
	f.Add([]byte(`{"entry":{"regions":[{"box":[0.1,0.2,0.3,0.4]}],"id":1}}`))
	f.Fuzz(func(t *testing.T, line []byte) { sameAsJSON(t, line) })
}
