package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mediamatch/mediamatch/exchange"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/storetest"
)

// exportList runs an export and returns its revision and its bytes.
func exportList(ctx context.Context, c pb.BankServiceClient, req *pb.ExportEntriesRequest) (int64, []byte, error) {
	st, err := c.ExportEntries(ctx, req)
	if err != nil {
		return 0, nil, err
	}
	first, err := st.Recv()
	if err != nil {
		return 0, nil, err
	}
	if len(first.GetChunk()) > 0 || first.GetRevision() <= 0 {
		return 0, nil, fmt.Errorf("first message %v, want the revision alone", first)
	}
	var out bytes.Buffer
	for {
		m, err := st.Recv()
		if err == io.EOF {
			return first.GetRevision(), out.Bytes(), nil
		}
		if err != nil {
			return 0, nil, err
		}
		out.Write(m.GetChunk())
	}
}

// importList streams a list in chunks of 1000 bytes.
func importList(ctx context.Context, c pb.BankServiceClient, h *pb.ImportEntriesHeader, list []byte) (*pb.ImportEntriesResponse, error) {
	st, err := c.ImportEntries(ctx)
	if err != nil {
		return nil, err
	}
	if err := st.Send(&pb.ImportEntriesRequest{Part: &pb.ImportEntriesRequest_Header{Header: h}}); err != nil {
		return st.CloseAndRecv()
	}
	for len(list) > 0 {
		n := min(len(list), 1000)
		if err := st.Send(&pb.ImportEntriesRequest{Part: &pb.ImportEntriesRequest_Chunk{Chunk: list[:n]}}); err != nil {
			return st.CloseAndRecv()
		}
		list = list[n:]
	}
	return st.CloseAndRecv()
}

// fill adds images and videos to a bank through the store behind the
// server, and waits for the index to show them.
func (ts *testServer) fill(t *testing.T, r *rand.Rand, bank string, images, videos int) []*store.Entry {
	t.Helper()
	var ops []store.Op
	for range images {
		ops = append(ops, store.AddEntry(storetest.RandomImage(r, bank)))
	}
	for range videos {
		v := storetest.RandomVideo(r, bank, 40)
		for i := range v.Frames {
			v.Frames[i].Quality = 60 + r.IntN(41) // usable by the vPDQ rule
		}
		ops = append(ops, store.AddEntry(v))
	}
	res, err := ts.st.Commit(context.Background(), "test", ops...)
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.idx.WaitFor(ctx(t), res.Revision); err != nil {
		t.Fatal(err)
	}
	var out []*store.Entry
	for _, r := range res.Results {
		out = append(out, r.Entry)
	}
	return out
}

// queryOutcome is what a match of one query returns, as far as every
// format carries it: per match, the hash type and distance.
func queryOutcome(t *testing.T, ts *testServer, bank string, q *pb.MediaHashes) []string {
	t.Helper()
	r, err := ts.match.Match(ctx(t), &pb.MatchRequest{Query: &pb.MatchRequest_Hashes{Hashes: q}, Options: &pb.MatchOptions{Banks: []string{"banks/" + bank}}})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range r.GetResult().GetMatches() {
		out = append(out, fmt.Sprintf("%s/%d", m.GetHashType(), m.GetDistance()))
	}
	slices.Sort(out)
	return out
}

// queries are a query per entry: its PDQ hash and its MD5 for an image,
// its frames for a video.
func queries(entries []*store.Entry) []*pb.MediaHashes {
	var out []*pb.MediaHashes
	for _, e := range entries {
		if len(e.Frames) > 0 {
			out = append(out, &pb.MediaHashes{Kind: pb.MediaKind_MEDIA_KIND_VIDEO, Frames: framesToProto(e.Frames)})
			continue
		}
		for _, typ := range []string{"pdq", "md5"} {
			h, _ := e.Hash(typ)
			out = append(out, &pb.MediaHashes{Kind: pb.MediaKind_MEDIA_KIND_IMAGE, Hashes: []*pb.Hash{{Type: typ, Hex: h.Hex(), Quality: proto.Int32(100)}}})
		}
	}
	return out
}

