package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/server"
)

// clientFlags are the flags of every command that talks to a server.
type clientFlags struct {
	server  string
	timeout time.Duration
	// token is the API token sent with every call.
	token string
	// tlsCA, when set, connects with TLS, trusting the CA certificates
	// in that PEM file; tlsCert and tlsKey are a client certificate.
	tlsCA, tlsCert, tlsKey string
	// insecure lets the token go in plaintext to a server beyond loopback.
	insecure bool
}

func (c *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.server, "server", defaultListen, "address of the mediamatch server")
	fs.DurationVar(&c.timeout, "timeout", 60*time.Second, "deadline of each call")
	fs.StringVar(&c.token, "token", "", "API token sent as \"authorization: bearer TOKEN\" (better set as MEDIAMATCH_TOKEN, which other users cannot read in the process list)")
	fs.StringVar(&c.tlsCA, "tls-ca", "", "connect with TLS, trusting the CA certificates of this PEM file")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "client certificate (PEM) to present, for a server with --client-ca; needs --tls-key and --tls-ca")
	fs.StringVar(&c.tlsKey, "tls-key", "", "the client certificate's private key (PEM)")
	fs.BoolVar(&c.insecure, "insecure", false, "send --token without TLS to a server beyond loopback (anyone on the path can then read and reuse it)")
}

// bearerToken sends a token with every call.
type bearerToken struct {
	token string
	// tls is set when the token must only go over TLS.
	tls bool
}

func (b bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "bearer " + b.token}, nil
}

// RequireTransportSecurity is true beyond loopback (dial refuses a token
// without TLS there first, saying which flags to use); on loopback, and
// with --insecure, a token also goes to a plaintext server.
func (b bearerToken) RequireTransportSecurity() bool { return b.tls }

// transport returns the dial option of the connection's security.
func (c clientFlags) transport() (grpc.DialOption, error) {
	if c.tlsCA == "" {
		if c.tlsCert != "" || c.tlsKey != "" {
			return nil, errors.New("--tls-cert and --tls-key need --tls-ca (the CA that signed the server's certificate)")
		}
		return grpc.WithTransportCredentials(insecure.NewCredentials()), nil
	}
	pem, err := os.ReadFile(c.tlsCA)
	if err != nil {
		return nil, fmt.Errorf("--tls-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--tls-ca %s: no PEM certificate in it", c.tlsCA)
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if c.tlsCert != "" || c.tlsKey != "" {
		cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert, --tls-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(cfg)), nil
}

// targetIsLoopback reports whether a --server target is on this machine:
// a loopback address or localhost (as serve's isLoopback decides for
// --listen), or a Unix socket.
func targetIsLoopback(target string) bool {
	if strings.HasPrefix(target, "unix:") || strings.HasPrefix(target, "unix-abstract:") {
		return true
	}
	for _, scheme := range []string{"dns:///", "passthrough:///"} {
		target = strings.TrimPrefix(target, scheme)
	}
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		host = target // a target without a port
	}
	return isLoopbackHost(host)
}

// client is a connection to a mediamatch server.
type client struct {
	conn  *grpc.ClientConn
	match pb.MatchServiceClient
	bank  pb.BankServiceClient
	token pb.TokenServiceClient
	admin pb.AdminServiceClient
	flags clientFlags
}

// maxResponseBytes is the largest response the client reads: the server
// keeps every entry and list page under 4 MiB, and this leaves room.
const maxResponseBytes = 16 << 20

// chunkSize is the piece of media sent per streaming message.
const chunkSize = 512 << 10

// unaryMediaLimit is the largest media sent in a unary call; larger media
// is streamed, as one message may carry at most 4 MiB.
const unaryMediaLimit = 3 << 20

