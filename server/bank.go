package server

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mediamatch/mediamatch/match"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/region"
	"github.com/mediamatch/mediamatch/store"
)

// maxIndexWait bounds how long a write waits for the index to show it, so
// that the next match sees the write. The index applies a commit in
// microseconds; only a broken follower makes a write wait this long, and
// then the write, durable, still succeeds (and the wait is logged).
const maxIndexWait = 5 * time.Second

// commit writes ops as the caller and waits for the index to show them.
func (s *Server) commit(ctx context.Context, ops ...store.Op) (store.CommitResult, error) {
	return s.commitWait(ctx, maxIndexWait, ops...)
}

// commitWait is commit waiting at most wait for the index.
func (s *Server) commitWait(ctx context.Context, wait time.Duration, ops ...store.Op) (store.CommitResult, error) {
	who := actor(ctx)
	if s.offlineActor != "" {
		who = s.offlineActor
	}
	if err := s.stillValid(ctx); err != nil {
		return store.CommitResult{}, err
	}
	res, err := s.st.Commit(ctx, who, ops...)
	for _, op := range ops {
		if op.Kind == store.OpCreateToken || op.Kind == store.OpRevokeToken {
			s.tokens.drop() // even on failure: the commit may have landed
			break
		}
	}
	if err != nil || s.idx == nil {
		return res, err
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), wait)
	defer cancel()
	if err := s.idx.WaitFor(wctx, res.Revision); err != nil {
		s.log.Warn("a write is durable but the index does not show it yet", "revision", uint64(res.Revision), "error", err.Error())
	}
	return res, nil
}

// CreateBank implements BankService.CreateBank.
func (s *Server) CreateBank(ctx context.Context, req *pb.CreateBankRequest) (*pb.CreateBankResponse, error) {
	if req.GetBankId() == "" {
		return nil, fmt.Errorf("%w: bank_id is required", errInvalidRequest)
	}
	if !store.ValidBankName(req.GetBankId()) {
		return nil, fmt.Errorf("%w: bank_id %q: a bank ID is 1-%d letters, digits, '.', '_' or '-', starting with a letter or digit", errInvalidRequest, store.Clip(req.GetBankId()), store.MaxBankNameLen)
	}
	in := req.GetBank()
	th, err := thresholdsFromProto(in.GetThresholds())
	if err != nil {
		return nil, err
	}
	res, err := s.commit(ctx, store.CreateBank(store.Bank{
		Name:        req.GetBankId(),
		Description: in.GetDescription(),
		Labels:      in.GetLabels(),
		Disabled:    in != nil && in.Enabled != nil && !in.GetEnabled(),
		Thresholds:  th,
		// An unset budget is 0, the server's default; an invalid one fails
		// the store's validation.
		FalseMatchBudget: in.GetFalseMatchBudget(),
	}))
	if err != nil {
		return nil, err
	}
	return &pb.CreateBankResponse{Bank: bankToProto(*res.Results[0].Bank)}, nil
}

// GetBank implements BankService.GetBank.
func (s *Server) GetBank(ctx context.Context, req *pb.GetBankRequest) (*pb.GetBankResponse, error) {
	id, err := parseBankName(req.GetName(), false)
	if err != nil {
		return nil, err
	}
	b, err := s.st.Bank(ctx, id)
	if err != nil {
		return nil, err
	}
	return &pb.GetBankResponse{Bank: bankToProto(b)}, nil
}

// ListBanks implements BankService.ListBanks.
func (s *Server) ListBanks(ctx context.Context, req *pb.ListBanksRequest) (*pb.ListBanksResponse, error) {
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	after, err := parsePageToken(req.GetPageToken(), "banks", "")
	if err != nil {
		return nil, err
	}
	p, err := principalOf(ctx)
	if err != nil {
		return nil, err
	}
	out := &pb.ListBanksResponse{}
	bytes, last := 0, ""
	for {
		banks, err := s.st.ListBanks(ctx, after, size+1)
		if err != nil {
			return nil, err
		}
		for _, b := range banks {
			after = b.Name
			if !p.allowsBank(b.Name) {
				continue // a token limited to banks sees only its own
			}
			pbank := bankToProto(b)
			n := proto.Size(pbank)
			if len(out.Banks) == size || (len(out.Banks) > 0 && bytes+n > maxPageBytes) {
				out.NextPageToken = pageToken("banks", "", last)
				return out, nil
			}
			bytes += n
			last = b.Name
			out.Banks = append(out.Banks, pbank)
		}
		if len(banks) <= size {
			return out, nil
		}
	}
}

