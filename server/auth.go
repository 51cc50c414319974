package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/mediamatch/mediamatch/store"
)

// Authentication: a call carries "authorization: bearer TOKEN", or comes
// over TLS with a client certificate verified against the server's client
// CA. The token's SHA-256 hash is compared, in constant time, with every
// stored token's; a certificate's subject common name is looked up among
// the certificate tokens. A bearer token, when given, is used even when a
// certificate is also presented.
//
// Authentication is required once the store holds any token, or always
// with Options.RequireAuth; otherwise every call is anonymous and allowed
// (the server then only listens on loopback, see cmd/mediamatch serve).

// Anonymous is the actor of calls made without a token.
const Anonymous = "anonymous"

// principal is who a call is made as.
type principal struct {
	// name is the token's name, or Anonymous.
	name string
	// role is the token's role; "" when authentication is off.
	role store.Role
	// banks limits the call to these banks; nil for every bank.
	banks []string
	// open is set when authentication is off: everything is allowed.
	open bool
	// created is when the token was created: with its name, it tells the
	// token from a later one of the same name.
	created time.Time
}

// allowsBank reports whether the principal may see bank.
func (p *principal) allowsBank(bank string) bool {
	return p.banks == nil || slices.Contains(p.banks, bank)
}

type principalKey struct{}

// openPrincipal is the caller of every call while authentication is off,
// and of Offline's token management: everything is allowed.
var openPrincipal = &principal{name: Anonymous, open: true}

// principalOf returns the caller a call's context carries. A context
// without one did not go through the interceptors (nor Offline), and is
// refused: a handler reached some other way must not run as everyone.
func principalOf(ctx context.Context) (*principal, error) {
	if p, ok := ctx.Value(principalKey{}).(*principal); ok {
		return p, nil
	}
	return nil, fmt.Errorf("%w: the call carries no caller (it did not go through authentication)", errPermissionDenied)
}

// actor names the caller in the change log: the token's name, or, with
// authentication off, "anonymous@" and the peer's address.
func actor(ctx context.Context) string {
	p, err := principalOf(ctx)
	if err != nil {
		return Anonymous // the write is refused (stillValid)
	}
	if p.open {
		if addr := peerAddr(ctx); addr != "" {
			return Anonymous + "@" + addr
		}
	}
	return p.name
}

// HashSecret returns the stored form of a token secret: its SHA-256 hash.
func HashSecret(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// authenticate finds who the call is made as.
func (s *Server) authenticate(ctx context.Context) (*principal, error) {
	secret, hasSecret, err := bearer(ctx)
	if err != nil {
		return nil, err
	}
	subject, hasCert := certSubject(ctx)
	if !hasSecret && !hasCert && s.opts.RequireAuth {
		return nil, fmt.Errorf("%w: this server needs a token: send \"authorization: bearer TOKEN\" (the mediamatch client's --token, or MEDIAMATCH_TOKEN)", errUnauthenticated)
	}
	tokens, err := s.tokens.get(ctx)
	if err != nil {
		return nil, err
	}
	if !hasSecret && !hasCert {
		if !tokens.empty() {
			return nil, fmt.Errorf("%w: this server needs a token: send \"authorization: bearer TOKEN\" (the mediamatch client's --token, or MEDIAMATCH_TOKEN)", errUnauthenticated)
		}
		return openPrincipal, nil
	}
	var found *store.Token
	if hasSecret {
		if found = tokens.bySecret[HashSecret(secret)]; found == nil {
			return nil, fmt.Errorf("%w: the token is not valid (unknown or revoked)", errUnauthenticated)
		}
	} else if found = tokens.bySubject[subject]; found == nil {
		return nil, fmt.Errorf("%w: the client certificate's subject %q has no token (an admin creates one with: mediamatch token create --cert-subject)", errUnauthenticated, store.Clip(subject))
	}
	if found.Expired(time.Now()) {
		return nil, fmt.Errorf("%w: token %q expired at %s", errUnauthenticated, found.Name, found.Expires.UTC().Format(time.RFC3339))
	}
	p := &principal{name: found.Name, role: found.Role, created: found.Created}
	if len(found.Banks) > 0 {
		p.banks = found.Banks
	}
	return p, nil
}

// stillValid checks, just before a write, that the token a call was
// authenticated with is still there and unexpired: a stream opened before
// the token's revocation must not write as it afterwards.
func (s *Server) stillValid(ctx context.Context) error {
	p, err := principalOf(ctx)
	if err != nil {
		return err
	}
	if p.open {
		return nil
	}
	t, err := s.st.Token(ctx, p.name)
	switch {
	case errors.Is(err, store.ErrTokenNotFound) || (err == nil && !t.Created.Equal(p.created)):
		err = fmt.Errorf("%w: token %q was revoked during the call; nothing was written", errUnauthenticated, p.name)
	case err != nil:
		return err
	case t.Expired(time.Now()):
		err = fmt.Errorf("%w: token %q expired at %s, during the call; nothing was written", errUnauthenticated, p.name, t.Expires.UTC().Format(time.RFC3339))
	default:
		return nil
	}
	method, _ := grpc.Method(ctx)
	return s.deny(ctx, p, method, "", err)
}

// bearer returns the token of the call's authorization metadata.
func bearer(ctx context.Context) (string, bool, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return "", false, nil
	}
	if len(vals) > 1 {
		return "", false, fmt.Errorf("%w: more than one authorization header", errUnauthenticated)
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(vals[0]), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "bearer") || token == "" {
		return "", false, fmt.Errorf("%w: the authorization header must be \"bearer TOKEN\"", errUnauthenticated)
	}
	return token, true, nil
}

