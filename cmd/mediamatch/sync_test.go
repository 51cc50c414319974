package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
)

// syncServer is a real `mediamatch serve` process with a client.
type syncServer struct {
	proc *serverProcess
	conn *grpc.ClientConn
	bank pb.BankServiceClient
	mc   pb.MatchServiceClient
}

func startSyncServer(t testing.TB, bin, db string, args ...string) *syncServer {
	t.Helper()
	p := startServeArgs(t, bin, db, append([]string{"--listen", "127.0.0.1:0"}, args...)...)
	conn, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &syncServer{proc: p, conn: conn, bank: pb.NewBankServiceClient(conn), mc: pb.NewMatchServiceClient(conn)}
}

// syncProcess is `mediamatch sync` running as its own process.
type syncProcess struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan error
}

// lockedBuffer is a bytes.Buffer a process writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor waits until the process has written s.
func (p *syncProcess) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.stderr.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("sync did not write %q:\n%s", s, p.stderr)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func startSync(t *testing.T, bin string, args ...string) *syncProcess {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"sync"}, args...)...)
	p := &syncProcess{cmd: cmd, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// syncEntry is what B must hold of one of A's entries.
type syncEntry struct {
	pdq, note string
	labels    map[string]string
}

// bankEntries lists a bank in full, keyed by the id at the source: A's
// own ids, or B's entries' provenance source ids (with source set).
func bankEntries(t *testing.T, s *syncServer, bank, source string) map[string]syncEntry {
	t.Helper()
	out := map[string]syncEntry{}
	page := ""
	for {
		resp, err := s.bank.ListEntries(context.Background(), &pb.ListEntriesRequest{Parent: "banks/" + bank, PageSize: 1000, PageToken: page, View: pb.EntryView_ENTRY_VIEW_FULL})
		if err != nil {
			t.Fatalf("listing %s: %v", bank, err)
		}
		for _, e := range resp.GetEntries() {
			key := lastPart(e.GetName())
			if source != "" {
				if e.GetProvenance().GetList() != source {
					t.Errorf("%s: provenance %v, want list %s", e.GetName(), e.GetProvenance(), source)
				}
				key = e.GetProvenance().GetSourceId()
			}
			if _, dup := out[key]; dup {
				t.Errorf("bank %s holds source entry %s twice", bank, key)
			}
			var hex string
			for _, h := range e.GetMedia().GetHashes() {
				if h.GetType() == "pdq" {
					hex = h.GetHex()
				}
			}
			out[key] = syncEntry{pdq: hex, note: e.GetNote(), labels: e.GetLabels()}
		}
		if page = resp.GetNextPageToken(); page == "" {
			return out
		}
	}
}

// changeCounts counts a bank's entry changes by kind.
func changeCounts(t *testing.T, s *syncServer, bank string) map[pb.ChangeKind]int {
	t.Helper()
	out := map[pb.ChangeKind]int{}
	var after int64
	for {
		resp, err := s.bank.ListChanges(context.Background(), &pb.ListChangesRequest{Parent: "banks/" + bank, AfterRevision: after, PageSize: 1000})
		if err != nil {
			t.Fatalf("listing %s's changes: %v", bank, err)
		}
		for _, c := range resp.GetChanges() {
			out[c.GetKind()]++
			after = c.GetRevision()
		}
		if len(resp.GetChanges()) == 0 {
			return out
		}
	}
}

// converged compares B's bank with A's: the same entries (by A's ids),
// hashes, labels and notes, and the same answer to a match by each hash.
func converged(t *testing.T, a, b *syncServer, source string, probes []string) {
	t.Helper()
	want := bankEntries(t, a, "src", "")
	got := bankEntries(t, b, "mirror", source)
	for id, w := range want {
		g, ok := got[id]
		switch {
		case !ok:
			t.Errorf("A's entry %s (%s) is missing from B", id, w.pdq)
		case g.pdq != w.pdq || g.note != w.note || !maps.Equal(g.labels, w.labels):
			t.Errorf("entry %s: B holds %+v, A %+v", id, g, w)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("B holds %s, which A no longer has", id)
		}
	}
	for _, hex := range probes {
		am, bm := matchLabels(t, a, "src", hex), matchLabels(t, b, "mirror", hex)
		if am != bm {
			t.Errorf("matching %s: A answers %s, B %s", hex, am, bm)
		}
	}
}

// matchLabels matches a hash in a bank and describes the answer by what
// does not depend on the server: each match's labels and score.
func matchLabels(t testing.TB, s *syncServer, bank, hex string) string {
	t.Helper()
	res, err := s.mc.Match(context.Background(), &pb.MatchRequest{Query: &pb.MatchRequest_Hashes{Hashes: &pb.MediaHashes{
		Hashes: []*pb.Hash{{Type: "pdq", Hex: hex, Quality: proto.Int32(90)}}}}, Options: &pb.MatchOptions{Banks: []string{"banks/" + bank}}})
	if err != nil {
		t.Fatalf("match: %v", err)
	}
	var parts []string
	for _, m := range res.GetResult().GetMatches() {
		parts = append(parts, fmt.Sprintf("%v@%.3g", m.GetLabels(), m.GetScore()))
	}
	slices.Sort(parts)
	return strings.Join(parts, ";")
}

// workload is a seeded sequence of adds, label updates, removals and
// re-adds (a removed hash added again, a new entry at A) on A's bank.
type workload struct {
	r       *rand.Rand
	live    map[string]string // entry name -> pdq
	removed []string          // pdq hashes removed, to add again
	all     []string          // every pdq used, for match probes
	ops     map[string]int
}

func (w *workload) step(t *testing.T, a *syncServer) {
	t.Helper()
	ctx := context.Background()
	names := slices.Sorted(maps.Keys(w.live))
	n := w.r.IntN(10)
	switch {
	case n < 4 || len(names) < 10:
		hex := randomPDQ(w.r)
		name, err := addHash(ctx, a.bank, "banks/src", hex)
		if err != nil {
			t.Fatalf("add: %v", err)
		}
		w.live[name] = hex
		w.all = append(w.all, hex)
		w.ops["add"]++
	case n < 7:
		name := names[w.r.IntN(len(names))]
		_, err := a.bank.UpdateEntry(ctx, &pb.UpdateEntryRequest{Entry: &pb.Entry{Name: name,
			Labels: map[string]string{"v": fmt.Sprint(w.r.IntN(1000))}, Note: fmt.Sprintf("note %d", w.r.IntN(1000))}})
		if err != nil {
			t.Fatalf("update: %v", err)
		}
		w.ops["update"]++
	case n < 9:
		name := names[w.r.IntN(len(names))]
		if _, err := a.bank.DeleteEntry(ctx, &pb.DeleteEntryRequest{Name: name}); err != nil {
			t.Fatalf("remove: %v", err)
		}
		w.removed = append(w.removed, w.live[name])
		delete(w.live, name)
		w.ops["remove"]++
	default:
		if len(w.removed) == 0 {
			return
		}
		i := w.r.IntN(len(w.removed))
		hex := w.removed[i]
		w.removed = slices.Delete(w.removed, i, i+1)
		name, err := addHash(ctx, a.bank, "banks/src", hex)
		if err != nil {
			t.Fatalf("re-add: %v", err)
		}
		w.live[name] = hex
		w.ops["re-add"]++
	}
}

// TestSyncKilled is issue 13's second acceptance test: two real servers,
// adds, label updates, removals and re-adds on A while `mediamatch sync`
// (the real binary) follows A into B and is killed with SIGKILL at seeded
// random moments and started again. B converges to A exactly (entries,
// hashes, labels, notes, match answers), and B's change log holds no
// change twice: at most as many adds, updates and removals as A made.
func TestSyncKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	a := startSyncServer(t, bin, filepath.Join(dir, "a.db"))
	b := startSyncServer(t, bin, filepath.Join(dir, "b.db"))
	ctx := context.Background()
	if _, err := a.bank.CreateBank(ctx, &pb.CreateBankRequest{BankId: "src"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.bank.CreateBank(ctx, &pb.CreateBankRequest{BankId: "mirror"}); err != nil {
		t.Fatal(err)
	}
	source := a.proc.addr + "/banks/src"
	// Small batches, so that a window of changes spans several and a kill
	// can fall between them.
	args := []string{"--from", a.proc.addr, "--bank", "src", "--into", "mirror", "--server", b.proc.addr, "--poll", "20ms", "--batch", "8"}

	const seed, kills, opsPerRound = 13, 8, 40
	w := &workload{r: rand.New(rand.NewPCG(seed, 1)), live: map[string]string{}, ops: map[string]int{}}
	killer := rand.New(rand.NewPCG(seed, 2))
	killed := 0
	for round := range kills {
		p := startSync(t, bin, args...)
		// Killed at a random moment after it has caught up once (the
		// first round: taken its first snapshot), while A changes.
		p.waitFor(t, "caught up")
		mark := len(p.stderr.String())
		stop := time.Now().Add(time.Duration(killer.IntN(400)) * time.Millisecond)
		for i := 0; i < opsPerRound || time.Now().Before(stop); i++ {
			if i < opsPerRound {
				w.step(t, a)
			} else {
				time.Sleep(5 * time.Millisecond)
			}
			if time.Now().After(stop) && i >= opsPerRound/2 {
				break
			}
		}
		if p.cmd.ProcessState != nil {
			t.Fatalf("round %d: sync exited early:\n%s", round, p.stderr)
		}
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.done
		if strings.Contains(p.stderr.String()[mark:], "msg=applied") {
			killed++ // it had applied changes while following
		}
	}
	// Started once more, it follows A to its end.
	p := startSync(t, bin, args...)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := b.bank.GetBank(ctx, &pb.GetBankRequest{Name: "banks/mirror"})
		if err != nil {
			t.Fatal(err)
		}
		ar, _ := a.bank.ListChanges(ctx, &pb.ListChangesRequest{Parent: "banks/-", PageSize: 1})
		if resp.GetBank().GetSyncedRevisions()[source] == ar.GetRevision() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B's cursor %v did not reach A's revision %d:\n%s", resp.GetBank().GetSyncedRevisions(), ar.GetRevision(), p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The cursor may have been at A's revision before this process ran:
	// a SIGTERM before it handles signals would kill it.
	p.waitFor(t, "caught up")
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-p.done; err != nil {
		t.Errorf("sync after SIGTERM: %v\n%s", err, p.stderr)
	}
	converged(t, a, b, source, w.all)

	ac, bc := changeCounts(t, a, "src"), changeCounts(t, b, "mirror")
	for _, k := range []pb.ChangeKind{pb.ChangeKind_CHANGE_KIND_ENTRY_CREATED, pb.ChangeKind_CHANGE_KIND_ENTRY_UPDATED, pb.ChangeKind_CHANGE_KIND_ENTRY_DELETED} {
		if bc[k] > ac[k] {
			t.Errorf("B's log holds %d %v changes, A's %d: a change was applied twice", bc[k], k, ac[k])
		}
	}
	if w.ops["re-add"] == 0 || w.ops["remove"] == 0 || w.ops["update"] == 0 {
		t.Errorf("the workload lacked a kind of change: %v", w.ops)
	}
	if killed < kills/2 {
		t.Errorf("only %d of %d kills came after the syncer had applied a change while following: the test did not test much", killed, kills)
	}
	t.Logf("%d SIGKILLs (%d after applying changes while following); A made %v (log %v), B's log %v; %d entries", kills, killed, w.ops, ac, bc, len(w.live))
}

// TestSyncResnapshot trims A's change log past B's cursor (A keeps only
// its last 10 changes): the next sync reads the whole bank again, adds and
// updates what changed and removes what A no longer holds, and leaves an
// entry added to B by hand alone.
func TestSyncResnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	a := startSyncServer(t, bin, filepath.Join(dir, "a.db"), "--log-retention", "10")
	b := startSyncServer(t, bin, filepath.Join(dir, "b.db"))
	ctx := context.Background()
	if _, err := a.bank.CreateBank(ctx, &pb.CreateBankRequest{BankId: "src"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.bank.CreateBank(ctx, &pb.CreateBankRequest{BankId: "mirror"}); err != nil {
		t.Fatal(err)
	}
	local := randomPDQ(rand.New(rand.NewPCG(5, 5)))
	if _, err := addHash(ctx, b.bank, "banks/mirror", local); err != nil {
		t.Fatal(err)
	}
	source := a.proc.addr + "/banks/src"
	once := func(want string) string {
		t.Helper()
		code, _, stderr := runCLI(t, nil, nil, "sync", "--once", "--from", a.proc.addr, "--bank", "src", "--into", "mirror", "--server", b.proc.addr, "--batch", "16")
		if code != exitOK {
			t.Fatalf("sync --once: exit %d\n%s", code, stderr)
		}
		if !strings.Contains(stderr, want) {
			t.Errorf("sync --once's progress lacks %q:\n%s", want, stderr)
		}
		return stderr
	}
	w := &workload{r: rand.New(rand.NewPCG(21, 1)), live: map[string]string{}, ops: map[string]int{}}
	for range 60 {
		w.step(t, a)
	}
	once("caught up")
	// Removals, re-adds and updates well past what A's log keeps.
	for range 80 {
		w.step(t, a)
	}
	for name := range w.live {
		if len(w.live) <= 20 {
			break
		}
		if _, err := a.bank.DeleteEntry(ctx, &pb.DeleteEntryRequest{Name: name}); err != nil {
			t.Fatal(err)
		}
		delete(w.live, name)
	}
	stderr := once("reading the whole bank")
	if !strings.Contains(stderr, "snapshot=true") {
		t.Errorf("the second sync was not a snapshot:\n%s", stderr)
	}
	// B's hand-added entry is still there, beside A's.
	resp, err := b.bank.GetBank(ctx, &pb.GetBankRequest{Name: "banks/mirror"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resp.GetBank().GetEntryCount(), int64(len(w.live)+1); got != want {
		t.Errorf("B holds %d entries, want A's %d and its own", got, want)
	}
	if m := matchLabels(t, b, "mirror", local); m == "" {
		t.Error("B's own entry was removed by the snapshot")
	}
	if _, err := b.bank.DeleteEntry(ctx, &pb.DeleteEntryRequest{Name: "banks/mirror/entries/1"}); err != nil {
		t.Fatal(err)
	}
	converged(t, a, b, source, w.all)
	// Once more: nothing to do, nothing written.
	before := changeCounts(t, b, "mirror")
	once("sync")
	if after := changeCounts(t, b, "mirror"); !maps.Equal(before, after) {
		t.Errorf("a sync with nothing to do changed B: %v, then %v", before, after)
	}
	// bank get shows the cursor.
	code, out, _ := runCLI(t, nil, map[string]string{"MEDIAMATCH_SERVER": b.proc.addr}, "bank", "get", "mirror")
	ar, _ := a.bank.ListChanges(ctx, &pb.ListChangesRequest{Parent: "banks/-", PageSize: 1})
	if want := fmt.Sprintf(`"synced":{%q:%d}`, source, ar.GetRevision()); code != exitOK || !strings.Contains(out, want) {
		t.Errorf("bank get: exit %d %s, want %s", code, out, want)
	}
	// Following into a bank B lacks ends at once, saying so.
	code, _, stderr = runCLI(t, nil, nil, "sync", "--from", a.proc.addr, "--bank", "src", "--into", "nope", "--server", b.proc.addr)
	if code != exitFail || !strings.Contains(stderr, "NotFound") {
		t.Errorf("following into an unknown bank: exit %d\n%s", code, stderr)
	}
}

// TestSyncPartnerToken syncs from a server with tokens: the partner's
// token, stored by `partner add --token-file`, is what sync --partner
// sends; without it the partner's server refuses, and a partner token
// not granted the bank is refused too. The synced entries name the
// partner in their provenance.
func TestSyncPartnerToken(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	a := startSyncServer(t, bin, filepath.Join(dir, "a.db"))
	b := startSyncServer(t, bin, filepath.Join(dir, "b.db"))
	ctx := context.Background()
	tc := pb.NewTokenServiceClient(a.conn)
	admin, err := tc.CreateToken(ctx, &pb.CreateTokenRequest{TokenId: "root", Token: &pb.Token{Role: pb.Role_ROLE_ADMIN}})
	if err != nil {
		t.Fatal(err)
	}
	actx := metadata.AppendToOutgoingContext(ctx, "authorization", "bearer "+admin.GetSecret())
	for _, bank := range []string{"src", "other"} {
		if _, err := a.bank.CreateBank(actx, &pb.CreateBankRequest{BankId: bank}); err != nil {
			t.Fatal(err)
		}
	}
	hex := randomPDQ(rand.New(rand.NewPCG(9, 9)))
	if _, err := addHash(actx, a.bank, "banks/src", hex); err != nil {
		t.Fatal(err)
	}
	partner, err := tc.CreateToken(actx, &pb.CreateTokenRequest{TokenId: "for-b", Token: &pb.Token{Role: pb.Role_ROLE_PARTNER, Banks: []string{"banks/src"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.bank.CreateBank(ctx, &pb.CreateBankRequest{BankId: "mirror"}); err != nil {
		t.Fatal(err)
	}
	partners := filepath.Join(dir, "partners")
	key := filepath.Join(dir, "ngo")
	tokenFile := filepath.Join(dir, "token.txt")
	if err := os.WriteFile(tokenFile, []byte(partner.GetSecret()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sync := func(bank string, extra ...string) (int, string) {
		args := append([]string{"sync", "--once", "--from", a.proc.addr, "--bank", bank, "--into", "mirror", "--server", b.proc.addr, "--partners", partners}, extra...)
		code, _, stderr := runCLI(t, nil, nil, args...)
		return code, stderr
	}
	if code, stderr := sync("src"); code != exitFail || !strings.Contains(stderr, "Unauthenticated") {
		t.Errorf("sync without a token: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := runCLI(t, nil, nil, "keys", "partner-init", "--out", key); code != exitOK {
		t.Fatal(stderr)
	}
	if code, _, stderr := runCLI(t, nil, nil, "partner", "add", "ngo", "--key", key+".pub", "--token-file", tokenFile, "--partners", partners); code != exitOK {
		t.Fatalf("partner add: %s", stderr)
	}
	if fi, err := os.Stat(filepath.Join(partners, "ngo.token")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the stored token: %v, %v", fi, err)
	}
	if code, stderr := sync("other", "--partner", "ngo"); code != exitFail || !strings.Contains(stderr, "PermissionDenied") {
		t.Errorf("sync of a bank the token is not granted: exit %d\n%s", code, stderr)
	}
	if code, stderr := sync("src", "--partner", "ngo"); code != exitOK {
		t.Fatalf("sync with the partner's token: exit %d\n%s", code, stderr)
	}
	list, err := b.bank.ListEntries(ctx, &pb.ListEntriesRequest{Parent: "banks/mirror"})
	if err != nil || len(list.GetEntries()) != 1 {
		t.Fatalf("B after the sync: %v, %v", list, err)
	}
	if p := list.GetEntries()[0].GetProvenance(); p.GetPartner() != "ngo" || p.GetList() != a.proc.addr+"/banks/src" {
		t.Errorf("provenance %v", p)
	}
}

// BenchmarkSync syncs a bank of N PDQ hashes (imported into a real server
// process) into an empty bank of another with `mediamatch sync --once`,
// as a snapshot, then N/10 more added at the source as changes after the
// cursor, and reports each one's entries/s and the syncer's peak RSS.
//
//	go test -run '^$' -bench 'Sync' -benchtime 1x ./cmd/mediamatch/
func BenchmarkSync(b *testing.B) {
	bin := buildBinary(b)
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			first, more := filepath.Join(dir, "first.jsonl"), filepath.Join(dir, "more.jsonl")
			writeNativeList(b, first, n)
			writeNativeList(b, more, n/10)
			for i := range b.N {
				a := startServeArgs(b, bin, filepath.Join(dir, fmt.Sprintf("a-%d.db", i)), "--listen", "127.0.0.1:0")
				d := startServeArgs(b, bin, filepath.Join(dir, fmt.Sprintf("b-%d.db", i)), "--listen", "127.0.0.1:0")
				runClient(b, bin, a.addr, "bank", "create", "src")
				runClient(b, bin, d.addr, "bank", "create", "src")
				runClient(b, bin, a.addr, "import", "--bank", "src", "--format", "native", first)
				took, mb, _ := runClient(b, bin, d.addr, "sync", "--once", "--from", a.addr, "--bank", "src")
				b.ReportMetric(float64(n)/took.Seconds(), "snapshot-entries/s")
				b.ReportMetric(mb, "snapshot-client-peak-MB")
				runClient(b, bin, a.addr, "import", "--bank", "src", "--format", "native", more)
				took, mb, _ = runClient(b, bin, d.addr, "sync", "--once", "--from", a.addr, "--bank", "src")
				b.ReportMetric(float64(n/10)/took.Seconds(), "changes-entries/s")
				b.ReportMetric(mb, "changes-client-peak-MB")
				_, _, out := runClient(b, bin, d.addr, "bank", "get", "src")
				if !strings.Contains(out, fmt.Sprintf(`"entries":%d`, n+n/10)) {
					b.Fatalf("after the syncs: %s", out)
				}
				for _, p := range []*serverProcess{a, d} {
					p.cmd.Process.Kill()
					<-p.done
				}
			}
		})
	}
}