func dial(c clientFlags) (*client, error) {
	transport, err := c.transport()
	if err != nil {
		return nil, err
	}
	opts := []grpc.DialOption{transport, grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxResponseBytes))}
	if c.token != "" {
		local := targetIsLoopback(c.server)
		if c.tlsCA == "" && !local && !c.insecure {
			return nil, fmt.Errorf("refusing to send the token without TLS to %s, which is not a loopback address: connect with TLS (--tls-ca, or MEDIAMATCH_TLS_CA), or pass --insecure (MEDIAMATCH_INSECURE) to send it in plaintext on a network you trust", c.server)
		}
		opts = append(opts, grpc.WithPerRPCCredentials(bearerToken{token: strings.TrimSpace(c.token), tls: !local && !c.insecure}))
	}
	conn, err := grpc.NewClient(c.server, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", c.server, err)
	}
	return &client{conn: conn, match: pb.NewMatchServiceClient(conn), bank: pb.NewBankServiceClient(conn),
		token: pb.NewTokenServiceClient(conn), admin: pb.NewAdminServiceClient(conn), flags: c}, nil
}

// connect dials the server, or says why it cannot on stderr.
func connect(e *env, cf clientFlags) (*client, bool) {
	c, err := dial(cf)
	if err != nil {
		fmt.Fprintf(e.stderr, "mediamatch: %v\n", err)
		return nil, false
	}
	return c, true
}

func (c *client) Close() error { return c.conn.Close() }

func (c *client) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), c.flags.timeout)
}

// errorMessage turns a call's error into one line for a person.
func errorMessage(err error) string {
	if st, ok := status.FromError(err); ok {
		msg := fmt.Sprintf("%s: %s", st.Code(), st.Message())
		switch {
		case st.Code() == codes.Unavailable && strings.Contains(st.Message(), "connection refused"):
			msg += " (is `mediamatch serve` running there? --server or MEDIAMATCH_SERVER says where to connect)"
		case st.Code() == codes.Unavailable && strings.Contains(st.Message(), "certificate"):
			msg += " (--tls-ca names the CA that signed the server's certificate)"
		case st.Code() == codes.Unavailable && strings.Contains(st.Message(), "handshake"):
			msg += " (does the server speak TLS? connect with --tls-ca, or without it to a plaintext server)"
		}
		return msg
	}
	return err.Error()
}

// labelPaths returns the update paths of labels to set and labels to
// remove, refusing a key in both.
func labelPaths(set labelFlag, remove listFlag) ([]string, error) {
	var paths []string
	for _, k := range sortedKeys(set) {
		paths = append(paths, "labels."+server.QuoteMaskKey(k))
	}
	for _, k := range remove {
		if _, both := set[k]; both {
			return nil, fmt.Errorf("--label and --remove-label both name %q", k)
		}
		paths = append(paths, "labels."+server.QuoteMaskKey(k))
	}
	return paths, nil
}

// labelFlag collects repeated --label k=v flags.
type labelFlag map[string]string

func (l labelFlag) String() string {
	var parts []string
	for k, v := range l {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ",")
}

func (l labelFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not key=value", s)
	}
	l[k] = v
	return nil
}

// listFlag collects a repeated string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// printer writes one JSON object per line.
type printer struct{ enc *json.Encoder }

func newPrinter(w io.Writer) printer {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return printer{enc: enc}
}

func (p printer) print(v any) error { return p.enc.Encode(v) }

// Resource names: the CLI takes and prints bank and entry IDs, the API
// speaks names.
func bankResource(id string) string { return "banks/" + id }

// parentResource is the parent for listing bank id's entries or changes:
// every bank's ("banks/-") when id is empty.
func parentResource(id string) string {
	if id == "" {
		return bankResource("-")
	}
	return bankResource(id)
}

// entryResource takes an entry ID ("17") or a full entry name.
func entryResource(s string) string {
	if strings.HasPrefix(s, "banks/") {
		return s
	}
	return "banks/-/entries/" + s
}

// lastPart returns the ID at the end of a resource name.
func lastPart(name string) string {
	return name[strings.LastIndexByte(name, '/')+1:]
}

// bankOfName returns the bank ID of a bank or entry name.
func bankOfName(name string) string {
	rest := strings.TrimPrefix(name, "banks/")
	id, _, _ := strings.Cut(rest, "/")
	return id
}

// printJSON prints a message in the API's JSON form on one line.
func printJSON(w io.Writer, m proto.Message) error {
	data, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", data)
	return err
}
