package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/store"
)

// Token secrets: SecretBytes random bytes from crypto/rand, written as
// SecretPrefix and unpadded base64url. The prefix lets secret scanners and
// people recognise a leaked mediamatch token.
const (
	// SecretBytes is the randomness of a secret: 256 bits, beyond any
	// guessing, so a plain SHA-256 (not a slow password hash) is a safe
	// stored form.
	SecretBytes = 32
	// SecretPrefix starts every secret.
	SecretPrefix = "mmt_"
)

// NewSecret returns a new token secret.
func NewSecret() (string, error) {
	b := make([]byte, SecretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("drawing a token secret: %w", err)
	}
	return SecretPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// tokensCollection is the collection of token names, "tokens/{token}".
const tokensCollection = "tokens/"

func roleFromProto(r pb.Role) (store.Role, error) {
	switch r {
	case pb.Role_ROLE_MATCHER:
		return store.RoleMatcher, nil
	case pb.Role_ROLE_CURATOR:
		return store.RoleCurator, nil
	case pb.Role_ROLE_PARTNER:
		return store.RolePartner, nil
	case pb.Role_ROLE_ADMIN:
		return store.RoleAdmin, nil
	}
	return "", fmt.Errorf("%w: role is required: matcher, curator, partner or admin", errInvalidRequest)
}

func roleToProto(r store.Role) pb.Role {
	switch r {
	case store.RoleMatcher:
		return pb.Role_ROLE_MATCHER
	case store.RoleCurator:
		return pb.Role_ROLE_CURATOR
	case store.RolePartner:
		return pb.Role_ROLE_PARTNER
	case store.RoleAdmin:
		return pb.Role_ROLE_ADMIN
	}
	return pb.Role_ROLE_UNSPECIFIED
}

func tokenToProto(t *store.Token) *pb.Token {
	out := &pb.Token{
		Name:               tokensCollection + t.Name,
		Role:               roleToProto(t.Role),
		CertificateSubject: t.Subject,
		CreateTime:         timestamp(t.Created),
		CreatedBy:          t.CreatedBy,
	}
	for _, b := range t.Banks {
		out.Banks = append(out.Banks, bankName(b))
	}
	if !t.Expires.IsZero() {
		out.ExpireTime = timestamp(t.Expires)
	}
	return out
}

// tokenFromProto reads a token to create (without its secret) from the
// API's form.
func tokenFromProto(id string, in *pb.Token) (store.Token, error) {
	t := store.Token{Name: id, Subject: in.GetCertificateSubject()}
	if !store.ValidTokenName(id) {
		return t, fmt.Errorf("%w: token_id %q: 1-%d letters, digits, '.', '_' or '-', starting with a letter or digit", errInvalidRequest, store.Clip(id), store.MaxTokenNameLen)
	}
	var err error
	if t.Role, err = roleFromProto(in.GetRole()); err != nil {
		return t, err
	}
	for _, name := range in.GetBanks() {
		b, err := parseBankName(name, false)
		if err != nil {
			return t, err
		}
		t.Banks = append(t.Banks, b)
	}
	if in.GetExpireTime() != nil {
		if err := in.GetExpireTime().CheckValid(); err != nil {
			return t, fmt.Errorf("%w: expire_time: %v", errInvalidRequest, err)
		}
		t.Expires = in.GetExpireTime().AsTime()
	}
	return t, nil
}

// CreateToken implements TokenService.CreateToken.
func (s *Server) CreateToken(ctx context.Context, req *pb.CreateTokenRequest) (*pb.CreateTokenResponse, error) {
	t, err := tokenFromProto(req.GetTokenId(), req.GetToken())
	if err != nil {
		return nil, err
	}
	if !t.Expires.IsZero() && !t.Expires.After(time.Now()) {
		// A token that could never be used is a mistake (a duration's
		// sign, a clock), not a wish.
		return nil, fmt.Errorf("%w: expire_time %s has passed", errInvalidRequest, t.Expires.UTC().Format(time.RFC3339))
	}
	var secret string
	if t.Subject == "" {
		if secret, err = NewSecret(); err != nil {
			return nil, err
		}
		t.Hash = HashSecret(secret)
	}
	res, err := s.commit(ctx, store.CreateToken(t))
	if err != nil {
		return nil, err
	}
	return &pb.CreateTokenResponse{Token: tokenToProto(res.Results[0].Token), Secret: secret}, nil
}

// ListTokens implements TokenService.ListTokens.
func (s *Server) ListTokens(ctx context.Context, req *pb.ListTokensRequest) (*pb.ListTokensResponse, error) {
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	after, err := parsePageToken(req.GetPageToken(), "tokens", "")
	if err != nil {
		return nil, err
	}
	// The store holds at most MaxTokens, in name order: a page is cut
	// from the whole list.
	tokens, err := s.st.ListTokens(ctx)
	if err != nil {
		return nil, err
	}
	out := &pb.ListTokensResponse{}
	bytes := 0
	for i := range tokens {
		if tokens[i].Name <= after {
			continue
		}
		// A token names up to MaxTokenBanks banks, so a page of them is
		// bounded by bytes too.
		pt := tokenToProto(&tokens[i])
		n := proto.Size(pt)
		if len(out.Tokens) == size || (len(out.Tokens) > 0 && bytes+n > maxPageBytes) {
			out.NextPageToken = pageToken("tokens", "", tokens[i-1].Name)
			break
		}
		bytes += n
		out.Tokens = append(out.Tokens, pt)
	}
	return out, nil
}

// RevokeToken implements TokenService.RevokeToken.
func (s *Server) RevokeToken(ctx context.Context, req *pb.RevokeTokenRequest) (*pb.RevokeTokenResponse, error) {
	id, ok := strings.CutPrefix(req.GetName(), tokensCollection)
	if !ok || !store.ValidTokenName(id) {
		return nil, fmt.Errorf("%w: token name %q: want tokens/{token}", errInvalidRequest, store.Clip(req.GetName()))
	}
	res, err := s.commit(ctx, store.RevokeToken(id))
	if err != nil {
		return nil, err
	}
	return &pb.RevokeTokenResponse{Token: tokenToProto(res.Results[0].Token)}, nil
}

// ListAuditRecords implements TokenService.ListAuditRecords.
func (s *Server) ListAuditRecords(ctx context.Context, req *pb.ListAuditRecordsRequest) (*pb.ListAuditRecordsResponse, error) {
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	after, err := parseUintToken(req.GetPageToken(), "audit", "")
	if err != nil {
		return nil, err
	}
	recs, err := s.st.ListAudit(ctx, after, size+1)
	if err != nil {
		return nil, err
	}
	out := &pb.ListAuditRecordsResponse{}
	bytes := 0
	for i, a := range recs {
		pa := auditToProto(&a)
		n := proto.Size(pa)
		if i == size || (i > 0 && bytes+n > maxPageBytes) {
			out.NextPageToken = pageToken("audit", "", strconv.FormatUint(recs[i-1].Seq, 10))
			break
		}
		bytes += n
		out.Records = append(out.Records, pa)
	}
	return out, nil
}

func auditToProto(a *store.AuditRecord) *pb.AuditRecord {
	rec := &pb.AuditRecord{Seq: int64(a.Seq), Time: timestamp(a.Time), Action: string(a.Action), Actor: a.Actor,
		Peer: a.Peer, Method: a.Method, Detail: a.Detail, Count: max(int64(a.Count), 1)}
	if a.Bank != "" {
		rec.Bank = bankName(a.Bank)
	}
	if a.Token != "" {
		rec.Token = tokensCollection + a.Token
	}
	if !a.First.IsZero() {
		rec.FirstTime = timestamp(a.First)
	}
	return rec
}

// Offline manages the tokens of a store without a server, as the
// TokenService would, for `mediamatch token --db` to create the first
// admin token while no server runs.
type Offline struct {
	s *Server
}

// NewOffline returns token management over st, recording actor as who
// made each change.
func NewOffline(st store.Store, actor string) *Offline {
	return &Offline{s: &Server{st: st, offlineActor: actor, tokens: tokenCache{st: st, refresh: DefaultTokenRefresh}}}
}

// offline gives a context Offline's caller: the one who may open the
// store file may do everything.
func offline(ctx context.Context) context.Context {
	return context.WithValue(ctx, principalKey{}, openPrincipal)
}

// CreateToken is TokenService.CreateToken.
func (o *Offline) CreateToken(ctx context.Context, req *pb.CreateTokenRequest) (*pb.CreateTokenResponse, error) {
	r, err := o.s.CreateToken(offline(ctx), req)
	return r, toStatus(err)
}

// ListTokens is TokenService.ListTokens.
func (o *Offline) ListTokens(ctx context.Context, req *pb.ListTokensRequest) (*pb.ListTokensResponse, error) {
	r, err := o.s.ListTokens(offline(ctx), req)
	return r, toStatus(err)
}

// RevokeToken is TokenService.RevokeToken.
func (o *Offline) RevokeToken(ctx context.Context, req *pb.RevokeTokenRequest) (*pb.RevokeTokenResponse, error) {
	r, err := o.s.RevokeToken(offline(ctx), req)
	return r, toStatus(err)
}
