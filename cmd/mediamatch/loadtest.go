package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
)

const loadtestUsage = `usage: mediamatch loadtest [--connections 64] [--adders 8] [--duration 2m] [--baseline] [--media-share 0.05] [--metrics URL] [--json]

Drives a server with many connections for a bounded time, in a bank of its
own that it creates, seeds and deletes afterwards (--keep keeps it):
  - every connection but --adders matches: by hashes (half of them near a
    seeded hash, half random) and, for --media-share of its calls, by image;
  - the --adders connections add entries by hashes, each waiting for its
    acknowledgement (one durable commit).
With --baseline, a phase of matches alone (the adders idle) runs first, so
the latency of matches with adds streaming can be set against it.

It prints, per phase and call: calls, calls per second, p50/p99/p99.9 and
the slowest, and errors by code; and from the server's metrics (--metrics,
'' to skip): goroutines, live heap and resident memory before the run, at
their peak during it and after it (the bank deleted, the connections
closed). Exits 1 when any call failed.

The token (--token) must be an admin's, or the server must have none.`

// loadOptions are loadtest's settings.
type loadOptions struct {
	connections, adders int
	duration, warmup    time.Duration
	mediaShare          float64
	seedHashes          int
	seedImages          int
	baseline, keep      bool
	metrics             string
}

// The kinds of call loadtest makes.
const (
	callMatchHash  = "match_hash"
	callMatchImage = "match_image"
	callAdd        = "add"
)

// callStats are the figures of one kind of call in one phase.
type callStats struct {
	Phase     string         `json:"phase"`
	Call      string         `json:"call"`
	Calls     int            `json:"calls"`
	PerSecond float64        `json:"per_second"`
	P50       float64        `json:"p50_ms"`
	P99       float64        `json:"p99_ms"`
	P999      float64        `json:"p99_9_ms"`
	Max       float64        `json:"max_ms"`
	Errors    map[string]int `json:"errors,omitempty"`
	// Example is one failed call's message per code.
	Example map[string]string `json:"example,omitempty"`
	// Matched counts the queries of a seeded item that found it.
	Matched int `json:"matched,omitempty"`
	// Known counts the queries of a seeded item.
	Known int `json:"known,omitempty"`
}

// serverSample is what the server's metrics say at one moment.
type serverSample struct {
	Goroutines    float64 `json:"goroutines"`
	LiveHeapBytes float64 `json:"live_heap_bytes"`
	RSSBytes      float64 `json:"rss_bytes"`
	GCCycles      float64 `json:"gc_cycles"`
}

// loadReport is what loadtest prints.
type loadReport struct {
	Connections int          `json:"connections"`
	Adders      int          `json:"adders"`
	Duration    string       `json:"duration"`
	Bank        string       `json:"bank"`
	Calls       []callStats  `json:"calls"`
	P99Ratio    float64      `json:"match_hash_p99_with_adds_over_without,omitempty"`
	Before      serverSample `json:"server_before"`
	Peak        serverSample `json:"server_peak"`
	After       serverSample `json:"server_after"`
	Errors      int          `json:"errors"`
}

func runLoadtest(e *env, args []string) int {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	var o loadOptions
	fs.IntVar(&o.connections, "connections", 64, "connections to the server, each with one call at a time")
	fs.IntVar(&o.adders, "adders", 8, "of those, how many add entries instead of matching")
	fs.DurationVar(&o.duration, "duration", 2*time.Minute, "length of each phase")
	fs.DurationVar(&o.warmup, "warmup", 5*time.Second, "load before the figures are taken, not counted")
	fs.Float64Var(&o.mediaShare, "media-share", 0.05, "share of match calls that send an image instead of hashes")
	fs.IntVar(&o.seedHashes, "seed-hashes", 2000, "entries of random PDQ hashes added before the run")
	fs.IntVar(&o.seedImages, "seed-images", 16, "images added before the run, matched by the image calls")
	fs.BoolVar(&o.baseline, "baseline", false, "run a phase of matches alone first")
	fs.BoolVar(&o.keep, "keep", false, "keep the bank afterwards")
	fs.StringVar(&o.metrics, "metrics", "http://"+defaultMetricsListen+"/metrics", "the server's Prometheus metrics; empty to skip the server's figures")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	valid := func() bool {
		return fs.NArg() == 0 && o.connections > 0 && o.adders >= 0 && o.adders < o.connections &&
			o.duration > 0 && o.mediaShare >= 0 && o.mediaShare <= 1 && o.seedHashes > 0 && o.seedImages > 0
	}
	if !parseCommand(e, fs, args, loadtestUsage, valid) {
		return exitUsage
	}
	rep, err := loadtest(cf, o, e.stderr)
	if err != nil {
		fmt.Fprintf(e.stderr, "mediamatch loadtest: %s\n", errorMessage(err))
		return exitFail
	}
	if *asJSON {
		err = newPrinter(e.stdout).print(rep)
	} else {
		err = rep.write(e.stdout)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "mediamatch loadtest: %v\n", err)
		return exitFail
	}
	if rep.Errors > 0 {
		return exitFail
	}
	return exitOK
}