// UpdateBank implements BankService.UpdateBank.
func (s *Server) UpdateBank(ctx context.Context, req *pb.UpdateBankRequest) (*pb.UpdateBankResponse, error) {
	id, err := parseBankName(req.GetBank().GetName(), false)
	if err != nil {
		return nil, err
	}
	values, paths, err := bankUpdate(req)
	if err != nil {
		return nil, err
	}
	res, err := s.commit(ctx, store.UpdateBank(id, values, paths...))
	if err != nil {
		return nil, err
	}
	return &pb.UpdateBankResponse{Bank: bankToProto(*res.Results[0].Bank)}, nil
}

// DeleteBank implements BankService.DeleteBank.
func (s *Server) DeleteBank(ctx context.Context, req *pb.DeleteBankRequest) (*pb.DeleteBankResponse, error) {
	id, err := parseBankName(req.GetName(), false)
	if err != nil {
		return nil, err
	}
	res, err := s.commit(ctx, store.DeleteBank(id, req.GetForce()))
	if err != nil {
		return nil, err
	}
	return &pb.DeleteBankResponse{RemovedEntries: int64(res.Results[0].Removed)}, nil
}

// entryFields copies an entry's labels, note and source from a request;
// the store validates them.
func entryFields(bank string, in *pb.Entry) *store.Entry {
	src := in.GetSource()
	return &store.Entry{
		Bank:   bank,
		Labels: maps.Clone(in.GetLabels()),
		Note:   in.GetNote(),
		Source: store.Source{Origin: src.GetOrigin(), ExternalID: src.GetExternalId(), URI: src.GetUri()},
	}
}

// CreateEntry implements BankService.CreateEntry.
func (s *Server) CreateEntry(ctx context.Context, req *pb.CreateEntryRequest) (*pb.CreateEntryResponse, error) {
	bank, err := parseBankName(req.GetParent(), false)
	if err != nil {
		return nil, err
	}
	view, err := viewFromProto(req.GetView(), store.ViewBasic)
	if err != nil {
		return nil, err
	}
	e := entryFields(bank, req.GetEntry())
	var decode *pb.DecodeReport
	switch media := req.GetEntry().GetMedia(); {
	case len(req.GetMedia()) > 0 && media != nil:
		return nil, fmt.Errorf("%w: give media bytes or entry.media, not both", errInvalidRequest)
	case len(req.GetMedia()) > 0:
		// Refuse an unknown bank before hashing the upload.
		if _, err := s.st.Bank(ctx, bank); err != nil {
			return nil, err
		}
		release, err := s.holdMessage(req.GetMedia())
		if err != nil {
			return nil, err
		}
		defer release()
		if decode, err = s.hashInto(ctx, e, req.GetMedia()); err != nil {
			return nil, err
		}
	case media != nil:
		if err := hashesInto(e, media); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: give media bytes or entry.media to add", errInvalidRequest)
	}
	stored, existed, err := s.add(ctx, e)
	if err != nil {
		return nil, err
	}
	return &pb.CreateEntryResponse{Entry: entryToProto(stored, view), AlreadyExists: existed, Decode: decode}, nil
}

// CreateEntryStream implements BankService.CreateEntryStream.
func (s *Server) CreateEntryStream(stream pb.BankService_CreateEntryStreamServer) error {
	ctx := stream.Context()
	h, bank, err := streamHeader(s, ctx, stream.Recv, (*pb.CreateEntryStreamRequest).GetHeader)
	if err != nil {
		return err
	}
	view, err := viewFromProto(h.GetView(), store.ViewBasic)
	if err != nil {
		return err
	}
	if h.GetEntry().GetMedia() != nil {
		return fmt.Errorf("%w: the header's entry.media must be empty: the media follows in chunks", errInvalidRequest)
	}
	// Refuse an unknown bank before receiving megabytes for it.
	if _, err := s.st.Bank(ctx, bank); err != nil {
		return err
	}
	data, release, err := s.receiveChunks(ctx, h.GetSizeBytes(), nextChunk(stream.Recv, func(m *pb.CreateEntryStreamRequest) bool { return m.GetHeader() != nil }))
	if err != nil {
		return err
	}
	defer release()
	e := entryFields(bank, h.GetEntry())
	decode, err := s.hashInto(ctx, e, data)
	if err != nil {
		return err
	}
	stored, existed, err := s.add(ctx, e)
	if err != nil {
		return err
	}
	return stream.SendAndClose(&pb.CreateEntryStreamResponse{Entry: entryToProto(stored, view), AlreadyExists: existed, Decode: decode})
}

