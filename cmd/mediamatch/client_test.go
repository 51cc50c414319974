package main

import (
	"strings"
	"testing"
)

// TestTokenNeedsTLSBeyondLoopback checks that a client command refuses to
// send a token without TLS to an address beyond loopback, naming the
// flags that fix it, and that --insecure (or MEDIAMATCH_INSECURE) lets it
// try; on loopback a token goes without TLS as before.
func TestTokenNeedsTLSBeyondLoopback(t *testing.T) {
	// 192.0.2.1 is TEST-NET-1, never routed: an attempt fails, refused or
	// past its deadline, but it is made.
	remote := map[string]string{"MEDIAMATCH_SERVER": "192.0.2.1:7000", "MEDIAMATCH_TOKEN": "mmt_secret", "MEDIAMATCH_TIMEOUT": "300ms"}
	code, _, stderr := runCLI(t, nil, remote, "bank", "list")
	if code != exitFail || !strings.Contains(stderr, "refusing to send the token without TLS to 192.0.2.1:7000") ||
		!strings.Contains(stderr, "--tls-ca") || !strings.Contains(stderr, "--insecure") {
		t.Errorf("a token to a remote address without TLS: exit %d %s", code, stderr)
	}
	for name, env := range map[string]map[string]string{
		"--insecure":          remote,
		"MEDIAMATCH_INSECURE": with2(remote, "MEDIAMATCH_INSECURE", "true"),
	} {
		args := []string{"bank", "list"}
		if name == "--insecure" {
			args = append(args, "--insecure")
		}
		code, _, stderr := runCLI(t, nil, env, args...)
		if code != exitFail || strings.Contains(stderr, "refusing") || !(strings.Contains(stderr, "DeadlineExceeded") || strings.Contains(stderr, "Unavailable") || strings.Contains(stderr, "192.0.2.1")) {
			t.Errorf("with %s: exit %d %s; want a connection attempt", name, code, stderr)
		}
	}
	// Without a token nothing secret is sent: no refusal.
	code, _, stderr = runCLI(t, nil, map[string]string{"MEDIAMATCH_SERVER": "192.0.2.1:7000", "MEDIAMATCH_TIMEOUT": "300ms"}, "bank", "list")
	if code != exitFail || strings.Contains(stderr, "refusing") {
		t.Errorf("no token to a remote address: exit %d %s", code, stderr)
	}
}

func with2(base map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for bk, bv := range base {
		out[bk] = bv
	}
	return out
}

// TestLoopback checks which --listen and --server addresses count as
// this machine's.
func TestLoopback(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:7000", true},
		{"127.9.8.7:7000", true},
		{"[::1]:7000", true},
		{"localhost:7000", true},
		{"LOCALHOST:7000", true},
		{"[::ffff:127.0.0.1]:7000", true},
		{"[::]:7000", false},
		{"0.0.0.0:7000", false},
		{":7000", false},
		{"192.0.2.1:7000", false},
		{"localhost.example.org:7000", false},
		{"[::ffff:192.0.2.1]:7000", false},
	} {
		got, err := isLoopback(tc.addr)
		if err != nil || got != tc.want {
			t.Errorf("isLoopback(%q) = %v, %v; want %v", tc.addr, got, err, tc.want)
		}
		if got := targetIsLoopback(tc.addr); got != tc.want {
			t.Errorf("targetIsLoopback(%q) = %v; want %v", tc.addr, got, tc.want)
		}
	}
	if _, err := isLoopback(""); err == nil {
		t.Error(`isLoopback("") did not fail`)
	}
	for _, tc := range []struct {
		target string
		want   bool
	}{
		{"", false},
		{"dns:///localhost:7000", true},
		{"dns:///example.org:7000", false},
		{"unix:///run/mediamatch.sock", true},
		{"::1", true},
		{"[::1]", true},
	} {
		if got := targetIsLoopback(tc.target); got != tc.want {
			t.Errorf("targetIsLoopback(%q) = %v; want %v", tc.target, got, tc.want)
		}
	}
}
