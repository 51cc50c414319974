package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMatchHashesAndLists matches hashes given on the command line and a
// partner's list in python-threatexchange's local file format against a
// real server: each hash and each line gets its own answer, a bad one its
// error with the line, and what came before is still reported.
func TestMatchHashesAndLists(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	srv := startServe(t, bin, filepath.Join(t.TempDir(), "mediamatch.db"))
	environ := map[string]string{"MEDIAMATCH_SERVER": srv.addr}
	if code, _, stderr := runCLI(t, nil, environ, "bank", "create", "tvec"); code != exitOK {
		t.Fatal(stderr)
	}
	poster := filepath.Join(exactDir, "bridge-mods-aaa-orig.png")
	code, out, stderr := runCLI(t, nil, environ, "add", "--bank", "tvec", poster)
	var added addLine
	if code != exitOK || json.Unmarshal([]byte(out), &added) != nil {
		t.Fatalf("add: %d %s %s", code, out, stderr)
	}
	code, out, _ = runCLI(t, nil, nil, "hash", poster)
	var hashed struct {
		Hashes []struct{ Type, Hex string } `json:"hashes"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &hashed) != nil {
		t.Fatalf("hash: %d %s", code, out)
	}
	of := map[string]string{}
	for _, h := range hashed.Hashes {
		of[h.Type] = h.Hex
	}
	if of["pdq"] == "" || of["md5"] == "" {
		t.Fatalf("hash printed %s", out)
	}
	lines := func(out string) []matchLine {
		var res []matchLine
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var m matchLine
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("%q: %v", l, err)
			}
			res = append(res, m)
		}
		return res
	}
	random := strings.Repeat("5a3c", 16)
	code, out, _ = runCLI(t, nil, environ, "match", "--hash", "pdq:"+strings.ToUpper(of["pdq"]), "--hash", "pdq:"+random, "--hash", "md5:"+of["md5"])
	got := lines(out)
	if code != exitOK || len(got) != 3 || len(got[0].Matches) == 0 || got[0].Matches[0].Entry != added.Entry ||
		len(got[1].Matches) != 0 || len(got[2].Matches) == 0 {
		t.Errorf("match --hash: exit %d\n%s", code, out)
	}
	if code, out, _ := runCLI(t, nil, environ, "match", "--hash", "pdq:zz"); code != exitFail || !strings.Contains(out, "malformed hash") {
		t.Errorf("match --hash pdq:zz: exit %d %s", code, out)
	}

	list := filepath.Join(t.TempDir(), "partner.txt")
	os.WriteFile(list, []byte("# partner B's list\npdq "+of["pdq"]+"\n\npdq "+random+"\nphoto_md5 "+of["md5"]+"\npdq 12\npdq "+of["pdq"]+"\n"), 0o644)
	code, out, stderr = runCLI(t, nil, environ, "match", "--list", list)
	got = lines(out)
	if code != exitFail || len(got) != 3 || got[0].File != list+":2" || len(got[0].Matches) == 0 || got[1].File != list+":4" ||
		len(got[1].Matches) != 0 || len(got[2].Matches) == 0 || !strings.Contains(stderr, "line 6") {
		t.Errorf("match --list: exit %d\n%s\n%s", code, out, stderr)
	}
}
