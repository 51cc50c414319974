package server

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/jpeg"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mediamatch/mediamatch/internal/hostile"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/region"
)

// heapWatch samples the live heap every 100 microseconds until stopped,
// keeping the highest value above where it started: the server runs in
// the test process, so this is the server's memory (and the client's).
type heapWatch struct {
	base int64
	top  atomic.Int64
	stop chan struct{}
	done chan struct{}
}

func liveHeap() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

func watchHeap() *heapWatch {
	runtime.GC()
	w := &heapWatch{base: liveHeap(), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(100 * time.Microsecond)
		defer t.Stop()
		for {
			if h := liveHeap() - w.base; h > w.top.Load() {
				w.top.Store(h)
			}
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// peak stops the watch and returns the highest growth seen.
func (w *heapWatch) peak() int64 {
	close(w.stop)
	<-w.done
	return max(w.top.Load(), liveHeap()-w.base)
}

// photo is a w x h JPEG made from a test image, with its detail.
func photo(t testing.TB, w, h int) []byte {
	src := readImage(t, "bridge-mods-aaa-orig.png")
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	sb := src.Bounds()
	for y := range h {
		for x := range w {
			m.Set(x, y, src.At(sb.Min.X+x*sb.Dx()/w, sb.Min.Y+y*sb.Dy()/h))
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestDecodeCost: the memory reserved for decoding and hashing an image is
// at least what the work holds at its peak, for photos and amplifiers, as
// a match (regions, keypoints, the mirror image) and as an add.
func TestDecodeCost(t *testing.T) {
	if raceDetector {
		t.Skip("the heap measures nothing under the race detector (race_test.go)")
	}
	ts := startServer(t, "", Options{})
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"jpeg 1024x768", photo(t, 1024, 768)},
		{"jpeg 4000x3000", photo(t, 4000, 3000)},
		{"png 16-bit 3000x3000", hostile.PNG(3000, 3000, 16, 6, false)},
		{"webp lossless 3000x3000", hostile.LosslessWebP(3000, 3000)},
		{"tiff 16-bit 2000x2000", hostile.TIFF16(2000, 2000)},
	} {
		for _, set := range []region.Set{region.Query, region.Stored} {
			cost, err := ts.srv.decodeCost(c.data)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			w := watchHeap()
			_, err = ts.srv.hashMedia(context.Background(), c.data, true, set, nil)
			peak := w.peak()
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			t.Logf("%s (%d bytes), regions %d: reserved %.1f MB, peak heap %.1f MB", c.name, len(c.data), set, float64(cost)/1e6, float64(peak)/1e6)
			if peak > cost {
				t.Errorf("%s: peak heap %d bytes, over the %d reserved", c.name, peak, cost)
			}
		}
	}
}

// TestDecodeMemoryBudget: decodes wait for the server-wide budget, a wait
// ends with the deadline (naming the budget), a decode larger than the
// whole budget is refused at once, and a burst of decodes that each fit
// but not all together is served in turn with the heap under the budget.
func TestDecodeMemoryBudget(t *testing.T) {
	img := photo(t, 2048, 1536)
	const budget = 200 << 20
	ts := startServer(t, "", Options{MaxDecodeMemory: budget})
	cost, err := ts.srv.decodeCost(img)
	if err != nil {
		t.Fatal(err)
	}
	if cost > budget/2 || cost < budget/4 {
		t.Fatalf("one decode costs %d, want between a quarter and a half of %d so that a burst must queue", cost, budget)
	}

	// The budget held elsewhere: a decode waits, and its deadline ends it.
	if err := ts.srv.decodeMemory.acquire(context.Background(), budget, "test"); err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err = ts.match.Hash(c, &pb.HashRequest{Media: img})
	cancel()
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("a decode while the budget is held: %v, want DEADLINE_EXCEEDED", err)
	}
	ts.srv.decodeMemory.release(budget)
	if _, err := ts.match.Hash(ctx(t), &pb.HashRequest{Media: img}); err != nil {
		t.Fatalf("a decode once the budget is free: %v", err)
	}

	// More than the whole budget: refused before decoding.
	big := photo(t, 6000, 4000)
	_, err = ts.match.Hash(ctx(t), &pb.HashRequest{Media: big})
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "budget of 200 MiB") {
		t.Fatalf("a decode larger than the budget: %v, want RESOURCE_EXHAUSTED naming it", err)
	}
	if r := errorReason(err); r != "SERVER_BUDGET" {
		t.Errorf("reason %q, want SERVER_BUDGET", r)
	}

	// A burst of eight: each waits its turn; all answer; the heap stays
	// within the budget (and the eight uploads, and the client's).
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	w := watchHeap()
	var most atomic.Int64
	stop, sampled := make(chan struct{}), make(chan struct{})
	mem := ts.srv.decodeMemory
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if n := mem.inUse(); n > most.Load() {
				most.Store(n)
			}
			time.Sleep(50 * time.Microsecond)
		}
	}()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Hash, not Match: the same reservation, less work, so
			// that the race detector's runs stay within the deadline.
			c, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			_, err := ts.match.Hash(c, &pb.HashRequest{Media: img})
			errs <- err
		}()
	}
	wg.Wait()
	close(stop)
	<-sampled
	peak := w.peak()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a decode of the burst: %v", err)
		}
	}
	t.Logf("burst of 8 decodes of %.1f MB each: at most %.1f MB reserved at once, peak heap %.1f MB, budget %d MB", float64(cost)/1e6, float64(most.Load())/1e6, float64(peak)/1e6, budget>>20)
	if most.Load() > budget || most.Load() < cost {
		t.Errorf("at most %d bytes reserved at once, want between %d and the budget %d", most.Load(), cost, budget)
	}
	if slack := int64(8*len(img)) + 32<<20; !raceDetector && peak > budget+slack {
		t.Errorf("peak heap %d during the burst, over the budget %d and the uploads", peak, budget)
	}
}

