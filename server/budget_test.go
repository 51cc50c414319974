package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mediamatch/mediamatch/match"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/store"
)

// logSink collects a server's JSON log lines, for tests that wait for the
// server to finish a call the client has given up on.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logSink) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// calls returns the "rpc" lines the server has logged: one per finished
// call, with its method and code.
func (l *logSink) calls() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(l.buf.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "rpc" {
			out = append(out, m)
		}
	}
	return out
}

// waitCall waits, up to limit, for the server to log a finished call of
// method with code, and reports whether it did.
func (l *logSink) waitCall(method string, code codes.Code, limit time.Duration) bool {
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		for _, c := range l.calls() {
			if strings.HasSuffix(c["method"].(string), "/"+method) && c["code"] == code.String() {
				return true
			}
		}
	}
	return false
}

// videoHashes is a video of n random frames, one a second.
func videoHashes(r *rand.Rand, n int) *pb.MediaHashes {
	m := &pb.MediaHashes{Kind: pb.MediaKind_MEDIA_KIND_VIDEO, DurationSeconds: float64(n)}
	for i := range n {
		m.Frames = append(m.Frames, &pb.VideoFrameHash{Ts: float64(i), PdqHex: randHex(r, 32), Quality: proto.Int32(90)})
	}
	return m
}

// addCopies adds k entries of video's frames, each a distinct entry (its
// first frame a little later), and returns the query that hits them all:
// the same frames half a second later.
func (ts *testServer) addCopies(bank string, video *pb.MediaHashes, k int) *pb.MediaHashes {
	ts.t.Helper()
	for i := range k {
		e := proto.Clone(video).(*pb.MediaHashes)
		e.Frames[0].Ts += float64(i) * 0.01
		ts.createEntry(bank, &pb.Entry{Media: e})
	}
	q := proto.Clone(video).(*pb.MediaHashes)
	for _, f := range q.Frames {
		f.Ts += 0.5
	}
	return q
}

func TestVideoWorkBudget(t *testing.T) {
	rules := match.DefaultRules()
	rules.MaxVideoWork = 10_000_000
	ts := startServer(t, "", Options{Rules: &rules})
	ts.createBank("one")
	ts.createBank("three")
	r := rand.New(rand.NewPCG(12, 1))
	video := videoHashes(r, 2000)
	query := ts.addCopies("one", video, 1)
	ts.addCopies("three", video, 3)
	matchIn := func(banks ...string) (*pb.MatchResponse, error) {
		var names []string
		for _, b := range banks {
			names = append(names, "banks/"+b)
		}
		return ts.match.Match(ctx(t), &pb.MatchRequest{Query: &pb.MatchRequest_Hashes{Hashes: query}, Options: &pb.MatchOptions{Banks: names}})
	}

	// 2,000 x 2,000 frame pairs are within 10 million: compared, matched.
	resp, err := matchIn("one")
	if err != nil {
		t.Fatalf("a match within the budget: %v", err)
	}
	if n := len(resp.GetResult().GetMatches()); n != 1 {
		t.Fatalf("a match within the budget found %d entries, want 1", n)
	}
	// 2,000 x 6,000 are not: refused before comparing, naming the budget.
	_, err = matchIn("one", "three")
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "budget of 10000000") {
		t.Fatalf("a match over the budget: %v, want RESOURCE_EXHAUSTED naming the budget", err)
	}
	if reason := errorReason(err); reason != "MATCH_WORK_BUDGET" {
		t.Errorf("reason %q, want MATCH_WORK_BUDGET", reason)
	}

}