// hashInto hashes uploaded media into e. A bank keeps only whole files: a
// partial one (cut short, or damaged, shown as a browser would) is
// refused, since its hashes describe the grey painted for what is missing
// as much as the picture, and would match other partial files; a cut copy
// of a whole file stored matches it.
func (s *Server) hashInto(ctx context.Context, e *store.Entry, data []byte) (*pb.DecodeReport, error) {
	h, err := s.hashMedia(ctx, data, false, region.Stored, nil)
	if err != nil {
		return nil, err
	}
	if h.repair.Partial() {
		return nil, fmt.Errorf("%w: the file is cut short or damaged (%.0f%% of it decodes: %s); a bank keeps whole files, so add the whole one (a cut copy then matches it)",
			errInvalidRequest, 100*h.repair.Visible, strings.Join(h.repair.Notes, "; "))
	}
	e.Kind, e.Format, e.Width, e.Height, e.Hashes = h.kind, h.format, h.width, h.height, h.hashes
	e.Duration, e.Frames, e.Regions, e.Keypoints = h.duration, h.frames, h.regions, match.StoredKeypoints(h.keypoints)
	e.Thumbnail = match.StoredThumbnail(h.thumb)
	return h.decodeReport(), nil
}

// hashesInto takes an entry's media from precomputed hashes.
func hashesInto(e *store.Entry, m *pb.MediaHashes) error {
	p, err := parseMediaHashes(m)
	if err != nil {
		return err
	}
	e.Kind, e.Hashes, e.Frames, e.Regions, e.Keypoints = p.kind, p.hashes, p.frames, p.regions, p.keypoints
	e.Format, e.Width, e.Height, e.Duration = m.GetFormat(), int(m.GetWidth()), int(m.GetHeight()), m.GetDurationSeconds()
	return nil
}

// add stores one entry, or finds the one already holding its hashes.
func (s *Server) add(ctx context.Context, e *store.Entry) (*store.Entry, bool, error) {
	res, err := s.commit(ctx, store.AddEntry(e))
	if err != nil {
		return nil, false, err
	}
	r := res.Results[0]
	return r.Entry, r.Existed, nil
}

// entryIn reads the entry a name names, checking the bank it gives and
// the banks the caller is granted. Every way of not finding it (no such
// id, an id in another bank, a bank the caller may not see) gives the same
// error, built from the name as given, so that a token limited to banks
// cannot tell the others' entry ids from unused ones.
func (s *Server) entryIn(ctx context.Context, name string, view store.View) (*store.Entry, error) {
	bank, id, err := parseEntryName(name)
	if err != nil {
		return nil, err
	}
	p, err := principalOf(ctx)
	if err != nil {
		return nil, err
	}
	if bank != anyBank && !p.allowsBank(bank) {
		return nil, entryNotFound(name)
	}
	e, err := s.st.Entry(ctx, id, view)
	if errors.Is(err, store.ErrEntryNotFound) {
		return nil, entryNotFound(name)
	}
	if err != nil {
		return nil, err
	}
	if (bank != anyBank && e.Bank != bank) || !p.allowsBank(e.Bank) {
		return nil, entryNotFound(name)
	}
	return e, nil
}

// entryNotFound is the one answer for an entry name that names nothing
// the caller may see.
func entryNotFound(name string) error {
	return fmt.Errorf("%w: %s", store.ErrEntryNotFound, store.Clip(name))
}

// GetEntry implements BankService.GetEntry.
func (s *Server) GetEntry(ctx context.Context, req *pb.GetEntryRequest) (*pb.GetEntryResponse, error) {
	view, err := viewFromProto(req.GetView(), store.ViewFull)
	if err != nil {
		return nil, err
	}
	e, err := s.entryIn(ctx, req.GetName(), view)
	if err != nil {
		return nil, err
	}
	return &pb.GetEntryResponse{Entry: entryToProto(e, view)}, nil
}

