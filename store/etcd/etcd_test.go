package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/storetest"
)

// The tests share one embedded etcd server (starting one takes about a
// second), each store under a prefix of its own. The server keeps etcd's
// default request limits, so every split a commit needs is made against
// the real limits.
var (
	endpoint string
	prefixes atomic.Int64
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "mediamatch-etcd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	e, err := startEtcd(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the embedded etcd:", err)
		return 1
	}
	defer e.Close()
	endpoint = e.Clients[0].Addr().String()
	return m.Run()
}

// freePort returns a loopback port free when asked.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startEtcd starts a one-member cluster on loopback, sized for tests:
// a small quota, fast heartbeat and election, no fsync (the tests'
// durability is the process's, not the disk's).
func startEtcd(dir string) (*embed.Etcd, error) {
	cp, err := freePort()
	if err != nil {
		return nil, err
	}
	pp, err := freePort()
	if err != nil {
		return nil, err
	}
	cfg := embed.NewConfig()
	cfg.Name = "test"
	cfg.Dir = dir
	cu := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", cp)}
	pu := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", pp)}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.TickMs, cfg.ElectionMs = 10, 100
	cfg.QuotaBackendBytes = 1 << 30
	cfg.UnsafeNoFsync = true
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{"stderr"}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case <-time.After(30 * time.Second):
		e.Close()
		return nil, errors.New("not ready after 30 s")
	}
}

