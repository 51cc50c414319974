// Command mediamatch-bench is mediamatch's benchmark lab: recall on
// re-edits, false matches on negatives, the calibration they give, the
// curves between them, and the corpora they run on. It lives in a module
// of its own, so the product binary carries no corpus builder, fonts or
// plotting.
//
//	mediamatch-bench robustness --originals DIR --distractors DIR
//	mediamatch-bench negatives --dir DIR
//	mediamatch-bench roc --negatives FILE --robustness FILE --out FILE.png
//	mediamatch-bench corpus --originals-from DIR... --distractors-from DIR... --out DIR
//	mediamatch-bench video --out DIR --json FILE
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/mediamatch/mediamatch/index"
	"github.com/mediamatch/mediamatch/store/bolt"
)

// env is what a command sees of the process, so tests can run it.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	os.Exit(runBench(&env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}, os.Args[1:]))
}

// parseCommand sets fs's usage, parses args (flags before the
// positional arguments) and checks them with valid, printing the usage
// when they are wrong.
func parseCommand(e *env, fs *flag.FlagSet, args []string, usage string, valid func() bool) bool {
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return false
	}
	if !valid() {
		fs.Usage()
		return false
	}
	return true
}

// openState opens a bbolt store and the index that follows it.
func openState(ctx context.Context, path string, sopts bolt.Options, iopts index.Options) (*bolt.DB, *index.Index, error) {
	st, err := bolt.Open(path, sopts)
	if err != nil {
		return nil, nil, err
	}
	idx, err := index.New(ctx, st, iopts)
	if err != nil {
		st.Close()
		return nil, nil, fmt.Errorf("building the index from %s: %w", path, err)
	}
	return st, idx, nil
}