// loadRun is the state one loadtest shares among its workers.
type loadRun struct {
	o       loadOptions
	clients []*client
	bank    string // banks/{id}
	hashes  []string
	images  [][]byte
}

func loadtest(cf clientFlags, o loadOptions, progress io.Writer) (*loadReport, error) {
	rep := &loadReport{Connections: o.connections, Adders: o.adders, Duration: o.duration.String()}
	var err error
	if rep.Before, err = scrape(o.metrics); err != nil {
		return nil, err
	}
	run := &loadRun{o: o}
	defer func() {
		for _, c := range run.clients {
			c.Close()
		}
	}()
	for range o.connections {
		c, err := dial(cf)
		if err != nil {
			return nil, err
		}
		run.clients = append(run.clients, c)
	}
	id := fmt.Sprintf("loadtest-%d", time.Now().UnixNano())
	run.bank = bankResource(id)
	ctx := context.Background()
	if _, err := run.clients[0].bank.CreateBank(ctx, &pb.CreateBankRequest{BankId: id, Bank: &pb.Bank{Description: "mediamatch loadtest"}}); err != nil {
		return nil, fmt.Errorf("creating the bank: %w", err)
	}
	deleted := false
	defer func() {
		if !deleted && !o.keep {
			run.clients[0].bank.DeleteBank(context.Background(), &pb.DeleteBankRequest{Name: run.bank, Force: true})
		}
	}()
	fmt.Fprintf(progress, "loadtest: seeding %s with %d hashes and %d images\n", run.bank, o.seedHashes, o.seedImages)
	if err := run.seed(ctx); err != nil {
		return nil, err
	}

	// A warm-up, then the phases; the server is sampled throughout.
	peak := make(chan serverSample, 1)
	stopSampling := make(chan struct{})
	go func() {
		var max serverSample
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopSampling:
				peak <- max
				return
			case <-t.C:
				if s, err := scrape(o.metrics); err == nil {
					max = max.maxed(s)
				}
			}
		}
	}()
	run.phase("warmup", o.warmup, true)
	if o.baseline {
		fmt.Fprintf(progress, "loadtest: %v of matches alone on %d connections\n", o.duration, o.connections-o.adders)
		rep.Calls = append(rep.Calls, run.phase("matches", o.duration, false)...)
	}
	fmt.Fprintf(progress, "loadtest: %v of matches on %d connections and adds on %d\n", o.duration, o.connections-o.adders, o.adders)
	rep.Calls = append(rep.Calls, run.phase("mixed", o.duration, true)...)
	close(stopSampling)
	rep.Peak = <-peak

	if !o.keep {
		if _, err := run.clients[0].bank.DeleteBank(ctx, &pb.DeleteBankRequest{Name: run.bank, Force: true}); err != nil {
			return nil, fmt.Errorf("deleting the bank: %w", err)
		}
		deleted = true
	}
	// Matches alone for a moment more, not counted, so that the server
	// collects after the bank is gone and the live heap shows what the run
	// left behind.
	rep.Bank, run.bank = run.bank, ""
	run.phase("cooldown", 2*time.Second, false)
	for _, c := range run.clients {
		c.Close()
	}
	run.clients = nil
	if rep.After, err = settle(o.metrics, rep.Before); err != nil {
		return nil, err
	}
	var without, with float64
	for _, c := range rep.Calls {
		rep.Errors += sumErrors(c.Errors)
		if c.Call == callMatchHash && c.Phase == "matches" {
			without = c.P99
		}
		if c.Call == callMatchHash && c.Phase == "mixed" {
			with = c.P99
		}
	}
	if without > 0 {
		rep.P99Ratio = with / without
	}
	return rep, nil
}

