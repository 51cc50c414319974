package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/server"
	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/bolt"
)

const tokenUsage = `usage: mediamatch token create --name N --role R [--bank B]... [--expires DURATION] [--cert-subject CN]
       mediamatch token list
       mediamatch token revoke NAME

Manages API tokens: through the server (with an admin token: --token or
MEDIAMATCH_TOKEN), or with --db FILE directly on the store file while no
server runs on it, or with --store etcd://HOST:PORT directly on a store on
etcd (to create the first admin token).

create prints the token once, as {"token": ...}: the server keeps only its
SHA-256 hash and cannot show it again. Roles: matcher (hash, match), curator
(banks and entries), partner (change log and entries), admin (everything).
--bank limits a token to banks (repeat it); --cert-subject binds the token
to TLS client certificates with that subject common name instead of a
secret (for a server started with --client-ca).`

// tokenJSON is how token prints a token.
type tokenJSON struct {
	Token              string   `json:"token,omitempty"`
	Name               string   `json:"name"`
	Role               string   `json:"role"`
	Banks              []string `json:"banks,omitempty"`
	Expires            string   `json:"expires,omitempty"`
	Expired            bool     `json:"expired,omitempty"`
	CertificateSubject string   `json:"certificate_subject,omitempty"`
	Created            string   `json:"created,omitempty"`
	CreatedBy          string   `json:"created_by,omitempty"`
}

func tokenOut(t *pb.Token, secret string) tokenJSON {
	out := tokenJSON{Token: secret, Name: lastPart(t.GetName()), Role: roleName(t.GetRole()), CertificateSubject: t.GetCertificateSubject(), CreatedBy: t.GetCreatedBy()}
	for _, b := range t.GetBanks() {
		out.Banks = append(out.Banks, lastPart(b))
	}
	if t.GetExpireTime() != nil {
		exp := t.GetExpireTime().AsTime()
		out.Expires = exp.UTC().Format(time.RFC3339)
		out.Expired = !time.Now().Before(exp)
	}
	if t.GetCreateTime() != nil {
		out.Created = t.GetCreateTime().AsTime().UTC().Format(time.RFC3339)
	}
	return out
}

func roleName(r pb.Role) string {
	switch r {
	case pb.Role_ROLE_MATCHER:
		return string(store.RoleMatcher)
	case pb.Role_ROLE_CURATOR:
		return string(store.RoleCurator)
	case pb.Role_ROLE_PARTNER:
		return string(store.RolePartner)
	case pb.Role_ROLE_ADMIN:
		return string(store.RoleAdmin)
	}
	return "unknown"
}

func roleFromName(s string) (pb.Role, bool) {
	for _, r := range []pb.Role{pb.Role_ROLE_MATCHER, pb.Role_ROLE_CURATOR, pb.Role_ROLE_PARTNER, pb.Role_ROLE_ADMIN} {
		if roleName(r) == s {
			return r, true
		}
	}
	return 0, false
}

// tokens is where the token command does its work: the server, or the
// store file itself.
type tokens interface {
	create(id string, t *pb.Token) (*pb.Token, string, error)
	list() ([]*pb.Token, error)
	revoke(id string) (*pb.Token, error)
	close()
}

