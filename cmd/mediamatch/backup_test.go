package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
)

// TestBackup takes a hot copy through a real server while clients keep
// adding, then serves the copy: it holds every entry acknowledged before
// the backup began, and exactly the entries it reports. Offline copies,
// an existing OUT and a file a server holds are checked too.
func TestBackup(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "mediamatch.db")
	srv := startServe(t, bin, db)
	environ := map[string]string{"MEDIAMATCH_SERVER": srv.addr}
	conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	bank := pb.NewBankServiceClient(conn)
	if _, err := bank.CreateBank(context.Background(), &pb.CreateBankRequest{BankId: "tvec"}); err != nil {
		t.Fatal(err)
	}
	add := func(r *rand.Rand) (string, error) {
		return addHash(context.Background(), bank, "banks/tvec", randomPDQ(r))
	}
	r := rand.New(rand.NewPCG(1, 1))
	var before []string
	for range 200 {
		name, err := add(r)
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, name)
	}

	// Adds go on during the copy.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(2, uint64(c)))
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := add(r); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	out := filepath.Join(dir, "copy.db")
	code, stdout, stderr := runCLI(t, nil, environ, "backup", out)
	close(stop)
	wg.Wait()
	if code != exitOK {
		t.Fatalf("backup: exit %d: %s", code, stderr)
	}
	var res backupJSON
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("backup printed %q: %v", stdout, err)
	}
	if res.File != out || res.Bytes <= 0 || len(res.SHA256) != 64 || res.Banks != 1 || res.Entries < int64(len(before)) || res.Revision < int64(len(before))+1 {
		t.Errorf("backup: %+v, want 1 bank and at least %d entries", res, len(before))
	}
	if st, err := os.Stat(out); err != nil || st.Size() != res.Bytes {
		t.Errorf("the copy on disk: %v, %v; backup reported %d bytes", st, err, res.Bytes)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".copy.db.partial-*")); len(leftovers) > 0 {
		t.Errorf("partial files left: %v", leftovers)
	}
	if code, _, stderr := runCLI(t, nil, environ, "backup", out); code != exitFail || !strings.Contains(stderr, "--force") {
		t.Errorf("backup over an existing file: exit %d, %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, nil, environ, "backup", "--db", db, filepath.Join(dir, "offline.db")); code != exitFail || !strings.Contains(stderr, "held by a running mediamatch server") {
		t.Errorf("offline backup of a served file: exit %d, %s", code, stderr)
	}
	code, stdout, _ = runCLI(t, nil, environ, "audit")
	if code != exitOK || !strings.Contains(stdout, `"action":"backup"`) || !strings.Contains(stdout, fmt.Sprintf("revision %d", res.Revision)) {
		t.Errorf("the audit log lacks the backup: exit %d\n%s", code, stdout)
	}
	srv.stop(t)

	// The copy serves: every entry acknowledged before the backup is there,
	// and the bank holds what the backup reported.
	copySrv := startServe(t, bin, out)
	cconn, err := grpc.NewClient(copySrv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cconn.Close()
	cbank := pb.NewBankServiceClient(cconn)
	for _, name := range before {
		if _, err := cbank.GetEntry(context.Background(), &pb.GetEntryRequest{Name: name}); err != nil {
			t.Errorf("%s, added before the backup, is not in the copy: %v", name, err)
		}
	}
	if listed := listEntries(t, cconn, "tvec"); int64(len(listed)) != res.Entries {
		t.Errorf("the copy lists %d entries, backup reported %d", len(listed), res.Entries)
	}
	copySrv.stop(t)

	// Offline, with no server on the file.
	offline := filepath.Join(dir, "offline.db")
	code, stdout, stderr = runCLI(t, nil, nil, "backup", "--db", db, offline)
	if code != exitOK || json.Unmarshal([]byte(stdout), &res) != nil || res.Entries < int64(len(before)) {
		t.Errorf("offline backup: exit %d %s %s", code, stdout, stderr)
	}
	if code, _, stderr := runCLI(t, nil, nil, "backup", "--db", filepath.Join(dir, "missing.db"), filepath.Join(dir, "x.db")); code != exitFail {
		t.Errorf("offline backup of a missing file: exit %d, %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); err == nil {
		t.Error("backup --db created the missing store file")
	}
}
