package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
)

// TestKillDuringWrites is the durability figure: 32 clients add entries
// to a real `mediamatch serve` process as fast as it acknowledges them,
// the process is killed with SIGKILL in the middle, and after a restart
// every acknowledged entry is there, matchable, and the store opens clean
// (it is checked at every start). Unacknowledged adds may or may not be
// there; none is half there.
func TestKillDuringWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	db := filepath.Join(t.TempDir(), "mediamatch.db")
	total := 0
	for round := range 3 {
		srv := startServe(t, bin, db)
		conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		bank := pb.NewBankServiceClient(conn)
		match := pb.NewMatchServiceClient(conn)
		name := fmt.Sprintf("r%d", round)
		if _, err := bank.CreateBank(context.Background(), &pb.CreateBankRequest{BankId: name}); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		acked := map[string]string{} // entry name -> its pdq hex
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for c := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(round), uint64(c)))
				for ctx.Err() == nil {
					hex := fmt.Sprintf("%016x%016x%016x%016x", r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64())
					resp, err := bank.CreateEntry(ctx, &pb.CreateEntryRequest{Parent: "banks/" + name, Entry: &pb.Entry{
						Media: &pb.MediaHashes{Hashes: []*pb.Hash{{Type: "pdq", Hex: hex, Quality: proto.Int32(90)}}}}})
					if err != nil {
						return // the server is gone
					}
					mu.Lock()
					acked[resp.GetEntry().GetName()] = hex
					mu.Unlock()
				}
			}()
		}
		time.Sleep(1500 * time.Millisecond)
		if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-srv.done
		cancel()
		wg.Wait()
		conn.Close()
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n == 0 {
			t.Fatalf("round %d: nothing was acknowledged before the kill", round)
		}

		srv = startServe(t, bin, db)
		conn, err = grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		bank, match = pb.NewBankServiceClient(conn), pb.NewMatchServiceClient(conn)
		lost := 0
		for entry, hex := range acked {
			if _, err := bank.GetEntry(context.Background(), &pb.GetEntryRequest{Name: entry}); err != nil {
				lost++
				continue
			}
			res, err := match.Match(context.Background(), &pb.MatchRequest{Query: &pb.MatchRequest_Hashes{Hashes: &pb.MediaHashes{
				Hashes: []*pb.Hash{{Type: "pdq", Hex: hex}}}}, Options: &pb.MatchOptions{Banks: []string{"banks/" + name}}})
			if err != nil || len(res.GetResult().GetMatches()) == 0 || res.GetResult().GetMatches()[0].GetEntry() != entry {
				t.Errorf("round %d: acknowledged %s not matched after the restart: %v", round, entry, err)
			}
		}
		got, err := bank.GetBank(context.Background(), &pb.GetBankRequest{Name: "banks/" + name})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: %d adds acknowledged before SIGKILL, %d lost; the bank holds %d after the restart", round, n, lost, got.GetBank().GetEntryCount())
		if lost > 0 || got.GetBank().GetEntryCount() < int64(n) {
			t.Errorf("round %d: %d of %d acknowledged adds lost", round, lost, n)
		}
		total += n
		conn.Close()
		srv.stop(t)
	}
	t.Logf("%d acknowledged adds over 3 kills, all durable", total)
}
