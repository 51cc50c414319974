package server

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/disintegration/imaging"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/store"
)

// The expected authorization, written out here apart from the server's
// table (authz.go) so that a mistake in either shows: for each call, the
// roles that may make it and whether it names a bank (so that a token
// limited to another bank is refused).
//
//	call               matcher curator partner admin  names a bank
var wantAuthz = []struct {
	call       string
	roles      string // the roles allowed, by initial: m c p a
	namesBank  bool
	unscopedOK bool // only a token granted every bank may (CreateBank)
}{
	{"Hash", "m..a", false, false},
	{"Match", "m..a", true, false},
	{"MatchStream", "m..a", true, false},
	{"GetBank", "mcpa", true, false},
	{"ListBanks", "mcpa", false, false},
	{"CreateBank", ".c.a", true, true},
	{"UpdateBank", ".c.a", true, false},
	{"DeleteBank", ".c.a", true, false},
	{"CreateEntry", ".c.a", true, false},
	{"CreateEntryStream", ".c.a", true, false},
	{"GetEntry", ".cpa", true, false},
	{"ListEntries", ".cpa", true, false},
	{"UpdateEntry", ".c.a", true, false},
	{"DeleteEntry", ".c.a", true, false},
	{"ListChanges", ".cpa", true, false},
	{"ExportEntries", ".cpa", true, false},
	{"ImportEntries", ".c.a", true, false},
	{"SyncEntries", ".c.a", true, false},
	{"CreateToken", "...a", false, false},
	{"ListTokens", "...a", false, false},
	{"RevokeToken", "...a", false, false},
	{"ListAuditRecords", "...a", false, false},
	{"Backup", "...a", false, false},
	{"Reflection", "...a", false, false},
	{"Health", "open", false, false},
}

var roleInitials = map[store.Role]byte{store.RoleMatcher: 'm', store.RoleCurator: 'c', store.RolePartner: 'p', store.RoleAdmin: 'a'}

// cell is what one call works on: a bank of its own holding one entry,
// and a token of its own to revoke.
type cell struct {
	bank, entry, victim string
}

// authzFixture is a server with tokens of every role in every state.
type authzFixture struct {
	ts    *testServer
	admin string // secret of an admin token, for set-up
	small []byte // a small PNG
	// rotated is another, so that every entry created is new
	rotated []byte
	hashes  *pb.MediaHashes
	n       int
}

// tokenSecret creates a token in the store behind the server's back, then
// has the server drop the tokens it read, as it does after a token commit
// of its own.
func tokenSecret(t *testing.T, ts *testServer, tok store.Token) string {
	t.Helper()
	secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	tok.Hash = HashSecret(secret)
	if _, err := ts.st.Commit(context.Background(), "test", store.CreateToken(tok)); err != nil {
		t.Fatal(err)
	}
	ts.srv.tokens.drop()
	return secret
}

func as(ctx context.Context, secret string) context.Context {
	if secret == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "bearer "+secret)
}

func smallPNG(t *testing.T) []byte {
	return encodePNG(t, imaging.Resize(readImage(t, "bridge-mods-aaa-orig.png"), 96, 0, imaging.Lanczos))
}

// newCell makes a fresh bank with one entry and a token to revoke.
func (f *authzFixture) newCell(t *testing.T) cell {
	t.Helper()
	f.n++
	c := cell{bank: fmt.Sprintf("c%d", f.n), victim: fmt.Sprintf("victim-%d", f.n)}
	actx := as(ctx(t), f.admin)
	if _, err := f.ts.bank.CreateBank(actx, &pb.CreateBankRequest{BankId: c.bank}); err != nil {
		t.Fatal(err)
	}
	resp, err := f.ts.bank.CreateEntry(actx, &pb.CreateEntryRequest{Parent: "banks/" + c.bank, Entry: &pb.Entry{Media: f.hashes, Labels: map[string]string{"secret-label": c.bank}}})
	if err != nil {
		t.Fatal(err)
	}
	c.entry = resp.GetEntry().GetName()
	tokenSecret(t, f.ts, store.Token{Name: c.victim, Role: store.RoleMatcher})
	return c
}

