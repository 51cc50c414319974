package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/store/etcd"
)

// etcdCluster is a cluster of etcd members embedded in the test process,
// on loopback.
type etcdCluster struct {
	members []*embed.Etcd
	clients []string // HOST:PORT of each member's client listener
}

// loopbackPort returns a loopback port free when asked.
func loopbackPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startEtcdCluster starts n members and waits until they serve. Members
// skip fsync: the test is about replicas and members failing, not disks.
func startEtcdCluster(t testing.TB, n int) *etcdCluster {
	t.Helper()
	c := &etcdCluster{}
	var peers []string
	cfgs := make([]*embed.Config, n)
	for i := range n {
		cfg := embed.NewConfig()
		cfg.Name = fmt.Sprintf("m%d", i)
		cfg.Dir = filepath.Join(t.TempDir(), cfg.Name)
		cu := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", loopbackPort(t))}
		pu := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", loopbackPort(t))}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
		cfg.TickMs, cfg.ElectionMs = 20, 200
		cfg.UnsafeNoFsync = true
		cfg.LogLevel = "error"
		cfg.LogOutputs = []string{"stderr"}
		peers = append(peers, cfg.Name+"="+pu.String())
		c.clients = append(c.clients, cu.Host)
		cfgs[i] = cfg
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	c.members = make([]*embed.Etcd, n)
	for i, cfg := range cfgs {
		cfg.InitialCluster = strings.Join(peers, ",")
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := embed.StartEtcd(cfg)
			if err != nil {
				errs[i] = err
				return
			}
			c.members[i] = e
			select {
			case <-e.Server.ReadyNotify():
			case <-time.After(60 * time.Second):
				errs[i] = fmt.Errorf("member %s not ready after 60 s", cfg.Name)
			}
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, e := range c.members {
			if e != nil {
				e.Close()
			}
		}
	})
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// url is the --store flag naming every member.
func (c *etcdCluster) url() string { return "etcd://" + strings.Join(c.clients, ",") }

// replica is `mediamatch serve --store etcd://...` as a process of its
// own, with clients.
type replica struct {
	*syncServer
	health healthpb.HealthClient
}

func startReplica(t testing.TB, bin string, c *etcdCluster) *replica {
	t.Helper()
	s := startSyncServer(t, bin, "", "--store", c.url(), "--etcd-prefix", "cluster/")
	return &replica{syncServer: s, health: healthpb.NewHealthClient(s.conn)}
}

// waitServing waits until the replica reports SERVING on gRPC health.
func (r *replica) waitServing(t testing.TB) {
	t.Helper()
	r.waitServingWithin(t, time.Minute)
}

func (r *replica) waitServingWithin(t testing.TB, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		resp, err := r.health.Check(context.Background(), &healthpb.HealthCheckRequest{})
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s not SERVING after %v (%v, %v):\n%s", r.proc.addr, d, resp.GetStatus(), err, r.proc.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// answers describes each probe's match on a replica.
func (r *replica) answers(t *testing.T, probes []string) []string {
	t.Helper()
	out := make([]string, len(probes))
	for i, hex := range probes {
		out[i] = matchLabels(t, r.syncServer, "shared", hex)
	}
	return out
}

// converge waits until every replica gives the same answers as the first
// and each answer shows the labels wanted of it, or fails.
func converge(t *testing.T, rs []*replica, probes []string, want []string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var diff string
		for _, r := range rs {
			got := r.answers(t, probes)
			for i := range probes {
				if !strings.Contains(got[i], want[i]) {
					diff = fmt.Sprintf("replica %s answers probe %d with %q, want %q among it", r.proc.addr, i, got[i], want[i])
					break
				}
			}
			if diff != "" {
				break
			}
		}
		if diff == "" {
			first := rs[0].answers(t, probes)
			for _, r := range rs[1:] {
				if got := r.answers(t, probes); strings.Join(got, "|") != strings.Join(first, "|") {
					diff = fmt.Sprintf("replica %s answers %v, replica %s %v", r.proc.addr, got, rs[0].proc.addr, first)
				}
			}
		}
		if diff == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(diff)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// writeThrough adds n hashes through each replica at once, each with a
// label naming the replica and its number, and returns them with the
// label each must answer with.
func writeThrough(t *testing.T, rs []*replica, n int, seed uint64, round string) (probes, want []string) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, len(rs))
	for i, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(seed, uint64(i)))
			for k := range n {
				hex := randomPDQ(rnd)
				label := fmt.Sprintf("%s-%d-%d", round, i, k)
				_, err := r.bank.CreateEntry(context.Background(), &pb.CreateEntryRequest{Parent: "banks/shared", Entry: &pb.Entry{
					Labels: map[string]string{"item": label},
					Media:  &pb.MediaHashes{Hashes: []*pb.Hash{{Type: "pdq", Hex: hex, Quality: ptr(int32(90))}}}}})
				if err != nil {
					errs <- fmt.Errorf("adding through replica %d: %w", i, err)
					return
				}
				mu.Lock()
				probes, want = append(probes, hex), append(want, "item:"+label+"]")
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return probes, want
}

func ptr[T any](v T) *T { return &v }

// TestClusterReplicas: three etcd members and three replicas on loopback
// (issue 16, acceptance 2). Writes through different replicas at once
// converge to the same answers on all three; a replica killed and
// restarted catches up; with one etcd member killed the service goes on;
// a replica stopped while the store's history is compacted rebuilds from
// a snapshot and ends consistent.
func TestClusterReplicas(t *testing.T) {
	bin := buildBinary(t)
	c := startEtcdCluster(t, 3)
	rs := []*replica{startReplica(t, bin, c), startReplica(t, bin, c), startReplica(t, bin, c)}
	for _, r := range rs {
		r.waitServing(t)
	}
	if _, err := rs[0].bank.CreateBank(context.Background(), &pb.CreateBankRequest{BankId: "shared"}); err != nil {
		t.Fatal(err)
	}

	// Concurrent writes through every replica.
	probes, want := writeThrough(t, rs, 20, 1, "a")
	converge(t, rs, probes, want)

	// A replica killed (SIGKILL) while writes go on, then restarted: it
	// builds from a snapshot, catches up, and reports SERVING.
	rs[2].proc.cmd.Process.Kill()
	<-rs[2].proc.done
	p, w := writeThrough(t, rs[:2], 15, 2, "b")
	probes, want = append(probes, p...), append(want, w...)
	rs[2] = startReplica(t, bin, c)
	rs[2].waitServing(t)
	converge(t, rs, probes, want)

	// One etcd member killed: every replica goes on taking writes and
	// answering matches.
	c.members[1].Close()
	c.members[1] = nil
	p, w = writeThrough(t, rs, 10, 3, "c")
	probes, want = append(probes, p...), append(want, w...)
	converge(t, rs, probes, want)

	// A lagging replica (stopped) misses writes that the store's history
	// compaction then discards: once it runs again its feed is gone, and
	// it rebuilds from a snapshot.
	if err := rs[1].proc.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	p, w = writeThrough(t, []*replica{rs[0], rs[2]}, 15, 4, "d")
	probes, want = append(probes, p...), append(want, w...)
	compactStore(t, c)
	if err := rs[1].proc.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	converge(t, rs, probes, want)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(rs[1].proc.logs.String(), "rebuilding from a snapshot") {
		if time.Now().After(deadline) {
			t.Fatalf("the lagging replica did not rebuild from a snapshot:\n%s", rs[1].proc.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// compactStore compacts the replicas' store up to its current revision,
// etcd's history with it, as an operator's compaction would.
func compactStore(t *testing.T, c *etcdCluster) {
	t.Helper()
	var eps []string
	for i, e := range c.members {
		if e != nil {
			eps = append(eps, "http://"+c.clients[i])
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := etcd.Open(ctx, etcd.Options{Endpoints: eps, Prefix: "cluster/"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	revs, err := st.Revisions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Compact(ctx, revs.Current); err != nil {
		t.Fatal(err)
	}
	t.Logf("compacted the store through revision %d", revs.Current)
}

// TestClusterScript: scripts/cluster up starts three etcd members
// (Debian's etcd-server) and three replicas; an add through one replica
// matches on another; down stops them all.
func TestClusterScript(t *testing.T) {
	if _, err := exec.LookPath("etcd"); err != nil {
		t.Fatal("scripts/cluster needs etcd: run 'apt-get install -y etcd-server' as root (scripts/test does, as root)")
	}
	dir := t.TempDir()
	base := clusterBase(t)
	run := func(args ...string) ([]byte, error) {
		cmd := exec.Command("../../scripts/cluster", args...)
		cmd.Env = append(os.Environ(), "CLUSTER_DIR="+dir, fmt.Sprintf("CLUSTER_PORT=%d", base))
		return cmd.CombinedOutput()
	}
	script := func(args ...string) string {
		out, err := run(args...)
		if err != nil {
			t.Fatalf("scripts/cluster %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	t.Cleanup(func() { run("down") })
	out, err := run("up")
	if err != nil && strings.Contains(string(out), "address already in use") {
		// Another process took one of the ports between the probe and
		// the bind; a second set of ports, once.
		t.Logf("scripts/cluster up on ports from %d collided, trying again:\n%s", base, out)
		run("down", "--purge")
		base = clusterBase(t)
		out, err = run("up")
	}
	if err != nil {
		t.Fatalf("scripts/cluster up: %v\n%s", err, out)
	}
	dial := func(i int) *syncServer {
		addr := fmt.Sprintf("127.0.0.1:%d", base+20+i)
		if !strings.Contains(string(out), addr) {
			t.Fatalf("up did not print replica %s:\n%s", addr, out)
		}
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return &syncServer{conn: conn, bank: pb.NewBankServiceClient(conn), mc: pb.NewMatchServiceClient(conn)}
	}
	a, b := dial(1), dial(3)
	ctx := context.Background()
	if _, err := a.bank.CreateBank(ctx, &pb.CreateBankRequest{BankId: "shared"}); err != nil {
		t.Fatal(err)
	}
	hex := randomPDQ(rand.New(rand.NewPCG(1, 1)))
	if _, err := a.bank.CreateEntry(ctx, &pb.CreateEntryRequest{Parent: "banks/shared", Entry: &pb.Entry{
		Labels: map[string]string{"item": "one"},
		Media:  &pb.MediaHashes{Hashes: []*pb.Hash{{Type: "pdq", Hex: hex, Quality: ptr(int32(90))}}}}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(matchLabels(t, b, "shared", hex), "item:one]") {
		if time.Now().After(deadline) {
			t.Fatal("replica 3 did not match the add through replica 1 within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := script("status"); strings.Count(st, ": running") != 6 {
		t.Errorf("status:\n%s", st)
	}
	script("down", "--purge")
	if _, err := os.Stat(dir + "/m1"); !os.IsNotExist(err) {
		t.Errorf("down --purge left the members' data: %v", err)
	}
}

// clusterBase returns a first port for scripts/cluster whose 34 ports
// (base+1 to base+33) are all free now. It is below 32768, where Linux
// hands out ephemeral ports by default, so the test's own clients and the
// other test packages' servers on port 0 do not take one of them.
func clusterBase(t *testing.T) int {
	t.Helper()
	for range 50 {
		base := 10000 + rand.IntN(220)*100
		free := true
		for p := base + 1; p <= base+33 && free; p++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				free = false
				continue
			}
			l.Close()
		}
		if free {
			return base
		}
	}
	t.Fatal("no free run of 34 loopback ports below 32768 in 50 tries")
	return 0
}

// TestClusterRetention: a replica on etcd with --log-retention compacts
// the store's change log to the newest records, and goes on matching
// what the compacted records added.
func TestClusterRetention(t *testing.T) {
	bin := buildBinary(t)
	c := startEtcdCluster(t, 1)
	s := startSyncServer(t, bin, "", "--store", c.url(), "--etcd-prefix", "cluster/", "--log-retention", "5", "--compact-interval", "50ms")
	r := &replica{syncServer: s, health: healthpb.NewHealthClient(s.conn)}
	r.waitServing(t)
	if _, err := r.bank.CreateBank(context.Background(), &pb.CreateBankRequest{BankId: "shared"}); err != nil {
		t.Fatal(err)
	}
	probes, want := writeThrough(t, []*replica{r}, 20, 5, "r")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := etcd.Open(ctx, etcd.Options{Endpoints: []string{"http://" + c.clients[0]}, Prefix: "cluster/"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for {
		revs, err := st.Revisions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if revs.Current == 21 && revs.Compacted == 16 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("revisions %+v: want current 21 compacted through 16 (5 kept)", revs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	converge(t, []*replica{r}, probes, want)
}

// TestEtcdTLSAuth: a store on an etcd member that serves TLS, requires
// client certificates and has authentication on, reached with --etcd-ca,
// --etcd-cert, --etcd-key and --etcd-user (the password from the
// environment): token create works on it directly and a replica serves;
// without the password, with a wrong one, or without the CA, the command
// fails saying why.
func TestEtcdTLSAuth(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	ca := newPKI(t, dir, "ca")
	srvCert, srvKey := ca.issue(t, "etcd", "etcd.test", true)
	cliCert, cliKey := ca.issue(t, "client", "mediamatch", false)
	caFile := filepath.Join(dir, "ca.pem")

	cfg := embed.NewConfig()
	cfg.Name, cfg.Dir = "tls", filepath.Join(dir, "member")
	cu := url.URL{Scheme: "https", Host: fmt.Sprintf("127.0.0.1:%d", loopbackPort(t))}
	pu := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", loopbackPort(t))}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ClientTLSInfo = transport.TLSInfo{CertFile: srvCert, KeyFile: srvKey, TrustedCAFile: caFile, ClientCertAuth: true}
	cfg.UnsafeNoFsync, cfg.LogLevel, cfg.LogOutputs = true, "error", []string{"stderr"}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		t.Fatal("etcd not ready")
	}

	// Authentication on: root, and a user with read and write on the
	// store's prefix only.
	tlsCfg, err := (&storeFlags{ca: &caFile, cert: &cliCert, key: &cliKey}).etcdTLS()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := clientv3.New(clientv3.Config{Endpoints: []string{cu.String()}, TLS: tlsCfg, DialTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, step := range []func() error{
		func() error { _, err := admin.UserAdd(ctx, "root", "root-secret"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := admin.RoleAdd(ctx, "mm"); return err },
		func() error {
			_, err := admin.RoleGrantPermission(ctx, "mm", "cluster/", clientv3.GetPrefixRangeEnd("cluster/"), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := admin.UserAdd(ctx, "mm", "mm-secret"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "mm", "mm"); return err },
		func() error { _, err := admin.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}

	storeArgs := []string{"--store", "etcd://" + cu.Host, "--etcd-prefix", "cluster/", "--etcd-ca", caFile, "--etcd-cert", cliCert, "--etcd-key", cliKey, "--etcd-user", "mm"}
	token := func(password string, extra ...string) (int, string) {
		env := map[string]string{}
		if password != "" {
			env[etcdPasswordEnv] = password
		}
		code, out, stderr := runCLI(t, nil, env, append(append([]string{"token", "create", "--name", "admin", "--role", "admin"}, storeArgs...), extra...)...)
		return code, out + stderr
	}
	if code, out := token(""); code == exitOK || !strings.Contains(out, etcdPasswordEnv) {
		t.Errorf("without the password: exit %d, %s", code, out)
	}
	if code, out := token("wrong"); code == exitOK || !strings.Contains(out, "authentication failed") {
		t.Errorf("with a wrong password: exit %d, %s", code, out)
	}
	if code, out := token("mm-secret"); code != exitOK || !strings.Contains(out, `"token"`) {
		t.Fatalf("token create on etcd: exit %d, %s", code, out)
	}
	// The CA left out: the client cannot verify the member.
	noCA := []string{"--store", "etcd://" + cu.Host, "--etcd-prefix", "cluster/", "--etcd-user", "mm"}
	if code, out, stderr := runCLI(t, nil, map[string]string{etcdPasswordEnv: "mm-secret"}, append([]string{"token", "list"}, noCA...)...); code == exitOK {
		t.Errorf("without --etcd-ca: exit 0, %s", out)
	} else if !strings.Contains(stderr, "etcd") {
		t.Errorf("without --etcd-ca the error does not name etcd: %s", stderr)
	}

	// A replica on it (its password from its environment): serving, and
	// the token created above is in the store it serves.
	t.Setenv(etcdPasswordEnv, "mm-secret")
	s := startSyncServer(t, bin, "", storeArgs...)
	(&replica{syncServer: s, health: healthpb.NewHealthClient(s.conn)}).waitServing(t)
	code, out, stderr := runCLI(t, nil, map[string]string{etcdPasswordEnv: "mm-secret"}, append([]string{"token", "list"}, storeArgs...)...)
	if code != exitOK || !strings.Contains(out, `"name":"admin"`) {
		t.Errorf("token list on etcd: exit %d, %s %s", code, out, stderr)
	}
}
