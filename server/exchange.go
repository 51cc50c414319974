package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mediamatch/mediamatch/exchange"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/store"
)

const (
	// prefetchBatch and prefetchBatches bound the items read ahead of an
	// import's staging: parsing runs on another core meanwhile.
	prefetchBatch   = 256
	prefetchBatches = 8
	// exportChunkBytes is the size of an export's messages: well under
	// the default message size, large enough that framing costs nothing.
	exportChunkBytes = 256 << 10
	// maxImportIndexWait bounds how long an import waits for the index to
	// show it before it returns; applying a million entries takes the
	// index a few seconds, far more than one write (maxIndexWait).
	maxImportIndexWait = 2 * time.Minute
)

// listFormats maps the API's list formats to the exchange package's.
var listFormats = map[pb.ListFormat]exchange.Format{
	pb.ListFormat_LIST_FORMAT_NATIVE:    exchange.FormatNative,
	pb.ListFormat_LIST_FORMAT_PYTX_FILE: exchange.FormatPyTXFile,
	pb.ListFormat_LIST_FORMAT_PYTX_CSV:  exchange.FormatPyTXCSV,
	pb.ListFormat_LIST_FORMAT_VPDQ_JSON: exchange.FormatVPDQJSON,
}

func listFormat(f pb.ListFormat) (exchange.Format, error) {
	if ef, ok := listFormats[f]; ok {
		return ef, nil
	}
	return "", fmt.Errorf("%w: format %v: give one of native, pytx-file, pytx-csv, vpdq-json", errInvalidRequest, f)
}

// ExportEntries implements BankService.ExportEntries. Everything is read
// from one snapshot, written as the format asks and sent as it is
// written: memory stays at one entry and one chunk whatever the bank's
// size. The snapshot is a read transaction held for the whole export.
func (s *Server) ExportEntries(req *pb.ExportEntriesRequest, stream pb.BankService_ExportEntriesServer) error {
	ctx := stream.Context()
	bank, err := parseBankName(req.GetParent(), false)
	if err != nil {
		return err
	}
	format, err := listFormat(req.GetFormat())
	if err != nil {
		return err
	}
	since := req.GetSinceRevision()
	if since < 0 {
		return fmt.Errorf("%w: since_revision %d is negative", errInvalidRequest, since)
	}
	snap, err := s.st.Snapshot(ctx)
	if err != nil {
		return err
	}
	defer snap.Close()
	b, err := snap.Bank(bank)
	if err != nil {
		return err
	}
	if uint64(since) > uint64(snap.Revision()) {
		return fmt.Errorf("%w: since_revision %d; the store is at %d", store.ErrFutureRevision, since, snap.Revision())
	}
	if err := stream.Send(&pb.ExportEntriesResponse{Revision: int64(snap.Revision())}); err != nil {
		return err
	}
	out := newChunkSender(exportChunkBytes, func(p []byte) error { return stream.Send(&pb.ExportEntriesResponse{Chunk: p}) })
	lw, err := exchange.NewListWriter(format, out, exchange.NativeHeader{
		Exporter: "mediamatch",
		Bank: exchange.NativeBank{Name: b.Name, Description: b.Description, Labels: b.Labels, Disabled: b.Disabled,
			Thresholds: b.Thresholds, FalseMatchBudget: b.FalseMatchBudget},
		FromRevision: uint64(since), ToRevision: uint64(snap.Revision()), Exported: time.Now().UTC(),
	})
	if err != nil {
		return err
	}
	var werr error
	if since == 0 {
		err = snap.ListEntries(ctx, store.EntryQuery{Bank: bank, View: store.ViewFull}, func(e *store.Entry) bool {
			werr = lw.WriteEntry(e)
			return werr == nil
		})
	} else {
		err = snap.Changes(ctx, store.Revision(since), store.ViewFull, func(c store.Change) bool {
			werr = writeChange(lw, bank, c)
			return werr == nil
		})
	}
	if err = errors.Join(err, werr); err != nil {
		return fmt.Errorf("exporting bank %q: %w", bank, err)
	}
	if err := lw.Flush(); err != nil {
		return err
	}
	return out.flush()
}

// writeChange writes one change of an export after a revision: an entry
// at its last change up to the snapshot (earlier changes of it are
// skipped, so each entry is written once, as it is), or a removal.
func writeChange(lw *exchange.ListWriter, bank string, c store.Change) error {
	if c.Bank != bank {
		return nil
	}
	switch c.Kind {
	case store.EntryAdded, store.EntryUpdated:
		if e := c.EntryValue; e != nil && e.Revision == c.Revision {
			return lw.WriteEntry(e)
		}
	case store.EntryRemoved:
		return lw.WriteRemoval(exchange.Removal{Identity: c.Identity, ID: c.EntryID, Revision: c.Revision, Time: c.Time, Actor: c.Actor})
	}
	return nil
}

