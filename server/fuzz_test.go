package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/disintegration/imaging"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/index"
	"github.com/mediamatch/mediamatch/match"
	"github.com/mediamatch/mediamatch/media"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/bolt"
)

// The fuzz targets of this file feed the server's parsers of what a
// caller sends (request messages as proto bytes, resource names, page
// tokens, update masks, the authorization header, upload chunks) and hold
// them to two rules: every refusal goes through the one error table
// (toStatus) to a code that blames the caller, never Internal or Unknown;
// and what is accepted reads back the same when the server writes it out.

// wantCode fails unless err, through toStatus, has one of the codes.
func wantCode(t *testing.T, what string, err error, allowed ...codes.Code) {
	t.Helper()
	if c := status.Code(toStatus(err)); !slices.Contains(allowed, c) {
		t.Fatalf("%s: %v maps to %v, want one of %v", what, err, c, allowed)
	}
}

// fuzzMedia keeps uploads in the fuzz targets cheap: tiny budgets, so a
// decodable image is hashed in a millisecond.
var fuzzMedia = media.Options{MaxBytes: 1 << 16, MaxPixels: 1 << 12, MaxFrames: 8, MaxTotalPixels: 1 << 15}

// fuzzVideoHashes is a video entry's hashes: frames with and without content
// hashes, and an md5.
func fuzzVideoHashes(r *rand.Rand) *pb.MediaHashes {
	m := &pb.MediaHashes{Kind: pb.MediaKind_MEDIA_KIND_VIDEO, Format: "mp4", Width: 320, Height: 240, DurationSeconds: 3.5,
		Hashes: []*pb.Hash{{Type: "md5", Hex: randHex(r, 16)}}}
	for i := range 4 {
		fr := &pb.VideoFrameHash{Ts: float64(i), PdqHex: randHex(r, 32), Quality: proto.Int32(int32(60 + i))}
		if i%2 == 1 {
			fr.ContentPdqHex = randHex(r, 32)
		}
		m.Frames = append(m.Frames, fr)
	}
	return m
}

// withDihedral adds the seven other PDQ variants a Hash call returns.
func withDihedral(r *rand.Rand, m *pb.MediaHashes) *pb.MediaHashes {
	m = proto.Clone(m).(*pb.MediaHashes)
	for d := pb.DihedralVariant_DIHEDRAL_VARIANT_ROTATE_90; d <= pb.DihedralVariant_DIHEDRAL_VARIANT_FLIP_MINUS_1; d++ {
		m.Hashes = append(m.Hashes, &pb.Hash{Type: "pdq", Hex: randHex(r, 32), Quality: proto.Int32(90), Dihedral: d})
	}
	return m
}

func mustMarshal(f *testing.F, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// storedMedia is what an entry made from hashes holds of them.
type storedMedia struct {
	Kind          store.MediaKind
	Format        string
	Width, Height int
	Duration      float64
	Hashes        []hashing.Hash
	Regions       []hashing.RegionHash
	Frames        []store.Frame
	Keypoints     []store.Keypoint
}

func storedOf(e *store.Entry) storedMedia {
	s := storedMedia{Kind: e.Kind, Format: e.Format, Width: e.Width, Height: e.Height, Duration: e.Duration,
		Hashes: e.Hashes, Regions: e.Regions, Frames: e.Frames, Keypoints: e.Keypoints}
	if len(s.Hashes) == 0 {
		s.Hashes = nil
	}
	if len(s.Regions) == 0 {
		s.Regions = nil
	}
	if len(s.Frames) == 0 {
		s.Frames = nil
	}
	if len(s.Keypoints) == 0 {
		s.Keypoints = nil
	}
	return s
}

// FuzzMediaHashes feeds MediaHashes messages (what CreateEntry and Match
// take instead of media) to the server's check, then to the store's: a
// refusal is INVALID_ARGUMENT, and an entry made of accepted hashes reads
// back (GetEntry, full view) as a message that makes the same entry, the
// "get-then-create round-trips exactly" promise.
func FuzzMediaHashes(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 2))
	img := imageHashes(r)
	f.Add(mustMarshal(f, img))
	f.Add(mustMarshal(f, withDihedral(r, img)))
	f.Add(mustMarshal(f, fuzzVideoHashes(r)))
	f.Add(mustMarshal(f, &pb.MediaHashes{Hashes: []*pb.Hash{{Type: "pdq", Hex: strings.ToUpper(randHex(r, 32))}, {Type: "phash", Hex: randHex(r, 8), Quality: proto.Int32(50)}}}))
	f.Add(mustMarshal(f, &pb.MediaHashes{Hashes: []*pb.Hash{{Type: "phash", Hex: randHex(r, 8), Region: &pb.Region{Kind: pb.RegionKind_REGION_KIND_WINDOW, Width: 1, Height: 1}}}}))
	f.Add(mustMarshal(f, &pb.MediaHashes{Frames: []*pb.VideoFrameHash{{Ts: 2, PdqHex: randHex(r, 32)}, {Ts: 1, PdqHex: randHex(r, 32)}}}))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		var m pb.MediaHashes
		if proto.Unmarshal(data, &m) != nil {
			return // gRPC refuses it before any handler runs
		}
		p, err := parseMediaHashes(&m)
		if err != nil {
			wantCode(t, "parseMediaHashes", err, codes.InvalidArgument)
			return
		}
		if len(p.dihedral) != 0 && len(p.dihedral) != 8 {
			t.Fatalf("%d dihedral variants", len(p.dihedral))
		}
		e := &store.Entry{Bank: "fuzz"}
		if err := hashesInto(e, &m); err != nil {
			t.Fatalf("hashesInto refused what parseMediaHashes accepted: %v", err)
		}
		if err := store.ValidateEntry(e); err != nil {
			wantCode(t, "the store's check", err, codes.InvalidArgument)
			return
		}
		back := entryToProto(e, store.ViewFull).GetMedia()
		again := &store.Entry{Bank: "fuzz"}
		if err := hashesInto(again, back); err != nil {
			t.Fatalf("the entry as read back is refused: %v\n%v", err, back)
		}
		if got, want := storedOf(again), storedOf(e); !reflect.DeepEqual(got, want) {
			t.Fatalf("get-then-create changed the entry:\n got %+v\nwant %+v", got, want)
		}
	})
}

