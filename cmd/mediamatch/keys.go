package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mediamatch/mediamatch/exchange"
)

const keysUsage = `usage: mediamatch keys partner-init --out NAME
       mediamatch keys sign --key NAME.key FILE
       mediamatch keys verify --pub NAME.pub FILE

A partner's identity is an ed25519 key pair. partner-init writes NAME.key
(the private key, readable by you alone: keep it secret) and NAME.pub (the
public key, for the partners who import your lists); neither is overwritten.
sign writes FILE.sig, a signature over FILE's exact bytes; verify checks it
and exits 1 when the file was changed or signed with another key. Keys are
PEM (PKCS #8 and PKIX), signatures raw Ed25519ph over the file's SHA-512.`

func runKeys(e *env, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, keysUsage)
		return exitUsage
	}
	sub := args[0]
	fs := flag.NewFlagSet("keys "+sub, flag.ContinueOnError)
	out := fs.String("out", "", "partner-init: the key files' name, without .key or .pub")
	key := fs.String("key", "", "sign: the private key file")
	pub := fs.String("pub", "", "verify: the public key file")
	valid := func() bool {
		switch sub {
		case "partner-init":
			return *out != "" && fs.NArg() == 0
		case "sign":
			return *key != "" && fs.NArg() == 1
		case "verify":
			return *pub != "" && fs.NArg() == 1
		}
		return false
	}
	if !parseCommand(e, fs, args[1:], keysUsage, valid) {
		return exitUsage
	}
	var err error
	switch sub {
	case "partner-init":
		err = partnerInit(*out)
		if err == nil {
			err = newPrinter(e.stdout).print(map[string]string{"private_key": *out + ".key", "public_key": *out + ".pub"})
		}
	case "sign":
		err = signFile(*key, fs.Arg(0))
		if err == nil {
			err = newPrinter(e.stdout).print(map[string]string{"file": fs.Arg(0), "signature": fs.Arg(0) + ".sig"})
		}
	case "verify":
		err = verifyFile(*pub, fs.Arg(0))
		if err == nil {
			err = newPrinter(e.stdout).print(map[string]any{"file": fs.Arg(0), "verified": true})
		}
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "mediamatch keys %s: %v\n", sub, err)
		return exitFail
	}
	return exitOK
}

// partnerInit writes a new key pair, refusing to replace either file.
func partnerInit(name string) error {
	pub, priv, err := exchange.GenerateKey()
	if err != nil {
		return err
	}
	privPEM, err := exchange.MarshalPrivateKey(priv)
	if err != nil {
		return err
	}
	pubPEM, err := exchange.MarshalPublicKey(pub)
	if err != nil {
		return err
	}
	if err := writeNew(name+".key", privPEM, 0o600); err != nil {
		return err
	}
	if err := writeNew(name+".pub", pubPEM, 0o644); err != nil {
		os.Remove(name + ".key")
		return err
	}
	return nil
}

// writeNew writes a file that must not exist yet, synced.
func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists: keys are never overwritten (move it aside, or choose another --out)", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

func signFile(keyPath, path string) error {
	data, err := os.ReadFile(keyPath)
	if err != nil {
		return err
	}
	k, err := exchange.ParsePrivateKey(data)
	if err != nil {
		return fmt.Errorf("%s: %w", keyPath, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sig, err := exchange.Sign(k, f)
	if err != nil {
		return err
	}
	// Beside, then renamed: a crash leaves the old signature or the new,
	// never a torn one that refuses a good list.
	tmp, err := writeAside(path+".sig", func(f *os.File) error { _, err := f.Write(sig); return err })
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path+".sig"); err != nil {
		os.Remove(tmp)
		return err
	}
	syncDir(filepath.Dir(path))
	return nil
}

func verifyFile(pubPath, path string) error {
	data, err := os.ReadFile(pubPath)
	if err != nil {
		return err
	}
	k, err := exchange.ParsePublicKey(data)
	if err != nil {
		return fmt.Errorf("%s: %w", pubPath, err)
	}
	sig, err := os.ReadFile(path + ".sig")
	if err != nil {
		return fmt.Errorf("the signature: %w (an unsigned list is refused)", err)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := exchange.Verify(k, f, sig); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
