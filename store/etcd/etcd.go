package etcd

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/record"
)

// SchemaVersion is the layout this package writes (DESIGN.md, "The etcd
// backend"). A store of a newer layout is refused.
const SchemaVersion = 1

// Defaults of Options, each with its reason.
const (
	// DefaultPrefix keeps the store's keys apart from anything else the
	// cluster holds.
	DefaultPrefix = "mediamatch/"
	// DefaultDialTimeout bounds connecting to the cluster at Open.
	DefaultDialTimeout = 5 * time.Second
	// DefaultMaxRequestBytes is etcd's default --max-request-bytes (1.5
	// MiB): no transaction this store sends is larger.
	DefaultMaxRequestBytes = 1536 * 1024
	// DefaultMaxTxnOps is etcd's default --max-txn-ops.
	DefaultMaxTxnOps = 128
	// DefaultChunkBytes is the largest value written: a video's frames
	// (up to 1.6 MB at store.MaxFrames) are split into chunks of this
	// size, so that several fit one request.
	DefaultChunkBytes = 256 << 10
	// DefaultLeaseTTL is how long a writer that died in the middle of a
	// commit of several transactions blocks the others before they roll
	// its writes back.
	DefaultLeaseTTL = 10 * time.Second
)

// Options configure Open. The zero value of each field means its default.
type Options struct {
	// Endpoints are the cluster's client URLs ("https://10.0.0.1:2379").
	// Required.
	Endpoints []string
	// Prefix is put before every key; default DefaultPrefix. Two stores
	// in one cluster need prefixes neither of which starts the other.
	Prefix string
	// TLS, when set, is used to connect (the cluster's CA in RootCAs, a
	// client certificate in Certificates for clusters that require one);
	// nil connects without TLS.
	TLS *tls.Config
	// Username and Password, when Username is set, authenticate to a
	// cluster with authentication enabled; the user needs read and write
	// on the prefix's range. Empty: no authentication.
	Username, Password string
	// DialTimeout bounds connecting at Open; default DefaultDialTimeout.
	DialTimeout time.Duration
	// MaxRequestBytes and MaxTxnOps must not exceed the cluster's
	// --max-request-bytes and --max-txn-ops; default etcd's defaults
	// (DefaultMaxRequestBytes, DefaultMaxTxnOps). A commit larger than
	// one request is split (see the package doc).
	MaxRequestBytes int
	MaxTxnOps       int
	// ChunkBytes is the largest value written; default DefaultChunkBytes,
	// at most a quarter of MaxRequestBytes.
	ChunkBytes int
	// LeaseTTL is the lease of this store's writer mark; default
	// DefaultLeaseTTL (whole seconds, at least 2).
	LeaseTTL time.Duration
	// KeepHistory leaves etcd's own revision history alone at Compact,
	// which then only deletes the store's change records: set it when the
	// cluster's operator compacts (--auto-compaction-*), or when other
	// programs share the cluster (etcd compacts its whole key space at
	// once). Unset, Compact also compacts etcd's history up to the
	// revision that held the last change compacted.
	KeepHistory bool
	// Now returns the time commits record; default time.Now.
	Now func() time.Time
	// Logger logs what needs an operator (a writer rolled back); default
	// slog.Default().
	Logger *slog.Logger
}

// Store is a store.Store on an etcd cluster.
type Store struct {
	cli    *clientv3.Client
	opts   Options
	p      string // the prefix
	owner  string // this store's writer id
	lease  clientv3.LeaseID
	budget int // bytes of keys and values one transaction may carry

	mu sync.Mutex // serializes this process's commits

	ctx    context.Context // ended by Close
	cancel context.CancelFunc
	once   sync.Once
	wg     sync.WaitGroup // watches and the lease keeper

	// crashAfter, when above 0, makes a commit of several transactions
	// stop after that many, as if its process died (tests only).
	crashAfter int
}

