package storetest

import (
	"crypto/sha256"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/store"
)

// The conformance tests of tokens and the audit log.

func secretHash(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// sameToken compares tokens, times by instant.
func sameToken(got, want store.Token) bool {
	return got.Name == want.Name && got.Role == want.Role && slices.Equal(got.Banks, want.Banks) &&
		got.Hash == want.Hash && got.Subject == want.Subject && got.Expires.Equal(want.Expires) &&
		got.Created.Equal(want.Created) && got.CreatedBy == want.CreatedBy
}

func testTokens(t *testing.T, b Backend) {
	s := open(t, b)
	c := ctx(t)
	commit(t, s, store.CreateBank(store.Bank{Name: "tvec"}))
	rev := revision(t, s)
	expires := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	res := commit(t, s,
		store.CreateToken(store.Token{Name: "ingest", Role: store.RoleCurator, Banks: []string{"tvec"}, Hash: secretHash("a"), Expires: expires}),
		store.CreateToken(store.Token{Name: "admin-1", Role: store.RoleAdmin, Hash: secretHash("b")}),
		store.CreateToken(store.Token{Name: "partner-b", Role: store.RolePartner, Subject: "partner-b.example.org"}))
	made := res.Results[0].Token
	if made == nil || made.CreatedBy != "tester" || made.Created.IsZero() || !res.Results[0].Changed {
		t.Fatalf("created token: %+v", res.Results[0])
	}
	// Tokens are not changes of banks or entries: no revision, no change.
	if got := revision(t, s); got != rev || res.Revision != rev {
		t.Errorf("creating tokens moved the revision from %d to %d (result %d)", rev, got, res.Revision)
	}
	if n := len(allChanges(t, s, 0, store.ViewNone)); n != 1 {
		t.Errorf("the change log holds %d changes, want only the bank's", n)
	}
	got, err := s.Token(c, "ingest")
	if err != nil || !sameToken(got, *made) {
		t.Errorf("Token(ingest) = %+v, %v; want %+v", got, err, *made)
	}
	if !got.Expires.Equal(expires) || got.Hash != secretHash("a") || !slices.Equal(got.Banks, []string{"tvec"}) {
		t.Errorf("stored token lost a field: %+v", got)
	}
	list, err := s.ListTokens(c)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tok := range list {
		names = append(names, tok.Name)
	}
	if !slices.Equal(names, []string{"admin-1", "ingest", "partner-b"}) {
		t.Errorf("ListTokens names %v, want name order", names)
	}
	if list[2].Subject != "partner-b.example.org" || list[2].Hash != [32]byte{} {
		t.Errorf("certificate token: %+v", list[2])
	}

	_, err = s.Commit(c, "tester", store.CreateToken(store.Token{Name: "ingest", Role: store.RoleMatcher, Hash: secretHash("c")}))
	wantErr(t, err, store.ErrTokenExists, "a second token of the same name")
	_, err = s.Commit(c, "tester", store.RevokeToken("nobody"))
	wantErr(t, err, store.ErrTokenNotFound, "revoking an unknown token")
	_, err = s.Token(c, "nobody")
	wantErr(t, err, store.ErrTokenNotFound, "reading an unknown token")

	res = commit(t, s, store.RevokeToken("ingest"))
	if r := res.Results[0].Token; r == nil || r.Name != "ingest" || r.Role != store.RoleCurator {
		t.Errorf("revocation result: %+v", res.Results[0])
	}
	_, err = s.Token(c, "ingest")
	wantErr(t, err, store.ErrTokenNotFound, "a revoked token")
	// The name is not given to another token (TokenRules).

	// A failing commit writes no token, and no audit record.
	before, _ := s.ListAudit(c, 0, 1000)
	_, err = s.Commit(c, "tester",
		store.CreateToken(store.Token{Name: "half", Role: store.RoleMatcher, Hash: secretHash("e")}),
		store.DeleteBank("missing", false))
	wantErr(t, err, store.ErrBankNotFound, "a commit with a failing operation")
	_, err = s.Token(c, "half")
	wantErr(t, err, store.ErrTokenNotFound, "the token of a failed commit")
	if after, _ := s.ListAudit(c, 0, 1000); len(after) != len(before) {
		t.Errorf("a failed commit left %d audit records", len(after)-len(before))
	}
}

func testTokenRules(t *testing.T, b Backend) {
	s := open(t, b)
	for _, tc := range []struct {
		what string
		tok  store.Token
	}{
		{"no name", store.Token{Role: store.RoleMatcher, Hash: secretHash("x")}},
		{"a bad name", store.Token{Name: "../x", Role: store.RoleMatcher, Hash: secretHash("x")}},
		{"a long name", store.Token{Name: string(make([]byte, store.MaxTokenNameLen+1)), Role: store.RoleMatcher, Hash: secretHash("x")}},
		{"an unknown role", store.Token{Name: "x", Role: "root", Hash: secretHash("x")}},
		{"no secret or subject", store.Token{Name: "x", Role: store.RoleMatcher}},
		{"both a secret and a subject", store.Token{Name: "x", Role: store.RoleMatcher, Hash: secretHash("x"), Subject: "x"}},
		{"an admin limited to banks", store.Token{Name: "x", Role: store.RoleAdmin, Banks: []string{"b"}, Hash: secretHash("x")}},
		{"a bad bank", store.Token{Name: "x", Role: store.RoleCurator, Banks: []string{"-"}, Hash: secretHash("x")}},
		{"a bank twice", store.Token{Name: "x", Role: store.RoleCurator, Banks: []string{"b", "b"}, Hash: secretHash("x")}},
	} {
		_, err := s.Commit(ctx(t), "tester", store.CreateToken(tc.tok))
		wantErr(t, err, store.ErrInvalid, tc.what)
	}
	if list, err := s.ListTokens(ctx(t)); err != nil || len(list) != 0 {
		t.Errorf("after refused tokens: %d tokens, %v", len(list), err)
	}
	// One certificate subject, one token.
	commit(t, s, store.CreateToken(store.Token{Name: "gateway", Role: store.RolePartner, Subject: "gateway.example"}))
	_, err := s.Commit(ctx(t), "tester", store.CreateToken(store.Token{Name: "gateway-admin", Role: store.RoleAdmin, Subject: "gateway.example"}))
	wantErr(t, err, store.ErrTokenExists, "a certificate subject another token has")
	commit(t, s, store.CreateToken(store.Token{Name: "other", Role: store.RolePartner, Subject: "other.example"}))

	// A revoked token's name is never given to another, so the actors of
	// the change log stay unambiguous; its certificate subject is free.
	commit(t, s, store.RevokeToken("gateway"))
	_, err = s.Commit(ctx(t), "tester", store.CreateToken(store.Token{Name: "gateway", Role: store.RoleAdmin, Hash: secretHash("y")}))
	wantErr(t, err, store.ErrTokenExists, "the name of a revoked token")
	commit(t, s, store.CreateToken(store.Token{Name: "gateway-2", Role: store.RolePartner, Subject: "gateway.example"}))
}

func testTokenLimit(t *testing.T, b Backend) {
	s := open(t, b)
	ops := make([]store.Op, store.MaxTokens)
	for i := range ops {
		ops[i] = store.CreateToken(store.Token{Name: fmt.Sprintf("t%d", i), Role: store.RoleMatcher, Hash: secretHash(fmt.Sprint(i))})
	}
	commit(t, s, ops...)
	_, err := s.Commit(ctx(t), "tester", store.CreateToken(store.Token{Name: "one-more", Role: store.RoleMatcher, Hash: secretHash("m")}))
	wantErr(t, err, store.ErrInvalid, "a token past MaxTokens")
	commit(t, s, store.RevokeToken("t0"))
	commit(t, s, store.CreateToken(store.Token{Name: "one-more", Role: store.RoleMatcher, Hash: secretHash("m")}))
}

func testAudit(t *testing.T, b Backend) {
	s := open(t, b)
	c := ctx(t)
	if got, err := s.ListAudit(c, 0, 10); err != nil || len(got) != 0 {
		t.Fatalf("a new store's audit log: %v, %v", got, err)
	}
	rev := revision(t, s)
	commit(t, s, store.CreateToken(store.Token{Name: "root", Role: store.RoleAdmin, Hash: secretHash("r")}))
	if _, err := s.Commit(c, "root", store.RecordAudit(store.AuditRecord{Action: store.AuditDenied, Actor: "anonymous", Peer: "192.0.2.1:4000",
		Method: "/mediamatch.v1.BankService/DeleteBank", Bank: "tvec", Detail: "UNAUTHENTICATED: no token"})); err != nil {
		t.Fatal(err)
	}
	commit(t, s, store.RevokeToken("root"))
	_, err := s.Commit(c, "tester", store.RecordAudit(store.AuditRecord{Action: "sneeze"}))
	wantErr(t, err, store.ErrInvalid, "an unknown audit action")
	_, err = s.Commit(c, "tester", store.RecordAudit(store.AuditRecord{Action: store.AuditDenied, Method: string(make([]byte, store.MaxAuditFieldBytes+1))}))
	wantErr(t, err, store.ErrInvalid, "an audit field over its limit")

	got, err := s.ListAudit(c, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.AuditRecord{
		{Seq: 1, Action: store.AuditTokenCreated, Actor: "tester", Token: "root", Detail: "role admin"},
		{Seq: 2, Action: store.AuditDenied, Actor: "anonymous", Peer: "192.0.2.1:4000", Method: "/mediamatch.v1.BankService/DeleteBank", Bank: "tvec", Detail: "UNAUTHENTICATED: no token"},
		{Seq: 3, Action: store.AuditTokenRevoked, Actor: "tester", Token: "root", Detail: "role admin"},
	}
	for i := range got {
		if got[i].Time.IsZero() {
			t.Errorf("audit record %d has no time", got[i].Seq)
		}
		got[i].Time = time.Time{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("audit log:\n got %+v\nwant %+v", got, want)
	}
	if page, _ := s.ListAudit(c, 1, 1); len(page) != 1 || page[0].Seq != 2 {
		t.Errorf("ListAudit(after 1, limit 1) = %+v", page)
	}
	if got := revision(t, s); got != rev {
		t.Errorf("audit records moved the revision from %d to %d", rev, got)
	}
}

func testTokensReopen(t *testing.T, b Backend) {
	if b.Reopen == nil {
		t.Skip("this backend cannot be reopened by the suite")
	}
	s := b.New(t)
	commit(t, s, store.CreateToken(store.Token{Name: "root", Role: store.RoleAdmin, Hash: secretHash("r"), Expires: time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)}))
	commit(t, s, store.RecordAudit(store.AuditRecord{Action: store.AuditDenied, Actor: "anonymous", Method: "/m"}))
	tokens, _ := s.ListTokens(ctx(t))
	audit, _ := s.ListAudit(ctx(t), 0, 10)

	s = b.Reopen(t, s)
	t.Cleanup(func() { s.Close() })
	t.Cleanup(func() { check(t, s) })
	again, err := s.ListTokens(ctx(t))
	if err != nil || len(again) != 1 || !sameToken(again[0], tokens[0]) {
		t.Errorf("tokens after reopening: %+v, %v; were %+v", again, err, tokens)
	}
	auditAgain, err := s.ListAudit(ctx(t), 0, 10)
	if err != nil || len(auditAgain) != len(audit) || auditAgain[1].Seq != audit[1].Seq {
		t.Errorf("audit log after reopening: %+v, %v; was %+v", auditAgain, err, audit)
	}
	// Numbering carries on.
	commit(t, s, store.RecordAudit(store.AuditRecord{Action: store.AuditDenied, Actor: "anonymous", Method: "/m"}))
	if last, _ := s.ListAudit(ctx(t), 2, 10); len(last) != 1 || last[0].Seq != 3 {
		t.Errorf("the audit record after reopening: %+v", last)
	}
}
