package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mediamatch/mediamatch/hashing"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/etcd"
	"github.com/mediamatch/mediamatch/store/storetest"
)

// BenchmarkClusterFreshness: three embedded etcd members and three
// replicas (serve processes) on loopback, as in TestClusterReplicas. Each
// iteration adds a hash through one replica (in turn) and measures the
// time from the acknowledged add until both other replicas match it,
// while loaders match random hashes against every replica. Reported: the
// p50 and p99 of that time over the iterations, and the loaders' matches
// a second. Every process shares this machine's cores.
//
//	go test -run '^$' -bench BenchmarkClusterFreshness -benchtime 300x -count 3 ./cmd/mediamatch/
func BenchmarkClusterFreshness(b *testing.B) {
	bin := buildBinary(b)
	c := startEtcdCluster(b, 3)
	rs := []*replica{startReplica(b, bin, c), startReplica(b, bin, c), startReplica(b, bin, c)}
	for _, r := range rs {
		r.waitServing(b)
	}
	ctx := context.Background()
	if _, err := rs[0].bank.CreateBank(ctx, &pb.CreateBankRequest{BankId: "shared"}); err != nil {
		b.Fatal(err)
	}
	// A bank that is not empty: 2,000 entries.
	r := rand.New(rand.NewPCG(11, 12))
	for range 2000 {
		if _, err := addHash(ctx, rs[0].bank, "banks/shared", randomPDQ(r)); err != nil {
			b.Fatal(err)
		}
	}

	loadCtx, stopLoad := context.WithCancel(ctx)
	var loaded atomic.Int64
	var wg sync.WaitGroup
	for i := range 6 { // two loaders per replica
		wg.Add(1)
		go func() {
			defer wg.Done()
			lr := rand.New(rand.NewPCG(uint64(i), 99))
			mc := rs[i%len(rs)].mc
			for loadCtx.Err() == nil {
				_, err := mc.Match(loadCtx, &pb.MatchRequest{Query: &pb.MatchRequest_Hashes{Hashes: &pb.MediaHashes{
					Hashes: []*pb.Hash{{Type: "pdq", Hex: randomPDQ(lr), Quality: proto.Int32(90)}}}},
					Options: &pb.MatchOptions{Banks: []string{"banks/shared"}}})
				if err == nil {
					loaded.Add(1)
				}
			}
		}()
	}

	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	start := time.Now()
	loaded.Store(0)
	for i := range b.N {
		w := rs[i%len(rs)]
		hex := randomPDQ(r)
		if _, err := addHash(ctx, w.bank, "banks/shared", hex); err != nil {
			b.Fatal(err)
		}
		acked := time.Now()
		for _, o := range rs {
			if o == w {
				continue
			}
			for {
				res, err := o.mc.Match(ctx, &pb.MatchRequest{Query: &pb.MatchRequest_Hashes{Hashes: &pb.MediaHashes{
					Hashes: []*pb.Hash{{Type: "pdq", Hex: hex, Quality: proto.Int32(90)}}}},
					Options: &pb.MatchOptions{Banks: []string{"banks/shared"}}})
				if err != nil {
					b.Fatal(err)
				}
				if len(res.GetResult().GetMatches()) > 0 {
					break
				}
				if time.Since(acked) > 30*time.Second {
					b.Fatalf("replica %s did not match an add through %s within 30 s", o.proc.addr, w.proc.addr)
				}
				time.Sleep(time.Millisecond)
			}
		}
		lat = append(lat, time.Since(acked))
	}
	elapsed := time.Since(start)
	b.StopTimer()
	stopLoad()
	wg.Wait()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(loaded.Load())/elapsed.Seconds(), "load-matches/s")
	b.ReportMetric(0, "ns/op")
}

var clusterEntries = flag.Int("cluster-entries", 100_000, "entries BenchmarkClusterScale loads into etcd before it starts replicas")

// BenchmarkClusterScale: one embedded etcd member holding
// -cluster-entries PDQ entries (loaded in commits of 1,000, not timed),
// then three replicas started one after another: the time each takes from
// its process start to SERVING (its catch-up: connecting, reading the
// snapshot, building the index), the matches a second 16 clients get from
// the first two while the third catches up, and from 1, 2 and 3 replicas
// (round robin, 5 s each) once all serve. Every process
// shares this machine's two cores, so more replicas add no cores.
//
//	go test ./cmd/mediamatch/ -run '^$' -bench BenchmarkClusterScale -benchtime 1x -count 3 -timeout 2h -cluster-entries 1000000
func BenchmarkClusterScale(b *testing.B) {
	bin := buildBinary(b)
	c := startEtcdCluster(b, 1)
	ctx := context.Background()
	st, err := etcd.Open(ctx, etcd.Options{Endpoints: []string{"http://" + c.clients[0]}, Prefix: "cluster/"})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Commit(ctx, "bench", store.CreateBank(store.Bank{Name: "shared"})); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(21, 22))
	var probes []string
	for done := 0; done < *clusterEntries; {
		var ops []store.Op
		for ; len(ops) < 1000 && done < *clusterEntries; done++ {
			h := storetest.RandomHash(r, hashing.PDQ)
			if len(probes) < 1000 {
				probes = append(probes, fmt.Sprintf("%x", h.Bytes))
			}
			ops = append(ops, store.AddEntry(&store.Entry{Bank: "shared", Kind: store.KindImage, Hashes: []hashing.Hash{h}}))
		}
		if _, err := st.Commit(ctx, "bench", ops...); err != nil {
			b.Fatal(err)
		}
	}
	// load matches through the first k replicas with 16 clients until
	// lctx ends, and returns the matches answered a second.
	load := func(lctx context.Context, rs []*replica) float64 {
		start := time.Now()
		var n atomic.Int64
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := g; lctx.Err() == nil; i++ {
					_, err := rs[i%len(rs)].mc.Match(lctx, &pb.MatchRequest{Query: &pb.MatchRequest_Hashes{Hashes: &pb.MediaHashes{
						Hashes: []*pb.Hash{{Type: "pdq", Hex: probes[i%len(probes)], Quality: proto.Int32(90)}}}},
						Options: &pb.MatchOptions{Banks: []string{"banks/shared"}}})
					if err == nil {
						n.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		return float64(n.Load()) / time.Since(start).Seconds()
	}
	b.ResetTimer()
	for range b.N {
		var rs []*replica
		for i := range 3 {
			// The third replica catches up while the first two answer
			// matches: what its catch-up costs them.
			lctx, stop := context.WithCancel(ctx)
			during := make(chan float64, 1)
			if i == 2 {
				go func() { during <- load(lctx, rs) }()
			}
			start := time.Now()
			rp := startReplica(b, bin, c)
			rp.waitServingWithin(b, 30*time.Minute)
			b.ReportMetric(time.Since(start).Seconds(), fmt.Sprintf("catchup-%d-s", i+1))
			stop()
			if i == 2 {
				b.ReportMetric(<-during, "qps-2-during-catchup")
			}
			rs = append(rs, rp)
		}
		for k := 1; k <= 3; k++ {
			lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			b.ReportMetric(load(lctx, rs[:k]), fmt.Sprintf("qps-%d", k))
			cancel()
		}
		for _, rp := range rs {
			rp.proc.cmd.Process.Kill()
			<-rp.proc.done
		}
	}
	b.ReportMetric(0, "ns/op")
}
