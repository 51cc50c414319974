package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeys makes a partner identity, signs a list and verifies it; a
// changed byte, another partner's key and a missing signature are
// refused, and keys are never overwritten.
func TestKeys(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "partner-a")
	if code, out, stderr := runCLI(t, nil, nil, "keys", "partner-init", "--out", name); code != exitOK || !strings.Contains(out, "partner-a.pub") {
		t.Fatalf("partner-init: exit %d %s %s", code, out, stderr)
	}
	if st, err := os.Stat(name + ".key"); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("the private key file: %v, %v", st, err)
	}
	if code, _, stderr := runCLI(t, nil, nil, "keys", "partner-init", "--out", name); code != exitFail || !strings.Contains(stderr, "never overwritten") {
		t.Errorf("partner-init again: exit %d %s", code, stderr)
	}
	list := filepath.Join(dir, "list.txt")
	if err := os.WriteFile(list, []byte("pdq "+strings.Repeat("ab", 32)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, nil, nil, "keys", "verify", "--pub", name+".pub", list); code != exitFail || !strings.Contains(stderr, "unsigned") {
		t.Errorf("verify without a signature: exit %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, nil, nil, "keys", "sign", "--key", name+".key", list); code != exitOK {
		t.Fatalf("sign: exit %d %s", code, stderr)
	}
	if code, out, stderr := runCLI(t, nil, nil, "keys", "verify", "--pub", name+".pub", list); code != exitOK || !strings.Contains(out, `"verified":true`) {
		t.Errorf("verify: exit %d %s %s", code, out, stderr)
	}
	runCLI(t, nil, nil, "keys", "partner-init", "--out", filepath.Join(dir, "partner-b"))
	if code, _, stderr := runCLI(t, nil, nil, "keys", "verify", "--pub", filepath.Join(dir, "partner-b.pub"), list); code != exitFail || !strings.Contains(stderr, "does not verify") {
		t.Errorf("verify with another partner's key: exit %d %s", code, stderr)
	}
	data, _ := os.ReadFile(list)
	data[5] ^= 1
	os.WriteFile(list, data, 0o644)
	if code, _, stderr := runCLI(t, nil, nil, "keys", "verify", "--pub", name+".pub", list); code != exitFail || !strings.Contains(stderr, "does not verify") {
		t.Errorf("verify a changed list: exit %d %s", code, stderr)
	}
	if code, _, _ := runCLI(t, nil, nil, "keys", "sign", "--key", name+".pub", list); code != exitFail {
		t.Errorf("sign with a public key: exit %d", code)
	}
	// Signing the changed list again replaces the signature, through a
	// file renamed into place: nothing is left beside it.
	if code, _, stderr := runCLI(t, nil, nil, "keys", "sign", "--key", name+".key", list); code != exitOK {
		t.Fatalf("sign again: exit %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, nil, nil, "keys", "verify", "--pub", name+".pub", list); code != exitOK {
		t.Errorf("verify the list signed again: exit %d %s", code, stderr)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*partial*")); len(left) > 0 {
		t.Errorf("left beside the signature: %v", left)
	}
}
