package server

import (
	"slices"
	"strings"

	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"

	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/store"
)

// The authorization table: which roles may call each method, and which
// banks a request names. It is the only place that says who may do what;
// the interceptors in auth.go enforce it, and the handlers only narrow
// what a call returns to the banks a token is granted (lists, matches
// without banks, entries named through "banks/-").
//
// An admin may call every method in the table. A method missing from the
// table is refused to every role, admins included, so that a new RPC is
// closed until its row is written. Health is open to everyone; reflection to
// admins, or to everyone when Options.OpenReflection is set (serve sets it
// when listening on loopback).
//
//	method                 matcher  curator  partner  banks named
//	Hash                      x                       -
//	Match, MatchStream        x                       options.banks (none: the granted banks)
//	GetBank                   x        x        x     name
//	ListBanks                 x        x        x     - (lists the granted banks)
//	CreateBank                         x*             bank_id (*only a token granted every bank)
//	UpdateBank, DeleteBank             x              name
//	CreateEntry(Stream)                x              parent
//	GetEntry                           x        x     name
//	ListEntries                        x        x     parent ("banks/-": the granted banks)
//	UpdateEntry, DeleteEntry           x              name
//	ListChanges                        x        x     parent ("banks/-": the granted banks)
//	ExportEntries                      x        x     parent
//	ImportEntries                      x              header.parent
//	SyncEntries                        x              parent
//	TokenService, AdminService                        admin only
func authzTable() map[string]authzRule {
	const (
		m = store.RoleMatcher
		c = store.RoleCurator
		p = store.RolePartner
	)
	return map[string]authzRule{
		pb.MatchService_Hash_FullMethodName:        {roles: roles(m)},
		pb.MatchService_Match_FullMethodName:       {roles: roles(m), banks: matchBanks},
		pb.MatchService_MatchStream_FullMethodName: {roles: roles(m), banks: matchBanks},

		pb.BankService_GetBank_FullMethodName:           {roles: roles(m, c, p), banks: nameBank},
		pb.BankService_ListBanks_FullMethodName:         {roles: roles(m, c, p)},
		pb.BankService_CreateBank_FullMethodName:        {roles: roles(c), banks: nameBank, everyBank: true},
		pb.BankService_UpdateBank_FullMethodName:        {roles: roles(c), banks: nameBank},
		pb.BankService_DeleteBank_FullMethodName:        {roles: roles(c), banks: nameBank},
		pb.BankService_CreateEntry_FullMethodName:       {roles: roles(c), banks: nameBank},
		pb.BankService_CreateEntryStream_FullMethodName: {roles: roles(c), banks: nameBank},
		pb.BankService_GetEntry_FullMethodName:          {roles: roles(c, p), banks: nameBank},
		pb.BankService_ListEntries_FullMethodName:       {roles: roles(c, p), banks: nameBank},
		pb.BankService_UpdateEntry_FullMethodName:       {roles: roles(c), banks: nameBank},
		pb.BankService_DeleteEntry_FullMethodName:       {roles: roles(c), banks: nameBank},
		pb.BankService_ListChanges_FullMethodName:       {roles: roles(c, p), banks: nameBank},
		pb.BankService_ExportEntries_FullMethodName:     {roles: roles(c, p), banks: nameBank},
		pb.BankService_ImportEntries_FullMethodName:     {roles: roles(c), banks: nameBank},
		pb.BankService_SyncEntries_FullMethodName:       {roles: roles(c), banks: nameBank},

		pb.TokenService_CreateToken_FullMethodName:      {},
		pb.TokenService_ListTokens_FullMethodName:       {},
		pb.TokenService_RevokeToken_FullMethodName:      {},
		pb.TokenService_ListAuditRecords_FullMethodName: {},
		pb.AdminService_Backup_FullMethodName:           {},

		reflectionv1.ServerReflection_ServerReflectionInfo_FullMethodName:      {reflection: true},
		reflectionv1alpha.ServerReflection_ServerReflectionInfo_FullMethodName: {reflection: true},
	}
}

// authzRule is one row of the table.
type authzRule struct {
	// roles may call the method, besides admin.
	roles []store.Role
	// banks returns the banks a request names ("-" for every bank); nil
	// for methods that name none.
	banks func(req any) []string
	// everyBank limits the method to tokens granted every bank.
	everyBank bool
	// reflection marks server reflection.
	reflection bool
}

func roles(r ...store.Role) []store.Role { return r }

// isHealth reports whether method is of the health service, open to all.
func isHealth(method string) bool { return strings.HasPrefix(method, "/grpc.health.v1.Health/") }

// allows reports whether the rule lets role call the method.
func (r authzRule) allows(role store.Role, openReflection bool) bool {
	switch {
	case role == store.RoleAdmin:
		return true
	case r.reflection:
		return openReflection
	}
	return slices.Contains(r.roles, role)
}

// bankOf returns the bank ID at the start of a bank or entry name, or ""
// for a name that is neither (the handler refuses it as malformed).
func bankOf(name string) string {
	rest, ok := strings.CutPrefix(name, banksCollection)
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, "/")
	return id
}

// nameBank returns the bank a bank or entry request names: its name,
// parent, bank_id, or the name of the bank or entry it updates.
func nameBank(req any) []string {
	var name string
	switch r := req.(type) {
	case *pb.CreateBankRequest:
		return []string{r.GetBankId()}
	case *pb.GetBankRequest:
		name = r.GetName()
	case *pb.UpdateBankRequest:
		name = r.GetBank().GetName()
	case *pb.DeleteBankRequest:
		name = r.GetName()
	case *pb.CreateEntryRequest:
		name = r.GetParent()
	case *pb.CreateEntryStreamRequest:
		name = r.GetHeader().GetParent()
	case *pb.GetEntryRequest:
		name = r.GetName()
	case *pb.ListEntriesRequest:
		name = r.GetParent()
	case *pb.UpdateEntryRequest:
		name = r.GetEntry().GetName()
	case *pb.DeleteEntryRequest:
		name = r.GetName()
	case *pb.ListChangesRequest:
		name = r.GetParent()
	case *pb.ExportEntriesRequest:
		name = r.GetParent()
	case *pb.ImportEntriesRequest:
		name = r.GetHeader().GetParent()
	case *pb.SyncEntriesRequest:
		name = r.GetParent()
	}
	if b := bankOf(name); b != "" {
		return []string{b}
	}
	return nil
}

// matchBanks returns the banks a match names in its options.
func matchBanks(req any) []string {
	var opts *pb.MatchOptions
	switch r := req.(type) {
	case *pb.MatchRequest:
		opts = r.GetOptions()
	case *pb.MatchStreamRequest:
		opts = r.GetHeader().GetOptions()
	}
	var out []string
	for _, name := range opts.GetBanks() {
		if b := bankOf(name); b != "" {
			out = append(out, b)
		}
	}
	return out
}
