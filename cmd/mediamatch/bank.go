package main

import (
	"flag"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/server"
)

// bankJSON is how the bank commands print a bank.
type bankJSON struct {
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Enabled     bool              `json:"enabled"`
	Thresholds  map[string]int32  `json:"thresholds,omitempty"`
	Budget      *float64          `json:"false_match_budget,omitempty"`
	Entries     int64             `json:"entries"`
	Revision    int64             `json:"revision,omitempty"`
	// Synced is the cursor of each source mediamatch sync follows.
	Synced map[string]int64 `json:"synced,omitempty"`
}

func bankOut(b *pb.Bank) bankJSON {
	return bankJSON{Name: lastPart(b.GetName()), Description: b.GetDescription(), Labels: b.GetLabels(), Enabled: b.GetEnabled(),
		Thresholds: b.GetThresholds(), Budget: b.FalseMatchBudget, Entries: b.GetEntryCount(), Revision: b.GetRevision(),
		Synced: b.GetSyncedRevisions()}
}

// thresholdFlag collects repeated --threshold type=N flags.
type thresholdFlag map[string]int32

func (f thresholdFlag) String() string {
	var parts []string
	for k, v := range f {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func (f thresholdFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	n, err := strconv.ParseInt(v, 10, 32)
	if !ok || k == "" || err != nil {
		return fmt.Errorf("%q is not type=N (for example pdq=31)", s)
	}
	f[k] = int32(n)
	return nil
}

const bankUsage = `usage: mediamatch bank SUBCOMMAND [flags] [NAME]

  bank create NAME [--description D] [--label k=v]... [--enabled=false] [--threshold pdq=N]...
                   [--budget P]
  bank list
  bank get NAME
  bank update NAME [--description D] [--label k=v]... [--remove-label K]...
                   [--enabled=BOOL] [--threshold type=N]... [--remove-threshold TYPE]...
                   [--budget P] (0: back to the server's default)
                   changes only what is given
  bank delete NAME [--force]`

func runBank(e *env, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, bankUsage)
		return exitUsage
	}
	sub, args := args[0], args[1:]
	if sub == "-h" || sub == "--help" || sub == "help" {
		fmt.Fprintln(e.stderr, bankUsage)
		return exitOK
	}
	fs := flag.NewFlagSet("bank "+sub, flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	description := fs.String("description", "", "what the bank holds (create, update)")
	labels := labelFlag{}
	fs.Var(labels, "label", "key=value label of the bank, repeatable (create, update)")
	var removeLabels listFlag
	fs.Var(&removeLabels, "remove-label", "label key to remove, repeatable (update)")
	enabled := fs.Bool("enabled", true, "whether matching searches the bank (create, update)")
	thresholds := thresholdFlag{}
	fs.Var(thresholds, "threshold", "type=N: the bank's largest match distance for a hash type, repeatable (create, update)")
	var removeThresholds listFlag
	fs.Var(&removeThresholds, "remove-threshold", "hash type whose bank threshold to remove, back to the server's default (update)")
	budget := fs.Float64("budget", 0, "the bank's false-match budget: the largest score (estimated false-match probability per comparison) of an automatic match, in (0, 1]; 0 means the server's default (create, update)")
	force := fs.Bool("force", false, "also remove the bank's entries (delete)")
	want := map[string]int{"create": 1, "list": 0, "get": 1, "update": 1, "delete": 1}
	n, ok := want[sub]
	if !parseCommand(e, fs, args, bankUsage, func() bool { return ok && fs.NArg() == n }) {
		return exitUsage
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	c, ok := connect(e, cf)
	if !ok {
		return exitFail
	}
	defer c.Close()
	ctx, cancel := c.ctx()
	defer cancel()
	out := newPrinter(e.stdout)
	name := fs.Arg(0)
	fail := func(what string, err error) int {
		fmt.Fprintf(e.stderr, "mediamatch: %s: %s\n", what, errorMessage(err))
		return exitFail
	}
	switch sub {
	case "create":
		b := &pb.Bank{Description: *description, Labels: labels, Thresholds: thresholds}
		if given["enabled"] {
			b.Enabled = proto.Bool(*enabled)
		}
		if *budget != 0 {
			b.FalseMatchBudget = budget
		}
		resp, err := c.bank.CreateBank(ctx, &pb.CreateBankRequest{BankId: name, Bank: b})
		if err != nil {
			return fail(fmt.Sprintf("creating bank %q", name), err)
		}
		out.print(bankOut(resp.GetBank()))
	case "list":
		token := ""
		for {
			resp, err := c.bank.ListBanks(ctx, &pb.ListBanksRequest{PageToken: token})
			if err != nil {
				return fail("listing banks", err)
			}
			for _, b := range resp.GetBanks() {
				out.print(bankOut(b))
			}
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
	case "get":
		resp, err := c.bank.GetBank(ctx, &pb.GetBankRequest{Name: bankResource(name)})
		if err != nil {
			return fail(fmt.Sprintf("reading bank %q", name), err)
		}
		out.print(bankOut(resp.GetBank()))
	case "update":
		b := &pb.Bank{Name: bankResource(name), Description: *description, Labels: labels, Thresholds: thresholds}
		var paths []string
		if given["description"] {
			paths = append(paths, "description")
		}
		if given["enabled"] {
			b.Enabled = proto.Bool(*enabled)
			paths = append(paths, "enabled")
		}
		if given["budget"] {
			if *budget != 0 {
				b.FalseMatchBudget = budget
			}
			paths = append(paths, "false_match_budget")
		}
		lp, err := labelPaths(labels, removeLabels)
		if err != nil {
			fmt.Fprintf(e.stderr, "mediamatch bank update: %v\n", err)
			return exitUsage
		}
		paths = append(paths, lp...)
		for _, k := range sortedKeys(thresholds) {
			paths = append(paths, "thresholds."+server.QuoteMaskKey(k))
		}
		for _, k := range removeThresholds {
			paths = append(paths, "thresholds."+server.QuoteMaskKey(k))
		}
		if len(paths) == 0 {
			fmt.Fprintln(e.stderr, "mediamatch bank update: nothing to change: give --description, --label, --remove-label, --enabled, --threshold, --remove-threshold or --budget")
			return exitUsage
		}
		resp, err := c.bank.UpdateBank(ctx, &pb.UpdateBankRequest{Bank: b, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}})
		if err != nil {
			return fail(fmt.Sprintf("updating bank %q", name), err)
		}
		out.print(bankOut(resp.GetBank()))
	case "delete":
		resp, err := c.bank.DeleteBank(ctx, &pb.DeleteBankRequest{Name: bankResource(name), Force: *force})
		if err != nil {
			return fail(fmt.Sprintf("deleting bank %q", name), err)
		}
		out.print(map[string]any{"deleted": name, "removed_entries": resp.GetRemovedEntries()})
	}
	return exitOK
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