// Open connects to the cluster and opens the store under Options.Prefix,
// creating it when the prefix holds no key.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if len(opts.Endpoints) == 0 {
		return nil, fmt.Errorf("%w: no etcd endpoints", store.ErrInvalid)
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	if opts.MaxRequestBytes <= 0 {
		opts.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if opts.MaxTxnOps <= 0 {
		opts.MaxTxnOps = DefaultMaxTxnOps
	}
	if opts.ChunkBytes <= 0 {
		opts.ChunkBytes = DefaultChunkBytes
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = DefaultLeaseTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	switch {
	case opts.MaxTxnOps < 8:
		return nil, fmt.Errorf("%w: MaxTxnOps %d: at least 8", store.ErrInvalid, opts.MaxTxnOps)
	case opts.MaxRequestBytes < 64<<10:
		return nil, fmt.Errorf("%w: MaxRequestBytes %d: at least 64 KiB", store.ErrInvalid, opts.MaxRequestBytes)
	case opts.ChunkBytes > opts.MaxRequestBytes/4:
		return nil, fmt.Errorf("%w: ChunkBytes %d over a quarter of MaxRequestBytes %d", store.ErrInvalid, opts.ChunkBytes, opts.MaxRequestBytes)
	case opts.LeaseTTL < 2*time.Second:
		return nil, fmt.Errorf("%w: LeaseTTL %v: at least 2s", store.ErrInvalid, opts.LeaseTTL)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   opts.Endpoints,
		DialTimeout: opts.DialTimeout,
		TLS:         opts.TLS,
		Username:    opts.Username,
		Password:    opts.Password,
		Logger:      zap.NewNop(),
		// Replies may be large (pages of entries); requests never are.
		MaxCallRecvMsgSize: 256 << 20,
		MaxCallSendMsgSize: opts.MaxRequestBytes + 64<<10,
	})
	if err != nil {
		return nil, fmt.Errorf("connecting to etcd at %v: %w", opts.Endpoints, err)
	}
	s := &Store{cli: cli, opts: opts, p: opts.Prefix,
		// The head, the intent and protobuf framing take the rest.
		budget: opts.MaxRequestBytes - 32<<10}
	var id [8]byte
	rand.Read(id[:])
	s.owner = hex.EncodeToString(id[:])
	if err := s.init(ctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("opening the store at %v under %q: %w", opts.Endpoints, opts.Prefix, err)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	ka, err := cli.KeepAlive(s.ctx, s.lease)
	if err != nil {
		s.cancel()
		cli.Close()
		return nil, fmt.Errorf("keeping the writer lease alive: %w", err)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for range ka {
		}
	}()
	return s, nil
}

// init checks the store's head, creating a new store when the prefix is
// empty, and grants the writer lease.
func (s *Store) init(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.DialTimeout)
	defer cancel()
	h := head{schema: SchemaVersion}
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.Version(s.headKey()), "=", 0),
			// An empty prefix, not another program's keys.
			clientv3.Compare(clientv3.CreateRevision(s.p).WithPrefix(), "=", 0)).
		Then(clientv3.OpPut(s.headKey(), string(s.seal(s.headKey(), h.encode())))).
		Else(clientv3.OpGet(s.headKey())).Commit()
	if err != nil {
		return etcdErr(err)
	}
	if !resp.Succeeded {
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 0 {
			return fmt.Errorf("%w: the prefix holds keys but no store head", store.ErrNotStore)
		}
		if _, err := s.decodeHead(kvs[0].Value); err != nil {
			return err
		}
	}
	lease, err := s.cli.Grant(ctx, int64(s.opts.LeaseTTL/time.Second))
	if err != nil {
		return fmt.Errorf("granting the writer lease: %w", etcdErr(err))
	}
	s.lease = lease.ID
	return nil
}

// Close implements store.Store: watches end with ErrClosed, and the
// writer lease is revoked.
func (s *Store) Close() error {
	s.once.Do(func() {
		s.mu.Lock() // let a running commit finish
		s.cancel()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		s.cli.Revoke(ctx, s.lease)
		cancel()
		s.mu.Unlock()
		s.wg.Wait()
		s.cli.Close()
	})
	return nil
}

func (s *Store) closed() bool { return s.ctx.Err() != nil }

// opCtx ends when ctx does or the store closes.
func (s *Store) opCtx(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if s.closed() {
		return nil, nil, store.ErrClosed
	}
	c, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	return c, func() { stop(); cancel() }, nil
}

// closedErr turns the cancellation of an operation by Close into
// ErrClosed.
func (s *Store) closedErr(err error) error {
	if err != nil && s.closed() && errors.Is(err, context.Canceled) {
		return store.ErrClosed
	}
	return err
}

// etcdErr maps etcd's errors to the store's: a compacted revision to
// ErrCompacted; the rest is wrapped as it is.
func etcdErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, rpctypes.ErrCompacted):
		return fmt.Errorf("%w: etcd has compacted the revision this read needs; read a fresh snapshot", store.ErrCompacted)
	}
	return fmt.Errorf("etcd: %w", err)
}

