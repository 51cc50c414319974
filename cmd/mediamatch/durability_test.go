package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
)

// crashCycles is how many times TestKillDuringWrites kills the server: 50
// by default, MEDIAMATCH_CRASH_CYCLES for a longer run.
func crashCycles(t *testing.T) int {
	s := os.Getenv("MEDIAMATCH_CRASH_CYCLES")
	if s == "" {
		return 50
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("MEDIAMATCH_CRASH_CYCLES=%q: want a positive number", s)
	}
	return n
}

// ackedEntry is an add the server acknowledged: the entry it named and the
// PDQ hash it was given (empty for streamed images, whose hashes the server
// computed).
type ackedEntry struct {
	name, pdq string
}

// TestKillDuringWrites is the durability figure. Each cycle starts a real
// `mediamatch serve` process on the same file, creates a bank, and has
// clients add entries as fast as the server acknowledges them, by hashes
// (CreateEntry) and by streamed images (CreateEntryStream). The process is
// killed with SIGKILL at a random moment; the file then passes bbolt's
// Tx.Check, the next start is clean (the server checks the store as it
// opens), and every add acknowledged so far is there: the previous cycle's
// one by one and matchable, all of them by listing at the end.
// Unacknowledged adds may or may not be there; none is half there.
func TestKillDuringWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	cycles := crashCycles(t)
	bin := buildBinary(t)
	db := filepath.Join(t.TempDir(), "mediamatch.db")
	images := loadImages(rand.New(rand.NewPCG(7, 7)), 16)
	acked := map[string][]ackedEntry{} // bank -> its acknowledged adds
	var previous string                // the bank of the cycle before
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	total, empty := 0, 0
	for cycle := range cycles {
		srv := startServe(t, bin, db)
		conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		bank := pb.NewBankServiceClient(conn)
		if previous != "" {
			verifyAcked(t, cycle, conn, previous, acked[previous])
		}

		name := fmt.Sprintf("c%d", cycle)
		if _, err := bank.CreateBank(context.Background(), &pb.CreateBankRequest{BankId: name}); err != nil {
			t.Fatalf("cycle %d: %v", cycle, err)
		}
		acked[name] = nil
		var mu sync.Mutex
		record := func(e ackedEntry) {
			mu.Lock()
			acked[name] = append(acked[name], e)
			mu.Unlock()
		}
		// gone ends a client: the server died (UNAVAILABLE) or the cycle
		// ended (CANCELLED); any other failure is the test's to report, or
		// the run would pass having added nothing.
		var unexpected error
		gone := func(err error) {
			if c := status.Code(err); c != codes.Unavailable && c != codes.Canceled {
				mu.Lock()
				if unexpected == nil {
					unexpected = err
				}
				mu.Unlock()
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for c := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(cycle), uint64(c)))
				for ctx.Err() == nil {
					if c < 2 {
						// An image already in the bank (already_exists)
						// names the entry acknowledged before: it must be
						// there too.
						resp, err := addImage(ctx, bank, "banks/"+name, images[r.IntN(len(images))], fmt.Sprintf("streamed %d", r.Uint64()))
						if err != nil {
							gone(err)
							return
						}
						record(ackedEntry{name: resp.GetEntry().GetName()})
						continue
					}
					hex := randomPDQ(r)
					entry, err := addHash(ctx, bank, "banks/"+name, hex)
					if err != nil {
						gone(err)
						return
					}
					record(ackedEntry{name: entry, pdq: hex})
				}
			}()
		}
		// A random moment: often while the first adds commit, sometimes
		// well into the run.
		time.Sleep(time.Duration(rng.Int64N(int64(700 * time.Millisecond))))
		if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-srv.done
		cancel()
		wg.Wait()
		conn.Close()
		checkBolt(t, cycle, db)
		if unexpected != nil {
			t.Fatalf("cycle %d: an add failed otherwise than by the kill: %v", cycle, unexpected)
		}
		if len(acked[name]) == 0 {
			empty++ // killed before the first acknowledgement
		}
		total += len(acked[name])
		previous = name
	}

	// The last cycle's adds one by one, then every acknowledged add of every
	// cycle by listing.
	srv := startServe(t, bin, db)
	conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	verifyAcked(t, cycles, conn, previous, acked[previous])
	lost, streamed := 0, 0
	for b, entries := range acked {
		listed := listEntries(t, conn, b)
		for _, e := range entries {
			if e.pdq == "" {
				streamed++
			}
			if !listed[e.name] {
				lost++
				t.Errorf("bank %s: acknowledged %s is missing", b, e.name)
			}
		}
	}
	srv.stop(t)
	if empty > cycles/4 {
		t.Errorf("%d of %d cycles acknowledged nothing before the kill: the test did not test much", empty, cycles)
	}
	t.Logf("%d SIGKILLs, %d acknowledged adds (%d of them streamed images), %d lost, %d cycles killed before their first acknowledgement; every restart and every Tx.Check clean", cycles, total, streamed, lost, empty)
}

// checkBolt runs bbolt's own consistency check over the killed server's
// file.
func checkBolt(t *testing.T, cycle int, path string) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("cycle %d: opening the killed server's file: %v", cycle, err)
	}
	defer db.Close()
	if err := db.View(func(tx *bbolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	}); err != nil {
		t.Fatalf("cycle %d: Tx.Check after SIGKILL: %v", cycle, err)
	}
}

// verifyAcked finds each acknowledged add of bank one by one, and matches
// those added by hash.
func verifyAcked(t *testing.T, cycle int, conn *grpc.ClientConn, bank string, entries []ackedEntry) {
	t.Helper()
	bc, mc := pb.NewBankServiceClient(conn), pb.NewMatchServiceClient(conn)
	for _, e := range entries {
		if _, err := bc.GetEntry(context.Background(), &pb.GetEntryRequest{Name: e.name}); err != nil {
			t.Errorf("cycle %d: acknowledged %s lost: %v", cycle, e.name, err)
			continue
		}
		if e.pdq == "" {
			continue
		}
		res, err := mc.Match(context.Background(), &pb.MatchRequest{Query: &pb.MatchRequest_Hashes{Hashes: &pb.MediaHashes{
			Hashes: []*pb.Hash{{Type: "pdq", Hex: e.pdq}}}}, Options: &pb.MatchOptions{Banks: []string{"banks/" + bank}}})
		if err != nil || len(res.GetResult().GetMatches()) == 0 || res.GetResult().GetMatches()[0].GetEntry() != e.name {
			t.Errorf("cycle %d: acknowledged %s not matched after the restart: %v", cycle, e.name, err)
		}
	}
}

// listEntries returns the names of every entry of bank.
func listEntries(t *testing.T, conn *grpc.ClientConn, bank string) map[string]bool {
	t.Helper()
	bc := pb.NewBankServiceClient(conn)
	names := map[string]bool{}
	page := ""
	for {
		resp, err := bc.ListEntries(context.Background(), &pb.ListEntriesRequest{Parent: "banks/" + bank, PageSize: 1000, PageToken: page})
		if err != nil {
			t.Fatalf("listing %s: %v", bank, err)
		}
		for _, e := range resp.GetEntries() {
			names[e.GetName()] = true
		}
		if page = resp.GetNextPageToken(); page == "" {
			return names
		}
	}
}
