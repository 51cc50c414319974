package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
)

// changeJSON is how log prints a change.
type changeJSON struct {
	Revision int64    `json:"revision"`
	Kind     string   `json:"kind"`
	Time     string   `json:"time"`
	Actor    string   `json:"actor,omitempty"`
	Bank     string   `json:"bank"`
	Entry    string   `json:"entry,omitempty"`
	Fields   []string `json:"fields,omitempty"`
}

func changeOut(c *pb.Change) changeJSON {
	out := changeJSON{
		Revision: c.GetRevision(),
		Kind:     strings.ToLower(strings.TrimPrefix(c.GetKind().String(), "CHANGE_KIND_")),
		Time:     c.GetTime().AsTime().UTC().Format(time.RFC3339Nano),
		Actor:    c.GetActor(),
		Bank:     bankOfName(c.GetBank()),
		Fields:   c.GetUpdateMask().GetPaths(),
	}
	if c.GetEntry() != "" {
		out.Entry = lastPart(c.GetEntry())
	}
	return out
}

const logUsage = `usage: mediamatch log [--since REV] [--bank B]

Prints the change log, oldest first, one change per line: every bank
created, updated or deleted and every entry added, updated or removed, with
its revision, who made it and when. --since prints the changes after a
revision; --bank only one bank's.`

func runLog(e *env, args []string) int {
	fs := flag.NewFlagSet("log", flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	since := fs.Int64("since", 0, "print the changes after this revision")
	bank := fs.String("bank", "", "print only this bank's changes (its own and its entries')")
	if !parseCommand(e, fs, args, logUsage, func() bool { return fs.NArg() == 0 && *since >= 0 }) {
		return exitUsage
	}
	c, ok := connect(e, cf)
	if !ok {
		return exitFail
	}
	defer c.Close()
	parent := parentResource(*bank)
	out := newPrinter(e.stdout)
	token := ""
	for {
		ctx, cancel := c.ctx()
		resp, err := c.bank.ListChanges(ctx, &pb.ListChangesRequest{Parent: parent, AfterRevision: *since, PageToken: token, PageSize: 1000})
		cancel()
		if err != nil {
			fmt.Fprintf(e.stderr, "mediamatch: reading the change log: %s\n", errorMessage(err))
			return exitFail
		}
		for _, ch := range resp.GetChanges() {
			if err := out.print(changeOut(ch)); err != nil {
				return exitFail
			}
		}
		if token = resp.GetNextPageToken(); token == "" {
			return exitOK
		}
	}
}