// ListEntries implements BankService.ListEntries.
func (s *Server) ListEntries(ctx context.Context, req *pb.ListEntriesRequest) (*pb.ListEntriesResponse, error) {
	bank, err := parseBankName(req.GetParent(), true)
	if err != nil {
		return nil, err
	}
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	view, err := viewFromProto(req.GetView(), store.ViewBasic)
	if err != nil {
		return nil, err
	}
	kind := fmt.Sprintf("entries/%d", view)
	after, err := parseUintToken(req.GetPageToken(), kind, req.GetParent())
	if err != nil {
		return nil, err
	}
	p, err := principalOf(ctx)
	if err != nil {
		return nil, err
	}
	q := store.EntryQuery{After: after, View: view}
	switch {
	case bank != anyBank:
		q.Bank = bank
	case p.banks != nil:
		// "banks/-" for a token limited to banks reads only theirs.
		q.Banks = p.banks
	}
	out := &pb.ListEntriesResponse{}
	bytes := 0
	var last uint64
	err = s.st.ListEntries(ctx, q, func(e *store.Entry) bool {
		if !p.allowsBank(e.Bank) {
			return true // "banks/-" lists only the banks a token is granted
		}
		pe := entryToProto(e, view)
		n := proto.Size(pe)
		if len(out.Entries) == size || (len(out.Entries) > 0 && bytes+n > maxPageBytes) {
			out.NextPageToken = pageToken(kind, req.GetParent(), strconv.FormatUint(last, 10))
			return false
		}
		bytes += n
		last = e.ID
		out.Entries = append(out.Entries, pe)
		return true
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateEntry implements BankService.UpdateEntry.
func (s *Server) UpdateEntry(ctx context.Context, req *pb.UpdateEntryRequest) (*pb.UpdateEntryResponse, error) {
	if _, _, err := parseEntryName(req.GetEntry().GetName()); err != nil {
		return nil, err
	}
	values, paths, err := entryUpdate(req)
	if err != nil {
		return nil, err
	}
	e, err := s.entryIn(ctx, req.GetEntry().GetName(), store.ViewBasic)
	if err != nil {
		return nil, err
	}
	res, err := s.commit(ctx, store.UpdateEntry(e.ID, values, paths...))
	if errors.Is(err, store.ErrEntryNotFound) { // removed meanwhile
		return nil, entryNotFound(req.GetEntry().GetName())
	}
	if err != nil {
		return nil, err
	}
	return &pb.UpdateEntryResponse{Entry: entryToProto(res.Results[0].Entry, store.ViewBasic)}, nil
}

// DeleteEntry implements BankService.DeleteEntry.
func (s *Server) DeleteEntry(ctx context.Context, req *pb.DeleteEntryRequest) (*pb.DeleteEntryResponse, error) {
	e, err := s.entryIn(ctx, req.GetName(), store.ViewBasic)
	if err != nil {
		return nil, err
	}
	res, err := s.commit(ctx, store.RemoveEntry(e.ID))
	if errors.Is(err, store.ErrEntryNotFound) { // removed meanwhile
		return nil, entryNotFound(req.GetName())
	}
	if err != nil {
		return nil, err
	}
	return &pb.DeleteEntryResponse{Entry: entryToProto(res.Results[0].Entry, store.ViewBasic)}, nil
}

// maxChangesScanned bounds the log records one ListChanges call reads
// looking for one bank's changes; the page ends there, with a token.
const maxChangesScanned = 10_000

// ListChanges implements BankService.ListChanges.
func (s *Server) ListChanges(ctx context.Context, req *pb.ListChangesRequest) (*pb.ListChangesResponse, error) {
	bank, err := parseBankName(req.GetParent(), true)
	if err != nil {
		return nil, err
	}
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	if req.GetAfterRevision() < 0 {
		return nil, fmt.Errorf("%w: negative after_revision", errInvalidRequest)
	}
	kind := fmt.Sprintf("changes/%d", req.GetAfterRevision())
	after, err := parseUintToken(req.GetPageToken(), kind, req.GetParent())
	if err != nil {
		return nil, err
	}
	revs, err := s.st.Revisions(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetPageToken() == "" {
		after = uint64(req.GetAfterRevision())
		if after == 0 {
			after = uint64(revs.Compacted) // from the first change kept
		}
	}
	p, err := principalOf(ctx)
	if err != nil {
		return nil, err
	}
	out := &pb.ListChangesResponse{Revision: int64(revs.Current)}
	scanned, bytes, full := 0, 0, false
	cursor := store.Revision(after)
	for !full && len(out.Changes) < size && scanned < maxChangesScanned {
		changes, err := s.st.Changes(ctx, cursor, min(size, maxChangesScanned-scanned), store.ViewNone)
		if err != nil {
			return nil, err
		}
		if len(changes) == 0 {
			return out, nil
		}
		for _, c := range changes {
			if (bank == anyBank && p.allowsBank(c.Bank)) || c.Bank == bank {
				pc := changeToProto(c)
				// An update names its paths (labels.KEY...), so a change
				// can take kilobytes: the page is bounded by bytes too.
				n := proto.Size(pc)
				if len(out.Changes) > 0 && bytes+n > maxPageBytes {
					full = true
					break
				}
				bytes += n
				out.Changes = append(out.Changes, pc)
			}
			scanned++
			cursor = c.Revision
			if len(out.Changes) == size {
				break
			}
		}
	}
	if cursor < revs.Current {
		out.NextPageToken = pageToken(kind, req.GetParent(), strconv.FormatUint(uint64(cursor), 10))
	}
	return out, nil
}