func testOptions(prefix string) Options {
	return Options{Endpoints: []string{endpoint}, Prefix: prefix, LeaseTTL: 2 * time.Second,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
}

func newPrefix() string { return fmt.Sprintf("test/%d/", prefixes.Add(1)) }

func openT(t testing.TB, opts Options) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		New: func(t *testing.T) store.Store { return openT(t, testOptions(newPrefix())) },
		Reopen: func(t *testing.T, s store.Store) store.Store {
			es := s.(*Store)
			es.Close()
			return openT(t, es.opts)
		},
	})
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func mustCommit(t *testing.T, s store.Store, ops ...store.Op) store.CommitResult {
	t.Helper()
	res, err := s.Commit(ctxT(t), "tester", ops...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// keysUnder counts the keys under a store's prefix and family, and the
// largest value among them.
func keysUnder(t *testing.T, s *Store, family string) (int, int) {
	t.Helper()
	from, end := s.family(family)
	rd, err := s.reader(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	n, largest := 0, 0
	err = rd.scan(ctxT(t), from, end, false, func(kv *mvccpb.KeyValue) (bool, error) {
		n++
		largest = max(largest, len(kv.Value))
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n, largest
}

// TestLargeVideoSplit: a video of store.MaxFrames frames (about 1.6 MB of
// frames, over etcd's 1.5 MiB request limit) is stored in chunks no
// larger than ChunkBytes and read back whole.
func TestLargeVideoSplit(t *testing.T) {
	s := openT(t, testOptions(newPrefix()))
	defer s.Close()
	r := rand.New(rand.NewPCG(1, 2))
	mustCommit(t, s, store.CreateBank(store.Bank{Name: "v"}))
	v := storetest.RandomVideo(r, "v", store.MaxFrames)
	e := mustCommit(t, s, store.AddEntry(v)).Results[0].Entry
	chunks, largest := keysUnder(t, s, "bulk")
	if chunks < 2 || largest > s.opts.ChunkBytes {
		t.Errorf("%d chunks, the largest %d bytes (chunk size %d)", chunks, largest, s.opts.ChunkBytes)
	}
	got, err := s.Entry(ctxT(t), e.ID, store.ViewFull)
	if err != nil || storetest.SameEntry(got, v, store.ViewFull) != "" {
		t.Fatalf("the video read back: %v %s", err, storetest.SameEntry(got, v, store.ViewFull))
	}
	mustCommit(t, s, store.RemoveEntry(e.ID))
	if n, _ := keysUnder(t, s, "bulk"); n != 0 {
		t.Errorf("%d chunks left after the removal", n)
	}
}

// TestCrashedWriter: a writer that dies half way through a commit of
// several transactions leaves its intent; readers meanwhile see the store
// as it was, and the next writer, once the dead one's lease is gone,
// rolls the half-written commit back and commits after it.
func TestCrashedWriter(t *testing.T) {
	opts := testOptions(newPrefix())
	a := openT(t, opts)
	r := rand.New(rand.NewPCG(3, 4))
	mustCommit(t, a, store.CreateBank(store.Bank{Name: "c"}))
	kept := mustCommit(t, a, store.AddEntry(storetest.RandomImage(r, "c"))).Results[0].Entry
	before, _ := a.Revisions(ctxT(t))

	a.crashAfter = 3
	ops := make([]store.Op, 300)
	for i := range ops {
		ops[i] = store.AddEntry(storetest.RandomImage(r, "c"))
	}
	ops = append(ops, store.RemoveEntry(kept.ID))
	if _, err := a.Commit(ctxT(t), "tester", ops...); !errors.Is(err, errCrash) {
		t.Fatalf("the crashing commit: %v", err)
	}
	b := openT(t, opts)
	defer b.Close()
	if n, _ := keysUnder(t, b, "entries"); n != 1 {
		t.Errorf("readers see %d entries while the dead commit's intent stands, want 1", n)
	}
	if got, _ := b.Revisions(ctxT(t)); got != before {
		t.Errorf("revisions %+v during the dead commit, want %+v", got, before)
	}
	raw, err := b.cli.Get(ctxT(t), b.p, clientv3.WithPrefix())
	if err != nil || raw.Count < 300 {
		t.Fatalf("the dead commit wrote %d keys (%v); the test needs it to have written some", raw.Count, err)
	}
	// The process dies: its lease is revoked (a real death lets it expire).
	a.Close()

	res, err := b.Commit(ctxT(t), "tester", store.AddEntry(storetest.RandomImage(r, "c")))
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != before.Current+1 {
		t.Errorf("the next commit took revision %d, want %d", res.Revision, before.Current+1)
	}
	if err := b.Check(ctxT(t)); err != nil {
		t.Errorf("after the rollback: %v", err)
	}
	if n, _ := keysUnder(t, b, "entries"); n != 2 {
		t.Errorf("%d entries after the rollback and one add, want 2", n)
	}
	if _, err := b.Entry(ctxT(t), kept.ID, store.ViewFull); err != nil {
		t.Errorf("the entry the dead commit removed: %v", err)
	}
}

// TestWritersShareStore: two stores on one prefix, as two replicas, add
// the same items concurrently: identity holds across them (one entry per
// item, the same ids for both), and the revisions stay consecutive.
func TestWritersShareStore(t *testing.T) {
	opts := testOptions(newPrefix())
	a, b := openT(t, opts), openT(t, opts)
	defer a.Close()
	defer b.Close()
	mustCommit(t, a, store.CreateBank(store.Bank{Name: "s"}))
	r := rand.New(rand.NewPCG(5, 6))
	items := make([]*store.Entry, 30)
	for i := range items {
		items[i] = storetest.RandomImage(r, "s")
	}
	ids := [2][]uint64{make([]uint64, len(items)), make([]uint64, len(items))}
	errs := make(chan error, 2)
	for w, s := range []*Store{a, b} {
		go func() {
			order := rand.New(rand.NewPCG(uint64(w), 9)).Perm(len(items))
			for _, i := range order {
				res, err := s.Commit(context.Background(), fmt.Sprint("writer-", w), store.AddEntry(items[i]))
				if err != nil {
					errs <- err
					return
				}
				ids[w][i] = res.Results[0].Entry.ID
			}
			errs <- nil
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i := range items {
		if ids[0][i] != ids[1][i] {
			t.Fatalf("item %d: ids %d and %d", i, ids[0][i], ids[1][i])
		}
	}
	cs, err := b.Changes(ctxT(t), 0, 1000, store.ViewNone)
	if err != nil || len(cs) != len(items)+1 {
		t.Fatalf("%d changes (%v), want %d", len(cs), err, len(items)+1)
	}
	for i, c := range cs {
		if c.Revision != store.Revision(i+1) {
			t.Fatalf("change %d at revision %d", i, c.Revision)
		}
	}
}

// TestCompactedHistory: a compaction that compacts etcd's history makes
// a snapshot taken before it and a watch from before it fail with
// ErrCompacted, and a fresh snapshot then reads the whole state.
func TestCompactedHistory(t *testing.T) {
	s := openT(t, testOptions(newPrefix()))
	defer s.Close()
	r := rand.New(rand.NewPCG(7, 8))
	mustCommit(t, s, store.CreateBank(store.Bank{Name: "k"}))
	for range 5 {
		mustCommit(t, s, store.AddEntry(storetest.RandomImage(r, "k")))
	}
	old, err := s.Snapshot(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	for range 5 {
		mustCommit(t, s, store.AddEntry(storetest.RandomImage(r, "k")))
	}
	cur, _ := s.Revisions(ctxT(t))
	if err := s.Compact(ctxT(t), cur.Current); err != nil {
		t.Fatal(err)
	}
	err = old.Entries(store.ViewBasic, func(*store.Entry) error { return nil })
	if !errors.Is(err, store.ErrCompacted) {
		t.Errorf("reading a snapshot from before the compaction: %v, want ErrCompacted", err)
	}
	resp := <-s.Watch(ctxT(t), 3, store.ViewNone)
	if !errors.Is(resp.Err, store.ErrCompacted) {
		t.Errorf("a watch from before the compaction: %+v, want ErrCompacted", resp)
	}
	// A watch from the compacted revision goes on with later commits.
	w := s.Watch(ctxT(t), cur.Current, store.ViewBasic)
	e := mustCommit(t, s, store.AddEntry(storetest.RandomImage(r, "k"))).Results[0].Entry
	if resp := <-w; resp.Err != nil || len(resp.Changes) != 1 || resp.Changes[0].EntryID != e.ID {
		t.Errorf("a watch from the compacted revision: %+v", resp)
	}
	fresh, err := s.Snapshot(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	n := 0
	if err := fresh.Entries(store.ViewFull, func(*store.Entry) error { n++; return nil }); err != nil || n != 11 {
		t.Errorf("a fresh snapshot: %d entries, %v", n, err)
	}
}

// TestLargeSyncBatch: a sync batch larger than one etcd transaction is
// written under the intent; its writer dying half way moves neither the
// cursor nor the bank, and the same batch applied again by another
// replica adds every entry and moves the cursor once.
func TestLargeSyncBatch(t *testing.T) {
	opts := testOptions(newPrefix())
	a := openT(t, opts)
	r := rand.New(rand.NewPCG(7, 8))
	mustCommit(t, a, store.CreateBank(store.Bank{Name: "in"}))
	batch := store.SyncBatch{Bank: "in", Source: "peer:7077/banks/x", Partner: "ngo", From: 0, To: 300}
	for i := range 300 {
		e := storetest.RandomImage(r, "x")
		e.Provenance = store.Provenance{SourceID: fmt.Sprint(i + 1), ListRevision: store.Revision(i + 1)}
		batch.Entries = append(batch.Entries, e)
	}
	a.crashAfter = 3
	if _, err := a.Commit(ctxT(t), "syncer", store.SyncEntries(&batch)); !errors.Is(err, errCrash) {
		t.Fatalf("the crashing batch: %v", err)
	}
	b := openT(t, opts)
	defer b.Close()
	if bank, err := b.Bank(ctxT(t), "in"); err != nil || bank.Entries != 0 || len(bank.Synced) != 0 {
		t.Fatalf("while the dead batch's intent stands: %+v %v", bank, err)
	}
	a.Close()

	res, err := b.Commit(ctxT(t), "syncer", store.SyncEntries(&batch))
	if err != nil {
		t.Fatal(err)
	}
	if got := *res.Results[0].Sync; got != (store.SyncResult{Added: 300}) {
		t.Errorf("the batch again: %+v, want 300 added", got)
	}
	bank, err := b.Bank(ctxT(t), "in")
	if err != nil || bank.Entries != 300 || bank.Synced[batch.Source] != 300 {
		t.Errorf("after the batch: %d entries, cursors %v (%v)", bank.Entries, bank.Synced, err)
	}
	if err := b.Check(ctxT(t)); err != nil {
		t.Error(err)
	}
	if _, err := b.Commit(ctxT(t), "syncer", store.SyncEntries(&batch)); !errors.Is(err, store.ErrSyncConflict) {
		t.Errorf("the batch a third time: %v, want ErrSyncConflict", err)
	}
}
