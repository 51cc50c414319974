package main

import (
	"context"
	"flag"
	"fmt"
	"runtime/debug"

	"github.com/mediamatch/mediamatch/store/bolt"
)

// apiVersion is the API this binary serves and speaks.
const apiVersion = "mediamatch.v1"

// runVersion prints the version, the API version and the store schema.
func runVersion(e *env, args []string) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if !parseCommand(e, fs, args, "usage: mediamatch version", func() bool { return fs.NArg() == 0 }) {
		return exitUsage
	}
	version := "(devel)"
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		version = info.Main.Version
	}
	newPrinter(e.stdout).print(map[string]any{"version": version, "api": apiVersion, "store_schema": bolt.SchemaVersion})
	return exitOK
}

const checkUsage = `usage: mediamatch check [--db FILE]

Checks a store file offline (stop the server first), opening it read-only
so that nothing in it changes: its structure, bbolt's
own consistency check, every record's checksum and encoding, and that
banks, entries, identities, counts and the change log agree. Exits 0 when
the file is sound, 1 with the first problem otherwise.`

// runCheck verifies a store file.
func runCheck(e *env, args []string) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	db := fs.String("db", defaultDB, "the store file")
	if !parseCommand(e, fs, args, checkUsage, func() bool { return fs.NArg() == 0 }) {
		return exitUsage
	}
	st, err := bolt.Open(*db, bolt.Options{ReadOnly: true})
	if err != nil {
		fmt.Fprintf(e.stderr, "mediamatch check: %v\n", err)
		return exitFail
	}
	defer st.Close()
	ctx := context.Background()
	if err := st.Check(ctx); err != nil {
		fmt.Fprintf(e.stderr, "mediamatch check: %s: %v\n", *db, err)
		return exitFail
	}
	revs, _ := st.Revisions(ctx)
	banks, entries, err := countStore(ctx, st)
	if err != nil {
		fmt.Fprintf(e.stderr, "mediamatch check: %v\n", err)
		return exitFail
	}
	newPrinter(e.stdout).print(map[string]any{"db": *db, "ok": true, "revision": uint64(revs.Current), "compacted": uint64(revs.Compacted), "banks": banks, "entries": entries})
	return exitOK
}