// call makes one call as secret and checks a success is real.
func (f *authzFixture) call(ctx context.Context, name string, c cell) error {
	ts := f.ts
	bank := "banks/" + c.bank
	switch name {
	case "Hash":
		r, err := ts.match.Hash(ctx, &pb.HashRequest{Media: f.small})
		if err == nil && len(r.GetMedia().GetHashes()) == 0 {
			return fmt.Errorf("no hashes")
		}
		return err
	case "Match":
		r, err := ts.match.Match(ctx, &pb.MatchRequest{Query: &pb.MatchRequest_Hashes{Hashes: f.hashes}, Options: &pb.MatchOptions{Banks: []string{bank}}})
		if err == nil && (len(r.GetResult().GetMatches()) != 1 || r.GetResult().GetMatches()[0].GetEntry() != c.entry) {
			return fmt.Errorf("matches %v, want %s", r.GetResult().GetMatches(), c.entry)
		}
		return err
	case "MatchStream":
		st, err := ts.match.MatchStream(ctx)
		if err != nil {
			return err
		}
		st.Send(&pb.MatchStreamRequest{Part: &pb.MatchStreamRequest_Header{Header: &pb.MatchStreamHeader{Options: &pb.MatchOptions{Banks: []string{bank}}}}})
		st.Send(&pb.MatchStreamRequest{Part: &pb.MatchStreamRequest_Chunk{Chunk: f.small}})
		r, err := st.CloseAndRecv()
		if err == nil && len(r.GetResult().GetMatches()) != 1 {
			return fmt.Errorf("%d matches, want 1", len(r.GetResult().GetMatches()))
		}
		return err
	case "GetBank":
		r, err := ts.bank.GetBank(ctx, &pb.GetBankRequest{Name: bank})
		if err == nil && r.GetBank().GetName() != bank {
			return fmt.Errorf("got bank %q", r.GetBank().GetName())
		}
		return err
	case "ListBanks":
		r, err := ts.bank.ListBanks(ctx, &pb.ListBanksRequest{PageSize: 1000})
		if err == nil && len(r.GetBanks()) == 0 {
			return fmt.Errorf("no banks")
		}
		return err
	case "CreateBank":
		r, err := ts.bank.CreateBank(ctx, &pb.CreateBankRequest{BankId: c.bank + "-new"})
		if err == nil && r.GetBank().GetName() != bank+"-new" {
			return fmt.Errorf("created %q", r.GetBank().GetName())
		}
		return err
	case "UpdateBank":
		r, err := ts.bank.UpdateBank(ctx, &pb.UpdateBankRequest{Bank: &pb.Bank{Name: bank, Description: "changed"}})
		if err == nil && r.GetBank().GetDescription() != "changed" {
			return fmt.Errorf("description %q", r.GetBank().GetDescription())
		}
		return err
	case "DeleteBank":
		r, err := ts.bank.DeleteBank(ctx, &pb.DeleteBankRequest{Name: bank, Force: true})
		if err == nil && r.GetRemovedEntries() != 1 {
			return fmt.Errorf("removed %d entries", r.GetRemovedEntries())
		}
		return err
	case "CreateEntry":
		h := &pb.MediaHashes{Kind: pb.MediaKind_MEDIA_KIND_IMAGE, Hashes: []*pb.Hash{{Type: "sha256", Hex: strings.Repeat("ab", 32)}}}
		r, err := ts.bank.CreateEntry(ctx, &pb.CreateEntryRequest{Parent: bank, Entry: &pb.Entry{Media: h}})
		if err == nil && (r.GetAlreadyExists() || !strings.HasPrefix(r.GetEntry().GetName(), bank+"/")) {
			return fmt.Errorf("created %v", r.GetEntry().GetName())
		}
		return err
	case "CreateEntryStream":
		st, err := ts.bank.CreateEntryStream(ctx)
		if err != nil {
			return err
		}
		st.Send(&pb.CreateEntryStreamRequest{Part: &pb.CreateEntryStreamRequest_Header{Header: &pb.CreateEntryStreamHeader{Parent: bank}}})
		st.Send(&pb.CreateEntryStreamRequest{Part: &pb.CreateEntryStreamRequest_Chunk{Chunk: f.rotated}})
		r, err := st.CloseAndRecv()
		if err == nil && !strings.HasPrefix(r.GetEntry().GetName(), bank+"/") {
			return fmt.Errorf("created %v", r.GetEntry().GetName())
		}
		return err
	case "GetEntry":
		r, err := ts.bank.GetEntry(ctx, &pb.GetEntryRequest{Name: c.entry})
		if err == nil && r.GetEntry().GetName() != c.entry {
			return fmt.Errorf("got %q", r.GetEntry().GetName())
		}
		return err
	case "ListEntries":
		r, err := ts.bank.ListEntries(ctx, &pb.ListEntriesRequest{Parent: bank})
		if err == nil && len(r.GetEntries()) != 1 {
			return fmt.Errorf("%d entries", len(r.GetEntries()))
		}
		return err
	case "UpdateEntry":
		r, err := ts.bank.UpdateEntry(ctx, &pb.UpdateEntryRequest{Entry: &pb.Entry{Name: c.entry, Note: "seen"}})
		if err == nil && r.GetEntry().GetNote() != "seen" {
			return fmt.Errorf("note %q", r.GetEntry().GetNote())
		}
		return err
	case "DeleteEntry":
		r, err := ts.bank.DeleteEntry(ctx, &pb.DeleteEntryRequest{Name: c.entry})
		if err == nil && r.GetEntry().GetName() != c.entry {
			return fmt.Errorf("deleted %q", r.GetEntry().GetName())
		}
		return err
	case "ListChanges":
		r, err := ts.bank.ListChanges(ctx, &pb.ListChangesRequest{Parent: bank})
		if err == nil && len(r.GetChanges()) != 2 {
			return fmt.Errorf("%d changes, want 2", len(r.GetChanges()))
		}
		return err
	case "ExportEntries":
		_, list, err := exportList(ctx, ts.bank, &pb.ExportEntriesRequest{Parent: bank, Format: pb.ListFormat_LIST_FORMAT_NATIVE})
		if err == nil && strings.Count(string(list), `{"entry":`) != 1 {
			return fmt.Errorf("exported %q, want one entry", list)
		}
		return err
	case "ImportEntries":
		f.n++
		line := fmt.Sprintf("sha256 %064x\n", f.n)
		r, err := importList(ctx, ts.bank, &pb.ImportEntriesHeader{Parent: bank, Format: pb.ListFormat_LIST_FORMAT_PYTX_FILE}, []byte(line))
		if err == nil && r.GetImported() != 1 {
			return fmt.Errorf("imported %d, want 1", r.GetImported())
		}
		return err
	case "SyncEntries":
		f.n++
		r, err := ts.bank.SyncEntries(ctx, &pb.SyncEntriesRequest{Parent: bank, Source: fmt.Sprintf("src-%d", f.n), ToRevision: 1})
		if err == nil && r.GetSyncedRevision() != 1 {
			return fmt.Errorf("synced to %d, want 1", r.GetSyncedRevision())
		}
		return err
	case "CreateToken":
		r, err := ts.token.CreateToken(ctx, &pb.CreateTokenRequest{TokenId: c.victim + "-new", Token: &pb.Token{Role: pb.Role_ROLE_MATCHER}})
		if err == nil && (!strings.HasPrefix(r.GetSecret(), SecretPrefix) || r.GetToken().GetName() != "tokens/"+c.victim+"-new") {
			return fmt.Errorf("created %v", r)
		}
		return err
	case "ListTokens":
		r, err := ts.token.ListTokens(ctx, &pb.ListTokensRequest{})
		if err == nil && len(r.GetTokens()) == 0 {
			return fmt.Errorf("no tokens")
		}
		return err
	case "RevokeToken":
		r, err := ts.token.RevokeToken(ctx, &pb.RevokeTokenRequest{Name: "tokens/" + c.victim})
		if err == nil && r.GetToken().GetName() != "tokens/"+c.victim {
			return fmt.Errorf("revoked %v", r.GetToken())
		}
		return err
	case "ListAuditRecords":
		r, err := ts.token.ListAuditRecords(ctx, &pb.ListAuditRecordsRequest{})
		if err == nil && len(r.GetRecords()) == 0 {
			return fmt.Errorf("no audit records")
		}
		return err
	case "Backup":
		st, err := pb.NewAdminServiceClient(ts.conn).Backup(ctx, &pb.BackupRequest{})
		if err != nil {
			return err
		}
		var got int64
		for {
			r, err := st.Recv()
			if err != nil {
				return err
			}
			got += int64(len(r.GetChunk()))
			if sum := r.GetSummary(); sum != nil {
				if sum.GetSizeBytes() != got || got == 0 {
					return fmt.Errorf("summary says %d bytes, the chunks held %d", sum.GetSizeBytes(), got)
				}
				return nil
			}
		}
	case "Reflection":
		st, err := reflectionpb.NewServerReflectionClient(ts.conn).ServerReflectionInfo(ctx)
		if err != nil {
			return err
		}
		st.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
		r, err := st.Recv()
		if err == nil && len(r.GetListServicesResponse().GetService()) < 4 {
			return fmt.Errorf("services %v", r.GetListServicesResponse().GetService())
		}
		st.CloseSend()
		return err
	case "Health":
		r, err := ts.health.Check(ctx, &healthpb.HealthCheckRequest{})
		if err == nil && r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			return fmt.Errorf("status %v", r.GetStatus())
		}
		return err
	}
	return fmt.Errorf("no call %q in the test", name)
}