// certSubject returns the subject common name of the call's verified
// client certificate.
func certSubject(ctx context.Context) (string, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return "", false
	}
	cn := info.State.VerifiedChains[0][0].Subject.CommonName
	return cn, cn != ""
}

// authorize checks a call against the table: the method for the role,
// then the banks the request names.
func (s *Server) authorize(p *principal, method string, req any) (string, error) {
	if p.open {
		return "", nil
	}
	rule, ok := s.authz[method]
	if !ok || !rule.allows(p.role, s.opts.OpenReflection) {
		return "", fmt.Errorf("%w: token %q has role %s, which may not call %s", errPermissionDenied, p.name, p.role, method)
	}
	return s.authorizeBanks(p, method, rule, req)
}

// authorizeBanks checks the banks a request names against the token's.
func (s *Server) authorizeBanks(p *principal, method string, rule authzRule, req any) (string, error) {
	if rule.everyBank && p.banks != nil {
		return "", fmt.Errorf("%w: token %q (role %s) is limited to banks %s, and only a token granted every bank may call %s", errPermissionDenied, p.name, p.role, strings.Join(p.banks, ","), method)
	}
	if rule.banks == nil || req == nil {
		return "", nil
	}
	named := rule.banks(req)
	for _, b := range named {
		if b != anyBank && !p.allowsBank(b) {
			return b, fmt.Errorf("%w: token %q (role %s) may not use bank %q in %s", errPermissionDenied, p.name, p.role, store.Clip(b), method)
		}
	}
	if len(named) > 0 {
		return named[0], nil
	}
	return "", nil
}

// refuse returns an authentication failure, recording it in the audit
// log when it is a refusal (not when the tokens could not be read: the
// store is closing or damaged, and the call fails with that error).
func (s *Server) refuse(ctx context.Context, method string, err error) error {
	if !errors.Is(err, errUnauthenticated) {
		return err
	}
	return s.deny(ctx, nil, method, "", err)
}

// clipAudit cuts a field the caller chose to the audit log's limit.
func clipAudit(s string) string {
	if len(s) > store.MaxAuditFieldBytes {
		return s[:store.MaxAuditFieldBytes]
	}
	return s
}

// unaryAuth authenticates and authorizes every unary call.
func (s *Server) unaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if isHealth(info.FullMethod) {
		return handler(ctx, req)
	}
	p, err := s.authenticate(ctx)
	if err != nil {
		return nil, s.refuse(ctx, info.FullMethod, err)
	}
	if bank, err := s.authorize(p, info.FullMethod, req); err != nil {
		return nil, s.deny(ctx, p, info.FullMethod, bank, err)
	}
	if err := s.limitRate(ctx, p); err != nil {
		return nil, err
	}
	return handler(context.WithValue(ctx, principalKey{}, p), req)
}

// streamAuth is unaryAuth for streams. The method is checked at once; the
// banks, which a stream names in its first message, when it is received.
func (s *Server) streamAuth(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx := ss.Context()
	if isHealth(info.FullMethod) {
		return handler(srv, ss)
	}
	p, err := s.authenticate(ctx)
	if err != nil {
		return s.refuse(ctx, info.FullMethod, err)
	}
	if _, err := s.authorize(p, info.FullMethod, nil); err != nil {
		return s.deny(ctx, p, info.FullMethod, "", err)
	}
	if err := s.limitRate(ctx, p); err != nil {
		return err
	}
	w := &authStream{ServerStream: ss, ctx: context.WithValue(ctx, principalKey{}, p), s: s, p: p, method: info.FullMethod}
	err = handler(srv, w)
	if denied := w.deniedErr(); denied != nil {
		return denied
	}
	return err
}

// authStream checks the banks a stream's first message names.
type authStream struct {
	grpc.ServerStream
	ctx    context.Context
	s      *Server
	p      *principal
	method string
	// mu guards checked and denied: an upload receives in a goroutine of
	// its own (recvWithin), which may still be in RecvMsg when the
	// handler has given up on it.
	mu      sync.Mutex
	checked bool
	denied  error
}

func (a *authStream) Context() context.Context { return a.ctx }

func (a *authStream) RecvMsg(m any) error {
	if err := a.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.checked || a.p.open {
		return nil
	}
	a.checked = true
	if bank, err := a.s.authorizeBanks(a.p, a.method, a.s.authz[a.method], m); err != nil {
		a.denied = a.s.deny(a.ctx, a.p, a.method, bank, err)
		return a.denied
	}
	return nil
}

func (a *authStream) deniedErr() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.denied
}
