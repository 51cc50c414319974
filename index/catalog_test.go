package index

import (
	"testing"
	"unsafe"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/store"
)

// TestEntryInfoSize pins what the catalog holds per entry: the info in the
// 112-byte size class, and its regions in one allocation of their number.
func TestEntryInfoSize(t *testing.T) {
	if n := unsafe.Sizeof(EntryInfo{}); n > 112 {
		t.Errorf("EntryInfo is %d bytes, want at most 112", n)
	}
	if n := unsafe.Sizeof(RegionInfo{}); n > 56 {
		t.Errorf("RegionInfo is %d bytes, want at most 56", n)
	}
	e := &store.Entry{ID: 3, Bank: string([]byte("bank")), Kind: store.KindImage}
	for range 5 {
		e.Regions = append(e.Regions, hashing.RegionHash{Kind: hashing.RegionWindow, Quality: 100})
	}
	banks := map[string]*store.Bank{"bank": {Name: "bank"}}
	info := newEntryInfo(e, 7, banks)
	if len(info.Regions) != 5 || cap(info.Regions) != 5 {
		t.Errorf("regions: len %d cap %d, want 5 and 5", len(info.Regions), cap(info.Regions))
	}
	if unsafe.StringData(info.Bank) != unsafe.StringData(banks["bank"].Name) {
		t.Errorf("the entry's bank name is a copy, not the bank's")
	}
	if info.added != 7 || info.ID != 3 {
		t.Errorf("info %+v", info)
	}
}