// TestAuthorizationMatrix makes every call as every role with no token, a
// valid, an expired and a revoked token, one limited to another bank and
// one limited to the bank the call names, and checks each outcome against
// wantAuthz: the code, and for the calls allowed, that they did their work.
func TestAuthorizationMatrix(t *testing.T) {
	ts := startServer(t, "", Options{})
	ts.token = pb.NewTokenServiceClient(ts.conn)
	f := &authzFixture{ts: ts, small: smallPNG(t)}
	f.rotated = encodePNG(t, imaging.Rotate90(imaging.Resize(readImage(t, "bridge-mods-aaa-orig.png"), 96, 0, imaging.Lanczos)))
	f.admin = tokenSecret(t, ts, store.Token{Name: "setup-admin", Role: store.RoleAdmin})
	h, err := ts.match.Hash(as(ctx(t), f.admin), &pb.HashRequest{Media: f.small})
	if err != nil {
		t.Fatal(err)
	}
	f.hashes = h.GetMedia()
	actx := as(ctx(t), f.admin)
	if _, err := ts.bank.CreateBank(actx, &pb.CreateBankRequest{BankId: "other"}); err != nil {
		t.Fatal(err)
	}

	type creds struct{ valid, expired, revoked, wrongBank string }
	tokens := map[store.Role]creds{}
	for _, r := range store.Roles() {
		var c creds
		c.valid = tokenSecret(t, ts, store.Token{Name: string(r) + "-valid", Role: r})
		c.expired = tokenSecret(t, ts, store.Token{Name: string(r) + "-expired", Role: r, Expires: time.Now().Add(-time.Minute)})
		c.revoked = tokenSecret(t, ts, store.Token{Name: string(r) + "-revoked", Role: r})
		if _, err := ts.st.Commit(context.Background(), "test", store.RevokeToken(string(r)+"-revoked")); err != nil {
			t.Fatal(err)
		}
		ts.srv.tokens.drop()
		if r != store.RoleAdmin { // an admin cannot be limited to banks
			c.wrongBank = tokenSecret(t, ts, store.Token{Name: string(r) + "-other", Role: r, Banks: []string{"other"}})
		}
		tokens[r] = c
	}

	cells, wrong := 0, 0
	for _, w := range wantAuthz {
		for _, role := range store.Roles() {
			allowed := w.roles == "open" || strings.IndexByte(w.roles, roleInitials[role]) >= 0
			deniedOr := func(ok bool) codes.Code {
				if ok {
					return codes.OK
				}
				return codes.PermissionDenied
			}
			unauth := codes.Unauthenticated
			if w.roles == "open" {
				unauth = codes.OK
			}
			kinds := []struct {
				name   string
				secret func(c cell) string
				want   codes.Code
			}{
				{"none", func(cell) string { return "" }, unauth},
				{"valid", func(cell) string { return tokens[role].valid }, deniedOr(allowed)},
				{"expired", func(cell) string { return tokens[role].expired }, unauth},
				{"revoked", func(cell) string { return tokens[role].revoked }, unauth},
			}
			if role != store.RoleAdmin {
				kinds = append(kinds,
					struct {
						name   string
						secret func(c cell) string
						want   codes.Code
					}{"other-bank", func(cell) string { return tokens[role].wrongBank }, deniedOr(w.roles == "open" || (allowed && !w.namesBank && !w.unscopedOK))},
					struct {
						name   string
						secret func(c cell) string
						want   codes.Code
					}{"this-bank", func(c cell) string {
						return tokenSecret(t, ts, store.Token{Name: c.bank + "-scoped", Role: role, Banks: []string{c.bank}})
					}, deniedOr(w.roles == "open" || (allowed && !w.unscopedOK))})
			}
			for _, k := range kinds {
				name := fmt.Sprintf("%s/%s/%s", w.call, role, k.name)
				c := f.newCell(t)
				secret := k.secret(c)
				err := f.call(as(ctx(t), secret), w.call, c)
				cells++
				got := status.Code(err)
				if got != k.want || (k.want == codes.OK && err != nil) {
					wrong++
					t.Errorf("%s: got %v (%v), want %v", name, got, err, k.want)
					continue
				}
				if got == codes.PermissionDenied || got == codes.Unauthenticated {
					msg := status.Convert(err).Message()
					for _, leak := range []string{secret, ts.db, "/tmp"} {
						if leak != "" && strings.Contains(msg, leak) {
							t.Errorf("%s: the message %q leaks %q", name, msg, leak)
						}
					}
					if got == codes.PermissionDenied && (!strings.Contains(msg, string(role)) || !strings.Contains(msg, w.call)) && w.call != "Reflection" {
						t.Errorf("%s: the message %q names neither the role nor the method", name, msg)
					}
				}
			}
		}
	}
	t.Logf("%d cells, %d wrong", cells, wrong)
}

// TestEveryMethodHasARow checks that every method the real server serves
// has a row in the production table (authz.go) and in wantAuthz above,
// so that a new RPC cannot be left out of either (health aside, open by
// isHealth).
func TestEveryMethodHasARow(t *testing.T) {
	ts := startServer(t, "", Options{})
	want := map[string]bool{}
	for _, w := range wantAuthz {
		want[w.call] = true
	}
	n := 0
	for svc, info := range ts.srv.GRPC().GetServiceInfo() {
		for _, m := range info.Methods {
			full := "/" + svc + "/" + m.Name
			if isHealth(full) {
				continue
			}
			n++
			if _, ok := ts.srv.authz[full]; !ok {
				t.Errorf("%s has no row in the authorization table", full)
			}
			name := m.Name
			if strings.Contains(svc, "reflection") {
				name = "Reflection"
			}
			if !want[name] {
				t.Errorf("%s has no row in wantAuthz", full)
			}
		}
	}
	if n < len(wantAuthz)-2 {
		t.Errorf("the server serves %d methods, fewer than the table's", n)
	}
}
