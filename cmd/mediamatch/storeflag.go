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
	"os"
	"strings"

	"github.com/mediamatch/mediamatch/store"
	"github.com/mediamatch/mediamatch/store/bolt"
	"github.com/mediamatch/mediamatch/store/etcd"
)

// etcdPasswordEnv holds the password of --etcd-user: kept off the command
// line, which other users of the machine can read.
const etcdPasswordEnv = "MEDIAMATCH_ETCD_PASSWORD"

// storeFlags are the flags that pick a store: the bbolt file of --db (the
// default), or an etcd cluster with --store etcd://HOST:PORT[,HOST:PORT].
type storeFlags struct {
	db, url, prefix, ca, cert, key, user *string
	// getenv reads etcdPasswordEnv; default os.Getenv.
	getenv func(string) string
}

// addStoreFlags declares the store flags; dbDefault is --db's default.
func addStoreFlags(fs *flag.FlagSet, dbDefault, dbUsage string) *storeFlags {
	return &storeFlags{
		db:     fs.String("db", dbDefault, dbUsage),
		url:    fs.String("store", "", "keep the store on an etcd cluster instead of --db: etcd://HOST:PORT[,HOST:PORT...] (the members' client addresses); every replica given the same cluster and --etcd-prefix serves the same banks"),
		prefix: fs.String("etcd-prefix", etcd.DefaultPrefix, "key prefix of the store in the etcd cluster (with --store)"),
		ca:     fs.String("etcd-ca", "", "connect to etcd over TLS, trusting the CA certificates of this PEM file (with --store)"),
		cert:   fs.String("etcd-cert", "", "client certificate (PEM) for an etcd cluster that requires one; with --etcd-key and --etcd-ca"),
		key:    fs.String("etcd-key", "", "the private key of --etcd-cert (PEM)"),
		user:   fs.String("etcd-user", "", "etcd user for a cluster with authentication on; the password is read from "+etcdPasswordEnv),
	}
}

// onEtcd reports whether --store names an etcd cluster.
func (f *storeFlags) onEtcd() bool { return *f.url != "" }

// describe names the store for logs and messages.
func (f *storeFlags) describe() string {
	if f.onEtcd() {
		return *f.url + " (prefix " + *f.prefix + ")"
	}
	return *f.db
}

// etcdOptions reads --store and the etcd flags into the backend's options.
func (f *storeFlags) etcdOptions(log *slog.Logger) (etcd.Options, error) {
	rest, ok := strings.CutPrefix(*f.url, "etcd://")
	if !ok || rest == "" {
		return etcd.Options{}, fmt.Errorf("--store %q: want etcd://HOST:PORT[,HOST:PORT...]", *f.url)
	}
	scheme := "http://"
	tlsConfig, err := f.etcdTLS()
	if err != nil {
		return etcd.Options{}, err
	}
	if tlsConfig != nil {
		scheme = "https://"
	}
	var endpoints []string
	for _, hp := range strings.Split(rest, ",") {
		if _, _, err := net.SplitHostPort(hp); err != nil || strings.Contains(hp, "/") {
			return etcd.Options{}, fmt.Errorf("--store %q: %q is not HOST:PORT", *f.url, hp)
		}
		endpoints = append(endpoints, scheme+hp)
	}
	opts := etcd.Options{Endpoints: endpoints, Prefix: *f.prefix, TLS: tlsConfig, Logger: log}
	if *f.user != "" {
		getenv := f.getenv
		if getenv == nil {
			getenv = os.Getenv
		}
		opts.Username, opts.Password = *f.user, getenv(etcdPasswordEnv)
		if opts.Password == "" {
			return etcd.Options{}, fmt.Errorf("--etcd-user %s: set its password in %s", *f.user, etcdPasswordEnv)
		}
	}
	return opts, nil
}

// etcdTLS loads --etcd-ca, --etcd-cert and --etcd-key; nil without them.
func (f *storeFlags) etcdTLS() (*tls.Config, error) {
	if *f.ca == "" {
		if *f.cert != "" || *f.key != "" {
			return nil, errors.New("--etcd-cert and --etcd-key need --etcd-ca")
		}
		return nil, nil
	}
	pem, err := os.ReadFile(*f.ca)
	if err != nil {
		return nil, fmt.Errorf("--etcd-ca: %w", err)
	}
	cfg := &tls.Config{RootCAs: x509.NewCertPool(), MinVersion: tls.VersionTLS12}
	if !cfg.RootCAs.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--etcd-ca %s: no PEM certificate in it", *f.ca)
	}
	if (*f.cert == "") != (*f.key == "") {
		return nil, errors.New("--etcd-cert and --etcd-key go together: give both")
	}
	if *f.cert != "" {
		c, err := tls.LoadX509KeyPair(*f.cert, *f.key)
		if err != nil {
			return nil, fmt.Errorf("--etcd-cert, --etcd-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return cfg, nil
}

// open opens the store the flags pick; bopts are used for a bbolt file.
func (f *storeFlags) open(ctx context.Context, log *slog.Logger, bopts bolt.Options) (store.Store, error) {
	if !f.onEtcd() {
		return bolt.Open(*f.db, bopts)
	}
	opts, err := f.etcdOptions(log)
	if err != nil {
		return nil, err
	}
	st, err := etcd.Open(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("opening the store on etcd %s: %w", *f.url, err)
	}
	return st, nil
}