// ImportEntries implements BankService.ImportEntries. The list is read as
// it arrives and staged by the store in bounded chunks that nothing shows
// until the whole list has been read (store.ImportEntries): memory stays
// bounded whatever the list's length, and a problem anywhere leaves the
// store as it was. The import holds the store's writer while it runs, so
// other writes wait for it; the stream idle timeout bounds how long a
// stalled client can make them wait for nothing.
func (s *Server) ImportEntries(stream pb.BankService_ImportEntriesServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	h, bank, err := streamHeader(s, ctx, stream.Recv, (*pb.ImportEntriesRequest).GetHeader)
	if err != nil {
		return err
	}
	format, err := listFormat(h.GetFormat())
	if err != nil {
		return err
	}
	if h.GetSizeBytes() < 0 {
		return fmt.Errorf("%w: negative size", errInvalidRequest)
	}
	if len(h.GetPartner()) > store.MaxSourceBytes || len(h.GetList()) > store.MaxSourceBytes {
		return fmt.Errorf("%w: the partner and list names are at most %d bytes", errInvalidRequest, store.MaxSourceBytes)
	}
	if _, err := s.st.Bank(ctx, bank); err != nil {
		return err
	}
	pr, pw := io.Pipe()
	defer pr.Close()
	go func() {
		next := nextChunk(func() (*pb.ImportEntriesRequest, error) {
			return recvWithin(ctx, s.opts.StreamIdleTimeout, stream.Recv)
		}, func(m *pb.ImportEntriesRequest) bool { return m.GetHeader() != nil })
		for {
			chunk, err := next()
			if err == io.EOF {
				pw.Close()
				return
			}
			if err == nil {
				_, err = pw.Write(chunk)
			}
			if err != nil {
				pw.CloseWithError(fmt.Errorf("receiving the list: %w", err))
				return
			}
		}
	}()
	lr, err := exchange.NewListReader(format, pr)
	if err != nil {
		return err
	}
	imp := &store.Import{
		Bank:         bank,
		Provenance:   store.Provenance{Partner: h.GetPartner(), List: h.GetList(), ListRevision: lr.Revision()},
		AllowRepeats: lr.Repeats(),
		Next:         prefetch(ctx, lr.Next),
	}
	res, err := s.commitWait(ctx, maxImportIndexWait, store.ImportEntries(imp))
	if err != nil {
		return err
	}
	r := res.Results[0].Import
	s.log.Info("import", "actor", actor(ctx), "bank", bank, "partner", h.GetPartner(), "list", h.GetList(),
		"imported", r.Imported, "unchanged", r.Unchanged, "removed", r.Removed, "conflicts", r.Conflicts, "revision", uint64(res.Revision))
	return stream.SendAndClose(&pb.ImportEntriesResponse{Imported: r.Imported, Unchanged: r.Unchanged, Removed: r.Removed,
		Conflicts: r.Conflicts, Revision: int64(res.Revision)})
}

// prefetch calls next in a goroutine of its own, ahead of the caller, in
// batches, so that reading a list and staging it run at once; the error
// that ends the list (io.EOF included) comes last. The goroutine ends with
// the list or with ctx.
func prefetch(ctx context.Context, next func() (store.ImportItem, error)) func() (store.ImportItem, error) {
	type batch struct {
		items []store.ImportItem
		err   error
	}
	ch := make(chan batch, prefetchBatches)
	go func() {
		defer close(ch)
		for {
			b := batch{items: make([]store.ImportItem, 0, prefetchBatch)}
			for len(b.items) < prefetchBatch && b.err == nil {
				it, err := next()
				if err != nil {
					b.err = err
					break
				}
				b.items = append(b.items, it)
			}
			select {
			case ch <- b:
			case <-ctx.Done():
				return
			}
			if b.err != nil {
				return
			}
		}
	}()
	var cur batch
	return func() (store.ImportItem, error) {
		for len(cur.items) == 0 {
			if cur.err != nil {
				return store.ImportItem{}, cur.err
			}
			b, ok := <-ch
			if !ok {
				return store.ImportItem{}, ctx.Err()
			}
			cur = b
		}
		it := cur.items[0]
		cur.items = cur.items[1:]
		return it, nil
	}
}
