package server

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/match"
	"github.com/mediamatch/mediamatch/pdq"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/region"
	"github.com/mediamatch/mediamatch/store"
)

// Hash implements MatchService.Hash.
func (s *Server) Hash(ctx context.Context, req *pb.HashRequest) (*pb.HashResponse, error) {
	release, err := s.holdMessage(req.GetMedia())
	if err != nil {
		return nil, err
	}
	defer release()
	h, err := s.hashMedia(ctx, req.GetMedia(), req.GetDihedral(), 0, nil)
	if err != nil {
		return nil, err
	}
	return &pb.HashResponse{Media: h.toProto(), Decode: h.decodeReport()}, nil
}

// Match implements MatchService.Match.
func (s *Server) Match(ctx context.Context, req *pb.MatchRequest) (*pb.MatchResponse, error) {
	var res *pb.MatchResult
	var err error
	switch q := req.GetQuery().(type) {
	case *pb.MatchRequest_Media:
		release, herr := s.holdMessage(q.Media)
		if herr != nil {
			return nil, herr
		}
		defer release()
		res, err = s.matchMedia(ctx, q.Media, req.GetOptions())
	case *pb.MatchRequest_Hashes:
		res, err = s.matchHashes(ctx, q.Hashes, req.GetOptions())
	default:
		err = fmt.Errorf("%w: give media or hashes to match", errInvalidRequest)
	}
	if err != nil {
		return nil, err
	}
	return &pb.MatchResponse{Result: res}, nil
}

// MatchStream implements MatchService.MatchStream.
func (s *Server) MatchStream(stream pb.MatchService_MatchStreamServer) error {
	first, err := recvHeader(s, stream.Context(), stream.Recv)
	if err != nil {
		return err
	}
	header := first.GetHeader()
	if header == nil {
		return fmt.Errorf("%w: the first message must be the header", errInvalidRequest)
	}
	data, release, err := s.receiveChunks(stream.Context(), header.GetSizeBytes(), nextChunk(stream.Recv, func(m *pb.MatchStreamRequest) bool { return m.GetHeader() != nil }))
	if err != nil {
		return err
	}
	defer release()
	res, err := s.matchMedia(stream.Context(), data, header.GetOptions())
	if err != nil {
		return err
	}
	return stream.SendAndClose(&pb.MatchStreamResponse{Result: res})
}

// matchMedia hashes uploaded media and matches it.
func (s *Server) matchMedia(ctx context.Context, data []byte, opts *pb.MatchOptions) (*pb.MatchResult, error) {
	dihedral := opts == nil || opts.Dihedral == nil || opts.GetDihedral()
	h, err := s.hashMedia(ctx, data, dihedral, region.Query, opts.GetHashTypes())
	if err != nil {
		return nil, err
	}
	q := match.Query{Hashes: h.hashes, Dihedral: h.dihedral, Regions: h.regions, Frames: h.frames, Duration: h.duration,
		Keypoints: h.keypoints, MirroredKeypoints: h.mirrored, Thumb: h.thumb, Width: h.width, Height: h.height}
	if dihedral {
		q.Mirrored = h.mirroredFrames // a video's mirror is its dihedral variant
	}
	res, err := s.match(ctx, q, opts, h.toProto())
	if err != nil {
		return nil, err
	}
	res.Decode = h.decodeReport()
	return res, nil
}

// matchHashes matches precomputed hashes.
func (s *Server) matchHashes(ctx context.Context, m *pb.MediaHashes, opts *pb.MatchOptions) (*pb.MatchResult, error) {
	p, err := parseMediaHashes(m)
	if err != nil {
		return nil, err
	}
	q := match.Query{Hashes: p.hashes, Regions: p.regions, Frames: p.frames, Duration: m.GetDurationSeconds(),
		Keypoints: match.Points(p.keypoints), Width: int(m.GetWidth()), Height: int(m.GetHeight())}
	if opts == nil || opts.Dihedral == nil || opts.GetDihedral() {
		q.Dihedral = p.dihedral
	}
	return s.match(ctx, q, opts, m)
}

