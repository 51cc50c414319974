package main

import (
	"flag"
	"fmt"
	"io"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/mediamatch/mediamatch/pdq"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/vpdq"
)

// runEntry implements get and remove: both take entry IDs (or names) and
// print each entry in the API's JSON form, one per line.
func runEntry(name string) func(e *env, args []string) int {
	return func(e *env, args []string) int {
		fs := flag.NewFlagSet(name, flag.ContinueOnError)
		var cf clientFlags
		cf.register(fs)
		format := fs.String("format", "json", "output: json (the API's JSON form), vpdq (a video's frames as vPDQ lines) or vpdq-json (as the JSON list python-threatexchange stores)")
		basic := fs.Bool("basic", false, "get: the basic view (no frames, no keypoints)")
		if !parseCommand(e, fs, args, fmt.Sprintf("usage: mediamatch %s [flags] ID...", name), func() bool { return fs.NArg() > 0 }) {
			return exitUsage
		}
		switch *format {
		case "json", "vpdq", "vpdq-json":
		default:
			fmt.Fprintf(e.stderr, "mediamatch %s: --format must be json, vpdq or vpdq-json\n", name)
			return exitUsage
		}
		c, ok := connect(e, cf)
		if !ok {
			return exitFail
		}
		defer c.Close()
		code := exitOK
		out := newPrinter(e.stdout)
		view := pb.EntryView_ENTRY_VIEW_FULL
		if *basic {
			view = pb.EntryView_ENTRY_VIEW_BASIC
		}
		for _, id := range fs.Args() {
			ctx, cancel := c.ctx()
			var entry *pb.Entry
			var err error
			if name == "get" {
				var resp *pb.GetEntryResponse
				resp, err = c.bank.GetEntry(ctx, &pb.GetEntryRequest{Name: entryResource(id), View: view})
				entry = resp.GetEntry()
			} else {
				var resp *pb.DeleteEntryResponse
				resp, err = c.bank.DeleteEntry(ctx, &pb.DeleteEntryRequest{Name: entryResource(id)})
				entry = resp.GetEntry()
			}
			cancel()
			if err != nil {
				out.print(map[string]string{"entry": id, "error": errorMessage(err)})
				code = exitFail
				continue
			}
			if *format != "json" {
				if err := writeVPDQ(e.stdout, entry, *format == "vpdq-json"); err != nil {
					fmt.Fprintf(e.stderr, "mediamatch: entry %s: %v\n", id, err)
					code = exitFail
				}
				continue
			}
			if err := printJSON(e.stdout, entry); err != nil {
				fmt.Fprintf(e.stderr, "mediamatch: %v\n", err)
				return exitFail
			}
		}
		return code
	}
}

// writeVPDQ prints a video entry's frames in a vPDQ format.
func writeVPDQ(w io.Writer, entry *pb.Entry, asJSON bool) error {
	m := entry.GetMedia()
	if len(m.GetFrames()) == 0 {
		return fmt.Errorf("not a video: it has no frame hashes")
	}
	frames := make([]vpdq.Frame, 0, len(m.GetFrames()))
	for i, f := range m.GetFrames() {
		h, err := pdq.ParseHex(f.GetPdqHex())
		if err != nil {
			return err
		}
		frames = append(frames, vpdq.Frame{Index: i, Hash: h, Quality: int(f.GetQuality()), Seconds: f.GetTs()})
	}
	if !asJSON {
		return vpdq.WriteLines(w, frames)
	}
	data, err := vpdq.MarshalJSON(frames)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", data)
	return err
}

const updateUsage = `usage: mediamatch update ID [--label k=v]... [--remove-label K]... [--note N]

Changes an entry's labels and note, only those given, and prints the entry.`

func runUpdate(e *env, args []string) int {
	fs := flag.NewFlagSet("update", flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	labels := labelFlag{}
	fs.Var(labels, "label", "key=value label to set, repeatable")
	var removeLabels listFlag
	fs.Var(&removeLabels, "remove-label", "label key to remove, repeatable")
	note := fs.String("note", "", "the entry's new note (empty clears it)")
	if !parseCommand(e, fs, args, updateUsage, func() bool { return fs.NArg() == 1 }) {
		return exitUsage
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	paths, err := labelPaths(labels, removeLabels)
	if err != nil {
		fmt.Fprintf(e.stderr, "mediamatch update: %v\n", err)
		return exitUsage
	}
	if given["note"] {
		paths = append(paths, "note")
	}
	if len(paths) == 0 {
		fmt.Fprintln(e.stderr, "mediamatch update: nothing to change: give --label, --remove-label or --note")
		return exitUsage
	}
	c, ok := connect(e, cf)
	if !ok {
		return exitFail
	}
	defer c.Close()
	ctx, cancel := c.ctx()
	defer cancel()
	resp, err := c.bank.UpdateEntry(ctx, &pb.UpdateEntryRequest{
		Entry:      &pb.Entry{Name: entryResource(fs.Arg(0)), Labels: labels, Note: *note},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: paths},
	})
	if err != nil {
		fmt.Fprintf(e.stderr, "mediamatch: updating entry %s: %s\n", fs.Arg(0), errorMessage(err))
		return exitFail
	}
	if err := printJSON(e.stdout, resp.GetEntry()); err != nil {
		return exitFail
	}
	return exitOK
}

const listUsage = `usage: mediamatch list [--bank B] [--full]

Prints a bank's entries (every bank's without --bank), oldest first, one
per line in the API's JSON form: the basic view (no frames, no keypoints)
unless --full.`

func runList(e *env, args []string) int {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	bank := fs.String("bank", "", "bank to list; default every bank")
	full := fs.Bool("full", false, "print whole entries, frames and keypoints included")
	if !parseCommand(e, fs, args, listUsage, func() bool { return fs.NArg() == 0 }) {
		return exitUsage
	}
	c, ok := connect(e, cf)
	if !ok {
		return exitFail
	}
	defer c.Close()
	parent := parentResource(*bank)
	view := pb.EntryView_ENTRY_VIEW_BASIC
	if *full {
		view = pb.EntryView_ENTRY_VIEW_FULL
	}
	token := ""
	for {
		ctx, cancel := c.ctx()
		resp, err := c.bank.ListEntries(ctx, &pb.ListEntriesRequest{Parent: parent, PageToken: token, View: view, PageSize: 1000})
		cancel()
		if err != nil {
			fmt.Fprintf(e.stderr, "mediamatch: listing entries: %s\n", errorMessage(err))
			return exitFail
		}
		for _, entry := range resp.GetEntries() {
			if err := printJSON(e.stdout, entry); err != nil {
				return exitFail
			}
		}
		if token = resp.GetNextPageToken(); token == "" {
			return exitOK
		}
	}
}
