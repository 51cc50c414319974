package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mediamatch/mediamatch/index"
	"github.com/mediamatch/mediamatch/match"
	"github.com/mediamatch/mediamatch/server"
	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/bolt"
)

// Defaults of the serve command.
const (
	defaultDB     = "mediamatch.db"
	defaultListen = "127.0.0.1:7077"
	// defaultMetricsListen is beside the API port, on loopback: metrics
	// reveal traffic patterns and are for the operator's scraper only.
	defaultMetricsListen = "127.0.0.1:9077"
	// defaultGrace lets in-flight matches (milliseconds) and uploads
	// (seconds) finish on shutdown.
	defaultGrace = 15 * time.Second
	// defaultCompactInterval: a store on etcd trimmed once a minute holds
	// at most a minute's changes beyond --log-retention.
	defaultCompactInterval = time.Minute
)

func runServe(e *env, args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	stores := addStoreFlags(fs, defaultDB, "bbolt file holding banks, entries and the change log (created if missing)")
	stores.getenv = e.getenv
	retention := fs.Uint64("log-retention", 0, "keep this many of the newest change records and compact older ones; 0 keeps the whole log (the audit trail)")
	compactEvery := fs.Duration("compact-interval", defaultCompactInterval, "with --store and --log-retention: how often this replica compacts the store's change log (a bbolt file is compacted as it is written)")
	listen := fs.String("listen", defaultListen, "address for the gRPC API")
	metricsListen := fs.String("metrics-listen", defaultMetricsListen, "address for Prometheus metrics at /metrics; empty to disable")
	insecure := fs.Bool("insecure", false, "allow listening beyond loopback without TLS and tokens (anyone who reaches the port may then do anything until a token exists)")
	tlsCert := fs.String("tls-cert", "", "serve TLS with this certificate (PEM; with --tls-key)")
	tlsKey := fs.String("tls-key", "", "the private key of --tls-cert (PEM)")
	clientCA := fs.String("client-ca", "", "verify TLS client certificates against the CA certificates of this PEM file; a verified certificate authenticates as the token bound to its subject common name (token create --cert-subject)")
	structures := fs.String("index", "", "search structure per hash type, e.g. pdq=mih,phash=linear (linear, bktree, mih; halves for keypoints); default: the fastest measured")
	grace := fs.Duration("shutdown-grace", defaultGrace, "how long calls in flight may run after SIGINT/SIGTERM")
	auditFlush := fs.Duration("audit-flush", server.DefaultDenialFlushInterval, "how often refused calls, summed up per caller, method and reason, are written to the audit log")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error (debug logs every call)")
	pprofOn := fs.Bool("pprof", false, "also serve Go's profiles at /debug/pprof/ on the metrics listener (keep that listener on loopback)")
	mediaOpts := decodeFlags(fs)
	decodeMemory := fs.Int64("decode-memory", server.DefaultMaxDecodeMemory, "most memory, in bytes, all the decodes running at once may hold by their estimates; a decode that does not fit waits, until its deadline")
	uploadBytes := fs.Int64("max-upload-bytes", server.DefaultMaxUploadBytes, "most bytes of streamed uploads the server holds at once; a declared upload waits for room, an undeclared one that finds none is RESOURCE_EXHAUSTED")
	idle := fs.Duration("stream-idle-timeout", server.DefaultStreamIdleTimeout, "longest an upload stream may send nothing (its header included)")
	uploadTimeout := fs.Duration("upload-timeout", server.DefaultUploadTimeout, "longest the receiving of one streamed upload may take")
	rateLimit := fs.Float64("rate-limit", 0, "calls a second each token (or, while authentication is off, each peer host) may make; more are RESOURCE_EXHAUSTED with a RetryInfo; 0 is no limit")
	rateBurst := fs.Int("rate-burst", 0, "calls a caller may make at once before --rate-limit paces it; 0 is --rate-limit rounded up")
	gifTimeout := fs.Duration("gif-timeout", server.DefaultGIFTimeout, "longest the decoding of one animated GIF may take (other videos: --video-timeout)")
	rules := match.DefaultRules()
	fs.Int64Var(&rules.MaxVideoWork, "max-video-work", match.DefaultMaxVideoWork, "most frame pairs one video match may compare (query frames times candidate frames, summed over candidates); more is RESOURCE_EXHAUSTED")
	if !parseCommand(e, fs, args, "usage: mediamatch serve [flags]\n\nRuns the matcher's gRPC server on an embedded bbolt file (--db), or as one\nof any number of replicas of one store on an etcd cluster (--store etcd://...):\neach builds its index from a snapshot, follows the cluster's change feed, and\nreports SERVING on gRPC health once caught up.", func() bool { return fs.NArg() == 0 }) {
		return exitUsage
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(e.stderr, "mediamatch serve: --log-level: %v\n", err)
		return exitUsage
	}
	log := slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	st, err := parseStructures(*structures)
	if err != nil {
		fmt.Fprintf(e.stderr, "mediamatch serve: --index: %v\n", err)
		return exitUsage
	}
	loopback, err := isLoopback(*listen)
	if err != nil {
		fmt.Fprintf(e.stderr, "mediamatch serve: %v\n", err)
		return exitUsage
	}
	if *pprofOn {
		if local, err := isLoopback(*metricsListen); *metricsListen == "" || err != nil || (!local && !*insecure) {
			fmt.Fprintf(e.stderr, "mediamatch serve: --pprof serves profiles on the metrics listener, which must be on (--metrics-listen) and on loopback, or --insecure given\n")
			return exitUsage
		}
	}
	tlsConfig, err := serverTLS(*tlsCert, *tlsKey, *clientCA)
	if err != nil {
		fmt.Fprintf(e.stderr, "mediamatch serve: %v\n", err)
		return exitUsage
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = serve(ctx, log, serveConfig{
		stores: stores, listen: *listen, metricsListen: *metricsListen, pprof: *pprofOn, grace: *grace, insecure: *insecure, loopback: loopback,
		store: bolt.Options{LogRetention: *retention}, retention: *retention, compactEvery: *compactEvery,
		index: index.Options{Structures: st, Logger: log},
		server: server.Options{Media: *mediaOpts, Rules: &rules, MaxDecodeMemory: *decodeMemory,
			MaxUploadBytes: *uploadBytes, StreamIdleTimeout: *idle, UploadTimeout: *uploadTimeout,
			RateLimit: *rateLimit, RateBurst: *rateBurst, GIFTimeout: *gifTimeout, TLS: tlsConfig, DenialFlushInterval: *auditFlush,
			// Beyond loopback a call always needs a token, even before the
			// first exists; --insecure keeps the old, open behaviour.
			RequireAuth: !loopback && !*insecure, OpenReflection: loopback},
	})
	var refused *refusal
	switch {
	case errors.As(err, &refused):
		fmt.Fprintf(e.stderr, "mediamatch serve: %v\n", err)
		return exitUsage
	case err != nil:
		log.Error("server stopped", "error", err.Error())
		return exitFail
	}
	return exitOK
}

// refusal is a configuration serve will not run with; it says why and
// which flags fix it.
type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }

