package server

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/media"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/store"
)

// The fuzz targets of this file feed the server's parsers of what a
// caller sends (request messages as proto bytes, resource names, page
// tokens, update masks, the authorization header, upload chunks) and hold
// them to two rules: every refusal goes through the one error table
// (toStatus) to a code that blames the caller, never Internal or Unknown;
// and what is accepted reads back the same when the server writes it out.

// wantCode fails unless err, through toStatus, has one of the codes.
func wantCode(t *testing.T, what string, err error, allowed ...codes.Code) {
	t.Helper()
	if c := status.Code(toStatus(err)); !slices.Contains(allowed, c) {
		t.Fatalf("%s: %v maps to %v, want one of %v", what, err, c, allowed)
	}
}

// fuzzMedia keeps uploads in the fuzz targets cheap: tiny budgets, so a
// decodable image is hashed in a millisecond.
var fuzzMedia = media.Options{MaxBytes: 1 << 16, MaxPixels: 1 << 12, MaxFrames: 8, MaxTotalPixels: 1 << 15}

// videoHashes is a video entry's hashes: frames with and without content
// hashes, and an md5.
func videoHashes(r *rand.Rand) *pb.MediaHashes {
	m := &pb.MediaHashes{Kind: pb.MediaKind_MEDIA_KIND_VIDEO, Format: "mp4", Width: 320, Height: 240, DurationSeconds: 3.5,
		Hashes: []*pb.Hash{{Type: "md5", Hex: randHex(r, 16)}}}
	for i := range 4 {
		fr := &pb.VideoFrameHash{Ts: float64(i), PdqHex: randHex(r, 32), Quality: proto.Int32(int32(60 + i))}
		if i%2 == 1 {
			fr.ContentPdqHex = randHex(r, 32)
		}
		m.Frames = append(m.Frames, fr)
	}
	return m
}

// withDihedral adds the seven other PDQ variants a Hash call returns.
func withDihedral(r *rand.Rand, m *pb.MediaHashes) *pb.MediaHashes {
	m = proto.Clone(m).(*pb.MediaHashes)
	for d := pb.DihedralVariant_DIHEDRAL_VARIANT_ROTATE_90; d <= pb.DihedralVariant_DIHEDRAL_VARIANT_FLIP_MINUS_1; d++ {
		m.Hashes = append(m.Hashes, &pb.Hash{Type: "pdq", Hex: randHex(r, 32), Quality: proto.Int32(90), Dihedral: d})
	}
	return m
}

func mustMarshal(f *testing.F, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// storedMedia is what an entry made from hashes holds of them.
type storedMedia struct {
	Kind          store.MediaKind
	Format        string
	Width, Height int
	Duration      float64
	Hashes        []hashing.Hash
	Regions       []hashing.RegionHash
	Frames        []store.Frame
	Keypoints     []store.Keypoint
}

func storedOf(e *store.Entry) storedMedia {
	s := storedMedia{Kind: e.Kind, Format: e.Format, Width: e.Width, Height: e.Height, Duration: e.Duration,
		Hashes: e.Hashes, Regions: e.Regions, Frames: e.Frames, Keypoints: e.Keypoints}
	if len(s.Hashes) == 0 {
		s.Hashes = nil
	}
	if len(s.Regions) == 0 {
		s.Regions = nil
	}
	if len(s.Frames) == 0 {
		s.Frames = nil
	}
	if len(s.Keypoints) == 0 {
		s.Keypoints = nil
	}
	return s
}

// FuzzMediaHashes feeds MediaHashes messages (what CreateEntry and Match
// take instead of media) to the server's check, then to the store's: a
// refusal is INVALID_ARGUMENT, and an entry made of accepted hashes reads
// back (GetEntry, full view) as a message that makes the same entry, the
// "get-then-create round-trips exactly" promise.
func FuzzMediaHashes(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 2))
	img := imageHashes(r)
	f.Add(mustMarshal(f, img))
	f.Add(mustMarshal(f, withDihedral(r, img)))
	f.Add(mustMarshal(f, videoHashes(r)))
	f.Add(mustMarshal(f, &pb.MediaHashes{Hashes: []*pb.Hash{{Type: "pdq", Hex: strings.ToUpper(randHex(r, 32))}, {Type: "phash", Hex: randHex(r, 8), Quality: proto.Int32(50)}}}))
	f.Add(mustMarshal(f, &pb.MediaHashes{Hashes: []*pb.Hash{{Type: "phash", Hex: randHex(r, 8), Region: &pb.Region{Kind: pb.RegionKind_REGION_KIND_WINDOW, Width: 1, Height: 1}}}}))
	f.Add(mustMarshal(f, &pb.MediaHashes{Frames: []*pb.VideoFrameHash{{Ts: 2, PdqHex: randHex(r, 32)}, {Ts: 1, PdqHex: randHex(r, 32)}}}))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		var m pb.MediaHashes
		if proto.Unmarshal(data, &m) != nil {
			return // gRPC refuses it before any handler runs
		}
		p, err := parseMediaHashes(&m)
		if err != nil {
			wantCode(t, "parseMediaHashes", err, codes.InvalidArgument)
			return
		}
		if len(p.dihedral) != 0 && len(p.dihedral) != 8 {
			t.Fatalf("%d dihedral variants", len(p.dihedral))
		}
		e := &store.Entry{Bank: "fuzz"}
		if err := hashesInto(e, &m); err != nil {
			t.Fatalf("hashesInto refused what parseMediaHashes accepted: %v", err)
		}
		if err := store.ValidateEntry(e); err != nil {
			wantCode(t, "the store's check", err, codes.InvalidArgument)
			return
		}
		back := entryToProto(e, store.ViewFull).GetMedia()
		again := &store.Entry{Bank: "fuzz"}
		if err := hashesInto(again, back); err != nil {
			t.Fatalf("the entry as read back is refused: %v\n%v", err, back)
		}
		if got, want := storedOf(again), storedOf(e); !reflect.DeepEqual(got, want) {
			t.Fatalf("get-then-create changed the entry:\n got %+v\nwant %+v", got, want)
		}
	})
}