// TestVideoSearchBudget: a query whose frame hashes find more stored frames
// than the budget is stopped during its search, before any comparison.
func TestVideoSearchBudget(t *testing.T) {
	rules := match.DefaultRules()
	rules.MaxVideoWork = 5000
	ts := startServer(t, "", Options{Rules: &rules})
	ts.createBank("flat")
	r := rand.New(rand.NewPCG(12, 3))
	hex := randHex(r, 32)
	// Three entries of 2,000 frames of one hash: one query frame finds 6,000.
	flat := &pb.MediaHashes{Kind: pb.MediaKind_MEDIA_KIND_VIDEO}
	for i := range 2000 {
		flat.Frames = append(flat.Frames, &pb.VideoFrameHash{Ts: float64(i), PdqHex: hex, Quality: proto.Int32(90)})
	}
	for i := range 3 {
		e := proto.Clone(flat).(*pb.MediaHashes)
		e.Frames[0].Ts += float64(i) * 0.01
		ts.createEntry("flat", &pb.Entry{Media: e})
	}
	one := &pb.MediaHashes{Kind: pb.MediaKind_MEDIA_KIND_VIDEO, Frames: flat.Frames[:1]}
	_, err := ts.match.Match(ctx(t), &pb.MatchRequest{Query: &pb.MatchRequest_Hashes{Hashes: one}})
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "found over 5000 stored frame hashes") {
		t.Fatalf("a one-frame query finding 6,000 stored frames: %v, want RESOURCE_EXHAUSTED from the search", err)
	}
}

// errorReason is the ErrorInfo reason of a status error, or "".
func errorReason(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(interface{ GetReason() string }); ok {
			return info.GetReason()
		}
	}
	return ""
}

// TestVideoMatchHoldsNoOneUp runs a long video match (with a budget that
// lets it run) and, while it runs, an add and a plain image match: both
// answer before it does, and when its client cancels, the server stops
// its work and finishes the call.
func TestVideoMatchHoldsNoOneUp(t *testing.T) {
	var logs logSink
	rules := match.DefaultRules()
	rules.MaxVideoWork = 1 << 62
	ts := startServer(t, "", Options{Rules: &rules, Logger: logs.logger()})
	ts.createBank("a")
	r := rand.New(rand.NewPCG(12, 2))
	// 20,000 x 3 x 20,000 frame pairs: seconds of a core without the race
	// detector, minutes with it.
	query := ts.addCopies("a", videoHashes(r, 20_000), 3)
	plain := pdqEntry(r)
	ts.createEntry("a", plain)

	hctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hostile := make(chan error, 1)
	go func() {
		_, err := ts.match.Match(hctx, &pb.MatchRequest{Query: &pb.MatchRequest_Hashes{Hashes: query}})
		hostile <- err
	}()
	time.Sleep(300 * time.Millisecond) // let it reach its comparisons

	ts.createEntry("a", pdqEntry(r))
	resp, err := ts.match.Match(ctx(t), &pb.MatchRequest{Query: &pb.MatchRequest_Hashes{Hashes: plain.GetMedia()}})
	if err != nil || len(resp.GetResult().GetMatches()) != 1 {
		t.Fatalf("a plain match during the video match: %v, %d matches", err, len(resp.GetResult().GetMatches()))
	}
	select {
	case err := <-hostile:
		t.Fatalf("the video match ended (%v) before the add and the plain match it was to hold up", err)
	default:
	}
	cancel()
	if err := <-hostile; status.Code(err) != codes.Canceled {
		t.Fatalf("the cancelled video match: %v", err)
	}
	// The server notices the client is gone and stops comparing; the bound
	// is a sanity limit, far above the few milliseconds it takes.
	if !logs.waitCall("Match", codes.Canceled, 20*time.Second) {
		t.Fatalf("the server did not finish the cancelled match; calls logged: %v", logs.calls())
	}
}

