package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLoadtest runs loadtest briefly against a real server process: every
// kind of call is made, none fails, the seeded items are found, the
// server's figures are read, and the bank it made is gone afterwards.
func TestLoadtest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metrics := l.Addr().String()
	l.Close()
	srv := startServeArgs(t, bin, filepath.Join(t.TempDir(), "mediamatch.db"), "--listen", "127.0.0.1:0", "--metrics-listen", metrics)
	environ := map[string]string{"MEDIAMATCH_SERVER": srv.addr}

	code, out, stderr := runCLI(t, nil, environ, "loadtest", "--json", "--connections", "6", "--adders", "2", "--duration", "2s",
		"--warmup", "500ms", "--baseline", "--media-share", "0.2", "--seed-hashes", "200", "--seed-images", "4",
		"--metrics", "http://"+metrics+"/metrics")
	if code != exitOK {
		t.Fatalf("loadtest: exit %d\n%s\n%s", code, out, stderr)
	}
	var rep loadReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("loadtest printed %q: %v", out, err)
	}
	got := map[string]callStats{}
	for _, c := range rep.Calls {
		got[c.Phase+" "+c.Call] = c
	}
	for _, want := range []string{"matches match_hash", "matches match_image", "mixed match_hash", "mixed match_image", "mixed add"} {
		c, ok := got[want]
		if !ok || c.Calls == 0 || c.P50 <= 0 || c.P50 > c.P99 || c.P99 > c.Max {
			t.Errorf("%s: %+v", want, c)
		}
		if c.Known != c.Matched {
			t.Errorf("%s: %d of %d seeded items found", want, c.Matched, c.Known)
		}
	}
	if _, ok := got["matches add"]; ok {
		t.Error("the baseline phase added entries")
	}
	if rep.Errors != 0 || rep.P99Ratio <= 0 {
		t.Errorf("errors %d, p99 ratio %v", rep.Errors, rep.P99Ratio)
	}
	if rep.Before.Goroutines == 0 || rep.Peak.Goroutines <= rep.Before.Goroutines || rep.After.RSSBytes == 0 || rep.After.GCCycles <= rep.Before.GCCycles {
		t.Errorf("server figures: before %+v, peak %+v, after %+v", rep.Before, rep.Peak, rep.After)
	}
	if code, out, _ := runCLI(t, nil, environ, "bank", "list"); code != exitOK || strings.Contains(out, "loadtest-") {
		t.Errorf("the loadtest bank is still there: %s", out)
	}

	// The text report.
	code, out, _ = runCLI(t, nil, environ, "loadtest", "--connections", "2", "--adders", "1", "--duration", "300ms", "--warmup", "0s",
		"--seed-hashes", "10", "--seed-images", "1", "--metrics", "")
	if code != exitOK || !strings.Contains(out, "mixed") || !strings.Contains(out, "errors: 0") {
		t.Errorf("loadtest text report: exit %d\n%s", code, out)
	}
}

// TestFlipBits checks that flipBits flips exactly the bits it is asked to.
func TestFlipBits(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for n := range 12 {
		a := randomPDQ(r)
		b := flipBits(a, n, r)
		d := 0
		for i := 0; i < 64; i += 16 {
			var x, y uint64
			fmt.Sscanf(a[i:i+16], "%x", &x)
			fmt.Sscanf(b[i:i+16], "%x", &y)
			for z := x ^ y; z != 0; z &= z - 1 {
				d++
			}
		}
		if d != n {
			t.Errorf("flipBits(%d) flipped %d bits", n, d)
		}
	}
}

// TestSummarize checks the percentiles: the smallest sample with at least
// that share of them at or below it.
func TestSummarize(t *testing.T) {
	var s []sample
	for i := range 1000 {
		s = append(s, sample{d: time.Duration(i+1) * time.Millisecond})
	}
	c := summarize("p", "c", s, time.Second)
	if c.P50 != 500 || c.P99 != 990 || c.P999 != 999 || c.Max != 1000 || c.PerSecond != 1000 {
		t.Errorf("%+v", c)
	}
}
