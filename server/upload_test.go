package server

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mediamatch/mediamatch/media"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
)

// upload opens a MatchStream, sends its header declaring size (0: none)
// and the chunks, each of at most 256 KiB; the caller closes it.
func (ts *testServer) upload(c context.Context, size int64, data ...[]byte) pb.MatchService_MatchStreamClient {
	ts.t.Helper()
	stream, err := ts.match.MatchStream(c)
	if err != nil {
		ts.t.Fatal(err)
	}
	if err := stream.Send(&pb.MatchStreamRequest{Part: &pb.MatchStreamRequest_Header{Header: &pb.MatchStreamHeader{SizeBytes: size}}}); err != nil {
		ts.t.Fatal(err)
	}
	for _, d := range data {
		sendChunks(stream, d)
	}
	return stream
}

func sendChunks(stream pb.MatchService_MatchStreamClient, d []byte) {
	for off := 0; off < len(d); off += 256 << 10 {
		if stream.Send(&pb.MatchStreamRequest{Part: &pb.MatchStreamRequest_Chunk{Chunk: d[off:min(off+256<<10, len(d))]}}) != nil {
			return // the server ended the call; CloseAndRecv says why
		}
	}
}

// padded is data followed by zeros up to n bytes: an upload of n bytes of
// data's type.
func padded(data []byte, n int) []byte {
	return append(bytes.Clone(data), make([]byte, n-len(data))...)
}

func TestUploadTimeouts(t *testing.T) {
	ts := startServer(t, "", Options{StreamIdleTimeout: 300 * time.Millisecond, UploadTimeout: 1500 * time.Millisecond})
	img := encodePNG(t, readImage(t, "bridge-mods-aaa-orig.png"))
	check := func(what string, err error, msg string) {
		t.Helper()
		if status.Code(err) != codes.DeadlineExceeded || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v, want DEADLINE_EXCEEDED naming %q", what, err, msg)
		}
		if r := errorReason(err); r != "UPLOAD_TIMEOUT" {
			t.Errorf("%s: reason %q, want UPLOAD_TIMEOUT", what, r)
		}
	}
	// Nothing at all, not even the header.
	stream, err := ts.match.MatchStream(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	_, err = stream.CloseAndRecv() // CloseSend only half-closes: the server sees EOF, not silence
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("a stream closed before its header: %v, want INVALID_ARGUMENT", err)
	}
	silent, err := ts.match.MatchStream(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	err = silent.RecvMsg(&pb.MatchStreamResponse{}) // waits for the server's answer, which the idle timeout brings
	check("a stream that sends nothing", err, "idle timeout")
	// A header, then nothing.
	stream = ts.upload(ctx(t), 0)
	err = stream.RecvMsg(&pb.MatchStreamResponse{})
	check("a header, then nothing", err, "idle timeout")
	// Half the image, then nothing.
	stream = ts.upload(ctx(t), int64(len(img)), img[:len(img)/2])
	err = stream.RecvMsg(&pb.MatchStreamResponse{})
	check("half an upload, then nothing", err, "idle timeout")
	// A chunk every 100 ms, never idle, past the upload timeout.
	stream = ts.upload(ctx(t), 0)
	var sendErr error
	for i := 0; sendErr == nil && i < 100; i++ {
		sendErr = stream.Send(&pb.MatchStreamRequest{Part: &pb.MatchStreamRequest_Chunk{Chunk: img[i*100 : (i+1)*100]}})
		time.Sleep(100 * time.Millisecond)
	}
	_, err = stream.CloseAndRecv()
	check("a trickle", err, "upload timeout")
	// Within both: answered.
	stream = ts.upload(ctx(t), int64(len(img)), img)
	if _, err := stream.CloseAndRecv(); err != nil {
		t.Errorf("an upload within the timeouts: %v", err)
	}
}

func TestUploadSizeByType(t *testing.T) {
	ts := startServer(t, "", Options{Media: media.Options{MaxBytes: 1 << 20, MaxVideoBytes: 3 << 20}})
	png := encodePNG(t, readImage(t, "bridge-mods-aaa-orig.png"))
	mp4 := []byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2")
	for _, c := range []struct {
		name     string
		declared int64
		data     []byte
		code     codes.Code
		msg      string
	}{
		{"an image over the image limit", 0, padded(png, 2<<20), codes.ResourceExhausted, "limit of 1048576 bytes for an image"},
		{"an image declared over the image limit", 2 << 20, padded(png, 2<<20), codes.ResourceExhausted, "limit of 1048576 bytes for an image"},
		{"a declared size over every limit", 4 << 20, nil, codes.ResourceExhausted, "the limit is 3145728"},
		{"a video over the video limit", 0, padded(mp4, 4<<20), codes.ResourceExhausted, "limit of 3145728 bytes for a video"},
		// A video within its limit gets past the upload (and fails to
		// decode: it is a header and zeros).
		{"a video over the image limit", 0, padded(mp4, 2<<20), codes.InvalidArgument, ""},
		{"more than declared", int64(len(png)) - 1, png, codes.InvalidArgument, "more than the"},
	} {
		t.Run(c.name, func(t *testing.T) {
			stream := ts.upload(ctx(t), c.declared, c.data)
			_, err := stream.CloseAndRecv()
			if c.code == codes.InvalidArgument && status.Code(err) == codes.FailedPrecondition {
				return // no ffmpeg here: the video got past the upload all the same
			}
			if status.Code(err) != c.code || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("%v, want %v naming %q", err, c.code, c.msg)
			}
		})
	}
}