// TestListPagesFit fills every list with the largest items the limits
// allow and reads each whole with a default client (which takes at most
// 4 MiB a message), a page of 1,000 asked for: every page arrives, and the
// pages hold every item once.
func TestListPagesFit(t *testing.T) {
	ts := startServer(t, "", Options{})
	admin := tokenSecret(t, ts, store.Token{Name: "admin", Role: store.RoleAdmin})
	c := as(ctx(t), admin)
	long := func(c byte, n int) string { return strings.Repeat(string(c), n) }
	labels := func(i int) map[string]string {
		m := map[string]string{}
		for k := range store.MaxLabels {
			m[fmt.Sprintf("%03d-%03d%s", i, k, long('k', store.MaxLabelBytes-7))] = long('v', store.MaxLabelBytes)
		}
		return m
	}
	const n = 120 // of each: banks of 37 KB, tokens of 17 KB, changes of 34 KB
	var ops []store.Op
	for i := range n {
		ops = append(ops, store.CreateBank(store.Bank{Name: fmt.Sprintf("b%03d-%s", i, long('x', store.MaxBankNameLen-5)),
			Description: long('d', store.MaxTextBytes), Labels: labels(i)}))
	}
	if _, err := ts.st.Commit(context.Background(), "test", ops...); err != nil {
		t.Fatal(err)
	}
	var banks []string
	for i := range store.MaxTokenBanks {
		banks = append(banks, fmt.Sprintf("t%03d-%s", i, long('y', store.MaxBankNameLen-5)))
	}
	ops = ops[:0]
	for i := range n {
		secret, _ := NewSecret()
		ops = append(ops, store.CreateToken(store.Token{Name: fmt.Sprintf("tok%03d", i), Role: store.RoleMatcher, Banks: banks, Hash: HashSecret(secret)}))
	}
	if _, err := ts.st.Commit(context.Background(), "test", ops...); err != nil {
		t.Fatal(err)
	}
	// Changes that name every label they set and remove (the first sets
	// the labels the bank was created with: no change).
	first := fmt.Sprintf("b%03d-%s", 0, long('x', store.MaxBankNameLen-5))
	for i := range n {
		var paths []string
		for k := range labels(i) {
			paths = append(paths, "labels."+k)
		}
		for k := range labels(i - 1) {
			paths = append(paths, "labels."+k)
		}
		if _, err := ts.st.Commit(context.Background(), long('a', store.MaxActorBytes), store.UpdateBank(first, store.Bank{Labels: labels(i)}, paths...)); err != nil {
			t.Fatal(err)
		}
	}
	ops = ops[:0]
	for range 1000 {
		ops = append(ops, store.RecordAudit(store.AuditRecord{Action: store.AuditDenied, Actor: long('a', store.MaxAuditFieldBytes),
			Peer: long('p', store.MaxAuditFieldBytes), Method: long('m', store.MaxAuditFieldBytes), Detail: long('d', store.MaxAuditFieldBytes)}))
	}
	if _, err := ts.st.Commit(context.Background(), "test", ops...); err != nil {
		t.Fatal(err)
	}

	type page struct {
		items int
		next  string
		size  int
	}
	lists := []struct {
		name string
		want int
		get  func(token string) (page, error)
	}{
		{"banks", n, func(tok string) (page, error) {
			r, err := ts.bank.ListBanks(c, &pb.ListBanksRequest{PageSize: 1000, PageToken: tok})
			return page{len(r.GetBanks()), r.GetNextPageToken(), proto.Size(r)}, err
		}},
		{"tokens", n + 1, func(tok string) (page, error) {
			r, err := ts.token.ListTokens(c, &pb.ListTokensRequest{PageSize: 1000, PageToken: tok})
			return page{len(r.GetTokens()), r.GetNextPageToken(), proto.Size(r)}, err
		}},
		{"changes", 2*n - 1, func(tok string) (page, error) {
			r, err := ts.bank.ListChanges(c, &pb.ListChangesRequest{Parent: "banks/-", PageSize: 1000, PageToken: tok})
			return page{len(r.GetChanges()), r.GetNextPageToken(), proto.Size(r)}, err
		}},
		{"audit records", 1000 + n + 1, func(tok string) (page, error) {
			r, err := ts.token.ListAuditRecords(c, &pb.ListAuditRecordsRequest{PageSize: 1000, PageToken: tok})
			return page{len(r.GetRecords()), r.GetNextPageToken(), proto.Size(r)}, err
		}},
	}
	for _, l := range lists {
		total, pages, token := 0, 0, ""
		for {
			p, err := l.get(token)
			if err != nil {
				t.Fatalf("%s, page %d: %v", l.name, pages+1, err)
			}
			if p.size > DefaultMaxMessageBytes {
				t.Errorf("%s: a page of %d bytes", l.name, p.size)
			}
			total += p.items
			pages++
			if token = p.next; token == "" {
				break
			}
		}
		if total != l.want || pages < 2 {
			t.Errorf("%s: %d items in %d pages, want %d in several", l.name, total, pages, l.want)
		}
	}
}

