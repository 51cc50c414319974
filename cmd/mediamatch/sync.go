package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mediamatch/mediamatch/exchange"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/store"
)

const syncUsage = `usage: mediamatch sync --from ADDR --bank B [--into LOCALBANK] [--partner NAME] [--once]

Keeps the bank LOCALBANK of --server (default: named B too; it must exist)
in step with bank B of the partner's server at --from: adds, label and
note updates, removals and re-adds, in the order they were made there.
It reads the partner's changes with ExportEntries (the bank's changes after
the cursor, or the whole bank) and writes them with SyncEntries, which moves
the bank's cursor for the source in the same commit as the changes it
covers: killed at any point and started again, sync resumes exactly where
the last applied batch ended, and applies no change twice. When the
partner's change log has been trimmed past the cursor, sync reads the whole
bank again and removes what it no longer holds. Entries added here (not
synced) are never changed or removed.

With --once, sync catches up and exits; otherwise it follows the partner's
change log (ListChanges, every --poll), retrying with backoff when a
server cannot be reached, and exits 1 on what retrying cannot mend (an
unknown bank, a refused token). Progress goes to standard error.

The partner's token is --from-token (MEDIAMATCH_FROM_TOKEN), or the one
'mediamatch partner add NAME --token-file FILE' stored for --partner NAME;
the local server's is --token, as for every client command, and needs the
curator role.`

// Batches of a sync: at most syncBatchItems items by default (--batch),
// and about syncBatchBytes of native list, so that a batch fits one
// message (4 MiB) and one commit.
const (
	syncBatchItems = 2048
	syncBatchBytes = 2 << 20
	// syncPruneBatch bounds the removals of one pruning batch.
	syncPruneBatch = 1000
	// syncMaxBackoff bounds the wait between retries in follow mode.
	syncMaxBackoff = 30 * time.Second
)

func runSync(e *env, args []string) int {
	fs := flag.NewFlagSet("sync", flag.ContinueOnError)
	var dst, src clientFlags
	dst.register(fs)
	src.registerPrefixed(fs, "from")
	bank := fs.String("bank", "", "the partner's bank to follow (required)")
	into := fs.String("into", "", "the local bank kept in step (default: the same name as --bank)")
	partner := fs.String("partner", "", "the partner's name: recorded as the synced entries' provenance, and whose stored token (partner add --token-file) is used unless --from-token is given")
	partners := fs.String("partners", defaultPartnersDir(), "the directory of partners' keys and tokens")
	source := fs.String("source", "", "the name the cursor and the synced entries' provenance keep for the source (default: FROM/banks/BANK); keep it when the partner's address changes")
	once := fs.Bool("once", false, "catch up and exit")
	poll := fs.Duration("poll", time.Second, "how often to look for new changes in follow mode")
	batch := fs.Int("batch", syncBatchItems, "items of one batch (one commit on the local server), at most 10000")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	valid := func() bool {
		return fs.NArg() == 0 && src.server != "" && *bank != "" && *poll > 0 && *batch > 0 && *batch <= store.MaxSyncItems
	}
	if !parseCommand(e, fs, args, syncUsage, valid) {
		return exitUsage
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(e.stderr, "mediamatch sync: --log-level %q: %v\n", *level, err)
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: lvl}))
	if *into == "" {
		*into = *bank
	}
	if *source == "" {
		*source = src.server + "/" + bankResource(*bank)
	}
	if *partner != "" && src.token == "" {
		tok, err := readPartnerToken(*partners, *partner)
		if err != nil {
			fmt.Fprintf(e.stderr, "mediamatch sync: %v\n", err)
			return exitFail
		}
		src.token = tok
	}
	from, err := dial(src)
	if err != nil {
		fmt.Fprintf(e.stderr, "mediamatch sync: --from: %v\n", err)
		return exitFail
	}
	defer from.Close()
	to, err := dial(dst)
	if err != nil {
		fmt.Fprintf(e.stderr, "mediamatch sync: %v\n", err)
		return exitFail
	}
	defer to.Close()
	s := &syncer{from: from, to: to, bank: *bank, into: *into, source: *source, partner: *partner, batch: *batch, log: log}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("sync", "from", src.server, "bank", *bank, "into", *into, "server", dst.server, "source", *source, "once", *once)
	if *once {
		if err := s.catchUp(ctx); err != nil {
			log.Error("sync failed", "error", errorMessage(err))
			return exitFail
		}
		return exitOK
	}
	if err := s.follow(ctx, *poll); err != nil && ctx.Err() == nil {
		log.Error("sync failed", "error", errorMessage(err))
		return exitFail
	}
	log.Info("sync stopped")
	return exitOK
}

