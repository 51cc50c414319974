package main

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCurationCommands runs the curation commands against a real server
// process: bank update and update change only what they are given, list
// prints the bank's entries, log the changes with who and when, and after
// the server stops, check finds the file sound.
func TestCurationCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	db := filepath.Join(t.TempDir(), "mediamatch.db")
	srv := startServe(t, bin, db)
	environ := map[string]string{"MEDIAMATCH_SERVER": srv.addr}
	cli := func(args ...string) (int, string, string) {
		t.Helper()
		return runCLI(t, nil, environ, args...)
	}
	if code, _, stderr := cli("bank", "create", "tvec", "--description", "known", "--label", "team=a", "--threshold", "pdq=20"); code != exitOK {
		t.Fatalf("bank create: %s", stderr)
	}
	code, out, _ := cli("add", "--bank", "tvec", "--label", "group=x", filepath.Join(exactDir, "bridge-mods-aaa-orig.png"))
	var added addLine
	if json.Unmarshal([]byte(out), &added) != nil || code != exitOK {
		t.Fatalf("add: %s", out)
	}

	// bank update: only what is given changes.
	code, out, stderr := cli("bank", "update", "tvec", "--label", "severity=high", "--threshold", "phash=8")
	var b bankJSON
	if code != exitOK || json.Unmarshal([]byte(out), &b) != nil {
		t.Fatalf("bank update: exit %d %s %s", code, out, stderr)
	}
	if b.Description != "known" || b.Labels["team"] != "a" || b.Labels["severity"] != "high" || b.Thresholds["pdq"] != 20 || b.Thresholds["phash"] != 8 || !b.Enabled {
		t.Errorf("after bank update: %+v", b)
	}
	code, out, _ = cli("bank", "update", "tvec", "--enabled=false", "--remove-label", "team", "--remove-threshold", "pdq")
	b = bankJSON{}
	if code != exitOK || json.Unmarshal([]byte(out), &b) != nil || b.Enabled || b.Labels["team"] != "" || b.Thresholds["pdq"] != 0 || b.Description != "known" {
		t.Errorf("second bank update: %s", out)
	}
	// The bank's false-match budget: set, kept by other updates, cleared,
	// and refused outside (0, 1].
	code, out, _ = cli("bank", "update", "tvec", "--budget", "1e-4")
	b = bankJSON{}
	if code != exitOK || json.Unmarshal([]byte(out), &b) != nil || b.Budget == nil || *b.Budget != 1e-4 {
		t.Errorf("bank update --budget: %s", out)
	}
	code, out, _ = cli("bank", "update", "tvec", "--description", "known again")
	b = bankJSON{}
	if code != exitOK || json.Unmarshal([]byte(out), &b) != nil || b.Budget == nil || *b.Budget != 1e-4 {
		t.Errorf("the budget after another update: %s", out)
	}
	code, out, _ = cli("bank", "update", "tvec", "--budget", "0")
	b = bankJSON{}
	if code != exitOK || json.Unmarshal([]byte(out), &b) != nil || b.Budget != nil {
		t.Errorf("bank update --budget 0: %s", out)
	}
	if code, _, stderr := cli("bank", "update", "tvec", "--budget", "2"); code != exitFail || !strings.Contains(stderr, "InvalidArgument") || !strings.Contains(stderr, "budget") {
		t.Errorf("budget 2: exit %d %s", code, stderr)
	}
	if code, _, stderr := cli("bank", "update", "tvec"); code != exitUsage || !strings.Contains(stderr, "nothing to change") {
		t.Errorf("bank update without flags: exit %d %s", code, stderr)
	}
	if code, _, stderr := cli("bank", "update", "tvec", "--label", "k=v", "--remove-label", "k"); code != exitUsage || !strings.Contains(stderr, "both name") {
		t.Errorf("a label set and removed: exit %d %s", code, stderr)
	}
	if code, _, stderr := cli("bank", "update", "nope", "--description", "x"); code != exitFail || !strings.Contains(stderr, "NotFound") {
		t.Errorf("updating an unknown bank: exit %d %s", code, stderr)
	}

	// update: labels and note of one entry.
	code, out, stderr = cli("update", added.Entry, "--label", "status=confirmed", "--note", "seen twice")
	if code != exitOK || !strings.Contains(out, `"status":"confirmed"`) || !strings.Contains(out, `"group":"x"`) || !strings.Contains(out, `"note":"seen twice"`) {
		t.Errorf("update: exit %d %s %s", code, out, stderr)
	}
	if code, _, stderr := cli("update", "999999", "--note", "x"); code != exitFail || !strings.Contains(stderr, "NotFound") {
		t.Errorf("updating an unknown entry: exit %d %s", code, stderr)
	}

	// list: the entry, basic unless --full.
	code, out, _ = cli("list", "--bank", "tvec")
	if code != exitOK || strings.Count(out, "\n") != 1 || !strings.Contains(out, `"name":"banks/tvec/entries/`+added.Entry+`"`) || strings.Contains(out, "keypoints") {
		t.Errorf("list: exit %d %s", code, out)
	}
	if code, out, _ = cli("list", "--full"); code != exitOK || !strings.Contains(out, "keypoints") {
		t.Errorf("list --full: exit %d", code)
	}

	// log: every change, in order, with actor and time; --since and --bank.
	code, out, _ = cli("log")
	var kinds []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var c changeJSON
		if json.Unmarshal([]byte(l), &c) != nil || c.Actor == "" || c.Time == "" || c.Bank != "tvec" {
			t.Fatalf("log line %q", l)
		}
		kinds = append(kinds, c.Kind)
	}
	if want := []string{"bank_created", "entry_created", "bank_updated", "bank_updated", "bank_updated", "bank_updated", "bank_updated", "entry_updated"}; code != exitOK || !slices.Equal(kinds, want) {
		t.Errorf("log kinds %v, want %v", kinds, want)
	}
	if code, out, _ = cli("log", "--since", "7"); code != exitOK || strings.Count(out, "\n") != 1 || !strings.Contains(out, `"fields":["labels.status","note"]`) {
		t.Errorf("log --since 7: %s", out)
	}
	if code, out, _ = cli("log", "--bank", "other"); code != exitOK || out != "" {
		t.Errorf("log of a bank with no changes: exit %d %q", code, out)
	}

	// version, and check once the server has stopped.
	code, out, _ = cli("version")
	if code != exitOK || !strings.Contains(out, `"api":"mediamatch.v1"`) || !strings.Contains(out, `"store_schema":3`) {
		t.Errorf("version: %s", out)
	}
	if code, _, stderr = cli("version", "extra"); code != exitUsage || !strings.Contains(stderr, "usage: mediamatch version") {
		t.Errorf("version with an argument: exit %d %s", code, stderr)
	}
	srv.stop(t)
	code, out, stderr = cli("check", "--db", db)
	if code != exitOK || !strings.Contains(out, `"ok":true`) || !strings.Contains(out, `"entries":1`) || !strings.Contains(out, `"revision":8`) {
		t.Errorf("check: exit %d %s %s", code, out, stderr)
	}
}