func runToken(e *env, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, tokenUsage)
		return exitUsage
	}
	sub := args[0]
	fs := flag.NewFlagSet("token "+sub, flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	stores := addStoreFlags(fs, "", "work on this store file directly, while no server runs on it, instead of through --server")
	stores.getenv = e.getenv
	name := fs.String("name", "", "create: the token's name, recorded as the actor of everything done with it")
	role := fs.String("role", "", "create: matcher, curator, partner or admin")
	var banks listFlag
	fs.Var(&banks, "bank", "create: limit the token to this bank (repeatable); default every bank")
	expires := fs.Duration("expires", 0, "create: the token stops working after this long, e.g. 720h; default never")
	subject := fs.String("cert-subject", "", "create: bind the token to TLS client certificates with this subject common name instead of a secret")
	valid := func() bool {
		switch sub {
		case "create":
			return fs.NArg() == 0 && *name != "" && *role != "" && *expires >= 0
		case "list":
			return fs.NArg() == 0
		case "revoke":
			return fs.NArg() == 1
		}
		return false
	}
	if sub != "create" && sub != "list" && sub != "revoke" {
		fmt.Fprintf(e.stderr, "mediamatch token: unknown subcommand %q\n\n%s\n", sub, tokenUsage)
		return exitUsage
	}
	if !parseCommand(e, fs, args[1:], tokenUsage, valid) {
		return exitUsage
	}
	var req *pb.Token
	if sub == "create" {
		r, ok := roleFromName(*role)
		if !ok {
			fmt.Fprintf(e.stderr, "mediamatch token create: --role %q: want matcher, curator, partner or admin\n", *role)
			return exitUsage
		}
		req = &pb.Token{Role: r, CertificateSubject: *subject}
		for _, b := range banks {
			req.Banks = append(req.Banks, bankResource(b))
		}
		if *expires > 0 {
			req.ExpireTime = timestamppb.New(time.Now().Add(*expires))
		}
	}
	var tk tokens
	if *stores.db != "" || stores.onEtcd() {
		ft, err := openFileTokens(stores, e.getenv("USER"))
		if err != nil {
			fmt.Fprintf(e.stderr, "mediamatch token: %v\n", err)
			return exitFail
		}
		tk = ft
	} else {
		c, ok := connect(e, cf)
		if !ok {
			return exitFail
		}
		tk = apiTokens{c}
	}
	defer tk.close()
	out := newPrinter(e.stdout)
	var err error
	switch sub {
	case "create":
		var t *pb.Token
		var secret string
		if t, secret, err = tk.create(*name, req); err == nil {
			err = out.print(tokenOut(t, secret))
		}
	case "list":
		var list []*pb.Token
		if list, err = tk.list(); err == nil {
			for _, t := range list {
				if err = out.print(tokenOut(t, "")); err != nil {
					break
				}
			}
		}
	case "revoke":
		var t *pb.Token
		if t, err = tk.revoke(fs.Arg(0)); err == nil {
			err = out.print(tokenOut(t, ""))
		}
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "mediamatch token %s: %s\n", sub, errorMessage(err))
		return exitFail
	}
	return exitOK
}

// apiTokens manages tokens through the server's TokenService.
type apiTokens struct{ c *client }

func (a apiTokens) create(id string, t *pb.Token) (*pb.Token, string, error) {
	ctx, cancel := a.c.ctx()
	defer cancel()
	r, err := a.c.token.CreateToken(ctx, &pb.CreateTokenRequest{TokenId: id, Token: t})
	return r.GetToken(), r.GetSecret(), err
}

func (a apiTokens) list() ([]*pb.Token, error) {
	return allTokens(func(req *pb.ListTokensRequest) (*pb.ListTokensResponse, error) {
		ctx, cancel := a.c.ctx()
		defer cancel()
		return a.c.token.ListTokens(ctx, req)
	})
}

// allTokens reads every page of ListTokens.
func allTokens(list func(*pb.ListTokensRequest) (*pb.ListTokensResponse, error)) ([]*pb.Token, error) {
	var out []*pb.Token
	for page := ""; ; {
		r, err := list(&pb.ListTokensRequest{PageToken: page, PageSize: 1000})
		if err != nil {
			return nil, err
		}
		out = append(out, r.GetTokens()...)
		if page = r.GetNextPageToken(); page == "" {
			return out, nil
		}
	}
}

func (a apiTokens) revoke(id string) (*pb.Token, error) {
	ctx, cancel := a.c.ctx()
	defer cancel()
	r, err := a.c.token.RevokeToken(ctx, &pb.RevokeTokenRequest{Name: "tokens/" + id})
	return r.GetToken(), err
}

func (a apiTokens) close() { a.c.Close() }

// fileTokens manages tokens directly in a store file, or in the store on
// an etcd cluster (which servers may be using meanwhile), as the server
// would (server.Offline), with "offline:USER" as the actor.
type fileTokens struct {
	db  store.Store
	off *server.Offline
}

