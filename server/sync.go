package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/mediamatch/mediamatch/exchange"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/store"
)

// SyncEntries implements BankService.SyncEntries: the batch's native list
// is read whole (a request is at most one message), and its removals,
// entries and prunes are one store commit with the cursor's move
// (store.SyncEntries), so the cursor is exactly where the applied changes
// end, whenever the syncer dies.
func (s *Server) SyncEntries(ctx context.Context, req *pb.SyncEntriesRequest) (*pb.SyncEntriesResponse, error) {
	bank, err := parseBankName(req.GetParent(), false)
	if err != nil {
		return nil, err
	}
	from, to := req.GetFromRevision(), req.GetToRevision()
	if from < 0 || to < from {
		return nil, fmt.Errorf("%w: from_revision %d and to_revision %d: want 0 <= from <= to", errInvalidRequest, from, to)
	}
	b := &store.SyncBatch{Bank: bank, Source: req.GetSource(), Partner: req.GetPartner(),
		From: store.Revision(from), To: store.Revision(to)}
	for _, name := range req.GetPrune() {
		eb, id, err := parseEntryName(name)
		if err != nil {
			return nil, err
		}
		if eb != bank && eb != anyBank {
			return nil, fmt.Errorf("%w: prune %q: not an entry of %s", errInvalidRequest, store.Clip(name), bankName(bank))
		}
		b.Prune = append(b.Prune, id)
	}
	if len(req.GetList()) > 0 {
		if err := readSyncList(req.GetList(), b); err != nil {
			return nil, err
		}
	}
	res, err := s.commit(ctx, store.SyncEntries(b))
	if err != nil {
		return nil, err
	}
	r := res.Results[0].Sync
	s.log.Debug("sync", "actor", actor(ctx), "bank", bank, "source", b.Source, "from", from, "to", to,
		"added", r.Added, "updated", r.Updated, "removed", r.Removed, "unchanged", r.Unchanged, "conflicts", r.Conflicts)
	return &pb.SyncEntriesResponse{Added: r.Added, Updated: r.Updated, Removed: r.Removed, Unchanged: r.Unchanged,
		Conflicts: r.Conflicts, Revision: int64(res.Revision), SyncedRevision: to}, nil
}

// readSyncList reads a batch's native list into b: each entry with its id
// and revision at the source as provenance, each removal's identity.
func readSyncList(list []byte, b *store.SyncBatch) error {
	nr, err := exchange.NewNativeReader(bytes.NewReader(list))
	if err != nil {
		return err
	}
	for {
		it, err := nr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if it.Removal != nil {
			b.Removals = append(b.Removals, it.Removal.Identity)
			continue
		}
		e := it.Entry
		e.Provenance = store.Provenance{SourceID: strconv.FormatUint(e.ID, 10), ListRevision: e.Revision}
		b.Entries = append(b.Entries, e)
	}
}
