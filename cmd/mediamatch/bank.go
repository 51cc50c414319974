package main

import (
	"flag"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/mediamatch/mediamatch/pdq"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/vpdq"
)

// bankJSON is how the bank commands print a bank.
type bankJSON struct {
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Enabled     bool              `json:"enabled"`
	Entries     int64             `json:"entries"`
}

func bankOut(b *pb.Bank) bankJSON {
	return bankJSON{Name: b.GetName(), Description: b.GetDescription(), Labels: b.GetLabels(), Enabled: b.GetEnabled(), Entries: b.GetEntryCount()}
}

func runBank(e *env, args []string) int {
	const usage = "usage: mediamatch bank create|list|delete [flags] [NAME]"
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, usage)
		return exitUsage
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("bank "+sub, flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	description := fs.String("description", "", "what the bank holds (create)")
	labels := labelFlag{}
	fs.Var(labels, "label", "key=value label of the bank, repeatable (create)")
	force := fs.Bool("force", false, "also remove the bank's entries (delete)")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, usage)
		fs.PrintDefaults()
	}
	if err := parseFlags(e, fs, args); err != nil {
		return exitUsage
	}
	want := 1
	if sub == "list" {
		want = 0
	}
	if fs.NArg() != want || (sub != "create" && sub != "list" && sub != "delete") {
		fs.Usage()
		return exitUsage
	}
	c, err := dial(cf)
	if err != nil {
		fmt.Fprintf(e.stderr, "mediamatch: %v\n", err)
		return exitFail
	}
	defer c.Close()
	ctx, cancel := c.ctx()
	defer cancel()
	out := newPrinter(e.stdout)
	switch sub {
	case "create":
		resp, err := c.bank.CreateBank(ctx, &pb.CreateBankRequest{Bank: &pb.Bank{Name: fs.Arg(0), Description: *description, Labels: labels}})
		if err != nil {
			fmt.Fprintf(e.stderr, "mediamatch: creating bank %q: %s\n", fs.Arg(0), errorMessage(err))
			return exitFail
		}
		out.print(bankOut(resp.GetBank()))
	case "list":
		token := ""
		for {
			resp, err := c.bank.ListBanks(ctx, &pb.ListBanksRequest{PageToken: token})
			if err != nil {
				fmt.Fprintf(e.stderr, "mediamatch: listing banks: %s\n", errorMessage(err))
				return exitFail
			}
			for _, b := range resp.GetBanks() {
				out.print(bankOut(b))
			}
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
	case "delete":
		resp, err := c.bank.DeleteBank(ctx, &pb.DeleteBankRequest{Name: fs.Arg(0), Force: *force})
		if err != nil {
			fmt.Fprintf(e.stderr, "mediamatch: deleting bank %q: %s\n", fs.Arg(0), errorMessage(err))
			return exitFail
		}
		out.print(map[string]any{"deleted": fs.Arg(0), "removed_entries": resp.GetRemovedEntries()})
	}
	return exitOK
}

// runEntry implements get and remove: both take entry ids and print each
// entry as JSON (the API's JSON form).
func runEntry(name string) func(e *env, args []string) int {
	return func(e *env, args []string) int {
		fs := flag.NewFlagSet(name, flag.ContinueOnError)
		var cf clientFlags
		cf.register(fs)
		format := fs.String("format", "json", "output: json (the API's JSON form), vpdq (a video's frames as vPDQ lines) or vpdq-json (as the JSON list python-threatexchange stores)")
		fs.Usage = func() {
			fmt.Fprintf(e.stderr, "usage: mediamatch %s [flags] ID...\n", name)
			fs.PrintDefaults()
		}
		if err := parseFlags(e, fs, args); err != nil {
			return exitUsage
		}
		if fs.NArg() == 0 {
			fs.Usage()
			return exitUsage
		}
		switch *format {
		case "json", "vpdq", "vpdq-json":
		default:
			fmt.Fprintf(e.stderr, "mediamatch %s: --format must be json, vpdq or vpdq-json\n", name)
			return exitUsage
		}
		c, err := dial(cf)
		if err != nil {
			fmt.Fprintf(e.stderr, "mediamatch: %v\n", err)
			return exitFail
		}
		defer c.Close()
		code := exitOK
		out := newPrinter(e.stdout)
		for _, id := range fs.Args() {
			ctx, cancel := c.ctx()
			var entry *pb.Entry
			if name == "get" {
				var resp *pb.GetContentResponse
				resp, err = c.bank.GetContent(ctx, &pb.GetContentRequest{EntryId: id})
				entry = resp.GetEntry()
			} else {
				var resp *pb.RemoveContentResponse
				resp, err = c.bank.RemoveContent(ctx, &pb.RemoveContentRequest{EntryId: id})
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
			data, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(entry)
			if err != nil {
				fmt.Fprintf(e.stderr, "mediamatch: %v\n", err)
				return exitFail
			}
			fmt.Fprintf(e.stdout, "%s\n", data)
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