// fuzzServer is a real server over a real store holding one bank,
// "banks/fuzz", with an image entry and a video entry, whose hashes it
// returns for seeds. Only read-only handlers are called on it.
func fuzzServer(f *testing.F) (*Server, *pb.MediaHashes, *pb.MediaHashes) {
	st, err := bolt.Open(filepath.Join(f.TempDir(), "fuzz.db"), bolt.Options{})
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	r := rand.New(rand.NewPCG(3, 4))
	img, video := imageHashes(r), fuzzVideoHashes(r)
	if _, err := st.Commit(ctx, "fuzz", store.CreateBank(store.Bank{Name: "fuzz"})); err != nil {
		f.Fatal(err)
	}
	for _, m := range []*pb.MediaHashes{img, video} {
		e := &store.Entry{Bank: "fuzz"}
		if err := hashesInto(e, m); err != nil {
			f.Fatal(err)
		}
		if _, err := st.Commit(ctx, "fuzz", store.AddEntry(e)); err != nil {
			f.Fatal(err)
		}
	}
	logger := slog.New(slog.DiscardHandler)
	idx, err := index.New(ctx, st, index.Options{Logger: logger})
	if err != nil {
		f.Fatal(err)
	}
	srv, err := New(st, idx, Options{Logger: logger, Media: fuzzMedia, MaxConcurrentDecodes: 1})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		srv.Shutdown(time.Second)
		idx.Close()
		st.Close()
	})
	return srv, img, video
}

