// Command mediamatch is the mediamatch matcher: the gRPC server and its
// command-line client in one binary.
//
//	mediamatch serve [--db mediamatch.db] [--listen 127.0.0.1:7077]
//	mediamatch hash [--dihedral] FILE...          hash locally, one JSON line per file
//	mediamatch hash --vpdq VIDEO                  a video's frames as vPDQ lines
//	mediamatch bank create|list|get|update|delete [NAME]
//	mediamatch add --bank B [--label k=v]... [--vpdq] FILE...
//	mediamatch match [--bank B]... [--vpdq] FILE...
//	mediamatch match --hash TYPE:HEX... | --list FILE     hashes, or a partner's list, instead of files
//	mediamatch list [--bank B] [--full]
//	mediamatch get [--format json|vpdq|vpdq-json] ID...
//	mediamatch update ID [--label k=v]... [--remove-label K]... [--note N]
//	mediamatch remove ID...
//	mediamatch log [--since REV] [--bank B]
//	mediamatch token create|list|revoke [--db FILE]  API tokens, through the server or offline
//	mediamatch audit [--after SEQ]                 the audit log (admin)
//	mediamatch check [--db mediamatch.db]          verify a store file offline
//	mediamatch backup [--db FILE] OUT              a consistent copy, hot through the server or offline
//	mediamatch keys partner-init|sign|verify         a partner's ed25519 keys; sign and verify lists
//	mediamatch export --bank B --format F [--since REV] [--out FILE [--sign KEY]]  a bank as a hash list
//	mediamatch import --bank B --format F [--partner NAME] FILE  a hash list into a bank, all or nothing
//	mediamatch partner add NAME --key NAME.pub       a partner whose signed lists import accepts
//	mediamatch sync --from ADDR --bank B [--into L] [--once]  keep bank L in step with a partner server's bank B
//	mediamatch loadtest [--connections 64] [--duration 2m] [--baseline]  drive a server, print latencies
//	mediamatch version
//
// Client commands talk to --server (default 127.0.0.1:7077), with --token
// (or MEDIAMATCH_TOKEN) and, for TLS, --tls-ca. Every flag can
// also be set through the environment: --server is read from
// MEDIAMATCH_SERVER when not given on the command line, --max-pixels from
// MEDIAMATCH_MAX_PIXELS, and so on.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(env *env, args []string) int
}

// env is what a subcommand reads and writes, so tests can run one in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // some input failed; the others were processed
	exitUsage = 2 // bad flags or arguments
)

func commands() []command {
	return []command{
		{"serve", "run the matcher's gRPC server on an embedded bbolt file, or as a replica of a store on etcd (--store etcd://...)", runServe},
		{"hash", "hash images locally and print one JSON line per file", runHash},
		{"bank", "create, list, show, change or delete banks: bank create|list|get|update|delete [NAME]", runBank},
		{"add", "add files to a bank: add --bank B [--label k=v]... FILE...", runAdd},
		{"match", "match files against the banks: match [--bank B]... FILE...", runMatch},
		{"list", "print a bank's entries: list [--bank B] [--full]", runList},
		{"get", "print entries: get ID...", runEntry("get")},
		{"update", "change an entry's labels or note: update ID [--label k=v]... [--note N]", runUpdate},
		{"remove", "remove entries: remove ID...", runEntry("remove")},
		{"log", "print the change log: log [--since REV] [--bank B]", runLog},
		{"token", "manage API tokens: token create|list|revoke (through the server, or directly on --db FILE or --store etcd://...)", runToken},
		{"audit", "print the audit log: token changes and refused calls (admin)", runAudit},
		{"check", "check a store file offline: check [--db FILE]", runCheck},
		{"backup", "copy the whole store, hot through the server (admin) or offline: backup [--db FILE] OUT", runBackup},
		{"export", "write a bank as a hash list: export --bank B --format native|pytx-file|pytx-csv|vpdq-json [--since REV] [--out FILE [--sign KEY]]", runExport},
		{"import", "add a hash list to a bank, all or nothing: import --bank B --format F [--partner NAME] FILE", runImport},
		{"sync", "keep a local bank in step with a partner server's bank: sync --from ADDR --bank B [--into LOCALBANK] [--once]", runSync},
		{"partner", "the partners whose signed lists import accepts: partner add NAME --key NAME.pub | list", runPartner},
		{"keys", "a partner's ed25519 key pair, and detached signatures of lists: keys partner-init --out NAME | sign --key K FILE | verify --pub P FILE", runKeys},
		{"loadtest", "drive a server with many connections matching and adding; print throughput, latency percentiles, errors and the server's memory: loadtest [--connections 64] [--duration 2m]", runLoadtest},
		{"version", "print the version, the API version and the store schema", runVersion},
	}
}

func main() {
	os.Exit(run(&env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}, os.Args[1:]))
}

func run(e *env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(e, args[1:])
		}
	}
	fmt.Fprintf(e.stderr, "mediamatch: unknown command %q\n\n", args[0])
	usage(e.stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: mediamatch COMMAND [flags] [args]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'mediamatch COMMAND -h' for a command's flags. Every flag --some-flag can also be set as MEDIAMATCH_SOME_FLAG.")
}

// parseCommand sets fs's usage to the text usage followed by the flags,
// parses args into fs (see parseFlags) and checks the command line with
// valid. It prints the usage and reports false on a parse error or an
// invalid command line; the caller then exits with exitUsage.
func parseCommand(e *env, fs *flag.FlagSet, args []string, usage string, valid func() bool) bool {
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, usage)
		fs.PrintDefaults()
	}
	if err := parseFlags(e, fs, args); err != nil {
		return false
	}
	if !valid() {
		fs.Usage()
		return false
	}
	return true
}

// parseFlags parses args into fs, flags and positional arguments in any
// order ("--" ends the flags), then fills every flag not given on the
// command line from its MEDIAMATCH_* environment variable.
func parseFlags(e *env, fs *flag.FlagSet, args []string) error {
	fs.SetOutput(e.stderr)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	// Re-parse only the positional arguments, so fs.Args() returns them.
	if err := fs.Parse(append([]string{"--"}, positional...)); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []string
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		name := envName(f.Name)
		if v := e.getenv(name); v != "" {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Sprintf("%s=%q: %v", name, v, err))
			}
		}
	})
	if len(errs) > 0 {
		sort.Strings(errs)
		err := errors.New(strings.Join(errs, "; "))
		fmt.Fprintf(e.stderr, "mediamatch: invalid environment: %v\n", err)
		return err
	}
	return nil
}

// envName is the environment variable that mirrors a flag.
func envName(flagName string) string {
	return "MEDIAMATCH_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}
