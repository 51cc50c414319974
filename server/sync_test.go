package server

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mediamatch/mediamatch/exchange"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/storetest"
)

// syncList writes entries (as a source holds them: with ids and
// revisions there) and removals as a native list.
func syncList(t *testing.T, entries []*store.Entry, removals ...exchange.Removal) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := exchange.NewNativeWriter(&buf, exchange.NativeHeader{Exporter: "test", Bank: exchange.NativeBank{Name: "x"}, Exported: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range removals {
		if err := w.WriteRemoval(r); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range entries {
		if err := w.WriteEntry(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestSyncEntries sends batches through the API: entries are added with
// their source id and revision as provenance and matched at once, the
// cursor shows in GetBank, a batch sent again is ABORTED with nothing
// written, and bad batches are INVALID_ARGUMENT with the bank as it was.
func TestSyncEntries(t *testing.T) {
	ts := startServer(t, "", Options{})
	ts.createBank("in")
	ts.createBank("other")
	r := rand.New(rand.NewPCG(41, 41))
	var src []*store.Entry
	for i := range 5 {
		e := storetest.RandomImage(r, "x")
		e.ID, e.Revision = uint64(100+i), store.Revision(10+i)
		src = append(src, e)
	}
	const source = "a.example:7077/banks/x"
	req := &pb.SyncEntriesRequest{Parent: "banks/in", Source: source, Partner: "ngo", ToRevision: 14, List: syncList(t, src)}
	res, err := ts.bank.SyncEntries(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.GetAdded() != 5 || res.GetSyncedRevision() != 14 {
		t.Errorf("first batch: %v", res)
	}
	b, err := ts.bank.GetBank(ctx(t), &pb.GetBankRequest{Name: "banks/in"})
	if err != nil || b.GetBank().GetSyncedRevisions()[source] != 14 || b.GetBank().GetEntryCount() != 5 {
		t.Fatalf("bank after the batch: %v, %v", b.GetBank(), err)
	}
	list, err := ts.bank.ListEntries(ctx(t), &pb.ListEntriesRequest{Parent: "banks/in"})
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range list.GetEntries() {
		p := e.GetProvenance()
		if p.GetList() != source || p.GetPartner() != "ngo" || p.GetSourceId() != strconv.FormatUint(src[i].ID, 10) || p.GetListRevision() != int64(src[i].Revision) {
			t.Errorf("entry %d provenance %v", i, p)
		}
	}
	h, _ := src[2].Hash("pdq")
	m, err := ts.match.Match(ctx(t), &pb.MatchRequest{Query: &pb.MatchRequest_Hashes{Hashes: &pb.MediaHashes{Hashes: []*pb.Hash{{Type: "pdq", Hex: h.Hex(), Quality: proto.Int32(100)}}}},
		Options: &pb.MatchOptions{Banks: []string{"banks/in"}}})
	if err != nil || len(m.GetResult().GetMatches()) == 0 {
		t.Errorf("a synced entry is not matched at once: %v, %v", m, err)
	}

	// Replayed: refused, nothing written.
	before, ids := bankState(t, ts, "in")
	if _, err := ts.bank.SyncEntries(ctx(t), req); status.Code(err) != codes.Aborted || errorReason(err) != "SYNC_CURSOR_MOVED" {
		t.Errorf("the batch again: %v, want ABORTED SYNC_CURSOR_MOVED", err)
	}
	if after, ids2 := bankState(t, ts, "in"); after != before || len(ids2) != len(ids) {
		t.Errorf("the refused batch wrote: revision %d to %d", before, after)
	}

	// A removal and a prune: the next batch from the cursor.
	rm := exchange.Removal{Identity: store.Identity(src[0]), ID: 100, Revision: 15}
	res, err = ts.bank.SyncEntries(ctx(t), &pb.SyncEntriesRequest{Parent: "banks/in", Source: source, FromRevision: 14, ToRevision: 20,
		List: syncList(t, nil, rm), Prune: []string{"banks/in/entries/" + strconv.FormatUint(ids[1], 10)}})
	if err != nil || res.GetRemoved() != 2 {
		t.Errorf("removal and prune: %v, %v", res, err)
	}

	before, ids = bankState(t, ts, "in")
	bad := syncList(t, src[:2])
	bad = append(bad[:bytes.IndexByte(bad, '\n')+1], append([]byte("{not json\n"), bad[bytes.IndexByte(bad, '\n')+1:]...)...)
	for name, tc := range map[string]*pb.SyncEntriesRequest{
		"malformed list":  {Parent: "banks/in", Source: source, FromRevision: 20, ToRevision: 21, List: bad},
		"backwards":       {Parent: "banks/in", Source: source, FromRevision: 20, ToRevision: 19},
		"negative":        {Parent: "banks/in", Source: source, FromRevision: -1, ToRevision: 19},
		"no source":       {Parent: "banks/in", FromRevision: 0, ToRevision: 1},
		"other bank":      {Parent: "banks/in", Source: source, FromRevision: 20, ToRevision: 21, Prune: []string{"banks/other/entries/1"}},
		"bad prune":       {Parent: "banks/in", Source: source, FromRevision: 20, ToRevision: 21, Prune: []string{"banks/in/entries/x"}},
		"long source":     {Parent: "banks/in", Source: strings.Repeat("s", 300), ToRevision: 1},
		"not a list":      {Parent: "banks/in", Source: source, FromRevision: 20, ToRevision: 21, List: []byte("md5 " + strings.Repeat("cd", 16) + "\n")},
		"unknown bank":    {Parent: "banks/nope", Source: source, ToRevision: 1},
		"bad bank name":   {Parent: "banks/-", Source: source, ToRevision: 1},
		"stale cursor":    {Parent: "banks/in", Source: source, FromRevision: 14, ToRevision: 21, List: syncList(t, src[:1])},
		"ahead of cursor": {Parent: "banks/in", Source: source, FromRevision: 21, ToRevision: 22, List: syncList(t, src[:1])},
	} {
		_, err := ts.bank.SyncEntries(ctx(t), tc)
		want := codes.InvalidArgument
		switch name {
		case "unknown bank":
			want = codes.NotFound
		case "stale cursor", "ahead of cursor":
			want = codes.Aborted
		}
		if status.Code(err) != want {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
		if name == "malformed list" && !strings.Contains(err.Error(), "line 2") {
			t.Errorf("%s: %v does not name line 2", name, err)
		}
	}
	after, ids2 := bankState(t, ts, "in")
	if after != before || len(ids2) != len(ids) {
		t.Errorf("refused batches wrote: revision %d to %d, entries %v to %v", before, after, ids, ids2)
	}
	b, _ = ts.bank.GetBank(ctx(t), &pb.GetBankRequest{Name: "banks/in"})
	if got := b.GetBank().GetSyncedRevisions()[source]; got != 20 {
		t.Errorf("cursor %d after refused batches, want 20", got)
	}
}
