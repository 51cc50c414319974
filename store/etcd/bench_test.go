package etcd

import (
	"context"
	"math/rand/v2"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/storetest"
)

// BenchmarkEntryBytes: what an image entry costs in etcd. b.N entries are
// added in commits of 20; reported are the growth of etcd's database in
// use (its pages, history included) and the bytes of keys and values
// under the store's prefix, per entry, the change records included (they
// stay until compacted), and how many such entries etcd's recommended
// 8 GiB holds. "pdq": one PDQ hash and an MD5; "regions": PDQ, pHash,
// dHash, MD5, SHA-256, labels, note and source, with 1 to 5 region hashes;
// "keypoints": the same with up to 32 keypoints (storetest.RandomImage).
//
//	go test -run '^$' -bench BenchmarkEntryBytes -benchtime 20000x -count 3 ./store/etcd/
func BenchmarkEntryBytes(b *testing.B) {
	kinds := []struct {
		name string
		make func(r *rand.Rand) *store.Entry
	}{
		{"pdq", func(r *rand.Rand) *store.Entry {
			return &store.Entry{Bank: "b", Kind: store.KindImage, Format: "jpeg", Width: 640, Height: 480,
				Hashes: []hashing.Hash{storetest.RandomHash(r, hashing.PDQ), storetest.RandomHash(r, hashing.MD5)}}
		}},
		{"regions", func(r *rand.Rand) *store.Entry {
			e := storetest.RandomImage(r, "b")
			e.Keypoints = nil
			return e
		}},
		{"keypoints", func(r *rand.Rand) *store.Entry {
			e := storetest.RandomImage(r, "b")
			for len(e.Keypoints) < store.MaxKeypoints/2 {
				e.Keypoints = append(e.Keypoints, store.Keypoint{X: r.Float32(), Y: r.Float32(),
					Descriptor: [4]uint64{r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64()}})
			}
			return e
		}},
	}
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			s := openT(b, testOptions(newPrefix()))
			defer s.Close()
			ctx := context.Background()
			if _, err := s.Commit(ctx, "bench", store.CreateBank(store.Bank{Name: "b"})); err != nil {
				b.Fatal(err)
			}
			before, err := s.cli.Status(ctx, endpoint)
			if err != nil {
				b.Fatal(err)
			}
			r := rand.New(rand.NewPCG(1, 2))
			b.ResetTimer()
			for done := 0; done < b.N; {
				var ops []store.Op
				for ; len(ops) < 20 && done < b.N; done++ {
					ops = append(ops, store.AddEntry(k.make(r)))
				}
				if _, err := s.Commit(ctx, "bench", ops...); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			after, err := s.cli.Status(ctx, endpoint)
			if err != nil {
				b.Fatal(err)
			}
			resp, err := s.cli.Get(ctx, s.p, clientv3.WithPrefix())
			if err != nil {
				b.Fatal(err)
			}
			var kv int64
			for _, x := range resp.Kvs {
				kv += int64(len(x.Key) + len(x.Value))
			}
			db := float64(after.DbSizeInUse-before.DbSizeInUse) / float64(b.N)
			b.ReportMetric(db, "etcd-B/entry")
			b.ReportMetric(float64(kv)/float64(b.N), "kv-B/entry")
			b.ReportMetric(float64(len(resp.Kvs))/float64(b.N), "keys/entry")
			if db > 0 {
				b.ReportMetric(float64(8<<30)/db/1e6, "M-entries/8GiB")
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}
