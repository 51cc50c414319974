package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/bolt"
)

const backupUsage = `usage: mediamatch backup [--db FILE] [--force] OUT

Writes a consistent copy of the whole store to OUT: the store at one
revision, a file 'mediamatch serve --db OUT' opens as it is.

Without --db, the copy is taken through the server (--server, an admin
token) while it goes on serving; the backup is recorded in its audit log.
With --db, the file is copied directly, while no server runs on it.

The copy is written beside OUT, checked (its size and SHA-256 against what
the server sent, then the whole store as 'mediamatch check' does), synced,
and only then renamed to OUT, so OUT is never a partial copy. An existing
OUT is kept unless --force.`

// backupJSON is what backup prints.
type backupJSON struct {
	File     string `json:"file"`
	Bytes    int64  `json:"bytes"`
	SHA256   string `json:"sha256"`
	Revision int64  `json:"revision"`
	Banks    int    `json:"banks"`
	Entries  int64  `json:"entries"`
}

func runBackup(e *env, args []string) int {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	db := fs.String("db", "", "copy this store file directly, while no server runs on it, instead of through --server")
	force := fs.Bool("force", false, "replace OUT if it exists")
	if !parseCommand(e, fs, args, backupUsage, func() bool { return fs.NArg() == 1 }) {
		return exitUsage
	}
	out := fs.Arg(0)
	if _, err := os.Stat(out); err == nil && !*force {
		fmt.Fprintf(e.stderr, "mediamatch backup: %s exists: pass --force to replace it\n", out)
		return exitFail
	}
	var res backupJSON
	var err error
	if *db != "" {
		res, err = backupFile(*db, out, *force)
	} else {
		c, ok := connect(e, cf)
		if !ok {
			return exitFail
		}
		defer c.Close()
		res, err = backupServer(c, out, *force)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "mediamatch backup: %s\n", errorMessage(err))
		return exitFail
	}
	if err := newPrinter(e.stdout).print(res); err != nil {
		fmt.Fprintf(e.stderr, "mediamatch backup: %v\n", err)
		return exitFail
	}
	return exitOK
}

// backupServer copies the store through the server's AdminService.Backup.
// No deadline: a large store takes as long as it takes.
func backupServer(c *client, out string, force bool) (backupJSON, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := c.admin.Backup(ctx, &pb.BackupRequest{})
	if err != nil {
		return backupJSON{}, err
	}
	return writeBackup(out, force, func(w io.Writer) (*pb.BackupSummary, error) {
		for {
			msg, err := stream.Recv()
			if err == io.EOF {
				return nil, errors.New("the server ended the backup without its summary: the copy is incomplete")
			}
			if err != nil {
				return nil, err
			}
			if sum := msg.GetSummary(); sum != nil {
				return sum, nil
			}
			if _, err := w.Write(msg.GetChunk()); err != nil {
				return nil, err
			}
		}
	})
}

// backupFile copies a store file no server holds.
func backupFile(path, out string, force bool) (backupJSON, error) {
	st, err := bolt.Open(path, bolt.Options{ReadOnly: true, LockTimeout: offlineLockTimeout})
	if errors.Is(err, store.ErrLocked) {
		return backupJSON{}, fmt.Errorf("%s is held by a running mediamatch server: back up through it instead, without --db, with an admin token", path)
	}
	if err != nil {
		return backupJSON{}, err
	}
	defer st.Close()
	return writeBackup(out, force, func(w io.Writer) (*pb.BackupSummary, error) {
		rev, n, err := st.Backup(context.Background(), w)
		if err != nil {
			return nil, err
		}
		return &pb.BackupSummary{SizeBytes: n, Revision: int64(rev)}, nil
	})
}

// hashingWriter counts and hashes what it writes.
type hashingWriter struct {
	w   io.Writer
	sum hash.Hash
	n   int64
}

func (h *hashingWriter) Write(p []byte) (int, error) {
	n, err := h.w.Write(p)
	h.sum.Write(p[:n])
	h.n += int64(n)
	return n, err
}

// writeBackup writes a copy through copyTo into a temporary file beside
// out, checks it against the summary and as a store, syncs it and renames
// it to out.
func writeBackup(out string, force bool, copyTo func(io.Writer) (*pb.BackupSummary, error)) (backupJSON, error) {
	dir := filepath.Dir(out)
	f, err := os.CreateTemp(dir, "."+filepath.Base(out)+".partial-*")
	if err != nil {
		return backupJSON{}, err
	}
	tmp := f.Name()
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(tmp)
		}
	}()
	hw := &hashingWriter{w: f, sum: sha256.New()}
	sum, err := copyTo(hw)
	if err != nil {
		return backupJSON{}, err
	}
	got := hex.EncodeToString(hw.sum.Sum(nil))
	if hw.n != sum.GetSizeBytes() || (sum.GetSha256() != "" && sum.GetSha256() != got) {
		return backupJSON{}, fmt.Errorf("the copy holds %d bytes with SHA-256 %s, the server sent %d with %s", hw.n, got, sum.GetSizeBytes(), sum.GetSha256())
	}
	if err := f.Sync(); err != nil {
		return backupJSON{}, err
	}
	if err := f.Close(); err != nil {
		return backupJSON{}, err
	}
	res := backupJSON{File: out, Bytes: hw.n, SHA256: got, Revision: sum.GetRevision()}
	if res.Banks, res.Entries, err = checkCopy(tmp); err != nil {
		return backupJSON{}, fmt.Errorf("the copy does not check out: %w", err)
	}
	if force {
		err = os.Rename(tmp, out)
	} else if err = os.Link(tmp, out); err == nil {
		os.Remove(tmp) // OUT holds it now; never replaces a file made meanwhile
	} else if errors.Is(err, fs.ErrExist) {
		err = fmt.Errorf("%s exists: pass --force to replace it", out)
	}
	if err != nil {
		return backupJSON{}, err
	}
	done = true
	if d, err := os.Open(dir); err == nil {
		d.Sync() // the rename, durable
		d.Close()
	}
	return res, nil
}

// checkCopy opens a copy as a store, checks all of it and counts its banks
// and entries.
func checkCopy(path string) (int, int64, error) {
	st, err := bolt.Open(path, bolt.Options{ReadOnly: true})
	if err != nil {
		return 0, 0, err
	}
	defer st.Close()
	ctx := context.Background()
	if err := st.Check(ctx); err != nil {
		return 0, 0, err
	}
	return countStore(ctx, st)
}

// countStore counts the banks of a store and the entries they hold.
func countStore(ctx context.Context, st store.Store) (int, int64, error) {
	banks, entries := 0, int64(0)
	for after := ""; ; {
		page, err := st.ListBanks(ctx, after, 1000)
		if err != nil {
			return 0, 0, err
		}
		for _, b := range page {
			banks++
			entries += b.Entries
		}
		if len(page) < 1000 {
			return banks, entries, nil
		}
		after = page[len(page)-1].Name
	}
}
