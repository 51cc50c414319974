package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/mediamatch/mediamatch/index"
	"github.com/mediamatch/mediamatch/match"
	"github.com/mediamatch/mediamatch/media"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/store"
)

// Limits of the gRPC server, each with the reason for its value.
const (
	// DefaultMaxMessageBytes bounds one request message: large enough for a
	// typical photo in a unary call, small enough that many concurrent
	// calls fit in memory. Larger media goes through the streaming calls.
	DefaultMaxMessageBytes = 4 << 20
	// DefaultMaxConcurrentStreams bounds the calls in flight per client
	// connection, so one client cannot monopolise the decoders.
	DefaultMaxConcurrentStreams = 64
	// DefaultConnectionTimeout bounds the connection handshake, so half-open
	// connections do not pile up.
	DefaultConnectionTimeout = 10 * time.Second
	// keepaliveMinTime is the most often a client may ping; more often and
	// the server closes the connection (a ping flood costs CPU).
	keepaliveMinTime = 10 * time.Second
	// maxConnectionIdle closes connections with no calls for this long.
	maxConnectionIdle = 15 * time.Minute
	// maxStreamChunks bounds the messages of one upload stream, so that a
	// stream of empty chunks cannot run forever.
	maxStreamChunks = 1 << 16
	// DefaultGIFTimeout bounds the decoding of one animated GIF, which
	// runs in the server frame by frame: its frames' pixels are bounded
	// (media.DefaultMaxTotalPixels, a gigapixel), and this bounds the
	// time they take however busy the cores (a 1.7 MB GIF took 17.5 s).
	DefaultGIFTimeout = 30 * time.Second
	// DefaultMaxDecodeMemory bounds the memory all decodes running at once
	// may hold, by their estimates (decodeCost): a 50-megapixel photo
	// with its hashing (about 800 MB) fits, and so do about twenty 2
	// megapixel ones at once; a count of decodes alone let a 32-core host
	// hold 15 GB.
	DefaultMaxDecodeMemory = 1 << 30
)

// Options configures a Server. The zero value is usable.
type Options struct {
	// Media is the budget for every uploaded file.
	Media media.Options
	// MaxMessageBytes bounds one request message. Default DefaultMaxMessageBytes.
	MaxMessageBytes int
	// MaxConcurrentStreams bounds the calls per connection. Default
	// DefaultMaxConcurrentStreams.
	MaxConcurrentStreams uint32
	// MaxConcurrentDecodes bounds the media decodes running at once.
	// Default: the number of CPUs.
	MaxConcurrentDecodes int
	// GIFTimeout bounds the decoding of one animated GIF; longer is
	// RESOURCE_EXHAUSTED. Default DefaultGIFTimeout. (A still image's
	// decode is bounded by its pixels and memory; a video's by
	// Media.VideoTimeout.)
	GIFTimeout time.Duration
	// MaxUploadBytes bounds the bytes of all uploads the server holds at
	// once: streamed ones, and a unary call's media while it is hashed.
	// Default DefaultMaxUploadBytes.
	MaxUploadBytes int64
	// StreamIdleTimeout is the longest an upload stream may send nothing.
	// Default DefaultStreamIdleTimeout.
	StreamIdleTimeout time.Duration
	// UploadTimeout bounds the receiving of one streamed upload. Default
	// DefaultUploadTimeout.
	UploadTimeout time.Duration
	// MaxDecodeMemory bounds the memory, in bytes, that the decodes running
	// at once may hold, each estimated from its header before it starts
	// (Media.MaxDecodeMemory bounds one); a decode that does not fit waits
	// for others to finish, until its deadline. Default
	// DefaultMaxDecodeMemory.
	MaxDecodeMemory int64
	// ConnectionTimeout bounds the connection handshake. Default
	// DefaultConnectionTimeout.
	ConnectionTimeout time.Duration
	// Logger receives one line per call (method, code, duration, peer; never
	// payloads): at debug level for successes, info for failures. Default
	// slog.Default().
	Logger *slog.Logger
	// Metrics receives the server's measurements; nil for none.
	Metrics *Metrics
	// Rules are the matching rules. Default match.DefaultRules().
	Rules *match.Rules
	// RequireAuth refuses every call without a valid token (health
	// aside), even while the store holds no token. Without it, a store
	// without tokens lets every call through, as anonymous; once a token
	// exists, calls need one either way. Default false; serve sets it
	// when listening beyond loopback.
	RequireAuth bool
	// OpenReflection lets every caller use server reflection; without it,
	// only admins (or everyone while authentication is off). Default
	// false; serve sets it when listening on loopback.
	OpenReflection bool
	// DenialFlushInterval is how often refused calls, summed up in memory,
	// are written to the audit log (and at Shutdown). Default
	// DefaultDenialFlushInterval.
	DenialFlushInterval time.Duration
	// RateLimit is the calls a second each caller may make (a token, or a
	// peer host while authentication is off), health aside; more are
	// RESOURCE_EXHAUSTED with a RetryInfo. 0, the default, is no limit.
	RateLimit float64
	// RateBurst is how many calls a caller may make at once before
	// RateLimit paces it. Default: RateLimit, rounded up.
	RateBurst int
	// TLS, when set, serves TLS with this configuration (its ClientCAs and
	// ClientAuth decide client certificates); nil serves plaintext.
	TLS *tls.Config
	// TokenRefresh is how long tokens read from the store are used before
	// they are read again (see DefaultTokenRefresh, the default).
	TokenRefresh time.Duration
}

