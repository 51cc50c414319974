package server

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mediamatch/mediamatch/internal/hostile"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/store"
)

// The hostile corpus's server budgets: small enough that the corpus
// reaches them, large enough for every ordinary case.
const (
	corpusDecodeMemory = 512 << 20
	corpusUploadBytes  = 256 << 20
	corpusIdle         = time.Second
	// corpusSlack is what the heap holds beside the budgets: gRPC's
	// buffers of the message being received (up to 4 MiB a call), the
	// index of the corpus's entries, the test's own bookkeeping.
	corpusSlack = 96 << 20
)

// hostileCase is one input of the hostile corpus and the answer the API
// documents for it.
type hostileCase struct {
	name string
	call func(ctx context.Context) error
	code codes.Code
	msg  string // part of the message; "" for any
	// client is what the test itself holds to send the case (it shares
	// the heap with the server).
	client int64
}

// corpusFile reads a file of the corpus, or of the media fixtures.
func corpusFile(t *testing.T, name string) []byte {
	t.Helper()
	for _, dir := range []string{"../testdata/hostile", "../testdata/media"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			return b
		}
	}
	t.Fatalf("no corpus file %s", name)
	return nil
}

// leaks returns what of the server's machine a message gives away: paths
// of its files, of its source, a stack.
func leaks(t *testing.T, msg string) []string {
	wd, _ := os.Getwd()
	var out []string
	for _, s := range []string{"/tmp", os.TempDir(), t.TempDir(), filepath.Dir(wd), ".go:", "goroutine ", "testdata"} {
		if s != "" && strings.Contains(msg, s) {
			out = append(out, s)
		}
	}
	return out
}