// TestUploadBudget: uploads in flight share the server's budget. A
// declared upload waits for room (until its deadline); an undeclared one
// that finds none is refused; one larger than the budget is refused at
// once; and what a cancelled upload held is given back.
func TestUploadBudget(t *testing.T) {
	const budget = 4 << 20
	ts := startServer(t, "", Options{MaxUploadBytes: budget})
	img := encodePNG(t, readImage(t, "bridge-mods-aaa-orig.png"))
	big := padded(img, 3<<20)

	// The first holds 3 MiB while it waits for its last bytes.
	held, holdCancel := context.WithCancel(context.Background())
	defer holdCancel()
	first := ts.upload(held, int64(len(big)), big[:len(big)-1])
	waitFor(t, func() bool { return ts.srv.uploads.inUse() == int64(len(big)) })

	// A second of 3 MiB declared waits, and its deadline ends the wait.
	c, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	second := ts.upload(c, int64(len(big)), big)
	_, err := second.CloseAndRecv()
	cancel()
	if status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("a declared upload while the budget is held: %v, want DEADLINE_EXCEEDED", err)
	}
	// Undeclared: refused as soon as its chunks do not fit.
	third := ts.upload(ctx(t), 0, padded(img, 2<<20))
	_, err = third.CloseAndRecv()
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "declare size_bytes") {
		t.Errorf("an undeclared upload while the budget is held: %v, want RESOURCE_EXHAUSTED", err)
	}
	if r := errorReason(err); r != "UPLOAD_BUDGET_IN_USE" {
		t.Errorf("reason %q, want UPLOAD_BUDGET_IN_USE", r)
	}
	// A unary call's media counts too, while the call needs it.
	_, err = ts.match.Hash(ctx(t), &pb.HashRequest{Media: padded(img, 2<<20)})
	if status.Code(err) != codes.ResourceExhausted || errorReason(err) != "UPLOAD_BUDGET_IN_USE" {
		t.Errorf("a unary call of 2 MiB while the budget is held: %v, want RESOURCE_EXHAUSTED (UPLOAD_BUDGET_IN_USE)", err)
	}
	if _, err := ts.match.Hash(ctx(t), &pb.HashRequest{Media: img}); err != nil {
		t.Errorf("a unary call that fits: %v", err)
	}
	if n := ts.srv.uploads.inUse(); n != int64(len(big)) {
		t.Errorf("%d bytes held after the unary calls, want the first upload's %d", n, len(big))
	}
	// Larger than the whole budget: refused at once, even with room.
	fourth := ts.upload(ctx(t), budget+1)
	if _, err := fourth.CloseAndRecv(); status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "whole budget") {
		t.Errorf("an upload larger than the budget: %v", err)
	}
	// A declared upload that waits gets its turn when the first ends.
	waiting := make(chan error, 1)
	go func() {
		s := ts.upload(ctx(t), int64(len(big)), big)
		_, err := s.CloseAndRecv()
		waiting <- err
	}()
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-waiting:
		t.Fatalf("a declared upload answered (%v) while the budget was held", err)
	default:
	}
	sendChunks(first, big[len(big)-1:])
	if _, err := first.CloseAndRecv(); status.Code(err) == codes.ResourceExhausted || status.Code(err) == codes.DeadlineExceeded {
		t.Fatalf("the first upload: %v", err)
	}
	if err := <-waiting; status.Code(err) == codes.ResourceExhausted || status.Code(err) == codes.DeadlineExceeded {
		t.Errorf("the waiting upload, once the first was done: %v", err)
	}

	// Cancelled uploads give back their reservation and their memory.
	// (Two collections: sync.Pool, which gRPC keeps its buffers in, lets
	// go of what it holds on the second.)
	settle := func() int64 {
		runtime.GC()
		runtime.GC()
		return liveHeap()
	}
	before := settle()
	var cancels []context.CancelFunc
	for range 3 {
		c, cancel := context.WithCancel(context.Background())
		cancels = append(cancels, cancel)
		ts.upload(c, 1<<20, padded(img, 1<<20)[:900<<10])
	}
	waitFor(t, func() bool { return ts.srv.uploads.inUse() == 3<<20 })
	for _, cancel := range cancels {
		cancel()
	}
	waitFor(t, func() bool { return ts.srv.uploads.inUse() == 0 })
	// The handlers and the client's stream goroutines end a moment after
	// the reservation goes back; what they hold must go within seconds,
	// and a leak never does.
	var grown int64
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if grown = settle() - before; grown <= 1<<20 || time.Now().After(end) {
			break
		}
	}
	if grown > 1<<20 {
		t.Errorf("the heap kept %d bytes after three cancelled uploads of 900 KiB", grown)
	}
}
