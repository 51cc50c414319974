package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/disintegration/imaging"
	"github.com/mediamatch/mediamatch/match"
)

// buildBinary builds the mediamatch command once per test binary run.
func buildBinary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mediamatch")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

// serverProcess is `mediamatch serve` running as its own process.
type serverProcess struct {
	cmd  *exec.Cmd
	addr string
	logs *lockedBuffer
	done chan error
}

// startServe runs `mediamatch serve` on a free loopback port and waits for
// it to log the address it serves on.
func startServe(t *testing.T, bin, db string) *serverProcess {
	t.Helper()
	return startServeArgs(t, bin, db, "--listen", "127.0.0.1:0")
}

// startServeArgs is startServe with other flags (a --listen among them).
func startServeArgs(t testing.TB, bin, db string, args ...string) *serverProcess {
	t.Helper()
	flags := []string{"serve", "--metrics-listen", "", "--shutdown-grace", "5s", "--audit-flush", "20ms"}
	if db != "" {
		flags = append(flags, "--db", db)
	}
	cmd := exec.Command(bin, append(flags, args...)...)
	cmd.Env = append(os.Environ(), "MEDIAMATCH_LOG_LEVEL=info")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{cmd: cmd, logs: &lockedBuffer{}, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.logs.Write([]byte(line + "\n"))
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "serving" {
				addr <- rec.Addr
			}
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case p.addr = <-addr:
	case err := <-p.done:
		t.Fatalf("serve exited early: %v\n%s", err, p.logs)
	case <-time.After(10 * time.Minute): // a replica of a large store builds its index first
		t.Fatalf("serve did not start:\n%s", p.logs)
	}
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *serverProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM:\n%s", err, p.logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not stop after SIGTERM:\n%s", p.logs)
	}
	for _, want := range []string{`"msg":"shutting down"`, `"msg":"store closed"`} {
		if !strings.Contains(p.logs.String(), want) {
			t.Errorf("shutdown logs lack %s:\n%s", want, p.logs)
		}
	}
}