// Keys. Every key is the prefix, a family and a name; records are sealed
// (package record) with the key after the prefix as their context.
func (s *Store) headKey() string             { return s.p + "meta/head" }
func (s *Store) intentKey() string           { return s.p + "meta/intent" }
func (s *Store) ownerKey() string            { return s.p + "meta/owner" }
func (s *Store) bankKey(name string) string  { return s.p + "banks/" + name }
func (s *Store) countKey(name string) string { return s.p + "counts/" + name }
func (s *Store) entryKey(id uint64) string   { return fmt.Sprintf("%sentries/%016x", s.p, id) }
func (s *Store) bulkPrefix(id uint64) string { return fmt.Sprintf("%sbulk/%016x/", s.p, id) }
func (s *Store) bulkKey(id uint64, n int) string {
	return fmt.Sprintf("%s%04x", s.bulkPrefix(id), n)
}
func (s *Store) memberPrefix(bank string) string { return s.p + "members/" + bank + "/" }
func (s *Store) memberKey(bank string, id uint64) string {
	return fmt.Sprintf("%s%016x", s.memberPrefix(bank), id)
}
func (s *Store) identKey(bank string, identity [32]byte) string {
	return s.p + "idents/" + bank + "/" + hex.EncodeToString(identity[:])
}
func (s *Store) changeKey(rev uint64) string   { return fmt.Sprintf("%schanges/%016x", s.p, rev) }
func (s *Store) tokenKey(name string) string   { return s.p + "tokens/" + name }
func (s *Store) revokedKey(name string) string { return s.p + "revoked/" + name }
func (s *Store) subjectKey(subj string) string {
	return s.p + "subjects/" + hex.EncodeToString([]byte(subj))
}
func (s *Store) auditKey(seq uint64) string { return fmt.Sprintf("%saudit/%016x", s.p, seq) }
func (s *Store) family(f string) (string, string) {
	return s.p + f + "/", clientv3.GetPrefixRangeEnd(s.p + f + "/")
}

// recordBucket is the context every record is sealed with, beside its key.
var recordBucket = []byte("etcd")

func (s *Store) seal(key string, payload []byte) []byte {
	return record.Seal(recordBucket, []byte(key[len(s.p):]), payload)
}

func (s *Store) open(key string, value []byte) ([]byte, error) {
	p, err := record.Open(recordBucket, []byte(key[len(s.p):]), value)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", key, err)
	}
	return p, nil
}

// head is the store's one key of counters. It is written by the last
// transaction of every commit, so its mod revision marks where commits
// end.
type head struct {
	schema    uint64
	rev       uint64 // the store's revision: that of its last change
	compacted uint64 // the highest change record discarded
	lastID    uint64 // the last entry id given
	auditSeq  uint64 // the last audit record's number
	banks     uint64 // banks held
	tokens    uint64 // tokens held
	seq       uint64 // commits made, so that a commit can tell it landed
}

func (h *head) encode() []byte {
	var b []byte
	for _, v := range []uint64{h.schema, h.rev, h.compacted, h.lastID, h.auditSeq, h.banks, h.tokens, h.seq} {
		b = binary.AppendUvarint(b, v)
	}
	return b
}

func (s *Store) decodeHead(v []byte) (head, error) {
	p, err := s.open(s.headKey(), v)
	if err != nil {
		return head{}, err
	}
	var h head
	for _, f := range []*uint64{&h.schema, &h.rev, &h.compacted, &h.lastID, &h.auditSeq, &h.banks, &h.tokens, &h.seq} {
		n, k := binary.Uvarint(p)
		if k <= 0 {
			if f == &h.schema {
				return head{}, fmt.Errorf("%w: store head of %d bytes", store.ErrCorrupt, len(p))
			}
			break // a field added later, absent
		}
		*f, p = n, p[k:]
	}
	switch {
	case h.schema > SchemaVersion:
		return head{}, fmt.Errorf("%w: schema %d, this program reads %d: run a newer mediamatch", store.ErrSchemaTooNew, h.schema, SchemaVersion)
	case h.schema < 1:
		return head{}, fmt.Errorf("%w: schema %d", store.ErrSchemaTooOld, h.schema)
	case h.compacted > h.rev:
		return head{}, fmt.Errorf("%w: compacted revision %d beyond the current %d", store.ErrCorrupt, h.compacted, h.rev)
	}
	return h, nil
}