// FuzzMatchRequest feeds MatchRequest messages to the Match handler of a
// real server (authentication off): a refusal is the caller's fault
// (INVALID_ARGUMENT, NOT_FOUND for a bank, RESOURCE_EXHAUSTED for media
// over the budget), and a result echoes the query's hashes, keeps to the
// banks named, the limit and the tiers asked for. Media in a video
// container is left out: it would run ffmpeg, which FuzzDecode and the
// video tests cover.
func FuzzMatchRequest(f *testing.F) {
	srv, img, video := fuzzServer(f)
	hashes := func(m *pb.MediaHashes, o *pb.MatchOptions) []byte {
		return mustMarshal(f, &pb.MatchRequest{Query: &pb.MatchRequest_Hashes{Hashes: m}, Options: o})
	}
	f.Add(hashes(img, nil))
	f.Add(hashes(video, nil))
	f.Add(hashes(img, &pb.MatchOptions{Banks: []string{"banks/fuzz"}, IncludeReview: true, Limit: 1, Thresholds: map[string]int32{"pdq": 40},
		HashTypes: []string{"pdq", match.KeypointType}, MinQuality: proto.Int32(50), FalseMatchBudget: proto.Float64(0.5)}))
	f.Add(hashes(video, &pb.MatchOptions{VideoQueryMatchPercent: proto.Float64(50), VideoEntryMatchPercent: proto.Float64(101)}))
	f.Add(hashes(img, &pb.MatchOptions{Banks: []string{"banks/none"}, Dihedral: proto.Bool(false)}))
	f.Add(hashes(img, &pb.MatchOptions{HashTypes: []string{"nope"}, Thresholds: map[string]int32{"md5": 1}}))
	// An image within fuzzMedia's budget, so the whole media path runs.
	small := encodePNG(f, imaging.Resize(readImage(f, "bridge-mods-aaa-orig.png"), 64, 48, imaging.Box))
	f.Add(mustMarshal(f, &pb.MatchRequest{Query: &pb.MatchRequest_Media{Media: small}}))
	f.Add(mustMarshal(f, &pb.MatchRequest{Query: &pb.MatchRequest_Media{Media: []byte("GIF89a")}}))
	f.Add([]byte{})

	ctx := offline(context.Background())
	// The stored image matches itself, so the checks on results below
	// have results to check.
	if resp, err := srv.Match(ctx, &pb.MatchRequest{Query: &pb.MatchRequest_Hashes{Hashes: img}}); err != nil || len(resp.GetResult().GetMatches()) != 1 {
		f.Fatalf("the stored image matches %v, %v", resp.GetResult().GetMatches(), err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req pb.MatchRequest
		if proto.Unmarshal(data, &req) != nil {
			return
		}
		if m, ok := req.GetQuery().(*pb.MatchRequest_Media); ok && media.Sniff(m.Media).IsVideo() {
			return
		}
		resp, err := srv.Match(ctx, &req)
		if err != nil {
			wantCode(t, "Match", err, codes.InvalidArgument, codes.NotFound, codes.ResourceExhausted)
			return
		}
		res := resp.GetResult()
		if q, ok := req.GetQuery().(*pb.MatchRequest_Hashes); ok && !proto.Equal(res.GetQuery(), q.Hashes) {
			t.Fatalf("the result's query %v is not the request's %v", res.GetQuery(), q.Hashes)
		}
		opts := req.GetOptions()
		if l := opts.GetLimit(); l > 0 && len(res.GetMatches()) > int(l) {
			t.Fatalf("%d matches over the limit of %d", len(res.GetMatches()), l)
		}
		for _, m := range res.GetMatches() {
			bank, _, err := parseEntryName(m.GetEntry())
			if err != nil || bankName(bank) != m.GetBank() {
				t.Fatalf("match names entry %q of bank %q (%v)", m.GetEntry(), m.GetBank(), err)
			}
			if len(opts.GetBanks()) > 0 && !slices.Contains(opts.GetBanks(), m.GetBank()) {
				t.Fatalf("a match in %s, not among the banks named %v", m.GetBank(), opts.GetBanks())
			}
			if len(m.GetEvidence()) == 0 || !(m.GetTier() == pb.MatchTier_MATCH_TIER_MATCH ||
				m.GetTier() == pb.MatchTier_MATCH_TIER_REVIEW && opts.GetIncludeReview()) {
				t.Fatalf("match %v: tier %v with %d evidence (review asked: %v)", m.GetEntry(), m.GetTier(), len(m.GetEvidence()), opts.GetIncludeReview())
			}
		}
	})
}

// FuzzResourceNames feeds names to the parsers of bank and entry names:
// a refusal is INVALID_ARGUMENT; an accepted name is the canonical one the
// server writes for what it names, and the authorization table's reading
// of its bank (bankOf) agrees with the handler's, so a limited token is
// checked against the bank the call really uses.
func FuzzResourceNames(f *testing.F) {
	for _, s := range []string{"banks/tvec", "banks/-", "banks/tvec/entries/17", "banks/-/entries/1", "banks/a/entries/007",
		"banks/a/entries/0", "banks/a/entries/18446744073709551616", "banks//entries/1", "banks/a/b", "banks/a/entries/1/entries/2",
		"banks/.x", "tokens/x", "banks/" + strings.Repeat("x", store.MaxBankNameLen+1), "banks/a/entries/+1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		for _, wildcard := range []bool{false, true} {
			id, err := parseBankName(name, wildcard)
			if err != nil {
				wantCode(t, "parseBankName", err, codes.InvalidArgument)
				continue
			}
			if bankName(id) != name || bankOf(name) != id || (id == anyBank) != (wildcard && name == "banks/-") {
				t.Fatalf("parseBankName(%q, %v) = %q; bankOf says %q", name, wildcard, id, bankOf(name))
			}
			if id != anyBank && !store.ValidBankName(id) {
				t.Fatalf("bank ID %q accepted", id)
			}
		}
		bank, id, err := parseEntryName(name)
		if err != nil {
			wantCode(t, "parseEntryName", err, codes.InvalidArgument)
			return
		}
		if id == 0 || entryName(bank, id) != name || bankOf(name) != bank {
			t.Fatalf("parseEntryName(%q) = %q, %d; bankOf says %q", name, bank, id, bankOf(name))
		}
		if bank != anyBank && !store.ValidBankName(bank) {
			t.Fatalf("bank ID %q accepted in an entry name", bank)
		}
		if _, err := parseBankName(name, true); err == nil {
			t.Fatalf("%q is both a bank and an entry name", name)
		}
	})
}