// match runs a query with the request's options.
func (s *Server) match(ctx context.Context, q match.Query, opts *pb.MatchOptions, query *pb.MediaHashes) (*pb.MatchResult, error) {
	var err error
	if n := len(opts.GetBanks()); n > store.MaxBanks {
		return nil, fmt.Errorf("%w: %d banks named, over the limit of %d (the most a store holds)", errInvalidRequest, n, store.MaxBanks)
	}
	if n := len(opts.GetHashTypes()); n > len(hashing.Types()) {
		return nil, fmt.Errorf("%w: %d hash types named, there are %d", errInvalidRequest, n, len(hashing.Types()))
	}
	for _, name := range opts.GetBanks() {
		id, err := parseBankName(name, false)
		if err != nil {
			return nil, err
		}
		q.Banks = append(q.Banks, id)
	}
	// A token limited to banks searches only those, whatever it names
	// (naming others was refused before the call).
	p, err := principalOf(ctx)
	if err != nil {
		return nil, err
	}
	q.Within = p.banks
	q.Types = opts.GetHashTypes()
	q.Limit = int(opts.GetLimit())
	if q.Limit < 0 {
		return nil, fmt.Errorf("%w: negative limit", errInvalidRequest)
	}
	q.MinQuality = -1
	if opts != nil && opts.MinQuality != nil {
		if v := opts.GetMinQuality(); v < 0 || v > 100 {
			return nil, fmt.Errorf("%w: min_quality %d outside 0..100", errInvalidRequest, v)
		}
		q.MinQuality = int(opts.GetMinQuality())
	}
	if q.Thresholds, err = thresholdsFromProto(opts.GetThresholds()); err != nil {
		return nil, err
	}
	var queryPercent, entryPercent *float64
	if opts != nil {
		queryPercent, entryPercent = opts.VideoQueryMatchPercent, opts.VideoEntryMatchPercent
	}
	if q.VideoQueryPercent, err = percentOption(queryPercent); err != nil {
		return nil, err
	}
	if q.VideoEntryPercent, err = percentOption(entryPercent); err != nil {
		return nil, err
	}
	if opts != nil && opts.FalseMatchBudget != nil {
		if v := opts.GetFalseMatchBudget(); !(v > 0 && v <= 1) {
			return nil, fmt.Errorf("%w: false_match_budget %v outside (0, 1]", errInvalidRequest, v)
		}
		q.Budget = opts.GetFalseMatchBudget()
	}
	q.Review = opts.GetIncludeReview()
	res, err := s.matcher.Match(ctx, q)
	if err != nil {
		return nil, err
	}
	out := &pb.MatchResult{Query: query, LowQuality: res.LowQuality, Truncated: res.Truncated}
	for _, m := range res.Matches {
		pm := &pb.Match{
			Entry:     entryName(m.Bank, m.EntryID),
			Bank:      bankName(m.Bank),
			Labels:    m.Labels,
			EntryKind: kindToProto(m.Kind),
			Score:     m.Score,
			Tier:      tierToProto(m.Tier),
		}
		for i := range m.Evidence {
			pm.Evidence = append(pm.Evidence, evidenceToProto(&m.Evidence[i]))
		}
		b := pm.Evidence[0]
		pm.HashType, pm.Distance, pm.Dihedral = b.HashType, b.Distance, b.Dihedral
		pm.QueryRegion, pm.EntryRegion = b.QueryRegion, b.EntryRegion
		pm.QueryRanges, pm.EntryRanges = b.QueryRanges, b.EntryRanges
		pm.KeypointInliers = b.KeypointInliers
		// The vPDQ percentages, when a video rule found them, whichever
		// evidence is strongest (a segment's has none).
		for _, e := range pm.Evidence {
			if e.QueryMatchPercent != nil {
				pm.QueryMatchPercent, pm.EntryMatchPercent = e.QueryMatchPercent, e.EntryMatchPercent
				break
			}
		}
		out.Matches = append(out.Matches, pm)
	}
	return out, nil
}

// evidenceToProto converts one method's evidence.
func evidenceToProto(e *match.Evidence) *pb.Evidence {
	pe := &pb.Evidence{
		Method:      string(e.Method),
		HashType:    e.Type,
		Distance:    proto.Int32(int32(e.Distance)),
		QueryRegion: matchRegionToProto(e.QueryRegion),
		EntryRegion: matchRegionToProto(e.EntryRegion),
		QueryRanges: rangesToProto(e.QueryRanges),
		EntryRanges: rangesToProto(e.EntryRanges),
		Probability: e.Probability,
	}
	if e.Type == hashing.PDQ && e.Dihedral != pdq.Original {
		pe.Dihedral = dihedralToProto(e.Dihedral)
	}
	if e.Method == match.MethodKeypoints || e.Method == match.MethodPixels {
		pe.KeypointInliers = proto.Int32(int32(e.Inliers))
	}
	if e.HasPercent {
		pe.QueryMatchPercent = proto.Float64(e.QueryPercent)
		pe.EntryMatchPercent = proto.Float64(e.EntryPercent)
	}
	return pe
}

func tierToProto(t match.Tier) pb.MatchTier {
	switch t {
	case match.TierMatch:
		return pb.MatchTier_MATCH_TIER_MATCH
	case match.TierReview:
		return pb.MatchTier_MATCH_TIER_REVIEW
	}
	return pb.MatchTier_MATCH_TIER_UNSPECIFIED
}

// percentOption returns a vPDQ percentage from a request, or -1 (the
// index's default) when it is unset.
func percentOption(p *float64) (float64, error) {
	if p == nil {
		return -1, nil
	}
	if v := *p; !(v >= 0 && v <= 100) { // NaN fails both
		return 0, fmt.Errorf("%w: video match percentage %v outside 0..100", errInvalidRequest, v)
	}
	return *p, nil
}

func rangesToProto(rs []match.Range) []*pb.TimeRange {
	var out []*pb.TimeRange
	for _, r := range rs {
		out = append(out, &pb.TimeRange{StartSeconds: r.Start, EndSeconds: r.End})
	}
	return out
}