// registerPrefixed registers the client flags of a second server: --PREFIX
// (the address), --PREFIX-token, --PREFIX-tls-ca, and so on.
func (c *clientFlags) registerPrefixed(fs *flag.FlagSet, prefix string) {
	fs.StringVar(&c.server, prefix, "", "address of the partner's mediamatch server (required)")
	fs.DurationVar(&c.timeout, prefix+"-timeout", 60*time.Second, "deadline of each call to the partner's server")
	fs.StringVar(&c.token, prefix+"-token", "", "the partner's API token (a partner role granted the bank), sent as \"authorization: bearer TOKEN\"")
	fs.StringVar(&c.tlsCA, prefix+"-tls-ca", "", "connect to the partner with TLS, trusting the CA certificates of this PEM file")
	fs.StringVar(&c.tlsCert, prefix+"-tls-cert", "", "client certificate (PEM) to present to the partner; needs --"+prefix+"-tls-key and --"+prefix+"-tls-ca")
	fs.StringVar(&c.tlsKey, prefix+"-tls-key", "", "the partner client certificate's private key (PEM)")
	fs.BoolVar(&c.insecure, prefix+"-insecure", false, "send --"+prefix+"-token without TLS to a partner beyond loopback")
}

// syncer applies one source bank's changes to a local bank.
type syncer struct {
	from, to       *client
	bank, into     string
	source         string
	partner        string
	batch          int // items a batch holds at most
	log            *slog.Logger
	added, removed int64
}

// follow catches up, then polls the source's change log for the bank's
// changes after the cursor and catches up again whenever there are some.
// Errors (a server gone, a cursor moved by another syncer) are logged and
// retried with backoff; follow returns when ctx ends.
func (s *syncer) follow(ctx context.Context, poll time.Duration) error {
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		err := s.catchUp(ctx)
		for err == nil && ctx.Err() == nil {
			backoff = 0
			var more bool
			if more, err = s.pending(ctx); err == nil && more {
				break
			}
			if err == nil {
				sleep(ctx, poll)
			}
		}
		if err != nil && ctx.Err() == nil {
			if permanent(err) {
				return err
			}
			backoff = min(max(2*backoff, poll), syncMaxBackoff)
			s.log.Warn("sync interrupted; retrying", "error", errorMessage(err), "in", backoff)
			sleep(ctx, backoff)
		}
	}
	return ctx.Err()
}