// FuzzPageToken feeds page tokens to their parsers: a refusal is
// INVALID_ARGUMENT; an accepted token continues only the list it was made
// for (another kind or parent refuses it); and a token the server makes
// gives back the position it holds.
func FuzzPageToken(f *testing.F) {
	f.Add(pageToken("banks", "", "tvec"), "banks", "", "tvec")
	f.Add(pageToken("entries/1", "banks/-", "17"), "entries/1", "banks/-", "17")
	f.Add(pageToken("changes/0", "banks/a", "18446744073709551615"), "changes/0", "banks/a", "18446744073709551615")
	f.Add("bm90IGEgdG9rZW4", "tokens", "", "x")
	f.Add("YQBiAGM\n", "a", "b", "c")
	f.Add("", "audit", "", "")
	f.Fuzz(func(t *testing.T, token, kind, parent, after string) {
		// The server's kinds and parents (valid bank names) hold no NUL,
		// nor do the positions it writes (names and numbers).
		if strings.Contains(kind+parent+after, "\x00") {
			return
		}
		pos, err := parsePageToken(token, kind, parent)
		switch {
		case err != nil:
			wantCode(t, "parsePageToken", err, codes.InvalidArgument)
		case token == "" && pos != "":
			t.Fatalf("no token gave position %q", pos)
		case token != "":
			if pos == "" {
				t.Fatalf("token %q gave no position", token)
			}
			if _, err := parsePageToken(token, kind+"x", parent); err == nil {
				t.Fatalf("token %q of list %q continues list %q", token, kind, kind+"x")
			}
			if _, err := parsePageToken(token, kind, parent+"x"); err == nil {
				t.Fatalf("token %q of parent %q continues parent %q", token, parent, parent+"x")
			}
			if again, err := parsePageToken(pageToken(kind, parent, pos), kind, parent); err != nil || again != pos {
				t.Fatalf("re-made token gives %q, %v; want %q", again, err, pos)
			}
		}
		n, err := parseUintToken(token, kind, parent)
		if err != nil {
			wantCode(t, "parseUintToken", err, codes.InvalidArgument)
		} else if token != "" {
			if again, err := parseUintToken(pageToken(kind, parent, strconv.FormatUint(n, 10)), kind, parent); err != nil || again != n {
				t.Fatalf("re-made numeric token gives %d, %v; want %d", again, err, n)
			}
		}
		if after != "" {
			if got, err := parsePageToken(pageToken(kind, parent, after), kind, parent); err != nil || got != after {
				t.Fatalf("pageToken(%q, %q, %q) parses to %q, %v", kind, parent, after, got, err)
			}
		}
	})
}

// dryStore stands in for the store behind the write handlers, so a fuzz
// target can call them thousands of times a second: Commit checks each
// operation with the store package's own checks, those every backend runs
// (ValidateBank, ValidateEntry, ValidateToken, ApplyBankUpdate,
// ApplyEntryUpdate), against one bank and one entry, and answers as if it
// had written it. Any other method or operation panics through the nil
// Store, which the fuzzer reports.
type dryStore struct {
	store.Store
	bank  store.Bank
	entry store.Entry
	// changed is what the last update changed, as a change record's
	// fields.
	changed []string
}

func (d *dryStore) Bank(_ context.Context, name string) (store.Bank, error) {
	if name != d.bank.Name {
		return store.Bank{}, fmt.Errorf("%w: %q", store.ErrBankNotFound, name)
	}
	return d.bank, nil
}

func (d *dryStore) Entry(_ context.Context, id uint64, _ store.View) (*store.Entry, error) {
	if id != d.entry.ID {
		return nil, fmt.Errorf("%w: %d", store.ErrEntryNotFound, id)
	}
	e := d.entry
	return &e, nil
}