// seed adds the hashes and images the matches look for.
func (r *loadRun) seed(ctx context.Context) error {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	r.images = loadImages(rng, r.o.seedImages)
	for range r.o.seedHashes {
		r.hashes = append(r.hashes, randomPDQ(rng))
	}
	work := make(chan int)
	errs := make(chan error, len(r.clients))
	var wg sync.WaitGroup
	for _, c := range r.clients[:min(8, len(r.clients))] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				var err error
				if i < len(r.hashes) {
					_, err = addHash(ctx, c.bank, r.bank, r.hashes[i])
				} else {
					_, err = addImage(ctx, c.bank, r.bank, r.images[i-len(r.hashes)], "loadtest image")
				}
				if err != nil {
					errs <- fmt.Errorf("seeding: %w", err)
					return
				}
			}
		}()
	}
	var err error
feed:
	for i := range len(r.hashes) + len(r.images) {
		select {
		case work <- i:
		case err = <-errs:
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err == nil && len(errs) > 0 {
		err = <-errs
	}
	return err
}

// sample is one call's outcome.
type sample struct {
	d     time.Duration
	err   error
	known bool // the query was of a seeded item
	found bool // and found it
}

// phase runs the load for d and returns its figures (nil for the warm-up
// and the cool-down, which are not counted). With adds false, the adders
// idle.
func (r *loadRun) phase(name string, d time.Duration, adds bool) []callStats {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	results := make([]map[string][]sample, len(r.clients))
	var wg sync.WaitGroup
	for i, c := range r.clients {
		adder := i < r.o.adders
		if adder && !adds {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(i)))
			mine := map[string][]sample{}
			// The phase is over at its deadline, which may come a moment
			// before ctx says so (its timer has yet to run); a call made
			// in between fails at once, and is no failure of the server.
			deadline, _ := ctx.Deadline()
			over := func() bool { return ctx.Err() != nil || !time.Now().Before(deadline) }
			for !over() {
				kind, s := r.call(ctx, c, adder, rng)
				if s.err != nil && over() {
					break // the phase ended during the call
				}
				mine[kind] = append(mine[kind], s)
			}
			results[i] = mine
		}()
	}
	wg.Wait()
	if name == "warmup" || name == "cooldown" {
		return nil
	}
	merged := map[string][]sample{}
	for _, m := range results {
		for k, v := range m {
			merged[k] = append(merged[k], v...)
		}
	}
	var out []callStats
	for _, kind := range []string{callMatchHash, callMatchImage, callAdd} {
		if s := merged[kind]; len(s) > 0 {
			out = append(out, summarize(name, kind, s, d))
		}
	}
	return out
}

// call makes one call of the connection's kind.
func (r *loadRun) call(ctx context.Context, c *client, adder bool, rng *rand.Rand) (string, sample) {
	start := time.Now()
	if adder {
		_, err := addHash(ctx, c.bank, r.bank, randomPDQ(rng))
		return callAdd, sample{d: time.Since(start), err: err}
	}
	opts := &pb.MatchOptions{}
	if r.bank != "" {
		opts.Banks = []string{r.bank}
	}
	if rng.Float64() < r.o.mediaShare {
		i := rng.IntN(len(r.images))
		res, err := c.match.Match(ctx, &pb.MatchRequest{Query: &pb.MatchRequest_Media{Media: r.images[i]}, Options: opts})
		return callMatchImage, sample{d: time.Since(start), err: err, known: true, found: len(res.GetResult().GetMatches()) > 0}
	}
	hex, known := randomPDQ(rng), false
	if rng.IntN(2) == 0 {
		hex, known = flipBits(r.hashes[rng.IntN(len(r.hashes))], rng.IntN(9), rng), true
	}
	res, err := c.match.Match(ctx, &pb.MatchRequest{Query: &pb.MatchRequest_Hashes{Hashes: &pb.MediaHashes{
		Hashes: []*pb.Hash{{Type: "pdq", Hex: hex, Quality: proto.Int32(90)}}}}, Options: opts})
	return callMatchHash, sample{d: time.Since(start), err: err, known: known, found: known && len(res.GetResult().GetMatches()) > 0}
}

