package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
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
}

func (c *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.server, "server", defaultListen, "address of the mediamatch server")
	fs.DurationVar(&c.timeout, "timeout", 60*time.Second, "deadline of each call")
}

// client is a connection to a mediamatch server.
type client struct {
	conn  *grpc.ClientConn
	match pb.MatchServiceClient
	bank  pb.BankServiceClient
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
	conn, err := grpc.NewClient(c.server, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxResponseBytes)))
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", c.server, err)
	}
	return &client{conn: conn, match: pb.NewMatchServiceClient(conn), bank: pb.NewBankServiceClient(conn), flags: c}, nil
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
		if st.Code() == codes.Unavailable && strings.Contains(st.Message(), "connection refused") {
			msg += " (is `mediamatch serve` running there? --server or MEDIAMATCH_SERVER says where to connect)"
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
