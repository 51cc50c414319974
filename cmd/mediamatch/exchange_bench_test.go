package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/exchange"
	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/store"
)

// writeNativeList writes a native list of n PDQ-only image entries, the
// shape of a partner's hash list.
func writeNativeList(tb testing.TB, path string, n int) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	nw, err := exchange.NewNativeWriter(w, exchange.NativeHeader{Exporter: "bench", Bank: exchange.NativeBank{Name: "src"}, ToRevision: uint64(n + 1)})
	if err != nil {
		tb.Fatal(err)
	}
	r := rand.New(rand.NewPCG(uint64(n), 13))
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		h := make([]byte, 32)
		for j := 0; j < 32; j += 8 {
			v := r.Uint64()
			for k := range 8 {
				h[j+k] = byte(v >> (8 * k))
			}
		}
		e := &store.Entry{ID: uint64(i + 1), Bank: "src", Kind: store.KindImage, Hashes: []hashing.Hash{{Type: hashing.PDQ, Bytes: h, Quality: 100}},
			Created: at, Updated: at, CreatedBy: "curator", UpdatedBy: "curator", Revision: store.Revision(i + 2)}
		if err := nw.WriteEntry(e); err != nil {
			tb.Fatal(err)
		}
	}
	if err := nw.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

// procMB reads a memory figure (VmHWM, VmRSS) of a process, in MB.
func procMB(tb testing.TB, pid int, field string) float64 {
	tb.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				tb.Fatal(err)
			}
			return kb / 1024
		}
	}
	tb.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// procCPU reads the CPU time a process has used, user and system, in
// seconds (/proc/PID/stat counts it in USER_HZ, 100 a second on Linux).
func procCPU(tb testing.TB, pid int) float64 {
	tb.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// The fields after the command's name, which is in parentheses.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		tb.Fatalf("/proc/%d/stat: %q", pid, data)
	}
	return (utime + stime) / 100
}

// loadAverage reads the machine's load average over the last minute.
func loadAverage(tb testing.TB) float64 {
	tb.Helper()
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		tb.Fatal(err)
	}
	v, err := strconv.ParseFloat(strings.Fields(string(data))[0], 64)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// runClient runs the binary as a client process and returns its wall time
// and peak RSS in MB.
func runClient(tb testing.TB, bin, addr string, args ...string) (time.Duration, float64, string) {
	tb.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "MEDIAMATCH_SERVER="+addr)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	if err := cmd.Run(); err != nil {
		tb.Fatalf("%v: %v\n%s", args, err, errb.String())
	}
	took := time.Since(start)
	return took, float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024, out.String()
}

var exchangeBefore = flag.String("exchange-before", "", "another mediamatch binary whose import BenchmarkExchange runs beside this build's, alternating")

// importOnce imports a native list of n entries into a new bank of a fresh
// server of bin, and returns the hashes a second and the server's CPU
// microseconds a hash.
func importOnce(b *testing.B, bin, dir, list string, n int) (float64, float64) {
	db := filepath.Join(dir, fmt.Sprintf("before-%d.db", time.Now().UnixNano()))
	srv := startServeArgs(b, bin, db, "--listen", "127.0.0.1:0")
	defer func() {
		srv.cmd.Process.Kill()
		<-srv.done
		os.Remove(db)
	}()
	runClient(b, bin, srv.addr, "bank", "create", "in")
	cpu0 := procCPU(b, srv.cmd.Process.Pid)
	took, _, out := runClient(b, bin, srv.addr, "import", "--bank", "in", "--format", "native", list)
	cpu := procCPU(b, srv.cmd.Process.Pid) - cpu0
	if !strings.Contains(out, fmt.Sprintf(`"imported":%d,`, n)) {
		b.Fatalf("import with %s: %s", bin, out)
	}
	return float64(n) / took.Seconds(), cpu / float64(n) * 1e6
}

// BenchmarkExchange imports a native list of N PDQ hashes into an empty
// bank of a real server process through `mediamatch import`, then exports
// the bank with `mediamatch export --out`, and reports each one's
// hashes/s, the client's peak RSS, the server's peak RSS before the
// import (started, empty), after it and after the export, the server's
// CPU time per hash imported (which the load of other work on the machine
// changes less than the wall time), and the machine's load average when
// the import began. The server's
// resident memory after the import includes the index, which holds every
// hash in memory as any add does; what an import itself holds is the
// difference between its peak and that.
//
//	go test -run '^$' -bench 'Exchange' -benchtime 1x ./cmd/mediamatch/
//
// With -exchange-before BIN (another build of mediamatch), each run first
// imports the same list through BIN the same way, and reports its
// before-import-hashes/s and before-server-import-cpu-us/hash: the two
// builds alternate on one machine, so its load falls on both alike.
func BenchmarkExchange(b *testing.B) {
	bin := buildBinary(b)
	for _, n := range []int{250_000, 1_000_000} {
		b.Run(fmt.Sprintf("hashes=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			list := filepath.Join(dir, "list.jsonl")
			writeNativeList(b, list, n)
			for range b.N {
				if *exchangeBefore != "" {
					rate, cpu := importOnce(b, *exchangeBefore, dir, list, n)
					b.ReportMetric(rate, "before-import-hashes/s")
					b.ReportMetric(cpu, "before-server-import-cpu-us/hash")
				}
				db := filepath.Join(dir, fmt.Sprintf("bench-%d.db", time.Now().UnixNano()))
				srv := startServeArgs(b, bin, db, "--listen", "127.0.0.1:0")
				pid := srv.cmd.Process.Pid
				runClient(b, bin, srv.addr, "bank", "create", "in")
				started := procMB(b, pid, "VmHWM")
				load, cpu0 := loadAverage(b), procCPU(b, pid)
				took, clientMB, out := runClient(b, bin, srv.addr, "import", "--bank", "in", "--format", "native", list)
				cpu := procCPU(b, pid) - cpu0
				if !strings.Contains(out, fmt.Sprintf(`"imported":%d,`, n)) {
					b.Fatalf("import: %s", out)
				}
				b.ReportMetric(float64(n)/took.Seconds(), "import-hashes/s")
				b.ReportMetric(clientMB, "import-client-peak-MB")
				b.ReportMetric(cpu/float64(n)*1e6, "server-import-cpu-us/hash")
				b.ReportMetric(load, "load-1m")
				b.ReportMetric(started, "server-start-peak-MB")
				b.ReportMetric(procMB(b, pid, "VmHWM"), "server-import-peak-MB")
				b.ReportMetric(procMB(b, pid, "VmRSS"), "server-after-import-MB")

				took, clientMB, _ = runClient(b, bin, srv.addr, "export", "--bank", "in", "--format", "native", "--out", filepath.Join(dir, "out.jsonl"))
				b.ReportMetric(float64(n)/took.Seconds(), "export-hashes/s")
				b.ReportMetric(clientMB, "export-client-peak-MB")
				b.ReportMetric(procMB(b, pid, "VmHWM"), "server-export-peak-MB")
				srv.cmd.Process.Kill()
				<-srv.done
				os.Remove(db)
			}
		})
	}
}
