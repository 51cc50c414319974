package store

import (
	"fmt"
	"slices"
	"time"
)

// Role says what a token may do. The server's authorization table maps
// each role to the calls it allows; the store only keeps the name.
type Role string

// The roles. Their names are stored: never rename one.
const (
	// RoleMatcher hashes and matches, and reads the banks it is granted.
	RoleMatcher Role = "matcher"
	// RoleCurator reads and writes banks and entries (its banks).
	RoleCurator Role = "curator"
	// RolePartner reads the change log and the entries of its banks.
	RolePartner Role = "partner"
	// RoleAdmin may do everything, tokens and the audit log included.
	RoleAdmin Role = "admin"
)

// Roles returns every role, least powerful first.
func Roles() []Role { return []Role{RoleMatcher, RolePartner, RoleCurator, RoleAdmin} }

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool { return slices.Contains(Roles(), r) }

// Token is a credential the server accepts: either a bearer secret, of
// which only the SHA-256 hash is kept, or a client certificate's subject
// (a TLS client certificate verified against the server's client CA whose
// subject common name equals Subject). Exactly one of the two is set.
type Token struct {
	// Name identifies the token; it is the actor recorded for everything
	// done with it. It cannot change.
	Name string
	// Role says what the token may do.
	Role Role
	// Banks, when not empty, limits the token to these banks; empty means
	// every bank.
	Banks []string
	// Hash is the SHA-256 hash of the bearer secret; zero for a token
	// bound to a certificate.
	Hash [32]byte
	// Subject is the certificate subject common name the token is bound
	// to; empty for a bearer token.
	Subject string
	// Expires is when the token stops being accepted; zero for never.
	Expires time.Time

	// The fields below are set by the store.

	// Created and CreatedBy say when and by whom the token was created.
	Created   time.Time
	CreatedBy string
}

// Expired reports whether the token is past its expiry at now.
func (t *Token) Expired(now time.Time) bool {
	return !t.Expires.IsZero() && !now.Before(t.Expires)
}

// AllowsBank reports whether the token may see bank.
func (t *Token) AllowsBank(bank string) bool {
	return len(t.Banks) == 0 || slices.Contains(t.Banks, bank)
}

// AuditAction says what an audit record records.
type AuditAction string

// The audit actions. Their names are stored: never rename one.
const (
	// AuditTokenCreated records a token's creation (written by the store
	// with the token).
	AuditTokenCreated AuditAction = "token_created"
	// AuditTokenRevoked records a token's revocation (written by the store
	// with the revocation).
	AuditTokenRevoked AuditAction = "token_revoked"
	// AuditDenied records a call refused for want of credentials or
	// permission.
	AuditDenied AuditAction = "denied"
	// AuditBackup records a copy of the whole store taken through the API
	// (written by the server; kept like token records).
	AuditBackup AuditAction = "backup"
)

// Valid reports whether a is one of the actions above.
func (a AuditAction) Valid() bool {
	return a == AuditTokenCreated || a == AuditTokenRevoked || a == AuditDenied || a == AuditBackup
}

// AuditRecord is one record of the audit log: security events that are
// not changes of banks or entries, so they stay out of the change log its
// followers read (the index, partners, replicas).
type AuditRecord struct {
	// Seq is the record's place in the audit log, from 1; set by the store.
	Seq uint64
	// Time is when it was written; set by the store.
	Time time.Time
	// Action says what happened.
	Action AuditAction
	// Actor is the token name of who did it, or "anonymous".
	Actor string
	// Peer is the caller's network address, when known.
	Peer string
	// Method is the gRPC method called, for denials.
	Method string
	// Bank is the bank the call named, when it named one.
	Bank string
	// Token is the token created or revoked.
	Token string
	// Detail says more for people: the role and the reason of a denial.
	Detail string
	// Count, for a denial, is the number of refused calls the record
	// sums up (the server writes one record per caller, method and reason
	// for the calls refused since its last flush); 0 means one.
	Count uint64
	// First, for a denial summing up several calls, is when the first of
	// them was refused; Time is when the record was written.
	First time.Time
}

// Limits of tokens and audit records, each with its reason.
const (
	// MaxTokenNameLen bounds a token name, which is recorded as the actor
	// of every change made with it.
	MaxTokenNameLen = 64
	// MaxTokenBanks bounds the banks one token is limited to.
	MaxTokenBanks = 256
	// MaxTokens bounds the tokens of a store: each call is checked
	// against every token (in constant time per token), so they stay few.
	MaxTokens = 1000
	// MaxAuditFieldBytes bounds each text field of an audit record; a
	// denied caller chooses the method name, so it is clipped, not refused.
	MaxAuditFieldBytes = 512
)

// ValidTokenName reports whether name may name a token: the rules of a
// bank name (ValidBankName) within MaxTokenNameLen.
func ValidTokenName(name string) bool {
	return len(name) <= MaxTokenNameLen && ValidBankName(name)
}

// ValidateToken checks a token to create against the data model.
func ValidateToken(t *Token) error {
	switch {
	case !ValidTokenName(t.Name):
		return fmt.Errorf("%w: token name %q: 1-%d letters, digits, '.', '_' or '-', starting with a letter or digit", ErrInvalid, Clip(t.Name), MaxTokenNameLen)
	case !t.Role.Valid():
		return fmt.Errorf("%w: role %q: want one of %v", ErrInvalid, Clip(string(t.Role)), Roles())
	case t.Role == RoleAdmin && len(t.Banks) > 0:
		return fmt.Errorf("%w: an admin token cannot be limited to banks (it manages tokens, which are not a bank's)", ErrInvalid)
	case len(t.Banks) > MaxTokenBanks:
		return fmt.Errorf("%w: %d banks, over the limit of %d", ErrInvalid, len(t.Banks), MaxTokenBanks)
	case (t.Hash == [32]byte{}) == (t.Subject == ""):
		return fmt.Errorf("%w: a token has either a secret's hash or a certificate subject, not both or neither", ErrInvalid)
	}
	if err := checkText("certificate subject", t.Subject, MaxTokenNameLen*4); err != nil {
		return err
	}
	for i, b := range t.Banks {
		if !ValidBankName(b) {
			return fmt.Errorf("%w: bank name %q", ErrInvalid, Clip(b))
		}
		if slices.Contains(t.Banks[:i], b) {
			return fmt.Errorf("%w: bank %q given twice", ErrInvalid, b)
		}
	}
	return nil
}

// ValidateAudit checks an audit record to write.
func ValidateAudit(a *AuditRecord) error {
	if !a.Action.Valid() {
		return fmt.Errorf("%w: audit action %q", ErrInvalid, Clip(string(a.Action)))
	}
	for _, f := range []string{a.Actor, a.Peer, a.Method, a.Bank, a.Token, a.Detail} {
		if len(f) > MaxAuditFieldBytes {
			return fmt.Errorf("%w: an audit field of %d bytes, over the limit of %d", ErrInvalid, len(f), MaxAuditFieldBytes)
		}
	}
	return nil
}
