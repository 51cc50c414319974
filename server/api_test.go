package server

import (
	"context"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/mediamatch/mediamatch/match"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/store"
)

// The tests in this file hold the API to what its proto comments promise,
// over real gRPC against a real store: one table per RPC.

type apiCase struct {
	name string
	call func() error
	code codes.Code
	msg  string // part of the message a person reads; "" for any
}

func runCases(t *testing.T, cases []apiCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			st := status.Convert(err)
			if st.Code() != tc.code || !strings.Contains(st.Message(), tc.msg) {
				t.Errorf("got %v %q, want %v containing %q", st.Code(), st.Message(), tc.code, tc.msg)
			}
			if err != nil && st.Code() != codes.ResourceExhausted {
				// Every error carries an ErrorInfo with a reason (AIP-193).
				found := false
				for _, d := range st.Details() {
					if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() != "" && info.GetDomain() == errorDomain {
						found = true
					}
				}
				if !found && st.Code() != codes.Internal {
					t.Errorf("error %v has no ErrorInfo", err)
				}
			}
		})
	}
}

func mask(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }

// randHex returns n random bytes in hex.
func randHex(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return fmt.Sprintf("%x", b)
}

// pdqEntry is an entry made of one random PDQ hash.
func pdqEntry(r *rand.Rand) *pb.Entry {
	return &pb.Entry{Media: &pb.MediaHashes{Hashes: []*pb.Hash{{Type: "pdq", Hex: randHex(r, 32), Quality: proto.Int32(90)}}}}
}

func (ts *testServer) createEntry(bank string, e *pb.Entry) *pb.Entry {
	ts.t.Helper()
	resp, err := ts.bank.CreateEntry(ctx(ts.t), &pb.CreateEntryRequest{Parent: "banks/" + bank, Entry: e, View: pb.EntryView_ENTRY_VIEW_FULL})
	if err != nil {
		ts.t.Fatal(err)
	}
	return resp.GetEntry()
}

func (ts *testServer) getBank(name string) *pb.Bank {
	ts.t.Helper()
	resp, err := ts.bank.GetBank(ctx(ts.t), &pb.GetBankRequest{Name: "banks/" + name})
	if err != nil {
		ts.t.Fatal(err)
	}
	return resp.GetBank()
}

func (ts *testServer) changes(parent string, after int64) []*pb.Change {
	ts.t.Helper()
	var out []*pb.Change
	token := ""
	for {
		resp, err := ts.bank.ListChanges(ctx(ts.t), &pb.ListChangesRequest{Parent: parent, AfterRevision: after, PageToken: token})
		if err != nil {
			ts.t.Fatal(err)
		}
		out = append(out, resp.GetChanges()...)
		if token = resp.GetNextPageToken(); token == "" {
			return out
		}
	}
}

func TestAPICreateBank(t *testing.T) {
	ts := startServer(t, "", Options{})
	create := func(id string, b *pb.Bank) func() error {
		return func() error {
			_, err := ts.bank.CreateBank(ctx(t), &pb.CreateBankRequest{BankId: id, Bank: b})
			return err
		}
	}
	runCases(t, []apiCase{
		{"a bank", create("tvec", &pb.Bank{Description: "d", Labels: map[string]string{"sev": "high"}, Thresholds: map[string]int32{"pdq": 20}}), codes.OK, ""},
		{"the same ID again", create("tvec", nil), codes.AlreadyExists, `bank already exists: "tvec"`},
		{"no ID", create("", nil), codes.InvalidArgument, "bank_id is required"},
		{"ID ..", create("..", nil), codes.InvalidArgument, "bank_id"},
		{"ID -rf", create("-rf", nil), codes.InvalidArgument, "bank_id"},
		{"ID -", create("-", nil), codes.InvalidArgument, "bank_id"},
		{"ID with a slash", create("a/b", nil), codes.InvalidArgument, "bank_id"},
		{"ID of 65 characters", create(strings.Repeat("x", 65), nil), codes.InvalidArgument, "bank_id"},
		{"ID of 64 characters", create(strings.Repeat("x", 64), nil), codes.OK, ""},
		{"ID with . _ -", create("a.b_c-d", nil), codes.OK, ""},
		{"a threshold for a digest", create("d1", &pb.Bank{Thresholds: map[string]int32{"md5": 1}}), codes.InvalidArgument, "takes no threshold"},
		{"a threshold over the bits", create("d2", &pb.Bank{Thresholds: map[string]int32{"phash": 65}}), codes.InvalidArgument, "outside 0..64"},
		{"an unknown hash type", create("d3", &pb.Bank{Thresholds: map[string]int32{"ahash": 5}}), codes.InvalidArgument, "unknown hash type"},
		{"65 labels", create("d4", &pb.Bank{Labels: func() map[string]string {
			m := map[string]string{}
			for i := range 65 {
				m[fmt.Sprint(i)] = "v"
			}
			return m
		}()}), codes.InvalidArgument, "65 labels"},
		{"a long description", create("d5", &pb.Bank{Description: strings.Repeat("x", 4097)}), codes.InvalidArgument, "description"},
		{"name and output-only fields ignored", create("given", &pb.Bank{Name: "banks/other", EntryCount: 9, Revision: 99}), codes.OK, ""},
	})
	b := ts.getBank("tvec")
	if b.GetName() != "banks/tvec" || b.GetDescription() != "d" || b.GetLabels()["sev"] != "high" || !b.GetEnabled() || b.GetThresholds()["pdq"] != 20 ||
		b.GetEntryCount() != 0 || b.GetCreateTime() == nil || !proto.Equal(b.GetCreateTime(), b.GetUpdateTime()) || b.GetRevision() != 1 || b.GetCreator() == "" {
		t.Errorf("created bank %v", b)
	}
	if g := ts.getBank("given"); g.GetName() != "banks/given" || g.GetEntryCount() != 0 {
		t.Errorf("bank created with output-only fields set: %v", g)
	}
	resp, err := ts.bank.CreateBank(ctx(t), &pb.CreateBankRequest{BankId: "off", Bank: &pb.Bank{Enabled: proto.Bool(false)}})
	if err != nil || resp.GetBank().GetEnabled() || resp.GetBank().Enabled == nil {
		t.Errorf("a disabled bank: %v, %v", resp, err)
	}
}

