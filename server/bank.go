package server

import (
	"context"
	"fmt"
	"maps"
	"strconv"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/index"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
)

// Page sizes of the List calls.
const (
	defaultPageSize = 100
	// maxPageSize keeps one response well under the message size limit.
	maxPageSize = 1000
)

func pageSize(n int32) (int, error) {
	switch {
	case n < 0:
		return 0, fmt.Errorf("%w: negative page_size", errInvalidRequest)
	case n == 0:
		return defaultPageSize, nil
	}
	return min(int(n), maxPageSize), nil
}

// CreateBank implements BankService.CreateBank.
func (s *Server) CreateBank(_ context.Context, req *pb.CreateBankRequest) (*pb.CreateBankResponse, error) {
	in := req.GetBank()
	if in == nil {
		return nil, fmt.Errorf("%w: no bank given", errInvalidRequest)
	}
	th, err := thresholdsFromProto(in.GetThresholds())
	if err != nil {
		return nil, err
	}
	b, err := s.idx.CreateBank(index.Bank{
		Name:        in.GetName(),
		Description: in.GetDescription(),
		Labels:      in.GetLabels(),
		Disabled:    in.Enabled != nil && !in.GetEnabled(),
		Thresholds:  th,
	})
	if err != nil {
		return nil, err
	}
	return &pb.CreateBankResponse{Bank: bankToProto(b, 0)}, nil
}

// ListBanks implements BankService.ListBanks. The page token is the name
// of the last bank of the previous page.
func (s *Server) ListBanks(_ context.Context, req *pb.ListBanksRequest) (*pb.ListBanksResponse, error) {
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	out := &pb.ListBanksResponse{}
	for _, b := range s.idx.Banks() {
		if b.Name <= req.GetPageToken() {
			continue
		}
		if len(out.Banks) == size {
			out.NextPageToken = out.Banks[size-1].Name
			break
		}
		out.Banks = append(out.Banks, bankToProto(b, s.idx.BankSize(b.Name)))
	}
	return out, nil
}

// GetBank implements BankService.GetBank.
func (s *Server) GetBank(_ context.Context, req *pb.GetBankRequest) (*pb.GetBankResponse, error) {
	b, err := s.idx.Bank(req.GetName())
	if err != nil {
		return nil, err
	}
	return &pb.GetBankResponse{Bank: bankToProto(b, s.idx.BankSize(b.Name))}, nil
}