// TestMemoryBudgetOrder: waiters are served in arrival order, and one
// whose context ends leaves the queue without taking bytes.
func TestMemoryBudgetOrder(t *testing.T) {
	b := newMemoryBudget(100)
	if err := b.acquire(context.Background(), 100, "x"); err != nil {
		t.Fatal(err)
	}
	if err := b.acquire(context.Background(), 101, "x"); !errors.Is(err, errOverServerBudget) {
		t.Fatalf("more than the budget: %v", err)
	}
	order := make(chan int, 3)
	c, cancel := context.WithCancel(context.Background())
	go func() { // first in line, large
		b.acquire(context.Background(), 80, "x")
		order <- 80
	}()
	waitFor(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.waiting.Len() == 1 })
	gone := make(chan error, 1)
	go func() { gone <- b.acquire(c, 50, "x") }()
	waitFor(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.waiting.Len() == 2 })
	go func() { // small, but behind the large one
		b.acquire(context.Background(), 10, "x")
		order <- 10
	}()
	waitFor(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.waiting.Len() == 3 })
	cancel()
	if err := <-gone; !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled wait: %v", err)
	}
	// 50 free: the small one would fit, but waits behind the large one.
	b.release(50)
	time.Sleep(20 * time.Millisecond)
	if len(order) != 0 || b.inUse() != 50 {
		t.Fatalf("with 50 free and 80 first in line: %d served, %d in use", len(order), b.inUse())
	}
	b.release(30) // 80 free: the large one, and not yet the small one
	if got := <-order; got != 80 {
		t.Fatalf("served %d first, want 80", got)
	}
	if n := b.inUse(); n != 100 {
		t.Errorf("%d in use, want 100", n)
	}
	b.release(10)
	if got := <-order; got != 10 {
		t.Fatalf("served %d second, want 10", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not reached")
}

// TestGIFTimeout: an animated GIF that takes longer than the GIF timeout
// to decode is refused as too large, naming the timeout; one that does not
// is hashed.
func TestGIFTimeout(t *testing.T) {
	ts := startServer(t, "", Options{GIFTimeout: 100 * time.Millisecond})
	long := hostile.GIF(2000, 2000, 2000, 2000, 200, false) // 800 megapixels of frames, within the pixel budgets
	_, err := ts.match.Hash(ctx(t), &pb.HashRequest{Media: long})
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "longer than 100ms") {
		t.Fatalf("a GIF of 200 full frames of 4 megapixels: %v, want RESOURCE_EXHAUSTED naming the timeout", err)
	}
	if _, err := ts.match.Hash(ctx(t), &pb.HashRequest{Media: hostile.GIF(64, 64, 64, 64, 3, false)}); err != nil {
		t.Errorf("a small animated GIF: %v", err)
	}
}