// TestServeAndClientCommands follows the README: serve, bank create, add,
// match, get, remove; then a restart keeps the state.
func TestServeAndClientCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "mediamatch.db")
	srv := startServe(t, bin, db)
	environ := map[string]string{"MEDIAMATCH_SERVER": srv.addr}

	code, out, stderr := runCLI(t, nil, environ, "bank", "create", "tvec", "--description", "known propaganda")
	if code != exitOK || !strings.Contains(out, `"name":"tvec"`) {
		t.Fatalf("bank create: exit %d %s %s", code, out, stderr)
	}
	if code, _, stderr := runCLI(t, nil, environ, "bank", "create", "tvec"); code != exitFail || !strings.Contains(stderr, "AlreadyExists") {
		t.Errorf("duplicate bank create: exit %d, %s", code, stderr)
	}

	poster := filepath.Join(exactDir, "bridge-mods-aaa-orig.png")
	code, out, _ = runCLI(t, nil, environ, "add", "--bank", "tvec", "--label", "group=example", poster)
	var added addLine
	if err := json.Unmarshal([]byte(out), &added); err != nil || code != exitOK || added.Entry == "" || added.Bank != "tvec" || added.File != poster {
		t.Fatalf("add: exit %d %q (%v)", code, out, err)
	}

	// An edited copy matches; an unrelated image and a broken file do not,
	// and the broken one does not stop the others.
	edited := filepath.Join(dir, "edited.jpg")
	img, err := imaging.Open(poster)
	if err != nil {
		t.Fatal(err)
	}
	if err := imaging.Save(imaging.FlipH(imaging.Resize(img, 300, 0, imaging.Lanczos)), edited, imaging.JPEGQuality(60)); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken.png")
	os.WriteFile(broken, []byte("not really a png"), 0o644)
	unrelated := filepath.Join(exactDir, "synth-plasma.png")
	code, out, _ = runCLI(t, nil, environ, "match", edited, broken, unrelated)
	if code != exitFail {
		t.Errorf("match with a broken file: exit %d", code)
	}
	var lines []matchLine
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m matchLine
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("match output %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 3 {
		t.Fatalf("match printed %d lines:\n%s", len(lines), out)
	}
	found := false
	for _, m := range lines[0].Matches {
		if m.Entry != added.Entry || m.Tier != "match" || !(m.Score > 0 && m.Score <= match.DefaultBudget) || m.Labels["group"] != "example" {
			continue
		}
		for _, ev := range m.Evidence {
			if ev.Method == "pdq" && ev.Type == "pdq" && ev.Distance <= 31 && ev.Dihedral == "flip_y" && ev.Probability > 0 {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("edited copy: %+v", lines[0])
	}
	// --types chooses the evidence: pdq alone finds the edited copy by pdq
	// and by nothing else; an unknown name is refused by the server.
	tcode, tout, _ := runCLI(t, nil, environ, "match", "--types", "pdq", edited)
	var pdqOnly matchLine
	if err := json.Unmarshal([]byte(tout), &pdqOnly); err != nil || tcode != exitOK || len(pdqOnly.Matches) != 1 {
		t.Fatalf("match --types pdq: exit %d %q (%v)", tcode, tout, err)
	}
	for _, ev := range pdqOnly.Matches[0].Evidence {
		if ev.Type != "pdq" {
			t.Errorf("match --types pdq: evidence %+v", ev)
		}
	}
	if tcode, tout, _ = runCLI(t, nil, environ, "match", "--types", "pdq,nope", edited); tcode != exitFail || !strings.Contains(tout, "nope") {
		t.Errorf("match --types pdq,nope: exit %d %s", tcode, tout)
	}
	if lines[1].Error == "" || !strings.Contains(lines[1].Error, "InvalidArgument") {
		t.Errorf("broken file: %+v", lines[1])
	}
	if lines[2].Error != "" || lines[2].Matches == nil || len(lines[2].Matches) != 0 {
		t.Errorf("unrelated file: %+v", lines[2])
	}
	if !strings.Contains(out, `"matches":[]`) {
		t.Errorf("no-match line lacks \"matches\":[]: %s", out)
	}

	// Restart the server process: the state is intact.
	srv.stop(t)
	srv = startServe(t, bin, db)
	environ["MEDIAMATCH_SERVER"] = srv.addr
	code, out, _ = runCLI(t, nil, environ, "get", added.Entry)
	if code != exitOK || !strings.Contains(out, `"name":"banks/tvec/entries/`+added.Entry+`"`) || !strings.Contains(out, "group") {
		t.Fatalf("get after restart: exit %d %s", code, out)
	}
	code, out, _ = runCLI(t, nil, environ, "bank", "list")
	if code != exitOK || !strings.Contains(out, `"entries":1`) {
		t.Errorf("bank list: exit %d %s", code, out)
	}
	if code, _, _ := runCLI(t, nil, environ, "remove", added.Entry); code != exitOK {
		t.Fatalf("remove: exit %d", code)
	}
	code, out, _ = runCLI(t, nil, environ, "match", poster)
	if code != exitOK || !strings.Contains(out, `"matches":[]`) {
		t.Errorf("match after remove: exit %d %s", code, out)
	}
	code, out, _ = runCLI(t, nil, environ, "get", added.Entry)
	if code != exitFail || !strings.Contains(out, "NotFound") {
		t.Errorf("get removed: exit %d %s", code, out)
	}
	srv.stop(t)
}

// TestServeRefusesOpenListen checks the safety default: no listening
// beyond loopback without TLS and tokens unless told --insecure, with a
// message that names the flags that fix it; and --insecure starts.
func TestServeRefusesOpenListen(t *testing.T) {
	db := filepath.Join(t.TempDir(), "x.db")
	code, _, stderr := runCLI(t, nil, nil, "serve", "--db", db, "--listen", "0.0.0.0:0")
	for _, want := range []string{"refusing to listen on 0.0.0.0:0", "without TLS and tokens", "--tls-cert FILE and --tls-key FILE", "mediamatch token create --db " + db + " --name admin --role admin", "--insecure"} {
		if code != exitUsage || !strings.Contains(stderr, want) {
			t.Errorf("exit %d, stderr %q: want %q", code, stderr, want)
		}
	}
	// With a token, only TLS is missing.
	if code, _, stderr := runCLI(t, nil, nil, "token", "create", "--db", db, "--name", "root", "--role", "admin"); code != exitOK {
		t.Fatalf("token create --db: exit %d %s", code, stderr)
	}
	code, _, stderr = runCLI(t, nil, nil, "serve", "--db", db, "--listen", "0.0.0.0:0")
	if code != exitUsage || !strings.Contains(stderr, "without TLS:") || strings.Contains(stderr, "token create") {
		t.Errorf("with a token: exit %d, stderr %q", code, stderr)
	}
	if testing.Short() {
		return
	}
	bin := buildBinary(t)
	srv := startServeArgs(t, bin, db, "--listen", "0.0.0.0:0", "--insecure")
	srv.stop(t)
}

// TestMetricsListenError checks that a metrics port that cannot be bound
// names the flag that moves it.
func TestMetricsListenError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	code, _, stderr := runCLI(t, nil, nil, "serve", "--db", filepath.Join(t.TempDir(), "m.db"), "--listen", "127.0.0.1:0", "--metrics-listen", l.Addr().String())
	if code != exitFail || !strings.Contains(stderr, "--metrics-listen") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// TestPprof checks that --pprof serves profiles beside the metrics, and
// only there when that listener is on loopback.
func TestPprof(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if code, _, stderr := runCLI(t, nil, nil, "serve", "--db", filepath.Join(t.TempDir(), "m.db"), "--pprof", "--metrics-listen", "0.0.0.0:0"); code != exitUsage || !strings.Contains(stderr, "loopback") {
		t.Errorf("--pprof beyond loopback: exit %d, %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, nil, nil, "serve", "--db", filepath.Join(t.TempDir(), "m.db"), "--pprof", "--metrics-listen", ""); code != exitUsage {
		t.Errorf("--pprof without metrics: exit %d, %s", code, stderr)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	bin := buildBinary(t)
	for _, on := range []bool{false, true} {
		args := []string{"--listen", "127.0.0.1:0", "--metrics-listen", addr}
		if on {
			args = append(args, "--pprof")
		}
		srv := startServeArgs(t, bin, filepath.Join(t.TempDir(), "m.db"), args...)
		resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := resp.StatusCode == http.StatusOK && strings.Contains(string(body), "goroutine profile"); got != on {
			t.Errorf("--pprof %v: %s %.80q", on, resp.Status, body)
		}
		srv.stop(t)
	}
}
