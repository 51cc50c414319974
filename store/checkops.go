package store

import "fmt"

// CheckOps applies the data model's rules to a commit's actor and
// operations, before a backend runs it: every backend calls it, so that
// they refuse the same commits with the same errors.
func CheckOps(actor string, ops []Op) error {
	if err := ValidateActor(actor); err != nil {
		return err
	}
	if len(ops) > MaxOps {
		return fmt.Errorf("%w: %d operations in one commit, over the limit of %d", ErrInvalid, len(ops), MaxOps)
	}
	for i, op := range ops {
		var err error
		switch op.Kind {
		case OpCreateBank:
			err = ValidateBank(&op.Bank)
		case OpUpdateBank, OpDeleteBank:
			if !ValidBankName(op.Bank.Name) {
				err = fmt.Errorf("%w: bank name %q", ErrInvalid, Clip(op.Bank.Name))
			}
		case OpAddEntry:
			if op.Entry == nil {
				err = fmt.Errorf("%w: no entry to add", ErrInvalid)
			} else {
				err = ValidateEntry(op.Entry)
			}
		case OpCreateToken:
			if op.Token == nil {
				err = fmt.Errorf("%w: no token to create", ErrInvalid)
			} else {
				err = ValidateToken(op.Token)
			}
		case OpRevokeToken:
			if op.Token == nil || !ValidTokenName(op.Token.Name) {
				err = fmt.Errorf("%w: no token name to revoke", ErrTokenNotFound)
			}
		case OpRecordAudit:
			if op.Audit == nil {
				err = fmt.Errorf("%w: no audit record", ErrInvalid)
			} else {
				err = ValidateAudit(op.Audit)
			}
		case OpImportEntries:
			switch {
			case len(ops) != 1:
				err = fmt.Errorf("%w: an import is a commit of its own", ErrInvalid)
			case op.Import == nil || op.Import.Next == nil:
				err = fmt.Errorf("%w: no list to import", ErrInvalid)
			case !ValidBankName(op.Import.Bank):
				err = fmt.Errorf("%w: bank name %q", ErrInvalid, Clip(op.Import.Bank))
			}
		case OpSyncEntries:
			if op.Sync == nil {
				err = fmt.Errorf("%w: no sync batch", ErrInvalid)
			} else {
				err = ValidateSyncBatch(op.Sync)
			}
		case OpUpdateEntry, OpRemoveEntry:
			if op.ID == 0 {
				err = fmt.Errorf("%w: entry id 0", ErrEntryNotFound)
			} else if op.Kind == OpUpdateEntry && op.Entry == nil {
				err = fmt.Errorf("%w: no values to update", ErrInvalid)
			}
		default:
			err = fmt.Errorf("%w: operation kind %d", ErrInvalid, op.Kind)
		}
		if err != nil {
			return OpError(i, len(ops), err)
		}
	}
	return nil
}

// OpError says which of a commit's n operations err is about (the
// i-th), unless the commit has one.
func OpError(i, n int, err error) error {
	if n == 1 {
		return err
	}
	return fmt.Errorf("operation %d: %w", i, err)
}