// serverTLS loads the TLS configuration of --tls-cert, --tls-key and
// --client-ca; nil without them.
func serverTLS(certFile, keyFile, clientCA string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		if clientCA != "" {
			return nil, errors.New("--client-ca needs TLS: give --tls-cert and --tls-key as well")
		}
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, errors.New("--tls-cert and --tls-key go together: give both")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert, --tls-key: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCA != "" {
		pem, err := os.ReadFile(clientCA)
		if err != nil {
			return nil, fmt.Errorf("--client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--client-ca %s: no PEM certificate in it", clientCA)
		}
		// A client without a certificate may still authenticate with a
		// token; one with a certificate must present a valid one.
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// checkExposure refuses a listener beyond loopback without TLS and
// tokens, unless --insecure.
func checkExposure(cfg serveConfig, st store.Store) error {
	if cfg.loopback || cfg.insecure {
		return nil
	}
	tokens, err := st.ListTokens(context.Background())
	if err != nil {
		return err
	}
	var missing, fixes []string
	if cfg.server.TLS == nil {
		missing = append(missing, "TLS")
		fixes = append(fixes, "give --tls-cert FILE and --tls-key FILE")
	}
	if len(tokens) == 0 {
		missing = append(missing, "tokens")
		if cfg.stores.onEtcd() {
			fixes = append(fixes, fmt.Sprintf("create an admin token first: mediamatch token create --store %s --etcd-prefix %s --name admin --role admin", *cfg.stores.url, *cfg.stores.prefix))
		} else {
			fixes = append(fixes, fmt.Sprintf("create an admin token first, while the server is stopped: mediamatch token create --db %s --name admin --role admin", *cfg.stores.db))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &refusal{fmt.Sprintf("refusing to listen on %s, which other machines can reach, without %s: anyone who reaches the port could read, change and delete every bank. To fix it, %s; or listen on loopback (--listen 127.0.0.1:7077); or pass --insecure to serve like this anyway",
		cfg.listen, strings.Join(missing, " and "), strings.Join(fixes, ", and "))}
}

type serveConfig struct {
	// stores picks the store: the bbolt file, or the etcd cluster.
	stores                *storeFlags
	listen, metricsListen string
	// pprof serves Go's profiles beside the metrics.
	pprof bool
	grace time.Duration
	// insecure and loopback: --insecure given; --listen on loopback.
	insecure, loopback bool
	store              bolt.Options
	// retention and compactEvery: --log-retention and --compact-interval,
	// which a store on etcd needs a compactor for.
	retention    uint64
	compactEvery time.Duration
	index        index.Options
	server       server.Options
}

// openState opens the store and builds the index over it.
func openState(ctx context.Context, log *slog.Logger, stores *storeFlags, sopts bolt.Options, iopts index.Options) (store.Store, *index.Index, error) {
	st, err := stores.open(ctx, log, sopts)
	if err != nil {
		return nil, nil, err
	}
	idx, err := index.New(ctx, st, iopts)
	if err != nil {
		st.Close()
		return nil, nil, fmt.Errorf("building the index from %s: %w", stores.describe(), err)
	}
	return st, idx, nil
}

// serve runs the server until ctx is cancelled, then shuts it down
// gracefully: health NOT_SERVING, drain, close the store.
func serve(ctx context.Context, log *slog.Logger, cfg serveConfig) error {
	start := time.Now()
	st, idx, err := openState(ctx, log, cfg.stores, cfg.store, cfg.index)
	if err != nil {
		return err
	}
	defer func() {
		idx.Close()
		if err := st.Close(); err != nil {
			log.Error("closing store", "error", err.Error())
		} else {
			log.Info("store closed", "store", cfg.stores.describe())
		}
	}()
	if err := checkExposure(cfg, st); err != nil {
		return err
	}
	stats := idx.Stats()
	attrs := []any{"store", cfg.stores.describe(), "ms", time.Since(start).Milliseconds(), "revision", uint64(idx.Revision()), "entries", idx.Entries()}
	for typ, st := range idx.Structures() {
		attrs = append(attrs, "index_"+typ, fmt.Sprintf("%s, %d hashes", st, stats[typ]))
	}
	log.Info("index loaded", attrs...)

	lis, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listening for the API on %s: %w (move it with --listen ADDR)", cfg.listen, err)
	}
	cfg.server.Logger = log
	var metricsSrv *http.Server
	if cfg.metricsListen != "" {
		cfg.server.Metrics = server.NewMetrics()
		mlis, err := net.Listen("tcp", cfg.metricsListen)
		if err != nil {
			lis.Close()
			return fmt.Errorf("listening for metrics on %s: %w (move it with --metrics-listen ADDR, or turn metrics off with --metrics-listen \"\")", cfg.metricsListen, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", cfg.server.Metrics.Handler())
		if cfg.pprof {
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
			mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		}
		metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := metricsSrv.Serve(mlis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server", "error", err.Error())
			}
		}()
		log.Info("metrics listening", "addr", mlis.Addr().String())
	}
	srv, err := server.New(st, idx, cfg.server)
	if err != nil {
		lis.Close()
		if metricsSrv != nil {
			metricsSrv.Close()
		}
		return err
	}
	if cfg.stores.onEtcd() && cfg.retention > 0 {
		go compactLoop(ctx, log, st, cfg.retention, cfg.compactEvery)
	}
	served := make(chan error, 1)
	go func() { served <- srv.GRPC().Serve(lis) }()
	log.Info("serving", "addr", lis.Addr().String())

	select {
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", cfg.grace.String())
	srv.Shutdown(cfg.grace)
	if metricsSrv != nil {
		metricsSrv.Close()
	}
	return nil
}

// compactLoop keeps the newest retention change records of a store on
// etcd and compacts older ones, every interval until ctx ends. Every
// replica may run it: a compaction another has done already is a no-op.
func compactLoop(ctx context.Context, log *slog.Logger, st store.Store, retention uint64, every time.Duration) {
	t := time.NewTicker(max(every, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		revs, err := st.Revisions(ctx)
		if err != nil || uint64(revs.Current) <= retention || uint64(revs.Current)-retention <= uint64(revs.Compacted) {
			continue
		}
		through := revs.Current - store.Revision(retention)
		if err := st.Compact(ctx, through); err != nil && ctx.Err() == nil {
			log.Warn("compacting the change log", "through", uint64(through), "error", err.Error())
			continue
		}
		log.Debug("compacted the change log", "through", uint64(through))
	}
}

// parseStructures reads --index: comma-separated type=structure pairs.
func parseStructures(s string) (map[string]index.Structure, error) {
	out := map[string]index.Structure{}
	if s == "" {
		return out, nil
	}
	for _, pair := range strings.Split(s, ",") {
		typ, st, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || typ == "" || st == "" {
			return nil, fmt.Errorf("%q is not type=structure", pair)
		}
		out[typ] = index.Structure(st)
	}
	return out, nil
}

// isLoopback reports whether addr (--listen) is reachable from this
// machine only.
func isLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("--listen %q: %v", addr, err)
	}
	return isLoopbackHost(host), nil
}

// isLoopbackHost reports whether host, without a port, is localhost or a
// loopback address (127.0.0.0/8, ::1, or 127/8 mapped into IPv6).
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return ip != nil && ip.IsLoopback()
}