// UpdateBank implements BankService.UpdateBank: the fields named in the
// mask (description, labels, enabled, thresholds) are replaced; an empty
// mask replaces all of them.
func (s *Server) UpdateBank(_ context.Context, req *pb.UpdateBankRequest) (*pb.UpdateBankResponse, error) {
	in := req.GetBank()
	if in == nil {
		return nil, fmt.Errorf("%w: no bank given", errInvalidRequest)
	}
	paths := req.GetUpdateMask().GetPaths()
	if len(paths) == 0 {
		paths = []string{"description", "labels", "enabled", "thresholds"}
	}
	th, err := thresholdsFromProto(in.GetThresholds())
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		switch p {
		case "description", "labels", "enabled", "thresholds":
		default:
			return nil, fmt.Errorf("%w: field %q cannot be updated", errInvalidRequest, clip(p))
		}
	}
	b, err := s.idx.UpdateBank(in.GetName(), func(b *index.Bank) error {
		for _, p := range paths {
			switch p {
			case "description":
				b.Description = in.GetDescription()
			case "labels":
				b.Labels = maps.Clone(in.GetLabels())
			case "enabled":
				b.Disabled = in.Enabled != nil && !in.GetEnabled()
			case "thresholds":
				b.Thresholds = th
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.UpdateBankResponse{Bank: bankToProto(b, s.idx.BankSize(b.Name))}, nil
}

// DeleteBank implements BankService.DeleteBank.
func (s *Server) DeleteBank(ctx context.Context, req *pb.DeleteBankRequest) (*pb.DeleteBankResponse, error) {
	n, err := s.idx.DeleteBank(req.GetName(), req.GetForce(), actor(ctx))
	if err != nil {
		return nil, err
	}
	return &pb.DeleteBankResponse{RemovedEntries: int64(n)}, nil
}

// content is what an add request says besides the media.
type content struct {
	bank   string
	labels map[string]string
	note   string
	source *pb.Source
}

// maxNoteBytes and maxLabels bound what one entry may carry beside its hashes.
const (
	maxNoteBytes  = 4 << 10
	maxLabels     = 64
	maxLabelBytes = 256
)

func (c content) entry() (*index.Entry, error) {
	if len(c.note) > maxNoteBytes {
		return nil, fmt.Errorf("%w: note over %d bytes", errInvalidRequest, maxNoteBytes)
	}
	if len(c.labels) > maxLabels {
		return nil, fmt.Errorf("%w: more than %d labels", errInvalidRequest, maxLabels)
	}
	for k, v := range c.labels {
		if k == "" || len(k) > maxLabelBytes || len(v) > maxLabelBytes {
			return nil, fmt.Errorf("%w: label keys must be 1-%d bytes and values at most %d", errInvalidRequest, maxLabelBytes, maxLabelBytes)
		}
	}
	src := c.source
	return &index.Entry{
		Bank:   c.bank,
		Labels: maps.Clone(c.labels),
		Note:   c.note,
		Source: index.Source{Origin: src.GetOrigin(), ExternalID: src.GetExternalId(), URI: src.GetUri()},
	}, nil
}

// AddContent implements BankService.AddContent.
func (s *Server) AddContent(ctx context.Context, req *pb.AddContentRequest) (*pb.AddContentResponse, error) {
	c := content{bank: req.GetBank(), labels: req.GetLabels(), note: req.GetNote(), source: req.GetSource()}
	var (
		e   *index.Entry
		err error
	)
	switch v := req.GetContent().(type) {
	case *pb.AddContentRequest_Media:
		e, err = s.entryFromMedia(ctx, c, v.Media)
	case *pb.AddContentRequest_Hashes:
		e, err = entryFromHashes(c, v.Hashes)
	default:
		err = fmt.Errorf("%w: give media or hashes to add", errInvalidRequest)
	}
	if err != nil {
		return nil, err
	}
	stored, existed, err := s.add(ctx, e)
	if err != nil {
		return nil, err
	}
	return &pb.AddContentResponse{Entry: entryToProto(stored), AlreadyExists: existed}, nil
}

// AddContentStream implements BankService.AddContentStream.
func (s *Server) AddContentStream(stream pb.BankService_AddContentStreamServer) error {
	first, err := stream.Recv()
	if err != nil {
		return fmt.Errorf("%w: reading the header: %v", errInvalidRequest, err)
	}
	h := first.GetHeader()
	if h == nil {
		return fmt.Errorf("%w: the first message must be the header", errInvalidRequest)
	}
	c := content{bank: h.GetBank(), labels: h.GetLabels(), note: h.GetNote(), source: h.GetSource()}
	// Refuse an unknown bank before receiving megabytes for it.
	if _, err := s.idx.Bank(c.bank); err != nil {
		return err
	}
	data, err := s.receiveChunks(h.GetSizeBytes(), nextChunk(stream.Recv, func(m *pb.AddContentStreamRequest) bool { return m.GetHeader() != nil }))
	if err != nil {
		return err
	}
	e, err := s.entryFromMedia(stream.Context(), c, data)
	if err != nil {
		return err
	}
	stored, existed, err := s.add(stream.Context(), e)
	if err != nil {
		return err
	}
	return stream.SendAndClose(&pb.AddContentStreamResponse{Entry: entryToProto(stored), AlreadyExists: existed})
}

func (s *Server) entryFromMedia(ctx context.Context, c content, data []byte) (*index.Entry, error) {
	e, err := c.entry()
	if err != nil {
		return nil, err
	}
	if _, err := s.idx.Bank(c.bank); err != nil {
		return nil, err
	}
	h, err := s.hashMedia(ctx, data, false, hashing.StoredRegions)
	if err != nil {
		return nil, err
	}
	e.Kind, e.Format, e.Width, e.Height, e.Hashes = h.kind, h.format, h.width, h.height, h.hashes
	e.Duration, e.Frames, e.Regions, e.Keypoints = h.duration, h.frames, h.regions, h.keypoints
	return e, nil
}

func entryFromHashes(c content, m *pb.MediaHashes) (*index.Entry, error) {
	e, err := c.entry()
	if err != nil {
		return nil, err
	}
	p, err := parseMediaHashes(m)
	if err != nil {
		return nil, err
	}
	e.Kind, e.Hashes, e.Frames, e.Regions = p.kind, p.hashes, p.frames, p.regions
	e.Format, e.Width, e.Height, e.Duration = m.GetFormat(), int(m.GetWidth()), int(m.GetHeight()), m.GetDurationSeconds()
	return e, nil
}

// add stores one entry, or finds the one already holding its hashes.
func (s *Server) add(ctx context.Context, e *index.Entry) (*index.Entry, bool, error) {
	res, err := s.idx.Add([]*index.Entry{e}, actor(ctx))
	if err != nil {
		return nil, false, err
	}
	if !res[0].Existed {
		return e, false, nil
	}
	old, err := s.idx.Store().Entry(res[0].ID)
	if err != nil {
		return nil, false, err
	}
	return old, true, nil
}

// RemoveContent implements BankService.RemoveContent.
func (s *Server) RemoveContent(ctx context.Context, req *pb.RemoveContentRequest) (*pb.RemoveContentResponse, error) {
	id, err := parseID(req.GetEntryId())
	if err != nil {
		return nil, err
	}
	e, err := s.idx.Remove(id, actor(ctx))
	if err != nil {
		return nil, err
	}
	return &pb.RemoveContentResponse{Entry: entryToProto(e)}, nil
}

// GetContent implements BankService.GetContent.
func (s *Server) GetContent(_ context.Context, req *pb.GetContentRequest) (*pb.GetContentResponse, error) {
	id, err := parseID(req.GetEntryId())
	if err != nil {
		return nil, err
	}
	e, err := s.idx.Store().Entry(id)
	if err != nil {
		return nil, err
	}
	return &pb.GetContentResponse{Entry: entryToProto(e)}, nil
}

// ListContent implements BankService.ListContent. The page token is the id
// of the last entry of the previous page.
func (s *Server) ListContent(_ context.Context, req *pb.ListContentRequest) (*pb.ListContentResponse, error) {
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	var after uint64
	if t := req.GetPageToken(); t != "" {
		if after, err = strconv.ParseUint(t, 10, 64); err != nil {
			return nil, fmt.Errorf("%w: page_token %q did not come from this server", errInvalidRequest, clip(t))
		}
	}
	entries, more, err := s.idx.Store().ListEntries(req.GetBank(), after, size)
	if err != nil {
		return nil, err
	}
	out := &pb.ListContentResponse{}
	for _, e := range entries {
		out.Entries = append(out.Entries, entryToProto(e))
	}
	if more && len(entries) > 0 {
		out.NextPageToken = formatID(entries[len(entries)-1].ID)
	}
	return out, nil
}

// actor names the caller in the change log. Until authentication arrives
// that is the peer's address.
func actor(ctx context.Context) string {
	return peerAddr(ctx)
}