// permanent reports whether retrying cannot help: a bank that does not
// exist, a token refused, a request the servers find wrong. Everything
// else (a server gone, a cursor moved by another syncer, a deadline) is
// retried.
func permanent(err error) bool {
	switch status.Code(err) {
	case codes.NotFound, codes.PermissionDenied, codes.Unauthenticated, codes.InvalidArgument, codes.OutOfRange, codes.Unimplemented:
		return true
	}
	return false
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// cursor reads the local bank's cursor for the source.
func (s *syncer) cursor(ctx context.Context) (int64, error) {
	cctx, cancel := context.WithTimeout(ctx, s.to.flags.timeout)
	defer cancel()
	b, err := s.to.bank.GetBank(cctx, &pb.GetBankRequest{Name: bankResource(s.into)})
	if err != nil {
		return 0, fmt.Errorf("reading the local bank %s: %w", s.into, err)
	}
	return b.GetBank().GetSyncedRevisions()[s.source], nil
}

// pending reports whether the source's log holds changes of the bank
// after the cursor (or has been trimmed past it).
func (s *syncer) pending(ctx context.Context) (bool, error) {
	cur, err := s.cursor(ctx)
	if err != nil {
		return false, err
	}
	cctx, cancel := context.WithTimeout(ctx, s.from.flags.timeout)
	defer cancel()
	resp, err := s.from.bank.ListChanges(cctx, &pb.ListChangesRequest{Parent: bankResource(s.bank), AfterRevision: cur, PageSize: 1})
	if status.Code(err) == codes.FailedPrecondition {
		return true, nil // compacted: catchUp reads a snapshot
	}
	if err != nil {
		return false, fmt.Errorf("reading the partner's change log: %w", err)
	}
	return len(resp.GetChanges()) > 0, nil
}

// catchUp applies every change of the source up to the revision of one
// export: the changes after the cursor, or, when there is no cursor yet or
// the source's log no longer reaches back to it, the whole bank.
func (s *syncer) catchUp(ctx context.Context) error {
	err := s.apply(ctx, false)
	if status.Code(err) == codes.FailedPrecondition {
		// The export refuses a revision its log no longer holds, before
		// it writes any item.
		s.log.Info("the partner's change log no longer reaches the cursor; reading the whole bank", "error", errorMessage(err))
		err = s.apply(ctx, true)
	}
	return err
}

// apply reads one export and applies it: the changes after the cursor, or
// with snapshot (or without a cursor) the whole bank, then prunes.
func (s *syncer) apply(ctx context.Context, snapshot bool) error {
	cur, err := s.cursor(ctx)
	if err != nil {
		return err
	}
	snapshot = snapshot || cur == 0
	ectx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, rev, err := s.export(ectx, cur, snapshot)
	if err != nil {
		return fmt.Errorf("exporting the partner's bank %s: %w", s.bank, err)
	}
	if rev < cur {
		return fmt.Errorf("the partner's bank %s is at revision %d, behind the cursor %d: is --from the server the cursor came from?", s.bank, rev, cur)
	}
	if !snapshot && rev == cur {
		s.log.Info("caught up", "revision", rev, "snapshot", false, "added", s.added, "removed", s.removed)
		return nil
	}
	nr, err := exchange.NewNativeReader(&exportReader{stream: stream})
	if err != nil {
		return fmt.Errorf("reading the partner's export: %w", err)
	}
	b := &syncBatch{s: s, from: cur, header: nr.Header(), snapshot: snapshot}
	if snapshot {
		b.seen = map[string]bool{}
	}
	for {
		it, err := nr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the partner's export: %w", err)
		}
		if err := b.add(ctx, it); err != nil {
			return err
		}
	}
	if snapshot {
		if err := b.prune(ctx); err != nil {
			return err
		}
	}
	if err := b.flush(ctx, rev); err != nil {
		return err
	}
	s.log.Info("caught up", "revision", rev, "snapshot", snapshot, "added", s.added, "removed", s.removed)
	return nil
}

// export starts the source's export: its changes after since, or (snapshot)
// the whole bank; it returns the stream and the revision it shows.
func (s *syncer) export(ctx context.Context, since int64, snapshot bool) (pb.BankService_ExportEntriesClient, int64, error) {
	if snapshot {
		since = 0
	}
	stream, err := s.from.bank.ExportEntries(ctx, &pb.ExportEntriesRequest{Parent: bankResource(s.bank), Format: pb.ListFormat_LIST_FORMAT_NATIVE, SinceRevision: since})
	if err != nil {
		return nil, 0, err
	}
	first, err := stream.Recv()
	if err != nil {
		return nil, 0, err
	}
	return stream, first.GetRevision(), nil
}

// exportReader reads an export's chunks as one byte stream.
type exportReader struct {
	stream pb.BankService_ExportEntriesClient
	buf    []byte
}

