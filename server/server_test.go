package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/disintegration/imaging"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mediamatch/mediamatch/index"
	"github.com/mediamatch/mediamatch/media"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/store/bolt"
)

const imageDir = "../testdata/pdq/exact"

// testServer is a real server on a loopback port over a real bbolt file.
type testServer struct {
	t      testing.TB
	db     string
	st     *bolt.DB
	idx    *index.Index
	srv    *Server
	conn   *grpc.ClientConn
	match  pb.MatchServiceClient
	bank   pb.BankServiceClient
	token  pb.TokenServiceClient
	health healthpb.HealthClient
	opts   Options
}

func startServer(t testing.TB, db string, opts Options) *testServer {
	t.Helper()
	if db == "" {
		db = filepath.Join(t.TempDir(), "mediamatch.db")
	}
	st, err := bolt.Open(db, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	idx, err := index.New(context.Background(), st, index.Options{Logger: opts.Logger})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(st, idx, opts)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.GRPC().Serve(lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{t: t, db: db, st: st, idx: idx, srv: srv, conn: conn, opts: opts,
		match: pb.NewMatchServiceClient(conn), bank: pb.NewBankServiceClient(conn), token: pb.NewTokenServiceClient(conn), health: healthpb.NewHealthClient(conn)}
	t.Cleanup(ts.stop)
	return ts
}

// stop shuts the server down and closes the store; it may be called twice.
func (ts *testServer) stop() {
	if ts.srv == nil {
		return
	}
	ts.conn.Close()
	ts.srv.Shutdown(5 * time.Second)
	ts.idx.Close()
	if err := ts.st.Close(); err != nil {
		ts.t.Errorf("closing the store: %v", err)
	}
	ts.srv = nil
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func readImage(t testing.TB, name string) image.Image {
	t.Helper()
	img, err := imaging.Open(filepath.Join(imageDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(t testing.TB, img image.Image, q int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func fileBytes(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(imageDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func (ts *testServer) createBank(name string) {
	ts.t.Helper()
	if _, err := ts.bank.CreateBank(ctx(ts.t), &pb.CreateBankRequest{BankId: name}); err != nil {
		ts.t.Fatal(err)
	}
}

func (ts *testServer) addMedia(bank string, data []byte, labels map[string]string) *pb.CreateEntryResponse {
	ts.t.Helper()
	resp, err := ts.bank.CreateEntry(ctx(ts.t), &pb.CreateEntryRequest{Parent: "banks/" + bank, Media: data, Entry: &pb.Entry{Labels: labels}})
	if err != nil {
		ts.t.Fatal(err)
	}
	return resp
}

func (ts *testServer) matchMedia(data []byte, opts *pb.MatchOptions) *pb.MatchResult {
	ts.t.Helper()
	resp, err := ts.match.Match(ctx(ts.t), &pb.MatchRequest{Query: &pb.MatchRequest_Media{Media: data}, Options: opts})
	if err != nil {
		ts.t.Fatal(err)
	}
	return resp.GetResult()
}

// pdqMatch returns an entry's result seen through its strongest PDQ
// evidence (whole image, region or video), if it has any (see byEvidence).
func pdqMatch(res *pb.MatchResult, entry string) *pb.Match {
	return byEvidence(res, entry, func(e *pb.Evidence) bool { return e.GetHashType() == "pdq" })
}

// byMethod returns an entry's result seen through its evidence by method.
func byMethod(res *pb.MatchResult, entry, method string) *pb.Match {
	return byEvidence(res, entry, func(e *pb.Evidence) bool { return e.GetMethod() == method })
}

// byEvidence returns a copy of an entry's result whose top-level evidence
// fields (hash type, distance, dihedral, regions, ranges, percentages,
// inliers) are those of its strongest evidence that want accepts, or nil
// when the entry was not matched or has no such evidence.
func byEvidence(res *pb.MatchResult, entry string, want func(*pb.Evidence) bool) *pb.Match {
	for _, m := range res.GetMatches() {
		if m.GetEntry() != entry {
			continue
		}
		for _, e := range m.GetEvidence() {
			if !want(e) {
				continue
			}
			c := proto.Clone(m).(*pb.Match)
			c.HashType, c.Distance, c.Dihedral = e.GetHashType(), e.Distance, e.GetDihedral()
			c.QueryRegion, c.EntryRegion = e.GetQueryRegion(), e.GetEntryRegion()
			c.QueryRanges, c.EntryRanges = e.GetQueryRanges(), e.GetEntryRanges()
			c.QueryMatchPercent, c.EntryMatchPercent = e.QueryMatchPercent, e.EntryMatchPercent
			c.KeypointInliers = e.KeypointInliers
			return c
		}
	}
	return nil
}

func TestAddMatchRemoveRestart(t *testing.T) {
	ts := startServer(t, "", Options{})
	ts.createBank("tvec")
	orig := readImage(t, "bridge-mods-aaa-orig.png")
	added := ts.addMedia("tvec", encodePNG(t, orig), map[string]string{"group": "example"})
	entry := added.GetEntry()
	if !strings.HasPrefix(entry.GetName(), "banks/tvec/entries/") || added.GetAlreadyExists() {
		t.Fatalf("CreateEntry = %v", added)
	}
	// Five whole-image hashes, and the three central windows kept for
	// crops, each by its pdq and phash hashes.
	whole, windows := 0, map[string]int{}
	for _, h := range entry.GetMedia().GetHashes() {
		switch h.GetRegion().GetKind() {
		case pb.RegionKind_REGION_KIND_UNSPECIFIED:
			whole++
		case pb.RegionKind_REGION_KIND_WINDOW:
			windows[h.GetType()]++
		}
	}
	if m := entry.GetMedia(); m.GetKind() != pb.MediaKind_MEDIA_KIND_IMAGE || m.GetWidth() != 400 || whole != 5 || windows["pdq"] != 3 || windows["phash"] != 3 {
		t.Fatalf("entry media = %v", m)
	}
	// The same bytes again are the same entry.
	again := ts.addMedia("tvec", encodePNG(t, orig), nil)
	if !again.GetAlreadyExists() || again.GetEntry().GetName() != entry.GetName() {
		t.Errorf("re-adding: %v", again)
	}

	edits := map[string]struct {
		data     []byte
		dihedral pb.DihedralVariant
	}{
		"resized":   {encodePNG(t, imaging.Resize(orig, 200, 0, imaging.Lanczos)), pb.DihedralVariant_DIHEDRAL_VARIANT_UNSPECIFIED},
		"jpeg q40":  {encodeJPEG(t, orig, 40), pb.DihedralVariant_DIHEDRAL_VARIANT_UNSPECIFIED},
		"mirrored":  {encodePNG(t, imaging.FlipH(orig)), pb.DihedralVariant_DIHEDRAL_VARIANT_FLIP_Y},
		"rotated":   {encodeJPEG(t, imaging.Rotate90(orig), 85), pb.DihedralVariant_DIHEDRAL_VARIANT_ROTATE_270},
		"identical": {encodePNG(t, orig), pb.DihedralVariant_DIHEDRAL_VARIANT_UNSPECIFIED},
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			res := ts.matchMedia(edit.data, nil)
			m := pdqMatch(res, entry.GetName())
			if m == nil {
				t.Fatalf("no PDQ match for the %s copy: %v", name, res)
			}
			if m.GetBank() != "banks/tvec" || m.GetLabels()["group"] != "example" || m.GetDistance() > 31 || m.GetEntryKind() != pb.MediaKind_MEDIA_KIND_IMAGE {
				t.Errorf("match = %v", m)
			}
			if m.GetDihedral() != edit.dihedral {
				t.Errorf("matched variant %v, want %v", m.GetDihedral(), edit.dihedral)
			}
			t.Logf("%s: pdq distance %d variant %v", name, m.GetDistance(), m.GetDihedral())
		})
	}
	// Without dihedral matching the mirror is missed.
	if m := pdqMatch(ts.matchMedia(edits["mirrored"].data, &pb.MatchOptions{Dihedral: proto.Bool(false)}), entry.GetName()); m != nil {
		t.Errorf("mirror matched with dihedral off: %v", m)
	}
	// Exact bytes also match by digest.
	res := ts.matchMedia(edits["identical"].data, nil)
	methods := map[string]bool{}
	for _, m := range res.GetMatches() {
		for _, e := range m.GetEvidence() {
			methods[e.GetMethod()] = true
		}
	}
	for _, method := range []string{"digest", "pdq", "phash"} {
		if !methods[method] {
			t.Errorf("identical copy has no %s evidence: %v", method, res.GetMatches())
		}
	}
	if methods["dhash"] {
		t.Errorf("dHash evidence, but the default rules do not seek it: %v", res.GetMatches())
	}

	unrelated := []string{"labelme-subset-q2821.png", "synth-plasma.png", "reg-test-input-pen-and-coaster.png", "labelme-subset-q1050.png", "misc-images-small.png"}
	for _, name := range unrelated {
		if res := ts.matchMedia(fileBytes(t, name), nil); len(res.GetMatches()) != 0 {
			t.Errorf("unrelated %s matched: %v", name, res.GetMatches())
		}
	}

	// Restart: state survives.
	before, err := ts.bank.GetEntry(ctx(t), &pb.GetEntryRequest{Name: entry.GetName()})
	if err != nil || len(before.GetEntry().GetMedia().GetKeypoints()) == 0 {
		t.Fatalf("GetEntry = %v, %v", before, err)
	}
	ts.stop()
	ts2 := startServer(t, ts.db, Options{})
	if m := pdqMatch(ts2.matchMedia(edits["jpeg q40"].data, nil), entry.GetName()); m == nil {
		t.Fatal("after restart the entry no longer matches")
	}
	got, err := ts2.bank.GetEntry(ctx(t), &pb.GetEntryRequest{Name: entry.GetName()})
	if err != nil || !proto.Equal(got.GetEntry(), before.GetEntry()) {
		t.Fatalf("after restart GetEntry = %v, %v; want %v", got.GetEntry(), err, before.GetEntry())
	}

	// Remove: no match any more, also after another restart.
	if _, err := ts2.bank.DeleteEntry(ctx(t), &pb.DeleteEntryRequest{Name: entry.GetName()}); err != nil {
		t.Fatal(err)
	}
	if res := ts2.matchMedia(edits["identical"].data, nil); len(res.GetMatches()) != 0 {
		t.Errorf("removed entry still matches: %v", res.GetMatches())
	}
	ts2.stop()
	ts3 := startServer(t, ts.db, Options{})
	if res := ts3.matchMedia(edits["identical"].data, nil); len(res.GetMatches()) != 0 {
		t.Errorf("removed entry matches after restart: %v", res.GetMatches())
	}
	if _, err := ts3.bank.GetEntry(ctx(t), &pb.GetEntryRequest{Name: entry.GetName()}); status.Code(err) != codes.NotFound {
		t.Errorf("GetEntry of removed entry: %v", err)
	}
}

func TestStatusCodes(t *testing.T) {
	ts := startServer(t, "", Options{Media: media.Options{MaxPixels: 300 * 300}})
	ts.createBank("b")
	img := fileBytes(t, "bridge-mods-aaa-orig.png") // 400x251: over the 90000-pixel budget
	small := fileBytes(t, "synth-63x65.png")
	pngData := fileBytes(t, "synth-plasma.png")
	pdqHex := strings.Repeat("ab", 32)
	runCases(t, []apiCase{
		// Media cut short is decoded as far as it goes (evasion_test.go),
		// but cut before its first pixel there is nothing to match.
		{"media cut before its pixels", func() error {
			_, err := ts.match.Match(ctx(t), &pb.MatchRequest{Query: &pb.MatchRequest_Media{Media: pngData[:40]}})
			return err
		}, codes.InvalidArgument, "invalid media"},
		{"text as media", func() error {
			_, err := ts.bank.CreateEntry(ctx(t), &pb.CreateEntryRequest{Parent: "banks/b", Media: []byte("hello, not an image")})
			return err
		}, codes.InvalidArgument, "invalid media"},
		{"empty media", func() error {
			_, err := ts.match.Hash(ctx(t), &pb.HashRequest{})
			return err
		}, codes.InvalidArgument, "no media"},
		{"too many pixels", func() error {
			_, err := ts.match.Match(ctx(t), &pb.MatchRequest{Query: &pb.MatchRequest_Media{Media: img}})
			return err
		}, codes.ResourceExhausted, "limit"},
		{"message too large", func() error {
			_, err := ts.match.Hash(ctx(t), &pb.HashRequest{Media: make([]byte, DefaultMaxMessageBytes+1)})
			return err
		}, codes.ResourceExhausted, "larger than max"},
		{"unknown bank (add)", func() error {
			_, err := ts.bank.CreateEntry(ctx(t), &pb.CreateEntryRequest{Parent: "banks/nope", Media: small})
			return err
		}, codes.NotFound, `bank not found: "nope"`},
		{"unknown bank (match)", func() error {
			_, err := ts.match.Match(ctx(t), &pb.MatchRequest{Query: &pb.MatchRequest_Media{Media: small}, Options: &pb.MatchOptions{Banks: []string{"banks/nope"}}})
			return err
		}, codes.NotFound, "bank not found"},
		{"unknown bank (get)", func() error {
			_, err := ts.bank.GetBank(ctx(t), &pb.GetBankRequest{Name: "banks/nope"})
			return err
		}, codes.NotFound, "bank not found"},
		{"unknown entry", func() error {
			_, err := ts.bank.GetEntry(ctx(t), &pb.GetEntryRequest{Name: "banks/-/entries/987654"})
			return err
		}, codes.NotFound, "entry not found: banks/-/entries/987654"},
		{"remove unknown entry", func() error {
			_, err := ts.bank.DeleteEntry(ctx(t), &pb.DeleteEntryRequest{Name: "banks/b/entries/987654"})
			return err
		}, codes.NotFound, "entry not found"},
		{"malformed entry name", func() error {
			_, err := ts.bank.GetEntry(ctx(t), &pb.GetEntryRequest{Name: "banks/b/entries/../etc"})
			return err
		}, codes.InvalidArgument, "entry name"},
		{"duplicate bank", func() error {
			_, err := ts.bank.CreateBank(ctx(t), &pb.CreateBankRequest{BankId: "b"})
			return err
		}, codes.AlreadyExists, `bank already exists: "b"`},
		{"bad bank id", func() error {
			_, err := ts.bank.CreateBank(ctx(t), &pb.CreateBankRequest{BankId: "no spaces allowed"})
			return err
		}, codes.InvalidArgument, "bank_id"},
		{"malformed hash", func() error {
			_, err := ts.match.Match(ctx(t), &pb.MatchRequest{Query: &pb.MatchRequest_Hashes{Hashes: &pb.MediaHashes{Hashes: []*pb.Hash{{Type: "pdq", Hex: "xyz"}}}}})
			return err
		}, codes.InvalidArgument, "64 hex digits"},
		{"unknown hash type", func() error {
			_, err := ts.match.Match(ctx(t), &pb.MatchRequest{Query: &pb.MatchRequest_Hashes{Hashes: &pb.MediaHashes{Hashes: []*pb.Hash{{Type: "crc32", Hex: "00"}}}}})
			return err
		}, codes.InvalidArgument, "unknown hash type"},
		{"bad threshold", func() error {
			_, err := ts.match.Match(ctx(t), &pb.MatchRequest{
				Query:   &pb.MatchRequest_Hashes{Hashes: &pb.MediaHashes{Hashes: []*pb.Hash{{Type: "pdq", Hex: pdqHex}}}},
				Options: &pb.MatchOptions{Thresholds: map[string]int32{"pdq": 300}}})
			return err
		}, codes.InvalidArgument, "outside 0..256"},
		{"no query", func() error {
			_, err := ts.match.Match(ctx(t), &pb.MatchRequest{})
			return err
		}, codes.InvalidArgument, "media or hashes"},
	})
	// Nothing failed above left a partial entry behind.
	list, err := ts.bank.ListEntries(ctx(t), &pb.ListEntriesRequest{Parent: "banks/b"})
	if err != nil || len(list.GetEntries()) != 0 {
		t.Errorf("bank holds %d entries after failed adds (%v)", len(list.GetEntries()), err)
	}
	// Deleting a non-empty bank needs force.
	ts.addMedia("b", small, nil)
	if _, err := ts.bank.DeleteBank(ctx(t), &pb.DeleteBankRequest{Name: "banks/b"}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("delete non-empty bank: %v", err)
	}
	if resp, err := ts.bank.DeleteBank(ctx(t), &pb.DeleteBankRequest{Name: "banks/b", Force: true}); err != nil || resp.GetRemovedEntries() != 1 {
		t.Errorf("force delete: %v, %v", resp, err)
	}
}

func TestStreamingUpload(t *testing.T) {
	ts := startServer(t, "", Options{Media: media.Options{MaxBytes: 1 << 20, MaxVideoBytes: 1 << 20}})
	ts.createBank("b")
	data := encodePNG(t, readImage(t, "bridge-mods-aaa-orig.png"))
	send := func(header *pb.CreateEntryStreamHeader, chunks [][]byte) (*pb.CreateEntryStreamResponse, error) {
		stream, err := ts.bank.CreateEntryStream(ctx(t))
		if err != nil {
			return nil, err
		}
		if header != nil {
			if err := stream.Send(&pb.CreateEntryStreamRequest{Part: &pb.CreateEntryStreamRequest_Header{Header: header}}); err != nil {
				return stream.CloseAndRecv()
			}
		}
		for _, c := range chunks {
			if err := stream.Send(&pb.CreateEntryStreamRequest{Part: &pb.CreateEntryStreamRequest_Chunk{Chunk: c}}); err != nil {
				return stream.CloseAndRecv()
			}
		}
		return stream.CloseAndRecv()
	}
	var chunks [][]byte
	for off := 0; off < len(data); off += 7000 {
		chunks = append(chunks, data[off:min(off+7000, len(data))])
	}
	resp, err := send(&pb.CreateEntryStreamHeader{Parent: "banks/b", Entry: &pb.Entry{Labels: map[string]string{"via": "stream"}}}, chunks)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetEntry().GetLabels()["via"] != "stream" || resp.GetEntry().GetMedia().GetWidth() != 400 {
		t.Errorf("streamed entry = %v", resp.GetEntry())
	}
	ms, err := ts.match.MatchStream(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	ms.Send(&pb.MatchStreamRequest{Part: &pb.MatchStreamRequest_Header{Header: &pb.MatchStreamHeader{}}})
	for _, c := range chunks {
		ms.Send(&pb.MatchStreamRequest{Part: &pb.MatchStreamRequest_Chunk{Chunk: c}})
	}
	mr, err := ms.CloseAndRecv()
	if err != nil || pdqMatch(mr.GetResult(), resp.GetEntry().GetName()) == nil {
		t.Fatalf("MatchStream = %v, %v", mr, err)
	}

	for name, tc := range map[string]struct {
		header *pb.CreateEntryStreamHeader
		chunks [][]byte
		code   codes.Code
	}{
		"no header":         {nil, chunks, codes.InvalidArgument},
		"unknown bank":      {&pb.CreateEntryStreamHeader{Parent: "banks/nope"}, chunks, codes.NotFound},
		"bad parent":        {&pb.CreateEntryStreamHeader{Parent: "b"}, chunks, codes.InvalidArgument},
		"media in header":   {&pb.CreateEntryStreamHeader{Parent: "banks/b", Entry: &pb.Entry{Media: &pb.MediaHashes{}}}, chunks, codes.InvalidArgument},
		"declared too big":  {&pb.CreateEntryStreamHeader{Parent: "banks/b", SizeBytes: 2 << 20}, chunks, codes.ResourceExhausted},
		"sent too much":     {&pb.CreateEntryStreamHeader{Parent: "banks/b"}, [][]byte{make([]byte, 700<<10), make([]byte, 700<<10)}, codes.ResourceExhausted},
		"cut before pixels": {&pb.CreateEntryStreamHeader{Parent: "banks/b"}, [][]byte{chunks[0][:40]}, codes.InvalidArgument},
		// An upload that stops early holds a file cut short: a bank keeps
		// whole files (a cut copy matches them).
		"cut short": {&pb.CreateEntryStreamHeader{Parent: "banks/b"}, chunks[:len(chunks)/2], codes.InvalidArgument},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := send(tc.header, tc.chunks); status.Code(err) != tc.code {
				t.Errorf("got %v, want %v", err, tc.code)
			}
		})
	}
}

func TestMatchPrecomputedHashesAndQuality(t *testing.T) {
	ts := startServer(t, "", Options{})
	ts.createBank("partner")
	// A partner's hash list entry: PDQ only.
	h, err := ts.match.Hash(ctx(t), &pb.HashRequest{Media: fileBytes(t, "bridge-mods-aaa-orig.png"), Dihedral: true})
	if err != nil {
		t.Fatal(err)
	}
	var pdqHash *pb.Hash
	variants := 0
	for _, x := range h.GetMedia().GetHashes() {
		if x.GetType() == "pdq" && x.GetDihedral() == pb.DihedralVariant_DIHEDRAL_VARIANT_UNSPECIFIED {
			pdqHash = x
		}
		if x.GetDihedral() != pb.DihedralVariant_DIHEDRAL_VARIANT_UNSPECIFIED {
			variants++
		}
	}
	if pdqHash == nil || variants != 7 {
		t.Fatalf("Hash returned %v", h.GetMedia().GetHashes())
	}
	add, err := ts.bank.CreateEntry(ctx(t), &pb.CreateEntryRequest{Parent: "banks/partner",
		Entry: &pb.Entry{Media: &pb.MediaHashes{Hashes: []*pb.Hash{{Type: "pdq", Hex: pdqHash.GetHex()}}}}})
	if err != nil {
		t.Fatal(err)
	}
	res := ts.matchMedia(encodeJPEG(t, readImage(t, "bridge-mods-aaa-orig.png"), 70), nil)
	if pdqMatch(res, add.GetEntry().GetName()) == nil {
		t.Errorf("hash-list entry not matched by media: %v", res)
	}
	// A precomputed query hash matches too.
	mr, err := ts.match.Match(ctx(t), &pb.MatchRequest{Query: &pb.MatchRequest_Hashes{Hashes: &pb.MediaHashes{Hashes: []*pb.Hash{pdqHash}}}})
	if err != nil || pdqMatch(mr.GetResult(), add.GetEntry().GetName()) == nil || mr.GetResult().GetMatches()[0].GetDistance() != 0 {
		t.Errorf("hash query: %v, %v", mr, err)
	}
	// A flat image has PDQ quality 0: the answer says so instead of
	// silently matching nothing.
	flat := image.NewGray(image.Rect(0, 0, 100, 100))
	res = ts.matchMedia(encodePNG(t, flat), nil)
	if !res.GetLowQuality() || pdqMatch(res, add.GetEntry().GetName()) != nil {
		t.Errorf("flat image: low_quality=%v matches=%v", res.GetLowQuality(), res.GetMatches())
	}
	if res := ts.matchMedia(fileBytes(t, "synth-plasma.png"), nil); res.GetLowQuality() {
		t.Error("a good image was reported low quality")
	}
}

// TestConcurrentAddsAndMatches runs adds and matches at once (meant for
// -race): every acknowledged add is then listed and matchable.
func TestConcurrentAddsAndMatches(t *testing.T) {
	ts := startServer(t, "", Options{})
	ts.createBank("b")
	const writers, perWriter = 4, 25
	var wg sync.WaitGroup
	ids := make([][]string, writers)
	hexes := make([][]string, writers)
	errs := make(chan error, writers*perWriter*2)
	stop := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				// Distinct hashes with the look of real ones (random rows:
				// a hash of a few repeating rows is no evidence).
				sum := sha256.Sum256(fmt.Appendf(nil, "%d/%d", w, i))
				hex := fmt.Sprintf("%x", sum)
				resp, err := ts.bank.CreateEntry(context.Background(), &pb.CreateEntryRequest{Parent: "banks/b",
					Entry: &pb.Entry{Media: &pb.MediaHashes{Hashes: []*pb.Hash{{Type: "pdq", Hex: hex, Quality: proto.Int32(90)}}}}})
				if err != nil {
					errs <- err
					return
				}
				ids[w] = append(ids[w], resp.GetEntry().GetName())
				hexes[w] = append(hexes[w], hex)
			}
		}()
	}
	var readers sync.WaitGroup
	query := fileBytes(t, "synth-plasma.png")
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := ts.match.Match(context.Background(), &pb.MatchRequest{Query: &pb.MatchRequest_Media{Media: query}}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	list, err := ts.bank.ListEntries(ctx(t), &pb.ListEntriesRequest{Parent: "banks/b", PageSize: 1000})
	if err != nil || len(list.GetEntries()) != writers*perWriter {
		t.Fatalf("listed %d entries, want %d (%v)", len(list.GetEntries()), writers*perWriter, err)
	}
	for w := range writers {
		for i, hex := range hexes[w] {
			mr, err := ts.match.Match(ctx(t), &pb.MatchRequest{
				Query:   &pb.MatchRequest_Hashes{Hashes: &pb.MediaHashes{Hashes: []*pb.Hash{{Type: "pdq", Hex: hex}}}},
				Options: &pb.MatchOptions{Thresholds: map[string]int32{"pdq": 0}}})
			if err != nil || len(mr.GetResult().GetMatches()) != 1 || mr.GetResult().GetMatches()[0].GetEntry() != ids[w][i] {
				t.Fatalf("hash %s: %v, %v; want entry %s", hex, mr, err, ids[w][i])
			}
		}
	}
}

func TestHealthReflectionMetricsShutdown(t *testing.T) {
	m := NewMetrics()
	ts := startServer(t, "", Options{Metrics: m})
	resp, err := ts.health.Check(ctx(t), &healthpb.HealthCheckRequest{Service: "mediamatch.v1.MatchService"})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v", resp, err)
	}
	ts.matchMedia(fileBytes(t, "synth-plasma.png"), nil)
	ts.match.Hash(ctx(t), &pb.HashRequest{Media: []byte("junk")})

	hs := &http.Server{Handler: m.Handler()}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(lis)
	defer hs.Close()
	r, err := http.Get("http://" + lis.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	for _, want := range []string{
		`mediamatch_rpc_duration_seconds_count{code="OK",method="/mediamatch.v1.MatchService/Match"} 1`,
		`mediamatch_rpc_duration_seconds_count{code="InvalidArgument",method="/mediamatch.v1.MatchService/Hash"} 1`,
		`mediamatch_decode_failures_total{reason="invalid"} 1`,
		`mediamatch_index_hashes{type="pdq"} 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	// Server reflection lists the services, as grpcurl asks it to.
	rc, err := reflectionpb.NewServerReflectionClient(ts.conn).ServerReflectionInfo(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	rr, err := rc.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var services []string
	for _, s := range rr.GetListServicesResponse().GetService() {
		services = append(services, s.GetName())
	}
	for _, want := range []string{"mediamatch.v1.MatchService", "mediamatch.v1.BankService", "grpc.health.v1.Health"} {
		if !slices.Contains(services, want) {
			t.Errorf("reflection lists %v, missing %s", services, want)
		}
	}

	// Shutdown: health turns NOT_SERVING before the server stops.
	ts.srv.health.Shutdown()
	resp, err = ts.health.Check(ctx(t), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health during shutdown = %v, %v", resp, err)
	}
}