func (d *dryStore) Commit(_ context.Context, actor string, ops ...store.Op) (store.CommitResult, error) {
	if err := store.ValidateActor(actor); err != nil {
		return store.CommitResult{}, err
	}
	var res store.CommitResult
	for _, op := range ops {
		var r store.OpResult
		var err error
		switch op.Kind {
		case store.OpCreateBank:
			b := op.Bank
			if err = store.ValidateBank(&b); err == nil && b.Name == d.bank.Name {
				err = fmt.Errorf("%w: %q", store.ErrBankExists, b.Name)
			}
			r.Bank = &b
		case store.OpUpdateBank:
			b := d.bank
			if op.Bank.Name != b.Name {
				err = fmt.Errorf("%w: %q", store.ErrBankNotFound, op.Bank.Name)
				break
			}
			d.changed, err = store.ApplyBankUpdate(&b, &op.Bank, op.Fields)
			r.Bank = &b
		case store.OpAddEntry:
			e := *op.Entry
			if err = store.ValidateEntry(&e); err == nil && e.Bank != d.bank.Name {
				err = fmt.Errorf("%w: %q", store.ErrBankNotFound, e.Bank)
			}
			e.ID = d.entry.ID + 1
			r.Entry = &e
		case store.OpUpdateEntry:
			e := d.entry
			if op.ID != e.ID {
				err = fmt.Errorf("%w: %d", store.ErrEntryNotFound, op.ID)
				break
			}
			d.changed, err = store.ApplyEntryUpdate(&e, op.Entry, op.Fields)
			r.Entry = &e
		case store.OpCreateToken:
			tok := *op.Token
			err = store.ValidateToken(&tok)
			r.Token = &tok
		case store.OpRevokeToken:
			if op.Token.Name != "ingest" {
				err = fmt.Errorf("%w: %q", store.ErrTokenNotFound, op.Token.Name)
			}
			r.Token = &store.Token{Name: op.Token.Name, Role: store.RoleCurator}
		case store.OpDeleteBank:
			switch {
			case op.Bank.Name != d.bank.Name:
				err = fmt.Errorf("%w: %q", store.ErrBankNotFound, op.Bank.Name)
			case !op.Force:
				err = fmt.Errorf("%w: %q", store.ErrBankNotEmpty, op.Bank.Name)
			}
			r.Bank, r.Removed = &d.bank, 1
		case store.OpRemoveEntry:
			if op.ID != d.entry.ID {
				err = fmt.Errorf("%w: %d", store.ErrEntryNotFound, op.ID)
			}
			r.Entry = &d.entry
		default:
			panic(fmt.Sprintf("dryStore: operation %d", op.Kind))
		}
		if err != nil {
			return store.CommitResult{}, err
		}
		res.Results = append(res.Results, r)
	}
	return res, nil
}

// Requests FuzzWriteRequests sends, by its first argument.
var fuzzWriteMethods = []string{"CreateBank", "UpdateBank", "DeleteBank", "CreateEntry", "UpdateEntry", "DeleteEntry", "CreateToken", "RevokeToken"}