// summarize turns a phase's samples of one kind into its figures.
func summarize(phase, kind string, samples []sample, d time.Duration) callStats {
	cs := callStats{Phase: phase, Call: kind, Calls: len(samples), PerSecond: float64(len(samples)) / d.Seconds()}
	ds := make([]time.Duration, 0, len(samples))
	for _, s := range samples {
		ds = append(ds, s.d)
		if s.err != nil {
			if cs.Errors == nil {
				cs.Errors, cs.Example = map[string]int{}, map[string]string{}
			}
			code := status.Code(s.err).String()
			cs.Errors[code]++
			cs.Example[code] = status.Convert(s.err).Message()
		}
		if s.known {
			cs.Known++
		}
		if s.found {
			cs.Matched++
		}
	}
	slices.Sort(ds)
	// The p-quantile is the smallest sample with at least p of them at or
	// below it.
	q := func(p float64) float64 {
		i := max(0, min(len(ds)-1, int(math.Ceil(p*float64(len(ds))))-1))
		return float64(ds[i]) / float64(time.Millisecond)
	}
	cs.P50, cs.P99, cs.P999, cs.Max = q(0.5), q(0.99), q(0.999), q(1)
	return cs
}

func sumErrors(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// write prints the report as tables.
func (rep *loadReport) write(w io.Writer) error {
	fmt.Fprintf(w, "loadtest: %d connections (%d matching, %d adding), %s per phase, bank %s\n\n",
		rep.Connections, rep.Connections-rep.Adders, rep.Adders, rep.Duration, rep.Bank)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tcall\tcalls\tper s\tp50 ms\tp99 ms\tp99.9 ms\tmax ms\tfound\terrors\t")
	for _, c := range rep.Calls {
		found := "-"
		if c.Known > 0 {
			found = fmt.Sprintf("%d/%d", c.Matched, c.Known)
		}
		errs := "0"
		if len(c.Errors) > 0 {
			var parts []string
			for code, n := range c.Errors {
				parts = append(parts, fmt.Sprintf("%s %d", code, n))
			}
			slices.Sort(parts)
			errs = strings.Join(parts, ", ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%.1f\t%s\t%s\t\n", c.Phase, c.Call, c.Calls, c.PerSecond, c.P50, c.P99, c.P999, c.Max, found, errs)
	}
	tw.Flush()
	if rep.P99Ratio > 0 {
		fmt.Fprintf(w, "\nmatch by hash, p99 with adds over without: %.2fx\n", rep.P99Ratio)
	}
	if rep.Before != (serverSample{}) {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "server\tgoroutines\tlive heap MiB\tRSS MiB\tGC cycles\t")
		for _, s := range []struct {
			name string
			s    serverSample
		}{{"before", rep.Before}, {"peak", rep.Peak}, {"after", rep.After}} {
			fmt.Fprintf(tw, "%s\t%.0f\t%.1f\t%.1f\t%.0f\t\n", s.name, s.s.Goroutines, s.s.LiveHeapBytes/(1<<20), s.s.RSSBytes/(1<<20), s.s.GCCycles)
		}
		tw.Flush()
	}
	_, err := fmt.Fprintf(w, "\nerrors: %d\n", rep.Errors)
	for _, c := range rep.Calls {
		for code, msg := range c.Example {
			fmt.Fprintf(w, "  %s %s: %s: %s\n", c.Phase, c.Call, code, msg)
		}
	}
	return err
}

// maxed is s with each figure raised to o's where o's is larger.
func (s serverSample) maxed(o serverSample) serverSample {
	return serverSample{Goroutines: max(s.Goroutines, o.Goroutines), LiveHeapBytes: max(s.LiveHeapBytes, o.LiveHeapBytes),
		RSSBytes: max(s.RSSBytes, o.RSSBytes), GCCycles: max(s.GCCycles, o.GCCycles)}
}

// metricNames are the server metrics loadtest reads.
var metricNames = map[string]func(*serverSample, float64){
	"go_goroutines":                      func(s *serverSample, v float64) { s.Goroutines = v },
	"go_gc_heap_live_bytes":              func(s *serverSample, v float64) { s.LiveHeapBytes = v },
	"process_resident_memory_bytes":      func(s *serverSample, v float64) { s.RSSBytes = v },
	"go_gc_cycles_total_gc_cycles_total": func(s *serverSample, v float64) { s.GCCycles = v },
}

// scrape reads the server's metrics; an empty URL reads nothing.
func scrape(url string) (serverSample, error) {
	var s serverSample
	if url == "" {
		return s, nil
	}
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return s, fmt.Errorf("reading the server's metrics (--metrics, '' to skip them): %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("reading the server's metrics at %s: %s", url, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	seen := 0
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if set, known := metricNames[name]; ok && known {
			if v, err := strconv.ParseFloat(value, 64); err == nil {
				set(&s, v)
				seen++
			}
		}
	}
	if err := sc.Err(); err != nil {
		return s, err
	}
	if seen < len(metricNames) {
		return s, fmt.Errorf("%s lacks some of the metrics loadtest reads (is it a mediamatch server's?)", url)
	}
	return s, nil
}

// settle waits for the server to let go of the run: its goroutines back
// to where they were and at least two collections since the run (so the
// live heap is measured without the run's garbage), for at most a minute.
// A server that does not collect by itself gets no help: the figure is
// then as the last collection left it.
func settle(url string, before serverSample) (serverSample, error) {
	if url == "" {
		return serverSample{}, nil
	}
	first, err := scrape(url)
	if err != nil {
		return first, err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		time.Sleep(time.Second)
		s, err := scrape(url)
		if err != nil {
			return s, err
		}
		if (s.Goroutines <= before.Goroutines && s.GCCycles >= first.GCCycles+2) || time.Now().After(deadline) {
			return s, nil
		}
	}
}

// addHash adds an entry of one PDQ hash to bank.
func addHash(ctx context.Context, bank pb.BankServiceClient, parent, hex string) (string, error) {
	resp, err := bank.CreateEntry(ctx, &pb.CreateEntryRequest{Parent: parent, Entry: &pb.Entry{
		Media: &pb.MediaHashes{Hashes: []*pb.Hash{{Type: "pdq", Hex: hex, Quality: proto.Int32(90)}}}}})
	return resp.GetEntry().GetName(), err
}

// addImage adds an image to bank by CreateEntryStream, in chunks.
func addImage(ctx context.Context, bank pb.BankServiceClient, parent string, img []byte, note string) (*pb.CreateEntryStreamResponse, error) {
	stream, err := bank.CreateEntryStream(ctx)
	if err != nil {
		return nil, err
	}
	err = stream.Send(&pb.CreateEntryStreamRequest{Part: &pb.CreateEntryStreamRequest_Header{Header: &pb.CreateEntryStreamHeader{
		Parent: parent, Entry: &pb.Entry{Note: note}, SizeBytes: int64(len(img))}}})
	for rest := img; err == nil && len(rest) > 0; {
		n := min(len(rest), chunkSize)
		err = stream.Send(&pb.CreateEntryStreamRequest{Part: &pb.CreateEntryStreamRequest_Chunk{Chunk: rest[:n]}})
		rest = rest[n:]
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	// On io.EOF the server ended the call: CloseAndRecv says why.
	return stream.CloseAndRecv()
}

// randomPDQ is a random 256-bit hash in hex: the look of a real PDQ hash
// (every row distinct), unlike any picture's.
func randomPDQ(r *rand.Rand) string {
	return fmt.Sprintf("%016x%016x%016x%016x", r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64())
}

// flipBits returns hex with n distinct bits of it flipped at random.
func flipBits(hex string, n int, r *rand.Rand) string {
	var words [4]uint64
	for i := range words {
		words[i], _ = strconv.ParseUint(hex[16*i:16*i+16], 16, 64)
	}
	for _, bit := range r.Perm(256)[:n] {
		words[bit/64] ^= 1 << (bit % 64)
	}
	return fmt.Sprintf("%016x%016x%016x%016x", words[0], words[1], words[2], words[3])
}

// loadImages draws n distinct pictures (rectangles of random colours on a
// random background) as PNG.
func loadImages(r *rand.Rand, n int) [][]byte {
	var out [][]byte
	for range n {
		img := image.NewRGBA(image.Rect(0, 0, 160, 120))
		fill := func(rect image.Rectangle, c color.RGBA) {
			for y := rect.Min.Y; y < rect.Max.Y; y++ {
				for x := rect.Min.X; x < rect.Max.X; x++ {
					img.SetRGBA(x, y, c)
				}
			}
		}
		random := func() color.RGBA {
			return color.RGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255}
		}
		fill(img.Bounds(), random())
		for range 12 {
			x, y := r.IntN(140), r.IntN(100)
			fill(image.Rect(x, y, x+10+r.IntN(60), y+10+r.IntN(50)).Intersect(img.Bounds()), random())
		}
		var buf bytes.Buffer
		png.Encode(&buf, img) // writing to memory does not fail
		out = append(out, buf.Bytes())
	}
	return out
}
