package server

import (
	"bytes"
	"context"
	"fmt"
	"image/jpeg"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/disintegration/imaging"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/internal/benchlat"
	"github.com/mediamatch/mediamatch/keypoint"
	"github.com/mediamatch/mediamatch/media"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/region"
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

// benchPhoto returns the reference set's bridge photograph scaled to w x h
// and encoded as a quality-90 JPEG: an upload.
func benchPhoto(b *testing.B, w, h int) []byte {
	b.Helper()
	src, err := imaging.Open(filepath.Join("..", "testdata", "pdq", "tolerance", "bridge-mods-aaa-orig.jpg"))
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, imaging.Resize(src, w, h, imaging.Lanczos), &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkImageQuery measures what an image query costs before its
// match, stage by stage, as the server runs them for Match (dihedral
// variants asked): decoding the JPEG, the whole-image hashes with the
// transformed PDQ variants, the query's regions, the keypoints of the
// image and of its mirror image, and all of it through hashMedia; all-pdq
// is hashMedia for a match with hash_types [pdq]. It
// reports cpu-ms/op, the process's CPU time per query (comparable on a
// busy machine, where ns/op is not).
func BenchmarkImageQuery(b *testing.B) {
	ts := startServer(b, "", Options{})
	for _, size := range []struct {
		name string
		w, h int
	}{{"640x480", 640, 480}, {"1920x1080", 1920, 1080}} {
		data := benchPhoto(b, size.w, size.h)
		img, err := media.Decode(data, media.Options{})
		if err != nil {
			b.Fatal(err)
		}
		stages := []struct {
			name string
			fn   func() error
		}{
			{"decode", func() error { _, err := media.Decode(data, media.Options{}); return err }},
			{"hashes", func() error {
				_, err := hashing.Image(img.Image, hashing.Options{Dihedral: true, Transformed: true})
				return err
			}},
			{"regions", func() error { _, err := region.Hashes(img.Image, region.Query); return err }},
			{"keypoints", func() error {
				keypoint.DetectMirrored(img.Image, keypoint.QueryPoints)
				return nil
			}},
			{"all", func() error {
				_, err := ts.srv.hashMedia(context.Background(), data, true, region.Query, nil)
				return err
			}},
			{"all-pdq", func() error {
				_, err := ts.srv.hashMedia(context.Background(), data, true, region.Query, []string{hashing.PDQ})
				return err
			}},
		}
		for _, st := range stages {
			b.Run(st.name+"/"+size.name, func(b *testing.B) {
				b.ReportAllocs()
				cpu := benchlat.CPUTime()
				for b.Loop() {
					if err := st.fn(); err != nil {
						b.Fatal(err)
					}
				}
				benchlat.ReportCPU(b, cpu)
			})
		}
	}
}