// FuzzWriteRequests feeds the requests of the write handlers (banks,
// entries and tokens: creation, updates with their masks, labels and
// thresholds, deletion) as proto bytes to the handlers, over dryStore: a
// refusal is the caller's fault (INVALID_ARGUMENT, NOT_FOUND,
// ALREADY_EXISTS, FAILED_PRECONDITION for a bank not empty), never
// INTERNAL; an update's change, written as the
// update_mask partners read in ListChanges, names the same fields again;
// and a new token's secret is one the server would accept.
func FuzzWriteRequests(f *testing.F) {
	r := rand.New(rand.NewPCG(5, 6))
	add := func(method string, m proto.Message) {
		f.Add(uint8(slices.Index(fuzzWriteMethods, method)), mustMarshal(f, m))
	}
	add("CreateBank", &pb.CreateBankRequest{BankId: "new", Bank: &pb.Bank{Description: "d", Labels: map[string]string{"k": "v"},
		Thresholds: map[string]int32{"pdq": 20}, Enabled: proto.Bool(false), FalseMatchBudget: proto.Float64(1e-6)}})
	add("CreateBank", &pb.CreateBankRequest{BankId: "fuzz", Bank: &pb.Bank{Thresholds: map[string]int32{"sha256": 1}}})
	add("UpdateBank", &pb.UpdateBankRequest{Bank: &pb.Bank{Name: "banks/fuzz", Labels: map[string]string{"b c": "3"}},
		UpdateMask: mask("labels.`b c`", "labels.a", "description", "create_time")})
	add("UpdateBank", &pb.UpdateBankRequest{Bank: &pb.Bank{Name: "banks/fuzz", Thresholds: map[string]int32{"pdq": 10}, Enabled: proto.Bool(true)}})
	add("UpdateBank", &pb.UpdateBankRequest{Bank: &pb.Bank{Name: "banks/fuzz"}, UpdateMask: mask("*")})
	add("UpdateBank", &pb.UpdateBankRequest{Bank: &pb.Bank{Name: "banks/fuzz"}, UpdateMask: mask("labels.`a``b`", "thresholds.phash", "name")})
	add("CreateEntry", &pb.CreateEntryRequest{Parent: "banks/fuzz", Entry: &pb.Entry{Media: imageHashes(r), Labels: map[string]string{"k": "v"},
		Note: "n", Source: &pb.Source{Origin: "o", ExternalId: "x", Uri: "https://example.org/x"}}, View: pb.EntryView_ENTRY_VIEW_FULL})
	add("CreateEntry", &pb.CreateEntryRequest{Parent: "banks/other", Entry: &pb.Entry{Media: fuzzVideoHashes(r)}})
	add("UpdateEntry", &pb.UpdateEntryRequest{Entry: &pb.Entry{Name: "banks/fuzz/entries/7", Labels: map[string]string{"x.y": "1"}, Note: "new"}})
	add("UpdateEntry", &pb.UpdateEntryRequest{Entry: &pb.Entry{Name: "banks/-/entries/7"}, UpdateMask: mask("labels.k", "note")})
	add("UpdateEntry", &pb.UpdateEntryRequest{Entry: &pb.Entry{Name: "banks/fuzz/entries/8"}, UpdateMask: mask("media")})
	add("DeleteBank", &pb.DeleteBankRequest{Name: "banks/fuzz"})
	add("DeleteBank", &pb.DeleteBankRequest{Name: "banks/fuzz", Force: true})
	add("DeleteEntry", &pb.DeleteEntryRequest{Name: "banks/-/entries/7"})
	add("DeleteEntry", &pb.DeleteEntryRequest{Name: "banks/other/entries/7"})
	add("RevokeToken", &pb.RevokeTokenRequest{Name: "tokens/ingest"})
	add("RevokeToken", &pb.RevokeTokenRequest{Name: "tokens/other"})
	add("RevokeToken", &pb.RevokeTokenRequest{Name: "ingest"})
	add("CreateToken", &pb.CreateTokenRequest{TokenId: "ingest", Token: &pb.Token{Role: pb.Role_ROLE_CURATOR, Banks: []string{"banks/fuzz"},
		ExpireTime: timestamppb.New(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))}})
	add("CreateToken", &pb.CreateTokenRequest{TokenId: "partner", Token: &pb.Token{Role: pb.Role_ROLE_PARTNER, CertificateSubject: "partner.example.org"}})
	add("CreateToken", &pb.CreateTokenRequest{TokenId: "root", Token: &pb.Token{Role: pb.Role_ROLE_ADMIN, Banks: []string{"banks/fuzz"}}})

	bank := store.Bank{Name: "fuzz", Description: "bank", Labels: map[string]string{"a": "1", "b c": "2"}, Thresholds: map[string]int{"pdq": 31}}
	entry := store.Entry{ID: 7, Bank: "fuzz", Kind: store.KindImage, Labels: map[string]string{"k": "v"}, Note: "note",
		Hashes: []hashing.Hash{{Type: "pdq", Bytes: bytes.Repeat([]byte{0x5a}, 32), Quality: 90}}}
	ctx := offline(context.Background())
	f.Fuzz(func(t *testing.T, method uint8, data []byte) {
		d := &dryStore{bank: bank, entry: entry}
		srv := &Server{st: d, opts: Options{Media: fuzzMedia}, log: slog.New(slog.DiscardHandler), decodeSlots: make(chan struct{}, 1)}
		var err error
		var changedMask []string // the change's fields as ListChanges writes them
		var rules maskRules
		switch fuzzWriteMethods[int(method)%len(fuzzWriteMethods)] {
		case "CreateBank":
			var req pb.CreateBankRequest
			if proto.Unmarshal(data, &req) != nil {
				return
			}
			var resp *pb.CreateBankResponse
			if resp, err = srv.CreateBank(ctx, &req); err == nil && resp.GetBank().GetName() != bankName(req.GetBankId()) {
				t.Fatalf("created bank %q for bank_id %q", resp.GetBank().GetName(), req.GetBankId())
			}
		case "UpdateBank":
			var req pb.UpdateBankRequest
			if proto.Unmarshal(data, &req) != nil {
				return
			}
			if _, err = srv.UpdateBank(ctx, &req); err == nil {
				changedMask, rules = maskFromStore(d.changed), bankMask
			}
		case "CreateEntry":
			var req pb.CreateEntryRequest
			if proto.Unmarshal(data, &req) != nil || len(req.GetMedia()) > 0 && req.GetEntry().GetMedia() == nil {
				return // media bytes are FuzzMatchRequest's: the same hashMedia
			}
			_, err = srv.CreateEntry(ctx, &req)
		case "UpdateEntry":
			var req pb.UpdateEntryRequest
			if proto.Unmarshal(data, &req) != nil {
				return
			}
			if _, err = srv.UpdateEntry(ctx, &req); err == nil {
				changedMask, rules = maskFromStore(d.changed), entryMask
			}
		case "DeleteBank":
			var req pb.DeleteBankRequest
			if proto.Unmarshal(data, &req) != nil {
				return
			}
			_, err = srv.DeleteBank(ctx, &req)
		case "DeleteEntry":
			var req pb.DeleteEntryRequest
			if proto.Unmarshal(data, &req) != nil {
				return
			}
			_, err = srv.DeleteEntry(ctx, &req)
		case "RevokeToken":
			var req pb.RevokeTokenRequest
			if proto.Unmarshal(data, &req) != nil {
				return
			}
			var resp *pb.RevokeTokenResponse
			if resp, err = srv.RevokeToken(ctx, &req); err == nil && resp.GetToken().GetName() != req.GetName() {
				t.Fatalf("revoked %q for %q", resp.GetToken().GetName(), req.GetName())
			}
		case "CreateToken":
			var req pb.CreateTokenRequest
			if proto.Unmarshal(data, &req) != nil {
				return
			}
			var resp *pb.CreateTokenResponse
			if resp, err = srv.CreateToken(ctx, &req); err == nil {
				tok := resp.GetToken()
				secret := resp.GetSecret()
				if tok.GetName() != tokensCollection+req.GetTokenId() || (secret == "") != (tok.GetCertificateSubject() != "") {
					t.Fatalf("token %v with secret %q for token_id %q", tok, secret, req.GetTokenId())
				}
				if secret != "" {
					got, ok, berr := bearer(metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+secret)))
					if !ok || berr != nil || got != secret || !strings.HasPrefix(secret, SecretPrefix) {
						t.Fatalf("secret %q reads back as %q, %v, %v", secret, got, ok, berr)
					}
				}
			}
		}
		if err != nil {
			wantCode(t, "the handler", err, codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.FailedPrecondition)
			return
		}
		if len(d.changed) > 0 {
			again, err := rules.storePaths(changedMask, nil)
			if err != nil || !slices.Equal(again, d.changed) {
				t.Fatalf("change fields %q, written as mask %q, read back as %q, %v", d.changed, changedMask, again, err)
			}
		}
	})
}