// TestMetadataBudgets sends the largest metadata a message can carry to
// every call that stores or takes it: each is INVALID_ARGUMENT, naming the
// limit, and nothing is stored.
func TestMetadataBudgets(t *testing.T) {
	ts := startServer(t, "", Options{})
	ts.createBank("a")
	r := rand.New(rand.NewPCG(12, 4))
	entry := ts.createEntry("a", pdqEntry(r))
	huge := strings.Repeat("u", 3_900_000)
	many := map[string]string{}
	for i := range 100_000 {
		many[fmt.Sprint(i)] = ""
	}
	var paths []string
	for i := range store.MaxUpdatePaths + 1 {
		paths = append(paths, fmt.Sprintf("labels.k%d", i))
	}
	var banks []string
	for i := range store.MaxBanks + 1 {
		banks = append(banks, fmt.Sprintf("banks/b%d", i))
	}
	withSource := func(s *pb.Source) *pb.Entry {
		e := pdqEntry(r)
		e.Source = s
		return e
	}
	create := func(e *pb.Entry) func() error {
		return func() error {
			_, err := ts.bank.CreateEntry(ctx(t), &pb.CreateEntryRequest{Parent: "banks/a", Entry: e})
			return err
		}
	}
	createBank := func(b *pb.Bank) func() error {
		return func() error {
			_, err := ts.bank.CreateBank(ctx(t), &pb.CreateBankRequest{BankId: "b", Bank: b})
			return err
		}
	}
	runCases(t, []apiCase{
		{"a 3.9 MB source URI", create(withSource(&pb.Source{Uri: huge})), codes.InvalidArgument, "source URI is 3900000 bytes, over the limit of 2048"},
		{"a 3.9 MB source origin", create(withSource(&pb.Source{Origin: huge})), codes.InvalidArgument, "over the limit of 256"},
		{"a 3.9 MB note", create(&pb.Entry{Media: pdqEntry(r).GetMedia(), Note: huge}), codes.InvalidArgument, "note is 3900000 bytes"},
		{"100,000 entry labels", create(&pb.Entry{Media: pdqEntry(r).GetMedia(), Labels: many}), codes.InvalidArgument, "100000 labels, over the limit of 64"},
		{"a 3.9 MB bank description", createBank(&pb.Bank{Description: huge}), codes.InvalidArgument, "description is 3900000 bytes"},
		{"100,000 bank labels", createBank(&pb.Bank{Labels: many}), codes.InvalidArgument, "100000 labels"},
		{"a bank update of too many paths", func() error {
			_, err := ts.bank.UpdateBank(ctx(t), &pb.UpdateBankRequest{Bank: &pb.Bank{Name: "banks/a"}, UpdateMask: mask(paths...)})
			return err
		}, codes.InvalidArgument, "update paths, over the limit"},
		{"an entry update of too many paths", func() error {
			_, err := ts.bank.UpdateEntry(ctx(t), &pb.UpdateEntryRequest{Entry: &pb.Entry{Name: entry.GetName()}, UpdateMask: mask(paths...)})
			return err
		}, codes.InvalidArgument, "update paths, over the limit"},
		{"a match naming more banks than a store holds", func() error {
			_, err := ts.match.Match(ctx(t), &pb.MatchRequest{Query: &pb.MatchRequest_Hashes{Hashes: pdqEntry(r).GetMedia()}, Options: &pb.MatchOptions{Banks: banks}})
			return err
		}, codes.InvalidArgument, "banks named, over the limit of 10000"},
	})
	if resp, err := ts.bank.ListBanks(ctx(t), &pb.ListBanksRequest{}); err != nil || len(resp.GetBanks()) != 1 {
		t.Errorf("after the refusals: %v, %d banks, want only a", err, len(resp.GetBanks()))
	}
	if b := ts.getBank("a"); b.GetEntryCount() != 1 {
		t.Errorf("bank a holds %d entries after the refusals, want 1", b.GetEntryCount())
	}
}