// offlineLockTimeout is how long token --db waits for the file's lock: a
// server holding it will not let go, so a second is plenty.
const offlineLockTimeout = time.Second

func openFileTokens(stores *storeFlags, user string) (*fileTokens, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := stores.open(ctx, nil, bolt.Options{LockTimeout: offlineLockTimeout})
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("%s is held by a running mediamatch server (bbolt locks the file while it is open): stop the server and run this again, or manage tokens through the server, without --db, with an admin token (--token or MEDIAMATCH_TOKEN)", *stores.db)
	}
	if err != nil {
		return nil, err
	}
	actor := "offline"
	if user != "" {
		actor += ":" + user
	}
	return &fileTokens{db: db, off: server.NewOffline(db, actor)}, nil
}

func (f *fileTokens) create(id string, t *pb.Token) (*pb.Token, string, error) {
	r, err := f.off.CreateToken(context.Background(), &pb.CreateTokenRequest{TokenId: id, Token: t})
	return r.GetToken(), r.GetSecret(), err
}

func (f *fileTokens) list() ([]*pb.Token, error) {
	return allTokens(func(req *pb.ListTokensRequest) (*pb.ListTokensResponse, error) {
		return f.off.ListTokens(context.Background(), req)
	})
}

func (f *fileTokens) revoke(id string) (*pb.Token, error) {
	r, err := f.off.RevokeToken(context.Background(), &pb.RevokeTokenRequest{Name: "tokens/" + id})
	return r.GetToken(), err
}

func (f *fileTokens) close() { f.db.Close() }

const auditUsage = `usage: mediamatch audit [--after SEQ]

Prints the audit log, oldest first, one record per line (an admin token is
needed): every token created or revoked, and the calls refused for want of a
valid token or of permission, summed up per caller, address, method and
reason every few seconds (count, first and time say how many and when), with
who (the token's name, or "anonymous"), what (method, bank) and when.
--after skips the records up to that sequence number.`

// auditJSON is how audit prints a record.
type auditJSON struct {
	Seq    int64  `json:"seq"`
	Time   string `json:"time"`
	Action string `json:"action"`
	Actor  string `json:"actor"`
	Peer   string `json:"peer,omitempty"`
	Method string `json:"method,omitempty"`
	Bank   string `json:"bank,omitempty"`
	Token  string `json:"token,omitempty"`
	Detail string `json:"detail,omitempty"`
	Count  int64  `json:"count,omitempty"`
	First  string `json:"first,omitempty"`
}

func runAudit(e *env, args []string) int {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	after := fs.Int64("after", 0, "print the records after this sequence number")
	if !parseCommand(e, fs, args, auditUsage, func() bool { return fs.NArg() == 0 && *after >= 0 }) {
		return exitUsage
	}
	c, ok := connect(e, cf)
	if !ok {
		return exitFail
	}
	defer c.Close()
	out := newPrinter(e.stdout)
	for page := ""; ; {
		ctx, cancel := c.ctx()
		resp, err := c.token.ListAuditRecords(ctx, &pb.ListAuditRecordsRequest{PageToken: page, PageSize: 1000})
		cancel()
		if err != nil {
			fmt.Fprintf(e.stderr, "mediamatch: reading the audit log: %s\n", errorMessage(err))
			return exitFail
		}
		for _, a := range resp.GetRecords() {
			if a.GetSeq() <= *after {
				continue
			}
			rec := auditJSON{Seq: a.GetSeq(), Time: a.GetTime().AsTime().UTC().Format(time.RFC3339Nano), Action: a.GetAction(), Actor: a.GetActor(),
				Peer: a.GetPeer(), Method: a.GetMethod(), Bank: lastPart(a.GetBank()), Token: lastPart(a.GetToken()), Detail: a.GetDetail()}
			if a.GetAction() == string(store.AuditDenied) {
				rec.Count = a.GetCount()
				if a.GetFirstTime() != nil {
					rec.First = a.GetFirstTime().AsTime().UTC().Format(time.RFC3339Nano)
				}
			}
			if err := out.print(rec); err != nil {
				return exitFail
			}
		}
		if page = resp.GetNextPageToken(); page == "" {
			return exitOK
		}
	}
}
