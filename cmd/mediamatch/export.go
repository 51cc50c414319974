package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mediamatch/mediamatch/exchange"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
)

const exportUsage = `usage: mediamatch export --bank B --format native|pytx-file|pytx-csv|vpdq-json [--since REV] [--out FILE [--sign NAME.key]]

Writes a bank as a hash list, read from one consistent state of the store,
to standard output, or with --out to FILE (written beside it, synced, then
renamed, so FILE is never a partial list). With --sign, FILE.sig is written
too: a detached signature over FILE's exact bytes, which a partner checks
with 'mediamatch import --partner'. With --since, only the bank's changes
after that revision: entries added or updated (as they now are) and, in
the native format, removals. On standard error, the revision the list
shows, to give as --since next time.

What each format keeps (docs/format.md has the details):
  native     everything the store keeps of each entry, and removals
  pytx-file  one line per hash (pdq, md5, sha256, ...) and per video
             (vpdq); no labels, note, source, regions or keypoints, no
             removals, and an entry of several hashes becomes several lines
  pytx-csv   as pytx-file, plus the labels "category" and "tags" and the
             source's origin as the collab
  vpdq-json  videos only, each its frames as one JSON list a line`

func runExport(e *env, args []string) int {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	bank := fs.String("bank", "", "the bank to export")
	format := fs.String("format", "", "native, pytx-file, pytx-csv or vpdq-json")
	since := fs.Int64("since", 0, "export only the changes after this revision")
	out := fs.String("out", "", "write the list to this file instead of standard output")
	sign := fs.String("sign", "", "with --out: sign the list with this private key, into FILE.sig")
	valid := func() bool {
		return fs.NArg() == 0 && *bank != "" && *format != "" && *since >= 0 && (*sign == "" || *out != "")
	}
	if !parseCommand(e, fs, args, exportUsage, valid) {
		return exitUsage
	}
	lf, err := apiFormat(*format)
	if err != nil {
		fmt.Fprintf(e.stderr, "mediamatch export: %v\n", err)
		return exitUsage
	}
	c, ok := connect(e, cf)
	if !ok {
		return exitFail
	}
	defer c.Close()
	req := &pb.ExportEntriesRequest{Parent: bankResource(*bank), Format: lf, SinceRevision: *since}
	var rev int64
	if *out == "" {
		rev, err = exportTo(c, req, e.stdout)
	} else {
		rev, err = exportFile(c, req, *out, *sign)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "mediamatch export: %s\n", errorMessage(err))
		return exitFail
	}
	fmt.Fprintf(e.stderr, "mediamatch export: bank %s at revision %d\n", *bank, rev)
	return exitOK
}

// apiFormat maps a --format name to the API's.
func apiFormat(name string) (pb.ListFormat, error) {
	f, err := exchange.ParseFormat(name)
	if err != nil {
		return 0, err
	}
	v := pb.ListFormat_value["LIST_FORMAT_"+strings.ToUpper(strings.ReplaceAll(string(f), "-", "_"))]
	return pb.ListFormat(v), nil
}

// exportTo streams an export into w and returns the revision it shows.
func exportTo(c *client, req *pb.ExportEntriesRequest, w io.Writer) (int64, error) {
	// No deadline: a bank of millions takes a while; the server's idle
	// timeouts and the user's ^C end a stuck export.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := c.bank.ExportEntries(ctx, req)
	if err != nil {
		return 0, err
	}
	first, err := stream.Recv()
	if err != nil {
		return 0, err
	}
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			return first.GetRevision(), nil
		}
		if err != nil {
			return 0, err
		}
		if _, err := w.Write(m.GetChunk()); err != nil {
			return 0, err
		}
	}
}

// exportFile writes an export to out atomically, and with keyPath its
// signature to out.sig.
func exportFile(c *client, req *pb.ExportEntriesRequest, out, keyPath string) (int64, error) {
	var key ed25519.PrivateKey
	if keyPath != "" {
		data, err := os.ReadFile(keyPath)
		if err != nil {
			return 0, err
		}
		if key, err = exchange.ParsePrivateKey(data); err != nil {
			return 0, fmt.Errorf("%s: %w", keyPath, err)
		}
	}
	var rev int64
	tmp, err := writeAside(out, func(f *os.File) error {
		var err error
		rev, err = exportTo(c, req, f)
		return err
	})
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp)
	var sigTmp string
	if key != nil {
		f, err := os.Open(tmp)
		if err != nil {
			return 0, err
		}
		sig, err := exchange.Sign(key, f)
		f.Close()
		if err != nil {
			return 0, err
		}
		if sigTmp, err = writeAside(out+".sig", func(f *os.File) error { _, err := io.Copy(f, bytes.NewReader(sig)); return err }); err != nil {
			return 0, err
		}
		defer os.Remove(sigTmp)
	}
	// The list first, then its signature: a crash between leaves a list
	// whose old or missing signature fails to verify, never a wrong pair
	// that verifies.
	if err := os.Rename(tmp, out); err != nil {
		return 0, err
	}
	if sigTmp != "" {
		if err := os.Rename(sigTmp, out+".sig"); err != nil {
			return 0, err
		}
	}
	syncDir(filepath.Dir(out))
	return rev, nil
}

// writeAside writes a file beside path through fill, syncs it and returns
// its name, for the caller to rename into place; on failure it removes it.
func writeAside(path string, fill func(*os.File) error) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return "", err
	}
	err = fill(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// syncDir makes renames in dir durable, as far as the system allows.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