func TestAPIGetAndListBanks(t *testing.T) {
	ts := startServer(t, "", Options{})
	ids := []string{"c", "A", "b", "a", "z.9"}
	for _, id := range ids {
		ts.createBank(id)
	}
	r := rand.New(rand.NewPCG(1, 1))
	ts.createEntry("b", pdqEntry(r))
	ts.createEntry("b", pdqEntry(r))
	get := func(name string) func() error {
		return func() error {
			_, err := ts.bank.GetBank(ctx(t), &pb.GetBankRequest{Name: name})
			return err
		}
	}
	list := func(size int32, token string) func() error {
		return func() error {
			_, err := ts.bank.ListBanks(ctx(t), &pb.ListBanksRequest{PageSize: size, PageToken: token})
			return err
		}
	}
	runCases(t, []apiCase{
		{"a bank", get("banks/b"), codes.OK, ""},
		{"an unknown bank", get("banks/nope"), codes.NotFound, `bank not found: "nope"`},
		{"an empty name", get(""), codes.InvalidArgument, "want banks/{bank}"},
		{"an ID, not a name", get("b"), codes.InvalidArgument, "want banks/{bank}"},
		{"the wildcard", get("banks/-"), codes.InvalidArgument, "bank ID"},
		{"an entry's name", get("banks/b/entries/1"), codes.InvalidArgument, "want banks/{bank}"},
		{"negative page size", list(-1, ""), codes.InvalidArgument, "negative page_size"},
		{"a token from elsewhere", list(2, "bm9wZQ"), codes.InvalidArgument, "page_token"},
		{"a page size over 1000", list(5000, ""), codes.OK, ""},
	})
	if b := ts.getBank("b"); b.GetEntryCount() != 2 {
		t.Errorf("entry_count %d, want 2", b.GetEntryCount())
	}
	var names []string
	token := ""
	pages := 0
	for {
		resp, err := ts.bank.ListBanks(ctx(t), &pb.ListBanksRequest{PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(resp.GetBanks()) > 2 {
			t.Errorf("page of %d banks for page_size 2", len(resp.GetBanks()))
		}
		for _, b := range resp.GetBanks() {
			names = append(names, b.GetName())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if want := []string{"banks/A", "banks/a", "banks/b", "banks/c", "banks/z.9"}; !slices.Equal(names, want) || pages != 3 {
		t.Errorf("listed %v in %d pages, want %v in 3", names, pages, want)
	}
	// A ListBanks token does not continue ListEntries.
	resp, _ := ts.bank.ListBanks(ctx(t), &pb.ListBanksRequest{PageSize: 1})
	if _, err := ts.bank.ListEntries(ctx(t), &pb.ListEntriesRequest{Parent: "banks/-", PageToken: resp.GetNextPageToken()}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a bank token in ListEntries: %v", err)
	}
}

// TestAPIUpdateBank holds UpdateBank to AIP-134: only what the mask (or,
// without one, the request) names changes. The measured bug it guards
// against: an update of the description alone reset labels, thresholds and
// enabled.
func TestAPIUpdateBank(t *testing.T) {
	ts := startServer(t, "", Options{})
	if _, err := ts.bank.CreateBank(ctx(t), &pb.CreateBankRequest{BankId: "tvec", Bank: &pb.Bank{
		Labels: map[string]string{"sev": "high", "team-a": "x"}, Enabled: proto.Bool(false), Thresholds: map[string]int32{"pdq": 20, "phash": 8}}}); err != nil {
		t.Fatal(err)
	}
	update := func(b *pb.Bank, m *fieldmaskpb.FieldMask) (*pb.Bank, error) {
		if b.Name == "" {
			b.Name = "banks/tvec"
		}
		resp, err := ts.bank.UpdateBank(ctx(t), &pb.UpdateBankRequest{Bank: b, UpdateMask: m})
		return resp.GetBank(), err
	}
	steps := []struct {
		name  string
		bank  *pb.Bank
		mask  *fieldmaskpb.FieldMask
		check func(*pb.Bank) bool
	}{
		{"description without a mask keeps the rest", &pb.Bank{Description: "d1"}, nil, func(b *pb.Bank) bool {
			return b.GetDescription() == "d1" && b.GetLabels()["sev"] == "high" && !b.GetEnabled() && b.GetThresholds()["pdq"] == 20
		}},
		{"description in the mask keeps the rest", &pb.Bank{Description: "d2", Labels: map[string]string{"ignored": "y"}}, mask("description"), func(b *pb.Bank) bool {
			return b.GetDescription() == "d2" && len(b.GetLabels()) == 2 && b.GetLabels()["ignored"] == ""
		}},
		{"one label", &pb.Bank{Labels: map[string]string{"sev": "low"}}, mask("labels.sev"), func(b *pb.Bank) bool {
			return maps.Equal(b.GetLabels(), map[string]string{"sev": "low", "team-a": "x"})
		}},
		{"a quoted key", &pb.Bank{Labels: map[string]string{"team-a": "y"}}, mask("labels.`team-a`"), func(b *pb.Bank) bool {
			return b.GetLabels()["team-a"] == "y"
		}},
		{"a label removed", &pb.Bank{}, mask("labels.`team-a`"), func(b *pb.Bank) bool {
			return maps.Equal(b.GetLabels(), map[string]string{"sev": "low"})
		}},
		{"enabled named and unset is true", &pb.Bank{}, mask("enabled"), func(b *pb.Bank) bool { return b.GetEnabled() }},
		{"enabled false", &pb.Bank{Enabled: proto.Bool(false)}, nil, func(b *pb.Bank) bool { return !b.GetEnabled() && b.GetDescription() == "d2" }},
		{"one threshold", &pb.Bank{Thresholds: map[string]int32{"pdq": 25}}, mask("thresholds.pdq"), func(b *pb.Bank) bool {
			return maps.Equal(b.GetThresholds(), map[string]int32{"pdq": 25, "phash": 8})
		}},
		{"a false-match budget", &pb.Bank{FalseMatchBudget: proto.Float64(1e-5)}, nil, func(b *pb.Bank) bool {
			return b.GetFalseMatchBudget() == 1e-5 && b.GetThresholds()["pdq"] == 25
		}},
		{"the budget cleared", &pb.Bank{}, mask("false_match_budget"), func(b *pb.Bank) bool {
			return b.FalseMatchBudget == nil && b.GetThresholds()["pdq"] == 25
		}},
		{"output-only fields ignored", &pb.Bank{EntryCount: 5, Description: "d3"}, mask("entry_count", "create_time", "revision", "description"), func(b *pb.Bank) bool {
			return b.GetEntryCount() == 0 && b.GetDescription() == "d3"
		}},
		{"star replaces every setting", &pb.Bank{Labels: map[string]string{"only": "1"}}, mask("*"), func(b *pb.Bank) bool {
			return b.GetDescription() == "" && maps.Equal(b.GetLabels(), map[string]string{"only": "1"}) && b.GetEnabled() && len(b.GetThresholds()) == 0
		}},
	}
	for _, s := range steps {
		before := ts.getBank("tvec").GetRevision()
		got, err := update(s.bank, s.mask)
		if err != nil || !s.check(got) {
			t.Errorf("%s: %v, %v", s.name, got, err)
			continue
		}
		if again := ts.getBank("tvec"); !proto.Equal(again, got) {
			t.Errorf("%s: GetBank %v differs from the response %v", s.name, again, got)
		}
		if got.GetRevision() <= before || !got.GetUpdateTime().AsTime().After(got.GetCreateTime().AsTime()) {
			t.Errorf("%s: revision %d (was %d), update_time %v", s.name, got.GetRevision(), before, got.GetUpdateTime())
		}
	}
	// The log names what changed, in the API's paths.
	cs := ts.changes("banks/tvec", 0)
	if len(cs) != 1+len(steps) || cs[3].GetKind() != pb.ChangeKind_CHANGE_KIND_BANK_UPDATED || !slices.Equal(cs[3].GetUpdateMask().GetPaths(), []string{"labels.sev"}) ||
		!slices.Equal(cs[4].GetUpdateMask().GetPaths(), []string{"labels.`team-a`"}) || !slices.Equal(cs[6].GetUpdateMask().GetPaths(), []string{"enabled"}) {
		t.Errorf("bank changes: %v", cs)
	}
	// An update that changes nothing records nothing.
	rev := ts.getBank("tvec").GetRevision()
	if _, err := update(&pb.Bank{Labels: map[string]string{"only": "1"}}, mask("labels.only")); err != nil {
		t.Fatal(err)
	}
	if n := len(ts.changes("banks/tvec", 0)); n != 1+len(steps) || ts.getBank("tvec").GetRevision() != rev {
		t.Errorf("a no-op update was logged (%d changes)", n)
	}
	bad := func(b *pb.Bank, m *fieldmaskpb.FieldMask) func() error {
		return func() error {
			_, err := update(b, m)
			return err
		}
	}
	runCases(t, []apiCase{
		{"an unknown field", bad(&pb.Bank{}, mask("colour")), codes.InvalidArgument, `no field "colour"`},
		{"the name", bad(&pb.Bank{}, mask("name")), codes.InvalidArgument, "cannot be changed"},
		{"a key of a field that is not a map", bad(&pb.Bank{}, mask("description.x")), codes.InvalidArgument, "no field"},
		{"an empty key", bad(&pb.Bank{}, mask("labels.")), codes.InvalidArgument, "names no key"},
		{"an unterminated quote", bad(&pb.Bank{}, mask("labels.`a")), codes.InvalidArgument, "backtick"},
		{"nothing to change", bad(&pb.Bank{}, nil), codes.InvalidArgument, "changes nothing"},
		{"an unknown bank", bad(&pb.Bank{Name: "banks/nope", Description: "x"}, nil), codes.NotFound, "bank not found"},
		{"a malformed name", bad(&pb.Bank{Name: "tvec", Description: "x"}, nil), codes.InvalidArgument, "want banks/{bank}"},
		{"a digest threshold", bad(&pb.Bank{Thresholds: map[string]int32{"sha256": 2}}, nil), codes.InvalidArgument, "no threshold"},
		{"a threshold of an unknown type", bad(&pb.Bank{}, mask("thresholds.ahash")), codes.InvalidArgument, "unknown hash type"},
		{"a budget over 1", bad(&pb.Bank{FalseMatchBudget: proto.Float64(2)}, nil), codes.InvalidArgument, "false-match budget"},
		{"a negative budget", bad(&pb.Bank{FalseMatchBudget: proto.Float64(-1e-6)}, nil), codes.InvalidArgument, "false-match budget"},
	})
}

func TestAPIDeleteBank(t *testing.T) {
	ts := startServer(t, "", Options{})
	ts.createBank("full")
	ts.createBank("empty")
	r := rand.New(rand.NewPCG(2, 2))
	var names []string
	for range 3 {
		names = append(names, ts.createEntry("full", pdqEntry(r)).GetName())
	}
	del := func(name string, force bool) func() error {
		return func() error {
			_, err := ts.bank.DeleteBank(ctx(t), &pb.DeleteBankRequest{Name: name, Force: force})
			return err
		}
	}
	runCases(t, []apiCase{
		{"a bank with entries", del("banks/full", false), codes.FailedPrecondition, "holds 3 entries"},
		{"an empty bank", del("banks/empty", false), codes.OK, ""},
		{"it again", del("banks/empty", false), codes.NotFound, "bank not found"},
		{"a malformed name", del("full", true), codes.InvalidArgument, "want banks/{bank}"},
		{"the wildcard", del("banks/-", true), codes.InvalidArgument, "bank ID"},
	})
	now, err := ts.bank.ListChanges(ctx(t), &pb.ListChangesRequest{Parent: "banks/-", PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	before := now.GetRevision()
	resp, err := ts.bank.DeleteBank(ctx(t), &pb.DeleteBankRequest{Name: "banks/full", Force: true})
	if err != nil || resp.GetRemovedEntries() != 3 {
		t.Fatalf("forced delete: %v, %v", resp, err)
	}
	cs := ts.changes("banks/full", before)
	if len(cs) != 4 {
		t.Fatalf("a forced delete logged %d changes: %v", len(cs), cs)
	}
	for i, c := range cs[:3] {
		if c.GetKind() != pb.ChangeKind_CHANGE_KIND_ENTRY_DELETED || c.GetEntry() != names[i] || c.GetWriteEnd() {
			t.Errorf("change %d: %v", i, c)
		}
	}
	if c := cs[3]; c.GetKind() != pb.ChangeKind_CHANGE_KIND_BANK_DELETED || c.GetBank() != "banks/full" || !c.GetWriteEnd() {
		t.Errorf("last change: %v", c)
	}
	for _, n := range names {
		if _, err := ts.bank.GetEntry(ctx(t), &pb.GetEntryRequest{Name: n}); status.Code(err) != codes.NotFound {
			t.Errorf("an entry of the deleted bank: %v", err)
		}
	}
}

func TestAPICreateEntry(t *testing.T) {
	ts := startServer(t, "", Options{})
	ts.createBank("b")
	r := rand.New(rand.NewPCG(3, 3))
	img := encodePNG(t, readImage(t, "bridge-mods-aaa-orig.png"))
	create := func(req *pb.CreateEntryRequest) func() error {
		return func() error {
			_, err := ts.bank.CreateEntry(ctx(t), req)
			return err
		}
	}
	runCases(t, []apiCase{
		{"from media", create(&pb.CreateEntryRequest{Parent: "banks/b", Media: img}), codes.OK, ""},
		{"from hashes", create(&pb.CreateEntryRequest{Parent: "banks/b", Entry: pdqEntry(r)}), codes.OK, ""},
		{"no parent", create(&pb.CreateEntryRequest{Media: img}), codes.InvalidArgument, "want banks/{bank}"},
		{"an unknown bank", create(&pb.CreateEntryRequest{Parent: "banks/nope", Media: img}), codes.NotFound, "bank not found"},
		{"the wildcard", create(&pb.CreateEntryRequest{Parent: "banks/-", Entry: pdqEntry(r)}), codes.InvalidArgument, "bank ID"},
		{"media and hashes", create(&pb.CreateEntryRequest{Parent: "banks/b", Media: img, Entry: pdqEntry(r)}), codes.InvalidArgument, "not both"},
		{"neither", create(&pb.CreateEntryRequest{Parent: "banks/b", Entry: &pb.Entry{Note: "n"}}), codes.InvalidArgument, "to add"},
		{"an unknown hash type", create(&pb.CreateEntryRequest{Parent: "banks/b", Entry: &pb.Entry{Media: &pb.MediaHashes{Hashes: []*pb.Hash{{Type: "ahash", Hex: "00"}}}}}), codes.InvalidArgument, "unknown hash type"},
		{"a bad keypoint", create(&pb.CreateEntryRequest{Parent: "banks/b", Entry: &pb.Entry{Media: &pb.MediaHashes{
			Hashes: []*pb.Hash{{Type: "md5", Hex: randHex(r, 16)}}, Keypoints: []*pb.Keypoint{{X: 0.5, Y: 0.5, DescriptorHex: "zz"}}}}}), codes.InvalidArgument, "descriptor"},
		{"a keypoint outside", create(&pb.CreateEntryRequest{Parent: "banks/b", Entry: &pb.Entry{Media: &pb.MediaHashes{
			Hashes: []*pb.Hash{{Type: "md5", Hex: randHex(r, 16)}}, Keypoints: []*pb.Keypoint{{X: 1.5, DescriptorHex: randHex(r, 32)}}}}}), codes.InvalidArgument, "outside"},
		{"a long note", create(&pb.CreateEntryRequest{Parent: "banks/b", Entry: &pb.Entry{Note: strings.Repeat("n", 4097), Media: pdqEntry(r).Media}}), codes.InvalidArgument, "note"},
		{"a long source URI", create(&pb.CreateEntryRequest{Parent: "banks/b", Entry: &pb.Entry{Source: &pb.Source{Uri: strings.Repeat("u", 2049)}, Media: pdqEntry(r).Media}}), codes.InvalidArgument, "source URI"},
		{"an unknown view", create(&pb.CreateEntryRequest{Parent: "banks/b", Entry: pdqEntry(r), View: 7}), codes.InvalidArgument, "view"},
	})
	// The default view is basic; the same content again is the same entry.
	basic, err := ts.bank.CreateEntry(ctx(t), &pb.CreateEntryRequest{Parent: "banks/b", Media: img})
	if err != nil || !basic.GetAlreadyExists() || len(basic.GetEntry().GetMedia().GetKeypoints()) != 0 || !strings.HasPrefix(basic.GetEntry().GetName(), "banks/b/entries/") {
		t.Errorf("re-adding in the basic view: %v, %v", basic, err)
	}
	full, err := ts.bank.CreateEntry(ctx(t), &pb.CreateEntryRequest{Parent: "banks/b", Media: img, View: pb.EntryView_ENTRY_VIEW_FULL})
	if err != nil || len(full.GetEntry().GetMedia().GetKeypoints()) == 0 || full.GetEntry().GetName() != basic.GetEntry().GetName() {
		t.Errorf("re-adding in the full view: %v, %v", full, err)
	}
	// Name and output-only fields of the given entry are ignored.
	e := pdqEntry(r)
	e.Name, e.Revision, e.Creator = "banks/other/entries/5", 77, "someone"
	got := ts.createEntry("b", e)
	if !strings.HasPrefix(got.GetName(), "banks/b/entries/") || got.GetRevision() == 77 || got.GetCreator() == "someone" {
		t.Errorf("created from a named entry: %v", got)
	}
	if b := ts.getBank("b"); b.GetEntryCount() != 3 {
		t.Errorf("entry_count %d, want 3 (failed adds wrote nothing)", b.GetEntryCount())
	}
}

// bigVideo is an entry of n frames, each with a content hash, and the
// largest labels and note: the largest entry the server keeps when n is
// store.MaxFrames.
func bigVideo(r *rand.Rand, n int) *pb.Entry {
	m := &pb.MediaHashes{Kind: pb.MediaKind_MEDIA_KIND_VIDEO, Format: "mp4", Width: 1280, Height: 720, DurationSeconds: float64(n),
		Hashes: []*pb.Hash{{Type: "md5", Hex: randHex(r, 16)}, {Type: "sha256", Hex: randHex(r, 32)}}}
	for i := range n {
		m.Frames = append(m.Frames, &pb.VideoFrameHash{Ts: float64(i) + 0.123456789, PdqHex: randHex(r, 32), Quality: proto.Int32(int32(50 + i%51)), ContentPdqHex: randHex(r, 32)})
	}
	labels := map[string]string{}
	for i := range store.MaxLabels {
		labels[fmt.Sprintf("%03d%s", i, strings.Repeat("k", store.MaxLabelBytes-3))] = strings.Repeat("v", store.MaxLabelBytes)
	}
	return &pb.Entry{Media: m, Labels: labels, Note: strings.Repeat("n", store.MaxTextBytes),
		Source: &pb.Source{Origin: strings.Repeat("o", store.MaxSourceBytes), ExternalId: strings.Repeat("e", store.MaxSourceBytes), Uri: strings.Repeat("u", store.MaxURIBytes)}}
}

// sameContent compares what an entry holds, not where it is or when it was
// added.
func sameContent(a, b *pb.Entry) bool {
	x, y := proto.Clone(a).(*pb.Entry), proto.Clone(b).(*pb.Entry)
	for _, e := range []*pb.Entry{x, y} {
		e.Name, e.CreateTime, e.UpdateTime, e.Creator, e.Updater, e.Revision = "", nil, nil, "", "", 0
	}
	return proto.Equal(x, y)
}

// TestAPIGetEntryRoundTrip checks GetEntry's names and views, and that an
// entry read whole and added again (to another bank) is stored exactly:
// an image from media with its regions and keypoints, and the largest
// video the server keeps, which fits one message each way with gRPC's
// default limits.
func TestAPIGetEntryRoundTrip(t *testing.T) {
	ts := startServer(t, "", Options{})
	ts.createBank("a")
	ts.createBank("b")
	r := rand.New(rand.NewPCG(4, 4))
	image := ts.addMedia("a", encodePNG(t, readImage(t, "bridge-mods-aaa-orig.png")), map[string]string{"group": "x"}).GetEntry()
	id := lastOf(image.GetName())
	get := func(name string, view pb.EntryView) func() error {
		return func() error {
			_, err := ts.bank.GetEntry(ctx(t), &pb.GetEntryRequest{Name: name, View: view})
			return err
		}
	}
	runCases(t, []apiCase{
		{"by its name", get(image.GetName(), 0), codes.OK, ""},
		{"in any bank", get("banks/-/entries/"+id, 0), codes.OK, ""},
		{"in the wrong bank", get("banks/b/entries/"+id, 0), codes.NotFound, "entry not found: banks/"},
		{"an unknown entry", get("banks/a/entries/999999", 0), codes.NotFound, "entry not found"},
		{"entry 0", get("banks/a/entries/0", 0), codes.InvalidArgument, "entry ID"},
		{"a leading zero", get("banks/a/entries/0"+id, 0), codes.InvalidArgument, "entry ID"},
		{"no entries segment", get("banks/a/"+id, 0), codes.InvalidArgument, "want banks/{bank}/entries/{entry}"},
		{"a bad bank ID", get("banks/../entries/"+id, 0), codes.InvalidArgument, "bank ID"},
		{"empty", get("", 0), codes.InvalidArgument, "entry name"},
		{"an unknown view", get(image.GetName(), 9), codes.InvalidArgument, "view"},
	})
	full, err := ts.bank.GetEntry(ctx(t), &pb.GetEntryRequest{Name: image.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	m := full.GetEntry().GetMedia()
	regions := 0
	for _, h := range m.GetHashes() {
		if h.GetRegion() != nil {
			regions++
		}
	}
	if len(m.GetKeypoints()) == 0 || regions == 0 {
		t.Fatalf("an image entry in full has %d keypoints, %d region hashes", len(m.GetKeypoints()), regions)
	}
	basic, _ := ts.bank.GetEntry(ctx(t), &pb.GetEntryRequest{Name: image.GetName(), View: pb.EntryView_ENTRY_VIEW_BASIC})
	if len(basic.GetEntry().GetMedia().GetKeypoints()) != 0 || len(basic.GetEntry().GetMedia().GetHashes()) != len(m.GetHashes()) {
		t.Errorf("basic view: %v", basic.GetEntry().GetMedia())
	}
	for _, src := range []*pb.Entry{full.GetEntry(), ts.createEntry("a", bigVideo(r, store.MaxFrames))} {
		read, err := ts.bank.GetEntry(ctx(t), &pb.GetEntryRequest{Name: src.GetName()})
		if err != nil {
			t.Fatalf("reading %s whole: %v", src.GetName(), err)
		}
		t.Logf("%s in full: %d bytes", src.GetName(), proto.Size(read.GetEntry()))
		copied := ts.createEntry("b", read.GetEntry())
		again, err := ts.bank.GetEntry(ctx(t), &pb.GetEntryRequest{Name: copied.GetName()})
		if err != nil {
			t.Fatal(err)
		}
		if !sameContent(again.GetEntry(), read.GetEntry()) {
			t.Errorf("%s read, added to another bank and read again differs", src.GetName())
		}
		if again.GetEntry().GetName() == read.GetEntry().GetName() {
			t.Errorf("the copy has the original's name")
		}
	}
	// One frame more than the server keeps is refused.
	_, err = ts.bank.CreateEntry(ctx(t), &pb.CreateEntryRequest{Parent: "banks/b", Entry: &pb.Entry{Media: &pb.MediaHashes{
		Frames: slices.Repeat([]*pb.VideoFrameHash{{Ts: 1, PdqHex: randHex(r, 32)}}, store.MaxFrames+1)}}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "20001 frames") {
		t.Errorf("one frame over the limit: %v", err)
	}
}

func lastOf(name string) string { return name[strings.LastIndexByte(name, '/')+1:] }

// TestAPIListEntries checks ListEntries' parents, views, tokens and its
// byte budget: pages of 10,000-frame videos in full stay under 2 MiB, so
// each fits a response with gRPC's default 4 MiB limit, where a page of
// 100 of them would be 150 MB.
func TestAPIListEntries(t *testing.T) {
	ts := startServer(t, "", Options{})
	ts.createBank("v")
	ts.createBank("i")
	r := rand.New(rand.NewPCG(5, 5))
	var videos, images, all []string
	for range 7 {
		e := bigVideo(r, 10_000)
		e.Labels, e.Note = map[string]string{"k": "v"}, ""
		videos = append(videos, ts.createEntry("v", e).GetName())
		images = append(images, ts.createEntry("i", pdqEntry(r)).GetName())
		all = append(all, videos[len(videos)-1], images[len(images)-1])
	}
	listAll := func(parent string, view pb.EntryView, size int32) ([]string, int) {
		t.Helper()
		var names []string
		token, pages := "", 0
		for {
			resp, err := ts.bank.ListEntries(ctx(t), &pb.ListEntriesRequest{Parent: parent, View: view, PageSize: size, PageToken: token})
			if err != nil {
				t.Fatalf("listing %s: %v", parent, err)
			}
			pages++
			if n := proto.Size(resp); n > maxPageBytes+2<<20 {
				t.Errorf("a page of %d bytes", n)
			}
			for _, e := range resp.GetEntries() {
				names = append(names, e.GetName())
				frames := len(e.GetMedia().GetFrames())
				if (view == pb.EntryView_ENTRY_VIEW_FULL) != (frames > 0) && strings.HasPrefix(e.GetName(), "banks/v/") {
					t.Errorf("view %v: %s has %d frames", view, e.GetName(), frames)
				}
			}
			if token = resp.GetNextPageToken(); token == "" {
				return names, pages
			}
		}
	}
	names, pages := listAll("banks/v", pb.EntryView_ENTRY_VIEW_FULL, 0)
	if !slices.Equal(names, videos) || pages < 4 {
		t.Errorf("full list of videos: %d entries in %d pages", len(names), pages)
	}
	if names, pages := listAll("banks/v", 0, 0); !slices.Equal(names, videos) || pages != 1 {
		t.Errorf("basic list of videos: %d entries in %d pages", len(names), pages)
	}
	if names, _ := listAll("banks/-", 0, 3); !slices.Equal(names, all) {
		t.Errorf("every bank's entries: %v, want %v", names, all)
	}
	first, _ := ts.bank.ListEntries(ctx(t), &pb.ListEntriesRequest{Parent: "banks/i", PageSize: 2})
	list := func(req *pb.ListEntriesRequest) func() error {
		return func() error {
			_, err := ts.bank.ListEntries(ctx(t), req)
			return err
		}
	}
	runCases(t, []apiCase{
		{"an empty parent", list(&pb.ListEntriesRequest{}), codes.InvalidArgument, "want banks/{bank}"},
		{"an unknown bank", list(&pb.ListEntriesRequest{Parent: "banks/nope"}), codes.NotFound, "bank not found"},
		{"a negative page size", list(&pb.ListEntriesRequest{Parent: "banks/i", PageSize: -3}), codes.InvalidArgument, "page_size"},
		{"a token with its request", list(&pb.ListEntriesRequest{Parent: "banks/i", PageSize: 2, PageToken: first.GetNextPageToken()}), codes.OK, ""},
		{"a token with another parent", list(&pb.ListEntriesRequest{Parent: "banks/v", PageToken: first.GetNextPageToken()}), codes.InvalidArgument, "page_token"},
		{"a token with another view", list(&pb.ListEntriesRequest{Parent: "banks/i", View: pb.EntryView_ENTRY_VIEW_FULL, PageToken: first.GetNextPageToken()}), codes.InvalidArgument, "page_token"},
		{"a made-up token", list(&pb.ListEntriesRequest{Parent: "banks/i", PageToken: "abc"}), codes.InvalidArgument, "page_token"},
	})
	if len(first.GetEntries()) != 2 || first.GetNextPageToken() == "" {
		t.Errorf("first page of 2: %d entries, token %q", len(first.GetEntries()), first.GetNextPageToken())
	}
}

func TestAPIUpdateEntry(t *testing.T) {
	ts := startServer(t, "", Options{})
	ts.createBank("b")
	ts.createBank("c")
	r := rand.New(rand.NewPCG(6, 6))
	e := pdqEntry(r)
	e.Labels, e.Note, e.Source = map[string]string{"group": "x", "lang": "ar"}, "first", &pb.Source{Origin: "partner"}
	entry := ts.createEntry("b", e)
	update := func(in *pb.Entry, m *fieldmaskpb.FieldMask) (*pb.Entry, error) {
		if in.Name == "" {
			in.Name = entry.GetName()
		}
		resp, err := ts.bank.UpdateEntry(ctx(t), &pb.UpdateEntryRequest{Entry: in, UpdateMask: m})
		return resp.GetEntry(), err
	}
	for _, s := range []struct {
		name  string
		in    *pb.Entry
		mask  *fieldmaskpb.FieldMask
		check func(*pb.Entry) bool
	}{
		{"note without a mask keeps the labels", &pb.Entry{Note: "second"}, nil, func(g *pb.Entry) bool {
			return g.GetNote() == "second" && len(g.GetLabels()) == 2
		}},
		{"one label", &pb.Entry{Labels: map[string]string{"status": "confirmed"}}, mask("labels.status"), func(g *pb.Entry) bool {
			return len(g.GetLabels()) == 3 && g.GetLabels()["status"] == "confirmed" && g.GetNote() == "second"
		}},
		{"a label removed", &pb.Entry{}, mask("labels.lang"), func(g *pb.Entry) bool { return len(g.GetLabels()) == 2 && g.GetLabels()["lang"] == "" }},
		{"the note cleared", &pb.Entry{}, mask("note"), func(g *pb.Entry) bool { return g.GetNote() == "" }},
		{"output-only ignored", &pb.Entry{Note: "third", Revision: 3}, mask("note", "revision", "update_time"), func(g *pb.Entry) bool { return g.GetNote() == "third" }},
		{"star", &pb.Entry{Labels: map[string]string{"a": "1"}}, mask("*"), func(g *pb.Entry) bool {
			return maps.Equal(g.GetLabels(), map[string]string{"a": "1"}) && g.GetNote() == ""
		}},
	} {
		got, err := update(s.in, s.mask)
		if err != nil || !s.check(got) {
			t.Errorf("%s: %v, %v", s.name, got, err)
			continue
		}
		read, _ := ts.bank.GetEntry(ctx(t), &pb.GetEntryRequest{Name: entry.GetName()})
		if !proto.Equal(read.GetEntry().GetMedia(), entry.GetMedia()) || read.GetEntry().GetSource().GetOrigin() != "partner" || read.GetEntry().GetNote() != got.GetNote() {
			t.Errorf("%s: the update touched more than labels and note", s.name)
		}
	}
	// A match reports the labels as updated.
	q := &pb.MatchRequest{Query: &pb.MatchRequest_Hashes{Hashes: entry.GetMedia()}}
	if res, err := ts.match.Match(ctx(t), q); err != nil || len(res.GetResult().GetMatches()) != 1 || !maps.Equal(res.GetResult().GetMatches()[0].GetLabels(), map[string]string{"a": "1"}) {
		t.Errorf("match after the update: %v, %v", res, err)
	}
	cs := ts.changes("banks/b", 0)
	if last := cs[len(cs)-1]; last.GetKind() != pb.ChangeKind_CHANGE_KIND_ENTRY_UPDATED || last.GetEntry() != entry.GetName() || !slices.Equal(last.GetUpdateMask().GetPaths(), []string{"labels", "note"}) {
		t.Errorf("last change %v", last)
	}
	id := lastOf(entry.GetName())
	bad := func(in *pb.Entry, m *fieldmaskpb.FieldMask) func() error {
		return func() error {
			_, err := update(in, m)
			return err
		}
	}
	runCases(t, []apiCase{
		{"the media", bad(&pb.Entry{}, mask("media")), codes.InvalidArgument, "cannot be changed"},
		{"the source", bad(&pb.Entry{}, mask("source")), codes.InvalidArgument, "cannot be changed"},
		{"an unknown field", bad(&pb.Entry{}, mask("colour")), codes.InvalidArgument, "no field"},
		{"nothing", bad(&pb.Entry{}, nil), codes.InvalidArgument, "changes nothing"},
		{"in another bank", bad(&pb.Entry{Name: "banks/c/entries/" + id, Note: "x"}, nil), codes.NotFound, "entry not found: banks/"},
		{"in any bank", bad(&pb.Entry{Name: "banks/-/entries/" + id, Note: "x"}, nil), codes.OK, ""},
		{"an unknown entry", bad(&pb.Entry{Name: "banks/b/entries/99999", Note: "x"}, nil), codes.NotFound, "entry not found"},
		{"a bad mask of an unknown entry", bad(&pb.Entry{Name: "banks/b/entries/99999"}, mask("colour")), codes.InvalidArgument, "no field"},
		{"65 labels", bad(&pb.Entry{Labels: func() map[string]string {
			m := map[string]string{}
			for i := range 65 {
				m[fmt.Sprint(i)] = "v"
			}
			return m
		}()}, mask("labels")), codes.InvalidArgument, "65 labels"},
	})
}

func TestAPIDeleteEntry(t *testing.T) {
	ts := startServer(t, "", Options{})
	ts.createBank("b")
	ts.createBank("c")
	r := rand.New(rand.NewPCG(7, 7))
	e := ts.createEntry("b", pdqEntry(r))
	id := lastOf(e.GetName())
	del := func(name string) func() error {
		return func() error {
			_, err := ts.bank.DeleteEntry(ctx(t), &pb.DeleteEntryRequest{Name: name})
			return err
		}
	}
	runCases(t, []apiCase{
		{"in another bank", del("banks/c/entries/" + id), codes.NotFound, "entry not found: banks/"},
		{"malformed", del("entries/" + id), codes.InvalidArgument, "entry name"},
	})
	resp, err := ts.bank.DeleteEntry(ctx(t), &pb.DeleteEntryRequest{Name: e.GetName()})
	if err != nil || resp.GetEntry().GetName() != e.GetName() || !proto.Equal(resp.GetEntry().GetMedia(), e.GetMedia()) {
		t.Errorf("DeleteEntry returned %v, %v", resp, err)
	}
	runCases(t, []apiCase{{"again", del(e.GetName()), codes.NotFound, "entry not found"}})
	if res, _ := ts.match.Match(ctx(t), &pb.MatchRequest{Query: &pb.MatchRequest_Hashes{Hashes: e.GetMedia()}}); len(res.GetResult().GetMatches()) != 0 {
		t.Errorf("a deleted entry matched")
	}
}

func TestAPIListChanges(t *testing.T) {
	ts := startServer(t, "", Options{})
	r := rand.New(rand.NewPCG(8, 8))
	ts.createBank("a")
	ts.createBank("b")
	ea := ts.createEntry("a", pdqEntry(r))
	eb := ts.createEntry("b", pdqEntry(r))
	if _, err := ts.bank.UpdateEntry(ctx(t), &pb.UpdateEntryRequest{Entry: &pb.Entry{Name: ea.GetName(), Labels: map[string]string{"k": "v"}}, UpdateMask: mask("labels.k")}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.bank.DeleteEntry(ctx(t), &pb.DeleteEntryRequest{Name: eb.GetName()}); err != nil {
		t.Fatal(err)
	}
	all := ts.changes("banks/-", 0)
	kinds := []pb.ChangeKind{pb.ChangeKind_CHANGE_KIND_BANK_CREATED, pb.ChangeKind_CHANGE_KIND_BANK_CREATED, pb.ChangeKind_CHANGE_KIND_ENTRY_CREATED,
		pb.ChangeKind_CHANGE_KIND_ENTRY_CREATED, pb.ChangeKind_CHANGE_KIND_ENTRY_UPDATED, pb.ChangeKind_CHANGE_KIND_ENTRY_DELETED}
	if len(all) != len(kinds) {
		t.Fatalf("%d changes, want %d: %v", len(all), len(kinds), all)
	}
	for i, c := range all {
		if c.GetRevision() != int64(i+1) || c.GetKind() != kinds[i] || !c.GetWriteEnd() || c.GetActor() == "" || c.GetTime() == nil {
			t.Errorf("change %d: %v", i, c)
		}
	}
	if c := all[4]; c.GetEntry() != ea.GetName() || c.GetBank() != "banks/a" || !slices.Equal(c.GetUpdateMask().GetPaths(), []string{"labels.k"}) {
		t.Errorf("the update: %v", c)
	}
	if onlyB := ts.changes("banks/b", 0); len(onlyB) != 3 || onlyB[0].GetRevision() != 2 || onlyB[2].GetEntry() != eb.GetName() {
		t.Errorf("bank b's changes: %v", onlyB)
	}
	if after := ts.changes("banks/-", 4); len(after) != 2 || after[0].GetRevision() != 5 {
		t.Errorf("changes after 4: %v", after)
	}
	// Pages of one continue where they stopped.
	resp, err := ts.bank.ListChanges(ctx(t), &pb.ListChangesRequest{Parent: "banks/-", PageSize: 1})
	if err != nil || len(resp.GetChanges()) != 1 || resp.GetNextPageToken() == "" || resp.GetRevision() != 6 {
		t.Fatalf("a page of 1: %v, %v", resp, err)
	}
	next, err := ts.bank.ListChanges(ctx(t), &pb.ListChangesRequest{Parent: "banks/-", PageSize: 1, PageToken: resp.GetNextPageToken()})
	if err != nil || len(next.GetChanges()) != 1 || next.GetChanges()[0].GetRevision() != 2 {
		t.Errorf("the next page: %v, %v", next, err)
	}
	if err := ts.st.Compact(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	if kept := ts.changes("banks/-", 0); len(kept) != 3 || kept[0].GetRevision() != 4 {
		t.Errorf("after compaction from the first kept: %v", kept)
	}
	list := func(req *pb.ListChangesRequest) func() error {
		return func() error {
			_, err := ts.bank.ListChanges(ctx(t), req)
			return err
		}
	}
	runCases(t, []apiCase{
		{"a compacted revision", list(&pb.ListChangesRequest{Parent: "banks/-", AfterRevision: 1}), codes.FailedPrecondition, "compacted"},
		{"a future revision", list(&pb.ListChangesRequest{Parent: "banks/-", AfterRevision: 60}), codes.OutOfRange, "future"},
		{"a negative revision", list(&pb.ListChangesRequest{Parent: "banks/-", AfterRevision: -1}), codes.InvalidArgument, "after_revision"},
		{"an empty parent", list(&pb.ListChangesRequest{}), codes.InvalidArgument, "want banks/{bank}"},
		{"a token with another parent", list(&pb.ListChangesRequest{Parent: "banks/a", PageToken: resp.GetNextPageToken()}), codes.InvalidArgument, "page_token"},
		{"a deleted bank's changes", list(&pb.ListChangesRequest{Parent: "banks/gone"}), codes.OK, ""},
	})
}

// TestAPIMatchNames checks Match's bank names and the names in its
// answers.
func TestAPIMatchNames(t *testing.T) {
	ts := startServer(t, "", Options{})
	ts.createBank("b")
	r := rand.New(rand.NewPCG(9, 9))
	e := ts.createEntry("b", pdqEntry(r))
	match := func(banks ...string) func() error {
		return func() error {
			_, err := ts.match.Match(ctx(t), &pb.MatchRequest{Query: &pb.MatchRequest_Hashes{Hashes: e.GetMedia()}, Options: &pb.MatchOptions{Banks: banks}})
			return err
		}
	}
	runCases(t, []apiCase{
		{"a bank by name", match("banks/b"), codes.OK, ""},
		{"an unknown bank", match("banks/nope"), codes.NotFound, "bank not found"},
		{"a bank ID", match("b"), codes.InvalidArgument, "want banks/{bank}"},
		{"the wildcard", match("banks/-"), codes.InvalidArgument, "bank ID"},
	})
	res, err := ts.match.Match(ctx(t), &pb.MatchRequest{Query: &pb.MatchRequest_Hashes{Hashes: e.GetMedia()}})
	if err != nil || len(res.GetResult().GetMatches()) != 1 {
		t.Fatal(res, err)
	}
	if m := res.GetResult().GetMatches()[0]; m.GetEntry() != e.GetName() || m.GetBank() != "banks/b" {
		t.Errorf("match names %q, %q", m.GetEntry(), m.GetBank())
	}
}

// TestAPIMatchBudget holds Match to its operating point: one result per
// entry with a score, a tier and evidence; the request's budget, the
// bank's and the review tier.
func TestAPIMatchBudget(t *testing.T) {
	ts := startServer(t, "", Options{})
	ts.createBank("b")
	r := rand.New(rand.NewPCG(4, 4))
	e := ts.createEntry("b", pdqEntry(r))
	matchWith := func(opts *pb.MatchOptions) ([]*pb.Match, error) {
		res, err := ts.match.Match(ctx(t), &pb.MatchRequest{Query: &pb.MatchRequest_Hashes{Hashes: e.GetMedia()}, Options: opts})
		return res.GetResult().GetMatches(), err
	}
	ms, err := matchWith(nil)
	if err != nil || len(ms) != 1 {
		t.Fatal(ms, err)
	}
	m := ms[0]
	score := m.GetScore()
	if m.GetTier() != pb.MatchTier_MATCH_TIER_MATCH || !(score > 0 && score <= match.DefaultBudget) || len(m.GetEvidence()) != 1 {
		t.Fatalf("the entry's own hash: %v", m)
	}
	if ev := m.GetEvidence()[0]; ev.GetMethod() != "pdq" || ev.GetDistance() != 0 || !(ev.GetProbability() > 0 && ev.GetProbability() <= score) || m.GetHashType() != "pdq" || m.GetDistance() != 0 {
		t.Errorf("evidence %v of %v", ev, m)
	}
	tiers := func(opts *pb.MatchOptions) []pb.MatchTier {
		t.Helper()
		ms, err := matchWith(opts)
		if err != nil {
			t.Fatal(err)
		}
		var out []pb.MatchTier
		for _, m := range ms {
			out = append(out, m.GetTier())
		}
		return out
	}
	review := []pb.MatchTier{pb.MatchTier_MATCH_TIER_REVIEW}
	for _, c := range []struct {
		name string
		opts *pb.MatchOptions
		want []pb.MatchTier
	}{
		{"within the budget", &pb.MatchOptions{FalseMatchBudget: proto.Float64(score)}, []pb.MatchTier{pb.MatchTier_MATCH_TIER_MATCH}},
		{"beyond it", &pb.MatchOptions{FalseMatchBudget: proto.Float64(score / 10)}, nil},
		{"beyond it, review asked", &pb.MatchOptions{FalseMatchBudget: proto.Float64(score / 10), IncludeReview: true}, review},
		{"beyond review", &pb.MatchOptions{FalseMatchBudget: proto.Float64(score / 1000), IncludeReview: true}, nil},
	} {
		if got := tiers(c.opts); !slices.Equal(got, c.want) {
			t.Errorf("%s: tiers %v, want %v", c.name, got, c.want)
		}
	}
	// The bank's budget applies when the request sets none.
	if _, err := ts.bank.UpdateBank(ctx(t), &pb.UpdateBankRequest{Bank: &pb.Bank{Name: "banks/b", FalseMatchBudget: proto.Float64(score / 10)}}); err != nil {
		t.Fatal(err)
	}
	if got := tiers(nil); len(got) != 0 {
		t.Errorf("under the bank's budget: %v", got)
	}
	if got := tiers(&pb.MatchOptions{IncludeReview: true}); !slices.Equal(got, review) {
		t.Errorf("under the bank's budget, review asked: %v", got)
	}
	if got := tiers(&pb.MatchOptions{FalseMatchBudget: proto.Float64(1)}); len(got) != 1 {
		t.Errorf("the request's budget over the bank's: %v", got)
	}
	bad := func(v float64) func() error {
		return func() error {
			_, err := matchWith(&pb.MatchOptions{FalseMatchBudget: proto.Float64(v)})
			return err
		}
	}
	runCases(t, []apiCase{
		{"a budget of 0", bad(0), codes.InvalidArgument, "false_match_budget"},
		{"a budget over 1", bad(1.5), codes.InvalidArgument, "false_match_budget"},
		{"a NaN budget", bad(math.NaN()), codes.InvalidArgument, "false_match_budget"},
	})
}