// FuzzBearer feeds authorization headers to bearer: a refusal is
// UNAUTHENTICATED; an accepted secret is what follows the scheme, without
// the spaces around it, and reads back the same from its canonical header.
func FuzzBearer(f *testing.F) {
	for _, h := range []string{"bearer mmt_x", "BEARER mmt_x", "  Bearer   mmt_x  ", "Basic dXNlcjpwYXNz", "mmt_x", "bearer", "bearer   ", "bearer\tmmt_x", "bearer a b"} {
		f.Add(h, "", false)
	}
	f.Add("bearer mmt_x", "bearer mmt_y", true)
	f.Fuzz(func(t *testing.T, header, second string, two bool) {
		md := metadata.Pairs("authorization", header)
		if two {
			md.Append("authorization", second)
		}
		secret, ok, err := bearer(metadata.NewIncomingContext(context.Background(), md))
		if err != nil {
			wantCode(t, "bearer", err, codes.Unauthenticated)
			if ok || secret != "" {
				t.Fatalf("refused header %q gave %q, %v", header, secret, ok)
			}
			return
		}
		if !ok || two || secret == "" || secret != strings.TrimSpace(secret) || !strings.HasSuffix(strings.TrimSpace(header), secret) ||
			!strings.EqualFold(strings.Fields(header)[0], "bearer") {
			t.Fatalf("header %q (two: %v) gave secret %q, %v", header, two, secret, ok)
		}
		again, ok, err := bearer(metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "bearer "+secret)))
		if err != nil || !ok || again != secret {
			t.Fatalf("secret %q reads back as %q, %v, %v", secret, again, ok, err)
		}
	})
}