// Server implements the mediamatch.v1 services: reads and writes go to the
// store, matches to the index that follows it.
type Server struct {
	pb.UnimplementedMatchServiceServer
	pb.UnimplementedBankServiceServer
	pb.UnimplementedTokenServiceServer
	pb.UnimplementedAdminServiceServer

	st      store.Store
	idx     *index.Index
	matcher *match.Matcher
	opts    Options
	authz   map[string]authzRule
	// offlineActor, for Offline (no index, no gRPC), is the actor of
	// every commit.
	offlineActor string
	log          *slog.Logger
	metrics      *Metrics
	decodeSlots  chan struct{}
	decodeMemory *memoryBudget
	uploads      *memoryBudget // bytes of streamed uploads held
	rates        *rateLimiter  // nil without Options.RateLimit
	health       *health.Server
	grpc         *grpc.Server
	stopped      chan struct{}
	stopOnce     sync.Once
	// denied holds refused calls until they are written (denials.go).
	denied denials
	// tokens are the store's tokens, as authentication reads them.
	tokens tokenCache
}

// healthInterval is how often the server compares its index with the
// store for the health service.
const healthInterval = time.Second

// New returns a server over st and the index that follows it, with its
// gRPC server built and every service registered (mediamatch.v1, health,
// reflection). It fails only when opts.Rules are invalid.
func New(st store.Store, idx *index.Index, opts Options) (*Server, error) {
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if opts.MaxConcurrentStreams == 0 {
		opts.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	if opts.MaxConcurrentDecodes <= 0 {
		opts.MaxConcurrentDecodes = runtime.NumCPU()
	}
	if opts.ConnectionTimeout <= 0 {
		opts.ConnectionTimeout = DefaultConnectionTimeout
	}
	if opts.MaxDecodeMemory <= 0 {
		opts.MaxDecodeMemory = DefaultMaxDecodeMemory
	}
	if opts.GIFTimeout <= 0 {
		opts.GIFTimeout = DefaultGIFTimeout
	}
	if opts.MaxUploadBytes <= 0 {
		opts.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if opts.StreamIdleTimeout <= 0 {
		opts.StreamIdleTimeout = DefaultStreamIdleTimeout
	}
	if opts.UploadTimeout <= 0 {
		opts.UploadTimeout = DefaultUploadTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.DenialFlushInterval <= 0 {
		opts.DenialFlushInterval = DefaultDenialFlushInterval
	}
	if opts.TokenRefresh <= 0 {
		opts.TokenRefresh = DefaultTokenRefresh
	}
	rules := match.DefaultRules()
	if opts.Rules != nil {
		rules = *opts.Rules
	}
	matcher, err := match.New(idx, rules)
	if err != nil {
		return nil, err
	}
	s := &Server{
		matcher:      matcher,
		st:           st,
		idx:          idx,
		opts:         opts,
		authz:        authzTable(),
		log:          opts.Logger,
		metrics:      opts.Metrics,
		decodeSlots:  make(chan struct{}, opts.MaxConcurrentDecodes),
		decodeMemory: newMemoryBudget(opts.MaxDecodeMemory),
		uploads:      newMemoryBudget(opts.MaxUploadBytes),
		rates:        newRateLimiter(opts.RateLimit, opts.RateBurst),
		health:       health.NewServer(),
		stopped:      make(chan struct{}),
		tokens:       tokenCache{st: st, refresh: opts.TokenRefresh},
	}
	if s.metrics != nil {
		s.metrics.watch(st, idx)
	}
	if st, err := media.VideoSupport(opts.Media); err != nil {
		s.log.Warn("video decoding unavailable: videos other than GIF fail with FAILED_PRECONDITION", "reason", err.Error())
	} else {
		s.log.Info("video decoding available", "ffmpeg", st.FFmpeg, "version", st.Version, "network_isolated", st.NetworkIsolated)
	}
	sopts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(opts.MaxMessageBytes),
		grpc.MaxConcurrentStreams(opts.MaxConcurrentStreams),
		grpc.ConnectionTimeout(opts.ConnectionTimeout),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: keepaliveMinTime, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: maxConnectionIdle}),
		grpc.ChainUnaryInterceptor(s.unaryObserve, s.unaryAuth),
		grpc.ChainStreamInterceptor(s.streamObserve, s.streamAuth),
	}
	if opts.TLS != nil {
		sopts = append(sopts, grpc.Creds(credentials.NewTLS(opts.TLS)))
	}
	s.grpc = grpc.NewServer(sopts...)
	pb.RegisterMatchServiceServer(s.grpc, s)
	pb.RegisterBankServiceServer(s.grpc, s)
	pb.RegisterTokenServiceServer(s.grpc, s)
	pb.RegisterAdminServiceServer(s.grpc, s)
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	hs := &healthState{}
	s.checkHealth(hs)
	go s.watchIndex(hs)
	go s.flushLoop(opts.DenialFlushInterval)
	return s, nil
}