func bankState(t *testing.T, ts *testServer, bank string) (store.Revision, []uint64) {
	t.Helper()
	revs, err := ts.st.Revisions(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	if err := ts.st.ListEntries(ctx(t), store.EntryQuery{Bank: bank}, func(e *store.Entry) bool { ids = append(ids, e.ID); return true }); err != nil {
		t.Fatal(err)
	}
	return revs.Current, ids
}

// TestExportImportRoundTrip exports a bank of images and videos in each
// format from one server and imports it into an empty one: the same
// queries get the same matches (hash type and distance) on both, as far as
// the format carries the hashes, at once after the import returns; the
// native format carries every entry whole, labels, note and source
// included.
func TestExportImportRoundTrip(t *testing.T) {
	a := startServer(t, "", Options{})
	a.createBank("src")
	r := rand.New(rand.NewPCG(31, 31))
	entries := a.fill(t, r, "src", 30, 4)
	b := startServer(t, "", Options{})
	for _, tc := range []struct {
		format pb.ListFormat
		// carried selects the queries whose outcome the format keeps.
		carried func(q *pb.MediaHashes) bool
	}{
		{pb.ListFormat_LIST_FORMAT_NATIVE, func(*pb.MediaHashes) bool { return true }},
		{pb.ListFormat_LIST_FORMAT_PYTX_FILE, func(*pb.MediaHashes) bool { return true }},
		{pb.ListFormat_LIST_FORMAT_PYTX_CSV, func(*pb.MediaHashes) bool { return true }},
		{pb.ListFormat_LIST_FORMAT_VPDQ_JSON, func(q *pb.MediaHashes) bool { return len(q.GetFrames()) > 0 }},
	} {
		t.Run(tc.format.String(), func(t *testing.T) {
			rev, list, err := exportList(ctx(t), a.bank, &pb.ExportEntriesRequest{Parent: "banks/src", Format: tc.format})
			if err != nil {
				t.Fatal(err)
			}
			if cur, _ := bankState(t, a, "src"); int64(cur) != rev {
				t.Errorf("export revision %d, store %d", rev, cur)
			}
			bank := strings.ToLower(strings.TrimPrefix(tc.format.String(), "LIST_FORMAT_"))
			b.createBank(bank)
			res, err := importList(ctx(t), b.bank, &pb.ImportEntriesHeader{Parent: "banks/" + bank, Format: tc.format, Partner: "ngo", List: "src.list"}, list)
			if err != nil {
				t.Fatal(err)
			}
			if res.GetImported() == 0 || res.GetRemoved() != 0 {
				t.Errorf("import: %v", res)
			}
			n := 0
			for _, q := range queries(entries) {
				if !tc.carried(q) {
					continue
				}
				n++
				want, got := queryOutcome(t, a, "src", q), queryOutcome(t, b, bank, q)
				if len(want) == 0 || !slices.Equal(got, want) {
					t.Errorf("query %v: matches %v after the round trip, %v before", q.GetHashes(), got, want)
				}
			}
			if n == 0 {
				t.Fatal("no queries")
			}
			// The same list again changes nothing.
			before, ids := bankState(t, b, bank)
			again, err := importList(ctx(t), b.bank, &pb.ImportEntriesHeader{Parent: "banks/" + bank, Format: tc.format, Partner: "ngo", List: "src.list"}, list)
			after, ids2 := bankState(t, b, bank)
			if err != nil || again.GetImported() != 0 || again.GetUnchanged() != res.GetImported()+res.GetUnchanged() || after != before || !slices.Equal(ids, ids2) {
				t.Errorf("importing the same list again: %v %v, revision %d -> %d, %d entries -> %d", again, err, before, after, len(ids), len(ids2))
			}
		})
	}
	// The native list carries every entry whole, and each records where it
	// came from.
	var got []*store.Entry
	b.st.ListEntries(ctx(t), store.EntryQuery{Bank: "native", View: store.ViewFull}, func(e *store.Entry) bool { got = append(got, e); return true })
	if len(got) != len(entries) {
		t.Fatalf("%d entries imported, want %d", len(got), len(entries))
	}
	for i, e := range got {
		want := *entries[i]
		want.Bank = "native"
		p := e.Provenance
		if p.Partner != "ngo" || p.List != "src.list" || p.SourceID != fmt.Sprint(entries[i].ID) || p.ListRevision == 0 || p.Imported.IsZero() {
			t.Errorf("entry %d provenance %+v", i, p)
		}
		g := *e
		g.Provenance = store.Provenance{}
		if d := storetest.SameEntry(&g, &want, store.ViewFull); d != "" {
			t.Errorf("entry %d after the round trip: %s", i, d)
		}
	}
	// The API shows the provenance.
	resp, err := b.bank.GetEntry(ctx(t), &pb.GetEntryRequest{Name: fmt.Sprintf("banks/native/entries/%d", got[0].ID)})
	if err != nil || resp.GetEntry().GetProvenance().GetSourceId() != fmt.Sprint(entries[0].ID) || resp.GetEntry().GetProvenance().GetPartner() != "ngo" {
		t.Errorf("GetEntry's provenance: %v %v", resp.GetEntry().GetProvenance(), err)
	}
}

// TestExportSince exports the changes after a revision: entries added and
// updated since, each once and as it is, and removals with the removed
// entry's identity; importing that into a copy made from the full export
// converges the copy, removals included.
func TestExportSince(t *testing.T) {
	a := startServer(t, "", Options{})
	a.createBank("src")
	a.createBank("other")
	r := rand.New(rand.NewPCG(32, 32))
	entries := a.fill(t, r, "src", 10, 0)
	rev, full, err := exportList(ctx(t), a.bank, &pb.ExportEntriesRequest{Parent: "banks/src", Format: pb.ListFormat_LIST_FORMAT_NATIVE})
	if err != nil {
		t.Fatal(err)
	}
	b := startServer(t, "", Options{})
	b.createBank("copy")
	h := &pb.ImportEntriesHeader{Parent: "banks/copy", Format: pb.ListFormat_LIST_FORMAT_NATIVE, Partner: "ngo"}
	if _, err := importList(ctx(t), b.bank, h, full); err != nil {
		t.Fatal(err)
	}
	// After the export: two removals, an update (twice), adds, and
	// another bank's add.
	added := a.fill(t, r, "src", 3, 0)
	a.fill(t, r, "other", 2, 0)
	for _, op := range []store.Op{store.RemoveEntry(entries[0].ID), store.RemoveEntry(added[0].ID),
		store.UpdateEntry(entries[1].ID, store.Entry{Note: "first"}, "note"), store.UpdateEntry(entries[1].ID, store.Entry{Note: "second"}, "note")} {
		if _, err := a.st.Commit(context.Background(), "test", op); err != nil {
			t.Fatal(err)
		}
	}
	rev2, since, err := exportList(ctx(t), a.bank, &pb.ExportEntriesRequest{Parent: "banks/src", Format: pb.ListFormat_LIST_FORMAT_NATIVE, SinceRevision: rev})
	if err != nil {
		t.Fatal(err)
	}
	nr, err := exchange.NewNativeReader(bytes.NewReader(since))
	if err != nil {
		t.Fatal(err)
	}
	if h := nr.Header(); h.FromRevision != uint64(rev) || h.ToRevision != uint64(rev2) {
		t.Errorf("header revisions %d..%d, want %d..%d", h.FromRevision, h.ToRevision, rev, rev2)
	}
	var lines []string
	for {
		it, err := nr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case it.Removal != nil:
			lines = append(lines, fmt.Sprintf("removed %d", it.Removal.ID))
		default:
			lines = append(lines, fmt.Sprintf("entry %d %s", it.Entry.ID, it.Entry.Note))
		}
	}
	want := []string{fmt.Sprintf("entry %d %s", added[1].ID, added[1].Note), fmt.Sprintf("entry %d %s", added[2].ID, added[2].Note),
		fmt.Sprintf("removed %d", entries[0].ID), fmt.Sprintf("removed %d", added[0].ID), fmt.Sprintf("entry %d second", entries[1].ID)}
	if !slices.Equal(lines, want) {
		t.Errorf("since export:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	res, err := importList(ctx(t), b.bank, h, since)
	if err != nil {
		t.Fatal(err)
	}
	// The update is a conflict: the copy keeps its own note.
	if res.GetImported() != 2 || res.GetRemoved() != 1 || res.GetUnchanged() != 2 || res.GetConflicts() != 1 {
		t.Errorf("importing the changes: %v", res)
	}
	_, ids := bankState(t, b, "copy")
	_, srcIDs := bankState(t, a, "src")
	if len(ids) != len(srcIDs) {
		t.Errorf("the copy holds %d entries, the source %d", len(ids), len(srcIDs))
	}

	for _, tc := range []struct {
		req  *pb.ExportEntriesRequest
		code codes.Code
	}{
		{&pb.ExportEntriesRequest{Parent: "banks/nope", Format: pb.ListFormat_LIST_FORMAT_NATIVE}, codes.NotFound},
		{&pb.ExportEntriesRequest{Parent: "banks/src"}, codes.InvalidArgument},
		{&pb.ExportEntriesRequest{Parent: "banks/src", Format: 99}, codes.InvalidArgument},
		{&pb.ExportEntriesRequest{Parent: "src", Format: pb.ListFormat_LIST_FORMAT_NATIVE}, codes.InvalidArgument},
		{&pb.ExportEntriesRequest{Parent: "banks/src", Format: pb.ListFormat_LIST_FORMAT_NATIVE, SinceRevision: -1}, codes.InvalidArgument},
		{&pb.ExportEntriesRequest{Parent: "banks/src", Format: pb.ListFormat_LIST_FORMAT_NATIVE, SinceRevision: rev2 + 5}, codes.OutOfRange},
	} {
		if _, _, err := exportList(ctx(t), a.bank, tc.req); status.Code(err) != tc.code {
			t.Errorf("export %v: %v, want %v", tc.req, err, tc.code)
		}
	}
}

// TestExportOneSnapshot checks that an export shows the bank as it was
// when the export began, while writes go on during it.
func TestExportOneSnapshot(t *testing.T) {
	a := startServer(t, "", Options{})
	a.createBank("src")
	r := rand.New(rand.NewPCG(33, 33))
	entries := a.fill(t, r, "src", 300, 0)
	st, err := a.bank.ExportEntries(ctx(t), &pb.ExportEntriesRequest{Parent: "banks/src", Format: pb.ListFormat_LIST_FORMAT_PYTX_FILE})
	if err != nil {
		t.Fatal(err)
	}
	first, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	// The export has begun (its snapshot is taken before the first
	// message); change the bank under it.
	a.fill(t, r, "src", 50, 0)
	if _, err := a.st.Commit(context.Background(), "test", store.RemoveEntry(entries[0].ID)); err != nil {
		t.Fatal(err)
	}
	var list bytes.Buffer
	for {
		m, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		list.Write(m.GetChunk())
	}
	// RandomImage has five hashes with signal names each.
	if n := strings.Count(list.String(), "\n"); n != 5*len(entries) {
		t.Errorf("the export holds %d lines, want %d (the bank at revision %d)", n, 5*len(entries), first.GetRevision())
	}
	h, _ := entries[0].Hash("pdq")
	if !strings.Contains(list.String(), h.Hex()) {
		t.Error("an entry removed during the export is missing from it")
	}
}

// TestImportMalformed feeds each parser broken lists through the real
// import: each fails with INVALID_ARGUMENT naming its line, and the store
// is as it was (revision and entries), including a list that breaks after
// more than one staged chunk.
func TestImportMalformed(t *testing.T) {
	ts := startServer(t, "", Options{})
	ts.createBank("in")
	r := rand.New(rand.NewPCG(34, 34))
	ts.fill(t, r, "in", 5, 0)
	pdqHex := func() string { h := storetest.RandomHash(r, "pdq"); return h.Hex() }
	var native bytes.Buffer
	nw, _ := exchange.NewNativeWriter(&native, exchange.NativeHeader{Bank: exchange.NativeBank{Name: "x"}})
	for range 3 {
		nw.WriteEntry(storetest.RandomImage(r, "x"))
	}
	nw.Flush()
	nativeLines := strings.Split(strings.TrimSpace(native.String()), "\n")
	var long strings.Builder
	for range 45_000 {
		fmt.Fprintf(&long, "pdq %s\n", pdqHex())
	}
	cases := []struct {
		name   string
		format pb.ListFormat
		list   string
		line   int
	}{
		{"file: bad hex", pb.ListFormat_LIST_FORMAT_PYTX_FILE, "pdq " + pdqHex() + "\npdq " + strings.Repeat("zz", 32) + "\n", 2},
		{"file: wrong length", pb.ListFormat_LIST_FORMAT_PYTX_FILE, "# a comment\npdq " + pdqHex() + "\n\nmd5 abcd\n", 4},
		{"file: unknown type", pb.ListFormat_LIST_FORMAT_PYTX_FILE, "pdq " + pdqHex() + "\nfoo 1234\n", 2},
		{"file: no signal", pb.ListFormat_LIST_FORMAT_PYTX_FILE, "pdq\n", 1},
		{"file: bad vpdq", pb.ListFormat_LIST_FORMAT_PYTX_FILE, "vpdq [\"nonsense\"]\n", 1},
		{"file: oversized line", pb.ListFormat_LIST_FORMAT_PYTX_FILE, "pdq " + pdqHex() + "\npdq " + strings.Repeat("a", exchange.MaxLineBytes+10) + "\n", 2},
		{"file: breaks after two chunks", pb.ListFormat_LIST_FORMAT_PYTX_FILE, long.String() + "pdq nothex\n", 45_001},
		{"csv: no header", pb.ListFormat_LIST_FORMAT_PYTX_CSV, "pdq," + pdqHex() + ",c,cat,\n", 1},
		{"csv: bad hash", pb.ListFormat_LIST_FORMAT_PYTX_CSV, "signal_type,signal_str,collab,category,tags\npdq," + pdqHex() + ",c,cat,\npdq,12,c,cat,\n", 3},
		{"csv: wrong columns", pb.ListFormat_LIST_FORMAT_PYTX_CSV, "signal_type,signal_str,collab,category,tags\npdq," + pdqHex() + "\n", 2},
		{"csv: unknown type", pb.ListFormat_LIST_FORMAT_PYTX_CSV, "signal_type,signal_str,collab,category,tags\nwhat," + pdqHex() + ",c,cat,\n", 2},
		{"vpdq-json: not json", pb.ListFormat_LIST_FORMAT_VPDQ_JSON, "[\"" + pdqHex() + ",100,0.000\"]\n{\n", 2},
		{"vpdq-json: empty video", pb.ListFormat_LIST_FORMAT_VPDQ_JSON, "[]\n", 1},
		{"native: no header", pb.ListFormat_LIST_FORMAT_NATIVE, nativeLines[1] + "\n", 1},
		{"native: bad line", pb.ListFormat_LIST_FORMAT_NATIVE, nativeLines[0] + "\n" + nativeLines[1] + "\n{\"entry\":\n", 3},
		{"native: wrong identity", pb.ListFormat_LIST_FORMAT_NATIVE, nativeLines[0] + "\n" + nativeLines[1] + "\n" + otherIdentity(nativeLines[2]) + "\n", 3},
		{"native: repeated entry", pb.ListFormat_LIST_FORMAT_NATIVE, nativeLines[0] + "\n" + nativeLines[1] + "\n" + nativeLines[2] + "\n" + nativeLines[1] + "\n", 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, ids := bankState(t, ts, "in")
			_, err := importList(ctx(t), ts.bank, &pb.ImportEntriesHeader{Parent: "banks/in", Format: tc.format}, []byte(tc.list))
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), fmt.Sprintf("line %d:", tc.line)) {
				t.Errorf("import: %v, want INVALID_ARGUMENT at line %d", err, tc.line)
			}
			after, ids2 := bankState(t, ts, "in")
			if after != before || !slices.Equal(ids, ids2) {
				t.Errorf("a failed import changed the store: revision %d -> %d, %d entries -> %d", before, after, len(ids), len(ids2))
			}
		})
	}
	if err := ts.st.Check(ctx(t)); err != nil {
		t.Errorf("check after the failed imports: %v", err)
	}
	// Requests the server refuses before reading a list.
	for _, tc := range []struct {
		h    *pb.ImportEntriesHeader
		code codes.Code
	}{
		{&pb.ImportEntriesHeader{Parent: "banks/nope", Format: pb.ListFormat_LIST_FORMAT_NATIVE}, codes.NotFound},
		{&pb.ImportEntriesHeader{Parent: "banks/in"}, codes.InvalidArgument},
		{&pb.ImportEntriesHeader{Parent: "banks/in", Format: pb.ListFormat_LIST_FORMAT_NATIVE, Partner: strings.Repeat("p", 300)}, codes.InvalidArgument},
	} {
		if _, err := importList(ctx(t), ts.bank, tc.h, []byte("pdq "+pdqHex()+"\n")); status.Code(err) != tc.code {
			t.Errorf("import %v: %v, want %v", tc.h, err, tc.code)
		}
	}
}