// FuzzUploadChunks feeds upload streams (an announced size and the sizes
// of the chunks after the header) to receiveChunks, and checks it against
// its rule, with a budget of uploads in flight that always has room: an
// upload within the limit of its type, announced at a size within the
// largest limit that it does not exceed (or none), in at most
// maxStreamChunks messages, is received exactly; every other is refused,
// INVALID_ARGUMENT or RESOURCE_EXHAUSTED, and a refusal over a limit is
// RESOURCE_EXHAUSTED.
func FuzzUploadChunks(f *testing.F) {
	f.Add(int64(0), []byte{1, 2, 3}, uint32(0))
	f.Add(int64(600), []byte{200, 200, 200}, uint32(0))
	f.Add(int64(500), []byte{200, 200, 200}, uint32(0))
	f.Add(int64(-1), []byte{}, uint32(0))
	f.Add(int64(1<<20), []byte{1}, uint32(0))
	f.Add(int64(0), []byte{255, 255, 255, 255}, uint32(0))
	f.Add(int64(0), []byte{}, uint32(maxStreamChunks))
	f.Add(int64(0), []byte{}, uint32(maxStreamChunks+1))
	srv := &Server{opts: Options{Media: media.Options{MaxBytes: 500, MaxVideoBytes: 1000}, MaxUploadBytes: 1 << 30,
		UploadTimeout: time.Minute, StreamIdleTimeout: time.Minute}, uploads: newMemoryBudget(1 << 30)}
	images, videos := srv.uploadLimits()
	f.Fuzz(func(t *testing.T, declared int64, sizes []byte, empties uint32) {
		empties %= 2 * maxStreamChunks
		var want []byte
		sent := 0
		next := func() ([]byte, error) {
			if sent >= len(sizes)+int(empties) {
				return nil, io.EOF
			}
			var chunk []byte
			if sent < len(sizes) {
				chunk = bytes.Repeat([]byte{byte(sent)}, int(sizes[sent]))
				want = append(want, chunk...)
			}
			sent++
			return chunk, nil
		}
		total := int64(0)
		for _, s := range sizes {
			total += int64(s)
		}
		chunks := len(sizes) + int(empties)
		got, release, err := srv.receiveChunks(context.Background(), declared, next)
		limit := srv.typeLimit([][]byte{want}, images, videos)
		fits := declared <= max(images, videos) && total <= limit
		ok := declared >= 0 && fits && chunks <= maxStreamChunks && (declared == 0 || total <= declared)
		if err == nil {
			release()
			if !ok || !bytes.Equal(got, want) {
				t.Fatalf("declared %d, %d bytes in %d chunks: received %d bytes, want a refusal or %d", declared, total, chunks, len(got), len(want))
			}
			return
		}
		if ok {
			t.Fatalf("declared %d, %d bytes in %d chunks (limit %d): refused: %v", declared, total, chunks, limit, err)
		}
		switch status.Code(toStatus(err)) {
		case codes.ResourceExhausted, codes.InvalidArgument:
		default:
			t.Fatalf("error %v maps to %v", err, status.Code(toStatus(err)))
		}
		if !fits && declared >= 0 && status.Code(toStatus(err)) != codes.ResourceExhausted && (declared == 0 || total <= declared) && chunks <= maxStreamChunks {
			t.Fatalf("over a limit but %v: %v", status.Code(toStatus(err)), err)
		}
	})
}

// FuzzMaskPath feeds update paths to parseMaskPath: a refusal is
// INVALID_ARGUMENT; an accepted path, written again with its key quoted as
// QuoteMaskKey quotes it (as the CLI and ListChanges write paths), parses
// to the same field and key; and any key, so quoted, parses back to itself.
func FuzzMaskPath(f *testing.F) {
	for _, p := range []string{"labels", "labels.k", "labels.`a.b`", "labels.`a``b`", "labels.`", "labels.``", "labels.```", "thresholds.pdq", "labels.a.b", "*", "."} {
		f.Add(p, "k")
	}
	f.Add("labels", "`")
	f.Add("labels", "a b")
	f.Fuzz(func(t *testing.T, path, key string) {
		mp, err := parseMaskPath(path)
		if err != nil {
			wantCode(t, "parseMaskPath", err, codes.InvalidArgument)
		} else if mp.keyed {
			again, err := parseMaskPath(mp.field + "." + QuoteMaskKey(mp.key))
			if err != nil || again != mp {
				t.Fatalf("%q parses to %+v; written again, to %+v, %v", path, mp, again, err)
			}
		} else if mp.field != path {
			t.Fatalf("%q parses to field %q", path, mp.field)
		}
		if key == "" || strings.Contains(path, ".") {
			return
		}
		if got, err := parseMaskPath(path + "." + QuoteMaskKey(key)); err != nil || got != (maskPath{field: path, key: key, keyed: true}) {
			t.Fatalf("key %q of %q quoted as %q parses to %+v, %v", key, path, QuoteMaskKey(key), got, err)
		}
	})
}