func (r *exportReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		m, err := r.stream.Recv()
		if err != nil {
			return 0, err
		}
		r.buf = m.GetChunk()
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// syncBatch gathers the items of one SyncEntries call as a native list.
type syncBatch struct {
	s        *syncer
	header   exchange.NativeHeader
	from     int64 // the cursor the next batch starts from
	snapshot bool
	// seen holds the source ids a snapshot holds, to prune the rest.
	seen  map[string]bool
	buf   bytes.Buffer
	w     *exchange.NativeWriter
	items int
	last  int64 // the revision of the batch's last item
	// pruned are the prunes the last batch sends.
	pruned []string
}

func (b *syncBatch) add(ctx context.Context, it exchange.NativeItem) error {
	if b.w == nil {
		b.buf.Reset()
		w, err := exchange.NewNativeWriter(&b.buf, b.header)
		if err != nil {
			return err
		}
		b.w = w
	}
	var err error
	if it.Removal != nil {
		err = b.w.WriteRemoval(*it.Removal)
		b.last = int64(it.Removal.Revision)
	} else {
		err = b.w.WriteEntry(it.Entry)
		b.last = int64(it.Entry.Revision)
		if b.seen != nil {
			b.seen[strconv.FormatUint(it.Entry.ID, 10)] = true
		}
	}
	if err != nil {
		return err
	}
	b.items++
	if err := b.w.Flush(); err != nil {
		return err
	}
	if b.items >= b.s.batch || b.buf.Len() >= syncBatchBytes {
		// A snapshot moves the cursor only at its end, after pruning:
		// until then a restart reads the whole bank again, which changes
		// nothing already applied. A batch of changes moves it to its
		// last item: the next export after it starts after that item.
		to := b.from
		if !b.snapshot {
			to = b.last
		}
		return b.flush(ctx, to)
	}
	return nil
}

// prune sends, in batches, the removals of the local entries synced from
// the source that the snapshot no longer holds.
func (b *syncBatch) prune(ctx context.Context) error {
	var names []string
	token := ""
	for {
		cctx, cancel := context.WithTimeout(ctx, b.s.to.flags.timeout)
		resp, err := b.s.to.bank.ListEntries(cctx, &pb.ListEntriesRequest{Parent: bankResource(b.s.into), PageSize: 1000, PageToken: token})
		cancel()
		if err != nil {
			return fmt.Errorf("listing the local bank %s: %w", b.s.into, err)
		}
		for _, e := range resp.GetEntries() {
			if p := e.GetProvenance(); p.GetList() == b.s.source && !b.seen[p.GetSourceId()] {
				names = append(names, e.GetName())
			}
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	for len(names) > syncPruneBatch {
		if err := b.send(ctx, b.from, names[:syncPruneBatch]); err != nil {
			return err
		}
		names = names[syncPruneBatch:]
	}
	b.pruned = names
	return nil
}

// flush sends what the batch holds (and the prunes left) and moves the
// cursor to to.
func (b *syncBatch) flush(ctx context.Context, to int64) error {
	if b.w == nil && len(b.pruned) == 0 && to == b.from {
		return nil
	}
	err := b.send(ctx, to, b.pruned)
	b.pruned = nil
	return err
}

func (b *syncBatch) send(ctx context.Context, to int64, prune []string) error {
	req := &pb.SyncEntriesRequest{Parent: bankResource(b.s.into), Source: b.s.source, Partner: b.s.partner,
		FromRevision: b.from, ToRevision: to, Prune: prune}
	if b.w != nil {
		req.List = bytes.Clone(b.buf.Bytes())
	}
	cctx, cancel := context.WithTimeout(ctx, b.s.to.flags.timeout)
	defer cancel()
	resp, err := b.s.to.bank.SyncEntries(cctx, req)
	if err != nil {
		return fmt.Errorf("applying revisions %d to %d: %w", b.from, to, err)
	}
	b.s.added += resp.GetAdded()
	b.s.removed += resp.GetRemoved()
	b.s.log.Info("applied", "from", b.from, "to", to, "items", b.items, "pruned", len(prune), "added", resp.GetAdded(),
		"updated", resp.GetUpdated(), "removed", resp.GetRemoved(), "unchanged", resp.GetUnchanged(), "conflicts", resp.GetConflicts())
	b.from, b.w, b.items = to, nil, 0
	return nil
}

// readPartnerToken reads the token partner add stored for a partner.
func readPartnerToken(dir, name string) (string, error) {
	if err := checkPartnerName(name); err != nil {
		return "", err
	}
	data, err := os.ReadFile(partnerTokenPath(dir, name))
	if os.IsNotExist(err) {
		return "", nil // a partner whose server needs no token
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(data)), nil
}
