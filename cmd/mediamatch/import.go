package main

import (
	"bytes"
	"context"
	"crypto/sha512"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mediamatch/mediamatch/exchange"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
)

const importUsage = `usage: mediamatch import --bank B --format native|pytx-file|pytx-csv|vpdq-json [--partner NAME] FILE

Adds a hash list to a bank, all or nothing, and prints
{"imported":N,"unchanged":N,"removed":N,"conflicts":N,"revision":R}.
The list is streamed to the server, which reads it as it comes and shows
none of it until all of it has been read: a problem at any line fails the
import with the line's number and leaves the bank as it was. The same list
imported twice changes nothing the second time.

Each entry added records where it came from: the partner, the list (FILE's
name), the list's revision (native lists) and the entry's id in the
exporter's bank (native lists). An entry the bank holds already keeps its
local labels and note; when the list's differ it counts as a conflict.
Removals (native lists) remove only entries imported from the same
partner; others count as conflicts and stay.

With --partner, FILE.sig must be the partner's signature over FILE: it is
checked against the partner's public key (see 'mediamatch partner add')
before anything is sent, and the bytes sent are checked to be those
verified; an unsigned or changed list is refused.`

// importJSON is what import prints.
type importJSON struct {
	Imported  int64 `json:"imported"`
	Unchanged int64 `json:"unchanged"`
	Removed   int64 `json:"removed"`
	Conflicts int64 `json:"conflicts"`
	Revision  int64 `json:"revision"`
}

func runImport(e *env, args []string) int {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	bank := fs.String("bank", "", "the bank to import into")
	format := fs.String("format", "", "native, pytx-file, pytx-csv or vpdq-json")
	partner := fs.String("partner", "", "the partner who signed the list: verify FILE.sig with its key first")
	dir := fs.String("partners", defaultPartnersDir(), "the directory of partners' public keys")
	if !parseCommand(e, fs, args, importUsage, func() bool { return fs.NArg() == 1 && *bank != "" && *format != "" }) {
		return exitUsage
	}
	lf, err := apiFormat(*format)
	if err != nil {
		fmt.Fprintf(e.stderr, "mediamatch import: %v\n", err)
		return exitUsage
	}
	path := fs.Arg(0)
	var digest []byte
	if *partner != "" {
		if digest, err = verifyList(*dir, *partner, path); err != nil {
			fmt.Fprintf(e.stderr, "mediamatch import: %s: refused: %v\n", path, err)
			return exitFail
		}
	}
	c, ok := connect(e, cf)
	if !ok {
		return exitFail
	}
	defer c.Close()
	h := &pb.ImportEntriesHeader{Parent: bankResource(*bank), Format: lf, Partner: *partner, List: filepath.Base(path)}
	resp, err := importFile(e, c, h, path, digest)
	if err != nil {
		fmt.Fprintf(e.stderr, "mediamatch import: %s: %s\n", path, errorMessage(err))
		return exitFail
	}
	if err := newPrinter(e.stdout).print(importJSON{Imported: resp.GetImported(), Unchanged: resp.GetUnchanged(),
		Removed: resp.GetRemoved(), Conflicts: resp.GetConflicts(), Revision: resp.GetRevision()}); err != nil {
		return exitFail
	}
	return exitOK
}

// verifyList checks path.sig against the partner's key and returns the
// SHA-512 of the bytes verified.
func verifyList(dir, partner, path string) ([]byte, error) {
	key, err := readPartnerKey(dir, partner)
	if err != nil {
		return nil, err
	}
	sig, err := os.ReadFile(path + ".sig")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("the list is not signed: %s is missing (a list from partner %q must come with its signature)", filepath.Base(path)+".sig", partner)
	}
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sum := sha512.New()
	if err := exchange.Verify(key, io.TeeReader(f, sum), sig); err != nil {
		return nil, fmt.Errorf("%w (partner %q)", err, partner)
	}
	return sum.Sum(nil), nil
}

// importFile streams a list to the server. With digest set, the bytes sent
// must hash to it (the file verified is the file sent), or the stream is
// abandoned before it is closed, which the server takes as a cancelled
// import: nothing of it is kept.
func importFile(e *env, c *client, h *pb.ImportEntriesHeader, path string, digest []byte) (*pb.ImportEntriesResponse, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if info, err := f.Stat(); err == nil {
		h.SizeBytes = info.Size()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := c.bank.ImportEntries(ctx)
	if err != nil {
		return nil, err
	}
	if err := stream.Send(&pb.ImportEntriesRequest{Part: &pb.ImportEntriesRequest_Header{Header: h}}); err != nil {
		_, err = stream.CloseAndRecv() // the server's reason
		return nil, err
	}
	sum := sha512.New()
	buf := make([]byte, chunkSize)
	prog := newProgress(e, "MiB", h.SizeBytes)
	defer prog.finish()
	for {
		n, rerr := io.ReadFull(f, buf)
		if n > 0 {
			sum.Write(buf[:n])
			if err := stream.Send(&pb.ImportEntriesRequest{Part: &pb.ImportEntriesRequest_Chunk{Chunk: buf[:n]}}); err != nil {
				_, err = stream.CloseAndRecv()
				return nil, err
			}
			prog.add(int64(n))
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return nil, rerr
		}
	}
	if digest != nil && !bytes.Equal(sum.Sum(nil), digest) {
		return nil, fmt.Errorf("%s changed while it was being sent: import abandoned, nothing was kept", path)
	}
	return stream.CloseAndRecv()
}
