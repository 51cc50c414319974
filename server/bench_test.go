package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/store"
)

// imageHashes is what CreateEntry carries for an image added from hashes
// with everything an added image holds: PDQ, pHash, dHash, digests, five
// region hashes (three windows with their pHash) and 32 keypoints.
func imageHashes(r *rand.Rand) *pb.MediaHashes {
	m := &pb.MediaHashes{Kind: pb.MediaKind_MEDIA_KIND_IMAGE, Format: "jpeg", Width: 640, Height: 480, Hashes: []*pb.Hash{
		{Type: "pdq", Hex: randHex(r, 32), Quality: proto.Int32(90)}, {Type: "phash", Hex: randHex(r, 8)}, {Type: "dhash", Hex: randHex(r, 8)},
		{Type: "md5", Hex: randHex(r, 16)}, {Type: "sha256", Hex: randHex(r, 32)},
	}}
	for k := range 5 {
		reg := &pb.Region{Kind: pb.RegionKind_REGION_KIND_WINDOW, Left: 0.05 * float32(k%3), Top: 0.05 * float32(k%3), Width: 0.9, Height: 0.9}
		if k >= 3 {
			reg.Kind = pb.RegionKind_REGION_KIND_CONTENT
		}
		m.Hashes = append(m.Hashes, &pb.Hash{Type: "pdq", Hex: randHex(r, 32), Quality: proto.Int32(80), Region: reg})
		if k < 3 {
			m.Hashes = append(m.Hashes, &pb.Hash{Type: "phash", Hex: randHex(r, 8), Region: reg})
		}
	}
	for range 32 {
		m.Keypoints = append(m.Keypoints, &pb.Keypoint{X: r.Float32(), Y: r.Float32(), Level: int32(r.IntN(6)), DescriptorHex: randHex(r, 32)})
	}
	return m
}

// BenchmarkCreateEntryConcurrent measures CreateEntry from 32 clients at
// once over loopback gRPC, each add from hashes, acknowledged only once
// durable and shown by the index: the whole write path (request, checks,
// group commit, fsync, the feed, the index's tail). It reports adds/s and
// the p50 and p99 of one call's latency.
func BenchmarkCreateEntryConcurrent(b *testing.B) {
	for _, clients := range []int{1, 32} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			ts := startServer(b, "", Options{})
			ts.createBank("b")
			r := rand.New(rand.NewPCG(1, 1))
			reqs := make(chan *pb.CreateEntryRequest, b.N)
			for range b.N {
				reqs <- &pb.CreateEntryRequest{Parent: "banks/b", Entry: &pb.Entry{Media: imageHashes(r), Labels: map[string]string{"group": "bench"}}}
			}
			close(reqs)
			var mu sync.Mutex
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			var wg sync.WaitGroup
			for range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var mine []time.Duration
					for req := range reqs {
						t0 := time.Now()
						if _, err := ts.bank.CreateEntry(context.Background(), req); err != nil {
							b.Error(err)
							return
						}
						mine = append(mine, time.Since(t0))
					}
					mu.Lock()
					lat = append(lat, mine...)
					mu.Unlock()
				}()
			}
			wg.Wait()
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "adds/s")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// BenchmarkAuthenticate measures what finding a call's token costs with
// 1 and 1,000 tokens in the store (the most it holds): "cached" is what
// every call pays now, "store" the read of every token that each call
// made before the cache.
func BenchmarkAuthenticate(b *testing.B) {
	for _, n := range []int{1, store.MaxTokens} {
		ts := startServer(b, "", Options{})
		var secret string
		for i := range n {
			s, err := NewSecret()
			if err != nil {
				b.Fatal(err)
			}
			if _, err := ts.st.Commit(context.Background(), "bench", store.CreateToken(store.Token{Name: fmt.Sprintf("t%d", i), Role: store.RoleMatcher, Hash: HashSecret(s)})); err != nil {
				b.Fatal(err)
			}
			secret = s
		}
		ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "bearer "+secret))
		b.Run(fmt.Sprintf("tokens=%d/cached", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := ts.srv.authenticate(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("tokens=%d/store", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := ts.st.ListTokens(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
