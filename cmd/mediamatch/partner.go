package main

import (
	"bytes"
	"crypto/ed25519"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mediamatch/mediamatch/exchange"
	"github.com/mediamatch/mediamatch/store"
)

const partnerUsage = `usage: mediamatch partner add NAME --key NAME.pub [--token-file FILE] [--partners DIR]
       mediamatch partner list [--partners DIR]

A partner is a name and the ed25519 public key its lists are signed with
(the NAME.pub of 'mediamatch keys partner-init'). add checks the key and
copies it to DIR/NAME.pub; an existing partner's key is never replaced
(remove the file to change it). 'mediamatch import --partner NAME' then
refuses any list from NAME that its key does not verify.

Partners' keys are kept on the machine that imports, in DIR: by default
mediamatch/partners under the user's configuration directory
($XDG_CONFIG_HOME, else ~/.config), or MEDIAMATCH_PARTNERS. The server
trusts its curators' tokens; the signature protects the curator from a
list changed on its way.

--token-file stores the partner's API token for its server beside its key
(DIR/NAME.token, readable by the user only), for 'mediamatch sync
--partner NAME'.`

func runPartner(e *env, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, partnerUsage)
		return exitUsage
	}
	sub := args[0]
	fs := flag.NewFlagSet("partner "+sub, flag.ContinueOnError)
	key := fs.String("key", "", "add: the partner's public key file")
	tokenFile := fs.String("token-file", "", "add: a file holding the partner server's API token, stored for sync --partner")
	dir := fs.String("partners", defaultPartnersDir(), "the directory of partners' public keys")
	var name string
	rest := args[1:]
	if sub == "add" && len(rest) > 0 && rest[0] != "" && rest[0][0] != '-' {
		name, rest = rest[0], rest[1:]
	}
	valid := func() bool {
		switch sub {
		case "add":
			return name != "" && *key != "" && fs.NArg() == 0
		case "list":
			return fs.NArg() == 0
		}
		return false
	}
	if !parseCommand(e, fs, rest, partnerUsage, valid) {
		return exitUsage
	}
	var err error
	switch sub {
	case "add":
		err = addPartner(*dir, name, *key)
		if err == nil && *tokenFile != "" {
			err = addPartnerToken(*dir, name, *tokenFile)
		}
		if err == nil {
			err = newPrinter(e.stdout).print(map[string]string{"partner": name, "key": partnerKeyPath(*dir, name)})
		}
	case "list":
		var names []string
		names, err = listPartners(*dir)
		for _, n := range names {
			if err == nil {
				err = newPrinter(e.stdout).print(map[string]string{"partner": n, "key": partnerKeyPath(*dir, n)})
			}
		}
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "mediamatch partner %s: %v\n", sub, err)
		return exitFail
	}
	return exitOK
}

// defaultPartnersDir is where partners' keys are kept unless told.
func defaultPartnersDir() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "partners"
	}
	return filepath.Join(dir, "mediamatch", "partners")
}

func partnerKeyPath(dir, name string) string { return filepath.Join(dir, name+".pub") }

// checkPartnerName allows the names a bank may have: they become file
// names.
func checkPartnerName(name string) error {
	if !store.ValidBankName(name) {
		return fmt.Errorf("partner name %q: 1-%d letters, digits, '.', '_' or '-', starting with a letter or digit", store.Clip(name), store.MaxBankNameLen)
	}
	return nil
}

func addPartner(dir, name, keyPath string) error {
	if err := checkPartnerName(name); err != nil {
		return err
	}
	data, err := os.ReadFile(keyPath)
	if err != nil {
		return err
	}
	if _, err := exchange.ParsePublicKey(data); err != nil {
		return fmt.Errorf("%s: %w", keyPath, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return writeNew(partnerKeyPath(dir, name), data, 0o644)
}

func partnerTokenPath(dir, name string) string { return filepath.Join(dir, name+".token") }

// addPartnerToken stores a partner's API token, for sync; an existing one
// is never replaced (remove the file to change it).
func addPartnerToken(dir, name, tokenFile string) error {
	data, err := os.ReadFile(tokenFile)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return fmt.Errorf("%s: no token in it", tokenFile)
	}
	return writeNew(partnerTokenPath(dir, name), data, 0o600)
}

func readPartnerKey(dir, name string) (ed25519.PublicKey, error) {
	if err := checkPartnerName(name); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(partnerKeyPath(dir, name))
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("no partner %q: add its key with 'mediamatch partner add %s --key %s.pub' (looked in %s)", name, name, name, dir)
	}
	if err != nil {
		return nil, err
	}
	return exchange.ParsePublicKey(data)
}

func listPartners(dir string) ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(dir, "*.pub"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range matches {
		n := filepath.Base(m)
		out = append(out, n[:len(n)-len(".pub")])
	}
	return out, nil
}
