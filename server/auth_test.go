package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/bolt"
)

// TestScopedMatcher checks that a matcher limited to one bank searches
// only it, sees only it listed, and never gets another bank's labels,
// while an unlimited one finds both.
func TestScopedMatcher(t *testing.T) {
	ts := startServer(t, "", Options{})
	admin := tokenSecret(t, ts, store.Token{Name: "root", Role: store.RoleAdmin})
	scoped := tokenSecret(t, ts, store.Token{Name: "m-a", Role: store.RoleMatcher, Banks: []string{"a"}})
	all := tokenSecret(t, ts, store.Token{Name: "m-all", Role: store.RoleMatcher})
	img := smallPNG(t)
	for _, b := range []string{"a", "b"} {
		if _, err := ts.bank.CreateBank(as(ctx(t), admin), &pb.CreateBankRequest{BankId: b}); err != nil {
			t.Fatal(err)
		}
		if _, err := ts.bank.CreateEntry(as(ctx(t), admin), &pb.CreateEntryRequest{Parent: "banks/" + b, Media: img, Entry: &pb.Entry{Labels: map[string]string{"who": "label-of-" + b}}}); err != nil {
			t.Fatal(err)
		}
	}
	banksOf := func(res *pb.MatchResult) []string {
		var out []string
		for _, m := range res.GetMatches() {
			out = append(out, m.GetBank()+"="+m.GetLabels()["who"])
		}
		return out
	}
	r, err := ts.match.Match(as(ctx(t), scoped), &pb.MatchRequest{Query: &pb.MatchRequest_Media{Media: img}})
	if err != nil {
		t.Fatal(err)
	}
	if got := banksOf(r.GetResult()); len(got) != 1 || got[0] != "banks/a=label-of-a" {
		t.Errorf("the scoped matcher's matches: %v, want only bank a's", got)
	}
	r, err = ts.match.Match(as(ctx(t), all), &pb.MatchRequest{Query: &pb.MatchRequest_Media{Media: img}})
	if err != nil || len(r.GetResult().GetMatches()) != 2 {
		t.Errorf("the unlimited matcher: %v, %v; want both banks", banksOf(r.GetResult()), err)
	}
	_, err = ts.match.Match(as(ctx(t), scoped), &pb.MatchRequest{Query: &pb.MatchRequest_Media{Media: img}, Options: &pb.MatchOptions{Banks: []string{"banks/a", "banks/b"}}})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("the scoped matcher naming bank b: %v", err)
	}
	l, err := ts.bank.ListBanks(as(ctx(t), scoped), &pb.ListBanksRequest{})
	if err != nil || len(l.GetBanks()) != 1 || l.GetBanks()[0].GetName() != "banks/a" {
		t.Errorf("the scoped matcher's bank list: %v, %v", l.GetBanks(), err)
	}
	// A partner limited to bank a reading "every bank" sees only a's.
	partner := tokenSecret(t, ts, store.Token{Name: "p-a", Role: store.RolePartner, Banks: []string{"a"}})
	ch, err := ts.bank.ListChanges(as(ctx(t), partner), &pb.ListChangesRequest{Parent: "banks/-"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range ch.GetChanges() {
		if c.GetBank() != "banks/a" {
			t.Errorf("the partner of bank a reads a change of %s", c.GetBank())
		}
	}
	if len(ch.GetChanges()) != 2 {
		t.Errorf("the partner of bank a reads %d changes, want 2", len(ch.GetChanges()))
	}
	es, err := ts.bank.ListEntries(as(ctx(t), partner), &pb.ListEntriesRequest{Parent: "banks/-"})
	if err != nil || len(es.GetEntries()) != 1 || !strings.HasPrefix(es.GetEntries()[0].GetName(), "banks/a/") {
		t.Errorf("the partner of bank a lists %v, %v", es.GetEntries(), err)
	}
	// Bank b's entry, named through "banks/-", is as if absent.
	bEntry := "banks/-/entries/2"
	if _, err := ts.bank.GetEntry(as(ctx(t), partner), &pb.GetEntryRequest{Name: bEntry}); status.Code(err) != codes.NotFound {
		t.Errorf("the partner of bank a reading bank b's entry through banks/-: %v", err)
	}
}

// TestAuditAndActor checks that a token's creation and revocation and
// refused calls are in the audit log with the right actor, that changes
// are recorded as the token's name, and that the audit log is the admin's.
func TestAuditAndActor(t *testing.T) {
	ts := startServer(t, "", Options{})
	admin := tokenSecret(t, ts, store.Token{Name: "root", Role: store.RoleAdmin})
	created, err := ts.token.CreateToken(as(ctx(t), admin), &pb.CreateTokenRequest{TokenId: "ingest", Token: &pb.Token{Role: pb.Role_ROLE_CURATOR, Banks: []string{"banks/tvec"}}})
	if err != nil {
		t.Fatal(err)
	}
	curator := created.GetSecret()
	if !strings.HasPrefix(curator, SecretPrefix) || len(curator) < len(SecretPrefix)+43 {
		t.Fatalf("secret %q: want %s and 43 base64url characters (256 bits)", curator, SecretPrefix)
	}
	stored, _ := ts.st.Token(ctx(t), "ingest")
	if stored.Hash != HashSecret(curator) {
		t.Errorf("the store does not hold the secret's SHA-256")
	}
	if _, err := ts.bank.CreateBank(as(ctx(t), admin), &pb.CreateBankRequest{BankId: "tvec"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.bank.UpdateBank(as(ctx(t), curator), &pb.UpdateBankRequest{Bank: &pb.Bank{Name: "banks/tvec", Description: "d"}}); err != nil {
		t.Fatal(err)
	}
	if b, _ := ts.st.Bank(ctx(t), "tvec"); b.CreatedBy != "root" || b.UpdatedBy != "ingest" {
		t.Errorf("created by %q, updated by %q; want the tokens' names", b.CreatedBy, b.UpdatedBy)
	}
	// Refused: a curator of tvec deleting another bank, and a call
	// without a token.
	if _, err := ts.bank.DeleteBank(as(ctx(t), curator), &pb.DeleteBankRequest{Name: "banks/other"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("deleting another bank: %v", err)
	}
	if _, err := ts.bank.ListBanks(ctx(t), &pb.ListBanksRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("listing without a token: %v", err)
	}
	if err := ts.srv.flushDenials(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.token.RevokeToken(as(ctx(t), admin), &pb.RevokeTokenRequest{Name: "tokens/ingest"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.token.ListAuditRecords(as(ctx(t), curator), &pb.ListAuditRecordsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("the revoked token reading the audit log: %v", err)
	}

	if err := ts.srv.flushDenials(ctx(t)); err != nil {
		t.Fatal(err)
	}

	var got []string
	page := ""
	for {
		r, err := ts.token.ListAuditRecords(as(ctx(t), admin), &pb.ListAuditRecordsRequest{PageToken: page, PageSize: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range r.GetRecords() {
			if a.GetTime() == nil {
				t.Errorf("audit record %d has no time", a.GetSeq())
			}
			got = append(got, strings.Join([]string{a.GetAction(), a.GetActor(), a.GetMethod(), a.GetBank(), a.GetToken()}, " "))
		}
		if page = r.GetNextPageToken(); page == "" {
			break
		}
	}
	want := []string{
		"token_created test   tokens/root",
		"token_created root   tokens/ingest",
		"denied ingest /mediamatch.v1.BankService/DeleteBank banks/other ",
		"denied anonymous /mediamatch.v1.BankService/ListBanks  ",
		"token_created root   tokens/ingest",
	}
	want[4] = "token_revoked root   tokens/ingest"
	want = append(want, "denied anonymous /mediamatch.v1.TokenService/ListAuditRecords  ")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Changes of the feed are untouched by tokens and denials.
	ch, err := ts.bank.ListChanges(as(ctx(t), admin), &pb.ListChangesRequest{Parent: "banks/-"})
	if err != nil || len(ch.GetChanges()) != 2 || ch.GetChanges()[0].GetActor() != "root" || ch.GetChanges()[1].GetActor() != "ingest" {
		t.Errorf("the change log: %v (%v), want the bank's two changes by root and ingest", ch.GetChanges(), err)
	}
}

// TestRequireAuth checks that a server told to require authentication
// refuses every call but health while it holds no token.
func TestRequireAuth(t *testing.T) {
	ts := startServer(t, "", Options{RequireAuth: true})
	if _, err := ts.bank.ListBanks(ctx(t), &pb.ListBanksRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("a call without tokens on a server requiring them: %v", err)
	}
	if _, err := ts.bank.ListBanks(as(ctx(t), "mmt_made-up"), &pb.ListBanksRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("a made-up token: %v", err)
	}
	if _, err := ts.health.Check(ctx(t), nil); err != nil {
		t.Errorf("health: %v", err)
	}
}

// TestDenialsSummedUp checks that refused calls are not written while
// they are refused (no commit, no fsync on the request path: the store
// shows none of them until a flush), that a flood of them becomes one
// summary record per caller, method, bank and reason with its count,
// that the distinct summaries are capped with the rest counted in one
// overflow record, and that Shutdown writes what is left.
func TestDenialsSummedUp(t *testing.T) {
	ts := startServer(t, "", Options{DenialFlushInterval: time.Hour})
	admin := tokenSecret(t, ts, store.Token{Name: "root", Role: store.RoleAdmin})
	scoped := tokenSecret(t, ts, store.Token{Name: "m-a", Role: store.RoleMatcher, Banks: []string{"a"}})
	const bogus = 300
	for i := range bogus {
		if _, err := ts.bank.ListBanks(as(ctx(t), fmt.Sprintf("mmt_bogus-%d", i)), &pb.ListBanksRequest{}); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("a bogus token: %v", err)
		}
	}
	audit := func() []store.AuditRecord {
		t.Helper()
		recs, err := ts.st.ListAudit(ctx(t), 0, 10_000)
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	if recs := audit(); len(recs) != 2 || recs[0].Action != store.AuditTokenCreated || recs[1].Action != store.AuditTokenCreated {
		t.Fatalf("before a flush the audit log holds %+v; want the two token records alone", recs)
	}
	if err := ts.srv.flushDenials(ctx(t)); err != nil {
		t.Fatal(err)
	}
	recs := audit()
	if len(recs) != 3 {
		t.Fatalf("after %d refused calls and a flush, %d audit records; want the two tokens' and one summary", bogus, len(recs))
	}
	sum := recs[2]
	if sum.Action != store.AuditDenied || sum.Count != bogus || sum.Actor != Anonymous || sum.Peer != "127.0.0.1" ||
		sum.Method != pb.BankService_ListBanks_FullMethodName || sum.First.IsZero() || sum.First.After(sum.Time) {
		t.Errorf("the summary: %+v", sum)
	}
	// The API shows the count.
	r, err := ts.token.ListAuditRecords(as(ctx(t), admin), &pb.ListAuditRecordsRequest{})
	if err != nil || len(r.GetRecords()) != 3 || r.GetRecords()[2].GetCount() != bogus || r.GetRecords()[2].GetFirstTime() == nil || r.GetRecords()[0].GetCount() != 1 {
		t.Errorf("ListAuditRecords: %v, %v", r.GetRecords(), err)
	}

	// Distinct banks make distinct summaries, up to the cap.
	for i := range maxDenialKeys + 5 {
		if _, err := ts.bank.GetBank(as(ctx(t), scoped), &pb.GetBankRequest{Name: fmt.Sprintf("banks/b%d", i)}); status.Code(err) != codes.PermissionDenied {
			t.Fatalf("another bank: %v", err)
		}
	}
	if _, err := ts.bank.ListBanks(as(ctx(t), "mmt_late"), &pb.ListBanksRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatal(err)
	}
	if n := len(audit()); n != 3 {
		t.Fatalf("refused calls were written before a flush: %d records", n)
	}
	db := ts.db
	ts.stop() // Shutdown flushes
	st, err := bolt.Open(db, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err = st.ListAudit(ctx(t), 3, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	var perBank, overflow uint64
	for _, a := range recs {
		switch {
		case a.Bank != "":
			perBank += max(a.Count, 1)
		case a.Method == "":
			overflow = a.Count
		}
	}
	if len(recs) != maxDenialKeys+1 || perBank != maxDenialKeys || overflow != 6 {
		t.Errorf("after Shutdown: %d records, %d per-bank refusals, overflow %d; want %d records, %d, 6", len(recs), perBank, overflow, maxDenialKeys+1, maxDenialKeys)
	}
}

// TestListTokensPages checks that ListTokens pages by opaque tokens in
// name order, and that a page token of another list is refused.
func TestListTokensPages(t *testing.T) {
	ts := startServer(t, "", Options{})
	admin := tokenSecret(t, ts, store.Token{Name: "root", Role: store.RoleAdmin})
	for _, n := range []string{"e", "a", "d", "c", "b"} {
		tokenSecret(t, ts, store.Token{Name: n, Role: store.RoleMatcher})
	}
	var names []string
	pages := 0
	for page := ""; ; {
		r, err := ts.token.ListTokens(as(ctx(t), admin), &pb.ListTokensRequest{PageSize: 2, PageToken: page})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, tok := range r.GetTokens() {
			names = append(names, tok.GetName())
		}
		if page = r.GetNextPageToken(); page == "" {
			break
		}
	}
	if got := strings.Join(names, ","); got != "tokens/a,tokens/b,tokens/c,tokens/d,tokens/e,tokens/root" || pages != 3 {
		t.Errorf("pages of 2: %s in %d pages", got, pages)
	}
	a, err := ts.token.ListAuditRecords(as(ctx(t), admin), &pb.ListAuditRecordsRequest{PageSize: 1})
	if err != nil || a.GetNextPageToken() == "" {
		t.Fatalf("an audit page: %v, %v", a, err)
	}
	if _, err := ts.token.ListTokens(as(ctx(t), admin), &pb.ListTokensRequest{PageToken: a.GetNextPageToken()}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("ListTokens with an audit page token: %v", err)
	}
}

// TestEntryNotFoundSameAnswer checks that a token limited to bank a gets
// the same answer, status and details alike, for an entry id of bank b
// as for an id that does not exist, through "banks/a" and "banks/-", from
// GetEntry, UpdateEntry and DeleteEntry: it cannot probe the other banks'
// ids.
func TestEntryNotFoundSameAnswer(t *testing.T) {
	ts := startServer(t, "", Options{})
	admin := tokenSecret(t, ts, store.Token{Name: "root", Role: store.RoleAdmin})
	curator := tokenSecret(t, ts, store.Token{Name: "c-a", Role: store.RoleCurator, Banks: []string{"a"}})
	img := smallPNG(t)
	var inB string
	for _, b := range []string{"a", "b"} {
		if _, err := ts.bank.CreateBank(as(ctx(t), admin), &pb.CreateBankRequest{BankId: b}); err != nil {
			t.Fatal(err)
		}
		r, err := ts.bank.CreateEntry(as(ctx(t), admin), &pb.CreateEntryRequest{Parent: "banks/" + b, Media: img})
		if err != nil {
			t.Fatal(err)
		}
		inB = r.GetEntry().GetName()
	}
	id := inB[strings.LastIndex(inB, "/")+1:]
	calls := map[string]func(name string) error{
		"GetEntry": func(name string) error {
			_, err := ts.bank.GetEntry(as(ctx(t), curator), &pb.GetEntryRequest{Name: name})
			return err
		},
		"UpdateEntry": func(name string) error {
			_, err := ts.bank.UpdateEntry(as(ctx(t), curator), &pb.UpdateEntryRequest{Entry: &pb.Entry{Name: name, Note: "n"}, UpdateMask: mask("note")})
			return err
		},
		"DeleteEntry": func(name string) error {
			_, err := ts.bank.DeleteEntry(as(ctx(t), curator), &pb.DeleteEntryRequest{Name: name})
			return err
		},
	}
	for method, call := range calls {
		for _, parent := range []string{"banks/a", "banks/-"} {
			other, missing := parent+"/entries/"+id, parent+"/entries/99"
			errOther, errMissing := call(other), call(missing)
			so, sm := status.Convert(errOther).Proto(), status.Convert(errMissing).Proto()
			sm.Message = strings.ReplaceAll(sm.GetMessage(), missing, other)
			if so.GetCode() != int32(codes.NotFound) || !proto.Equal(so, sm) {
				t.Errorf("%s %s: bank b's entry gives %v; a missing one %v", method, parent, so, sm)
			}
		}
	}
	if _, err := ts.bank.GetEntry(as(ctx(t), admin), &pb.GetEntryRequest{Name: inB}); err != nil {
		t.Errorf("bank b's entry after the scoped calls: %v", err)
	}
}

// TestRevokedDuringStream checks that a CreateEntryStream opened before
// its token is revoked fails with UNAUTHENTICATED when it comes to write,
// and writes nothing.
func TestRevokedDuringStream(t *testing.T) {
	ts := startServer(t, "", Options{DenialFlushInterval: time.Hour})
	admin := tokenSecret(t, ts, store.Token{Name: "root", Role: store.RoleAdmin})
	curator := tokenSecret(t, ts, store.Token{Name: "ingest", Role: store.RoleCurator})
	if _, err := ts.bank.CreateBank(as(ctx(t), admin), &pb.CreateBankRequest{BankId: "a"}); err != nil {
		t.Fatal(err)
	}
	stream, err := ts.bank.CreateEntryStream(as(ctx(t), curator))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&pb.CreateEntryStreamRequest{Part: &pb.CreateEntryStreamRequest_Header{Header: &pb.CreateEntryStreamHeader{Parent: "banks/a"}}}); err != nil {
		t.Fatal(err)
	}
	// The server authenticates the stream as it opens; give it the time
	// to (the assertion below tells a refusal at open from one at the
	// write by its message).
	time.Sleep(200 * time.Millisecond)
	if _, err := ts.token.RevokeToken(as(ctx(t), admin), &pb.RevokeTokenRequest{Name: "tokens/ingest"}); err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&pb.CreateEntryStreamRequest{Part: &pb.CreateEntryStreamRequest_Chunk{Chunk: smallPNG(t)}}); err != nil {
		t.Fatal(err)
	}
	_, err = stream.CloseAndRecv()
	if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "revoked during the call") {
		t.Errorf("the stream of a revoked token: %v; want UNAUTHENTICATED at the write", err)
	}
	if b, err := ts.st.Bank(ctx(t), "a"); err != nil || b.Entries != 0 {
		t.Errorf("bank a after the refused stream: %d entries, %v", b.Entries, err)
	}
}

// TestNoCallerRefused checks that a handler reached without the
// interceptors (no caller in its context) refuses to read or write,
// while Offline's token management, which names its caller, works.
func TestNoCallerRefused(t *testing.T) {
	ts := startServer(t, "", Options{})
	bare := context.Background()
	if _, err := ts.srv.ListBanks(bare, &pb.ListBanksRequest{}); !errors.Is(err, errPermissionDenied) {
		t.Errorf("ListBanks without a caller: %v", err)
	}
	if _, err := ts.srv.CreateBank(bare, &pb.CreateBankRequest{BankId: "b"}); !errors.Is(err, errPermissionDenied) {
		t.Errorf("CreateBank without a caller: %v", err)
	}
	if _, err := ts.st.Bank(bare, "b"); !errors.Is(err, store.ErrBankNotFound) {
		t.Errorf("the bank of a refused call: %v", err)
	}
	if _, err := ts.srv.Match(bare, &pb.MatchRequest{Query: &pb.MatchRequest_Media{Media: smallPNG(t)}}); !errors.Is(err, errPermissionDenied) {
		t.Errorf("Match without a caller: %v", err)
	}
	off := NewOffline(ts.st, "offline:test")
	if _, err := off.CreateToken(bare, &pb.CreateTokenRequest{TokenId: "root", Token: &pb.Token{Role: pb.Role_ROLE_ADMIN}}); err != nil {
		t.Errorf("Offline.CreateToken: %v", err)
	}
}

// TestBearer checks the parsing of the authorization header.
func TestBearer(t *testing.T) {
	for _, tc := range []struct {
		what   string
		values []string
		secret string
		has    bool
		fails  bool
	}{
		{"none", nil, "", false, false},
		{"bearer", []string{"bearer mmt_x"}, "mmt_x", true, false},
		{"BEARER", []string{"BEARER mmt_x"}, "mmt_x", true, false},
		{"extra spaces", []string{"  Bearer   mmt_x  "}, "mmt_x", true, false},
		{"two headers", []string{"bearer mmt_x", "bearer mmt_y"}, "", false, true},
		{"basic", []string{"Basic dXNlcjpwYXNz"}, "", false, true},
		{"a bare secret", []string{"mmt_x"}, "", false, true},
		{"bearer alone", []string{"bearer"}, "", false, true},
		{"bearer and spaces", []string{"bearer   "}, "", false, true},
	} {
		md := metadata.MD{}
		for _, v := range tc.values {
			md.Append("authorization", v)
		}
		secret, has, err := bearer(metadata.NewIncomingContext(context.Background(), md))
		if secret != tc.secret || has != tc.has || (err != nil) != tc.fails || (err != nil && !errors.Is(err, errUnauthenticated)) {
			t.Errorf("%s: %q, %v, %v; want %q, %v, failing %v", tc.what, secret, has, err, tc.secret, tc.has, tc.fails)
		}
	}
}

// TestCreateTokenExpiry checks that a token cannot be created already
// expired, and that one expiring later is created with that expiry.
func TestCreateTokenExpiry(t *testing.T) {
	ts := startServer(t, "", Options{})
	admin := tokenSecret(t, ts, store.Token{Name: "root", Role: store.RoleAdmin})
	create := func(id string, at time.Time) (*pb.CreateTokenResponse, error) {
		return ts.token.CreateToken(as(ctx(t), admin), &pb.CreateTokenRequest{TokenId: id,
			Token: &pb.Token{Role: pb.Role_ROLE_MATCHER, ExpireTime: timestamppb.New(at)}})
	}
	if _, err := create("past", time.Now().Add(-time.Second)); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "has passed") {
		t.Errorf("a token expired at creation: %v, want INVALID_ARGUMENT", err)
	}
	later := time.Now().Add(time.Hour).Truncate(time.Second)
	r, err := create("later", later)
	if err != nil || r.GetSecret() == "" || !r.GetToken().GetExpireTime().AsTime().Equal(later) {
		t.Fatalf("a token expiring in an hour: %v, %v", r, err)
	}
	if _, err := ts.st.Token(ctx(t), "past"); err == nil {
		t.Error("the refused token was stored")
	}
}

// TestTokenCache checks what the cached tokens promise: a token created or
// revoked through the server applies to the very next call; one created
// behind the server's back (another process on a shared store) within
// TokenRefresh; and a revoked name is not given again.
func TestTokenCache(t *testing.T) {
	ts := startServer(t, "", Options{TokenRefresh: time.Hour})
	admin := tokenSecret(t, ts, store.Token{Name: "root", Role: store.RoleAdmin})
	list := func(secret string) error {
		_, err := ts.bank.ListBanks(as(ctx(t), secret), &pb.ListBanksRequest{})
		return err
	}
	if err := list(admin); err != nil {
		t.Fatal(err)
	}
	r, err := ts.token.CreateToken(as(ctx(t), admin), &pb.CreateTokenRequest{TokenId: "reader", Token: &pb.Token{Role: pb.Role_ROLE_MATCHER}})
	if err != nil {
		t.Fatal(err)
	}
	if err := list(r.GetSecret()); err != nil {
		t.Errorf("a token created through the server, at once: %v", err)
	}
	if _, err := ts.token.RevokeToken(as(ctx(t), admin), &pb.RevokeTokenRequest{Name: "tokens/reader"}); err != nil {
		t.Fatal(err)
	}
	if err := list(r.GetSecret()); status.Code(err) != codes.Unauthenticated {
		t.Errorf("a token revoked through the server, at once: %v, want UNAUTHENTICATED", err)
	}
	if _, err := ts.token.CreateToken(as(ctx(t), admin), &pb.CreateTokenRequest{TokenId: "reader", Token: &pb.Token{Role: pb.Role_ROLE_MATCHER}}); status.Code(err) != codes.AlreadyExists {
		t.Errorf("a revoked token's name again: %v, want ALREADY_EXISTS", err)
	}

	// Behind the server's back: not seen within the hour's refresh, seen
	// within a short one.
	if err := list(admin); err != nil { // the tokens, read again after the failed create
		t.Fatal(err)
	}
	secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.st.Commit(ctx(t), "elsewhere", store.CreateToken(store.Token{Name: "elsewhere", Role: store.RoleMatcher, Hash: HashSecret(secret)})); err != nil {
		t.Fatal(err)
	}
	if err := list(secret); status.Code(err) != codes.Unauthenticated {
		t.Errorf("a token made elsewhere, before the refresh: %v (the server read the store again)", err)
	}
	ts.srv.tokens.mu.Lock()
	ts.srv.tokens.refresh = 10 * time.Millisecond
	ts.srv.tokens.mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	if err := list(secret); err != nil {
		t.Errorf("a token made elsewhere, after the refresh: %v", err)
	}
}