// TestHostileCorpus sends every input of the hostile corpus through the
// real API while another client matches without pause: each gets its
// documented code, no message names a path of the server, the heap (the
// server's, in this process) stays within the configured budgets, and the
// other client's matches all answer, their latency reported per case.
func TestHostileCorpus(t *testing.T) {
	gifTimeout := 2 * time.Second
	if raceDetector {
		gifTimeout = 20 * time.Second // the race detector's decodes are several times slower
	}
	ts := startServer(t, "", Options{MaxDecodeMemory: corpusDecodeMemory, MaxUploadBytes: corpusUploadBytes,
		StreamIdleTimeout: corpusIdle, UploadTimeout: 20 * time.Second, GIFTimeout: gifTimeout})
	ts.createBank("a")
	r := rand.New(rand.NewPCG(66, 6))
	plain := pdqEntry(r)
	ts.createEntry("a", plain)
	longVideo := ts.addCopies("a", videoHashes(r, store.MaxFrames), 3)

	unary := func(data []byte) func(context.Context) error {
		return func(c context.Context) error {
			_, err := ts.match.Match(c, &pb.MatchRequest{Query: &pb.MatchRequest_Media{Media: data}})
			return err
		}
	}
	add := func(data []byte) func(context.Context) error {
		return func(c context.Context) error {
			_, err := ts.bank.CreateEntry(c, &pb.CreateEntryRequest{Parent: "banks/a", Media: data})
			return err
		}
	}
	streamed := func(declared int64, data []byte) func(context.Context) error {
		return func(c context.Context) error {
			_, err := ts.upload(c, declared, data).CloseAndRecv()
			return err
		}
	}
	hashes := func(m *pb.MediaHashes, opts *pb.MatchOptions) func(context.Context) error {
		return func(c context.Context) error {
			_, err := ts.match.Match(c, &pb.MatchRequest{Query: &pb.MatchRequest_Hashes{Hashes: m}, Options: opts})
			return err
		}
	}
	entry := func(e *pb.Entry) func(context.Context) error {
		return func(c context.Context) error {
			_, err := ts.bank.CreateEntry(c, &pb.CreateEntryRequest{Parent: "banks/a", Entry: e})
			return err
		}
	}
	withMedia := func(e *pb.Entry) *pb.Entry { e.Media = pdqEntry(r).GetMedia(); return e }
	frames := func(n int, edit func(i int, f *pb.VideoFrameHash)) *pb.MediaHashes {
		m := videoHashes(r, n)
		for i, f := range m.Frames {
			edit(i, f)
		}
		return m
	}
	heldOpen := func(n int) func(context.Context) error {
		return func(c context.Context) error {
			errs := make(chan error, n)
			for range n {
				go func() { errs <- ts.upload(c, 0).RecvMsg(&pb.MatchStreamResponse{}) }()
			}
			var first error
			for range n {
				if err := <-errs; first == nil || status.Code(err) != codes.DeadlineExceeded {
					first = err
				}
			}
			return first
		}
	}
	pngBomb, interlacedBomb := corpusFile(t, "png16-rgba-50mp.png"), corpusFile(t, "png8-rgba-interlaced-50mp.png")
	photo := photo(t, 1600, 1200)
	gifTotal := hostile.GIF(4000, 4000, 4000, 4000, 63, false) // 1.008 gigapixels of frames
	gifRestore := hostile.GIF(1000, 1000, 1000, 1000, 10, true)
	zeros := padded(pngBomb[:64], 70<<20)
	huge := strings.Repeat("u", 3_900_000)
	many := map[string]string{}
	for i := range 100_000 {
		many[fmt.Sprint(i)] = ""
	}

	cases := []hostileCase{
		// Ordinary media, and amplifiers within the budgets: answered.
		{name: "a photo", call: unary(photo), code: codes.OK},
		{name: "a photo, streamed", call: streamed(int64(len(photo)), photo), code: codes.OK},
		{name: "lossy webp 2048", call: unary(corpusFile(t, "lossy-2048.webp")), code: codes.OK},
		{name: "16-bit tiff 2000x2000 (47 KB, 128 MB decoded)", call: unary(corpusFile(t, "tiff16-2000.tif")), code: codes.OK},
		{name: "animated gif, 10 full frames kept for restoring", call: add(gifRestore), code: codes.OK},
		{name: "a png followed by a zip", call: unary(corpusFile(t, "valid-png-then-zip.png")), code: codes.OK},
		// Decompression bombs in every format.
		{name: "16-bit png, 50 MP in 389 KB", call: unary(pngBomb), code: codes.ResourceExhausted, msg: "per decode"},
		{name: "16-bit png, 50 MP, added", call: add(pngBomb), code: codes.ResourceExhausted, msg: "per decode"},
		{name: "interlaced png, 50 MP in 194 KB", call: streamed(0, interlacedBomb), code: codes.ResourceExhausted, msg: "per decode"},
		{name: "lossless webp, 50 MP in 34 bytes", call: unary(corpusFile(t, "webp-lossless-50mp.webp")), code: codes.ResourceExhausted, msg: "per decode"},
		{name: "lossless webp, 16383x16383", call: unary(corpusFile(t, "webp-lossless-16383.webp")), code: codes.ResourceExhausted, msg: "pixels"},
		{name: "16-bit tiff header, 50 MP", call: unary(corpusFile(t, "tiff16-header-50mp.tif")), code: codes.ResourceExhausted, msg: "per decode"},
		{name: "gif canvas of 50 MP in 55 bytes", call: unary(corpusFile(t, "gif-canvas-50mp.gif")), code: codes.ResourceExhausted, msg: "whole budget"},
		{name: "gif canvas 65535x65535", call: unary(corpusFile(t, "gif-canvas-65535.gif")), code: codes.ResourceExhausted, msg: "pixels"},
		{name: "gif of 1001 frames", call: unary(corpusFile(t, "gif-frames-1001.gif")), code: codes.ResourceExhausted, msg: "frames"},
		{name: "gif of 200 frames of 4 megapixels, over the gif timeout", call: unary(hostile.GIF(2000, 2000, 2000, 2000, 200, false)), code: codes.ResourceExhausted, msg: "to decode"},
		{name: "gif of 1.008 gigapixels of frames", call: streamed(int64(len(gifTotal)), gifTotal), code: codes.ResourceExhausted, msg: "pixels"},
		// Lying headers, truncated files, polyglots.
		{name: "png header claiming 50000x50000", call: unary(corpusFile(t, "invalid-huge.png")), code: codes.ResourceExhausted, msg: "pixels"},
		{name: "truncated png", call: unary(corpusFile(t, "invalid-truncated.png")), code: codes.InvalidArgument},
		{name: "truncated jpeg", call: unary(corpusFile(t, "invalid-truncated.jpg")), code: codes.InvalidArgument},
		{name: "html, then a png", call: unary(corpusFile(t, "invalid-html-then-png.png")), code: codes.InvalidArgument},
		{name: "zip, then a jpeg", call: unary(corpusFile(t, "invalid-zip-then-jpg.jpg")), code: codes.InvalidArgument},
		{name: "heic", call: unary(corpusFile(t, "unsupported.heic")), code: codes.InvalidArgument, msg: "HEIC"},
		{name: "text", call: unary(corpusFile(t, "invalid-text.jpg")), code: codes.InvalidArgument},
		// Uploads: too large, lying sizes, held open.
		{name: "70 MB image, undeclared", call: streamed(0, zeros), code: codes.ResourceExhausted, msg: "for an image", client: int64(len(zeros))},
		{name: "a declared size of 2^62", call: streamed(1<<62, nil), code: codes.ResourceExhausted, msg: "limit"},
		{name: "a negative declared size", call: streamed(-1, nil), code: codes.InvalidArgument, msg: "negative"},
		{name: "a 300 MB video declared, over the upload budget", call: streamed(300<<20, nil), code: codes.ResourceExhausted, msg: "whole budget"},
		{name: "more bytes than declared", call: streamed(100, photo), code: codes.InvalidArgument, msg: "declared"},
		{name: "64 streams held open after their header", call: heldOpen(64), code: codes.DeadlineExceeded, msg: "idle timeout"},
		// Quadratic video queries and broken hash lists.
		{name: "20,000 frames against three 20,000-frame videos", call: hashes(longVideo, nil), code: codes.ResourceExhausted, msg: "budget"},
		{name: "20,001 frames", call: hashes(frames(store.MaxFrames+1, func(int, *pb.VideoFrameHash) {}), nil), code: codes.InvalidArgument, msg: "limit of 20000"},
		{name: "frames out of order", call: hashes(frames(10, func(i int, f *pb.VideoFrameHash) { f.Ts = float64(10 - i) }), nil), code: codes.InvalidArgument, msg: "before the previous"},
		{name: "a NaN frame time", call: hashes(frames(3, func(i int, f *pb.VideoFrameHash) { f.Ts = math.NaN() }), nil), code: codes.InvalidArgument},
		{name: "a frame hash of 63 digits", call: hashes(frames(3, func(i int, f *pb.VideoFrameHash) { f.PdqHex = f.PdqHex[:63] }), nil), code: codes.InvalidArgument},
		{name: "a frame quality of 1000", call: hashes(frames(3, func(i int, f *pb.VideoFrameHash) { f.Quality = proto.Int32(1000) }), nil), code: codes.InvalidArgument},
		{name: "an unknown hash type", call: hashes(&pb.MediaHashes{Hashes: []*pb.Hash{{Type: "md6", Hex: "00"}}}, nil), code: codes.InvalidArgument},
		{name: "a pdq hash of bad hex", call: hashes(&pb.MediaHashes{Hashes: []*pb.Hash{{Type: "pdq", Hex: strings.Repeat("zz", 32)}}}, nil), code: codes.InvalidArgument},
		{name: "two pdq hashes", call: hashes(&pb.MediaHashes{Hashes: []*pb.Hash{plain.GetMedia().GetHashes()[0], plain.GetMedia().GetHashes()[0]}}, nil), code: codes.InvalidArgument, msg: "two pdq"},
		// Absurd field values.
		{name: "a negative limit", call: hashes(plain.GetMedia(), &pb.MatchOptions{Limit: -1}), code: codes.InvalidArgument},
		{name: "a min_quality of 1000", call: hashes(plain.GetMedia(), &pb.MatchOptions{MinQuality: proto.Int32(1000)}), code: codes.InvalidArgument},
		{name: "a NaN false-match budget", call: hashes(plain.GetMedia(), &pb.MatchOptions{FalseMatchBudget: proto.Float64(math.NaN())}), code: codes.InvalidArgument},
		{name: "a video percentage of 1e308", call: hashes(plain.GetMedia(), &pb.MatchOptions{VideoQueryMatchPercent: proto.Float64(1e308)}), code: codes.InvalidArgument},
		{name: "a pdq threshold of 9999", call: hashes(plain.GetMedia(), &pb.MatchOptions{Thresholds: map[string]int32{"pdq": 9999}}), code: codes.InvalidArgument},
		{name: "a 3.9 MB source uri", call: entry(withMedia(&pb.Entry{Source: &pb.Source{Uri: huge}})), code: codes.InvalidArgument, msg: "source URI"},
		{name: "a 3.9 MB note", call: entry(withMedia(&pb.Entry{Note: huge})), code: codes.InvalidArgument, msg: "note"},
		{name: "100,000 labels", call: entry(withMedia(&pb.Entry{Labels: many})), code: codes.InvalidArgument, msg: "labels"},
		{name: "a 3.9 MB bank description", call: func(c context.Context) error {
			_, err := ts.bank.CreateBank(c, &pb.CreateBankRequest{BankId: "b", Bank: &pb.Bank{Description: huge}})
			return err
		}, code: codes.InvalidArgument, msg: "description"},
		{name: "a page size of -5", call: func(c context.Context) error {
			_, err := ts.bank.ListBanks(c, &pb.ListBanksRequest{PageSize: -5})
			return err
		}, code: codes.InvalidArgument},
	}

	// The other client, on a connection of its own (a connection's
	// streams are bounded, and the corpus holds 64 open): plain matches,
	// one after another, all along.
	other, err := grpc.NewClient(ts.conn.Target(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	otherMatch := pb.NewMatchServiceClient(other)
	type sample struct {
		at, took time.Duration
		err      error
	}
	var (
		mu      sync.Mutex
		samples []sample
	)
	begin := time.Now()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		q := &pb.MatchRequest{Query: &pb.MatchRequest_Hashes{Hashes: plain.GetMedia()}}
		for {
			select {
			case <-stop:
				return
			default:
			}
			start := time.Now()
			resp, err := otherMatch.Match(context.Background(), q)
			if err == nil && len(resp.GetResult().GetMatches()) != 1 {
				err = fmt.Errorf("%d matches, want 1", len(resp.GetResult().GetMatches()))
			}
			mu.Lock()
			samples = append(samples, sample{start.Sub(begin), time.Since(start), err})
			mu.Unlock()
		}
	}()
	during := func(from, to time.Duration) (n int, worst time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range samples {
			if s.at+s.took >= from && s.at <= to {
				n++
				worst = max(worst, s.took)
			}
		}
		return n, worst
	}
	time.Sleep(200 * time.Millisecond)
	_, baseline := during(0, time.Since(begin))

	budget := int64(corpusDecodeMemory + corpusUploadBytes + corpusSlack)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			from := time.Since(begin)
			w := watchHeap()
			err := c.call(cctx)
			peak := w.peak()
			to := time.Since(begin)
			n, worst := during(from, to)
			st := status.Convert(err)
			t.Logf("%s: %v in %v; peak heap %.1f MB; the other client: %d matches meanwhile, slowest %v",
				c.name, st.Code(), (to - from).Round(time.Millisecond), float64(peak)/1e6, n, worst.Round(time.Microsecond))
			if st.Code() != c.code || !strings.Contains(st.Message(), c.msg) {
				t.Errorf("got %v %q, want %v naming %q", st.Code(), st.Message(), c.code, c.msg)
			}
			if l := leaks(t, st.Message()); len(l) > 0 {
				t.Errorf("the message %q gives away %v", st.Message(), l)
			}
			if !raceDetector && peak > budget+c.client {
				t.Errorf("peak heap %d bytes, over the budgets' %d", peak, budget+c.client)
			}
		})
	}
	close(stop)
	<-done
	var lat []time.Duration
	for _, s := range samples {
		if s.err != nil {
			t.Errorf("the other client's match at %v: %v", s.at, s.err)
		}
		lat = append(lat, s.took)
	}
	slices.Sort(lat)
	if len(lat) < len(cases) {
		t.Fatalf("the other client made %d matches during %d cases", len(lat), len(cases))
	}
	t.Logf("the other client: %d matches, median %v, 99th percentile %v, slowest %v (before the corpus: slowest %v)",
		len(lat), lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1], baseline)
}
