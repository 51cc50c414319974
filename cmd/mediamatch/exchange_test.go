package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediamatch/mediamatch/exchange"
)

// TestExportImportCommands runs export, partner and import against real
// server processes: a signed export is written atomically with its
// signature, a configured partner's list imports once (again: nothing
// changes), and a changed byte, a missing signature, an unknown partner
// and a malformed line are each refused with the bank left as it was.
func TestExportImportCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	src := startServe(t, bin, filepath.Join(dir, "src.db"))
	dst := startServe(t, bin, filepath.Join(dir, "dst.db"))
	partners := filepath.Join(dir, "partners")
	srcEnv := map[string]string{"MEDIAMATCH_SERVER": src.addr}
	dstEnv := map[string]string{"MEDIAMATCH_SERVER": dst.addr, "MEDIAMATCH_PARTNERS": partners}
	must := func(environ map[string]string, args ...string) string {
		t.Helper()
		code, out, stderr := runCLI(t, nil, environ, args...)
		if code != exitOK {
			t.Fatalf("%v: exit %d\n%s", args, code, stderr)
		}
		return out
	}
	must(srcEnv, "bank", "create", "tvec")
	must(srcEnv, "add", "--bank", "tvec", "--label", "group=x", filepath.Join(exactDir, "bridge-mods-aaa-orig.png"), filepath.Join(exactDir, "gray-bridge-mods-aaa-orig.png"))
	must(dstEnv, "bank", "create", "copy")
	entries := func() int {
		return strings.Count(must(dstEnv, "list", "--bank", "copy"), "\n")
	}

	// A signed export: FILE and FILE.sig, nothing else left in the
	// directory, and the signature verifies.
	key := filepath.Join(dir, "ngo")
	must(nil, "keys", "partner-init", "--out", key)
	list := filepath.Join(dir, "out", "tvec.jsonl")
	os.Mkdir(filepath.Dir(list), 0o755)
	if code, _, stderr := runCLI(t, nil, srcEnv, "export", "--bank", "tvec", "--format", "native", "--sign", key+".key"); code != exitUsage {
		t.Errorf("--sign without --out: exit %d %s", code, stderr)
	}
	code, _, stderr := runCLI(t, nil, srcEnv, "export", "--bank", "tvec", "--format", "native", "--out", list, "--sign", key+".key")
	if code != exitOK || !strings.Contains(stderr, "at revision 3") {
		t.Fatalf("export: exit %d %s", code, stderr)
	}
	names, _ := filepath.Glob(filepath.Join(filepath.Dir(list), "*"))
	if len(names) != 2 || names[0] != list || names[1] != list+".sig" {
		t.Errorf("the export left %v", names)
	}
	must(nil, "keys", "verify", "--pub", key+".pub", list)
	// Standard output gets the same list (but its export time).
	stdout := must(srcEnv, "export", "--bank", "tvec", "--format", "native")
	file, _ := os.ReadFile(list)
	if strings.Join(strings.Split(stdout, "\n")[1:], "\n") != strings.Join(strings.Split(string(file), "\n")[1:], "\n") {
		t.Errorf("standard output and --out differ:\n%s\n%s", stdout, file)
	}
	// A failed export leaves an existing file as it was.
	if code, _, _ := runCLI(t, nil, srcEnv, "export", "--bank", "nope", "--format", "native", "--out", list); code != exitFail {
		t.Errorf("exporting an unknown bank: exit %d", code)
	}
	if again, _ := os.ReadFile(list); string(again) != string(file) {
		t.Error("a failed export changed the file it would have replaced")
	}
	if names, _ := filepath.Glob(filepath.Join(filepath.Dir(list), "*")); len(names) != 2 {
		t.Errorf("a failed export left %v", names)
	}

	// The partner: added once, never replaced.
	must(dstEnv, "partner", "add", "ngo", "--key", key+".pub")
	if code, _, stderr := runCLI(t, nil, dstEnv, "partner", "add", "ngo", "--key", key+".pub"); code != exitFail || !strings.Contains(stderr, "exists") {
		t.Errorf("adding a partner twice: exit %d %s", code, stderr)
	}
	if code, _, _ := runCLI(t, nil, dstEnv, "partner", "add", "bad", "--key", key+".key"); code != exitFail {
		t.Errorf("adding a private key as a partner's: exit %d", code)
	}
	if !strings.Contains(must(dstEnv, "partner", "list"), `"partner":"ngo"`) {
		t.Error("partner list does not show ngo")
	}

	refused := func(what, path, partner, want string) {
		t.Helper()
		args := []string{"import", "--bank", "copy", "--format", "native", path}
		if partner != "" {
			args = append(args, "--partner", partner)
		}
		code, out, stderr := runCLI(t, nil, dstEnv, args...)
		if code != exitFail || !strings.Contains(stderr, want) || out != "" {
			t.Errorf("%s: exit %d %q %s, want %q", what, code, out, stderr, want)
		}
		if n := entries(); n != 0 {
			t.Errorf("%s: the bank holds %d entries", what, n)
		}
	}
	// A changed byte (a hash's digit), a missing signature, an unknown
	// partner: refused before anything is sent.
	tampered := filepath.Join(dir, "tampered.jsonl")
	data := []byte(strings.Replace(string(file), `"hex":"d`, `"hex":"e`, 1))
	os.WriteFile(tampered, data, 0o644)
	sig, _ := os.ReadFile(list + ".sig")
	os.WriteFile(tampered+".sig", sig, 0o644)
	refused("a tampered list", tampered, "ngo", "signature does not verify")
	unsigned := filepath.Join(dir, "unsigned.jsonl")
	os.WriteFile(unsigned, file, 0o644)
	refused("an unsigned list", unsigned, "ngo", "not signed")
	refused("an unknown partner", list, "gifct", `no partner "gifct"`)
	// A malformed line, through the server: its number, nothing kept.
	broken := filepath.Join(dir, "broken.txt")
	os.WriteFile(broken, []byte("pdq "+strings.Repeat("ab", 32)+"\npdq "+strings.Repeat("cd", 32)+"\npdq xyz\n"), 0o644)
	code, _, stderr = runCLI(t, nil, dstEnv, "import", "--bank", "copy", "--format", "pytx-file", broken)
	if code != exitFail || !strings.Contains(stderr, "InvalidArgument") || !strings.Contains(stderr, "line 3") || entries() != 0 {
		t.Errorf("a malformed list: exit %d %s, %d entries", code, stderr, entries())
	}

	// The signed list imports, once.
	var res importJSON
	if err := json.Unmarshal([]byte(must(dstEnv, "import", "--bank", "copy", "--format", "native", "--partner", "ngo", list)), &res); err != nil || res.Imported != 2 || res.Unchanged != 0 {
		t.Fatalf("import: %+v %v", res, err)
	}
	if err := json.Unmarshal([]byte(must(dstEnv, "import", "--bank", "copy", "--format", "native", "--partner", "ngo", list)), &res); err != nil || res.Imported != 0 || res.Unchanged != 2 || res.Removed != 0 {
		t.Errorf("import again: %+v %v", res, err)
	}
	out := must(dstEnv, "list", "--bank", "copy")
	if !strings.Contains(out, `"partner":"ngo"`) || !strings.Contains(out, `"list":"tvec.jsonl"`) || !strings.Contains(out, `"group":"x"`) {
		t.Errorf("imported entries: %s", out)
	}
	// The copy matches as the source does: the pdq of the first file.
	lines := strings.Split(strings.TrimSpace(must(srcEnv, "export", "--bank", "tvec", "--format", "pytx-file")), "\n")
	hash := strings.Replace(lines[0], " ", ":", 1)
	if !strings.HasPrefix(hash, "pdq:") {
		t.Fatalf("first pytx line %q", lines[0])
	}
	want := strings.Count(must(srcEnv, "match", "--hash", hash), `"entry"`)
	if got := strings.Count(must(dstEnv, "match", "--hash", hash), `"entry"`); got != want || want == 0 {
		t.Errorf("match --hash %s: %d matches on the copy, %d on the source", hash, got, want)
	}
	// Each format's export parses under its own reader.
	for _, f := range exchange.Formats() {
		out := must(srcEnv, "export", "--bank", "tvec", "--format", string(f))
		lr, err := exchange.NewListReader(f, strings.NewReader(out))
		if err != nil {
			t.Errorf("%s export: %v", f, err)
			continue
		}
		for {
			if _, err := lr.Next(); err != nil {
				if err != io.EOF {
					t.Errorf("%s export: %v", f, err)
				}
				break
			}
		}
	}
}