func (s *Server) setHealth(st healthpb.HealthCheckResponse_ServingStatus) {
	for _, name := range []string{"", pb.MatchService_ServiceDesc.ServiceName, pb.BankService_ServiceDesc.ServiceName, pb.TokenService_ServiceDesc.ServiceName, pb.AdminService_ServiceDesc.ServiceName} {
		s.health.SetServingStatus(name, st)
	}
}

// healthState is what the health loop knows between its checks.
type healthState struct {
	// target is the store's revision when the server started (once
	// known), which the index must show before the server reports
	// SERVING; caught is set once it has, and stays set.
	target  store.Revision
	known   bool
	caught  bool
	serving bool
	checked bool
}

// watchIndex reports NOT_SERVING until the index has caught up with the
// store's revision at start (a replica on etcd starts from a snapshot and
// applies the changes since), and while the index cannot follow the store
// (its matches would miss the writes since); SERVING otherwise.
func (s *Server) watchIndex(hs *healthState) {
	t := time.NewTicker(healthInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stopped:
			return
		case <-t.C:
		}
		s.checkHealth(hs)
	}
}

// checkHealth compares the index with the store once and sets the health
// service's status when it changes.
func (s *Server) checkHealth(hs *healthState) {
	if !hs.caught {
		if !hs.known {
			ctx, cancel := context.WithTimeout(context.Background(), healthInterval)
			revs, err := s.st.Revisions(ctx)
			cancel()
			if err != nil {
				s.log.Warn("reading the store's revision to catch up to", "error", err.Error())
			} else {
				hs.target, hs.known = revs.Current, true
			}
		}
		if hs.known && s.idx.Revision() >= hs.target {
			hs.caught = true
			s.log.Info("index caught up with the store", "revision", uint64(s.idx.Revision()))
		}
	}
	err := s.idx.Err()
	serving := hs.caught && err == nil
	if hs.checked && serving == hs.serving {
		return
	}
	switch {
	case err != nil:
		s.log.Error("index cannot follow the store: reporting NOT_SERVING", "error", err.Error())
	case !serving:
		s.log.Info("index catching up with the store: reporting NOT_SERVING", "index_revision", uint64(s.idx.Revision()), "target", uint64(hs.target))
	case hs.checked:
		s.log.Info("index follows the store again: reporting SERVING")
	}
	if serving {
		s.setHealth(healthpb.HealthCheckResponse_SERVING)
	} else {
		s.setHealth(healthpb.HealthCheckResponse_NOT_SERVING)
	}
	hs.serving, hs.checked = serving, true
}

