package server

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/store"
)

// TestMediaHashesQuality checks the qualities an entry made from hashes
// keeps: a PDQ hash's as given (100 when not given), none for a type that
// has none even when one is sent, so that the entry reads back as it was
// sent (FuzzMediaHashes found a pHash quality stored and then lost).
func TestMediaHashesQuality(t *testing.T) {
	const pdqHex = "d23f0824128b2f330c5c7fd0a6a3a4506513270e269e0d37f2a74de452e6b438"
	for _, tc := range []struct {
		name    string
		hash    *pb.Hash
		stored  int
		readOut *int32 // the quality GetEntry returns
		code    codes.Code
	}{
		{"pdq with a quality", &pb.Hash{Type: "pdq", Hex: pdqHex, Quality: proto.Int32(40)}, 40, proto.Int32(40), codes.OK},
		{"pdq without", &pb.Hash{Type: "pdq", Hex: pdqHex}, 100, proto.Int32(100), codes.OK},
		{"phash with a quality", &pb.Hash{Type: "phash", Hex: "8000000000000001", Quality: proto.Int32(50)}, 0, nil, codes.OK},
		{"phash without", &pb.Hash{Type: "phash", Hex: "8000000000000001"}, 0, nil, codes.OK},
		{"phash with a quality out of range", &pb.Hash{Type: "phash", Hex: "8000000000000001", Quality: proto.Int32(101)}, 0, nil, codes.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &store.Entry{Bank: "b"}
			err := hashesInto(e, &pb.MediaHashes{Hashes: []*pb.Hash{tc.hash}})
			if c := status.Code(toStatus(err)); c != tc.code {
				t.Fatalf("code %v (%v), want %v", c, err, tc.code)
			}
			if err != nil {
				return
			}
			if e.Hashes[0].Quality != tc.stored {
				t.Errorf("stored quality %d, want %d", e.Hashes[0].Quality, tc.stored)
			}
			got := entryToProto(e, store.ViewFull).GetMedia().GetHashes()[0]
			if (got.Quality == nil) != (tc.readOut == nil) || got.Quality != nil && *got.Quality != *tc.readOut {
				t.Errorf("read back with quality %v, want %v", got.Quality, tc.readOut)
			}
		})
	}
}