// TestImportCancelled abandons an import mid-stream: nothing of it is
// kept, and the next import works.
func TestImportCancelled(t *testing.T) {
	ts := startServer(t, "", Options{})
	ts.createBank("in")
	r := rand.New(rand.NewPCG(35, 35))
	before, ids := bankState(t, ts, "in")
	cctx, cancel := context.WithCancel(ctx(t))
	st, err := ts.bank.ImportEntries(cctx)
	if err != nil {
		t.Fatal(err)
	}
	st.Send(&pb.ImportEntriesRequest{Part: &pb.ImportEntriesRequest_Header{Header: &pb.ImportEntriesHeader{Parent: "banks/in", Format: pb.ListFormat_LIST_FORMAT_PYTX_FILE}}})
	var chunk strings.Builder
	for range 30_000 {
		h := storetest.RandomHash(r, "pdq")
		fmt.Fprintf(&chunk, "pdq %s\n", h.Hex())
	}
	data := []byte(chunk.String())
	for len(data) > 0 {
		n := min(len(data), 64<<10)
		if err := st.Send(&pb.ImportEntriesRequest{Part: &pb.ImportEntriesRequest_Chunk{Chunk: data[:n]}}); err != nil {
			break
		}
		data = data[n:]
	}
	cancel()
	// The server's side ends with the stream; its store then has dropped
	// what was staged before the next write runs.
	_, err = importList(ctx(t), ts.bank, &pb.ImportEntriesHeader{Parent: "banks/in", Format: pb.ListFormat_LIST_FORMAT_PYTX_FILE}, []byte("md5 "+strings.Repeat("ab", 16)+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	after, ids2 := bankState(t, ts, "in")
	if after != before+1 || len(ids2) != len(ids)+1 {
		t.Errorf("after a cancelled import and one of one line: revision %d -> %d, %d entries -> %d", before, after, len(ids), len(ids2))
	}
	if err := ts.st.Check(ctx(t)); err != nil {
		t.Errorf("check: %v", err)
	}
}

// TestExportImportScoped checks a partner token granted one bank: it
// exports that bank and is refused another, and may not import.
func TestExportImportScoped(t *testing.T) {
	ts := startServer(t, "", Options{})
	admin := tokenSecret(t, ts, store.Token{Name: "admin", Role: store.RoleAdmin})
	for _, b := range []string{"granted", "secret"} {
		if _, err := ts.bank.CreateBank(as(ctx(t), admin), &pb.CreateBankRequest{BankId: b}); err != nil {
			t.Fatal(err)
		}
	}
	ts.fill(t, rand.New(rand.NewPCG(36, 36)), "secret", 3, 0)
	partner := tokenSecret(t, ts, store.Token{Name: "ngo", Role: store.RolePartner, Banks: []string{"granted"}})
	pctx := as(ctx(t), partner)
	if _, _, err := exportList(pctx, ts.bank, &pb.ExportEntriesRequest{Parent: "banks/granted", Format: pb.ListFormat_LIST_FORMAT_NATIVE}); err != nil {
		t.Errorf("exporting the granted bank: %v", err)
	}
	for format := range listFormats {
		_, list, err := exportList(pctx, ts.bank, &pb.ExportEntriesRequest{Parent: "banks/secret", Format: format})
		if status.Code(err) != codes.PermissionDenied || len(list) > 0 {
			t.Errorf("exporting an ungranted bank as %v: %v, %d bytes", format, err, len(list))
		}
	}
	_, err := importList(pctx, ts.bank, &pb.ImportEntriesHeader{Parent: "banks/granted", Format: pb.ListFormat_LIST_FORMAT_PYTX_FILE}, []byte("md5 "+strings.Repeat("cd", 16)+"\n"))
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("a partner token importing: %v", err)
	}
}

// otherIdentity changes the first byte of a native line's identity.
func otherIdentity(line string) string {
	i := strings.Index(line, `"identity":"`) + len(`"identity":"`)
	b := "00"
	if line[i:i+2] == b {
		b = "11"
	}
	return line[:i] + b + line[i+2:]
}