// GRPC returns the gRPC server, to Serve on a listener.
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// Shutdown stops the server gracefully: health turns NOT_SERVING, new
// calls are refused, calls in flight finish, and after grace any still
// running are cancelled; then the refused calls not yet in the audit log
// are written. The caller closes the index and the store afterwards.
func (s *Server) Shutdown(grace time.Duration) {
	s.stopOnce.Do(func() { close(s.stopped) })
	s.health.Shutdown()
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(grace):
		s.log.Warn("grace period over; cancelling calls in flight", "grace", grace)
		s.grpc.Stop()
		<-done
	}
	s.flushDenials(context.Background())
}

// unaryObserve logs and measures every unary call, turns errors into
// statuses and panics into Internal errors.
func (s *Server) unaryObserve(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic in handler", "method", info.FullMethod, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			resp, err = nil, status.Error(codes.Internal, "internal error")
		}
		s.observe(ctx, info.FullMethod, start, err)
	}()
	resp, err = handler(ctx, req)
	return resp, s.statusOf(info.FullMethod, err)
}

// streamObserve is unaryObserve for streaming calls.
func (s *Server) streamObserve(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic in handler", "method", info.FullMethod, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = status.Error(codes.Internal, "internal error")
		}
		s.observe(ss.Context(), info.FullMethod, start, err)
	}()
	return s.statusOf(info.FullMethod, handler(srv, ss))
}

// statusOf converts a handler's error, logging the ones that are our fault.
func (s *Server) statusOf(method string, err error) error {
	st := toStatus(err)
	if err != nil && status.Code(st) == codes.Internal {
		s.log.Error("internal error", "method", method, "error", err.Error())
	}
	return st
}

func (s *Server) observe(ctx context.Context, method string, start time.Time, err error) {
	elapsed := time.Since(start)
	code := status.Code(err)
	if s.metrics != nil {
		s.metrics.observeRPC(method, code, elapsed)
	}
	attrs := []any{"method", method, "code", code.String(), "ms", float64(elapsed.Microseconds()) / 1000}
	if addr := peerAddr(ctx); addr != "" {
		attrs = append(attrs, "peer", addr)
	}
	// Successful calls log at debug level: at thousands of matches a
	// second, info would be mostly noise.
	level := slog.LevelDebug
	if err != nil {
		level = slog.LevelInfo
		attrs = append(attrs, "error", status.Convert(err).Message())
	}
	s.log.Log(ctx, level, "rpc", attrs...)
}

// peerAddr is the caller's network address, or "" when unknown.
func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}
